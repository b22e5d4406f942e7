"""Judges of a prescription validation: rules, openai, local, hybrid, api, and the JudgeEngine that wraps them.

build_judge(cfg) makes the backend a JudgeConfig names; build_engine(cfg) wraps it in a JudgeEngine (cache, limits,
retries, ledger); estimate_cost(requests, cfg) says what scoring them would cost, without calling anything;
probe(cfg) checks, with one cheap request per endpoint, that an LLM judge has its key and can be reached, before a
command does any heavy work (it raises UserError: one line naming the variable or the URL, and a hint).
Try it: python -c "import asyncio; from amr_grpo.judge import build_engine; from amr_grpo.judge.engine import JudgeConfig; \
from amr_grpo.judge.base import EvalRequest as E; print(asyncio.run(build_engine(JudgeConfig()).score(E('cystitis', 'Decision: Approve'))))"
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from amr_grpo.errors import UserError
from amr_grpo.judge.base import EvalRequest, Judge, JudgeError
from amr_grpo.judge.redact import scrub

if TYPE_CHECKING:
    from amr_grpo.judge.engine import JudgeConfig, JudgeEngine

__all__ = ["EvalRequest", "Judge", "JudgeError", "build_engine", "build_judge", "estimate_cost", "probe"]
SKIP_PROBE = "--no-probe (judge.probe=false in a training config) skips this check"


def _llm(cfg: JudgeConfig, kind: str) -> Judge:
    if kind == "local":
        from amr_grpo.judge.local import LocalJudge

        if not cfg.model:
            raise UserError("the local judge needs judge.model: a local model directory", hint="--judge-model PATH")
        return LocalJudge(cfg.model, max_new_tokens=cfg.max_new_tokens)
    from amr_grpo.judge.llm import OpenAIJudge

    return OpenAIJudge(
        endpoints=cfg.resolved_endpoints(),
        timeout_s=cfg.timeout_s,
        connect_timeout_s=cfg.connect_timeout_s,
        max_tokens=cfg.max_tokens,
        quota_threshold_s=cfg.quota_threshold_s,
    )


def build_judge(cfg: JudgeConfig) -> Judge:
    """The judge the config names (one of JUDGE_BACKENDS)."""
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
        return ApiJudge(cfg.url, os.environ.get(cfg.url_api_key_env), timeout=cfg.timeout_s,
                        connect_timeout=cfg.connect_timeout_s)
    from amr_grpo.judge.config import JUDGE_BACKENDS

    raise UserError(f"unknown judge backend {cfg.backend!r}", hint=f"one of: {', '.join(JUDGE_BACKENDS)}")


def build_engine(cfg: JudgeConfig) -> JudgeEngine:
    from amr_grpo.judge.engine import JudgeEngine

    return JudgeEngine(build_judge(cfg), cfg)


def judge_identity(cfg: JudgeConfig) -> tuple[str, str, str]:
    """(backend, model, cache tag) of the judge the config names, without building it (no key, no weights)."""
    from amr_grpo.judge.config import endpoints_model
    from amr_grpo.judge.rubric import prompt_id

    if cfg.backend == "openai":
        return "openai", endpoints_model(cfg.resolved_endpoints()), prompt_id()
    if cfg.backend == "local":
        return "local", str(cfg.model), prompt_id()
    if cfg.backend == "hybrid":
        llm = endpoints_model(cfg.resolved_endpoints()) if cfg.hybrid_llm == "openai" else str(cfg.model)
        weights = ",".join(f"{k}={w:g}" for k, w in sorted(cfg.hybrid_weights.items()))
        from amr_grpo.judge.rules.judge import MODEL as RULES_MODEL

        return "hybrid", f"{RULES_MODEL}+{llm}", f"{prompt_id()};{weights}"
    return cfg.backend, "", ""


def estimate_cost(requests: Sequence[EvalRequest], cfg: JudgeConfig) -> dict[str, Any]:
    """What scoring `requests` would cost: calls, tokens, dollars, cache hits (a dry run; nothing is called).

    Tokens are estimated at 4 characters a token plus the judge's answer (90 tokens a metric); identical requests
    count once; with group_mode, completions of one case share a call."""
    from amr_grpo.judge.cache import VerdictCache, cache_key
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
        "endpoints": [],
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
    llm = cfg.backend == "openai" or (cfg.backend == "hybrid" and cfg.hybrid_llm == "openai")
    eps = cfg.resolved_endpoints() if llm else []
    out["endpoints"] = [dataclasses.asdict(e) for e in eps]
    # a day's quota of all endpoints together; one without a daily quota makes it unlimited (0)
    day_calls = 0 if any(not e.rpd for e in eps) else sum(int(e.rpd or 0) for e in eps)
    day_tokens = 0 if any(not e.tpd for e in eps) else sum(int(e.tpd or 0) for e in eps)
    whose = "the provider's" if len(eps) == 1 else f"the {len(eps)} endpoints'"
    if day_calls and out["calls"] > day_calls:
        out["warnings"].append(f"{out['calls']} calls exceed {whose} daily quota of {day_calls} requests")
    if day_tokens and tokens > day_tokens:
        out["warnings"].append(
            f"{tokens} tokens exceed {whose} daily quota of {day_tokens} tokens "
            f"(about {tokens / day_tokens:.1f} days of quota)"
        )
    return out


def probe(cfg: JudgeConfig) -> None:
    """Check that the LLM judge `cfg` names can be used, before any heavy work: its key is set and each endpoint
    answers one cheap request (`GET /models`: no tokens spent). Raises UserError with one line and a hint: a missing
    key names its variable, an unreachable endpoint its URL, a rejected key its variable. Rules and local judges
    need no probe; the api backend's service is probed the same way. `cfg.probe=False` (`--no-probe`,
    `judge.probe=false`) skips it."""
    if not cfg.probe:
        return
    import httpx

    from amr_grpo.judge.llm import OpenAIJudge

    llm = cfg.backend == "openai" or (cfg.backend == "hybrid" and cfg.hybrid_llm == "openai")
    checks: list[tuple[str, dict[str, str], str]] = []  # (url to GET, headers, key variable)
    if llm:
        judge = OpenAIJudge(endpoints=cfg.resolved_endpoints())  # a missing key raises here, naming its variable
        for i, e in enumerate(judge.endpoints):
            checks.append((str(e.base_url).rstrip("/") + "/models", judge.auth_headers(i), str(e.api_key_env)))
    elif cfg.backend == "api" and cfg.url:
        key = os.environ.get(cfg.url_api_key_env)
        checks.append((cfg.url, {"authorization": f"Bearer {key}"} if key else {}, cfg.url_api_key_env))
    timeout = httpx.Timeout(min(cfg.timeout_s, 15.0), connect=cfg.connect_timeout_s)
    for url, headers, key_env in checks:
        shown = scrub(url.removesuffix("/models"))
        try:
            status = httpx.get(url, headers=headers, timeout=timeout).status_code
        except httpx.HTTPError as e:
            raise UserError(
                f"the judge at {shown} cannot be reached ({type(e).__name__}: {scrub(e)[:120] or 'no answer'})",
                hint=f"check the URL and the network, or use the rules judge (offline); {SKIP_PROBE}",
            ) from None
        if status in (401, 403):
            raise UserError(
                f"the judge at {shown} rejected the key in {key_env} ({status})",
                hint=f"check {key_env}; {SKIP_PROBE}",
            )
