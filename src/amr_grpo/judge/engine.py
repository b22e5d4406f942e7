"""JudgeEngine: wraps any judge with the controls that keep an LLM judge's cost and failures in hand.

- one call scores all requested metrics of a completion; group mode scores all completions of one case in one call;
- bounded concurrency (asyncio.Semaphore); per endpoint, requests/min and tokens/min limiters (aiolimiter) and daily
  quotas; several endpoints (keys, servers) share the calls by the quota each has left (judge/endpoints.py);
- a per-call timeout; retries with exponential backoff and jitter that honour retry-after (tenacity; the SDK's own
  retries are off, so they never stack); in-flight de-duplication (identical requests await one future);
- an unreachable judge fails fast: a call that cannot connect (refused, DNS, `connect_timeout_s`) gets
  `connect_retries` short retries, a warning naming the URL at the first, then the endpoint is skipped for
  `unreachable_cooldown_s` and the configured fallback applies;
- quotas: a 429 whose wait is far longer than a step skips that endpoint until its reset (the others carry on);
  when every endpoint is spent, all calls stop until the earliest reset, said once, and the engine falls back to
  the rules judge or returns could-not-score (`quota_fallback`); `budget_calls` / `budget_tokens` cap a run the
  same way; it never loops on retries;
- a persistent SQLite cache (judge/cache.py) and a ledger (judge/ledger.py) of calls, tokens, cost and failures,
  per endpoint too.
Every evaluation ends in a Verdict or a JudgeError (could not score), never a made-up score.
Try it: python bench/engine_throughput.py --evaluations 200
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

from tenacity import AsyncRetrying, stop_never

from amr_grpo.judge.base import EvalRequest, Judge, JudgeError, Usage
from amr_grpo.judge.cache import VerdictCache, cache_key
from amr_grpo.judge.config import Endpoint, JudgeConfig
from amr_grpo.judge.ledger import Ledger
from amr_grpo.judge.meter import Meter, RetryPolicy
from amr_grpo.metrics import rubric_version
from amr_grpo.records import Verdict

__all__ = ["JudgeConfig", "JudgeEngine"]
STOPPING = ("quota_exhausted", "budget_exhausted", "unreachable")  # the configured fallback applies
Outcome = Verdict | JudgeError


class JudgeEngine:
    """`await score(req)` -> Verdict (raises JudgeError); `await score_many(reqs, group=...)` -> one
    Verdict or JudgeError per request."""

    def __init__(self, judge: Judge, settings: JudgeConfig | None = None, fallback: Judge | None = None):
        self.judge = judge
        self.cfg = settings or JudgeConfig(backend=judge.backend)  # type: ignore[arg-type]
        ledger = Ledger(judge.backend, judge.model, self.cfg.price_per_1k_prompt, self.cfg.price_per_1k_completion)
        self.meter = Meter(self.cfg, ledger, self._endpoints(), judge.backend)  # first: a config error raises
        self.cache = VerdictCache(self.cfg.cache_path) if self.cfg.cache_path and judge.backend != "rules" else None
        self._fallback = fallback
        self._tag = getattr(judge, "cache_tag", "")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._inflight: dict[str, asyncio.Future] = {}
        self._metered = hasattr(judge, "meter")
        if self._metered:
            judge.meter = self.meter

    @property
    def ledger(self) -> Ledger:
        """What this engine spent; `engine.ledger.merge(Ledger.load(path))` continues an earlier run's counts."""
        return self.meter.ledger

    @ledger.setter
    def ledger(self, value: Ledger) -> None:  # a ledger put in its place is the one every call is counted in
        self.meter.ledger = value

    def _endpoints(self) -> list[Endpoint]:
        """The judge's endpoints with their quotas (the LLM half's for hybrid), or one for a judge without them."""
        own = getattr(self.judge, "endpoints", None) or getattr(getattr(self.judge, "llm", None), "endpoints", None)
        if own:
            return dataclasses.replace(self.cfg, endpoints=list(own)).resolved_endpoints()
        c = self.cfg
        return [Endpoint(self.judge.backend, getattr(self.judge, "base_url", "") or getattr(self.judge, "url", ""),
                         self.judge.model, None, c.rpm or 0, c.tpm or 0, c.daily_requests or 0, c.daily_tokens or 0)]

    # -- per event loop: asyncio primitives belong to one loop (TRL, the CLI and tests each run their own) ----
    def _bind(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop = loop
            self._sem = asyncio.Semaphore(max(1, self.cfg.concurrency))
            self.meter.bind()
            self._inflight = {}

    # -- retries -------------------------------------------------------------------------------------------
    async def _attempts(self, fn: Callable[[], Any]) -> Any:
        guard = 2 * self.cfg.timeout_s + 1  # an attempt may hold two calls (the bad-answer retry)
        policy = RetryPolicy(self.meter)
        retrying = AsyncRetrying(stop=stop_never, wait=policy.wait, retry=policy.retry, reraise=True)
        async for attempt in retrying:
            with attempt:
                if attempt.retry_state.attempt_number > 1:
                    self.ledger.retries += 1
                return await self._attempt(fn, guard)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def _attempt(self, fn: Callable[[], Any], guard: float) -> Any:
        # a judge without a meter (a plugin) makes one call per attempt: the engine meters it here
        metered = self._metered or self.judge.backend == "rules"
        endpoint = None if metered else await self.meter.before_call(0, 0)
        t0, error = time.perf_counter(), None
        try:
            return await asyncio.wait_for(fn(), guard)
        except TimeoutError:
            error = JudgeError("timeout", f"the judge did not answer within {guard:g} s")
            raise error from None
        except JudgeError as e:
            error = e
            raise
        finally:
            if not metered:
                self.meter.after_call(Usage(calls=1), time.perf_counter() - t0, error, endpoint)

    # -- scoring -------------------------------------------------------------------------------------------
    def key(self, req: EvalRequest) -> str:
        return cache_key(self.judge.backend, self.judge.model, self._tag, rubric_version(), req)

    async def _cached(self, key: str) -> Verdict | None:
        if self.cache is None:
            return None
        hit = await self.cache.aget(key)
        if hit is None:
            return None
        self.ledger.cache_hits += 1
        v = Verdict.from_dict(hit)
        v.cached = True
        return v

    async def _remember(self, key: str, v: Verdict) -> None:
        """Count a fresh verdict; cache it if the judge made it (a rules fallback must not stand in for the LLM's)."""
        if v.backend != self.judge.backend:
            self.ledger.fallbacks += 1
        elif self.cache is not None:
            await self.cache.aput(key, v.to_dict())

    async def _fallback_or_raise(self, e: JudgeError, req: EvalRequest) -> Verdict:
        if e.kind in STOPPING and self.cfg.quota_fallback == "rules" and self.judge.backend != "rules":
            return await self._rules().score(req)
        self.ledger.failures[e.kind] += 1
        raise e

    def _rules(self) -> Judge:
        if self._fallback is None:
            from amr_grpo.judge.rules import RulesJudge  # the case reader (spaCy): only when a fallback is due

            self._fallback = RulesJudge()
        return self._fallback

    async def _score_uncached(self, req: EvalRequest) -> Verdict:
        """One call of the judge (limits, retries, then the fallback), past the cache and the de-duplication."""
        t0 = time.perf_counter()
        async with self._sem:
            try:
                self.meter.raise_if_stopped()
                v = await self._attempts(lambda: self.judge.score(req))
            except JudgeError as e:
                v = await self._fallback_or_raise(e, req)
        self.ledger.eval_latency.add(time.perf_counter() - t0)
        return v

    async def score(self, req: EvalRequest) -> Verdict:
        """Score one completion (cache, de-dup, limits, retries, fallback); raise JudgeError if it cannot."""
        self._bind()
        self.ledger.evaluations += 1
        self.ledger.naive_calls += len(req.metrics)
        key = self.key(req)
        v = await self._cached(key)
        if v is None:
            v = await self._deduplicated(key, lambda: self._score_uncached(req))
        self.ledger.scored += 1
        return v

    async def _deduplicated(self, key: str, make: Callable[[], Any]) -> Verdict:
        """Run `make()` for `key` unless an identical request is in flight; then await that one."""
        running = self._inflight.get(key)
        if running is not None:
            self.ledger.dedup_hits += 1
            return await asyncio.shield(running)
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            v = await make()
            await self._remember(key, v)
            fut.set_result(v)
            return v
        except BaseException as e:
            fut.set_exception(e)
            fut.exception()  # mark retrieved: no "never retrieved" warning when nobody else waited
            raise
        finally:
            self._inflight.pop(key, None)

    async def score_many(
        self,
        reqs: Sequence[EvalRequest],
        group: bool = False,
        progress: Callable[[int], None] | None = None,
        on_result: Callable[[int, Outcome], None] | None = None,
    ) -> list[Outcome]:
        """Score all; each item a Verdict or the JudgeError that stopped it, in input order.

        group=True (and a judge with score_group): completions of the same case, ground truth and metrics share
        one call, `group_size` at most. `on_result(index, outcome)` is called as each one finishes (to write it
        out at once), `progress(n)` with how many just finished."""
        self._bind()

        def done(i: int, outcome: Outcome) -> None:
            if on_result is not None:
                on_result(i, outcome)

        async def one(i: int, req: EvalRequest) -> Outcome:
            try:
                outcome: Outcome = await self.score(req)
            except JudgeError as e:
                outcome = e
            done(i, outcome)
            if progress is not None:
                progress(1)
            return outcome

        if not (group and hasattr(self.judge, "score_group")):
            return list(await asyncio.gather(*(one(i, r) for i, r in enumerate(reqs))))
        out: list[Outcome | None] = [None] * len(reqs)
        groups: dict[str, list[int]] = {}
        for i, r in enumerate(reqs):
            gkey = cache_key("group", "", "", "", EvalRequest(r.patient_case, "", r.ground_truth, r.metrics))
            groups.setdefault(gkey, []).append(i)
        chunks = [
            ix[j : j + max(1, self.cfg.group_size)]
            for ix in groups.values()
            for j in range(0, len(ix), max(1, self.cfg.group_size))
        ]

        async def run(ix: list[int]) -> None:
            results = await self._score_group([reqs[i] for i in ix])
            for i, res in zip(ix, results, strict=True):
                out[i] = res
                done(i, res)
            if progress is not None:
                progress(len(ix))

        await asyncio.gather(*(run(ix) for ix in chunks))
        return [o if o is not None else JudgeError("server_error", "not scored") for o in out]

    async def _score_group(self, reqs: list[EvalRequest]) -> list[Outcome]:
        """One call for the uncached, distinct completions of a case; per-completion scoring if the group fails."""
        self.ledger.evaluations += len(reqs)
        self.ledger.naive_calls += sum(len(r.metrics) for r in reqs)
        keys = [self.key(r) for r in reqs]
        done: dict[str, Outcome] = {}
        for k in dict.fromkeys(keys):
            hit = await self._cached(k)
            if hit is not None:
                done[k] = hit
        todo = [k for k in dict.fromkeys(keys) if k not in done and k not in self._inflight]
        if len(todo) >= 2:
            done.update(await self._group_call([reqs[keys.index(k)] for k in todo], todo))
        for k in dict.fromkeys(keys):
            if k not in done:  # a single one, one already in flight, or one the group call could not score
                r = reqs[keys.index(k)]
                try:
                    done[k] = await self._deduplicated(k, lambda r=r: self._score_uncached(r))
                except JudgeError as e:
                    done[k] = e
        self.ledger.dedup_hits += len(keys) - len(set(keys))
        out = [done[k] for k in keys]
        self.ledger.scored += sum(isinstance(o, Verdict) for o in out)
        return out

    async def _group_call(self, reqs: list[EvalRequest], keys: list[str]) -> dict[str, Outcome]:
        loop = asyncio.get_running_loop()
        futs = {k: loop.create_future() for k in keys}
        self._inflight.update(futs)
        t0 = time.perf_counter()
        result: dict[str, Outcome] = {}
        try:
            try:
                async with self._sem:
                    self.meter.raise_if_stopped()
                    verdicts = await self._attempts(lambda: self.judge.score_group(reqs))  # type: ignore[attr-defined]
                self.ledger.group_calls += 1
                for k, v in zip(keys, verdicts, strict=True):
                    await self._remember(k, v)
                    result[k] = v
                    self.ledger.eval_latency.add(time.perf_counter() - t0)
            except JudgeError as e:
                # a group answer that did not validate: each completion on its own; else fall back or fail each
                alone = e.kind == "bad_answer"
                outcomes = await asyncio.gather(
                    *(
                        self._score_one_of_group(k, r) if alone else self._fallback_or_raise(e, r)
                        for k, r in zip(keys, reqs, strict=True)
                    ),
                    return_exceptions=True,
                )
                for k, o in zip(keys, outcomes, strict=True):
                    if not isinstance(o, (Verdict, JudgeError)):
                        raise o from e
                    if isinstance(o, Verdict) and not alone:
                        await self._remember(k, o)
                    result[k] = o
            return result
        finally:
            for k, f in futs.items():
                self._inflight.pop(k, None)
                o = result.get(k) or JudgeError("server_error", "the group call was interrupted")
                if isinstance(o, Verdict):
                    f.set_result(o)
                else:
                    f.set_exception(o)
                    f.exception()

    async def _score_one_of_group(self, key: str, req: EvalRequest) -> Verdict:
        """A completion of a group call whose answer did not validate, scored on its own and cached."""
        v = await self._score_uncached(req)
        await self._remember(key, v)
        return v

    async def aclose(self) -> None:
        for j in (self.judge, self._fallback):
            close = getattr(j, "aclose", None)
            if close is not None:
                await close()
        if self.cache is not None:
            self.cache.close()
            self.cache = None
