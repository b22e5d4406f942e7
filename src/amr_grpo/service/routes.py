"""The evaluation routes: POST /functions/v1/evaluate-prescription (= POST /v1/evaluate), POST /v1/evaluate/batch,
GET /healthz. Request and response follow DESIGN.md (Contracts); judge failures are 429/502/503, never a score.

Try it: amr-grpo serve --no-auth &  curl -s localhost:8000/v1/evaluate -H 'content-type: application/json' \
  -d '{"patient_case": "F 30y, cystitis", "model_output": "Decision: Approve"}'
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from amr_grpo.judge.base import JudgeError
from amr_grpo.judge.contract import BatchRequestModel, EvaluationRequestModel
from amr_grpo.metrics import rubric_version
from amr_grpo.service.deps import AppSettings, Caller, Engine, JsonBody, Limiter, charge
from amr_grpo.service.errors import ApiError, judge_error_body

NOTICE = "Research tool, not for clinical use."

router = APIRouter()

_ERROR = {"description": "Error body {error: {code, message, field}}"}
_JUDGE_FAILED = {"description": "The judge could not score; retry after Retry-After seconds (never a made-up score)"}
EVALUATE_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid API key"},
    413: {"description": "Request body too large"},
    415: {"description": "Body is not application/json"},
    422: {"description": "Invalid request; `field` names the offending field"},
    429: {"description": "Rate limited (this service or the judge provider); see Retry-After"},
    502: _JUDGE_FAILED,
    503: _JUDGE_FAILED,
}


@router.post(
    "/functions/v1/evaluate-prescription",
    dependencies=[JsonBody],
    responses=EVALUATE_RESPONSES,
    summary="Score one validation (the Supabase Edge Function's path)",
    tags=["evaluate"],
)
@router.post(
    "/v1/evaluate",
    dependencies=[JsonBody],
    responses=EVALUATE_RESPONSES,
    summary="Score one validation",
    tags=["evaluate"],
)
async def evaluate(body: EvaluationRequestModel, caller: Caller, engine: Engine, limiter: Limiter) -> JSONResponse:
    """Score a model's validation of a prescription on the rubric metrics. Research tool, not for clinical use.

    Returns `{scores: {key: {score, justification}}, weighted_reward, metrics_used, judge, cached, flags}`."""
    charge(limiter, caller)
    verdict = await engine.score(body.to_request())
    return JSONResponse(verdict.to_dict())


@router.post(
    "/v1/evaluate/batch",
    dependencies=[JsonBody],
    responses=EVALUATE_RESPONSES,
    summary="Score several validations",
    tags=["evaluate"],
)
async def evaluate_batch(
    body: BatchRequestModel, caller: Caller, engine: Engine, limiter: Limiter, settings: AppSettings
) -> JSONResponse:
    """`{items: [request, ...]}` -> `{results: [response, ...]}` in the same order. An item the judge could not
    score is `{error: {code, message, field}}` in its place; when no item could be scored, the answer is that
    error's status (429/502/503) with Retry-After. Each item counts against the rate limit."""
    if len(body.items) > settings.max_batch_items:
        raise ApiError(
            422,
            "validation_error",
            f"items: at most {settings.max_batch_items} items per batch, got {len(body.items)}",
            field="items",
        )
    charge(limiter, caller, cost=len(body.items))
    outcomes = await engine.score_many([item.to_request() for item in body.items])
    if outcomes and all(isinstance(o, JudgeError) for o in outcomes):
        raise outcomes[0]
    results = [judge_error_body(o)[1] if isinstance(o, JudgeError) else o.to_dict() for o in outcomes]
    return JSONResponse({"results": results})


@router.get("/healthz", summary="Liveness and the judge in use", tags=["health"])
async def healthz(engine: Engine, settings: AppSettings) -> dict[str, Any]:
    judge = engine.judge
    return {
        "status": "ok",
        "judge": {"backend": judge.backend, "model": judge.model, "rubric_version": rubric_version()},
        "auth": settings.auth,
        "notice": NOTICE,
    }
