"""Every error the service returns has one shape: {"error": {"code", "message", "field"}}.

Validation errors name the field (`items[0].model_output`), judge failures become 502/503/429 with
Retry-After (never a made-up score), and no response carries a traceback or a secret.
Try it: .venv/bin/pytest tests/service/test_service.py -k status
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from amr_grpo.judge.base import JudgeError
from amr_grpo.service.security import retry_after_header

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
}

# JudgeError.kind -> (status, code, message, default Retry-After seconds). Messages are fixed on purpose:
# a provider's error text can echo the case or part of a key.
JUDGE_ERRORS: dict[str, tuple[int, str, str, float | None]] = {
    "rate_limited": (429, "judge_rate_limited", "the judge provider is rate limiting; retry later", 5.0),
    "quota_exhausted": (429, "judge_quota_exhausted", "the judge provider's quota is exhausted; retry later", 60.0),
    "timeout": (503, "judge_timeout", "the judge did not answer in time; retry later", 5.0),
    "unavailable": (503, "judge_unavailable", "the judge is unavailable; retry later", 5.0),
    # no connection to the judge at all (refused, DNS, connect timeout): the engine tries it again after
    # unreachable_cooldown_s (30 s by default), so a client that retries sooner gets this answer again
    "unreachable": (503, "judge_unavailable", "the judge cannot be reached; retry later", 30.0),
    "budget_exhausted": (503, "judge_budget_exhausted", "the judge's call/token budget is spent", 60.0),
    "server_error": (502, "judge_server_error", "the judge provider returned an error", 2.0),
    "bad_answer": (502, "judge_bad_answer", "the judge returned an answer that does not fit the rubric", 2.0),
}
UNKNOWN_JUDGE_ERROR = (502, "judge_error", "the judge could not score this request", 2.0)


class ApiError(Exception):
    """An error raised by our own handlers, rendered as the error body."""

    def __init__(
        self, status: int, code: str, message: str, field: str | None = None, headers: dict[str, str] | None = None
    ):
        super().__init__(message)
        self.status, self.code, self.message, self.field, self.headers = status, code, message, field, headers


def error_response(
    status: int, code: str, message: str, field: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "field": field}}, status, headers=headers)


def judge_error_body(exc: JudgeError) -> tuple[int, dict[str, Any], float | None]:
    """(status, error body, retry-after seconds or None) for a judge failure."""
    status, code, message, default_wait = JUDGE_ERRORS.get(exc.kind, UNKNOWN_JUDGE_ERROR)
    wait = exc.retry_after if exc.retry_after is not None else default_wait
    return status, {"error": {"code": code, "message": message, "field": None}}, wait


def judge_error_response(exc: JudgeError) -> JSONResponse:
    status, body, wait = judge_error_body(exc)
    headers = {"Retry-After": retry_after_header(wait)} if wait is not None else None
    return JSONResponse(body, status, headers=headers)


# pydantic names the branches of a union in `loc` ("str", "dict[str,any]", "list[str]"): they are not fields
_BRANCH_TAGS = {"str", "int", "float", "bool", "list", "dict", "none", "tuple"}


def _is_branch_tag(part: object) -> bool:
    return isinstance(part, str) and (part in _BRANCH_TAGS or "[" in part)


def field_path(loc: tuple[Any, ...]) -> str:
    """('body', 'items', 0, 'model_output') -> 'items[0].model_output'; union-branch tags are dropped."""
    parts = loc[1:] if loc and loc[0] == "body" else loc
    out = ""
    for i, p in enumerate(parts):
        if isinstance(p, int):
            out += f"[{p}]"
        elif not (i > 0 and _is_branch_tag(p)):
            out += ("." if out else "") + str(p)
    return out or "body"


def validation_message(errors: list[dict[str, Any]], field: str) -> str:
    """One message for the first invalid field; the branches of a union are joined with 'or'."""
    first = errors[0]
    if first.get("type") == "json_invalid":
        detail = (first.get("ctx") or {}).get("error")
        return "the request body is not valid JSON" + (f" ({detail})" if detail else "")
    if field == "body":
        return "the request body must be a JSON object"
    msgs: list[str] = []
    for err in errors:
        if field_path(tuple(err.get("loc", ()))) == field:
            msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
            msgs.append(msg if not msgs else msg.removeprefix("Input should be "))
    return f"{field}: " + " or ".join(dict.fromkeys(msgs))


async def _on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = list(exc.errors()) or [{"loc": ("body",), "msg": "invalid request"}]
    first = errors[0]
    field = "body" if first.get("type") == "json_invalid" else field_path(tuple(first.get("loc", ("body",))))
    return error_response(422, "validation_error", validation_message(errors, field), field)


async def _on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
    if exc.status_code == 413:
        message = f"the request body is larger than {request.app.state.settings.max_body_bytes} bytes"
    elif exc.status_code == 408:
        message = f"the request body did not arrive within {request.app.state.settings.body_timeout_s:g} s"
    return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))


async def _on_api_error(request: Request, exc: ApiError) -> JSONResponse:
    return error_response(exc.status, exc.code, exc.message, exc.field, exc.headers)


async def _on_judge_error(request: Request, exc: JudgeError) -> JSONResponse:
    request.scope.setdefault("state", {})["judge_error"] = exc.kind
    return judge_error_response(exc)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(JudgeError, _on_judge_error)
