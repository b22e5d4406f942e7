"""Judges of a prescription validation: rules, openai, local, hybrid, api, and the JudgeEngine that wraps them.

build_judge(cfg) makes the backend a JudgeConfig names; build_engine(cfg) wraps it in a JudgeEngine (cache, limits,
retries, ledger); estimate_cost(requests, cfg) says what scoring them would cost, without calling anything.
Try it: python -c "import asyncio; from amr_grpo.judge import build_engine; from amr_grpo.judge.engine import JudgeConfig; \
from amr_grpo.judge.base import EvalRequest as E; print(asyncio.run(build_engine(JudgeConfig()).score(E('cystitis', 'Decision: Approve'))))"
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from amr_grpo.errors import UserError
from amr_grpo.judge.base import EvalRequest, Judge, JudgeError

if TYPE_CHECKING:
    from amr_grpo.judge.engine import JudgeConfig, JudgeEngine

__all__ = ["EvalRequest", "Judge", "JudgeError", "build_engine", "build_judge", "estimate_cost"]


def _llm(cfg: JudgeConfig, kind: str) -> Judge:
    if kind == "local":
        from amr_grpo.judge.local import LocalJudge

        if not cfg.model:
            raise UserError("the local judge needs judge.model: a local model directory", hint="--model PATH")
        return LocalJudge(cfg.model, max_new_tokens=cfg.max_new_tokens)
    from amr_grpo.judge.llm import OpenAIJudge

    return OpenAIJudge(
        cfg.base_url,
        cfg.model,
        api_key_env=cfg.api_key_env,
        timeout_s=cfg.timeout_s,
        max_tokens=cfg.max_tokens,
        quota_threshold_s=cfg.quota_threshold_s,
    )


def build_judge(cfg: JudgeConfig) -> Judge:
    """The judge the config names (rules | openai | local | hybrid | api)."""
    if cfg.backend == "rules":
        from amr_grpo.judge.rules import RulesJudge

        return RulesJudge()
    if cfg.backend in ("openai", "local"):
        return _llm(cfg, cfg.backend)
    if cfg.backend == "hybrid":
        from amr_grpo.judge.hybrid import HybridJudge
        from amr_grpo.judge.rules import RulesJudge

        return HybridJudge(RulesJudge(), _llm(cfg, cfg.hybrid_llm), cfg.hybrid_weights, fallback=cfg.hybrid_fallback)
    if cfg.backend == "api":
        from amr_grpo.judge.api import ApiJudge

        if not cfg.url:
            raise UserError("the api judge needs judge.url: the evaluation service's URL", hint="judge.url=https://...")
        return ApiJudge(cfg.url, os.environ.get(cfg.url_api_key_env), timeout=cfg.timeout_s)
    raise UserError(f"unknown judge backend {cfg.backend!r}", hint="one of: rules, openai, local, hybrid, api")


def build_engine(cfg: JudgeConfig) -> JudgeEngine:
    from amr_grpo.judge.engine import JudgeEngine

    return JudgeEngine(build_judge(cfg), cfg)


def judge_identity(cfg: JudgeConfig) -> tuple[str, str, str]:
    """(backend, model, cache tag) of the judge the config names, without building it (no key, no weights)."""
    from amr_grpo.judge.llm import resolve_endpoint
    from amr_grpo.judge.rubric import prompt_id

    if cfg.backend == "openai":
        return "openai", resolve_endpoint(cfg.base_url, cfg.model)[1], prompt_id()
    if cfg.backend == "local":
        return "local", str(cfg.model), prompt_id()
    if cfg.backend == "hybrid":
        llm = resolve_endpoint(cfg.base_url, cfg.model)[1] if cfg.hybrid_llm == "openai" else str(cfg.model)
        weights = ",".join(f"{k}={w:g}" for k, w in sorted(cfg.hybrid_weights.items()))
        from amr_grpo.judge.rules.judge import MODEL as RULES_MODEL

        return "hybrid", f"{RULES_MODEL}+{llm}", f"{prompt_id()};{weights}"
    return cfg.backend, "", ""


def estimate_cost(requests: Sequence[EvalRequest], cfg: JudgeConfig) -> dict[str, Any]:
    """What scoring `requests` would cost: calls, tokens, dollars, cache hits (a dry run; nothing is called).

    Tokens are estimated at 4 characters a token plus the judge's answer (90 tokens a metric); identical requests
    count once; with group_mode, completions of one case share a call."""
    from amr_grpo.judge.cache import VerdictCache, cache_key
    from amr_grpo.judge.llm import resolve_endpoint
    from amr_grpo.judge.rubric import render_group_prompt, render_prompt
    from amr_grpo.metrics import rubric_version

    naive = sum(len(r.metrics) for r in requests)
    out: dict[str, Any] = {
        "backend": cfg.backend,
        "evaluations": len(requests),
        "naive_calls": naive,
        "cached": 0,
        "calls": 0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "estimated_cost_usd": 0.0,
        "warnings": [],
    }
    if cfg.backend in ("rules", "api") or not requests:
        return out
    backend, model, tag = judge_identity(cfg)
    unique = {cache_key(backend, model, tag, rubric_version(), r): r for r in requests}
    todo = list(unique.values())
    if cfg.cache_path and os.path.exists(os.path.expanduser(cfg.cache_path)):
        cache = VerdictCache(cfg.cache_path)
        try:
            todo = [r for k, r in unique.items() if cache.get(k) is None]
        finally:
            cache.close()
    out["cached"] = len(unique) - len(todo)
    prompts = []
    if cfg.group_mode:
        groups: dict[str, list[EvalRequest]] = {}
        for r in todo:
            groups.setdefault(
                cache_key("group", "", "", "", EvalRequest(r.patient_case, "", r.ground_truth, r.metrics)), []
            ).append(r)
        size = max(1, cfg.group_size)
        for g in groups.values():
            for i in range(0, len(g), size):
                chunk = g[i : i + size]
                prompts.append(render_prompt(chunk[0]) if len(chunk) == 1 else render_group_prompt(chunk))
    else:
        prompts = [render_prompt(r) for r in todo]
    for p in prompts:
        pt, ct = p.estimated_tokens()
        out["prompt_tokens"] += pt
        out["completion_tokens"] += ct
    out["calls"] = len(prompts)
    out["estimated_cost_usd"] = round(
        out["prompt_tokens"] / 1000 * cfg.price_per_1k_prompt
        + out["completion_tokens"] / 1000 * cfg.price_per_1k_completion,
        6,
    )
    tokens = out["prompt_tokens"] + out["completion_tokens"]
    if cfg.budget_calls and out["calls"] > cfg.budget_calls:
        out["warnings"].append(
            f"{out['calls']} calls exceed the budget of {cfg.budget_calls}: the rest fall back or fail"
        )
    if cfg.budget_tokens and tokens > cfg.budget_tokens:
        out["warnings"].append(f"{tokens} tokens exceed the budget of {cfg.budget_tokens}: the rest fall back or fail")
    groq = cfg.backend in ("openai", "hybrid") and "api.groq.com" in resolve_endpoint(cfg.base_url, cfg.model)[0]
    day_calls = cfg.daily_requests if cfg.daily_requests is not None else (1000 if groq else 0)
    day_tokens = cfg.daily_tokens if cfg.daily_tokens is not None else (100_000 if groq else 0)
    if day_calls and out["calls"] > day_calls:
        out["warnings"].append(f"{out['calls']} calls exceed the provider's daily quota of {day_calls} requests")
    if day_tokens and tokens > day_tokens:
        out["warnings"].append(
            f"{tokens} tokens exceed the provider's daily quota of {day_tokens} tokens "
            f"(about {tokens / day_tokens:.1f} days of quota)"
        )
    return out
