"""How long the event loop was held: every component of `kyb server` shares one loop, so a
request that computes for a second stalls them all. `LoopMonitor` wakes every `interval`
and records by how much it woke late; `/metrics` exports the longest stall seen
(`kybernetes_event_loop_max_stall_seconds`) and the fuzzing benchmark reports it.
"""

from __future__ import annotations

import asyncio


class LoopMonitor:
    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.max_stall = 0.0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self.interval)
            late = loop.time() - before - self.interval
            if late > self.max_stall:
                self.max_stall = late
