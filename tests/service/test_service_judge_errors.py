"""The evaluation API with the openai judge pointed at the fake OpenAI server: scores, cache, and every judge failure.

Provider 500 -> 502, provider hang -> 503 (judge timeout), provider 429 -> 429 with the provider's Retry-After,
spent daily quota -> 429 judge_quota_exhausted, malformed answers -> 502; a batch with one failed item keeps the
others. Never a made-up score, never a 500; the provider key and the case text never reach a log line.
Run: .venv/bin/pytest tests/service/test_service_judge_errors.py
"""

from __future__ import annotations

import os
import socket

import httpx
import pytest
from fake_openai import FakeOpenAI
from live_service import LiveService, capture_logs, check_error, check_verdict

from amr_grpo.metrics import PRIORITY_KEYS
from amr_grpo.service.settings import Settings

KEY = "svc-judge-key-5577"
PROVIDER_KEY = "gsk_fake_provider_secret_8812"
KEY_ENV = "AMR_TEST_SERVICE_PROVIDER_KEY"
CASE_MARK = "PANGOLIN-CASE-4410"


def body(marker: str, **extra) -> dict:
    """A request whose judged text contains `marker` (the fake server's scripts match on it)."""
    return {
        "patient_case": f"52-year-old man, CrCl 40 mL/min, {CASE_MARK}. Dx: pyelonephritis. Rx: ceftriaxone 1 g IV OD",
        "model_output": f"Step 1 - Clinical picture: pyelonephritis.\nDecision: Approve\nReference: NTG 2025 {marker}",
        **extra,
    }


@pytest.fixture(scope="module")
def logs():
    with capture_logs() as lines:
        yield lines


@pytest.fixture(scope="module")
def fake():
    os.environ[KEY_ENV] = PROVIDER_KEY
    with FakeOpenAI(api_key=PROVIDER_KEY) as f:
        yield f
    os.environ.pop(KEY_ENV, None)


def judge_settings(fake: FakeOpenAI, cache_dir) -> Settings:
    return Settings(
        api_keys=KEY,
        rate_limit_per_minute=0,
        judge_overrides=("backend=openai", f"base_url={fake.base_url}", "model=fake-judge", f"api_key_env={KEY_ENV}",
                         "max_retries=0", "timeout_s=1", "rpm=0", "tpm=0"),
        cache_path=cache_dir / "cache.sqlite",
    )


@pytest.fixture(scope="module")
def client(fake, logs, tmp_path_factory):
    with LiveService(judge_settings(fake, tmp_path_factory.mktemp("judge"))) as s:
        with httpx.Client(base_url=s.url, timeout=30, headers={"x-api-key": KEY}) as c:
            yield c


def test_scores_from_the_llm_judge_then_the_cache(client, fake):
    before = len(fake.requests)
    r = client.post("/v1/evaluate", json=body("[ok-1]"))
    assert r.status_code == 200, r.text
    data = r.json()
    check_verdict(data, PRIORITY_KEYS)
    # the fake scores every requested metric 4: 4/5 = 0.8 for each, so the weighted mean is 0.8 whatever the weights
    assert {k: v["score"] for k, v in data["scores"].items()} == dict.fromkeys(PRIORITY_KEYS, 4)
    assert data["weighted_reward"] == pytest.approx(0.8)
    assert data["judge"] == {
        "backend": "openai",
        "model": "fake-judge",
        "rubric_version": data["judge"]["rubric_version"],
    }
    assert data["cached"] is False
    again = client.post("/functions/v1/evaluate-prescription", json=body("[ok-1]"))
    assert again.json()["cached"] is True and again.json()["scores"] == data["scores"]
    assert len(fake.requests) == before + 1  # one provider call for two evaluations
    assert fake.requests[-1].headers["authorization"] == f"Bearer {PROVIDER_KEY}"


