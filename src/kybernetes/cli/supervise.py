"""The components `kyb server` runs beside its API server never stop silently.

Upstream's scheduler and controller manager exit when they lose their lease and rely on a
process supervisor to start them again; inside one `kyb server` process that supervisor is
`Supervised`: a component whose run returns (a lost lease) or fails is logged (with its
traceback) and started afresh after a backoff, and the API server's `/livez` reports it
failed until it runs again, so a stuck component is visible rather than a process that
looks healthy and does nothing. A component that keeps ending (`max_failures` times within
`failure_window` seconds) is not restarted again: `run` raises `ComponentFailed`, and
`kyb server` stops with that message and a non-zero exit, for systemd (or whoever started
it) to start the whole process afresh, as k3s does when one of its components dies.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable

from kybernetes.client import Backoff

log = logging.getLogger("kyb")

# A run at least this long resets the restart backoff.
_STABLE_RUN = 60.0
MAX_FAILURES = 5
FAILURE_WINDOW = 300.0


class ComponentFailed(Exception):
    """A supervised component kept ending: the process should stop."""


class Supervised:
    def __init__(self, name: str, start: Callable[[], Awaitable[None]], *,
                 backoff: Backoff | None = None, max_failures: int = MAX_FAILURES,
                 failure_window: float = FAILURE_WINDOW) -> None:
        self.name = name
        self.start = start
        self.backoff = backoff or Backoff(0.5, 30.0, jitter=0.5)
        self.max_failures = max_failures
        self.failure_window = failure_window
        self.problem: str | None = "not started yet"
        self._failures: collections.deque[float] = collections.deque()

    def check(self) -> str | None:
        """None while the component runs; otherwise why it does not."""
        return self.problem

    async def run(self) -> None:
        """Run the component until cancelled, restarting it whenever it ends; raise
        `ComponentFailed` once it has ended `max_failures` times within the window."""
        while True:
            self.problem = None
            started = time.monotonic()
            try:
                await self.start()
                self.problem = "stopped (leadership lost)"
                log.error("%s stopped", self.name)
            except asyncio.CancelledError:
                raise
            except Exception as err:
                self.problem = f"failed ({err})"
                log.exception("%s failed", self.name)
            now = time.monotonic()
            if now - started >= _STABLE_RUN:
                self.backoff.reset()
            self._failures.append(now)
            while self._failures and now - self._failures[0] > self.failure_window:
                self._failures.popleft()
            if len(self._failures) >= self.max_failures:
                raise ComponentFailed(
                    f"{self.name} ended {len(self._failures)} times within "
                    f"{self.failure_window:.0f}s (last: {self.problem}); giving up")
            delay = self.backoff.next()
            log.error("%s: starting it again in %.1fs", self.name, delay)
            self.problem += "; restarting"
            await asyncio.sleep(delay)
