"""Warm start: supervised fine-tuning (TRL SFTTrainer) of a policy on the TRAIN split's reference validations.

GRPO learns only from differences within a group of completions. A policy that writes one constant answer gives
groups with no decision variance, and GRPO then learns the template, not the case (issue 11: the bundled policy
collapsed to "Modify" on every case). A short SFT on the reference validations of the train split teaches the
policy to read the case before GRPO sharpens it. Only the train split: val tunes the recipe and test measures it,
so warm_start() refuses any other split.

Full fine-tuning by default (the bundled policy has 4M parameters); `use_lora` for large models. The loss is on the
answer only (TRL's completion-only loss on prompt/completion records). OUT ends up holding the model and tokenizer
(Hugging Face format, loadable by `amr-grpo evaluate` and `amr-grpo train`), config.yaml and warm_start.json,
written last (its presence means the warm start finished).
Research tool, not for clinical use.
Try it: amr-grpo sft --config configs/train/tiny-sft.yaml sft.max_steps=5 output_dir=/tmp/amr-sft
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amr_grpo import config as config_io
from amr_grpo.data.splits import read_split
from amr_grpo.errors import UserError
from amr_grpo.preflight import check_model_path
from amr_grpo.train.checks import resolve_model_path

DONE_FILE = "warm_start.json"


@dataclass
class SFTModel:
    name_or_path: str = "assets/tiny-policy"  # local model dir or hub id of the policy to warm-start
    use_lora: bool = False  # train a LoRA adapter and merge it (large models); False = all weights (tiny models)
    lora_r: int = 16  # LoRA rank (with use_lora)
    lora_alpha: int = 32  # LoRA scaling numerator (with use_lora)


@dataclass
class SFTData:
    dir: str = "runs/main/data"  # `amr-grpo prepare` output: DIR/train.jsonl
    split: str = "train"  # must be "train": val and test measure the policy, never teach it
    max_train_samples: int | None = None  # keep the first N records (None = all)


@dataclass
class SFTSection:
    learning_rate: float = 1e-3  # AdamW peak learning rate (a 4M-parameter model from scratch-like weights)
    lr_scheduler_type: str = "cosine"  # transformers scheduler name
    warmup_steps: int = 5  # linear warm-up steps
    num_train_epochs: float = 3.0  # passes over the train split (ignored when max_steps > 0)
    max_steps: int = -1  # optimizer steps; -1 = from num_train_epochs
    per_device_train_batch_size: int = 16  # records per step
    max_length: int = 1024  # prompt + answer tokens; longer records are truncated by TRL
    max_grad_norm: float = 1.0  # gradient clipping
    seed: int = 0  # init of the shuffle and of LoRA
    logging_steps: int = 10  # a loss line every N steps


@dataclass
class WarmStartConfig:
    model: SFTModel = field(default_factory=SFTModel)  # the policy to warm-start
    data: SFTData = field(default_factory=SFTData)  # the train split
    sft: SFTSection = field(default_factory=SFTSection)  # TRL SFTConfig fields
    output_dir: str = "runs/main/warm"  # the warm-started model, config.yaml and warm_start.json


def sft_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """GRPO records -> TRL prompt/completion records (chat messages); a record without a reference is skipped."""
    rows = []
    for rec in records:
        prompt, reference = rec["prompt"], rec.get("reference")
        if not isinstance(reference, str) or not reference.strip():
            continue
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
        rows.append({"prompt": messages, "completion": [{"role": "assistant", "content": reference}]})
    return rows


def check_warm_start(cfg: WarmStartConfig) -> list[dict[str, Any]]:
    """The mistakes a user can make, one line each before anything heavy loads; returns the SFT records."""
    if cfg.data.split != "train":
        raise UserError(f"data.split={cfg.data.split!r}: the warm start learns from the train split only",
                        "val and test measure the policy; data.split=train")
    s = cfg.sft
    if s.learning_rate <= 0 or s.per_device_train_batch_size < 1 or s.max_length < 16:
        raise UserError("sft: learning_rate > 0, per_device_train_batch_size >= 1 and max_length >= 16 are needed")
    if s.max_steps <= 0 and s.num_train_epochs <= 0:
        raise UserError("sft: no step to take (sft.max_steps <= 0 and sft.num_train_epochs <= 0)",
                        "sft.num_train_epochs=3 or sft.max_steps=60")
    out = Path(cfg.output_dir)
    if (out / DONE_FILE).is_file():
        raise UserError(f"output_dir {out} already holds a finished warm start", "set output_dir=... for a new one")
    if out.exists() and not out.is_dir():
        raise UserError(f"output_dir {out}: is a file", "give a directory")
    check_model_path(resolve_model_path(cfg.model.name_or_path), "model.name_or_path")
    records = read_split(Path(cfg.data.dir) / "train.jsonl")[: cfg.data.max_train_samples]
    rows = sft_records(records)
    if not rows:
        raise UserError(f"{cfg.data.dir}/train.jsonl: no record has a reference validation",
                        "prepare cases that carry reference validations (amr-grpo prepare)")
    return rows


def loss_lines(t0: float) -> Any:
    """A TrainerCallback printing one short line per logging step: step, loss, token accuracy, learning rate, time."""
    from transformers import TrainerCallback

    class LossLines(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero or not logs or "loss" not in logs:
                return
            acc = logs.get("mean_token_accuracy")
            print(f"sft step {state.global_step:4d}/{state.max_steps}  loss {float(logs['loss']):.3f}"
                  + (f"  token accuracy {float(acc):.3f}" if acc is not None else "")
                  + f"  lr {float(logs.get('learning_rate', 0)):.2e}  {time.time() - t0:.0f}s", flush=True)

    return LossLines()


def warm_start(cfg: WarmStartConfig) -> dict[str, Any]:
    """Fine-tune cfg.model on the train split's references; save the model to cfg.output_dir; return the summary."""
    rows = check_warm_start(cfg)
    out = Path(cfg.output_dir)

    import datasets
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, PrinterCallback, ProgressCallback
    from trl import SFTConfig, SFTTrainer

    from amr_grpo.train.console import quiet_deprecations  # imports transformers

    quiet_deprecations()
    datasets.disable_progress_bars()  # TRL's tokenizing passes: four bars a run, nothing a user acts on

    t0 = time.time()
    name = resolve_model_path(cfg.model.name_or_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
        model = AutoModelForCausalLM.from_pretrained(name, dtype=torch.float32)
    except OSError as e:
        raise UserError(f"model.name_or_path {cfg.model.name_or_path!r}: cannot load ({str(e).splitlines()[0][:200]})",
                        "a local model directory, or a hub id") from None
    peft_config = None
    if cfg.model.use_lora:
        from peft import LoraConfig

        peft_config = LoraConfig(r=cfg.model.lora_r, lora_alpha=cfg.model.lora_alpha, target_modules="all-linear",
                                 task_type="CAUSAL_LM")
    s = cfg.sft
    args = SFTConfig(
        output_dir=str(out),
        learning_rate=s.learning_rate,
        lr_scheduler_type=s.lr_scheduler_type,
        warmup_steps=s.warmup_steps,
        num_train_epochs=s.num_train_epochs,
        max_steps=s.max_steps,
        per_device_train_batch_size=s.per_device_train_batch_size,
        max_length=s.max_length,
        max_grad_norm=s.max_grad_norm,
        seed=s.seed,
        data_seed=s.seed,
        logging_steps=s.logging_steps,
        completion_only_loss=True,  # the loss is on the reference answer, never on the case
        save_strategy="no",  # minutes on a CPU: a rerun starts over rather than resuming
        report_to="none",
        use_cpu=not torch.cuda.is_available(),
        disable_tqdm=True,
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
                         peft_config=peft_config, callbacks=[loss_lines(time.time())])
    for printer in (ProgressCallback, PrinterCallback):  # they print the raw logs dict at every logging step
        trainer.remove_callback(printer)
    result = trainer.train()
    model = trainer.model
    if peft_config is not None:
        model = model.merge_and_unload()  # a plain model: evaluate and GRPO load it like any other
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    config_io.save(cfg, out / "config.yaml")
    losses = [x["loss"] for x in trainer.state.log_history if "loss" in x]
    summary = {
        "notice": "amr-grpo warm start: research tool, not for clinical use.",
        "base_model": cfg.model.name_or_path,
        "train_records": len(rows),
        "steps": trainer.state.global_step,
        "first_loss": losses[0] if losses else None,
        "final_loss": losses[-1] if losses else None,
        "train_runtime_s": result.metrics.get("train_runtime"),
        "wall_s": round(time.time() - t0, 1),
        "model_dir": str(out),
    }
    (out / DONE_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary
