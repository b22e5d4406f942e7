"""Cheap checks that run before anything heavy (a model load, a generation pass, a judge call).

A user mistake should cost a second, not the minutes of generation that come before the first judge call:
evaluate and validate call these first, and each failure is one UserError naming what to fix.
- check_judge_key(cfg): an LLM judge (openai, hybrid over openai) has a non-empty key in the environment for
  every remote endpoint it will call; a local judge names an existing model; the api judge has a URL.
- check_model_path(path): a local path exists and holds a model (config.json) or a LoRA adapter
  (adapter_config.json); a hub id passes (only loading can tell).
- check_generation(settings): decoding settings in range.
Reachability (one cheap request to the judge's server) is amr_grpo.judge.probe's job, after these.
Try it: python -c "from amr_grpo.preflight import check_judge_key; from amr_grpo.judge.config import JudgeConfig; \
check_judge_key(JudgeConfig(backend='openai'))"
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from amr_grpo.errors import UserError

KEY_OVERRIDE_ENV = "AMR_GRPO_JUDGE_API_KEY"  # wins over the endpoint's own variable (judge/llm.py reads it too)
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "0.0.0.0")  # servers that usually take any key (vLLM, Ollama)


def _looks_like_path(name: str) -> bool:
    """A hub id is `org/name`; anything starting with . / ~ or with more than one slash is a local path."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name


def check_model_path(path: str | Path, what: str = "model") -> None:
    """A local model path exists and holds a model or an adapter; a hub id passes unchecked."""
    name = str(path)
    p = Path(name).expanduser()
    if not p.exists():
        if _looks_like_path(name) or not name.strip():
            raise UserError(f"{what} path {name}: not found",
                            "give a model directory, a LoRA adapter directory or a hub id (org/name)")
        return
    if p.is_file():
        raise UserError(f"{what} path {name}: is a file", "give the directory that holds config.json")
    if not ((p / "config.json").is_file() or (p / "adapter_config.json").is_file()):
        raise UserError(f"{what} {name} does not load: not a model directory (no config.json or "
                        "adapter_config.json)",
                        "give the directory a training run saved, e.g. runs/main/train/model")


def check_judge_key(cfg: Any, offline: str = "--judge rules") -> None:
    """The judge in `cfg` (a JudgeConfig) has what it needs to start: keys, a local model, a URL. One check for
    every command (evaluate, validate, serve, train); `offline` is how that command names the rules judge."""
    llm = cfg.backend if cfg.backend in ("openai", "local") else cfg.hybrid_llm if cfg.backend == "hybrid" else None
    if llm == "openai":
        from urllib.parse import urlsplit

        for ep in cfg.resolved_endpoints():
            if (urlsplit(ep.base_url).hostname or "") in LOCAL_HOSTS:
                continue
            env = ep.api_key_env or "GROQ_API_KEY"
            if not (os.environ.get(KEY_OVERRIDE_ENV, "").strip() or os.environ.get(env, "").strip()):
                raise UserError(f"the {cfg.backend} judge has no API key for {ep.base_url}: ${env} is not set",
                                f"export {env}=... (or {KEY_OVERRIDE_ENV}), or use {offline} (offline, no key)")
    elif llm == "local":
        if not cfg.model:
            raise UserError("the local judge needs a model",
                            "--judge-model PATH (a local model directory; train: judge.model=PATH)")
        check_model_path(cfg.model, what="judge model")
    if cfg.backend == "api" and not cfg.url:
        raise UserError("the api judge needs the evaluation service's URL",
                        "--judge-set url=https://... (train: judge.url=https://...)")


def check_generation(gen: Any) -> None:
    """GenerationSettings in range, named by their CLI option."""
    if gen.max_new_tokens < 1:
        raise UserError(f"--max-new-tokens must be at least 1, got {gen.max_new_tokens}")
    if gen.batch_size < 1:
        raise UserError(f"--batch-size must be at least 1, got {gen.batch_size}")
    if gen.do_sample and not gen.temperature > 0:
        raise UserError(f"--temperature must be above 0 when sampling, got {gen.temperature}", "or use --greedy")
    if not 0 < gen.top_p <= 1:
        raise UserError(f"--top-p must be in (0, 1], got {gen.top_p}")
