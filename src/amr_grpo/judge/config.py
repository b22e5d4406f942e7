"""JudgeConfig: the judge section of the train, evaluate and serve configs, and of `amr-grpo judge`.

One typed dataclass (defaults here -> YAML file -> key=value overrides -> the options a command names, through
load_judge_config); every field says what it does. JudgeBackend names the backends, once, for every command, the
service and this dataclass. `amr_grpo.judge.build_engine(cfg)` turns a JudgeConfig into a JudgeEngine.
Try it: python -c "from amr_grpo.config import load; from amr_grpo.judge.config import JudgeConfig; print(load(JudgeConfig, None, ['backend=openai', 'rpm=0']))"
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from amr_grpo.config import load
from amr_grpo.errors import UserError

# rules: offline, deterministic, free; openai: any OpenAI-compatible server (Groq by default); local: a model
# directory run in-process; hybrid: rules and an LLM blended per metric; api: our evaluation service (or the Edge
# Function) over HTTP
JudgeBackend = Literal["rules", "openai", "local", "hybrid", "api"]
JUDGE_BACKENDS: tuple[str, ...] = get_args(JudgeBackend)

# The hybrid judge's default LLM share per metric (the rest comes from the rules judge): the LLM reads reasoning
# best, the rules check decision, regimen and citation against the knowledge base best.
DEFAULT_HYBRID_WEIGHTS = {
    "clinical_accuracy": 0.7,
    "guideline_adherence": 0.3,
    "reasoning_completeness": 0.7,
    "safety_awareness": 0.5,
    "decision_appropriateness": 0.0,
    "reference_accuracy": 0.0,
}


GROQ_FREE_TIER = {"rpm": 30.0, "tpm": 12_000.0, "rpd": 1_000, "tpd": 100_000}  # llama-3.3-70b-versatile


@dataclass
class Endpoint:
    """One OpenAI-compatible judge endpoint and its provider quotas. Unset fields take the judge section's values
    (base_url, model, api_key_env, rpm, tpm, daily_requests, daily_tokens); on Groq's URL, unset quotas are the free
    tier's (GROQ_FREE_TIER). 0 means no limit. In YAML: `endpoints: [{base_url: ..., api_key_env: GROQ_KEY_2}, ...]`."""

    name: str = ""  # how the plan, the ledger and the report call it (default: the host)
    base_url: str | None = None
    model: str | None = None
    api_key_env: str | None = None  # env var holding this endpoint's key
    rpm: float | None = None  # requests per minute
    tpm: float | None = None  # tokens per minute
    rpd: int | None = None  # requests per day
    tpd: int | None = None  # tokens per day


def default_cache_path() -> str:
    return str(Path("~/.cache/amr-grpo/judge-cache.sqlite"))


