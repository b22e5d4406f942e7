"""The evaluation service under uvicorn on a free 127.0.0.1 port, in a background thread (real HTTP).

    with LiveService(Settings(api_keys="k1", cache_path=tmp / "c.sqlite")) as svc:
        httpx.post(svc.url + "/v1/evaluate", json=..., headers={"authorization": "Bearer k1"})

Used by tests/service/test_service*.py, tests/judge/test_remote_reward.py, tests/service/test_fuzz_service.py (and the
Edge parity test), with the contract checks `check_error` / `check_verdict` and `capture_logs()` (every log line the
servers write).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn

from amr_grpo.judge.contract import EvaluationResponseModel
from amr_grpo.metrics import weighted_reward
from amr_grpo.service.app import create_app
from amr_grpo.service.settings import Settings


class LiveService:
    def __init__(self, settings: Settings, startup_timeout: float = 30.0):
        self.settings = settings
        self.startup_timeout = startup_timeout
        self.app = create_app(settings)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveService:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(  # the uvicorn settings `amr-grpo serve` uses (limits, keep-alive)
            self.app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2, **self.settings.uvicorn_options()
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self.startup_timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the service failed to start (see the log above)")
            if time.monotonic() > deadline:
                raise TimeoutError("the service did not start in time")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)


class LogLines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage() + ("\n" + record.exc_text if record.exc_text else ""))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@contextmanager
def capture_logs() -> Iterator[LogLines]:
    """Every line logged meanwhile: the root logger's, and ours at INFO (also when `serve` stopped propagation)."""
    handler = LogLines()
    ours = ("amr_grpo", "amr_grpo.service.access", "amr_grpo.service.error")
    saved = {n: logging.getLogger(n).level for n in ours}
    logging.getLogger().addHandler(handler)
    for n in ours:
        logging.getLogger(n).setLevel(logging.INFO)
        if n != "amr_grpo" and not logging.getLogger(n).propagate:
            logging.getLogger(n).addHandler(handler)
    try:
        yield handler
    finally:
        logging.getLogger().removeHandler(handler)
        for n in ours:
            logging.getLogger(n).removeHandler(handler)
            logging.getLogger(n).setLevel(saved[n])


def check_error(r: httpx.Response, status: int, code: str, field: str | None = None) -> dict:
    """The error contract: the status, {"error": {"code", "message", "field"}}, no traceback."""
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}, body
    assert body["error"]["code"] == code, body
    assert body["error"]["field"] == field, body
    assert body["error"]["message"] and "Traceback" not in r.text
    return body["error"]


def check_verdict(data: dict, metrics: tuple[str, ...] | list[str]) -> None:
    """The response contract (amr_grpo.judge.contract), and the weighted reward recomputed from the scores."""
    assert set(data) == {"scores", "weighted_reward", "metrics_used", "judge", "cached", "flags"}
    EvaluationResponseModel.model_validate(data)  # types and ranges (score 1-5, reward 0.2-1.0)
    assert data["metrics_used"] == list(metrics)
    assert list(data["scores"]) == list(metrics)
    scores = {k: v["score"] for k, v in data["scores"].items()}
    assert data["weighted_reward"] == pytest.approx(weighted_reward(scores, list(metrics)))
    assert set(data["judge"]) == {"backend", "model", "rubric_version"}
    assert set(data["flags"]) == {"injection_suspected", "critical_error", "case_unread"}
