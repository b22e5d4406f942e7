"""The evaluation API over real HTTP: uvicorn on a free loopback port, the rules judge, every status code.

200 (single on both paths, batch), 401, 413 (declared and streamed), 415, 422 naming the field, 429 with
Retry-After, 404/405 as error bodies, CORS preflight, OpenAPI; the access log carries no key and no case text.
Judge failures (502/503/429 from the provider) are in tests/service/test_service_judge_errors.py.
Run: .venv/bin/pytest tests/service/test_service.py
"""

from __future__ import annotations

import json
import time

import httpx
import pytest
from live_service import LiveService, capture_logs, check_error, check_verdict

from amr_grpo.metrics import METRIC_KEYS, PRIORITY_KEYS
from amr_grpo.service.security import key_id
from amr_grpo.service.settings import Settings

KEY, OTHER_KEY = "svc-test-key-alpha-3141", "svc-test-key-beta-2718"
CASE_MARK = "ZEBRA-CASE-7731"  # case text that must never reach a log line
OUTPUT_MARK = "QUOKKA-OUTPUT-9904"
BODY_LIMIT = 20_000
ORIGIN = "https://lab.example.org"

CASE = {
    "patient_case": {
        "id": "svc-1",
        "patient": {"age": 30, "sex": "F", "allergies": [], "crcl_ml_min": 95, "text": CASE_MARK},
        "diagnosis": "acute uncomplicated cystitis",
        "prescription": "Nitrofurantoin 100 mg PO BD x 5 days",
        "setting": "OPD",
    },
    "model_output": (
        "Step 1 - Clinical picture: uncomplicated lower urinary tract infection in a non-pregnant woman.\n"
        "Step 2 - Guideline regimen: nitrofurantoin 100 mg PO BD for 5 days.\n"
        "Step 3 - Patient factors and safety: CrCl 95 mL/min, no allergies, no interacting drugs.\n"
        f"Decision: Approve\nReference: NCDC/ICMR National Treatment Guidelines 2025, UTI {OUTPUT_MARK}"
    ),
    "ground_truth": {"decision": "Approve"},
}


@pytest.fixture(scope="module")
def logs():
    with capture_logs() as lines:
        yield lines


@pytest.fixture(scope="module")
def svc(tmp_path_factory, logs):
    settings = Settings(
        api_keys=f"{KEY},{OTHER_KEY}",
        max_body_bytes=BODY_LIMIT,
        max_batch_items=3,
        rate_limit_per_minute=0,
        cors_origins=ORIGIN,
        cache_path=tmp_path_factory.mktemp("svc") / "cache.sqlite",
    )
    with LiveService(settings) as s:
        yield s


@pytest.fixture(scope="module")
def client(svc):
    with httpx.Client(base_url=svc.url, timeout=30) as c:
        yield c


def auth(key: str = KEY) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


# --- 200 -----------------------------------------------------------------------------------------------------


def test_healthz_and_openapi(client):
    r = client.get("/healthz")  # no key needed
    assert r.status_code == 200
    assert r.json()["judge"]["backend"] == "rules" and "not for clinical use" in r.json()["notice"]
    spec = client.get("/openapi.json").json()
    for path in ("/functions/v1/evaluate-prescription", "/v1/evaluate", "/v1/evaluate/batch", "/healthz"):
        assert path in spec["paths"], path
    assert {"429", "502", "503"} <= set(spec["paths"]["/v1/evaluate"]["post"]["responses"])
    assert client.get("/docs").status_code == 200


def test_single_on_both_paths(client):
    first = client.post("/functions/v1/evaluate-prescription", json=CASE, headers=auth())
    assert first.status_code == 200, first.text
    check_verdict(first.json(), PRIORITY_KEYS)  # metrics omitted = priority
    assert first.json()["judge"]["backend"] == "rules"
    again = client.post("/v1/evaluate", json=CASE, headers=auth(OTHER_KEY))
    assert again.status_code == 200
    assert again.json() == first.json()  # deterministic; the rules judge is not cached (cheaper than a lookup)


def test_all_metrics_and_x_api_key(client):
    r = client.post("/v1/evaluate", json={**CASE, "metrics": "all"}, headers={"x-api-key": KEY})
    assert r.status_code == 200, r.text
    check_verdict(r.json(), METRIC_KEYS)


