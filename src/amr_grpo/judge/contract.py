"""The HTTP evaluation contract (README: Evaluation API) as pydantic models: request, batch, response, error body.

The service (`amr-grpo serve`) validates its bodies with them and `amr-grpo judge` validates every JSONL line with
them, so both reject the same input with the same field names. The Edge Function ports the request checks
(supabase/functions/evaluate-prescription/contract.ts: same fields, same limits).
Try it: python -c "from amr_grpo.judge.contract import EvaluationRequestModel as M; print(M(patient_case='x', model_output='y').to_eval_request())"
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema, StrictBool, field_validator

from amr_grpo.judge.base import EvalRequest
from amr_grpo.metrics import METRIC_KEYS, resolve_metrics

# Per text field (patient_case, model_output, ground_truth), in characters (code points); the Edge Function's too.
# One request with every field at this maximum fits in the services' 1 MiB body limit whatever the JSON encoding:
# 3 x 20,000 characters x at most 12 bytes (an escaped surrogate pair) = 720,000 bytes. A policy's validation is a
# few thousand characters; a case report rarely more than ten thousand.
MAX_TEXT_CHARS = 20_000
MAX_BATCH_ITEMS = 100  # items in one batch request (the batch as a whole is within the body limit too)
MAX_CHECKLIST_ITEMS = 60  # rubric items in one checklist (a case has about 10-15)
_TRUTH_TEXT_KEYS = ("decision", "recommended_regimen", "regimen", "reference", "citation", "syndrome")

# The OpenAPI schema of each field, stated exactly as the validators below decide (tests/service/test_service_contract.py
# sends boundary inputs to both). WithJsonSchema documents; the validators alone decide.
_KEY = "|".join(METRIC_KEYS)
CaseText = Annotated[
    str, WithJsonSchema({"type": "string", "minLength": 1, "maxLength": MAX_TEXT_CHARS, "pattern": r"\S"})
]
TruthText = Annotated[str, WithJsonSchema({"type": "string", "maxLength": MAX_TEXT_CHARS})]
_TEXT_OR_NULL = {"type": ["string", "null"]}
_TEXTS = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}, {"type": "null"}]}
TruthObject = Annotated[
    dict[str, Any],
    WithJsonSchema(
        {
            "type": "object",
            "properties": {**{k: _TEXT_OR_NULL for k in _TRUTH_TEXT_KEYS}, "issues": _TEXTS, "flags": _TEXTS},
            "description": "Other keys are kept and ignored.",
        }
    ),
]
MetricSet = Annotated[
    str,
    WithJsonSchema(
        {
            "anyOf": [
                {"enum": ["priority", "all"]},
                # resolve_metrics: comma-separated keys, blanks around them and empty items ignored, at least one key
                # (one way to match each character, so no input makes a client's regex engine backtrack)
                {"type": "string", "pattern": rf"^(?:\s*,)*\s*(?:{_KEY})\s*(?:,\s*(?:(?:{_KEY})\s*)?)*$"},
            ]
        }
    ),
]
MetricList = Annotated[
    list[str], WithJsonSchema({"type": "array", "minItems": 1, "items": {"enum": list(METRIC_KEYS)}})
]


class ChecklistItemModel(BaseModel):
    """One rubric item of a case (records.ChecklistItem)."""

    model_config = ConfigDict(extra="ignore")

    key: str = Field(max_length=300)
    kind: str = Field(max_length=40)
    importance: Literal["essential", "important", "pitfall"]
    text: str = Field(max_length=2000)
    evidence: list[str] = Field(default_factory=list, max_length=50)
    source: str = Field(default="", max_length=500)


class ChecklistModel(BaseModel):
    """What the judge expects of a validation of this case (records.Checklist); every field but the items may be
    left out."""

    model_config = ConfigDict(extra="ignore")

    syndrome: str | None = None
    syndrome_name: str | None = None
    candidates: list[str] = Field(default_factory=list, max_length=20)
    antibiotic_needed: StrictBool | None = None  # true/false/null only: no 'yes' or 1 (the schema says boolean)
    expected_decisions: list[Literal["Approve", "Modify", "Reject"]] = Field(default_factory=list)
    decision_why: str = Field(default="", max_length=2000)
    regimens: list[str] = Field(default_factory=list, max_length=30)
    avoid: list[str] = Field(default_factory=list, max_length=60)
    sections: list[str] = Field(default_factory=list, max_length=30)
    items: list[ChecklistItemModel] = Field(max_length=MAX_CHECKLIST_ITEMS)
    version: str = ""
    serious: StrictBool | None = None


class EvaluationRequestModel(BaseModel):
    """{"patient_case": str|object, "model_output": str, "ground_truth": str|object|null, "metrics": ...,
    "checklist": object|null}."""

    model_config = ConfigDict(extra="forbid")

    patient_case: CaseText | dict[str, Any] = Field(description="The case: free text or a Case-like object.")
    model_output: str = Field(max_length=MAX_TEXT_CHARS, description="The validation to score (policy output).")
    ground_truth: TruthText | TruthObject | None = Field(
        default=None, description="Reference validation text, or {decision, reference, regimen, flags, ...}."
    )
    metrics: MetricSet | MetricList = Field(
        default="priority", validate_default=True, description="'priority', 'all' or a list of metric keys."
    )  # validate_default: the default 'priority' is resolved to keys too (else tuple('priority') = characters)
    checklist: ChecklistModel | None = Field(
        default=None,
        description="The case's checklist (`amr-grpo checklist --json`); built from the case when missing.",
    )

    @field_validator("patient_case")
    @classmethod
    def _case(cls, v: str | dict[str, Any]) -> str | dict[str, Any]:
        if isinstance(v, str):
            if not v.strip():
                raise ValueError("must not be empty")
            if len(v) > MAX_TEXT_CHARS:
                raise ValueError(f"at most {MAX_TEXT_CHARS} characters, got {len(v)}")
        return v

    @field_validator("ground_truth")
    @classmethod
    def _truth(cls, v: str | dict[str, Any] | None) -> str | dict[str, Any] | None:
        if isinstance(v, str) and len(v) > MAX_TEXT_CHARS:
            raise ValueError(f"at most {MAX_TEXT_CHARS} characters, got {len(v)}")
        if isinstance(v, dict):  # the GroundTruth fields the judges read must have their types (found by fuzzing)
            for key in _TRUTH_TEXT_KEYS:
                if v.get(key) is not None and not isinstance(v[key], str):
                    raise ValueError(f"{key} must be a string or null")
            for key in ("issues", "flags"):
                x = v.get(key)
                if (
                    x is not None
                    and not isinstance(x, str)
                    and not (isinstance(x, list) and all(isinstance(i, str) for i in x))
                ):
                    raise ValueError(f"{key} must be a list of strings")
        return v

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, v: str | list[str]) -> list[str]:
        try:
            return resolve_metrics(v)
        except ValueError as e:
            raise ValueError(str(e).removeprefix("metrics: ")) from None

    def to_eval_request(self) -> EvalRequest:
        return EvalRequest(
            patient_case=self.patient_case,
            model_output=self.model_output,
            ground_truth=self.ground_truth,
            metrics=tuple(self.metrics),
            checklist=self.checklist.model_dump() if self.checklist is not None else None,
        )


class BatchRequestModel(BaseModel):
    """{"items": [request, ...]}, 1 to MAX_BATCH_ITEMS items."""

    model_config = ConfigDict(extra="forbid")

    items: list[EvaluationRequestModel] = Field(min_length=1, max_length=MAX_BATCH_ITEMS)


class ScoreModel(BaseModel):
    score: int = Field(ge=1, le=5)
    justification: str


class JudgeInfoModel(BaseModel):
    backend: str
    model: str
    rubric_version: str


class FlagsModel(BaseModel):
    injection_suspected: bool = False
    critical_error: bool = False  # every score was capped (metrics.json critical_error): weighted reward <= 0.4
    case_unread: bool = False  # no syndrome matched: only what needs none was scored


class EvaluationResponseModel(BaseModel):
    """What Verdict.to_dict() writes: the response body of one evaluation."""

    scores: dict[str, ScoreModel]
    weighted_reward: float = Field(ge=0.2, le=1.0)
    metrics_used: list[str]
    judge: JudgeInfoModel
    cached: bool = False
    flags: FlagsModel = Field(default_factory=FlagsModel)


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    """{"error": {"code", "message", "field"}}: every 4xx/5xx body, and a failed item of a batch."""

    error: ErrorDetail


class BatchResponseModel(BaseModel):
    results: list[EvaluationResponseModel | ErrorBody]


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return ErrorBody(error=ErrorDetail(code=code, message=message, field=field)).model_dump()


def first_error(exc: ValidationError) -> tuple[str, str]:
    """(field, message) of the first validation error; the field written `items[0].model_output`."""
    err = exc.errors()[0]
    parts: list[str] = []
    for p in err["loc"]:
        if isinstance(p, int):
            parts[-1:] = [f"{parts[-1]}[{p}]" if parts else f"[{p}]"]
        elif p in ("str", "dict[str,any]", "list[str]"):  # pydantic's union-branch names, not fields
            continue
        else:
            parts.append(str(p))
    field = ".".join(parts) or "body"
    msg = err["msg"].removeprefix("Value error, ")
    return field, f"{field}: {msg}"
