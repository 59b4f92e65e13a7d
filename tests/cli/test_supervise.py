"""`kyb server`'s components are restarted when they end, and reported down meanwhile;
one that keeps ending gives up with `ComponentFailed` (the process then exits non-zero)."""

from __future__ import annotations

import asyncio

import pytest

from kybernetes.cli.supervise import ComponentFailed, Supervised
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


async def test_a_component_that_keeps_failing_takes_the_process_down() -> None:
    runs = 0

    async def component() -> None:
        nonlocal runs
        runs += 1
        raise RuntimeError(f"injected failure {runs}")

    supervised = Supervised("scheduler", component, backoff=Backoff(0.001, 0.001),
                            max_failures=3, failure_window=60.0)
    with pytest.raises(ComponentFailed, match=r"scheduler ended 3 times within 60s "
                                              r"\(last: failed \(injected failure 3\)\)"):
        await asyncio.wait_for(supervised.run(), 10)
    assert runs == 3
    assert supervised.check() == "failed (injected failure 3)"


async def test_failures_outside_the_window_are_forgotten() -> None:
    runs = 0
    done = asyncio.Event()

    async def component() -> None:
        nonlocal runs
        runs += 1
        if runs == 4:
            done.set()
            await asyncio.Event().wait()
        raise RuntimeError("injected")

    # A window shorter than the backoff: no two failures are ever in it together.
    supervised = Supervised("dns", component, backoff=Backoff(0.02, 0.02, jitter=0.0),
                            max_failures=2, failure_window=0.01)
    task = asyncio.create_task(supervised.run())
    try:
        await asyncio.wait_for(done.wait(), 10)
        assert not task.done()
        assert supervised.check() is None
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
