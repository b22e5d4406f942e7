"""RequestGuard, the outermost pure ASGI layer: the body limit and timeout, structured access logs, the last resort.

Body limit: a declared Content-Length over the limit, or a streamed (chunked) body once it passes it, raises
BodyTooLarge where the body is read, which the error handlers answer as 413 with the error body.
Body timeout: a body still incomplete `body_timeout_s` after the headers (shorter than its Content-Length, or sent a
byte at a time) raises BodyTimeout where it is read: 408 and the connection closed. A client that goes away before
its body is complete is logged as status 499 (nginx's "client closed request") in one line, with no traceback.

Access log: one JSON line per request on the `amr_grpo.service.access` logger: method, path (no query string),
status, latency, key id (a hash prefix, never the key), request id, judge error kind. Never a header
value or any of the body (no case text). An unhandled exception becomes a 500 error body with no traceback.
Try it: amr-grpo serve --no-auth, then curl http://127.0.0.1:8000/healthz and watch stderr.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import sys
import time
import traceback

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ACCESS_LOGGER = "amr_grpo.service.access"
ERROR_LOGGER = "amr_grpo.service.error"
access_log = logging.getLogger(ACCESS_LOGGER)
error_log = logging.getLogger(ERROR_LOGGER)

_ID_PREFIX = os.urandom(4).hex()  # request ids: this process's random prefix + a counter (no syscall per request)
_ids = itertools.count()
_INTERNAL_ERROR = json.dumps(
    {"error": {"code": "internal_error", "message": "internal error; see the server log", "field": None}}
).encode()


class BodyTooLarge(HTTPException):
    """Raised from `receive` when a streamed body passes the limit; FastAPI passes HTTPExceptions on to the handler."""

    def __init__(self) -> None:
        super().__init__(413, "Content Too Large")


class BodyTimeout(HTTPException):
    """Raised from `receive` when the body is not complete by its deadline; the answer closes the connection (the
    rest of a late body must not be read as the next request)."""

    def __init__(self) -> None:
        super().__init__(408, "Request Timeout", headers={"Connection": "close"})


CLIENT_CLOSED = 499  # nginx's status for a client that closed the connection before the answer

# One receive() with a deadline, on the hot path: asyncio.timeout_at costs about 7 us, asyncio.wait_for 16 us and
# anyio.fail_after far more (measured on this project's 2-core machine); timeout_at is Python >= 3.11.
if sys.version_info >= (3, 11):

    async def _receive_by(receive: Receive, deadline: float) -> Message:
        async with asyncio.timeout_at(deadline):
            return await receive()

else:  # pragma: no cover - Python 3.10

    async def _receive_by(receive: Receive, deadline: float) -> Message:
        return await asyncio.wait_for(receive(), deadline - asyncio.get_running_loop().time())


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


class RequestGuard:
    """The outermost layer: body limit, request id, access log, last resort. One layer on purpose: each ASGI layer
    costs every request, and this is the service's hot path (bench/service_load.py)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, body_timeout_s: float = 30.0):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = f"{_ID_PREFIX}{next(_ids):08x}"
        state = scope.setdefault("state", {})
        limit, declared = self.max_body_bytes, _content_length(scope)
        status = received = 0
        body_done = gone = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_timeout_s

        async def limited_receive() -> Message:
            # raised where the body is read (after the API key check), so an oversized body is never read
            nonlocal received, body_done, gone
            if declared is not None and declared > limit:
                raise BodyTooLarge()
            if body_done:  # after the body: a wait for the disconnect, which has no deadline
                message = await receive()
            else:
                try:
                    message = await _receive_by(receive, deadline)
                except asyncio.TimeoutError:  # TimeoutError itself on Python >= 3.11
                    raise BodyTimeout() from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:  # a chunked body has no Content-Length: count it as it streams
                    raise BodyTooLarge()
                body_done = not message.get("more_body", False)
            elif message["type"] == "http.disconnect":
                gone = not body_done
            return message

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_status)
        except ClientDisconnect:
            status = CLIENT_CLOSED  # nobody to answer; the access line below says so, in one line
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
            if gone:  # left before the body was complete, whatever the route made of the partial body
                status = CLIENT_CLOSED
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


class JsonLineHandler(logging.StreamHandler):
    """Writes each message as it is, one a line: the service's messages are already JSON (no formatter pass)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(record.getMessage() + "\n")
            self.flush()
        except Exception:  # logging's contract: a failing handler reports, never raises into the request
            self.handleError(record)


def configure_logging(level: int = logging.INFO) -> None:
    """Service logs as JSON lines on stderr (called by `amr-grpo serve`, a process of its own; not on import).

    The records carry no caller file/line, thread or process names: the logging HOWTO's "Optimization" settings;
    with JsonLineHandler they take a third off the access log's cost per request (bench/service_load.py)."""
    logging._srcfile = None  # no sys._getframe() walk per record (documented in the HOWTO)
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = JsonLineHandler(sys.stderr)
    for name in (ACCESS_LOGGER, ERROR_LOGGER):
        log = logging.getLogger(name)
        log.handlers[:] = [handler]
        log.setLevel(level)
        log.propagate = False
