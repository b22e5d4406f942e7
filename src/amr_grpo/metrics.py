"""The six rubric metrics, the weighted reward and the critical-error cap: one source of truth, read from metrics.json;
and the decision cost matrix, read from decision_costs.json beside it.

The Supabase Edge Function keeps a byte-identical copy of metrics.json (tests/service/test_edge_function.py fails
if they differ), so both apply the same cap: a verdict with a critical error has every metric score capped at
`critical_max_score()` (2), which puts its weighted reward at 0.4 or below by the same formula everywhere (the HTTP
answer, the per-metric TRL rewards, the Edge Function).
Try it: python -c "from amr_grpo.metrics import weighted_reward as w; print(w({'clinical_accuracy': 4}))"
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

METRICS_FILE = "metrics.json"
DECISION_COSTS_FILE = "decision_costs.json"
SCORE_MIN, SCORE_MAX = 1, 5


@dataclass(frozen=True)
class Metric:
    key: str
    name: str
    weight: float
    priority: bool
    description: str
    anchors: dict[int, str]  # score (1-5) -> what that score looks like


@cache
def _raw() -> dict:
    return json.loads(resources.files("amr_grpo").joinpath(METRICS_FILE).read_text(encoding="utf-8"))


@cache
def _load() -> tuple[str, tuple[Metric, ...]]:
    raw = _raw()
    metrics = tuple(
        Metric(
            key=m["key"],
            name=m["name"],
            weight=float(m["weight"]),
            priority=bool(m["priority"]),
            description=m["description"],
            anchors={int(k): v for k, v in m["anchors"].items()},
        )
        for m in raw["metrics"]
    )
    return raw["rubric_version"], metrics


def rubric_version() -> str:
    return _load()[0]


def all_metrics() -> tuple[Metric, ...]:
    return _load()[1]


METRIC_KEYS: tuple[str, ...] = tuple(m.key for m in all_metrics())
WEIGHTS: dict[str, float] = {m.key: m.weight for m in all_metrics()}
PRIORITY_KEYS: tuple[str, ...] = tuple(m.key for m in all_metrics() if m.priority)


def get_metric(key: str) -> Metric:
    for m in all_metrics():
        if m.key == key:
            return m
    raise KeyError(f"unknown metric {key!r}; known: {', '.join(METRIC_KEYS)}")


def resolve_metrics(metrics: str | Sequence[str]) -> list[str]:
    """'priority' | 'all' | [keys] -> the metric keys in rubric order. Unknown keys raise ValueError."""
    if isinstance(metrics, str):
        if metrics == "priority":
            return list(PRIORITY_KEYS)
        if metrics == "all":
            return list(METRIC_KEYS)
        metrics = [k.strip() for k in metrics.split(",") if k.strip()]
    keys = list(dict.fromkeys(metrics))
    if not keys:
        raise ValueError("metrics: empty list; use 'priority', 'all' or metric keys")
    unknown = [k for k in keys if k not in WEIGHTS]
    if unknown:
        raise ValueError(f"metrics: unknown metric(s) {', '.join(map(repr, unknown))}; known: {', '.join(METRIC_KEYS)}")
    return [k for k in METRIC_KEYS if k in keys]


def weighted_reward(scores: Mapping[str, float], metrics: str | Sequence[str] | None = None) -> float:
    """sum(w_m * score_m / 5) / sum(w_m) over the metric set; in [0.2, 1.0] for scores in 1-5.

    `metrics` defaults to the keys present in `scores`. A metric of the set with no score raises KeyError:
    a missing score is "could not score", never silently 0.
    """
    keys = resolve_metrics(metrics) if metrics is not None else resolve_metrics(list(scores))
    # Plain left-to-right float adds (not sum(), which compensates on Python >= 3.12) so the Edge
    # Function's JavaScript loop gives the bit-identical reward.
    total_w = 0.0
    acc = 0.0
    for k in keys:
        total_w += WEIGHTS[k]
        s = float(scores[k])
        if not SCORE_MIN <= s <= SCORE_MAX:
            raise ValueError(f"score for {k!r} is {s}; must be within {SCORE_MIN}-{SCORE_MAX}")
        acc += WEIGHTS[k] * s / SCORE_MAX
    # Clamp the float round-off (0.04 / 0.2 = 0.19999999999999998) back into the documented [0.2, 1.0].
    return min(1.0, max(SCORE_MIN / SCORE_MAX, acc / total_w))


def critical_max_score() -> int:
    """The highest score any metric may keep when a verdict has a critical error (metrics.json critical_error)."""
    return int(_raw()["critical_error"]["max_score"])


def apply_critical_cap(scores: Mapping[str, int], critical: bool) -> dict[str, int]:
    """Every metric score capped at critical_max_score() when `critical`; unchanged otherwise."""
    if not critical:
        return dict(scores)
    top = critical_max_score()
    return {k: min(int(s), top) for k, s in scores.items()}


@dataclass(frozen=True)
class DecisionCost:
    score: int  # decision_appropriateness
    clinical_max: int  # the highest clinical_accuracy this decision allows


@cache
def _costs() -> dict:
    return json.loads(resources.files("amr_grpo").joinpath(DECISION_COSTS_FILE).read_text(encoding="utf-8"))


def decision_cost(right: str, given: str | None) -> DecisionCost:
    """What giving decision `given` costs when `right` is the right one (decision_costs.json); no decision (None) is
    the worst."""
    cell = _costs()["matrix"][right].get(given) if given else None
    cell = cell or _costs()["no_decision"]
    return DecisionCost(int(cell["score"]), int(cell["clinical_max"]))
