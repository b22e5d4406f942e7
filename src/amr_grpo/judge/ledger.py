"""The judge ledger: what a run cost and how it went, written as JSON beside every run's output.

Counts model calls (every HTTP request or generation, failed ones included), prompt and completion tokens, cache
hits, in-flight de-duplications, retries, fallbacks, failures by kind, call and evaluation latency p50/p95/p99, the
estimated cost at a configurable price, `naive_calls` (what one call per metric per completion would have made), and
the same counts per judge endpoint with its quota state.

Memory stays bounded however long the run (a service, a week of training): latencies go into a LatencySketch, a
fixed log-spaced histogram (1 ms to 1 hour, bins 5% wide: 312 counts at most) instead of a list. We chose it
over a reservoir sample (which loses the tail: p99 from 1,000 kept samples of a million is noise, and two reservoirs
do not add up) and over a t-digest (more exact in the far tail, but its merge is approximate and it is a dependency
or 200 lines): a histogram adds up exactly across ranks and resumed runs, and every percentile it reports is within
2.5% of the exact one (the geometric middle of a 5%-wide bin), clamped to the smallest and largest value seen.

Saving and continuing (training resume, a long service):
    led.write(path)                      # atomic JSON, 0600; `latency_sketch` holds the histograms
    led = Ledger.load(path)              # the same counts back (Ledger.from_dict(d) for a dict)
    engine.ledger.merge(Ledger.load(path))   # a resumed run adds what it spends to what was spent before
`merge` adds counts, histograms and per-endpoint counts; notes are kept (the last NOTES_KEPT).
Try it: python -c "from amr_grpo.judge.ledger import Ledger; l = Ledger(); l.naive_calls = 6; print(l.to_dict())"
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from amr_grpo.judge.base import Usage
from amr_grpo.judge.redact import scrub

NOTES_KEPT = 100  # warnings kept in a ledger (each is said once per stop; a week-long service may say many)


class LatencySketch:
    """Percentiles of a stream of durations in bounded memory: counts in log-spaced bins (see the module doc)."""

    LOW_S, HIGH_S, RATIO = 0.001, 3600.0, 1.05  # bins [LOW * RATIO^(i-1), LOW * RATIO^i); 0 below, the last above

    def __init__(self) -> None:
        self.counts: Counter[int] = Counter()
        self.n, self.total, self.low, self.high = 0, 0.0, math.inf, -math.inf

    def _bin(self, x: float) -> int:
        if x < self.LOW_S:
            return 0
        return 1 + int(math.log(min(x, self.HIGH_S) / self.LOW_S) / math.log(self.RATIO))

    def add(self, x: float) -> None:
        self.counts[self._bin(x)] += 1
        self.n += 1
        self.total += x
        self.low, self.high = min(self.low, x), max(self.high, x)

    def quantile(self, q: float) -> float | None:
        """Nearest-rank q-quantile (0 < q <= 1): the middle of the bin holding the ceil(q*n)-th smallest value."""
        if not self.n:
            return None
        rank, seen = max(1, math.ceil(q * self.n)), 0
        if rank >= self.n:  # the extremes are kept exactly
            return self.high
        for i in sorted(self.counts):
            seen += self.counts[i]
            if seen >= rank:
                mid = self.LOW_S / 2 if i == 0 else self.LOW_S * self.RATIO ** (i - 0.5)
                return min(self.high, max(self.low, mid))
        return self.high

    def percentiles(self) -> dict[str, float | None]:
        """p50/p95/p99 in seconds, rounded to 0.1 ms (None without samples)."""
        return {f"p{p}": (None if (v := self.quantile(p / 100)) is None else round(v, 4)) for p in (50, 95, 99)}

    def merge(self, other: LatencySketch) -> LatencySketch:
        self.counts.update(other.counts)
        self.n += other.n
        self.total += other.total
        self.low, self.high = min(self.low, other.low), max(self.high, other.high)
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "bins": {str(i): c for i, c in sorted(self.counts.items())}, "n": self.n, "sum_s": self.total,
            "min_s": self.low if self.n else None, "max_s": self.high if self.n else None,
            "low_s": self.LOW_S, "ratio": self.RATIO,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> LatencySketch:
        s = cls()
        if not d:
            return s
        if (d.get("low_s"), d.get("ratio")) != (cls.LOW_S, cls.RATIO):
            raise ValueError("latency sketch: saved with other bins; it cannot be added to this one")
        s.counts = Counter({int(i): int(c) for i, c in d.get("bins", {}).items()})
        s.n, s.total = int(d.get("n", 0)), float(d.get("sum_s", 0.0))
        if s.n:
            s.low, s.high = float(d["min_s"]), float(d["max_s"])
        return s


@dataclass
class EndpointLedger:
    """One judge endpoint's share of the run, and its quota state as last seen."""

    base_url: str = ""
    model: str = ""
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    call_errors: Counter = field(default_factory=Counter)
    state: str = "ok"  # ok | quota spent until <time> | unreachable until <time> | daily quota spent until <time>

    def to_dict(self) -> dict[str, Any]:
        return {**{f.name: getattr(self, f.name) for f in fields(self)}, "call_errors": dict(self.call_errors)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EndpointLedger:
        known = {f.name for f in fields(cls)}
        e = cls(**{k: v for k, v in d.items() if k in known and k != "call_errors"})
        e.call_errors = Counter(d.get("call_errors") or {})
        return e


_COUNTS = ("evaluations", "scored", "naive_calls", "calls", "prompt_tokens", "completion_tokens", "cache_hits",
           "dedup_hits", "group_calls", "retries", "fallbacks")


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
    fallbacks: int = 0  # evaluations scored by the rules judge because the LLM was spent or unreachable
    failures: Counter = field(default_factory=Counter)  # evaluations that could not be scored, by JudgeError kind
    call_errors: Counter = field(default_factory=Counter)  # failed calls, by JudgeError kind
    call_latency: LatencySketch = field(default_factory=LatencySketch)
    eval_latency: LatencySketch = field(default_factory=LatencySketch)
    endpoints: dict[str, EndpointLedger] = field(default_factory=dict)  # by endpoint name
    quota_exhausted_until: str | None = None  # when the provider said the quota resets (ISO time), if it did
    notes: list[str] = field(default_factory=list)

    def record_call(self, usage: Usage, latency_s: float, error_kind: str | None = None, endpoint: str = "") -> None:
        self.calls += usage.calls or 1
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens
        self.call_latency.add(latency_s)
        if error_kind:
            self.call_errors[error_kind] += 1
        if endpoint:
            e = self.endpoints.setdefault(endpoint, EndpointLedger())
            e.calls += usage.calls or 1
            e.prompt_tokens += usage.prompt_tokens
            e.completion_tokens += usage.completion_tokens
            if error_kind:
                e.call_errors[error_kind] += 1

    def note(self, message: str) -> None:
        self.notes.append(scrub(message))
        del self.notes[:-NOTES_KEPT]

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
            "latency_s": {"call": self.call_latency.percentiles(), "evaluation": self.eval_latency.percentiles()},
            "estimated_cost_usd": round(self.estimated_cost_usd, 6),
            "price_per_1k_tokens_usd": {"prompt": self.price_per_1k_prompt, "completion": self.price_per_1k_completion},
            "endpoints": {name: e.to_dict() for name, e in self.endpoints.items()},
            "quota_exhausted_until": self.quota_exhausted_until,
            "notes": [scrub(n) for n in self.notes],
            "latency_sketch": {"call": self.call_latency.to_dict(), "evaluation": self.eval_latency.to_dict()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Ledger:
        """The ledger `to_dict()` wrote (derived fields such as the cost are recomputed; unknown keys ignored)."""
        price = d.get("price_per_1k_tokens_usd") or {}
        led = cls(
            backend=str(d.get("backend", "")), model=str(d.get("model", "")),
            price_per_1k_prompt=float(price.get("prompt", 0.0)),
            price_per_1k_completion=float(price.get("completion", 0.0)),
            **{k: int(d.get(k, 0) or 0) for k in _COUNTS},
        )
        led.failures, led.call_errors = Counter(d.get("failures") or {}), Counter(d.get("call_errors") or {})
        sketch = d.get("latency_sketch") or {}
        led.call_latency = LatencySketch.from_dict(sketch.get("call"))
        led.eval_latency = LatencySketch.from_dict(sketch.get("evaluation"))
        led.endpoints = {n: EndpointLedger.from_dict(e) for n, e in (d.get("endpoints") or {}).items()}
        led.quota_exhausted_until = d.get("quota_exhausted_until")
        led.notes = [str(n) for n in d.get("notes") or []][-NOTES_KEPT:]
        return led

    @classmethod
    def load(cls, path: str | Path) -> Ledger:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def merge(self, other: Ledger) -> Ledger:
        """Add `other`'s counts to this ledger (in place; returns self). Backend, model and prices stay this
        ledger's, or come from `other` where this one has none."""
        self.backend, self.model = self.backend or other.backend, self.model or other.model
        if not (self.price_per_1k_prompt or self.price_per_1k_completion):
            self.price_per_1k_prompt, self.price_per_1k_completion = (
                other.price_per_1k_prompt, other.price_per_1k_completion)
        for k in _COUNTS:
            setattr(self, k, getattr(self, k) + getattr(other, k))
        self.failures.update(other.failures)
        self.call_errors.update(other.call_errors)
        self.call_latency.merge(other.call_latency)
        self.eval_latency.merge(other.eval_latency)
        for name, o in other.endpoints.items():
            e = self.endpoints.setdefault(name, EndpointLedger(o.base_url, o.model, state=o.state))
            e.calls, e.prompt_tokens = e.calls + o.calls, e.prompt_tokens + o.prompt_tokens
            e.completion_tokens += o.completion_tokens
            e.call_errors.update(o.call_errors)
        if other.quota_exhausted_until and (self.quota_exhausted_until or "") < other.quota_exhausted_until:
            self.quota_exhausted_until = other.quota_exhausted_until
        self.notes = (other.notes + self.notes)[-NOTES_KEPT:]  # the other is the earlier run
        return self

    def write(self, path: str | Path) -> Path:
        """Write the ledger as JSON, atomically (a reader never sees half a file), readable by the owner only."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=p.name, suffix=".tmp", dir=p.parent)  # mkstemp: mode 0600
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=2)
            f.write("\n")
        os.replace(tmp, p)
        return p
