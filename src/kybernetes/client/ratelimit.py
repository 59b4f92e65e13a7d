"""Token buckets and backoff: the two timing primitives the client is built from.

`TokenBucket` is Go's `golang.org/x/time/rate.Limiter` in its reservation form: a request
takes a token *now*, possibly driving the balance negative, and is told how long to wait
before it may proceed. Reserving up front (instead of looping "sleep, then try again")
keeps callers first-come first-served and costs one arithmetic update per call, with no
lock: everything runs on one event loop. It serves the `ApiClient`'s QPS/burst limit, the
work queue's overall bucket, and the event recorder's per-object spam filter.

`Backoff` is client-go's `wait.Backoff`/`BackoffManager` for retry loops (informer relists,
leader election, event writes): exponential growth with jitter, capped, and reset after a
quiet period so that one old failure does not slow the next one down.

Both take a `clock` so tests can drive them without sleeping.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

Clock = Callable[[], float]


class TokenBucket:
    """`qps` tokens per second, at most `burst` saved up; starts full.

    `qps <= 0` means unlimited: every reservation is free.
    """

    __slots__ = ("_clock", "_last", "_tokens", "burst", "qps")

    def __init__(self, qps: float, burst: int, *, clock: Clock = time.monotonic) -> None:
        if burst < 1 and qps > 0:
            raise ValueError("burst must be at least 1")
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()

    @property
    def unlimited(self) -> bool:
        return self.qps <= 0

    def _refill(self) -> float:
        now = self._clock()
        elapsed = now - self._last
        if elapsed > 0:
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.qps)
            self._last = now
        return now

    def reserve(self) -> float:
        """Take one token; return the seconds to wait before using it (0: go now)."""
        if self.qps <= 0:
            return 0.0
        self._refill()
        self._tokens -= 1.0
        if self._tokens >= 0:
            return 0.0
        return -self._tokens / self.qps

    def try_take(self) -> bool:
        """Take a token only if one is available now."""
        if self.qps <= 0:
            return True
        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    async def acquire(self) -> None:
        """Wait for a token."""
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)

    @property
    def tokens(self) -> float:
        """Tokens available now (negative while reservations are outstanding)."""
        if self.qps > 0:
            self._refill()
        return self._tokens


class Backoff:
    """Exponential backoff: `initial`, times `factor` per failure, up to `cap`, with up to
    `jitter` (a fraction) added; back to `initial` after `reset_after` seconds without a
    failure (client-go's reflector uses 800ms..30s, reset after 2 minutes)."""

    def __init__(self, initial: float = 0.8, cap: float = 30.0, *, factor: float = 2.0,
                 jitter: float = 1.0, reset_after: float = 120.0,
                 clock: Clock = time.monotonic, rng: random.Random | None = None) -> None:
        self.initial = initial
        self.cap = cap
        self.factor = factor
        self.jitter = jitter
        self.reset_after = reset_after
        self._clock = clock
        self._rng = rng or random.Random()
        self._current = 0.0
        self._last_failure = -float("inf")

    def next(self) -> float:
        """Record a failure; return how long to wait before retrying."""
        now = self._clock()
        if now - self._last_failure > self.reset_after:
            self._current = 0.0
        self._last_failure = now
        self._current = self.initial if self._current == 0 else min(
            self.cap, self._current * self.factor)
        return self._current * (1 + self._rng.random() * self.jitter)

    def reset(self) -> None:
        self._current = 0.0
        self._last_failure = -float("inf")

    async def sleep(self) -> None:
        await asyncio.sleep(self.next())
