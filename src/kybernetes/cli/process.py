"""How a long-running `kyb` command runs its work: on uvloop, until SIGTERM or SIGINT.

The signal cancels the work task, so each component stops through its own `finally`
blocks (releasing leases, closing clients) and the command exits 0. uvloop is imported
only when the command runs, so `kyb --help` stays fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Coroutine
from typing import Any


def run_until_signal(work: Coroutine[Any, Any, None]) -> None:
    """Run `work` to its end, or until a signal cancels it; its errors are raised."""

    async def main() -> None:
        task = asyncio.create_task(work)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    import uvloop

    uvloop.run(main())
