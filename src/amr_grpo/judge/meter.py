"""The CallMeter a JudgeEngine plugs into its judge: what happens around every model call.

Before a call: the run's budget (calls, tokens; calls in flight count at their estimate), the choice of endpoint
(judge/endpoints.py) and its minute limiters. After it: the ledger (per endpoint too), and what the error says about
the endpoint: a spent quota skips it until its reset; a call that could not connect warns once (naming the URL) and,
after `connect_retries + 1` in a row, skips it for `unreachable_cooldown_s`. When no endpoint is left, or the budget is
spent, every call stops until the earliest reset, said once in the log and the ledger's notes. RetryPolicy is the
engine's retry rule for one evaluation, which reads the same state.
Try it: .venv/bin/pytest tests/judge/test_endpoints.py
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections import Counter

from tenacity import RetryCallState

from amr_grpo.judge.base import JudgeError, Usage
from amr_grpo.judge.config import Endpoint, JudgeConfig
from amr_grpo.judge.endpoints import EndpointPool, clock_time
from amr_grpo.judge.ledger import EndpointLedger, Ledger

log = logging.getLogger("amr_grpo.judge")
RETRYABLE = ("rate_limited", "server_error", "timeout")
CONNECT_BACKOFF_S = 0.5  # first wait before retrying a call that could not connect; doubles, with jitter


class Meter:
    """Budgets, endpoints and stops of one JudgeEngine (its judge's `meter`; see the module doc)."""

    def __init__(self, cfg: JudgeConfig, ledger: Ledger, endpoints: list[Endpoint], backend: str):
        self.cfg, self.ledger, self.backend = cfg, ledger, backend
        self.pool = EndpointPool(endpoints)
        if backend != "rules":
            for st in self.pool.states:
                self._endpoint_ledger(st.spec.name)
        self.stop_until = 0.0  # monotonic time before which no call is made (quota or budget spent)
        self.stop_kind = ""
        self._pending_calls = 0  # calls started and not yet recorded in the ledger
        self._pending_tokens = 0  # their estimated tokens

    def bind(self) -> None:
        self.pool.bind()

    def _endpoint_ledger(self, name: str) -> EndpointLedger:
        spec = next(st.spec for st in self.pool.states if st.spec.name == name)
        return self.ledger.endpoints.setdefault(name, EndpointLedger(str(spec.base_url or ""), str(spec.model)))

    async def before_call(self, prompt_tokens: int, completion_tokens: int) -> int:
        """Stop if the quota or budget is spent (counting calls in flight at their estimate), pick the endpoint,
        wait its limiters; return its index."""
        self.raise_if_stopped()
        cfg, led, tokens = self.cfg, self.ledger, prompt_tokens + completion_tokens
        if cfg.budget_calls and led.calls + self._pending_calls >= cfg.budget_calls:
            raise self._stop("budget_exhausted", math.inf, f"the call budget ({cfg.budget_calls} calls) is spent")
        spent = led.prompt_tokens + led.completion_tokens + self._pending_tokens
        if cfg.budget_tokens and spent + tokens > cfg.budget_tokens:
            raise self._stop("budget_exhausted", math.inf, f"the token budget ({cfg.budget_tokens} tokens) is spent")
        i = self.pool.pick(tokens)
        if i is None:
            raise self._all_skipped()
        st = self.pool.start(i, tokens)
        self._pending_calls += 1
        self._pending_tokens += tokens
        try:
            if st.rpm_limiter is not None:
                await st.rpm_limiter.acquire()
            if st.tpm_limiter is not None:
                await st.tpm_limiter.acquire(min(tokens, st.tpm_limiter.max_rate))
        except BaseException:  # cancelled while waiting (a timeout): no call was made
            self._pending_calls -= 1
            self._pending_tokens -= tokens
            self.pool.finish(i, tokens, 0)
            st.day_calls -= 1
            st.day_tokens -= tokens
            raise
        return i

    def after_call(self, usage: Usage, latency_s: float, error: JudgeError | None, endpoint: int | None = None) -> None:
        i = endpoint or 0
        estimated = int(usage.extra.get("estimated_tokens", 0))
        self._pending_calls -= 1
        self._pending_tokens -= estimated
        st = self.pool.states[i]
        self.pool.finish(i, estimated, usage.prompt_tokens + usage.completion_tokens)
        name = st.spec.name if self.backend != "rules" else ""
        self.ledger.record_call(usage, latency_s, error.kind if error else None, endpoint=name)
        if error is None:
            st.connect_failures = 0
            if name and self._endpoint_ledger(name).state != "ok":  # it answers again (after its reset)
                self._endpoint_ledger(name).state = "ok"
        elif error.kind == "quota_exhausted":
            wait = error.retry_after if error.retry_after is not None else math.inf
            self._skip(i, "quota_exhausted", wait, str(error))
        elif error.kind == "unreachable":
            self._unreachable(i, error)

    def _unreachable(self, i: int, error: JudgeError) -> None:
        st, cfg = self.pool.states[i], self.cfg
        st.connect_failures += 1
        if st.connect_failures == 1 and cfg.connect_retries > 0:  # say it at the first retry, once per outage
            within = CONNECT_BACKOFF_S * (2**cfg.connect_retries - 1) + cfg.connect_retries * cfg.connect_timeout_s
            then = "the other endpoints" if len(self.pool.states) > 1 else self._then()
            message = f"judge: {error}; retrying {cfg.connect_retries} more times (within {within:g} s), then {then}"
            log.warning(message)
            self.ledger.note(message)
        if st.connect_failures > cfg.connect_retries:
            self._skip(i, "unreachable", cfg.unreachable_cooldown_s, str(error))

    def _skip(self, i: int, kind: str, wait_s: float, reason: str) -> None:
        """Skip endpoint i for `wait_s`; when no endpoint is left, stop all calls (said once)."""
        st = self.pool.states[i]
        self.pool.skip(i, kind, wait_s)
        if self.backend != "rules":
            self._endpoint_ledger(st.spec.name).state = st.state(time.monotonic())
        if kind == "quota_exhausted" and math.isfinite(wait_s):
            self.ledger.quota_exhausted_until = clock_time(wait_s)
        if self.pool.any_live():
            state = st.state(time.monotonic())
            message = f"judge endpoint {st.spec.name}: {reason}; {state}; the others take its calls"
            log.warning(message)
            self.ledger.note(message)
        elif not self.stopped():
            self._stop(kind, self.pool.next_live_in(), reason)

    def _all_skipped(self) -> JudgeError:
        """No endpoint can take this call now: stop until the first one can; the error to raise."""
        now = time.monotonic()
        states = self.pool.states
        down = {st.down_kind for st in states if st.down_until > now}
        kind = "unreachable" if down == {"unreachable"} else "quota_exhausted"
        reason = "; ".join(f"{st.spec.name}: {st.state(now)}" for st in states)
        if all(st.down_until <= now for st in states):
            reason = f"the daily quota of every endpoint is spent ({reason})"
        return self._stop(kind, self.pool.next_live_in(), reason)

    def _then(self) -> str:
        rules = self.cfg.quota_fallback == "rules" and self.backend != "rules"
        return "falling back to the rules judge" if rules else "returning could-not-score"

    def stopped(self) -> bool:
        return bool(self.stop_until) and time.monotonic() < self.stop_until

    def raise_if_stopped(self) -> None:
        if self.stopped():
            raise JudgeError(
                self.stop_kind, f"the judge is stopped: {self.stop_kind.replace('_', ' ')}", self._retry_after_left()
            )
        self.stop_until = 0.0

    def _retry_after_left(self) -> float | None:
        left = self.stop_until - time.monotonic()
        return left if math.isfinite(left) else None

    def _stop(self, kind: str, wait_s: float, reason: str) -> JudgeError:
        """Stop every call for `wait_s` (said once per stop); the error a call refused now gets."""
        if not self.stopped():  # say it once per stop
            if math.isfinite(wait_s):
                reset = clock_time(wait_s)
                if kind == "quota_exhausted":
                    self.ledger.quota_exhausted_until = reset
                when = f"no more judge calls until {reset}"
            else:
                when = "no more judge calls this run"
            message = f"judge {kind.replace('_', ' ')}: {reason}; {when}; {self._then()}"
            log.warning(message)
            self.ledger.note(message)
        self.stop_until = time.monotonic() + wait_s
        self.stop_kind = kind
        return JudgeError(kind, reason, None if not math.isfinite(wait_s) else wait_s)


class RetryPolicy:
    """The retry policy of one evaluation (tenacity's retry/wait hooks): failed calls (429, 5xx, timeout) get
    `max_retries` with backoff; calls that could not connect get `connect_retries` short ones; a spent or
    unreachable endpoint with another one live is retried at once on that other one."""

    def __init__(self, meter: Meter):
        self.meter, self.tries, self.last = meter, Counter[str](), ""

    def retry(self, state: RetryCallState) -> bool:
        e = state.outcome.exception() if state.outcome else None
        kind = e.kind if isinstance(e, JudgeError) else ""
        eng, cfg = self.meter, self.meter.cfg
        if not kind or eng.stopped():
            return False
        if kind in ("quota_exhausted", "unreachable") and eng.pool.any_live() and len(eng.pool.states) > 1:
            self.last, limit = "switch", len(eng.pool.states) - 1
        elif kind == "unreachable":
            self.last, limit = "connect", cfg.connect_retries
        elif kind in RETRYABLE:
            self.last, limit = "call", cfg.max_retries
        else:
            return False
        self.tries[self.last] += 1
        return self.tries[self.last] <= limit

    def wait(self, state: RetryCallState) -> float:
        n, cfg = self.tries[self.last], self.meter.cfg
        if self.last == "switch":
            return 0.0
        if self.last == "connect":
            return CONNECT_BACKOFF_S * 2 ** (n - 1) * (0.5 + random.random() / 2)
        after = getattr(state.outcome.exception() if state.outcome else None, "retry_after", None)
        if after is not None:  # the provider said how long: that, plus up to 10% jitter so callers spread out
            return after * (1 + 0.1 * random.random())
        return min(cfg.backoff_max_s, cfg.backoff_s * 2 ** (n - 1)) * (0.5 + random.random() / 2)
