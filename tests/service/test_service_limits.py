"""The evaluation service against slow, vanishing and hostile clients, over raw sockets on loopback (issue 16).

A body shorter than its Content-Length or sent a byte at a time ends in 408 and a closed connection after
body_timeout_s; a client that leaves mid-body is one access line with status 499 and no traceback; uvicorn's
limit_concurrency comes from the settings; JSON nested deeper than 64 levels, NaN, Infinity, numbers beyond a double
and lone surrogates are 422 naming the body; a non-ASCII API key is refused at start-up.
Run: .venv/bin/pytest tests/service/test_service_limits.py
"""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest
from live_service import LiveService, capture_logs, check_error
from pydantic import ValidationError

from amr_grpo.service.app import create_app
from amr_grpo.service.body import MAX_JSON_DEPTH
from amr_grpo.service.settings import Settings

GOOD = {"patient_case": "F 30y, cystitis; nitrofurantoin 100 mg BD x 5 days", "model_output": "Decision: Approve"}
TIMEOUT_S = 1.0  # the body timeout the service under test runs with


@pytest.fixture(scope="module")
def logs():
    with capture_logs() as lines:
        yield lines


@pytest.fixture(scope="module")
def svc(logs):
    with LiveService(Settings(auth=False, rate_limit_per_minute=0, body_timeout_s=TIMEOUT_S)) as s:
        yield s


