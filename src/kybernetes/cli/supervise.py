"""The components `kyb server` runs beside its API server never stop silently.

Upstream's scheduler and controller manager exit when they lose their lease and rely on a
process supervisor to start them again; inside one `kyb server` process that supervisor is
`Supervised`: a component whose run returns (a lost lease) or fails is logged and started
afresh after a backoff, and the API server's `/livez` reports it failed until it runs again,
so a stuck component is visible rather than a process that looks healthy and does nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from kybernetes.client import Backoff

log = logging.getLogger("kyb")

# A run at least this long resets the restart backoff.
_STABLE_RUN = 60.0


class Supervised:
    def __init__(self, name: str, start: Callable[[], Awaitable[None]], *,
                 backoff: Backoff | None = None) -> None:
        self.name = name
        self.start = start
        self.backoff = backoff or Backoff(1.0, 30.0)
        self.problem: str | None = None

    def check(self) -> str | None:
        """None while the component runs; otherwise why it does not."""
        return self.problem

    async def run(self) -> None:
        """Run the component until cancelled, restarting it whenever it ends."""
        while True:
            self.problem = None
            started = time.monotonic()
            try:
                await self.start()
                self.problem = "stopped (leadership lost); restarting"
                log.error("%s stopped; starting it again", self.name)
            except asyncio.CancelledError:
                raise
            except Exception as err:
                self.problem = f"failed ({err}); restarting"
                log.exception("%s failed; starting it again", self.name)
            if time.monotonic() - started >= _STABLE_RUN:
                self.backoff.reset()
            await asyncio.sleep(self.backoff.next())
