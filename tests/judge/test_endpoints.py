"""The JudgeEngine's endpoints against real loopback servers: an unreachable judge (a refused port, a connect that
hangs) fails fast to the fallback, several endpoints share calls by the quota each has left and skip a spent one,
and one judge model per run unless mixing is allowed.
Run: .venv/bin/pytest tests/judge/test_endpoints.py
"""

from __future__ import annotations

import logging
import socket

import pytest
from fake_openai import FakeOpenAI
from test_engine import req, score_many

from amr_grpo.errors import UserError
from amr_grpo.judge import build_engine
from amr_grpo.judge.base import JudgeError
from amr_grpo.judge.config import Endpoint
from amr_grpo.judge.engine import JudgeConfig, JudgeEngine
from amr_grpo.judge.llm import OpenAIJudge
from amr_grpo.records import Verdict


# -- an unreachable judge ---------------------------------------------------------------------------------------
@pytest.fixture
def closed_url():
    """A loopback URL nobody listens on: connections are refused at once."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/v1"


@pytest.fixture
def blackhole_url():
    """A loopback URL whose accept queue is full: a connect hangs, as to a host behind a dropping firewall."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    fill = [socket.socket() for _ in range(3)]
    for c in fill:
        c.setblocking(False)
        c.connect_ex(srv.getsockname())
    yield f"http://127.0.0.1:{srv.getsockname()[1]}/v1"
    for c in fill:
        c.close()
    srv.close()


def unreachable(url: str, **kw) -> JudgeEngine:
    cfg = JudgeConfig(backend="openai", base_url=url, model="m", cache_path=None, **kw)
    return JudgeEngine(OpenAIJudge(url, "m", api_key="k", connect_timeout_s=cfg.connect_timeout_s), cfg)


def test_an_unreachable_judge_warns_at_the_first_retry_then_falls_back_to_rules(closed_url, caplog):
    engine = unreachable(closed_url)
    with caplog.at_level(logging.WARNING, logger="amr_grpo.judge"):
        (one,) = score_many(engine, [req(0)])
        later = score_many(engine, [req(i) for i in range(1, 4)])
    # before: 4 tries with 1-8 s backoffs per evaluation (16 calls, 12 retries for 4), then could-not-score
    assert one.backend == "rules" and all(v.backend == "rules" for v in later)
    led = engine.ledger
    assert (led.calls, led.retries, dict(led.call_errors)) == (3, 2, {"unreachable": 3})  # 1 + connect_retries
    assert led.fallbacks == 4 and led.failures == {}  # the other three never called: the endpoint is skipped
    messages = [r.getMessage() for r in caplog.records]
    host = closed_url.removesuffix("/v1")
    assert len(messages) == 2 and host in messages[0] and "retrying 2 more times" in messages[0]
    assert "judge unreachable" in messages[1] and "falling back to the rules judge" in messages[1]
    assert led.endpoints["127.0.0.1"].state.startswith("unreachable until")


def test_an_unreachable_judge_without_fallback_is_could_not_score(closed_url):
    (e,) = score_many(unreachable(closed_url, quota_fallback="none", connect_retries=0), [req(0)])
    assert isinstance(e, JudgeError) and e.kind == "unreachable" and closed_url.removesuffix("/v1") in str(e)


def test_a_connect_that_hangs_is_unreachable_within_the_connect_timeout_not_the_call_timeout(blackhole_url):
    engine = unreachable(blackhole_url, connect_timeout_s=0.3, timeout_s=60, connect_retries=1)
    (v,) = score_many(engine, [req(0)])
    # the 60 s call timeout never came into it: two connects of 0.3 s, then the rules judge
    assert v.backend == "rules" and engine.ledger.call_errors == {"unreachable": 2}


# -- several endpoints --------------------------------------------------------------------------------------------
def endpoints_engine(fakes: list[FakeOpenAI], **kw) -> JudgeEngine:
    eps = [Endpoint(name=f"ep{i}", base_url=f.base_url, model="m", api_key_env=f"KEY_{i}", **kw.pop(f"ep{i}", {}))
           for i, f in enumerate(fakes)]
    cfg = JudgeConfig(backend="openai", cache_path=None, endpoints=eps, backoff_s=0.01, concurrency=1, **kw)
    return build_engine(cfg)


@pytest.fixture
def keys(monkeypatch):
    for i in range(3):
        monkeypatch.setenv(f"KEY_{i}", f"sk-endpoint-key-{i}")


def test_a_spent_endpoint_is_skipped_and_its_calls_go_to_the_other(keys, caplog):
    with FakeOpenAI(quota_exhausted=True) as spent, FakeOpenAI() as fresh:
        engine = endpoints_engine([spent, fresh])
        with caplog.at_level(logging.WARNING, logger="amr_grpo.judge"):
            out = score_many(engine, [req(i) for i in range(6)])
        assert all(isinstance(v, Verdict) and v.backend == "openai" for v in out)  # no rules fallback needed
        assert (len(spent.requests), len(fresh.requests)) == (1, 6)  # one 429, then never again
        assert fresh.requests[0].headers["authorization"] == "Bearer sk-endpoint-key-1"  # each endpoint its key
    led = engine.ledger.to_dict()["endpoints"]
    assert led["ep0"]["call_errors"] == {"quota_exhausted": 1} and led["ep0"]["state"].startswith("quota spent until")
    assert (led["ep1"]["calls"], led["ep1"]["state"]) == (6, "ok")
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and "judge endpoint ep0" in messages[0] and "the others take its calls" in messages[0]


def test_calls_are_spread_by_the_share_of_daily_quota_left(keys):
    with FakeOpenAI() as small, FakeOpenAI() as large:
        engine = endpoints_engine([small, large], ep0={"rpd": 10}, ep1={"rpd": 30})
        score_many(engine, [req(i) for i in range(20)])
        # the endpoint with the larger share left takes each call, so both shares fall together:
        # a / 10 = b / 30 with a + b = 20 -> 5 and 15 (each has half its day left)
        assert (len(small.requests), len(large.requests)) == (5, 15)


def test_when_every_endpoint_has_spent_its_day_the_rest_fall_back_to_rules(keys, caplog):
    with FakeOpenAI() as a, FakeOpenAI() as b:
        engine = endpoints_engine([a, b], ep0={"rpd": 2}, ep1={"rpd": 2})
        with caplog.at_level(logging.WARNING, logger="amr_grpo.judge"):
            out = score_many(engine, [req(i) for i in range(6)])
        assert [v.backend for v in out] == ["openai"] * 4 + ["rules"] * 2
        assert (len(a.requests), len(b.requests)) == (2, 2)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and "daily quota of every endpoint is spent" in messages[0]


def test_endpoints_with_different_models_are_refused_unless_mixing_is_allowed(keys):
    eps = [Endpoint(base_url="http://127.0.0.1:9/v1", model="llama-70b", api_key_env="KEY_0"),
           Endpoint(base_url="http://127.0.0.2:9/v1", model="qwen-72b", api_key_env="KEY_1")]
    with pytest.raises(UserError, match="different models") as e:
        build_engine(JudgeConfig(backend="openai", cache_path=None, endpoints=eps))
    assert "allow_mixed_models" in e.value.hint
    engine = build_engine(JudgeConfig(backend="openai", cache_path=None, endpoints=eps, allow_mixed_models=True))
    assert engine.judge.model == "llama-70b+qwen-72b"  # the cache and the verdicts say the run was mixed
