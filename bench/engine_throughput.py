"""JudgeEngine throughput and call count against the fake OpenAI-compatible server, measured in one run.

Setup (issue 3, Benchmarks): the fake server (tests/fake_openai.py, in its own process so it does not share our
interpreter) answers after 200 ms and rejects 10% of requests with 429 + retry-after 0.05 s; 1,000 distinct
evaluations of all six metrics at concurrency 50, cache off, no rate limiters.
Prints:
  1. achieved throughput / (concurrency / latency)          target >= 0.90
     and, as the baseline of this machine, the same ratio for a bare AsyncOpenAI loop (semaphore 50, sleeping the
     retry-after on a 429): the engine's overhead is the gap between the two.
  2. answered API calls / naive calls (one call per metric per completion)   target <= 1/6
     and the same with group mode at 2 generations per prompt               target <= 1/12
     (429-rejected requests are listed apart: a naive scheme would meet the same 10% rejections).
Try it: .venv/bin/python bench/engine_throughput.py            (about 15 s; --evaluations 200 for a quick look)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fake_openai import FakeOpenAIProcess  # noqa: E402

from amr_grpo.judge.base import EvalRequest  # noqa: E402
from amr_grpo.judge.engine import JudgeConfig, JudgeEngine  # noqa: E402
from amr_grpo.judge.llm import OpenAIJudge  # noqa: E402
from amr_grpo.judge.rubric import render_prompt  # noqa: E402
from amr_grpo.metrics import METRIC_KEYS  # noqa: E402

CASE = (
    "62-year-old male, 70 kg, CrCl 25 mL/min, no known allergies, on warfarin. Diagnosis: community-acquired "
    "pneumonia, ward. Prescription: Piperacillin-tazobactam 4.5 g IV q6h x 7 days. Case {i}."
)
OUTPUT = (
    "Step 1 - Clinical picture: CAP in an elderly man with CrCl 25.\nStep 2 - Pathogen and setting: ...\n"
    "Decision: Modify\nRecommended regimen: Ceftriaxone 2 g IV OD x 5 days\nReference: NCDC NTG 2025, CAP "
    "(variant {j})"
)


def requests(n: int, generations: int) -> list[EvalRequest]:
    """n evaluations: n / generations cases with `generations` distinct completions each."""
    return [EvalRequest(CASE.format(i=k // generations), OUTPUT.format(j=k), None, METRIC_KEYS) for k in range(n)]


async def bare_sdk(base_url: str, reqs: list[EvalRequest], concurrency: int) -> float:
    """Baseline: the same prompts through AsyncOpenAI with a semaphore, no engine. Returns evaluations/s."""
    from openai import AsyncOpenAI, RateLimitError

    client = AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0)
    sem = asyncio.Semaphore(concurrency)

    async def one(req: EvalRequest) -> None:
        messages = render_prompt(req).messages
        async with sem:
            while True:
                try:
                    await client.chat.completions.create(
                        model="fake", messages=messages, temperature=0, response_format={"type": "json_object"}
                    )
                    return
                except RateLimitError as e:
                    await asyncio.sleep(float(e.response.headers.get("retry-after", "0.05")))

    t0 = time.perf_counter()
    await asyncio.gather(*(one(r) for r in reqs))
    dt = time.perf_counter() - t0
    await client.close()
    return len(reqs) / dt


async def engine_run(
    base_url: str, reqs: list[EvalRequest], concurrency: int, group: bool
) -> tuple[float, JudgeEngine]:
    cfg = JudgeConfig(
        backend="openai",
        base_url=base_url,
        model="fake",
        metrics="all",
        concurrency=concurrency,
        rpm=0,
        tpm=0,
        cache_path=None,
        timeout_s=30,
        max_retries=5,
        group_size=2,
    )
    engine = JudgeEngine(OpenAIJudge(base_url, "fake", api_key="bench", timeout_s=30), cfg)
    t0, cpu0 = time.perf_counter(), time.process_time()
    out = await engine.score_many(reqs, group=group)
    dt = time.perf_counter() - t0
    engine.ledger.notes.append(f"client CPU {1000 * (time.process_time() - cpu0) / len(reqs):.2f} ms per evaluation")
    failed = [o for o in out if not hasattr(o, "scores")]
    if failed:
        raise SystemExit(f"{len(failed)} evaluations could not be scored: {failed[:3]}")
    await engine.aclose()
    return len(reqs) / dt, engine


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--evaluations", type=int, default=1000)
    p.add_argument("--concurrency", type=int, default=50)
    p.add_argument("--latency", type=float, default=0.2)
    p.add_argument("--rate-429", type=float, default=0.1)
    a = p.parse_args()
    ideal = a.concurrency / a.latency
    os.environ.pop("AMR_GRPO_JUDGE_MODEL", None)
    print(
        f"JudgeEngine vs fake OpenAI server: {a.evaluations} evaluations, concurrency {a.concurrency}, "
        f"latency {a.latency * 1000:.0f} ms, {a.rate_429:.0%} 429s; ideal {ideal:.0f} evaluations/s"
    )
    with FakeOpenAIProcess(latency=a.latency, rate_429=a.rate_429, retry_after=0.05) as fake:
        sdk = asyncio.run(bare_sdk(fake.base_url, requests(a.evaluations, 1), a.concurrency))
        before = fake.stats()["requests"]
        tput, eng = asyncio.run(engine_run(fake.base_url, requests(a.evaluations, 1), a.concurrency, group=False))
        seen = fake.stats()["requests"] - before
        gtput, geng = asyncio.run(engine_run(fake.base_url, requests(a.evaluations, 2), a.concurrency, group=True))

    led, gled = eng.ledger, geng.ledger
    answered = led.calls - sum(led.call_errors.values())
    ganswered = gled.calls - sum(gled.call_errors.values())
    print(f"bare AsyncOpenAI loop (baseline): {sdk:7.1f} evaluations/s  ratio to ideal {sdk / ideal:.3f}")
    print(
        f"JudgeEngine:                      {tput:7.1f} evaluations/s  ratio to ideal {tput / ideal:.3f} "
        f"(target >= 0.90); engine / bare loop {tput / sdk:.3f}"
    )
    print(
        f"  ledger: {led.calls} calls ({answered} answered, {dict(led.call_errors)} rejected), {led.retries} retries; "
        f"the server saw {seen}; {led.notes[-1]}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(
        f"calls vs naive (one per metric per completion): {answered} answered / {led.naive_calls} naive = "
        f"{answered / led.naive_calls:.4f} (target <= {1 / 6:.4f}); "
        f"with the rejected: {led.calls / led.naive_calls:.4f}"
    )
    print(
        f"group mode, 2 generations: {ganswered} answered / {gled.naive_calls} naive = "
        f"{ganswered / gled.naive_calls:.4f} (target <= {1 / 12:.4f}); {gled.group_calls} group calls; "
        f"{gtput:.1f} evaluations/s"
    )


if __name__ == "__main__":
    main()
