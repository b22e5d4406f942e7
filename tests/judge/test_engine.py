"""JudgeEngine against the fake OpenAI-compatible server on loopback and a real SQLite file: concurrency, limits,
retries, timeouts, quota and budget stops, de-duplication, cache, group mode and a ledger that matches the server.
Run: .venv/bin/pytest tests/judge/test_engine.py
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI

from amr_grpo.judge import estimate_cost
from amr_grpo.judge.base import EvalRequest, JudgeError
from amr_grpo.judge.cache import VerdictCache
from amr_grpo.judge.engine import JudgeConfig, JudgeEngine
from amr_grpo.judge.llm import OpenAIJudge
from amr_grpo.records import Verdict

KEYS = ("clinical_accuracy", "guideline_adherence", "reasoning_completeness")


@pytest.fixture
def fake_openai():
    """The fake OpenAI-compatible server (tests/fake_openai.py), started for one test."""
    with FakeOpenAI() as fake:
        yield fake


def req(i: int | str = 0, case: str = "cystitis case", metrics: tuple[str, ...] = KEYS) -> EvalRequest:
    return EvalRequest(f"28F {case}", f"Step 1 - x\nDecision: Modify\nReference: NTG 2025 ({i})", None, metrics)


def make(fake: FakeOpenAI, **kw) -> JudgeEngine:
    settings = dict(
        backend="openai",
        base_url=fake.base_url,
        model="m",
        cache_path=None,
        backoff_s=0.01,
        timeout_s=5.0,
        max_retries=3,
    )
    settings.update(kw)
    cfg = JudgeConfig(**settings)
    return JudgeEngine(OpenAIJudge(fake.base_url, "m", api_key="k", timeout_s=cfg.timeout_s), cfg)


def score_many(engine: JudgeEngine, reqs, **kw):
    async def go():
        try:
            return await engine.score_many(reqs, **kw)
        finally:
            await engine.aclose()

    return asyncio.run(go())


def settle(fake: FakeOpenAI, quiet_s: float = 0.3, limit_s: float = 5.0) -> None:
    """Wait until the server has read every request sent (on a busy machine a sent request can be read late)."""
    end, seen = time.monotonic() + limit_s, -1
    while len(fake.requests) != seen and time.monotonic() < end:
        seen = len(fake.requests)
        time.sleep(quiet_s)


def test_slow_answers_run_concurrently_within_the_bound(fake_openai):
    fake_openai.latency = 0.2
    out = score_many(make(fake_openai, concurrency=10), [req(i) for i in range(20)])
    done = time.monotonic()  # the fake stamps arrivals with the same clock
    assert all(isinstance(v, Verdict) for v in out)
    arrivals = sorted(r.time for r in fake_openai.requests)
    assert done - arrivals[0] < 2.0  # 20 x 0.2 s = 4 s one at a time; 2 waves of 10 take about 0.4 s
    assert arrivals[10] - arrivals[0] >= 0.15  # the 11th request waited for one of the first 10 to finish


def test_requests_per_minute_limiter_spaces_calls(fake_openai):
    out = score_many(make(fake_openai, rpm=600), [req(i) for i in range(25)])
    arrivals = sorted(r.time for r in fake_openai.requests)
    # 600/min = 10/s: a one-second bucket lets 10 go at once, then one every 0.1 s -> 15 x 0.1 s = 1.5 s
    assert all(isinstance(v, Verdict) for v in out) and arrivals[-1] - arrivals[0] >= 1.3


def test_429_retry_after_is_honoured_and_counted(fake_openai):
    fake_openai.script("(429-me)", status=429, headers={"retry-after": "0.3"}, times=1)
    engine = make(fake_openai)
    (v,) = score_many(engine, [req("429-me")])
    assert isinstance(v, Verdict) and fake_openai.statuses == [429, 200]
    first, second = fake_openai.requests
    assert second.time - first.time >= 0.3  # waited what the provider asked
    led = engine.ledger
    assert (led.calls, led.retries, dict(led.call_errors)) == (2, 1, {"rate_limited": 1})


def test_500s_are_retried_with_backoff_then_scored(fake_openai):
    fake_openai.script("(flaky)", status=500, times=2)
    engine = make(fake_openai)
    (v,) = score_many(engine, [req("flaky")])
    assert isinstance(v, Verdict) and fake_openai.statuses == [500, 500, 200] and engine.ledger.retries == 2


def test_retries_are_bounded_then_could_not_score(fake_openai):
    fake_openai.rate_500 = 1.0
    engine = make(fake_openai, max_retries=2)
    (e,) = score_many(engine, [req()])
    assert isinstance(e, JudgeError) and e.kind == "server_error"
    assert len(fake_openai.requests) == 3 and engine.ledger.failures == {"server_error": 1}  # 1 + 2 retries


def test_malformed_json_gets_one_quoted_retry_and_schema_violations_end_in_bad_answer(fake_openai):
    fake_openai.script("(malformed-once)", answer='{"scores": {"clinical_acc', times=1)
    engine = make(fake_openai)
    (v,) = score_many(engine, [req("malformed-once")])
    assert isinstance(v, Verdict) and len(fake_openai.requests) == 2
    fake_openai.reset()
    fake_openai.rate_schema = 1.0
    engine = make(fake_openai)
    (e,) = score_many(engine, [req("schema")])
    assert isinstance(e, JudgeError) and e.kind == "bad_answer"
    assert len(fake_openai.requests) == 2 and engine.ledger.retries == 0  # the engine does not retry a bad answer


def test_hang_times_out_per_attempt_and_ends_in_could_not_score(fake_openai):
    fake_openai.rate_hang = 1.0
    engine = make(fake_openai, timeout_s=0.25, max_retries=1)
    (e,) = score_many(engine, [req()])
    assert isinstance(e, JudgeError) and e.kind == "timeout"
    first, second = fake_openai.requests
    assert second.time - first.time >= 0.25  # the first attempt waited out its timeout
    assert engine.ledger.call_errors == {"timeout": 2}


def test_quota_exhaustion_stops_calls_says_so_once_and_falls_back_to_rules(fake_openai, caplog):
    fake_openai.quota_exhausted = True
    engine = make(fake_openai, concurrency=2)
    with caplog.at_level(logging.WARNING, logger="amr_grpo.judge"):
        out = score_many(engine, [req(i) for i in range(10)])
        later = score_many(engine, [req(i) for i in range(10, 15)])
    assert len(fake_openai.requests) <= 2  # at most the calls already in flight when the first 429 came back
    assert all(isinstance(v, Verdict) and v.backend == "rules" for v in out + later)
    messages = [r.getMessage() for r in caplog.records if "quota" in r.getMessage()]
    assert len(messages) == 1 and "no more judge calls until" in messages[0] and "rules judge" in messages[0]
    assert engine.ledger.fallbacks == 15 and engine.ledger.quota_exhausted_until is not None


def test_quota_exhaustion_without_fallback_is_could_not_score_with_the_wait(fake_openai):
    fake_openai.quota_exhausted = True
    engine = make(fake_openai, concurrency=1, quota_fallback="none")
    out = score_many(engine, [req(i) for i in range(5)])
    assert all(isinstance(e, JudgeError) and e.kind == "quota_exhausted" for e in out)
    assert len(fake_openai.requests) == 1  # one call, then none: no retry loop
    assert all(e.retry_after and e.retry_after > 3000 for e in out)  # about the hour the provider asked for


def test_call_budget_caps_the_run(fake_openai):
    engine = make(fake_openai, concurrency=1, budget_calls=3)
    out = score_many(engine, [req(i) for i in range(8)])
    assert len(fake_openai.requests) == 3
    assert [v.backend for v in out] == ["openai"] * 3 + ["rules"] * 5
    engine = make(fake_openai, concurrency=1, budget_calls=2, quota_fallback="none")
    fake_openai.reset()
    out = score_many(engine, [req(i) for i in range(4)])
    assert (
        len(fake_openai.requests) == 2
        and [getattr(o, "kind", "ok") for o in out] == ["ok", "ok"] + ["budget_exhausted"] * 2
    )


def test_token_budget_smaller_than_one_call_makes_no_call(fake_openai):
    engine = make(fake_openai, budget_tokens=100, quota_fallback="none")  # a call is ~1,500 tokens
    (e,) = score_many(engine, [req()])
    assert isinstance(e, JudgeError) and e.kind == "budget_exhausted" and fake_openai.requests == []


def test_identical_requests_in_flight_make_one_call(fake_openai):
    fake_openai.latency = 0.1
    engine = make(fake_openai)
    out = score_many(engine, [req(7)] * 5)
    assert len(fake_openai.requests) == 1 and engine.ledger.dedup_hits == 4
    assert all(v == out[0] for v in out)


def test_cache_hits_across_two_engine_instances_on_a_real_sqlite_file(fake_openai, tmp_path):
    path = tmp_path / "cache" / "judge.sqlite"
    first = score_many(make(fake_openai, cache_path=str(path)), [req(i) for i in range(3)])
    assert len(fake_openai.requests) == 3 and path.is_file()
    engine = make(fake_openai, cache_path=str(path))
    second = score_many(engine, [req(i) for i in range(3)])
    assert len(fake_openai.requests) == 3  # nothing new reached the server
    assert all(v.cached for v in second) and [v.scores for v in second] == [v.scores for v in first]
    assert engine.ledger.cache_hits == 3 and engine.ledger.calls == 0
    score_many(make(fake_openai, cache_path=str(path)), [req(0, metrics=("clinical_accuracy",))])
    assert len(fake_openai.requests) == 4  # other metrics: another key


def test_fallback_verdicts_are_not_cached_as_the_llms(fake_openai, tmp_path):
    path = str(tmp_path / "c.sqlite")
    fake_openai.quota_exhausted = True
    score_many(make(fake_openai, cache_path=path), [req(1)])
    fake_openai.quota_exhausted = False
    (v,) = score_many(make(fake_openai, cache_path=path), [req(1)])
    assert v.backend == "openai" and not v.cached  # the rules fallback of the first run was not stored


def test_corrupt_cache_file_is_moved_aside_with_a_warning(fake_openai, tmp_path, caplog):
    path = tmp_path / "judge.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with caplog.at_level(logging.WARNING, logger="amr_grpo.judge"):
        engine = make(fake_openai, cache_path=str(path))
    (v,) = score_many(engine, [req()])
    assert isinstance(v, Verdict)
    aside = list(tmp_path.glob("judge.sqlite.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not a database")
    assert any("moved it to" in r.getMessage() for r in caplog.records)
    assert len(VerdictCache(path)) == 1  # the fresh cache works


_WRITER = """
import asyncio, sys
sys.path[:0] = {dirs!r}  # this module (make, req, score_many) and the shared helpers
from test_engine import make, req, score_many
from fake_openai import FakeOpenAI

