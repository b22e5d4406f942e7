"""GRPO training: main(cfg) loads the dataset, the policy and the reward functions, runs TRL's GRPOTrainer, saves.

TRL does generation, group-relative advantages, the loss and the optimizer; this file only assembles them
(in the manner of open-r1's grpo.py), in an order that fails early: the config and the machine are checked and
the plan printed before anything loads, and the training arguments exist before the model (DeepSpeed ZeRO-3).
The run dir (cfg.output_dir) ends up holding: model/ (the LoRA adapter or the full model, Hugging Face format, with
the tokenizer, its base recorded as an absolute path or hub id, and a model card), config.yaml (the resolved
config), metrics.jsonl (one line per logged step), judge_ledger.json (kept across resumes, flushed on SIGTERM),
train_summary.json, checkpoint-N/ and TensorBoard logs in runs/.
Research tool, not for clinical use.
Try it: amr-grpo train --config configs/train/tiny-cpu.yaml grpo.max_steps=2 output_dir=/tmp/amr-train
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from amr_grpo import NOTICE
from amr_grpo import config as config_io
from amr_grpo.data.splits import read_split
from amr_grpo.errors import UserError
from amr_grpo.train.checks import INSTALL, check_config, check_environment, has_package, resolve_model_path
from amr_grpo.train.config import TrainConfig
from amr_grpo.train.console import console_callback, quiet_deprecations
from amr_grpo.train.ledger import RunLedger
from amr_grpo.train.model_card import record_base, write_model_card
from amr_grpo.train.plan import make_plan, render
from amr_grpo.train.rewards import RewardPipeline

# ---------------------------------------------------------------------------------------------------------------
# Pieces main() uses
# ---------------------------------------------------------------------------------------------------------------
def dataset_rows(path: Path) -> list[dict[str, Any]]:
    """The split's GRPO records (checked by data.splits.read_split) as rows for a `datasets.Dataset`."""
    return [
        {
            "id": str(rec["id"]),
            "prompt": rec["prompt"],
            # the case and ground truth travel as JSON text: Arrow would merge their varying keys into one struct
            "context": json.dumps(rec["context"]) if not isinstance(rec["context"], str) else rec["context"],
            "ground_truth": json.dumps(rec.get("ground_truth")),
            "checklist": json.dumps(rec.get("checklist")),  # prepare's; the LLM judges show it (null: built)
        }
        for rec in read_split(path)
    ]


