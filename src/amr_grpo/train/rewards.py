"""TRL reward functions over our judges: one async function per rubric metric, plus `format`.

TRL's contract: fn(prompts, completions, **dataset_columns) -> list[float | None]; None = could not score
(TRL drops it from the group statistics), never 0. Each metric function is named after its metric, so TRL
logs `rewards/<metric>/mean`, and returns score/5; with `reward_weights` = metric weights / their sum,
TRL's weighted sum of the metric rewards is exactly metrics.weighted_reward(). A critical error caps every metric
score of its verdict (metrics.apply_critical_cap), so the cap on the weighted reward reaches training through the
same per-metric rewards. `format` is output_format.format_score: 1 for exactly the policy format, 0.5 for an
answer that parses but is not exactly it, 0 for an unparseable answer or one cut off at the length cap.

All functions of one batch share ONE judge call (JudgeEngine.score_many over the whole batch), memoised on
(step, completions). With judge.every_n_steps = N the configured judge scores every Nth step and the rules
judge the others. Latency, failures and cache hits go to the trainer's log via `log_metric`.
Try it: pytest tests/train/test_rewards.py
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from amr_grpo.judge import build_engine
from amr_grpo.judge.base import EvalRequest, JudgeError
from amr_grpo.judge.config import JudgeConfig
from amr_grpo.judge.engine import JudgeEngine
from amr_grpo.metrics import SCORE_MAX, WEIGHTS, resolve_metrics
from amr_grpo.output_format import format_score, parse_validation
from amr_grpo.records import Decision, Verdict

RewardFunc = Callable[..., Any]
__all__ = ["RewardPipeline", "completion_text", "format_score"]


def completion_text(completion: str | list[dict[str, str]]) -> str:
    """A completion as text: TRL passes a string, or chat messages [{"role": "assistant", "content": ...}]."""
    if isinstance(completion, str):
        return completion
    return "".join(m.get("content") or "" for m in completion if m.get("role", "assistant") == "assistant")


def _as_obj(value: Any) -> Any:
    """Dataset columns hold the case / ground truth as a dict or as its JSON text; the judge wants the object."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def expected_decision(ground_truth: Any) -> Decision | None:
    """The decision a ground truth (dict, its JSON text, or a reference validation text) expects; None if unknown."""
    gt = _as_obj(ground_truth)
    if isinstance(gt, dict):
        return Decision.parse(gt.get("decision"))
    if isinstance(gt, str) and gt.strip():
        return parse_validation(gt).decision
    return None


def decision_accuracy(texts: Sequence[str], truths: Sequence[Any]) -> float | None:
    """Share of completions whose decision is the expected one, over those whose truth is known (unparseable =
    wrong); None when no truth is known."""
    pairs = [(t, d) for t, g in zip(texts, truths, strict=True) if (d := expected_decision(g)) is not None]
    if not pairs:
        return None
    return sum(parse_validation(t).decision == d for t, d in pairs) / len(pairs)