def test_batch_keeps_order_and_matches_single(client):
    items = [{**CASE, "metrics": ["safety_awareness"]}, {**CASE, "model_output": "Decision: Reject"}]
    r = client.post("/v1/evaluate/batch", json={"items": items}, headers=auth())
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert len(results) == 2
    check_verdict(results[0], ("safety_awareness",))
    check_verdict(results[1], PRIORITY_KEYS)
    single = client.post("/v1/evaluate", json=items[1], headers=auth()).json()
    assert single["scores"] == results[1]["scores"]


# --- 401 -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": "Bearer wrong-key"}, {"authorization": f"Basic {KEY}"}, {"x-api-key": KEY + "x"}],
    ids=["missing", "wrong", "not-bearer", "wrong-x-api-key"],
)
def test_401(client, headers):
    r = client.post("/v1/evaluate", json=CASE, headers=headers)
    err = check_error(r, 401, "unauthorized")
    assert "API key" in err["message"]
    assert r.headers["www-authenticate"] == "Bearer"


# --- 413 -----------------------------------------------------------------------------------------------------


def test_413_declared_length(client):
    big = {**CASE, "model_output": "x" * (BODY_LIMIT + 1)}
    err = check_error(client.post("/v1/evaluate", json=big, headers=auth()), 413, "payload_too_large")
    assert str(BODY_LIMIT) in err["message"]


def test_413_streamed_without_length(client):
    def chunks():  # chunked transfer encoding: no Content-Length to check up front
        yield b'{"patient_case": "x", "model_output": "'
        for _ in range(BODY_LIMIT // 1000 + 1):
            yield b"y" * 1000
        yield b'"}'

    headers = {**auth(), "content-type": "application/json"}
    r = client.post("/v1/evaluate", content=chunks(), headers=headers)
    assert "content-length" not in r.request.headers
    check_error(r, 413, "payload_too_large")


# --- 415 -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_415(client, content_type):
    headers = auth() | ({"content-type": content_type} if content_type else {})
    r = client.post("/v1/evaluate", content=json.dumps(CASE).encode(), headers=headers)
    check_error(r, 415, "unsupported_media_type", "content-type")


def test_json_with_charset_and_vendor_type_accepted(client):
    for ct in ("application/json; charset=utf-8", "application/vnd.amr+json"):
        r = client.post("/v1/evaluate", content=json.dumps(CASE), headers=auth() | {"content-type": ct})
        assert r.status_code == 200, (ct, r.text)


# --- 422 -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/evaluate", {"patient_case": "x"}, "model_output"),
        ("/v1/evaluate", {**CASE, "model_output": 42}, "model_output"),
        ("/v1/evaluate", {**CASE, "patient_case": ["a list"]}, "patient_case"),
        ("/v1/evaluate", {**CASE, "patient_case": "   "}, "patient_case"),
        ("/v1/evaluate", {**CASE, "ground_truth": 3}, "ground_truth"),
        ("/v1/evaluate", {**CASE, "metrics": ["clinical_accuracy", "bogus"]}, "metrics"),
        ("/v1/evaluate", {**CASE, "metrics": []}, "metrics"),
        ("/v1/evaluate", {**CASE, "surprise": 1}, "surprise"),
        ("/v1/evaluate", [CASE], "body"),
        ("/v1/evaluate/batch", {"items": []}, "items"),
        ("/v1/evaluate/batch", {"items": [CASE, {"patient_case": "x", "model_output": None}]}, "items[1].model_output"),
        ("/v1/evaluate/batch", {"items": [CASE] * 4}, "items"),  # max_batch_items=3 in this service
    ],
)
def test_422_names_the_field(client, path, body, field):
    err = check_error(client.post(path, json=body, headers=auth()), 422, "validation_error", field)
    assert err["message"].startswith(field) or field == "body"


def test_422_invalid_json(client):
    r = client.post(
        "/v1/evaluate", content=b'{"patient_case": "x",', headers=auth() | {"content-type": "application/json"}
    )
    err = check_error(r, 422, "validation_error", "body")
    assert "not valid JSON" in err["message"]


def test_422_message_for_a_union_field(client):
    err = check_error(
        client.post("/v1/evaluate", json={**CASE, "patient_case": 7}, headers=auth()),
        422,
        "validation_error",
        "patient_case",
    )
    assert err["message"] == "patient_case: Input should be a valid string or an object"