def head(length: int, path: str = "/v1/evaluate") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (the socket's timeout fails the test)."""
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
    return out


def access_lines(logs, start: int, n: int) -> list[dict]:
    deadline = time.monotonic() + 5  # the line is written just after the answer
    while True:
        records = [json.loads(x) for x in logs.lines[start:] if x.startswith('{"event": "access"')]
        if len(records) >= n or time.monotonic() > deadline:
            return records
        time.sleep(0.02)


# --- slow and vanishing clients ---------------------------------------------------------------------------------


def test_a_body_shorter_than_its_content_length_is_408_and_closed(svc, logs):
    start = len(logs.lines)
    with socket.create_connection(("127.0.0.1", svc.port), timeout=10 * TIMEOUT_S) as s:
        s.sendall(head(100) + b'{"patient_case": "x"')  # 20 of the 100 bytes announced, then nothing
        answer = read_all(s)  # before the fix: no answer at all (the socket timeout fires)
    status, _, rest = answer.partition(b"\r\n")
    assert status == b"HTTP/1.1 408 Request Timeout", answer[:200]
    assert b"connection: close" in rest.lower()
    body = json.loads(rest.split(b"\r\n\r\n", 1)[1])
    assert body == {
        "error": {"code": "request_timeout", "message": f"the request body did not arrive within {TIMEOUT_S:g} s",
                  "field": None}
    }
    assert [r["status"] for r in access_lines(logs, start, 1)] == [408]


def test_a_body_sent_a_byte_at_a_time_is_cut_at_the_deadline(svc):
    # one byte every 0.2 s never leaves the connection idle for long: the deadline counts from the headers, so
    # the 408 comes after about 1 s and 5 bytes, not after the 60 bytes announced (12 s)
    with socket.create_connection(("127.0.0.1", svc.port), timeout=10 * TIMEOUT_S) as s:
        s.sendall(head(60))
        sent = 0
        s.settimeout(0.2)
        answer = b""
        while sent < 60 and not answer:
            s.sendall(b" ")
            sent += 1
            try:
                answer = s.recv(65536)
            except TimeoutError:
                pass
        assert answer.startswith(b"HTTP/1.1 408"), answer[:100]
        assert sent < 30


def test_a_complete_body_on_a_keep_alive_connection_is_served(svc):
    # the deadline covers the body only: a second request on the same connection has its own
    body = json.dumps(GOOD).encode()
    with socket.create_connection(("127.0.0.1", svc.port), timeout=10) as s:
        for _ in range(2):
            s.sendall(head(len(body)) + body)
            answer = s.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
            time.sleep(TIMEOUT_S * 1.2)  # longer than the body timeout, shorter than keep-alive (5 s)


def test_a_client_that_leaves_mid_body_is_one_499_line(svc, logs):
    start = len(logs.lines)
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", svc.port), timeout=5) as s:
            s.sendall(head(1000) + b'{"patient_case": ')
            time.sleep(0.1)
    records = access_lines(logs, start, 5)
    lines = logs.lines[start:]
    # before the fix: status 500 and a 45-line traceback per client
    assert [r["status"] for r in records] == [499] * 5
    assert len(lines) == 5, lines
    assert "Traceback" not in "\n".join(lines)


def test_uvicorn_limits_come_from_the_settings():
    settings = Settings(auth=False, limit_concurrency=3, timeout_keep_alive=2)
    assert settings.uvicorn_options()["limit_concurrency"] == 3
    with LiveService(settings) as svc:
        body = json.dumps(GOOD).encode()
        # uvicorn counts open connections, the new one included: with 2 held open, a 3rd reaches the limit of 3
        held = [socket.create_connection(("127.0.0.1", svc.port), timeout=10) for _ in range(2)]
        try:
            for s in held:  # a served request: the connection is registered and stays open (keep-alive)
                s.sendall(head(len(body)) + body)
                assert s.recv(65536).startswith(b"HTTP/1.1 200")
            r = httpx.post(svc.url + "/v1/evaluate", json=GOOD, timeout=10)
            assert r.status_code == 503
        finally:
            for s in held:
                s.close()
        deadline = time.monotonic() + 5
        while (r := httpx.post(svc.url + "/v1/evaluate", json=GOOD, timeout=10)).status_code == 503:
            assert time.monotonic() < deadline, "closed connections were not released"
            time.sleep(0.05)
        assert r.status_code == 200


# --- bodies both services must refuse the same way --------------------------------------------------------------


def nested(depth: int) -> dict:
    """A valid request whose body nests `depth` levels: the body (1), patient_case (2), then lists down to `depth`."""
    value: object = "cystitis"
    for _ in range(depth - 2):
        value = [value]
    return {**GOOD, "patient_case": {"diagnosis": "cystitis", "notes": value}}


def post_raw(svc, raw: bytes) -> httpx.Response:
    return httpx.post(svc.url + "/v1/evaluate", content=raw, headers={"content-type": "application/json"}, timeout=30)


def test_depth_limit_boundary(svc):
    # 64 levels pass the check (the case reader ignores the odd 'notes'); 65 do not
    assert post_raw(svc, json.dumps(nested(MAX_JSON_DEPTH)).encode()).status_code == 200
    err = check_error(post_raw(svc, json.dumps(nested(MAX_JSON_DEPTH + 1)).encode()), 422, "validation_error", "body")
    assert err["message"] == "the request body nests objects and arrays deeper than 64 levels"


@pytest.mark.parametrize("raw", [b"[" * 10_000 + b"]" * 10_000, b'{"patient_case": ' + b"[" * 10_000])
def test_ten_thousand_levels_are_a_422(svc, raw):
    check_error(post_raw(svc, raw), 422, "validation_error", "body")


def test_brackets_inside_strings_do_not_count(svc):
    text = '[[[{{{ "\\" ' * 50  # 300 brackets, an escaped quote and a backslash, all inside one string
    assert post_raw(svc, json.dumps({**GOOD, "model_output": text}).encode()).status_code == 200


@pytest.mark.parametrize(
    "value",
    ["NaN", "Infinity", "-Infinity", "1e400", "-1.5E+999", "1" + "0" * 400],
    ids=["nan", "inf", "-inf", "1e400", "-1.5e999", "400-digit-int"],
)
def test_numbers_no_json_service_reads_alike_are_a_422(svc, value):
    raw = b'{"patient_case": {"diagnosis": "cystitis", "weight_kg": %s}, "model_output": "x"}' % value.encode()
    err = check_error(post_raw(svc, raw), 422, "validation_error", "body")
    assert "NaN, Infinity" in err["message"]


@pytest.mark.parametrize("value", ['"NaN and 1e400 as text"', "1e308", "1" + "0" * 300, "-1e-400"])
def test_finite_numbers_and_lookalike_text_pass(svc, value):
    raw = b'{"patient_case": {"diagnosis": "cystitis", "note": %s}, "model_output": "x"}' % value.encode()
    assert post_raw(svc, raw).status_code == 200


@pytest.mark.parametrize("text", ["\\ud800", "a\\udc00b", "\\udc00\\ud800"])
def test_lone_surrogates_are_a_422(svc, text):
    raw = b'{"patient_case": "F 30y %s", "model_output": "x"}' % text.encode()
    check_error(post_raw(svc, raw), 422, "validation_error", "body")


def test_a_surrogate_pair_is_one_character(svc):
    raw = b'{"patient_case": "F 30y \\ud83d\\ude00 cystitis", "model_output": "x"}'
    assert post_raw(svc, raw).status_code == 200


# --- keys no client can send ----------------------------------------------------------------------------------


@pytest.mark.parametrize("keys", ["good-key,clé-secrète", "ключ", "tab\tkey"])
def test_a_key_outside_printable_ascii_is_refused_at_start_up(keys):
    with pytest.raises(ValidationError) as e:
        create_app(Settings(api_keys=keys))
    assert "outside printable ASCII" in str(e.value)
    assert keys.split(",")[-1] not in str(e.value)  # the key itself is never in the message
