"""Remote reward: the `api` judge backend scores through a live evaluation service, inside a JudgeEngine.

Same verdict as the local rules judge, cache hits on the second call (the service is not asked again), the
engine's retries honour the service's 429 Retry-After, and the service's failures arrive as JudgeError kinds.
Run: .venv/bin/pytest tests/judge/test_remote_reward.py
"""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from fake_openai import FakeOpenAI
from live_service import LiveService

from amr_grpo.judge import build_engine
from amr_grpo.judge.api import ApiJudge, endpoint_url
from amr_grpo.judge.base import EvalRequest, JudgeError
from amr_grpo.judge.engine import JudgeConfig
from amr_grpo.judge.rules import RulesJudge
from amr_grpo.metrics import METRIC_KEYS, PRIORITY_KEYS
from amr_grpo.service.settings import Settings

KEY, KEY_ENV = "remote-reward-key-6021", "AMR_TEST_REMOTE_KEY"

REQUESTS = [
    EvalRequest(
        patient_case={
            "id": "r1",
            "patient": {"age": 30, "sex": "F", "allergies": [], "crcl_ml_min": 95},
            "diagnosis": "acute uncomplicated cystitis",
            "prescription": "Nitrofurantoin 100 mg PO BD x 5 days",
        },
        model_output="Step 1 - Clinical picture: cystitis.\nStep 2 - Guideline regimen: nitrofurantoin 100 mg PO BD "
        "for 5 days.\nDecision: Approve\nReference: NCDC/ICMR National Treatment Guidelines 2025, UTI",
        ground_truth={"decision": "Approve"},
        metrics=METRIC_KEYS,
    ),
    EvalRequest(
        patient_case="68-year-old man, penicillin allergy (anaphylaxis), CrCl 28 mL/min. Dx: community-acquired "
        "pneumonia, ward. Rx: Amoxicillin-clavulanate 1.2 g IV TDS x 7 days",
        model_output="Decision: Approve",
        ground_truth="Decision: Reject. Penicillin anaphylaxis: avoid beta-lactams of the penicillin class.",
        metrics=PRIORITY_KEYS,
    ),
    EvalRequest(patient_case="cellulitis", model_output="no idea", ground_truth=None, metrics=("safety_awareness",)),
]


@pytest.fixture(scope="module")
def svc():
    with LiveService(Settings(api_keys=KEY, rate_limit_per_minute=0)) as s:
        yield s


def api_config(url: str, tmp_path, **kw) -> JudgeConfig:
    return JudgeConfig(
        backend="api",
        url=url,
        url_api_key_env=KEY_ENV,
        cache_path=str(tmp_path / "remote.sqlite"),
        backoff_s=0.05,
        **kw,
    )


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000/functions/v1/evaluate-prescription"),
        ("https://ref.supabase.co/", "https://ref.supabase.co/functions/v1/evaluate-prescription"),
        ("http://h:1/v1/evaluate", "http://h:1/v1/evaluate"),  # a full endpoint URL is kept
    ],
)
def test_endpoint_url(given, expected):
    assert endpoint_url(given) == expected


