"""The judge ledger: bounded latency percentiles checked against exact ones, and a ledger that is saved, loaded and
added to (training resume, ranks) without losing a count.
Run: .venv/bin/pytest tests/judge/test_ledger.py
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import stat

import pytest
from fake_openai import FakeOpenAI

from amr_grpo.judge.base import EvalRequest, Usage
from amr_grpo.judge.engine import JudgeConfig, JudgeEngine
from amr_grpo.judge.ledger import NOTES_KEPT, LatencySketch, Ledger
from amr_grpo.judge.llm import OpenAIJudge


def exact(values: list[float], q: float) -> float:
    """Nearest-rank quantile: the ceil(q*n)-th smallest value."""
    xs = sorted(values)
    return xs[max(0, math.ceil(q * len(xs)) - 1)]


@pytest.mark.parametrize(
    "values",
    [
        [i / 1000 for i in range(1, 10_001)],  # 1 ms .. 10 s evenly: p50 5.0 s, p95 9.5 s, p99 9.9 s
        [random.Random(0).lognormvariate(-1.0, 1.2) for _ in range(20_000)],  # a long right tail, like real latency
        [0.2] * 990 + [30.0] * 10,  # a bimodal run: p99 must land on the slow mode, not between them
    ],
)
def test_sketch_percentiles_are_within_2_5_percent_of_the_exact_ones(values):
    sketch = LatencySketch()
    for v in values:
        sketch.add(v)
    for q in (0.5, 0.95, 0.99):
        # bins are 5% wide and the estimate is a bin's geometric middle: at most sqrt(1.05) - 1 = 2.47% off
        assert sketch.quantile(q) == pytest.approx(exact(values, q), rel=0.025)
    assert sketch.quantile(1.0) == max(values)  # clamped to the largest value seen


def test_sketch_of_the_first_example_by_hand():
    sketch = LatencySketch()
    for i in range(1, 10_001):
        sketch.add(i / 1000)
    p = sketch.percentiles()
    # exact: 5.0, 9.5, 9.9; the bins holding them have middles within 2.5% of each
    assert 4.875 <= p["p50"] <= 5.125 and 9.26 <= p["p95"] <= 9.74 and 9.65 <= p["p99"] <= 10.0


def test_the_ledger_holds_no_growing_list_however_many_calls():
    led = Ledger()
    for i in range(100_000):
        led.record_call(Usage(calls=1, prompt_tokens=10), latency_s=0.1 + (i % 100) / 1000, endpoint="a")
        led.eval_latency.add(0.2)
    for name, value in vars(led).items():  # the old ledger kept every latency in a list: 100,000 floats here
        assert not isinstance(value, list) or len(value) <= NOTES_KEPT, name
    # 100 distinct latencies 100..199 ms span about 14 bins of 5%; one for the evaluations
    assert len(led.call_latency.counts) <= 16 and len(led.eval_latency.counts) == 1
    assert len(json.dumps(led.to_dict())) < 4000


def test_notes_are_bounded_and_scrubbed():
    led = Ledger()
    for i in range(NOTES_KEPT + 50):
        led.note(f"stop {i}: upstream said Authorization: Bearer sk-live-{i}")
    assert len(led.notes) == NOTES_KEPT and led.notes[-1].startswith(f"stop {NOTES_KEPT + 49}")
    assert "sk-live" not in json.dumps(led.to_dict())


def events(led: Ledger, rng: random.Random, n: int) -> None:
    for _ in range(n):
        ep = rng.choice(["groq-a", "groq-b"])
        err = rng.choice([None, None, None, "rate_limited", "timeout"])
        usage = Usage(calls=1, prompt_tokens=rng.randint(100, 900), completion_tokens=90)
        led.record_call(usage, rng.random(), err, ep)
        led.eval_latency.add(rng.random() * 2)
        led.evaluations += 1
        led.scored += err is None
        if err:
            led.failures[err] += 1


def test_save_load_and_merge_give_the_counts_of_one_uninterrupted_run(tmp_path):
    """A run killed after 300 evaluations and resumed for 200 more must show the counts of 500."""
    whole, first, second = Ledger("openai", "m", 0.59, 0.79), Ledger("openai", "m", 0.59, 0.79), Ledger()
    events(whole, random.Random(1), 300)
    events(whole, random.Random(2), 200)
    events(first, random.Random(1), 300)
    first.note("judge quota exhausted: ...")
    path = first.write(tmp_path / "judge_ledger.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # case-derived counts and notes: the owner's only
    events(second, random.Random(2), 200)
    resumed = second.merge(Ledger.load(path))
    got, want = resumed.to_dict(), whole.to_dict()
    for key in ("evaluations", "scored", "calls", "prompt_tokens", "completion_tokens", "failures", "call_errors",
                "latency_s", "endpoints", "could_not_score"):
        assert got[key] == want[key], key
    assert got["estimated_cost_usd"] == pytest.approx(want["estimated_cost_usd"])  # prices come back from the file
    assert resumed.notes == ["judge quota exhausted: ..."]
    again = Ledger.from_dict(json.loads(json.dumps(got)))  # what train.py saves with a checkpoint, read back
    assert again.to_dict() == got


def test_a_saved_dict_from_other_bins_is_refused_not_mixed():
    d = LatencySketch().to_dict()
    d["ratio"] = 1.1
    with pytest.raises(ValueError, match="other bins"):
        LatencySketch.from_dict(d)


def test_a_resumed_engine_adds_to_the_saved_ledger(tmp_path):
    """What train.py does on --resume: the engine of the new process continues the saved counts."""

    def engine(url: str) -> JudgeEngine:
        cfg = JudgeConfig(backend="openai", base_url=url, model="m", cache_path=None)
        return JudgeEngine(OpenAIJudge(url, "m", api_key="k"), cfg)

    def score(e: JudgeEngine, ids: range) -> None:
        async def go():
            await e.score_many([EvalRequest(f"case {i}", f"Decision: Approve {i}") for i in ids])
            await e.aclose()
        asyncio.run(go())

    path = tmp_path / "judge_ledger.json"
    with FakeOpenAI() as fake:
        first = engine(fake.base_url)
        score(first, range(3))
        first.ledger.write(path)  # saved with checkpoint-N; then the process is killed
        second = engine(fake.base_url)
        second.ledger.merge(Ledger.load(path))
        score(second, range(3, 5))
        third = engine(fake.base_url)
        third.ledger = Ledger.load(path)  # putting a loaded ledger in place counts there too
        score(third, range(5, 6))
        assert len(fake.requests) == 6
    per_endpoint = second.ledger.to_dict()["endpoints"]["127.0.0.1"]["calls"]
    assert (second.ledger.calls, second.ledger.evaluations, per_endpoint) == (5, 5, 5)  # 3 saved + 2 now
    assert (third.ledger.calls, third.ledger.to_dict()["endpoints"]["127.0.0.1"]["calls"]) == (4, 4)  # 3 + 1