@dataclass
class JudgeConfig:
    """The judge section of the train, evaluate and serve configs (and `amr-grpo judge`)."""

    backend: JudgeBackend = "rules"  # rules: offline, deterministic, free
    model: str | None = (
        None  # openai: model id (None: $AMR_GRPO_JUDGE_MODEL, else llama-3.3-70b-versatile); local: path
    )
    base_url: str | None = None  # OpenAI-compatible URL (None: $AMR_GRPO_JUDGE_BASE_URL, else Groq's)
    api_key_env: str = "GROQ_API_KEY"  # env var with the provider key ($AMR_GRPO_JUDGE_API_KEY wins when set)
    metrics: str | list[str] = "priority"  # priority (first three) | all | list of metric keys
    concurrency: int = 50  # evaluations in flight at once
    rpm: float | None = None  # requests/min limit (None: Groq free tier's 30 on Groq's URL, else none; 0: none)
    tpm: float | None = None  # tokens/min limit (None: Groq free tier's 12,000 on Groq's URL, else none; 0: none)
    timeout_s: float = 60.0  # per model call
    connect_timeout_s: float = 5.0  # to open a connection: an unreachable judge is known in seconds, not minutes
    max_retries: int = 3  # retries of a rate-limited, failed (5xx) or timed-out call; never of a spent quota
    connect_retries: int = 2  # retries of a call that could not connect (refused, DNS, connect timeout), 0.5 s apart
    unreachable_cooldown_s: float = 30.0  # an endpoint that could not be reached is skipped this long, then tried
    probe: bool = True  # before any heavy work, one cheap request (GET /models) checks the LLM judge answers
    backoff_s: float = 1.0  # first backoff; doubles per retry with jitter, unless the provider sends retry-after
    backoff_max_s: float = 30.0  # longest backoff between retries
    cache_path: str | None = field(default_factory=default_cache_path)  # SQLite verdict cache (None: no cache)
    quota_fallback: Literal["rules", "none"] = "rules"  # quota or budget spent: rules judge, or could-not-score
    quota_threshold_s: float = 120.0  # a 429 asking to wait longer than this = quota spent (stop calling)
    budget_calls: int = 0  # most model calls this run may make (0: no cap)
    budget_tokens: int = 0  # most tokens (prompt + completion) this run may spend (0: no cap)
    price_per_1k_prompt: float = 0.00059  # USD per 1,000 prompt tokens (Groq llama-3.3-70b-versatile list price)
    price_per_1k_completion: float = 0.00079  # USD per 1,000 completion tokens (same)
    daily_requests: int | None = None  # provider's daily request quota for dry-run warnings (None: 1,000 on Groq)
    daily_tokens: int | None = None  # provider's daily token quota for dry-run warnings (None: 100,000 on Groq)
    every_n_steps: int = 1  # training: the configured judge every Nth step, the rules judge between
    group_mode: bool = False  # score all completions of one prompt in one call
    group_size: int = 8  # most completions per group call
    max_tokens: int = 0  # completion token cap per call (0: sized from the metrics requested)
    hybrid_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_HYBRID_WEIGHTS))  # LLM share
    hybrid_llm: Literal["openai", "local"] = "openai"  # the LLM half of the hybrid judge
    hybrid_fallback: Literal["rules", "error"] = "rules"  # hybrid, LLM could not score: rules only, or fail
    max_new_tokens: int = 1024  # local judge: generation cap
    url: str | None = None  # api backend: the evaluation service's URL (ours or the Supabase Edge Function)
    url_api_key_env: str = "AMR_GRPO_API_KEY"  # api backend: env var with that service's key
    endpoints: list[Endpoint] = field(default_factory=list)  # several keys/endpoints (empty: the one above)
    allow_mixed_models: bool = False  # endpoints with different models in one run (they score differently)

    def resolved_endpoints(self) -> list[Endpoint]:
        """The LLM endpoints this judge calls, every field resolved: `endpoints`, or the single endpoint the
        judge section describes. Base URL and model fall back to the environment, then Groq's defaults. Raises
        UserError when two endpoints share a name, or name different models without `allow_mixed_models`."""
        from urllib.parse import urlsplit

        from amr_grpo.judge.llm import resolve_endpoint  # the HTTP client and the rubric: 0.6 s, only when asked

        out = []
        for e in self.endpoints or [Endpoint()]:
            base_url, model = resolve_endpoint(e.base_url or self.base_url, e.model or self.model)
            groq = "api.groq.com" in base_url
            free = GROQ_FREE_TIER if groq else {"rpm": 0.0, "tpm": 0.0, "rpd": 0, "tpd": 0}

            def pick(own, section, key):  # the endpoint's own value, else the judge section's, else the default
                return own if own is not None else section if section is not None else free[key]

            out.append(Endpoint(
                name=e.name,
                base_url=base_url, model=model, api_key_env=e.api_key_env or self.api_key_env,
                rpm=pick(e.rpm, self.rpm, "rpm"), tpm=pick(e.tpm, self.tpm, "tpm"),
                rpd=pick(e.rpd, self.daily_requests, "rpd"), tpd=pick(e.tpd, self.daily_tokens, "tpd"),
            ))
        for e in out:  # unnamed: the host, or host/KEY_VAR when several share a host (two keys on Groq)
            if not e.name:
                host = urlsplit(e.base_url or "").hostname or str(e.base_url)
                shared = sum((urlsplit(o.base_url or "").hostname or o.base_url) == host for o in out) > 1
                e.name = f"{host}/{e.api_key_env}" if shared else host
        models = sorted({str(e.model) for e in out})
        if len(models) > 1 and not self.allow_mixed_models:
            raise UserError(
                f"judge.endpoints name different models ({', '.join(models)}): one judge model per run, because "
                "mixing models changes the reward",
                hint="give every endpoint the same model, or set judge.allow_mixed_models=true",
            )
        names = [e.name for e in out]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise UserError(f"judge.endpoints: the name {twice[0]!r} is used twice", hint="give each endpoint a name")
        return out


def load_judge_config(
    path: str | Path | None = None, overrides: Sequence[str] = (), defaults: Sequence[str] = (), **given: Any
) -> JudgeConfig:
    """The JudgeConfig: the defaults above, then `defaults` (a caller's own, key=value), then the YAML file at `path`,
    then `overrides` (key=value), then the fields a command's options name (`given`; None: not given)."""
    cfg = load(JudgeConfig, path, list(overrides), defaults=list(defaults))
    return dataclasses.replace(cfg, **{k: v for k, v in given.items() if v is not None})


def endpoints_model(endpoints: list[Endpoint]) -> str:
    """The judge model of a set of endpoints: the one model, or `a+b` for a run that allows mixing."""
    return "+".join(dict.fromkeys(str(e.model) for e in endpoints))
