"""GRPO training: main(cfg) loads the dataset, the policy and the reward functions, runs TRL's GRPOTrainer, saves.

TRL does generation, group-relative advantages, the loss and the optimizer; this file only assembles them
(in the manner of open-r1's grpo.py). The run dir (cfg.output_dir) ends up holding: model/ (the LoRA adapter or
the full model, Hugging Face format, with the tokenizer), config.yaml (the resolved config), metrics.jsonl
(one line per logged step), judge_ledger.json, train_summary.json, checkpoint-N/ and TensorBoard logs in runs/.
Research tool, not for clinical use.
Try it: amr-grpo train --config configs/train/tiny-cpu.yaml grpo.max_steps=2 output_dir=/tmp/amr-train
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from amr_grpo import config as config_io
from amr_grpo.data.splits import read_split
from amr_grpo.errors import UserError
from amr_grpo.train_config import TrainConfig

NOTICE = "amr-grpo: research tool, not for clinical use."


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


def load_policy(cfg: TrainConfig, cuda: bool) -> tuple[Any, Any, Any, Any]:
    """(model, tokenizer, peft_config, quantization_config). Unsloth and 4-bit only with CUDA and the package."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    m = cfg.model
    path = Path(m.name_or_path)
    looks_local = m.name_or_path.startswith((".", "/", "~")) or m.name_or_path.count("/") != 1 or path.parent.is_dir()
    if not path.exists() and looks_local:
        hint = "build it: python scripts/build_tiny_policy.py" if "tiny-policy" in m.name_or_path else None
        raise UserError(f"model.name_or_path {m.name_or_path!r}: no such directory", hint)
    bf16 = cuda and torch.cuda.is_bf16_supported()
    dtype = {"auto": torch.bfloat16 if bf16 else torch.float32, "bfloat16": torch.bfloat16,
             "float16": torch.float16, "float32": torch.float32}.get(m.dtype)
    if dtype is None:
        raise UserError(f"model.dtype: expected auto, bfloat16, float16 or float32, got {m.dtype!r}")
    target = "all-linear" if m.lora_target_modules == ["all-linear"] else list(m.lora_target_modules)
    seq_len = cfg.grpo.max_prompt_length + cfg.grpo.max_completion_length

    if m.use_unsloth and cuda and importlib.util.find_spec("unsloth"):
        from unsloth import FastLanguageModel

        model, tokenizer = FastLanguageModel.from_pretrained(
            model_name=m.name_or_path, max_seq_length=seq_len, load_in_4bit=m.load_in_4bit, dtype=None)
        model = FastLanguageModel.get_peft_model(
            model, r=m.lora_r, lora_alpha=m.lora_alpha, lora_dropout=m.lora_dropout, target_modules=target,
            use_gradient_checkpointing="unsloth" if cfg.grpo.gradient_checkpointing else False,
            random_state=cfg.grpo.seed)
        return model, tokenizer, None, None
    if m.use_unsloth:
        print("model.use_unsloth: Unsloth needs CUDA and the unsloth package; loading with transformers", flush=True)

    quant = None
    if m.load_in_4bit and cuda and importlib.util.find_spec("bitsandbytes"):
        from transformers import BitsAndBytesConfig

        quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                   bnb_4bit_compute_dtype=torch.bfloat16 if bf16 else torch.float16)
    elif m.load_in_4bit:
        print("model.load_in_4bit: needs CUDA and bitsandbytes; loading unquantised", flush=True)
    try:
        tokenizer = AutoTokenizer.from_pretrained(m.name_or_path, padding_side="left", truncation_side="left")
        kwargs: dict[str, Any] = {"dtype": dtype, "quantization_config": quant}
        if m.attn_implementation:
            kwargs["attn_implementation"] = m.attn_implementation
        model = AutoModelForCausalLM.from_pretrained(m.name_or_path, **kwargs)
    except OSError as e:
        raise UserError(f"model.name_or_path {m.name_or_path!r}: cannot load ({e})") from None
    if quant is not None:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.grpo.gradient_checkpointing)
    peft_config = None
    if m.use_lora:
        from peft import LoraConfig

        peft_config = LoraConfig(r=m.lora_r, lora_alpha=m.lora_alpha, lora_dropout=m.lora_dropout,
                                 target_modules=target, task_type="CAUSAL_LM")
    return model, tokenizer, peft_config, quant


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


