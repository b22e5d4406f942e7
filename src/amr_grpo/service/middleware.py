"""Pure ASGI middleware: the request body limit, structured access logs, and the last-resort error guard.

BodyLimitMiddleware answers 413 (the error body) for a declared Content-Length over the limit before reading
anything, and stops a streamed (chunked) body as soon as it passes the limit.

One JSON line per request on the `amr_grpo.service.access` logger: method, path (no query string),
status, latency, key id (a hash prefix, never the key), request id, judge error kind. Never a header
value or any of the body (no case text). An unhandled exception becomes a 500 error body with no traceback.
Try it: amr-grpo serve --no-auth, then curl http://127.0.0.1:8000/healthz and watch stderr.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
import uuid

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ACCESS_LOGGER = "amr_grpo.service.access"
ERROR_LOGGER = "amr_grpo.service.error"
access_log = logging.getLogger(ACCESS_LOGGER)
error_log = logging.getLogger(ERROR_LOGGER)

_INTERNAL_ERROR = json.dumps(
    {"error": {"code": "internal_error", "message": "internal error; see the server log", "field": None}}
).encode()


class BodyTooLarge(HTTPException):
    """Raised from `receive` when a streamed body passes the limit; FastAPI passes HTTPExceptions on to the handler."""

    def __init__(self) -> None:
        super().__init__(413, "Content Too Large")


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            message = f"the request body is larger than {self.max_bytes} bytes"
            body = {"error": {"code": "payload_too_large", "message": message, "field": None}}
            await JSONResponse(body, 413, headers={"connection": "close"})(scope, receive, send)
            return
        total = 0

        async def limited_receive() -> Message:
            nonlocal total
            message = await receive()
            if message["type"] == "http.request":
                total += len(message.get("body", b""))
                if total > self.max_bytes:
                    raise BodyTooLarge()
            return message

        await self.app(scope, limited_receive, send)


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = uuid.uuid4().hex[:16]
        state = scope.setdefault("state", {})
        status = 0

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        except Exception as exc:  # the last resort: log where it failed (no message: it may hold case text)
            frames = "".join(traceback.format_tb(exc.__traceback__))
            error_log.error(
                json.dumps({"event": "unhandled", "request_id": request_id, "type": type(exc).__name__}) + "\n" + frames
            )
            if status == 0:
                status = 500
                await send(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(_INTERNAL_ERROR)).encode()),
                            (b"x-request-id", request_id.encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": _INTERNAL_ERROR})
        finally:
            if access_log.isEnabledFor(logging.INFO):
                record = {
                    "event": "access",
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "latency_ms": round((time.perf_counter() - start) * 1000, 2),
                    "key_id": state.get("key_id"),
                    "request_id": request_id,
                }
                if state.get("judge_error"):
                    record["judge_error"] = state["judge_error"]
                access_log.info(json.dumps(record))


def configure_logging(level: int = logging.INFO) -> None:
    """Service logs as plain JSON lines on stderr (called by `amr-grpo serve`, not on import)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    for name in (ACCESS_LOGGER, ERROR_LOGGER):
        log = logging.getLogger(name)
        log.handlers[:] = [handler]
        log.setLevel(level)
        log.propagate = False
