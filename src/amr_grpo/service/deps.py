"""Request dependencies of the evaluation routes, as Annotated aliases: Caller (API key), Engine, Limiter, JsonBody.

Try it: .venv/bin/pytest tests/test_service.py -k "auth or content_type"
"""

from __future__ import annotations

from email.message import Message
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from amr_grpo.service.errors import ApiError
from amr_grpo.service.security import KeyRing, RateLimiter, retry_after_header
from amr_grpo.service.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
_x_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="X-API-Key: <API key>")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_engine(request: Request) -> Any:
    return request.state.engine  # built once in the app's lifespan


def get_limiter(request: Request) -> RateLimiter:
    return request.state.limiter


async def authenticate(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    x_api_key: Annotated[str | None, Depends(_x_api_key)],
) -> str:
    """The caller's id for rate limiting and logs: the key id, or the client host when auth is off."""
    settings: Settings = request.app.state.settings
    if not settings.auth:
        return "host:" + (request.client.host if request.client else "unknown")
    candidate = bearer.credentials if bearer else x_api_key
    if not candidate:
        raise ApiError(
            401,
            "unauthorized",
            "missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
            headers=_CHALLENGE,
        )
    keyring: KeyRing = request.app.state.keyring
    kid = keyring.identify(candidate)
    if kid is None:
        raise ApiError(401, "unauthorized", "invalid API key", headers=_CHALLENGE)
    request.state.key_id = kid
    return kid


def require_json(request: Request) -> None:
    """415 unless the body is declared JSON (application/json or application/*+json)."""
    value = request.headers.get("content-type")
    if value:
        m = Message()
        m["content-type"] = value
        if m.get_content_maintype() == "application" and (
            m.get_content_subtype() == "json" or m.get_content_subtype().endswith("+json")
        ):
            return
    raise ApiError(
        415,
        "unsupported_media_type",
        f"send the body as application/json (got {value or 'no content-type'!r})",
        field="content-type",
    )


def charge(limiter: RateLimiter, caller: str, cost: int = 1) -> None:
    """429 with Retry-After when the caller is over its rate."""
    wait = limiter.take(caller, cost)
    if wait > 0:
        raise ApiError(
            429,
            "rate_limited",
            f"rate limit exceeded; retry in {wait:.1f} s",
            headers={"Retry-After": retry_after_header(wait)},
        )


Caller = Annotated[str, Depends(authenticate)]
Engine = Annotated[Any, Depends(get_engine)]
Limiter = Annotated[RateLimiter, Depends(get_limiter)]
AppSettings = Annotated[Settings, Depends(get_settings)]
JsonBody = Depends(require_json)
