"""One worker per pod: syncs never overlap for a pod, and run in parallel across pods.

Upstream's pkg/kubelet/pod_workers.go, reduced to its guarantees:

- `wake(uid)` asks for a sync of that pod; wakes that arrive while a sync runs fold into one
  more sync after it (never two at once for one pod, never lost).
- A sync returns when it wants to run again: a number of seconds (a periodic resync, or
  the end of a back-off), `None` for "only when woken", or `DONE` when the pod is finished
  here (removed from the runtime), which ends its worker.
- A sync that raises is logged and retried after `retry_after` seconds.
- `stop()` cancels every worker (the kubelet is shutting down; containers keep running).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Final

log = logging.getLogger(__name__)


class _Done:
    pass


DONE: Final = _Done()
SyncOutcome = float | None | _Done
SyncFunc = Callable[[str], Awaitable[SyncOutcome]]


class PodWorkers:
    def __init__(self, sync: SyncFunc, *, retry_after: float = 2.0) -> None:
        self._sync = sync
        self.retry_after = retry_after
        self._wakeups: dict[str, asyncio.Event] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def __contains__(self, uid: str) -> bool:
        return uid in self._tasks

    def uids(self) -> list[str]:
        return list(self._tasks)

    def wake(self, uid: str) -> None:
        event = self._wakeups.get(uid)
        if event is None:
            event = self._wakeups[uid] = asyncio.Event()
            self._tasks[uid] = asyncio.create_task(self._work(uid, event),
                                                   name=f"pod-worker:{uid}")
        event.set()

    async def _work(self, uid: str, wakeup: asyncio.Event) -> None:
        try:
            while True:
                wakeup.clear()
                try:
                    outcome = await self._sync(uid)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("syncing pod %s failed; retrying in %.0fs", uid,
                                  self.retry_after)
                    outcome = self.retry_after
                if isinstance(outcome, _Done):
                    return
                if wakeup.is_set():
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wakeup.wait(), outcome)
        finally:
            if self._wakeups.get(uid) is wakeup:
                del self._wakeups[uid]
                del self._tasks[uid]

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
