"""API-key checks and per-key rate limiting for the evaluation service.

Keys are compared in constant time against every configured key; logs and limits see only a key id
(a SHA-256 prefix), never the key. The limiter is a token bucket per key id that reports how long to wait.
Try it: python -c "from amr_grpo.service.security import KeyRing; print(KeyRing(['s3cret']).identify('s3cret'))"
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Iterable


def key_id(key: str) -> str:
    """A short, stable, non-reversible name for a key (safe to log)."""
    return "k_" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:10]


class KeyRing:
    """The accepted API keys. `identify(candidate)` -> key id, or None when no key matches."""

    def __init__(self, keys: Iterable[str]):
        self._keys = [(k.encode("utf-8"), key_id(k)) for k in keys if k]

    def __len__(self) -> int:
        return len(self._keys)

    def identify(self, candidate: str | None) -> str | None:
        if not candidate:
            return None
        given = candidate.encode("utf-8")
        found = None
        for key, kid in self._keys:  # compare with every key, so timing says nothing about which matched
            if hmac.compare_digest(given, key):
                found = kid
        return found


class RateLimiter:
    """Token bucket per caller: `rate_per_minute` sustained, `burst` at once. rate 0 disables it."""

    _MAX_CALLERS = 10_000  # callers are key ids (or client hosts without auth); forget idle ones past this

    def __init__(self, rate_per_minute: float, burst: int, clock=time.monotonic):
        self.rate = rate_per_minute / 60.0  # tokens per second
        self.burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # caller -> (tokens, last update)

    def take(self, caller: str, cost: int = 1) -> float:
        """Spend `cost` tokens; return 0 if allowed, else the seconds to wait before it would be."""
        if self.rate <= 0:
            return 0.0
        cost_f = min(float(cost), self.burst)  # a request bigger than the burst would otherwise never pass
        now = self._clock()
        tokens, last = self._buckets.get(caller, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        allowed = tokens >= cost_f
        self._buckets[caller] = (tokens - cost_f if allowed else tokens, now)
        if len(self._buckets) > self._MAX_CALLERS:
            self._forget_idle(now)
        return 0.0 if allowed else (cost_f - tokens) / self.rate

    def _forget_idle(self, now: float) -> None:
        full = [c for c, (t, last) in self._buckets.items() if t + (now - last) * self.rate >= self.burst]
        for c in full:
            del self._buckets[c]


def retry_after_header(seconds: float) -> str:
    """Retry-After takes whole seconds; round up so a client that obeys it is not refused again."""
    return str(max(1, math.ceil(seconds)))
