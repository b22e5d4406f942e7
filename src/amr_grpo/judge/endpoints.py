"""The judge's endpoints as the JudgeEngine sees them: per-endpoint limiters, daily counters and down times, and the
choice of the endpoint that takes the next call.

Each endpoint (a key, a server: judge.endpoints in the config) has its own requests/min and tokens/min limiters and
counts its calls and tokens per day against its `rpd` / `tpd` quota. A call goes to a live endpoint (not spent, not
skipped) with room in its minute limiters, the one with the largest share of its daily quota left (fewest calls in
flight, then round robin, among equals); when none has room this minute, to the live one with the most quota left,
which then waits on its limiter. An endpoint is skipped until its reset when its daily counter is spent or the
provider says its quota is spent (a 429 with a long wait), and for `unreachable_cooldown_s` after it could not be
reached `connect_retries + 1` times in a row. When every endpoint is skipped, the engine applies the configured
fallback until the earliest reset.
Try it: .venv/bin/pytest tests/judge/test_endpoints.py
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aiolimiter import AsyncLimiter

from amr_grpo.judge.config import Endpoint

DAY_S = 86_400.0


def clock_time(seconds_from_now: float) -> str:
    """An ISO local time `seconds_from_now` ahead, to the second (what notes and the ledger show)."""
    return (datetime.now() + timedelta(seconds=seconds_from_now)).isoformat(timespec="seconds")


@dataclass
class EndpointState:
    spec: Endpoint
    day_start: float = 0.0  # monotonic start of the current day window (0: no call yet)
    day_calls: int = 0
    day_tokens: int = 0  # estimated at the call, corrected to the provider's count after it
    inflight: int = 0
    down_until: float = 0.0  # monotonic time before which the endpoint is skipped
    down_kind: str = ""  # quota_exhausted | unreachable
    connect_failures: int = 0  # calls in a row that could not connect
    rpm_limiter: AsyncLimiter | None = field(default=None, repr=False)
    tpm_limiter: AsyncLimiter | None = field(default=None, repr=False)

    def bind(self) -> None:
        """New limiters for the running event loop (an AsyncLimiter belongs to one loop)."""
        rpm, tpm = float(self.spec.rpm or 0), float(self.spec.tpm or 0)
        # requests: a one-second bucket (no minute-long burst), or one request per 60/rpm s below 60 rpm
        burst = max(1.0, rpm / 60)
        self.rpm_limiter = AsyncLimiter(burst, burst * 60 / rpm) if rpm > 0 else None
        self.tpm_limiter = AsyncLimiter(tpm, 60) if tpm > 0 else None

    def _roll_day(self, now: float) -> None:
        if self.day_start and now - self.day_start >= DAY_S:
            self.day_start, self.day_calls, self.day_tokens = 0.0, 0, 0

    def daily_spent(self, now: float, tokens: int) -> bool:
        self._roll_day(now)
        rpd, tpd = int(self.spec.rpd or 0), int(self.spec.tpd or 0)
        return bool((rpd and self.day_calls >= rpd) or (tpd and self.day_tokens + tokens > tpd))

    def live(self, now: float, tokens: int) -> bool:
        return self.down_until <= now and not self.daily_spent(now, tokens)

    def quota_left(self) -> float:
        """The smaller of the shares of the daily requests and tokens left (1.0 without daily quotas)."""
        rpd, tpd = int(self.spec.rpd or 0), int(self.spec.tpd or 0)
        left = [1 - self.day_calls / rpd] if rpd else []
        left += [1 - self.day_tokens / tpd] if tpd else []
        return min(left, default=1.0)

    def has_room(self, tokens: int) -> bool:
        rpm_ok = self.rpm_limiter is None or self.rpm_limiter.has_capacity()
        tpm_ok = self.tpm_limiter is None or self.tpm_limiter.has_capacity(min(tokens, self.tpm_limiter.max_rate))
        return rpm_ok and tpm_ok

    def live_in(self, now: float) -> float:
        """Seconds until this endpoint takes calls again (inf when the provider gave no reset time)."""
        waits = [self.down_until - now] if self.down_until > now else []
        if self.daily_spent(now, 0):
            waits.append(self.day_start + DAY_S - now)
        return max(waits, default=0.0)

    def state(self, now: float) -> str:
        wait = self.live_in(now)
        if wait <= 0:
            return "ok"
        when = "until the provider's reset" if math.isinf(wait) else f"until {clock_time(wait)}"
        if self.down_until > now:
            what = "unreachable" if self.down_kind == "unreachable" else "quota spent"
        else:
            what = "daily quota spent"
        return f"{what} {when}"


class EndpointPool:
    """The endpoints of one engine; `take(tokens)` picks one and counts the call against its day."""

    def __init__(self, endpoints: list[Endpoint]):
        self.states = [EndpointState(e) for e in endpoints]
        self._next = 0  # round robin among equals

    def bind(self) -> None:
        for s in self.states:
            s.bind()

    def pick(self, tokens: int) -> int | None:
        """The index of the endpoint for a call of `tokens` estimated tokens, or None when every one is skipped."""
        now = time.monotonic()
        n = len(self.states)
        if n == 1:  # the usual case: nothing to choose
            return 0 if self.states[0].live(now, tokens) else None
        order = [(self._next + k) % n for k in range(n)]
        live = [i for i in order if self.states[i].live(now, tokens)]
        if not live:
            return None
        ready = [i for i in live if self.states[i].has_room(tokens)] or live
        best = max(ready, key=lambda i: (round(self.states[i].quota_left(), 3), -self.states[i].inflight))
        self._next = (best + 1) % n
        return best

    def start(self, i: int, tokens: int) -> EndpointState:
        s = self.states[i]
        if not s.day_start:
            s.day_start = time.monotonic()
        s.day_calls += 1
        s.day_tokens += tokens
        s.inflight += 1
        return s

    def finish(self, i: int, estimated: int, actual: int) -> None:
        s = self.states[i]
        s.inflight -= 1
        s.day_tokens += actual - estimated if actual else 0

    def skip(self, i: int, kind: str, seconds: float) -> None:
        s = self.states[i]
        s.down_until, s.down_kind = time.monotonic() + seconds, kind

    def any_live(self) -> bool:
        now = time.monotonic()
        return any(s.live(now, 0) for s in self.states)

    def next_live_in(self) -> float:
        """Seconds until the first skipped endpoint takes calls again."""
        now = time.monotonic()
        return min((s.live_in(now) for s in self.states), default=0.0)