def test_same_verdict_as_local_rules_then_cache_hits(svc, tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    local = RulesJudge()

    async def run():
        engine = build_engine(api_config(svc.url, tmp_path))
        try:
            first = [await engine.score(r) for r in REQUESTS]
            second = await engine.score_many(REQUESTS)
            return first, second, engine.ledger.to_dict()
        finally:
            await engine.aclose()

    first, second, ledger = asyncio.run(run())
    for req, remote, again in zip(REQUESTS, first, second, strict=True):
        expected = local.score_sync(req)
        assert remote.scores == expected.scores  # same score and justification per metric
        assert remote.weighted_reward == pytest.approx(expected.weighted_reward)
        assert remote.metrics_used == expected.metrics_used
        assert (remote.injection_suspected, remote.critical_error) == (
            expected.injection_suspected,
            expected.critical_error,
        )
        assert remote.backend == "api" and remote.model == svc.url + "/functions/v1/evaluate-prescription"
        assert remote.cached is False and again.cached is True and again.scores == remote.scores
    # 3 service calls for 6 evaluations: the second round came from the engine's SQLite cache
    assert (ledger["calls"], ledger["cache_hits"], ledger["evaluations"]) == (3, 3, 6)


def test_engine_retries_honour_the_services_retry_after(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    # 60/min, burst 1: the second request at once is refused with Retry-After: 1; the engine waits ~1 s, then passes
    with LiveService(Settings(api_keys=KEY, rate_limit_per_minute=60, rate_limit_burst=1)) as s:

        async def run():
            engine = build_engine(api_config(s.url, tmp_path, max_retries=2))
            try:
                verdicts = [await engine.score(r) for r in REQUESTS[:2]]
                return verdicts, engine.ledger.to_dict()
            finally:
                await engine.aclose()

        verdicts, ledger = asyncio.run(run())
    assert len(verdicts) == 2 and ledger["retries"] == 1
    assert ledger["call_errors"] == {"rate_limited": 1} and ledger["calls"] == 3


def test_wrong_key_and_unreachable_service_are_judge_errors(svc, tmp_path):
    async def kind_of(judge: ApiJudge) -> tuple[str, float | None]:
        try:
            await judge.score(REQUESTS[2])
        except JudgeError as e:
            return e.kind, e.retry_after
        finally:
            await judge.aclose()
        raise AssertionError("scored without a key")

    assert asyncio.run(kind_of(ApiJudge(svc.url, "not-the-key"))) == ("unavailable", None)
    # port 9 (discard) has no listener on loopback: connection refused, the service cannot be reached at all
    assert asyncio.run(kind_of(ApiJudge("http://127.0.0.1:9", KEY, timeout=2)))[0] == "unreachable"


def test_an_unreachable_service_falls_back_to_rules_in_seconds(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    with socket.socket() as s:  # a port nothing listens on: every connection is refused at once
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"

    async def run():
        engine = build_engine(api_config(url, tmp_path))
        try:
            t0 = time.perf_counter()
            first = await engine.score(REQUESTS[0])
            seconds = time.perf_counter() - t0
            rest = [await engine.score(r) for r in REQUESTS[1:]]
            return first, rest, seconds, engine.ledger
        finally:
            await engine.aclose()

    first, rest, seconds, led = asyncio.run(run())
    # 1 call + connect_retries (2) short retries, 0.25-0.5 s then 0.5-1 s apart: the rules verdict within ~1.5 s.
    # Before, a refused connection was a server_error: 1 + max_retries (3) calls for every evaluation, each wait
    # 0.5-1 x backoff_s doubling (with the default backoff_s=1: up to 7 s), then could-not-score: no fallback
    assert first.backend == "rules" and all(v.backend == "rules" for v in rest)
    assert (led.calls, led.retries, dict(led.call_errors)) == (3, 2, {"unreachable": 3})
    assert led.fallbacks == 3 and not led.failures  # the later two were not sent: the service is skipped for 30 s
    assert seconds < 30, seconds  # seconds, not minutes (a generous bound on a loaded machine)


def test_remote_judge_failures_keep_their_kind_and_wait(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "provider-key")
    # service backed by the openai judge on the fake provider: the provider's 429 "retry-after: 7" reaches the client
    with FakeOpenAI() as fake:
        fake.script(contains="[remote-429]", status=429, headers={"retry-after": "7"}, answer="slow down")
        fake.script(contains="[remote-500]", status=500, answer="boom")
        settings = Settings(
            api_keys=KEY,
            rate_limit_per_minute=0,
            judge_overrides=("backend=openai", f"base_url={fake.base_url}", f"api_key_env={KEY_ENV}", "max_retries=0",
                             "rpm=0", "tpm=0"),
            cache_path=tmp_path / "svc.sqlite",
        )
        with LiveService(settings) as s:

            async def failure(marker: str) -> JudgeError:
                judge = ApiJudge(s.url, KEY)
                try:
                    await judge.score(EvalRequest("cystitis", f"Decision: Approve {marker}"))
                except JudgeError as e:
                    return e
                finally:
                    await judge.aclose()
                raise AssertionError("scored although the provider failed")

            rate = asyncio.run(failure("[remote-429]"))
            assert (rate.kind, rate.retry_after) == ("rate_limited", 7.0)
            server = asyncio.run(failure("[remote-500]"))
            assert (server.kind, server.retry_after) == ("server_error", 2.0)