# --- 404 / 405 / CORS ----------------------------------------------------------------------------------------


def test_404_and_405_are_error_bodies(client):
    check_error(client.get("/nope", headers=auth()), 404, "not_found")
    check_error(client.get("/v1/evaluate", headers=auth()), 405, "method_not_allowed")


def test_cors_preflight_and_headers(client):
    pre = {"origin": ORIGIN, "access-control-request-method": "POST", "access-control-request-headers": "authorization"}
    r = client.options("/functions/v1/evaluate-prescription", headers=pre)
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in r.headers["access-control-allow-methods"]
    assert "authorization" in r.headers["access-control-allow-headers"].lower()
    r = client.options("/v1/evaluate", headers={**pre, "origin": "https://evil.example"})
    assert r.status_code == 400 and "access-control-allow-origin" not in r.headers
    # actual requests carry the header too, errors included, so a browser can read the error body
    r = client.post("/v1/evaluate", json=CASE, headers={"origin": ORIGIN})
    assert r.status_code == 401 and r.headers["access-control-allow-origin"] == ORIGIN
    assert "retry-after" in r.headers["access-control-expose-headers"].lower()


# --- 429 (this service's per-key rate limit) -----------------------------------------------------------------


def test_429_rate_limit_per_key(tmp_path, logs):
    # 6 per minute = 0.1 token/s, burst 2: the 3rd request at once finds ~0 tokens and needs 1 -> 10 s to wait
    ledger = tmp_path / "ledger.json"
    settings = Settings(api_keys=f"{KEY},{OTHER_KEY}", rate_limit_per_minute=6, rate_limit_burst=2, ledger_path=ledger)
    with LiveService(settings) as s, httpx.Client(base_url=s.url, timeout=30) as c:
        assert [c.post("/v1/evaluate", json=CASE, headers=auth()).status_code for _ in range(2)] == [200, 200]
        r = c.post("/v1/evaluate", json=CASE, headers=auth())
        err = check_error(r, 429, "rate_limited")
        assert r.headers["retry-after"] == "10", err
        assert c.post("/v1/evaluate", json=CASE, headers=auth(OTHER_KEY)).status_code == 200  # per key
        # a batch of 2 items costs 2 tokens; the other key has 1 left
        r = c.post("/v1/evaluate/batch", json={"items": [CASE, CASE]}, headers=auth(OTHER_KEY))
        check_error(r, 429, "rate_limited")
    # written at shutdown: 3 evaluations reached the judge (2 + 1 allowed); the refused ones never did
    assert json.loads(ledger.read_text())["evaluations"] == 3


# --- logs ----------------------------------------------------------------------------------------------------


def test_access_log_has_no_key_or_case_text(client, logs):
    start = len(logs.lines)
    client.post("/v1/evaluate?apikey=" + KEY, json=CASE, headers=auth())
    client.post("/v1/evaluate", json=CASE, headers=auth("wrong-" + OTHER_KEY))
    client.post("/v1/evaluate", json={"patient_case": CASE_MARK}, headers=auth())  # 422 mentions no value
    deadline = time.monotonic() + 5  # the line is written just after the answer is sent
    while True:
        lines = logs.lines[start:]
        records = [json.loads(line) for line in lines if line.startswith('{"event": "access"')]
        if len(records) >= 3 or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert [(r["method"], r["path"], r["status"]) for r in records] == [
        ("POST", "/v1/evaluate", 200),
        ("POST", "/v1/evaluate", 401),
        ("POST", "/v1/evaluate", 422),
    ]
    assert records[0]["key_id"] == key_id(KEY) and records[1]["key_id"] is None
    assert all(r["latency_ms"] >= 0 and len(r["request_id"]) == 16 for r in records)
    text = "\n".join(lines)
    for secret in (KEY, OTHER_KEY, CASE_MARK, OUTPUT_MARK, "Nitrofurantoin", "cystitis"):
        assert secret not in text, secret


def test_logs_of_the_whole_module_have_no_secret(logs):
    text = logs.text  # runs last in this file: everything the servers logged so far
    assert logs.lines, "no log line captured: the capture is broken"
    for secret in (KEY, OTHER_KEY, CASE_MARK, OUTPUT_MARK):
        assert secret not in text, secret
    assert "Traceback" not in text
