"""The judge ledger: what a run cost and how it went, written as JSON beside every run's output.

Counts model calls (every HTTP request or generation, failed ones included), prompt and completion tokens, cache
hits, in-flight de-duplications, retries, fallbacks, failures by kind, call and evaluation latency p50/p95/p99, the
estimated cost at a configurable price, and `naive_calls`: what one call per metric per completion would have made.
Try it: python -c "from amr_grpo.judge.ledger import Ledger; l = Ledger(); l.naive_calls = 6; print(l.to_dict())"
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amr_grpo.judge.base import Usage


def percentiles(values: list[float]) -> dict[str, float | None]:
    """Nearest-rank p50/p95/p99 in seconds (None without samples)."""
    if not values:
        return {"p50": None, "p95": None, "p99": None}
    xs = sorted(values)
    return {f"p{p}": round(xs[max(0, math.ceil(p / 100 * len(xs)) - 1)], 4) for p in (50, 95, 99)}


@dataclass
class Ledger:
    backend: str = ""
    model: str = ""
    price_per_1k_prompt: float = 0.0  # USD per 1,000 prompt tokens
    price_per_1k_completion: float = 0.0  # USD per 1,000 completion tokens
    evaluations: int = 0  # completions asked for (cache hits and duplicates included)
    scored: int = 0  # evaluations that ended in a verdict (fallback verdicts included)
    naive_calls: int = 0  # one call per metric per completion: what a naive judge would make
    calls: int = 0  # model calls made (each HTTP request or generation, failed ones included)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_hits: int = 0
    dedup_hits: int = 0  # evaluations that awaited an identical one already in flight
    group_calls: int = 0  # calls that scored several completions of one case at once
    retries: int = 0
    fallbacks: int = 0  # evaluations scored by the rules judge because the LLM's quota or budget was spent
    failures: Counter = field(default_factory=Counter)  # evaluations that could not be scored, by JudgeError kind
    call_errors: Counter = field(default_factory=Counter)  # failed calls, by JudgeError kind
    call_latencies: list[float] = field(default_factory=list)
    eval_latencies: list[float] = field(default_factory=list)
    quota_exhausted_until: str | None = None  # when the provider said the quota resets (ISO time), if it did
    notes: list[str] = field(default_factory=list)

    def record_call(self, usage: Usage, latency_s: float, error_kind: str | None = None) -> None:
        self.calls += usage.calls or 1
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens
        self.call_latencies.append(latency_s)
        if error_kind:
            self.call_errors[error_kind] += 1

    @property
    def estimated_cost_usd(self) -> float:
        return (
            self.prompt_tokens / 1000 * self.price_per_1k_prompt
            + self.completion_tokens / 1000 * self.price_per_1k_completion
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "model": self.model,
            "evaluations": self.evaluations,
            "scored": self.scored,
            "could_not_score": sum(self.failures.values()),
            "calls": self.calls,
            "naive_calls": self.naive_calls,
            "calls_per_naive_call": round(self.calls / self.naive_calls, 4) if self.naive_calls else None,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cache_hits": self.cache_hits,
            "dedup_hits": self.dedup_hits,
            "group_calls": self.group_calls,
            "retries": self.retries,
            "fallbacks": self.fallbacks,
            "failures": dict(self.failures),
            "call_errors": dict(self.call_errors),
            "latency_s": {"call": percentiles(self.call_latencies), "evaluation": percentiles(self.eval_latencies)},
            "estimated_cost_usd": round(self.estimated_cost_usd, 6),
            "price_per_1k_tokens_usd": {"prompt": self.price_per_1k_prompt, "completion": self.price_per_1k_completion},
            "quota_exhausted_until": self.quota_exhausted_until,
            "notes": list(self.notes),
        }

    def write(self, path: str | Path) -> Path:
        """Write the ledger as JSON, atomically (a reader never sees half a file)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=p.name, suffix=".tmp", dir=p.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=2)
            f.write("\n")
        os.replace(tmp, p)
        return p