@dataclasses.dataclass
class JudgeStats:
    """What the judges did during a run; `naive_calls` = one call per metric per completion per step."""

    batches: int = 0
    completions: int = 0
    llm_batches: int = 0  # batches scored by the configured judge (every_n_steps)
    rules_batches: int = 0  # batches scored by the rules judge in between
    failures: int = 0  # completions the judge could not score (rewards None)
    cached: int = 0  # verdicts served from the judge cache
    unparseable: int = 0  # completions that do not parse into the policy format
    naive_calls: int = 0
    judge_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class RewardPipeline:
    """The reward functions of one run and the judges behind them (engines are built lazily on TRL's loop)."""

    def __init__(self, judge: JudgeConfig, format_weight: float = 0.1, max_completion_length: int | None = None):
        self.cfg = judge
        self.max_completion_length = max_completion_length  # a completion this long was cut off, not ended
        self.metrics: list[str] = resolve_metrics(judge.metrics)
        self.format_weight = format_weight
        self.every_n_steps = max(1, int(getattr(judge, "every_n_steps", 1) or 1))
        self.stats = JudgeStats()
        self._engine: JudgeEngine | None = None
        self._rules_engine: JudgeEngine | None = None
        self._memo: tuple[Any, asyncio.Task] | None = None
        self.last_batch: dict[str, float | None] = {}  # the console's bar reads the latest batch's figures
        self.quota_spent_at: int | None = None  # step whose LLM verdicts failed for a spent quota (fallback none)

    # ---- what GRPOTrainer takes -------------------------------------------------------------------------
    def reward_funcs(self) -> list[RewardFunc]:
        """One async function per metric (named after it), then `format`."""
        return [self._metric_reward(k) for k in self.metrics] + [self._format_reward()]

    def reward_weights(self) -> list[float]:
        """Metric weights normalised to sum 1 (so the metric part equals weighted_reward), then format_weight."""
        total = sum(WEIGHTS[k] for k in self.metrics)
        return [WEIGHTS[k] / total for k in self.metrics] + [self.format_weight]

    def _metric_reward(self, key: str) -> RewardFunc:
        async def reward(prompts, completions, **columns) -> list[float | None]:
            verdicts = await self.verdicts(completions, **columns)
            return [v.scores[key].score / SCORE_MAX if isinstance(v, Verdict) and key in v.scores else None
                    for v in verdicts]

        reward.__name__ = reward.__qualname__ = key
        return reward

    def _format_reward(self) -> RewardFunc:
        async def format(prompts, completions, completion_ids=None, **columns) -> list[float | None]:  # noqa: A001
            verdicts = await self.verdicts(completions, **columns)
            cap = self.max_completion_length
            ids = completion_ids if completion_ids is not None else [()] * len(completions)
            # a completion the judge could not score gets None here too: a lone format reward would otherwise
            # decide its advantage on its own and push it far below its group
            return [None if isinstance(v, JudgeError) else format_score(completion_text(c), cap is not None and len(i) >= cap)
                    for c, v, i in zip(completions, verdicts, ids, strict=True)]

        return format

    # ---- one judge call per batch ------------------------------------------------------------------------
    async def verdicts(self, completions: Sequence[Any], **columns: Any) -> list[Verdict | JudgeError]:
        """Verdicts for the batch, computed once however many reward functions ask (single-slot memo)."""
        state = columns.get("trainer_state")
        step = getattr(state, "global_step", 0)
        texts = tuple(completion_text(c) for c in completions)
        key = (step, texts)
        if self._memo is None or self._memo[0] != key:
            task = asyncio.ensure_future(self._score_batch(step, texts, columns))
            self._memo = (key, task)
        return await asyncio.shield(self._memo[1])

    def uses_llm(self, step: int) -> bool:
        """The configured judge on every Nth step (0, N, 2N, ...); the rules judge in between."""
        return self.cfg.backend == "rules" or step % self.every_n_steps == 0

    async def _score_batch(self, step: int, texts: tuple[str, ...], columns: dict[str, Any]) -> list:
        contexts = columns.get("context") or [None] * len(texts)
        truths = columns.get("ground_truth") or [None] * len(texts)
        checklists = columns.get("checklist") or [None] * len(texts)  # stored by prepare: shown to LLM judges
        reqs = [
            EvalRequest(patient_case=_as_obj(c) or "", model_output=t, ground_truth=_as_obj(g), metrics=tuple(self.metrics),
                        checklist=cl if isinstance(cl := _as_obj(k), dict) else None)
            for t, c, g, k in zip(texts, contexts, truths, checklists, strict=True)
        ]
        use_llm = self.uses_llm(step)
        engine = self._main_engine() if use_llm else self._rules()
        t0 = time.perf_counter()
        verdicts = await engine.score_many(reqs, group=bool(getattr(self.cfg, "group_mode", False)))
        seconds = time.perf_counter() - t0

        failures = sum(isinstance(v, BaseException) for v in verdicts)
        cached = sum(isinstance(v, Verdict) and v.cached for v in verdicts)
        unparseable = sum(not parse_validation(t).parse_ok for t in texts)
        if use_llm and any(getattr(v, "kind", None) in ("quota_exhausted", "budget_exhausted") for v in verdicts):
            if self.cfg.quota_fallback == "none" and self.quota_spent_at is None:
                self.quota_spent_at = step
        scored = [v.weighted_reward for v in verdicts if isinstance(v, Verdict)]
        accuracy = decision_accuracy(texts, truths)
        self.last_batch = {"weighted_reward": sum(scored) / len(scored) if scored else None,
                           "decision_accuracy": accuracy}
        s = self.stats
        s.batches += 1
        s.completions += len(texts)
        s.llm_batches += use_llm and self.cfg.backend != "rules"
        s.rules_batches += not use_llm or self.cfg.backend == "rules"
        s.failures += failures
        s.cached += cached
        s.unparseable += unparseable
        s.naive_calls += len(texts) * len(self.metrics)
        s.judge_seconds += seconds

        log_metric = columns.get("log_metric")
        if log_metric is not None:
            if scored:  # the judge's weighted reward, without the format reward TRL's `reward` includes
                log_metric("judge/weighted_reward", sum(scored) / len(scored))
            if accuracy is not None:  # the parsed decision against the ground truth's
                log_metric("judge/decision_accuracy", accuracy)
            log_metric("judge/latency_s", seconds)
            log_metric("judge/failures", float(failures))
            log_metric("judge/cache_hits", float(cached))
            log_metric("judge/llm_step", float(use_llm and self.cfg.backend != "rules"))
        log_extra = columns.get("log_extra")
        if log_extra is not None:
            log_extra("judge", [
                f"{type(v).__name__}: {getattr(v, 'kind', '')}" if isinstance(v, BaseException)
                else f"{v.backend} {v.weighted_reward:.3f}" for v in verdicts
            ])
        return [v if isinstance(v, (Verdict, JudgeError)) else JudgeError("server_error", str(v)) for v in verdicts]

    def _main_engine(self) -> JudgeEngine:
        if self._engine is None:
            self._engine = build_engine(self.cfg)
        return self._engine

    def _rules(self) -> JudgeEngine:
        if self.cfg.backend == "rules":
            return self._main_engine()
        if self._rules_engine is None:
            self._rules_engine = build_engine(dataclasses.replace(self.cfg, backend="rules", cache_path=None))
        return self._rules_engine

    # ---- accounting ---------------------------------------------------------------------------------------
    def ledger(self) -> dict[str, Any]:
        """The engines' ledgers and our counts: calls made next to the naive count."""
        out: dict[str, Any] = {"stats": self.stats.to_dict()}
        if self._engine is not None:
            out["judge"] = {"backend": self.cfg.backend, **self._engine.ledger.to_dict()}
        if self._rules_engine is not None:
            out["rules"] = {"backend": "rules", **self._rules_engine.ledger.to_dict()}
        return out

    async def aclose(self) -> None:
        for engine in (self._engine, self._rules_engine):
            if engine is not None:
                await engine.aclose()
