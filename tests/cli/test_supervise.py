"""`kyb server`'s components are restarted when they end, and reported down meanwhile."""

from __future__ import annotations

import asyncio

from kybernetes.cli.supervise import Supervised
from kybernetes.client import Backoff, LeadershipLost


async def test_a_component_that_ends_is_reported_and_started_again() -> None:
    runs = 0
    released = asyncio.Event()
    running = asyncio.Event()

    async def component() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            await released.wait()
            raise LeadershipLost("leader election lost")
        if runs == 2:
            return  # returning is ending too
        running.set()
        await asyncio.Event().wait()

    supervised = Supervised("scheduler", component, backoff=Backoff(0.05, 0.1, factor=1.0))
    task = asyncio.create_task(supervised.run())
    try:
        await asyncio.sleep(0)
        assert supervised.check() is None
        released.set()
        await asyncio.sleep(0.01)
        problem = supervised.check()
        assert problem is not None and "leader election lost" in problem
        await asyncio.wait_for(running.wait(), 5)
        assert runs == 3
        assert supervised.check() is None
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