def prompt_length(tokenizer: Any, prompt: str | list[dict[str, str]]) -> int:
    if isinstance(prompt, str):
        return len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    return len(tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"])


def import_unsloth() -> None:
    """Import Unsloth before transformers, peft and TRL, so its patches to them apply (model.use_unsloth)."""
    if not has_package("unsloth"):
        raise UserError("model.use_unsloth: the unsloth package is not installed", INSTALL["unsloth"])
    try:
        import unsloth  # noqa: F401
    except (ImportError, NotImplementedError, RuntimeError) as e:  # no GPU, or a version clash
        raise UserError(f"model.use_unsloth: unsloth cannot load here ({str(e).splitlines()[0][:160]})",
                        "model.use_unsloth=false") from None


# GRPOSection fields that are ours: the prompt filter (main), our console's bar, bf16's "auto" (None), and the
# checkpointing switch whose name depends on the transformers version. Every other field is GRPOConfig's, by name.
OUR_GRPO_FIELDS = ("max_prompt_length", "disable_tqdm", "bf16", "gradient_checkpointing")


def training_args(cfg: TrainConfig, out: Path, reward_weights: list[float], cuda: bool) -> Any:
    """TRL's GRPOConfig for `cfg`: the recipe's grpo section passed through as is, plus what the run decides (output
    dir, reward weights, device, precision). Built before the model loads: under DeepSpeed ZeRO-3 the
    TrainingArguments switch on zero.Init, so each rank loads only its shard of the weights."""
    import torch
    import trl

    g = cfg.grpo
    section = {k: v for k, v in dataclasses.asdict(g).items() if k not in OUR_GRPO_FIELDS}
    names = {f.name for f in dataclasses.fields(trl.GRPOConfig)}
    unknown = sorted(set(section) - names)
    if unknown:  # an older TRL than pyproject allows: one line, not a TypeError from deep inside
        raise UserError(f"grpo.{unknown[0]}: not a GRPOConfig field in trl {trl.__version__}",
                        "pip install 'trl>=1.16'")
    # transformers renamed gradient_checkpointing to activation_checkpointing; pass the name this version has
    checkpointing = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    return trl.GRPOConfig(
        **section,
        output_dir=str(out),
        reward_weights=reward_weights,
        save_strategy="steps",
        data_seed=g.seed,
        bf16=(cuda and torch.cuda.is_bf16_supported()) if g.bf16 is None else g.bf16,
        use_cpu=not cuda,
        disable_tqdm=True,  # our console draws the bar (console.py); grpo.disable_tqdm turns ours off
        remove_unused_columns=False,  # the rewards read the case and ground truth columns
        run_name=out.name,
        **{checkpointing: g.gradient_checkpointing},
    )


def load_policy(cfg: TrainConfig, cuda: bool) -> tuple[Any, Any, Any]:
    """(model, tokenizer, peft_config). check_environment() has already failed a recipe this machine cannot run."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    m = cfg.model
    name = resolve_model_path(m.name_or_path)
    bf16 = cuda and torch.cuda.is_bf16_supported()
    dtype = {"auto": torch.bfloat16 if bf16 else torch.float32, "bfloat16": torch.bfloat16,
             "float16": torch.float16, "float32": torch.float32}[m.dtype]
    target = "all-linear" if m.lora_target_modules == ["all-linear"] else list(m.lora_target_modules)
    seq_len = cfg.grpo.max_prompt_length + cfg.grpo.max_completion_length

    if m.use_unsloth:
        from unsloth import FastLanguageModel

        model, tokenizer = FastLanguageModel.from_pretrained(
            model_name=name, max_seq_length=seq_len, load_in_4bit=m.load_in_4bit, dtype=None)
        model = FastLanguageModel.get_peft_model(
            model, r=m.lora_r, lora_alpha=m.lora_alpha, lora_dropout=m.lora_dropout, target_modules=target,
            use_gradient_checkpointing="unsloth" if cfg.grpo.gradient_checkpointing else False,
            random_state=cfg.grpo.seed)
        return model, tokenizer, None

    quant = None
    if m.load_in_4bit:
        from transformers import BitsAndBytesConfig

        quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                   bnb_4bit_compute_dtype=torch.bfloat16 if bf16 else torch.float16)
    try:
        tokenizer = AutoTokenizer.from_pretrained(name, padding_side="left", truncation_side="left")
        kwargs: dict[str, Any] = {"dtype": dtype, "quantization_config": quant}
        if m.attn_implementation:
            kwargs["attn_implementation"] = m.attn_implementation
        model = AutoModelForCausalLM.from_pretrained(name, **kwargs)
    except OSError as e:
        raise UserError(f"model.name_or_path {m.name_or_path!r}: cannot load ({str(e).splitlines()[0][:200]})",
                        "a local model directory, or a hub id with HF_TOKEN set for gated models") from None
    if quant is not None:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.grpo.gradient_checkpointing)
    peft_config = None
    if m.use_lora:
        from peft import LoraConfig

        peft_config = LoraConfig(r=m.lora_r, lora_alpha=m.lora_alpha, lora_dropout=m.lora_dropout,
                                 target_modules=target, task_type="CAUSAL_LM")
    return model, tokenizer, peft_config


def checkpoint_step(checkpoint: str | Path) -> int:
    state = json.loads((Path(checkpoint) / "trainer_state.json").read_text(encoding="utf-8"))
    return int(state["global_step"])


def truncate_metrics(path: Path, last_step: int) -> int:
    """Keep the metrics lines up to and including `last_step` (the checkpoint resumed from); return lines dropped."""
    if not path.is_file():
        return 0
    keep, dropped = [], 0
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            step = json.loads(line).get("step", math.inf)
        except (json.JSONDecodeError, AttributeError):
            step = math.inf  # a half-written last line of a killed run
        if step <= last_step:
            keep.append(line)
        else:
            dropped += 1
    path.write_text("".join(x + "\n" for x in keep), encoding="utf-8")
    return dropped


def metrics_callback(path: Path) -> Any:
    """A TrainerCallback writing one JSON line per logged step (rank 0), never the same step twice."""
    from transformers import TrainerCallback

    class MetricsJSONL(TrainerCallback):
        def __init__(self) -> None:
            self.last_step = -1
            if path.is_file():
                steps = [json.loads(x).get("step", -1) for x in path.read_text(encoding="utf-8").splitlines() if x]
                self.last_step = max(steps, default=-1)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero or not logs or "train_runtime" in logs:
                return
            if state.global_step <= self.last_step:
                return
            row = {"step": state.global_step, **{k: _finite(v) for k, v in logs.items()}}
            with path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
            self.last_step = state.global_step

    return MetricsJSONL()


def _finite(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v


# ---------------------------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------------------------
def quota_stop_callback(pipeline: Any) -> Any:
    """Stop training, with a checkpoint, once the LLM judge's quota is spent and judge.quota_fallback is none
    (every rank stops at the same step: the flag is agreed across processes)."""
    from transformers import TrainerCallback

    class QuotaStop(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            import torch.distributed as dist

            spent = pipeline.quota_spent_at is not None
            if dist.is_available() and dist.is_initialized():
                import torch

                flag = torch.tensor([1.0 if spent else 0.0], device=args.device)
                dist.all_reduce(flag, op=dist.ReduceOp.MAX)
                spent = bool(flag.item())
            if spent:
                control.should_training_stop = True
                control.should_save = True

    return QuotaStop()


def main(cfg: TrainConfig, resume: bool = False, callbacks: Sequence[Any] = (), recipe: str = "") -> dict[str, Any]:
    """Train the policy with GRPO as `cfg` says; return the run summary (also saved as train_summary.json)."""
    if cfg.model.use_unsloth:
        import_unsloth()  # before transformers, peft and TRL (check_config imports transformers)
    check_config(cfg)
    import torch

    cuda = torch.cuda.is_available()
    check_environment(cfg, cuda)  # CUDA, bitsandbytes, vllm, the judge's key, the data: before anything heavy
    # heavy (seconds): imported only once every check has passed, so a mistake is one line at once
    from datasets import Dataset
    from transformers import PrinterCallback, ProgressCallback
    from transformers.trainer_utils import get_last_checkpoint
    from trl import GRPOTrainer

    quiet_deprecations()
    t_start = time.time()
    out = Path(cfg.output_dir)
    rank = int(os.environ.get("RANK", "0"))  # before the trainer exists; accelerate sets RANK per process
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    main_rank = rank == 0

    # ------------------------------------------------------------------ run dir, resume point, resolved config
    checkpoint = get_last_checkpoint(out) if out.is_dir() else None
    if resume and checkpoint is None:
        raise UserError(f"--resume: no checkpoint-N directory in {out}", "run without --resume to start a new run")
    if not resume and checkpoint is not None:
        raise UserError(f"{out} already holds a run ({Path(checkpoint).name})",
                        "pass --resume to continue it, or set output_dir=... for a new run")
    out.mkdir(parents=True, exist_ok=True)
    metrics_path = out / "metrics.jsonl"

    # ------------------------------------------------------------------ dataset and the plan (no model yet)
    rows = dataset_rows(Path(cfg.data.dir) / f"{cfg.data.train_split}.jsonl")
    if cfg.data.max_train_samples is not None:
        rows = rows[: cfg.data.max_train_samples]
    plan = make_plan(cfg, prompts=len(rows), world_size=world_size)
    if main_rank:  # after every check: a mistake is the only thing on the console
        print(f"amr-grpo train {recipe or 'config'} -> {out}  (Research tool, not for clinical use.)", flush=True)
        print("\n".join(render(plan, recipe)), flush=True)
        if resume:
            dropped = truncate_metrics(metrics_path, checkpoint_step(checkpoint))
            print(f"resuming from {checkpoint} (metrics.jsonl: {dropped} lines after it dropped)", flush=True)
        else:
            metrics_path.unlink(missing_ok=True)
        config_io.save(cfg, out / "config.yaml")

    # ------------------------------------------------------------------ rewards and training arguments, then the policy
    pipeline = RewardPipeline(cfg.judge, cfg.rewards.format_weight, cfg.grpo.max_completion_length)
    args = training_args(cfg, out, pipeline.reward_weights(), cuda)
    model, tokenizer, peft_config = load_policy(cfg, cuda)
    too_long = [r["id"] for r in rows if prompt_length(tokenizer, r["prompt"]) > cfg.grpo.max_prompt_length]
    if too_long:
        print(f"{len(too_long)} prompts over grpo.max_prompt_length={cfg.grpo.max_prompt_length} tokens left out "
              f"(first: {', '.join(too_long[:5])})", flush=True)
        rows = [r for r in rows if r["id"] not in set(too_long)]
    if not rows:
        raise UserError("no training prompt fits grpo.max_prompt_length", "raise grpo.max_prompt_length")

    # ------------------------------------------------------------------ trainer
    ledger = RunLedger(out, rank, pipeline.ledger, checkpoint_step(checkpoint) if resume else 0,
                       Path(checkpoint) if resume else None)
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=pipeline.reward_funcs(),
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[metrics_callback(metrics_path), ledger.callback(), quota_stop_callback(pipeline),
                   console_callback(pipeline, pipeline.metrics, bar=not cfg.grpo.disable_tqdm), *callbacks],
    )
    for printer in (ProgressCallback, PrinterCallback):  # they print the raw logs dict at every logging step
        trainer.remove_callback(printer)

    # ------------------------------------------------------------------ train (the ledger is flushed however it ends)
    restore_signals = ledger.on_signals(lambda: trainer.state.global_step)
    try:
        result = trainer.train(resume_from_checkpoint=checkpoint if resume else None)
    except BaseException as e:  # Ctrl-C (as SIGINT), a crash, a kill from a callback: keep what the judges did
        ledger.flush(trainer.state.global_step, end=ledger.signalled or type(e).__name__)
        raise
    finally:
        restore_signals()
        if getattr(trainer, "async_loop", None) is not None:
            asyncio.run_coroutine_threadsafe(pipeline.aclose(), trainer.async_loop).result()

    # ------------------------------------------------------------------ save: model (portable, with its card), ledger, summary
    model_dir = out / "model"
    trainer.save_model(str(model_dir))
    ended = "quota_spent" if pipeline.quota_spent_at is not None else "finished"
    ledger.flush(trainer.state.global_step, end=ended)
    trainer.accelerator.wait_for_everyone()
    summary: dict[str, Any] = {}
    if trainer.accelerator.is_main_process:
        led = ledger.write_total()
        base = resolve_model_path(cfg.model.name_or_path)
        record_base(model_dir, base)
        card = write_model_card(model_dir.resolve(), cfg, base, prompts=len(rows), steps=trainer.state.global_step,
                                weights=dict(zip([*pipeline.metrics, "format"], pipeline.reward_weights(), strict=True)),
                                ledger=led, metrics_path=metrics_path, recipe=recipe)
        (out / "README.md").write_text(card.read_text(encoding="utf-8"), encoding="utf-8")  # over TRL's "[None]" card
        stats, judge = led.get("stats", {}), led.get("judge", {})
        summary = {
            "notice": NOTICE,
            "global_step": trainer.state.global_step,
            "planned_steps": plan.steps,
            "stopped": (f"judge quota spent at step {pipeline.quota_spent_at + 1}: continue with --resume after the "
                        "quota resets") if ended == "quota_spent" else None,
            "train_runtime_s": result.metrics.get("train_runtime"),
            "wall_s": round(time.time() - t_start, 1),
            "train_prompts": len(rows),
            "judge": {"backend": cfg.judge.backend, "model": getattr(cfg.judge, "model", None),
                      "every_n_steps": pipeline.every_n_steps, "metrics": pipeline.metrics},
            "judge_calls": judge.get("calls"),  # model calls (HTTP requests / generations); 0 for rules
            "judge_evaluations": judge.get("evaluations"),
            "naive_judge_calls": stats.get("naive_calls"),
            "completions_scored": stats.get("completions"),
            "judge_failures": stats.get("failures"),
            "model_dir": str(model_dir),
            "metrics_jsonl": str(metrics_path),
            "judge_ledger": str(out / "judge_ledger.json"),
            "config": str(out / "config.yaml"),
            "tensorboard": str(out / "runs") if "tensorboard" in cfg.grpo.report_to else None,
        }
        (out / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    trainer.accelerator.wait_for_everyone()
    return summary