@pytest.mark.parametrize(
    ("marker", "script", "status", "code", "retry_after"),
    [
        ("[p500]", {"status": 500, "answer": "boom"}, 502, "judge_server_error", "2"),
        ("[hang]", {"hang": True}, 503, "judge_timeout", "5"),
        (
            "[p429]",
            {"status": 429, "headers": {"retry-after": "7"}, "answer": "slow down"},
            429,
            "judge_rate_limited",
            "7",
        ),
        ("[bad]", {"answer": "this is not JSON"}, 502, "judge_bad_answer", "2"),
        ("[p401]", {"status": 401, "answer": "Invalid API Key"}, 503, "judge_unavailable", "5"),
    ],
)
def test_judge_failures_are_never_scores(client, fake, marker, script, status, code, retry_after):
    fake.script(contains=marker, **script)
    r = client.post("/v1/evaluate", json=body(marker))
    check_error(r, status, code)
    assert r.headers["retry-after"] == retry_after  # the provider's own wait when it sent one, else our default
    assert "scores" not in r.text


def test_spent_daily_quota_is_429_with_the_reset_time(fake, logs, tmp_path):
    # its own service: a spent quota stops that engine's judge calls until the reset, as it should
    quota = {"error": {"message": "Rate limit reached on requests per day (RPD)", "code": "rate_limit_exceeded"}}
    fake.script(contains="[quota]", status=429, headers={"retry-after": "3600"}, answer=quota)
    with (
        LiveService(judge_settings(fake, tmp_path)) as s,
        httpx.Client(base_url=s.url, headers={"x-api-key": KEY}) as c,
    ):
        r = c.post("/v1/evaluate", json=body("[quota]"))
        check_error(r, 429, "judge_quota_exhausted")
        assert 3590 <= int(r.headers["retry-after"]) <= 3600  # the engine stops until the reset and says how long
        calls = len(fake.requests)
        r = c.post("/v1/evaluate", json=body("[after-quota]"))  # not sent to the provider: it is stopped
        check_error(r, 429, "judge_quota_exhausted")
        assert len(fake.requests) == calls


def test_an_unreachable_judge_is_503_judge_unavailable_with_retry_after(fake, logs, tmp_path):
    # nothing listens at the judge's URL: the connection is refused, the engine skips the endpoint for its cooldown
    # (30 s) and, with no fallback in the service, answers 503 judge_unavailable (it was a generic 502 judge_error)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    settings = judge_settings(fake, tmp_path)
    settings = settings.model_copy(update={"judge_overrides": (*settings.judge_overrides, f"base_url={url}")})
    with LiveService(settings) as svc, httpx.Client(base_url=svc.url, headers={"x-api-key": KEY}) as c:
        r = c.post("/v1/evaluate", json=body("[unreachable]"))
        check_error(r, 503, "judge_unavailable")
        assert r.headers["retry-after"] == "30"  # the default: the cooldown before the endpoint is tried again
        r = c.post("/v1/evaluate", json=body("[unreachable-again]"))  # within the cooldown: not tried, told how long
        check_error(r, 503, "judge_unavailable")
        assert 1 <= int(r.headers["retry-after"]) <= 30


def test_batch_keeps_good_items_when_one_fails(client, fake):
    fake.script(contains="[batch-bad]", status=500, answer="boom")
    items = [body("[batch-ok]"), body("[batch-bad]")]
    r = client.post("/v1/evaluate/batch", json={"items": items})
    assert r.status_code == 200, r.text
    good, bad = r.json()["results"]
    check_verdict(good, PRIORITY_KEYS)
    assert bad == {"error": {"code": "judge_server_error", "message": bad["error"]["message"], "field": None}}


def test_batch_with_every_item_failed_takes_the_judge_status(client, fake):
    fake.script(contains="[all-bad]", status=500, answer="boom")
    r = client.post("/v1/evaluate/batch", json={"items": [body("[all-bad] 1"), body("[all-bad] 2")]})
    check_error(r, 502, "judge_server_error")
    assert r.headers["retry-after"] == "2"


def test_no_provider_key_or_case_text_in_logs(client, logs):
    text = logs.text
    assert '"judge_error": "server_error"' in text  # the access log names the failure kind
    for secret in (KEY, PROVIDER_KEY, CASE_MARK, "pyelonephritis"):
        assert secret not in text, secret
