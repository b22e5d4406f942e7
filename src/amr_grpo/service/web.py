"""The web page. With a policy model (`amr-grpo serve --model PATH`): GET / serves a form (patient, diagnosis,
prescription); POST /v1/validate runs the policy (Validator) on the case, then the service's judge on its answer, and
the rules judge's guideline checks for the case; GET /v1/model says which model runs (name, parameter count).
Without a model, GET / is a landing page: what this server is, how to add a model, where the API docs are.
Research tool, not for clinical use.

Always included by service.app.create_app. The policy is loaded once, in this router's lifespan (a thread, so startup
is not blocked by torch); a model that does not load is reported on the page, not by a crashed server. The pages are
plain HTML/CSS/JS from ./static: nothing is fetched from the internet (the Content-Security-Policy says so).
Try it: amr-grpo serve --no-auth --model assets/tiny-policy  then open http://127.0.0.1:8000/
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, StringConstraints

from amr_grpo.errors import UserError
from amr_grpo.judge.base import EvalRequest, JudgeError
from amr_grpo.judge.contract import ErrorBody
from amr_grpo.judge.rules.show import checklist_results
from amr_grpo.metrics import METRIC_KEYS, all_metrics, rubric_version
from amr_grpo.records import Case, Verdict
from amr_grpo.service.body import parse
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


def describe_model(path: Path, model: Any) -> dict[str, Any]:
    """What the page says it runs: the model directory's name, its parameter count, the base of a LoRA adapter."""
    peft = getattr(model, "peft_config", None) or {}
    base = next(iter(peft.values())).base_model_name_or_path if peft else None
    return {"name": path.resolve().name or str(path), "path": str(path), "base_model": base,
            "parameters": sum(p.numel() for p in model.parameters())}


def _load(path: Path) -> tuple[Any, dict[str, Any]]:
    from amr_grpo.evaluation.validate import Validator

    validator = Validator.from_pretrained(path)
    return validator, describe_model(path, validator.generator.model)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    """Load the policy named by settings.model_path once (none: the landing page); keep the error if it fails."""
    from amr_grpo.judge.rules import RulesJudge

    path = app.state.settings.model_path
    validator, model, error = None, None, None
    if path is not None:
        try:
            validator, model = await anyio.to_thread.run_sync(_load, path)
            log.info("web page: policy %s loaded", path)
        except UserError as e:
            error = str(e)
            log.error("web page: %s", error)
    yield {"validator": validator, "model_info": model, "validator_error": error,
           "rules_judge": RulesJudge() if path is not None else None}


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
async def page(request: Request) -> HTMLResponse:
    """The validation form with a model, else the landing page (how to add one, where the API docs are)."""
    with_model = request.app.state.settings.model_path is not None
    return HTMLResponse(_static("index.html" if with_model else "landing.html"), headers=HEADERS)


@router.get("/v1/model", tags=["web"], summary="The policy model the web page runs")
async def model_info(request: Request) -> dict[str, Any]:
    """`{loaded, name, path, base_model, parameters, error}`; all null but `loaded: false` without --model."""
    info = request.state.model_info or {"name": None, "path": None, "base_model": None, "parameters": None}
    return {"loaded": request.state.validator is not None, **info, "error": request.state.validator_error}


@router.get("/static/{name}", include_in_schema=False)
async def static(name: str) -> Response:
    if name not in STATIC:
        raise ApiError(404, "not_found", f"no static file {name!r}")
    return Response(_static(name), media_type=STATIC[name], headers=HEADERS)


async def guideline_checks(request: Request, case: Case, output: str, verdict: Verdict | None) -> dict[str, Any]:
    """The page's "guideline checks for this case" panel, one item per check: today the rules judge's verdict on the
    validation, metric by metric (reused when the service's judge is the rules judge). The panel renders whatever
    items come here (app.js renderChecks); the case's checklist items follow, each stated or not by this validation
    (a pitfall avoided or committed)."""
    if verdict is None or verdict.backend != "rules":
        verdict = await request.state.rules_judge.score(EvalRequest(case.to_dict(), output, None, METRIC_KEYS))
    names = {m.key: m.name for m in all_metrics()}
    items = [{"key": k, "label": names[k], "result": f"{s.score}/5", "detail": s.justification}
             for k, s in verdict.scores.items()]
    items += await anyio.to_thread.run_sync(checklist_results, case.to_dict(), output)
    return {"source": f"rules judge, {rubric_version()}", "items": items}


@router.post("/v1/validate", dependencies=[JsonBody], tags=["web"],
             summary="Validate one prescription with the policy, then score the validation",
             responses={401: {"model": ErrorBody, "description": "Missing or invalid API key"},
                        415: {"model": ErrorBody, "description": "Body is not application/json"},
                        422: {"model": ErrorBody, "description": "Invalid case; `field` names the offending field"},
                        429: {"model": ErrorBody, "description": "Rate limited; see Retry-After"},
                        503: {"model": ErrorBody, "description": "The policy model is not loaded or failed"}},
             openapi_extra={"requestBody": {"required": True,
                                            "content": {"application/json": {"schema": WebCase.model_json_schema()}}}})
async def validate(request: Request, caller: Caller, engine: Engine, limiter: Limiter) -> JSONResponse:
    """`{patient, diagnosis, prescription, setting?}` -> `{validation, output_tokens, verdict, judge_error, checks,
    metrics, model, notice}`. No model, or the policy failing, is 503 `model_unavailable` / `model_failed`; the judge
    failing still returns the validation, with `verdict: null` and the judge's error. Research tool, not for clinical
    use."""
    body = await parse(request, WebCase)
    charge(limiter, caller)
    validator = request.state.validator
    if validator is None:
        reason = request.state.validator_error or "this server was started without one (amr-grpo serve --model PATH)"
        raise ApiError(503, "model_unavailable", f"the policy model is not loaded: {reason}")
    from amr_grpo.output_format import parse_validation
    from amr_grpo.evaluation.validate import to_case

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
        "checks": await guideline_checks(request, case, gen.text, verdict),
        "metrics": [{"key": m.key, "name": m.name, "weight": m.weight, "description": m.description}
                    for m in all_metrics()],
        "model": request.state.model_info,
        "notice": NOTICE,
    })
