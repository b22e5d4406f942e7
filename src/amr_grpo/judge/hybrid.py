"""The `hybrid` judge: the rules judge and an LLM judge blended per metric.

`weights` gives the LLM's share of each metric's score (0 = rules only, 1 = LLM only); the default reads decision
and citation from the rules (checked against the knowledge base) and reasoning mostly from the LLM. The blended score
is share * llm + (1 - share) * rules, rounded half up to an integer 1-5; the justification keeps both. Flags are
either judge's. When the LLM cannot score (bad answer, quota or budget spent, unavailable; transient failures go to
the engine, which retries them), `fallback="rules"` returns the rules verdict as it is (backend "rules",
so nobody mistakes it for a blend and the engine does not cache it as one); `fallback="error"` raises.
Try it: amr-grpo judge --input tests/data/judge_requests.jsonl --judge hybrid -o /tmp/out.jsonl
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from amr_grpo.judge.base import EvalRequest, Judge, JudgeError
from amr_grpo.metrics import WEIGHTS, apply_critical_cap, weighted_reward
from amr_grpo.records import MetricScore, Verdict

DEFAULT_LLM_SHARE = 0.5  # for a metric missing from `weights`
TRANSIENT = ("rate_limited", "server_error", "timeout")  # the engine retries these; no fallback for them


def blend_score(rules: int, llm: int, llm_share: float) -> int:
    """share * llm + (1 - share) * rules, rounded half up (2.5 -> 3), kept within 1-5."""
    return max(1, min(5, math.floor(llm_share * llm + (1 - llm_share) * rules + 0.5)))


class HybridJudge:
    backend = "hybrid"

    def __init__(self, rules: Judge, llm: Judge, weights: Mapping[str, float] | None = None, fallback: str = "rules"):
        if fallback not in ("rules", "error"):
            raise ValueError(f"hybrid fallback must be 'rules' or 'error', got {fallback!r}")
        bad = {k: w for k, w in (weights or {}).items() if k not in WEIGHTS or not 0 <= w <= 1}
        if bad:
            raise ValueError(f"hybrid weights: each key a metric and each share within 0-1; bad: {bad}")
        self.rules, self.llm, self.fallback = rules, llm, fallback
        self.weights = dict(weights or {})
        self.model = f"{rules.model}+{llm.model}"
        self.cache_tag = f"{getattr(llm, 'cache_tag', '')};" + ",".join(
            f"{k}={w:g}" for k, w in sorted(self.weights.items())
        )

    @property
    def meter(self) -> Any:
        return getattr(self.llm, "meter", None)

    @meter.setter
    def meter(self, value: Any) -> None:  # the engine meters the LLM's calls; the rules judge makes none
        if hasattr(self.llm, "meter"):
            self.llm.meter = value

    @property
    def base_url(self) -> str:
        return getattr(self.llm, "base_url", "")

    def _falls_back(self, e: JudgeError) -> bool:
        # transient failures go up to the engine, which retries them; the rest fall back now
        return self.fallback == "rules" and e.kind not in TRANSIENT

    def share(self, key: str) -> float:
        return self.weights.get(key, DEFAULT_LLM_SHARE)

    def blend(self, rules: Verdict, llm: Verdict) -> Verdict:
        """The blended scores; a critical error either judge found caps them all (metrics.apply_critical_cap)."""
        critical = rules.critical_error or llm.critical_error
        scores = {}
        for k in rules.metrics_used:
            r, m, w = rules.scores[k], llm.scores[k], self.share(k)
            why = f"rules {r.score}: {r.justification} | llm {m.score}: {m.justification}"
            scores[k] = MetricScore(blend_score(r.score, m.score, w), why)
        capped = apply_critical_cap({k: s.score for k, s in scores.items()}, critical)
        scores = {k: MetricScore(capped[k], s.justification) for k, s in scores.items()}
        return Verdict(
            scores=scores,
            weighted_reward=weighted_reward(capped, list(scores)),
            metrics_used=list(scores),
            backend=self.backend,
            model=self.model,
            rubric_version=rules.rubric_version,
            injection_suspected=rules.injection_suspected or llm.injection_suspected,
            critical_error=critical,
            case_unread=rules.case_unread or llm.case_unread,
        )

    async def score(self, request: EvalRequest) -> Verdict:
        rules = await self.rules.score(request)
        try:
            llm = await self.llm.score(request)
        except JudgeError as e:
            if self._falls_back(e):
                return rules
            raise
        return self.blend(rules, llm)

    async def score_group(self, requests: Sequence[EvalRequest]) -> list[Verdict]:
        rules = [await self.rules.score(r) for r in requests]
        group = getattr(self.llm, "score_group", None)
        try:
            llm = await group(requests) if group else [await self.llm.score(r) for r in requests]
        except JudgeError as e:
            if self._falls_back(e):
                return rules
            raise
        return [self.blend(r, m) for r, m in zip(rules, llm, strict=True)]

    async def aclose(self) -> None:
        for j in (self.rules, self.llm):
            close = getattr(j, "aclose", None)
            if close is not None:
                await close()