def _sum_ledgers(ledgers: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Numeric fields summed over ranks, section by section (each rank scores its own completions)."""
    total: dict[str, Any] = {}
    for led in ledgers:
        for section, fields in led.items():
            dst = total.setdefault(section, {})
            for k, v in fields.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    dst[k] = dst.get(k, 0) + v
                else:
                    dst.setdefault(k, v)
    return total


# ---------------------------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------------------------
def main(cfg: TrainConfig, resume: bool = False, callbacks: Sequence[Any] = ()) -> dict[str, Any]:
    """Train the policy with GRPO as `cfg` says; return the run summary (also saved as train_summary.json)."""
    import torch
    from datasets import Dataset
    from transformers.trainer_utils import get_last_checkpoint
    from trl import GRPOConfig, GRPOTrainer

    from amr_grpo.rewards import RewardPipeline

    t_start = time.time()
    out = Path(cfg.output_dir)
    cuda = torch.cuda.is_available()
    main_rank = int(os.environ.get("RANK", "0")) == 0  # before the trainer exists; accelerate sets RANK per process

    # ------------------------------------------------------------------ run dir, resume point, resolved config
    checkpoint = get_last_checkpoint(out) if out.is_dir() else None
    if resume and checkpoint is None:
        raise UserError(f"--resume: no checkpoint-N directory in {out}", "run without --resume to start a new run")
    if not resume and checkpoint is not None:
        raise UserError(f"{out} already holds a run ({Path(checkpoint).name})",
                        "pass --resume to continue it, or set output_dir=... for a new run")
    out.mkdir(parents=True, exist_ok=True)
    metrics_path = out / "metrics.jsonl"
    if main_rank:
        if resume:
            dropped = truncate_metrics(metrics_path, checkpoint_step(checkpoint))
            print(f"resuming from {checkpoint} (metrics.jsonl: {dropped} lines after it dropped)", flush=True)
        else:
            metrics_path.unlink(missing_ok=True)
        config_io.save(cfg, out / "config.yaml")

    # ------------------------------------------------------------------ dataset
    rows = dataset_rows(Path(cfg.data.dir) / f"{cfg.data.train_split}.jsonl")
    if cfg.data.max_train_samples is not None:
        rows = rows[: cfg.data.max_train_samples]

    # ------------------------------------------------------------------ policy (LoRA through peft)
    model, tokenizer, peft_config, _ = load_policy(cfg, cuda)
    too_long = [r["id"] for r in rows if prompt_length(tokenizer, r["prompt"]) > cfg.grpo.max_prompt_length]
    if too_long:
        print(f"{len(too_long)} prompts over grpo.max_prompt_length={cfg.grpo.max_prompt_length} tokens left out "
              f"(first: {', '.join(too_long[:5])})", flush=True)
        rows = [r for r in rows if r["id"] not in set(too_long)]
    if not rows:
        raise UserError("no training prompt fits grpo.max_prompt_length", "raise grpo.max_prompt_length")
    train_dataset = Dataset.from_list(rows)

    # ------------------------------------------------------------------ rewards: one per metric + format
    pipeline = RewardPipeline(cfg.judge, cfg.rewards.format_weight, cfg.grpo.max_completion_length)

    # ------------------------------------------------------------------ trainer
    g = cfg.grpo
    args = GRPOConfig(
        output_dir=str(out),
        learning_rate=g.learning_rate,
        lr_scheduler_type=g.lr_scheduler_type,
        warmup_steps=g.warmup_steps,
        weight_decay=g.weight_decay,
        max_grad_norm=g.max_grad_norm,
        per_device_train_batch_size=g.per_device_train_batch_size,
        gradient_accumulation_steps=g.gradient_accumulation_steps,
        num_generations=g.num_generations,
        max_completion_length=g.max_completion_length,
        num_train_epochs=g.num_train_epochs,
        max_steps=g.max_steps,
        beta=g.beta,
        epsilon=g.epsilon,
        loss_type=g.loss_type,
        scale_rewards=g.scale_rewards,
        temperature=g.temperature,
        top_p=g.top_p,
        top_k=g.top_k,
        reward_weights=pipeline.reward_weights(),
        logging_steps=g.logging_steps,
        save_strategy="steps",
        save_steps=g.save_steps,
        save_total_limit=g.save_total_limit,
        seed=g.seed,
        data_seed=g.seed,
        bf16=(cuda and torch.cuda.is_bf16_supported()) if g.bf16 is None else g.bf16,
        use_cpu=not cuda,
        gradient_checkpointing=g.gradient_checkpointing,
        use_vllm=g.use_vllm,
        vllm_mode=g.vllm_mode,
        vllm_server_host=g.vllm_server_host,
        vllm_server_port=g.vllm_server_port,
        vllm_gpu_memory_utilization=g.vllm_gpu_memory_utilization,
        report_to=list(g.report_to),
        log_completions=g.log_completions,
        num_completions_to_print=g.num_completions_to_print,
        disable_tqdm=g.disable_tqdm,
        remove_unused_columns=False,  # the rewards read the case and ground truth columns
        run_name=out.name,
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=pipeline.reward_funcs(),
        args=args,
        train_dataset=train_dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[metrics_callback(metrics_path), *callbacks],
    )

    # ------------------------------------------------------------------ train
    try:
        result = trainer.train(resume_from_checkpoint=checkpoint if resume else None)
    finally:
        if getattr(trainer, "async_loop", None) is not None:
            asyncio.run_coroutine_threadsafe(pipeline.aclose(), trainer.async_loop).result()

    # ------------------------------------------------------------------ save: model, ledger, summary
    model_dir = out / "model"
    trainer.save_model(str(model_dir))
    from accelerate.utils import gather_object

    ledgers = gather_object([pipeline.ledger()])
    summary: dict[str, Any] = {}
    if trainer.accelerator.is_main_process:
        ledger = _sum_ledgers(ledgers)
        ledger["per_rank"] = ledgers
        (out / "judge_ledger.json").write_text(json.dumps(ledger, indent=2) + "\n", encoding="utf-8")
        stats = ledger.get("stats", {})
        judge = ledger.get("judge", {})
        summary = {
            "notice": NOTICE,
            "global_step": trainer.state.global_step,
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
            "tensorboard": str(out / "runs") if "tensorboard" in g.report_to else None,
        }
        (out / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    trainer.accelerator.wait_for_everyone()
    return summary
