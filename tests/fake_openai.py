"""A fake OpenAI-compatible chat-completions server for tests and benchmarks (real HTTP on 127.0.0.1).

`POST /v1/chat/completions` and `/openai/v1/chat/completions` (Groq's path), `GET /v1/models`, on a free loopback port,
from a background thread; `usage` = characters // 4 (at least 1). The default answer is a valid judge JSON
({"injection_suspected", "critical_error", "scores": {key: {"evidence", "rationale", "score": default_score}}}) for the
keys of the last `Requested metrics: k1, k2` line (else every metric key the messages mention); with a
`Completion ids: c1, c2` line (group mode), {"results": [{"id": "c1", ...}, ...]}. Those lines are found in linear
time (thousands of punctuation-only lines, as a deeply nested case renders to, once made a regex spin for minutes).
    with FakeOpenAI(latency=0.2, rate_429=0.1) as fake:   # then AsyncOpenAI(base_url=fake.base_url, api_key="x")
        fake.script(contains="PATIENT-42", answer={"scores": {}}, times=1)   # a canned answer, once
Knobs (keywords or attributes, changeable while running; fractions draw from an RNG seeded by `seed`):
    latency         seconds before a 200 or 500 (429s answer at once, like a provider's limiter)
    rate_429        fraction answered 429 with `retry-after: <retry_after>` (default 0.05 s; and retry-after-ms)
    rate_500, rate_malformed (content not JSON), rate_schema (JSON that breaks the judge schema), rate_hang (no
                    answer for `hang_s`, default 30 s, or until the server closes)
    quota_exhausted every request gets Groq's daily-quota 429 (retry-after `quota_retry_after`, default 3600 s)
    default_score   the score of every metric in default answers (default 4)
    api_key         when set, requests without `Authorization: Bearer <api_key>` get 401
    echo_auth       a status (401, 400, 429): every completion gets it, quoting the Authorization header (a proxy)
`.script(contains, answer=None, status=200, headers=None, times=None, latency=None, hang=False)`: a canned answer for
requests whose message text contains `contains` (the first with uses left wins; scripts beat the knobs). `answer`:
the content (str), a dict (sent as JSON), a callable `(body) -> str | dict`, or, with status >= 400, the error body.
`.requests` (path, lower-case headers, body, prompt, status, time), `.statuses`, `.reset()`. As a process:
`python tests/fake_openai.py --latency 0.2` prints its URL; GET /_fake/stats counts; FakeOpenAIProcess wraps it.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import accumulate
from pathlib import Path
from typing import Any
from urllib.request import urlopen

METRIC_KEYS = ("clinical_accuracy", "guideline_adherence", "reasoning_completeness", "safety_awareness",
               "decision_appropriateness", "reference_accuracy")
_LABELLED = re.compile(r"\W*([a-z ]+?)\W*:\s*(.+)", re.I)  # matched one line at a time: linear
_COMPLETION_PATHS = ("/v1/chat/completions", "/openai/v1/chat/completions", "/chat/completions")
QUOTA_MESSAGE = (
    "Rate limit reached for model `llama-3.3-70b-versatile` in organization `org_fake` service tier `on_demand` "
    "on requests per day (RPD): Limit 1000, Used 1000, Requested 1. Please try again in 59m59.9s."
)


@dataclass
class Script:
    contains: str
    answer: Any = None
    status: int = 200
    headers: dict[str, str] | None = None
    times: int | None = None
    latency: float | None = None
    hang: bool = False
    used: int = 0


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    prompt: str
    status: int = 0
    time: float = field(default_factory=time.monotonic)


def prompt_text(body: dict[str, Any]) -> str:
    """All message contents of a chat-completions body, joined by newlines (what `contains` matches)."""
    parts = []
    for m in body.get("messages") or []:
        c = m.get("content") if isinstance(m, dict) else None
        if isinstance(c, list):  # content parts
            c = "\n".join(str(p.get("text", "")) for p in c if isinstance(p, dict))
        if isinstance(c, str):
            parts.append(c)
    return "\n".join(parts)


def last_labelled(text: str, label: str) -> str | None:
    """The value of the last line `<punctuation> label <punctuation>: value` (case-insensitive), else None."""
    value = None
    for line in text.splitlines():
        if label in line.lower():
            m = _LABELLED.match(line)
            if m and m.group(1).strip().lower() == label:
                value = m.group(2)
    return value


def requested_metrics(text: str) -> list[str]:
    found = last_labelled(text, "requested metrics")
    if found is not None:
        keys = [k.strip(" `*'\".[]") for k in found.split(",")]
        return [k for k in keys if k]
    return [k for k in METRIC_KEYS if k in text]


def judge_answer(text: str, score: int = 4) -> dict[str, Any]:
    """The default answer for a prompt: a valid judge JSON (group form when the prompt lists completion ids)."""
    keys = requested_metrics(text)

    def one() -> dict[str, Any]:
        scores = {k: {"evidence": f"fake evidence for {k}", "rationale": f"fake rationale for {k}", "score": score}
                  for k in keys}
        return {"injection_suspected": False, "critical_error": False, "scores": scores}

    ids = last_labelled(text, "completion ids")
    if ids:
        return {"results": [{"id": i.strip(" `*'\"."), **one()} for i in ids.split(",") if i.strip()]}
    return one()


class FakeOpenAI:
    """The server; see the module docstring. `base_url` ends in /v1, `groq_base_url` in /openai/v1."""

    def __init__(self, *, latency: float = 0.0, rate_429: float = 0.0, retry_after: float = 0.05,
                 rate_500: float = 0.0, rate_malformed: float = 0.0, rate_schema: float = 0.0, rate_hang: float = 0.0,
                 hang_s: float = 30.0, quota_exhausted: bool = False, quota_retry_after: float = 3600.0,
                 default_score: int = 4, api_key: str | None = None, echo_auth: int = 0, seed: int = 0):
        self.latency, self.rate_429, self.retry_after = latency, rate_429, retry_after
        self.rate_500, self.rate_malformed, self.rate_schema = rate_500, rate_malformed, rate_schema
        self.rate_hang, self.hang_s = rate_hang, hang_s
        self.quota_exhausted, self.quota_retry_after = quota_exhausted, quota_retry_after
        self.default_score, self.api_key, self.echo_auth = default_score, api_key, echo_auth
        self.requests: list[Recorded] = []
        self.scripts: list[Script] = []
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------------------
    def start(self) -> FakeOpenAI:
        fake = self

        class Handler(_Handler):
            server_fake = fake

        class Server(ThreadingHTTPServer):
            request_queue_size = 1024  # the default 5 refuses connections under a benchmark's concurrency
            daemon_threads = True
            block_on_close = False

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()  # releases hanging handlers
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def groq_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/openai/v1"

    # -- scripting and records ------------------------------------------------------------------------------
    def script(self, contains: str, answer: Any = None, status: int = 200, headers: dict[str, str] | None = None,
               times: int | None = None, latency: float | None = None, hang: bool = False) -> Script:
        s = Script(contains, answer, status, headers, times, latency, hang)
        with self._lock:
            self.scripts.append(s)
        return s

    @property
    def statuses(self) -> list[int]:
        return [r.status for r in self.requests]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()

    # -- answering ------------------------------------------------------------------------------------------
    def _pick_script(self, text: str) -> Script | None:
        with self._lock:
            for s in self.scripts:
                if s.contains in text and (s.times is None or s.used < s.times):
                    s.used += 1
                    return s
        return None

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self._closing.wait(seconds)

    def respond(self, rec: Recorded) -> tuple[int, dict[str, str], dict[str, Any]]:
        """Decide the answer to one recorded request: (status, headers, JSON body)."""
        if self.api_key is not None and rec.headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, {}, _error("Invalid API Key", "invalid_request_error", "invalid_api_key")
        if rec.path.rstrip("/") not in _COMPLETION_PATHS:
            return 404, {}, _error(f"Unknown path {rec.path}", "invalid_request_error", "unknown_url")
        if rec.body.get("stream"):
            return 400, {}, _error("stream is not supported by the fake server", "invalid_request_error", None)
        if not isinstance(rec.body.get("messages"), list):
            return 400, {}, _error("'messages' is required", "invalid_request_error", None)
        if self.echo_auth:  # a proxy that quotes what it received
            said = {401: "Invalid API Key", 429: QUOTA_MESSAGE}.get(self.echo_auth, "Bad request")
            auth = rec.headers.get("authorization", "")
            body = _error(f"received Authorization: {auth}; {said}", "proxy_error", None)
            body["error"]["received_headers"] = {"authorization": auth}
            return self.echo_auth, {}, body
        s = self._pick_script(rec.prompt)
        if s is not None:
            return self._scripted(s, rec)
        if self.quota_exhausted:
            return 429, _retry_headers(self.quota_retry_after), _error(QUOTA_MESSAGE, "requests", "rate_limit_exceeded")
        with self._lock:
            u = self._rng.random()
        rates = [self.rate_429, self.rate_500, self.rate_malformed, self.rate_schema, self.rate_hang]
        bucket = next((i for i, e in enumerate(accumulate(rates)) if rates[i] > 0 and u < e), -1)
        if bucket == 0:
            msg = "Rate limit reached for model on requests per minute (RPM): Limit 30, Used 30, Requested 1."
            return 429, _retry_headers(self.retry_after), _error(msg, "requests", "rate_limit_exceeded")
        if bucket == 4:
            self._wait(self.hang_s)
            return 504, {}, _error("hung", "server_error", None)
        self._wait(self.latency)
        if bucket == 1:
            return 500, {}, _error("Internal server error", "internal_server_error", None)
        if bucket == 2:
            return 200, {}, _completion(rec, '{"scores": {"clinical_accuracy": {"score": 4, "evid')
        answer = judge_answer(rec.prompt, self.default_score)
        if bucket == 3:
            answer = _violate(answer)
        return 200, {}, _completion(rec, json.dumps(answer))

    def _scripted(self, s: Script, rec: Recorded) -> tuple[int, dict[str, str], dict[str, Any]]:
        if s.hang:
            self._wait(self.hang_s)
            return 504, {}, _error("hung", "server_error", None)
        self._wait(self.latency if s.latency is None else s.latency)
        answer = s.answer(rec.body) if callable(s.answer) else s.answer
        if s.status >= 400:
            body = answer if isinstance(answer, dict) else _error(str(answer or f"HTTP {s.status}"), "fake", None)
            return s.status, dict(s.headers or {}), body
        if answer is None:
            answer = judge_answer(rec.prompt, self.default_score)
        content = answer if isinstance(answer, str) else json.dumps(answer)
        return s.status, dict(s.headers or {}), _completion(rec, content)


def _violate(answer: dict[str, Any]) -> dict[str, Any]:
    """Schema-violating variant of a valid answer: the first metric scored 7, the last metric dropped."""
    target = answer["results"][0] if "results" in answer and answer["results"] else answer
    scores = target.get("scores") or {}
    if not scores:
        target["scores"] = {"made_up_metric": {"evidence": "", "rationale": "", "score": 9}}
        return answer
    keys = list(scores)
    scores[keys[0]]["score"] = 7
    if len(keys) > 1:
        scores.pop(keys[-1])
    return answer


def _retry_headers(seconds: float) -> dict[str, str]:
    return {"retry-after": f"{seconds:g}", "retry-after-ms": str(int(seconds * 1000))}


def _error(message: str, type_: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "code": code}}


def _completion(rec: Recorded, content: str) -> dict[str, Any]:
    pt, ct = max(1, len(rec.prompt) // 4), max(1, len(content) // 4)
    return {
        "id": f"chatcmpl-fake-{time.monotonic_ns()}", "object": "chat.completion", "created": int(time.time()),
        "model": str(rec.body.get("model", "fake")),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct},
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real providers
    server_fake: FakeOpenAI

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read .requests instead
        return None

    def _send(self, status: int, headers: dict[str, str], body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        fake, path = self.server_fake, self.path.rstrip("/")
        with fake._lock:
            stats = {"requests": len(fake.requests), "statuses": dict(Counter(fake.statuses))}
        refused = fake.api_key is not None and self.headers.get("authorization") != f"Bearer {fake.api_key}"
        if path.startswith("/_fake/stats"):
            self._send(200, {}, stats)
        elif path.endswith("/models"):  # what a probe asks: no tokens spent
            models = {"object": "list", "data": [{"id": "fake-judge", "object": "model"}]}
            self._send(*((401, {}, _error("Invalid API Key", "auth", None)) if refused else (200, {}, models)))
        else:
            self._send(404, {}, _error(f"Unknown path {self.path}", "invalid_request_error", "unknown_url"))

    def do_POST(self) -> None:
        fake = self.server_fake
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        try:
            body = json.loads(raw or b"{}")
        except (json.JSONDecodeError, RecursionError):  # not JSON, or nested deeper than the parser goes
            body = {}
        body = body if isinstance(body, dict) else {}
        rec = Recorded(self.path, {k.lower(): v for k, v in self.headers.items()}, body, prompt_text(body))
        with fake._lock:
            fake.requests.append(rec)
        rec.status, headers, answer = fake.respond(rec)
        try:
            self._send(rec.status, headers, answer)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout): nothing to answer
            self.close_connection = True


class FakeOpenAIProcess:
    """FakeOpenAI in a child process (`python tests/fake_openai.py ...`); `stats()` reads /_fake/stats."""

    def __init__(self, **knobs: Any):
        self.args = [sys.executable, str(Path(__file__).resolve())]
        for k, v in knobs.items():  # True -> a bare flag; False and None -> left out
            flag = f"--{k.replace('_', '-')}"
            self.args += [flag] if v is True else [] if v is False or v is None else [flag, str(v)]
        self.proc: subprocess.Popen[str] | None = None
        self.base_url = ""

    def __enter__(self) -> FakeOpenAIProcess:
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.base_url = self.proc.stdout.readline().strip()
        if not self.base_url.startswith("http"):
            self.proc.kill()
            raise RuntimeError(f"fake server did not start: {self.base_url!r}")
        return self

    def stats(self) -> dict[str, Any]:
        root = self.base_url.rsplit("/v1", 1)[0]
        with urlopen(f"{root}/_fake/stats", timeout=10) as r:
            return json.loads(r.read())

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def _main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Fake OpenAI-compatible judge server (tests, benchmarks).")
    for knob in ("latency", "rate-429", "retry-after", "rate-500", "rate-malformed", "rate-schema", "rate-hang"):
        p.add_argument(f"--{knob}", type=float, default=0.05 if knob == "retry-after" else 0.0)
    p.add_argument("--quota-exhausted", action="store_true")
    for knob, default in (("default-score", 4), ("echo-auth", 0), ("seed", 0)):
        p.add_argument(f"--{knob}", type=int, default=default)
    p.add_argument("--api-key", default=None)
    fake = FakeOpenAI(**vars(p.parse_args(argv))).start()
    print(fake.base_url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.close()


if __name__ == "__main__":
    _main()
