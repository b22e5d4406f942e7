"""The validation web page: GET / serves a form (patient, diagnosis, prescription); POST /v1/validate runs the
policy (Validator) on the case, then the service's judge on its answer. Research tool, not for clinical use.

Included by service.app.create_app when `settings.model_path` is set (`amr-grpo serve --model PATH`). The policy
is loaded once, in this router's lifespan (a thread, so startup is not blocked by torch); a model that does not
load is reported on the page, not by a crashed server. The page is plain HTML/CSS/JS from ./static: nothing is
fetched from the internet (the Content-Security-Policy says so).
Try it: amr-grpo serve --no-auth --model assets/tiny-policy  then open http://127.0.0.1:8000/
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, StringConstraints

from amr_grpo.errors import UserError
from amr_grpo.judge.base import EvalRequest, JudgeError
from amr_grpo.metrics import METRIC_KEYS, all_metrics
from amr_grpo.service.deps import Caller, Engine, JsonBody, Limiter, charge
from amr_grpo.service.errors import ApiError, judge_error_body

log = logging.getLogger("amr_grpo.service.web")

NOTICE = ("Research tool, not for clinical use. The validation is written by a language model and scored by an "
          "automatic judge; it is not medical advice.")
STATIC = {"app.css": "text/css; charset=utf-8", "app.js": "text/javascript; charset=utf-8"}
# Everything the page uses comes from this server; inline scripts, plugins and framing are refused.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    """Load the policy named by settings.model_path once; keep the error message if it does not load."""
    from amr_grpo.validate import Validator

    path = app.state.settings.model_path
    validator, error = None, None
    try:
        validator = await anyio.to_thread.run_sync(lambda: Validator.from_pretrained(path))
        log.info("web page: policy %s loaded", path)
    except UserError as e:
        error = str(e)
        log.error("web page: %s", error)
    yield {"validator": validator, "validator_error": error}


router = APIRouter(lifespan=lifespan)


class WebCase(BaseModel):
    """The form: free-text patient profile, diagnosis, prescription; setting optional."""

    model_config = ConfigDict(extra="forbid")
    patient: Text
    diagnosis: Text
    prescription: Text
    setting: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None


def _static(name: str) -> str:
    return resources.files("amr_grpo.service").joinpath("static", name).read_text(encoding="utf-8")


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def page() -> HTMLResponse:
    return HTMLResponse(_static("index.html"), headers=HEADERS)


@router.get("/static/{name}", include_in_schema=False)
async def static(name: str) -> Response:
    if name not in STATIC:
        raise ApiError(404, "not_found", f"no static file {name!r}")
    return Response(_static(name), media_type=STATIC[name], headers=HEADERS)


@router.post("/v1/validate", dependencies=[JsonBody], tags=["web"],
             summary="Validate one prescription with the policy, then score the validation")
async def validate(body: WebCase, request: Request, caller: Caller, engine: Engine, limiter: Limiter) -> JSONResponse:
    """`{patient, diagnosis, prescription, setting?}` -> `{validation, output_tokens, verdict, judge_error, metrics,
    notice}`. The policy failing is 503 `model_unavailable` / `model_failed`; the judge failing still returns the
    validation, with `verdict: null` and the judge's error. Research tool, not for clinical use."""
    charge(limiter, caller)
    validator = request.state.validator
    if validator is None:
        raise ApiError(503, "model_unavailable", f"the policy model is not loaded: {request.state.validator_error}")
    from amr_grpo.judge.parse import parse_validation
    from amr_grpo.validate import to_case

    try:
        case = to_case(body.model_dump())
    except UserError as e:
        raise ApiError(422, "validation_error", str(e), field="prescription") from None
    try:
        (gen,) = await anyio.to_thread.run_sync(validator.generate_many, [case])
    except (RuntimeError, ValueError, IndexError) as e:  # torch errors (incl. out of memory) are RuntimeError
        log.exception("web page: generation failed")
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise ApiError(503, "model_failed", f"the model failed to generate a validation: {first}") from None
    v = parse_validation(gen.text)
    verdict, judge_error = None, None
    try:
        verdict = await engine.score(EvalRequest(case.to_dict(), gen.text, None, METRIC_KEYS))
    except JudgeError as e:
        judge_error = judge_error_body(e)[1]["error"]
    return JSONResponse({
        "validation": v.to_dict(),
        "output_tokens": gen.output_tokens,
        "verdict": verdict.to_dict() if verdict else None,
        "judge_error": judge_error,
        "metrics": [{"key": m.key, "name": m.name, "weight": m.weight, "description": m.description}
                    for m in all_metrics()],
        "notice": NOTICE,
    })
