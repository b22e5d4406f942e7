"""The evaluation service under uvicorn on a free 127.0.0.1 port, in a background thread (real HTTP).

    with LiveService(Settings(api_keys="k1", cache_path=tmp / "c.sqlite")) as svc:
        httpx.post(svc.url + "/v1/evaluate", json=..., headers={"authorization": "Bearer k1"})

Used by tests/test_service*.py, tests/test_remote_reward.py, tests/test_fuzz_service.py (and the Edge parity test).
"""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

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
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="on",
            server_header=False,
            timeout_graceful_shutdown=2,
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