class Remote(FakeOpenAI):  # the parent's server, by URL
    base_url = {url!r}

out = score_many(make(Remote(), cache_path={path!r}, concurrency=8), [req(i) for i in range({lo}, {hi})])
assert all(hasattr(v, "scores") for v in out), out
"""


def test_two_processes_write_the_same_cache_concurrently(fake_openai, tmp_path):
    fake_openai.latency = 0.01
    path = str(tmp_path / "shared.sqlite")
    dirs = [str(Path(__file__).parent), str(Path(__file__).parents[1])]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER.format(dirs=dirs, url=fake_openai.base_url, path=path, lo=lo, hi=hi)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for lo, hi in ((0, 40), (20, 60))  # 20 keys in common
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    assert len(VerdictCache(path)) == 60  # every distinct evaluation stored once, none lost


def test_every_request_ends_in_a_score_or_could_not_score_and_the_ledger_matches_the_server(fake_openai):
    f = fake_openai
    f.latency, f.rate_429, f.rate_500, f.rate_malformed, f.rate_schema, f.rate_hang = 0.01, 0.15, 0.1, 0.1, 0.1, 0.05
    engine = make(f, concurrency=20, timeout_s=1.5, max_retries=2)
    out = score_many(engine, [req(i) for i in range(60)])
    assert all(isinstance(o, (Verdict, JudgeError)) for o in out) and len(out) == 60
    settle(f)
    led, statuses = engine.ledger, f.statuses
    assert led.calls == len(f.requests)
    assert led.call_errors.get("rate_limited", 0) == statuses.count(429)
    assert led.call_errors.get("server_error", 0) == statuses.count(500)
    assert led.call_errors.get("timeout", 0) == statuses.count(0) + statuses.count(504)  # hung: not answered yet
    assert led.scored == sum(isinstance(o, Verdict) for o in out)
    assert sum(led.failures.values()) == sum(isinstance(o, JudgeError) for o in out)
    assert led.scored > 30  # most get through the faults


def test_group_mode_scores_the_completions_of_a_case_in_one_call(fake_openai):
    reqs = [req(g, case=f"case {c}") for c in range(3) for g in range(2)]
    engine = make(fake_openai)
    out = score_many(engine, reqs, group=True)
    assert all(isinstance(v, Verdict) for v in out) and len(fake_openai.requests) == 3
    assert engine.ledger.group_calls == 3 and engine.ledger.naive_calls == 6 * len(KEYS)


def test_group_mode_falls_back_to_one_call_each_when_the_group_answer_is_bad(fake_openai):
    fake_openai.script("Completion ids:", answer="not json")
    engine = make(fake_openai)
    out = score_many(engine, [req(1), req(2)], group=True)
    assert all(isinstance(v, Verdict) for v in out)
    assert len(fake_openai.requests) == 4  # the group call and its retry, then one call per completion


def test_score_many_keeps_input_order_and_score_raises(fake_openai):
    fake_openai.script("(bad-one)", answer="nope")
    engine = make(fake_openai)
    out = score_many(engine, [req(0), req("bad-one"), req(2)])
    assert [type(o).__name__ for o in out] == ["Verdict", "JudgeError", "Verdict"]
    with pytest.raises(JudgeError):
        asyncio.run(make(fake_openai).score(req("bad-one")))


def test_rules_backend_engine_needs_no_server_or_cache(tmp_path):
    engine = JudgeEngine(
        __import__("amr_grpo.judge.rules", fromlist=["RulesJudge"]).RulesJudge(),
        JudgeConfig(cache_path=str(tmp_path / "unused.sqlite")),
    )
    out = score_many(engine, [req(i) for i in range(3)])
    assert all(v.backend == "rules" for v in out) and engine.cache is None and engine.ledger.calls == 0
    assert not (tmp_path / "unused.sqlite").exists()


def test_estimate_cost_counts_duplicates_once_skips_cached_and_groups(fake_openai, tmp_path):
    path = str(tmp_path / "c.sqlite")
    cfg = JudgeConfig(backend="openai", base_url=fake_openai.base_url, model="m", cache_path=path)
    reqs = [req(i, case=f"case {i // 2}") for i in range(4)] + [req(0, case="case 0")]  # the last repeats the first
    est = estimate_cost(reqs, cfg)
    assert (est["evaluations"], est["calls"], est["cached"], est["naive_calls"]) == (5, 4, 0, 15)
    assert est["prompt_tokens"] > 4 * 1000 and est["completion_tokens"] == 4 * 90 * len(KEYS)  # 90 per metric
    score_many(make(fake_openai, cache_path=path), reqs[:2])
    assert estimate_cost(reqs, cfg)["calls"] == 2 and estimate_cost(reqs, cfg)["cached"] == 2
    assert estimate_cost(reqs, dataclasses.replace(cfg, group_mode=True))["calls"] == 1  # case 1's two in one call
    assert len(fake_openai.requests) == 2  # estimating called nothing


class PluginJudge:
    """A judge written outside this package: no meter, so the engine counts its calls itself."""

    backend, model = "plugin", "plugin-v1"

    def __init__(self) -> None:
        self.attempts = 0

    async def score(self, request: EvalRequest) -> Verdict:
        self.attempts += 1
        if self.attempts == 1:
            raise JudgeError("rate_limited", "busy", retry_after=0.01)
        return Verdict.from_dict(
            {
                "scores": {k: {"score": 3, "justification": "plugin"} for k in request.metrics},
                "weighted_reward": 0.6,
                "metrics_used": list(request.metrics),
                "judge": {"backend": "plugin", "model": "plugin-v1"},
            }
        )


def test_a_judge_without_a_meter_is_still_counted_and_capped():
    judge = PluginJudge()
    engine = JudgeEngine(judge, JudgeConfig(cache_path=None, quota_fallback="none", backoff_s=0.01))
    out = score_many(engine, [req(1), req(2)])  # req 1: busy, then scored on its retry
    assert all(isinstance(v, Verdict) for v in out)
    assert engine.ledger.calls == judge.attempts == 3 and engine.ledger.call_errors == {"rate_limited": 1}
    judge = PluginJudge()
    engine = JudgeEngine(judge, JudgeConfig(cache_path=None, budget_calls=1, quota_fallback="none"))
    (e,) = score_many(engine, [req(1)])  # the retry would be a second call: over budget
    assert isinstance(e, JudgeError) and e.kind == "budget_exhausted" and judge.attempts == 1
