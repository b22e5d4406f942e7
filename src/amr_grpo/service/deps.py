"""The checks before an evaluation: `accept(request)` -> Call (API key 401, JSON content type 415; the caller,
engine, limiter and settings), which the evaluation routes call directly (routes.py says why). The same pieces as
Annotated dependency aliases for routes off the hot path (the web page, /healthz): Caller, Engine, Limiter,
AppSettings, JsonBody. All `async def`: FastAPI runs a plain `def` dependency in a worker thread.

Try it: .venv/bin/pytest tests/service/test_service.py -k "auth or content_type"
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from amr_grpo.service.errors import ApiError
from amr_grpo.service.security import KeyRing, RateLimiter, retry_after_header
from amr_grpo.service.settings import Settings

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_engine(request: Request) -> Any:
    return request.state.engine  # built once in the app's lifespan


async def get_limiter(request: Request) -> RateLimiter:
    return request.state.limiter


def _presented_key(request: Request) -> str | None:
    """`Authorization: Bearer <key>` or `X-API-Key: <key>` (app.py documents both as OpenAPI security schemes)."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return request.headers.get("x-api-key") or None


async def authenticate(request: Request) -> str:
    """The caller's id for rate limiting and logs: the key id, or the client host when auth is off."""
    settings: Settings = request.app.state.settings
    if not settings.auth:
        return "host:" + (request.client.host if request.client else "unknown")
    candidate = _presented_key(request)
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


def check_json(request: Request) -> None:
    """415 unless the body is declared JSON (application/json or application/*+json)."""
    value = request.headers.get("content-type")
    media = (value or "").split(";", 1)[0].strip().lower()
    if media == "application/json" or (media.startswith("application/") and media.endswith("+json")):
        return
    raise ApiError(
        415,
        "unsupported_media_type",
        f"send the body as application/json (got {value or 'no content-type'!r})",
        field="content-type",
    )


async def require_json(request: Request) -> None:
    check_json(request)


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


@dataclass(frozen=True)
class Call:
    """An evaluation call that passed the checks: who calls, and what serves it."""

    caller: str
    engine: Any
    limiter: RateLimiter
    settings: Settings

    def charge(self, cost: int = 1) -> None:
        charge(self.limiter, self.caller, cost)


async def accept(request: Request) -> Call:
    """The API key (401), then the JSON content type (415): the checks of every evaluation route."""
    caller = await authenticate(request)
    check_json(request)
    return Call(caller, request.state.engine, request.state.limiter, request.app.state.settings)


Caller = Annotated[str, Depends(authenticate)]
Engine = Annotated[Any, Depends(get_engine)]
Limiter = Annotated[RateLimiter, Depends(get_limiter)]
AppSettings = Annotated[Settings, Depends(get_settings)]
JsonBody = Depends(require_json)
