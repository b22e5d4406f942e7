"""The judge contract: an evaluation request in, a Verdict out, or JudgeError when it cannot score.

Every backend (rules, openai, local, hybrid, api) implements Judge; JudgeEngine wraps any of them.
Try it: python -c "from amr_grpo.judge.base import EvalRequest; print(EvalRequest(patient_case='x', model_output='y'))"
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from amr_grpo.judge.redact import scrub
from amr_grpo.records import Verdict


@dataclass(frozen=True)
class EvalRequest:
    """One completion to score. Mirrors the HTTP contract (amr_grpo.judge.contract).

    patient_case: case text or a Case-like dict; ground_truth: reference text or a GroundTruth-like dict
    ({decision, reference, regimen, flags, ...}) or None; metrics: resolved metric keys; checklist: what the LLM
    judges are shown as the case's rubric items (the rules judge derives its own from the case, cached per case).
    """

    patient_case: str | dict[str, Any]
    model_output: str
    ground_truth: str | dict[str, Any] | None = None
    metrics: tuple[str, ...] = ("clinical_accuracy", "guideline_adherence", "reasoning_completeness")
    checklist: dict[str, Any] | None = None  # records.Checklist.to_dict(); None: built from the case


class JudgeError(Exception):
    """The judge could not score. `kind`: rate_limited | quota_exhausted | timeout | server_error | unreachable
    (no connection: refused, DNS, connect timeout) | bad_answer | unavailable | budget_exhausted. `retry_after` in
    seconds when the provider said so. The message is scrubbed of keys and tokens (judge/redact.py) when made."""

    def __init__(self, kind: str, message: str, retry_after: float | None = None):
        super().__init__(scrub(message))
        self.kind = kind
        self.retry_after = retry_after


@dataclass
class Usage:
    """What one judge call cost (0 for rules)."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Judge(Protocol):
    backend: str  # "rules" | "openai" | "local" | "hybrid" | "api"
    model: str  # model id, or "rules-v2"

    async def score(self, request: EvalRequest) -> Verdict:
        """Score all requested metrics of one completion in one call; raise JudgeError if it cannot."""
        ...
