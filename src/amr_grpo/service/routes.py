"""The evaluation routes: POST /functions/v1/evaluate-prescription (= POST /v1/evaluate), POST /v1/evaluate/batch,
GET /healthz. Request and response follow amr_grpo/judge/contract.py; judge failures are 429/502/503, never a score.

Try it: amr-grpo serve --no-auth &  curl -s localhost:8000/v1/evaluate -H 'content-type: application/json' \
  -d '{"patient_case": "F 30y, cystitis", "model_output": "Decision: Approve"}'
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from amr_grpo import NOTICE
from amr_grpo.judge.base import JudgeError
from amr_grpo.judge.contract import (
    BatchRequestModel,
    BatchResponseModel,
    ErrorBody,
    EvaluationRequestModel,
    EvaluationResponseModel,
)
from amr_grpo.metrics import rubric_version
from amr_grpo.service.body import parse
from amr_grpo.service.deps import AppSettings, Engine, accept
from amr_grpo.service.errors import ApiError, judge_error_body


router = APIRouter()

# how to send the key, for /docs (app.py declares the two schemes; deps.authenticate checks them)
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer <API key>"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
}
BODY_MODELS = (EvaluationRequestModel, BatchRequestModel)  # app.py adds their schemas to the OpenAPI document


def _doc(model: type[BaseModel], answer: type[BaseModel], summary: str) -> dict[str, Any]:
    """Route documentation: the body schema (parsed by hand, see `parse`), the answers, the key schemes."""
    failed = {"model": ErrorBody, "description": "The judge could not score; see Retry-After (never a made-up score)"}
    body = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {
        "summary": summary,
        "tags": ["evaluate"],
        "responses": {
            200: {"model": answer},
            401: {"model": ErrorBody, "description": "Missing or invalid API key"},
            413: {"model": ErrorBody, "description": "Request body too large"},
            415: {"model": ErrorBody, "description": "Body is not application/json"},
            422: {"model": ErrorBody, "description": "Invalid request; `field` names the offending field"},
            429: {"model": ErrorBody, "description": "Rate limited (this service or the judge); see Retry-After"},
            502: failed,
            503: failed,
        },
        "openapi_extra": {
            "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
            "security": [{"bearer": []}, {"apiKey": []}],
        },
    }


# The evaluation routes call `accept` and `body.parse` themselves instead of declaring a dependency and a body
# parameter: FastAPI's dependency and body machinery cost more than the cached evaluation itself (together with
# the other hot-path choices noted in app.py, deps.py, middleware.py and judge/cache.py, bench/service_load.py's
# ratio to a bare endpoint went from 0.16 to about 0.5). The OpenAPI document still shows the body schema and
# the key schemes (see _doc and app._document).


@router.post(
    "/functions/v1/evaluate-prescription",
    **_doc(EvaluationRequestModel, EvaluationResponseModel, "Score one validation (the Supabase Edge Function's path)"),
)
@router.post("/v1/evaluate", **_doc(EvaluationRequestModel, EvaluationResponseModel, "Score one validation"))
async def evaluate(request: Request) -> JSONResponse:
    """Score a model's validation of a prescription on the rubric metrics. Research tool, not for clinical use.

    Returns `{scores: {key: {score, justification}}, weighted_reward, metrics_used, judge, cached, flags}`."""
    call = await accept(request)
    body = await parse(request, EvaluationRequestModel)
    call.charge()
    verdict = await call.engine.score(body.to_eval_request())
    return JSONResponse(verdict.to_dict())


@router.post("/v1/evaluate/batch", **_doc(BatchRequestModel, BatchResponseModel, "Score several validations"))
async def evaluate_batch(request: Request) -> JSONResponse:
    """`{items: [request, ...]}` -> `{results: [response, ...]}` in the same order. An item the judge could not
    score is `{error: {code, message, field}}` in its place; when no item could be scored, the answer is that
    error's status (429/502/503) with Retry-After. Each item counts against the rate limit."""
    call = await accept(request)
    body = await parse(request, BatchRequestModel)
    limit = call.settings.max_batch_items
    if len(body.items) > limit:
        message = f"items: at most {limit} items per batch, got {len(body.items)}"
        raise ApiError(422, "validation_error", message, field="items")
    call.charge(cost=len(body.items))
    outcomes = await call.engine.score_many([item.to_eval_request() for item in body.items])
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
