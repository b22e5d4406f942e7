"""Checks that run before any model is loaded: the whole training config, then the machine and the environment.

`check_config(cfg)` needs nothing but the config (metric names, judge backend and its settings, batch shape,
report_to backends installed); `--print-config` and `--plan` run it too. `check_environment(cfg, cuda)` checks what
the recipe needs from this machine (CUDA, bitsandbytes, vLLM, Unsloth), the judge's key, the data and, with one
cheap request, that an LLM judge answers, so a run fails in one line with a hint before it spends minutes loading
16 GB of weights.
`resolve_model_path` turns the bundled tiny policy's relative path into an absolute one, so a run works from any
folder and the adapter it saves records a base that loads from anywhere.
Try it: amr-grpo train --config configs/train/tiny-cpu.yaml judge.metrics=clinical_acuracy --print-config
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from amr_grpo.config import ConfigError
from amr_grpo.errors import UserError
from amr_grpo.judge import probe
from amr_grpo.metrics import resolve_metrics
from amr_grpo.preflight import check_judge_key
from amr_grpo.train.config import TrainConfig

REPO_ROOT = Path(__file__).resolve().parents[2]  # the checkout an editable install runs from
BUNDLED_POLICY = "assets/tiny-policy"
# What TRL 1.16 accepts for vLLM (trl.import_utils.is_vllm_available); pyproject's `vllm` extra pins the same range.
VLLM_PIN = "vllm>=0.22.0,<=0.31.0"
INSTALL = {
    "bitsandbytes": "pip install 'amr-grpo[qlora]'   (bitsandbytes, for model.load_in_4bit)",
    "vllm": f"pip install 'amr-grpo[vllm]'   ({VLLM_PIN}, the range TRL supports)",
    "unsloth": "pip install unsloth   (today's Unsloth pins trl<=1.15 and cannot install beside amr-grpo: "
    "set model.use_unsloth=false)",
    "wandb": "pip install 'amr-grpo[wandb]'",
    "deepspeed": "pip install 'amr-grpo[deepspeed]'",
}


def has_package(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def resolve_model_path(name_or_path: str) -> str:
    """An existing local dir as an absolute path; the bundled policy found beside the package from any folder;
    anything else (a hub id) unchanged."""
    p = Path(name_or_path).expanduser()
    if p.is_dir():
        return str(p.resolve())
    bundled = REPO_ROOT / name_or_path
    if not p.is_absolute() and name_or_path.rstrip("/") == BUNDLED_POLICY and bundled.is_dir():
        return str(bundled)
    return name_or_path


# ---------------------------------------------------------------------------------------------------------------
# The config alone
# ---------------------------------------------------------------------------------------------------------------
def check_config(cfg: TrainConfig) -> None:
    """Raise ConfigError (one line naming the key, with a hint) for a config that cannot train."""
    try:
        resolve_metrics(cfg.judge.metrics)
    except ValueError as e:
        raise ConfigError(f"judge.{e}", "judge.metrics=priority | all | a comma list of metric keys") from None
    g = cfg.grpo
    if g.num_generations < 2:
        raise ConfigError(f"grpo.num_generations: {g.num_generations}; GRPO compares at least 2 completions a prompt",
                          "grpo.num_generations=2 or more")
    if g.per_device_train_batch_size % g.num_generations:
        # TRL checks the global batch; on one process that is this one, and a multiple keeps every world size valid
        raise ConfigError(
            f"grpo.per_device_train_batch_size={g.per_device_train_batch_size} is not a multiple of "
            f"grpo.num_generations={g.num_generations} (completions of one prompt share a batch)",
            f"grpo.per_device_train_batch_size={g.num_generations * max(1, g.per_device_train_batch_size // g.num_generations)}")
    for key in ("max_prompt_length", "max_completion_length", "logging_steps", "save_steps"):
        if getattr(g, key) < 1:
            raise ConfigError(f"grpo.{key}: {getattr(g, key)}; expected 1 or more")
    if g.max_steps <= 0 and g.num_train_epochs <= 0:
        raise ConfigError("grpo.num_train_epochs: 0 and grpo.max_steps unset: nothing to train", "grpo.max_steps=N")
    if cfg.judge.every_n_steps < 1:
        raise ConfigError(f"judge.every_n_steps: {cfg.judge.every_n_steps}; expected 1 or more")
    if cfg.judge.backend == "local" and not cfg.judge.model:
        raise ConfigError("judge.model: the local judge needs a model directory", "judge.model=PATH or judge.backend=rules")
    if cfg.judge.backend == "api" and not cfg.judge.url:
        raise ConfigError("judge.url: the api judge needs the evaluation service's URL",
                          "judge.url=https://... or judge.backend=rules")
    if cfg.model.load_in_4bit and not cfg.model.use_lora:
        raise ConfigError("model.load_in_4bit needs model.use_lora=true (4-bit weights cannot be trained directly)")
    _check_report_to(list(g.report_to))


def _check_report_to(names: list[str]) -> None:
    from transformers.integrations.integration_utils import (
        INTEGRATION_TO_CALLBACK,
        get_available_reporting_integrations,
    )

    for name in names:
        if name in ("none", "all"):
            continue
        if name not in INTEGRATION_TO_CALLBACK:
            raise ConfigError(f"grpo.report_to: unknown logger {name!r}",
                              f"one of: none, {', '.join(sorted(INTEGRATION_TO_CALLBACK))}")
        if name not in get_available_reporting_integrations():
            raise ConfigError(f"grpo.report_to: {name} is not installed",
                              INSTALL.get(name, f"pip install {name}") + f", or grpo.report_to=[tensorboard]")


# ---------------------------------------------------------------------------------------------------------------
# The machine and the environment
# ---------------------------------------------------------------------------------------------------------------
def check_environment(cfg: TrainConfig, cuda: bool) -> None:
    """What the recipe needs from this machine, before anything is loaded; raise UserError naming the fix."""
    m, g = cfg.model, cfg.grpo
    if m.use_unsloth:
        if not cuda:
            raise UserError("model.use_unsloth: Unsloth needs a CUDA GPU", "model.use_unsloth=false")
        if not has_package("unsloth"):
            raise UserError("model.use_unsloth: the unsloth package is not installed", INSTALL["unsloth"])
    if m.load_in_4bit:
        if not cuda:
            raise UserError("model.load_in_4bit: 4-bit loading needs a CUDA GPU (bitsandbytes)",
                            "model.load_in_4bit=false on this machine")
        if not has_package("bitsandbytes"):
            raise UserError("model.load_in_4bit: bitsandbytes is not installed", INSTALL["bitsandbytes"])
    if g.use_vllm:
        if not cuda:
            raise UserError("grpo.use_vllm: vLLM generation needs a CUDA GPU", "grpo.use_vllm=false on this machine")
        if not has_package("vllm"):
            raise UserError("grpo.use_vllm: vllm is not installed", INSTALL["vllm"])
    if os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true" and not has_package("deepspeed"):
        raise UserError("accelerate config asks for DeepSpeed, which is not installed", INSTALL["deepspeed"])
    check_judge_key(cfg.judge, offline="judge.backend=rules")  # the same check as evaluate, validate and serve
    path = Path(resolve_model_path(m.name_or_path))
    looks_local = (m.name_or_path.startswith((".", "/", "~")) or m.name_or_path.count("/") != 1
                   or Path(m.name_or_path).parent.is_dir())
    if looks_local and not path.is_dir():
        hint = "build it: python scripts/build_tiny_policy.py" if "tiny-policy" in m.name_or_path else None
        raise UserError(f"model.name_or_path {m.name_or_path!r}: no such directory", hint)
    split = Path(cfg.data.dir) / f"{cfg.data.train_split}.jsonl"
    if not split.is_file():
        raise UserError(f"data.dir: {split} not found", "make data, or amr-grpo prepare CASES -o DIR then data.dir=DIR")

    probe(cfg.judge)  # last (it may wait judge.connect_timeout_s): the LLM judge answers; judge.probe=false skips it
