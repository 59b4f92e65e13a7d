"""The TTL-after-finished controller: upstream's
`pkg/controller/ttlafterfinished/ttlafterfinished_controller.go`.

A finished Job (condition `Complete` or `Failed`) with `spec.ttlSecondsAfterFinished` is
deleted that many seconds after it finished (the condition's `lastTransitionTime`). Jobs
are queued on add and update when they need cleaning up; a sync whose Job has not
expired yet requeues it for the moment it does. Before deleting, the Job is read afresh
(the cache may be stale, or the TTL just changed) and checked again; the delete uses
foreground propagation (its pods go first) with the uid as precondition, as upstream's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar

from kybernetes.api import timeutil
from kybernetes.client import NotFoundError, Preconditions, resource, split_key
from kybernetes.client.rest import Obj
from kybernetes.controllers.base import ControllerContext, QueueController

log = logging.getLogger(__name__)

JOBS = resource("batch", "v1", "jobs")
DEFAULT_WORKERS = 5  # --concurrent-ttl-after-finished-syncs


def _finish_time(job: Obj) -> datetime | None:
    for cond in (job.get("status") or {}).get("conditions") or ():
        if isinstance(cond, dict) and cond.get("type") in ("Complete", "Failed") and \
                cond.get("status") == "True":
            return timeutil.parse_time(cond.get("lastTransitionTime"))
    return None


def needs_cleanup(job: Obj) -> bool:
    return (job.get("spec") or {}).get("ttlSecondsAfterFinished") is not None and \
        _finish_time(job) is not None


def time_left(job: Obj, now: datetime) -> float | None:
    """Seconds until the Job expires (<= 0: expired), None when it needs no cleanup."""
    if not needs_cleanup(job):
        return None
    finished = _finish_time(job)
    assert finished is not None
    if finished > now:
        log.info("warning: found Job %s finished in the future; clock skew?",
                 (job.get("metadata") or {}).get("name"))
    ttl = int((job.get("spec") or {})["ttlSecondsAfterFinished"])
    return ttl - (now - finished).total_seconds()


class TTLAfterFinishedController(QueueController):
    name: ClassVar[str] = "ttl-after-finished-controller"

    def __init__(self, ctx: ControllerContext, *, workers: int = DEFAULT_WORKERS,
                 clock: Callable[[], datetime] = timeutil.now) -> None:
        super().__init__(workers=workers)
        self.client = ctx.client
        self.clock = clock
        self.jobs = ctx.informers.informer(JOBS)
        self.watch(self.jobs, on_add=self._maybe_enqueue,
                   on_update=lambda _old, new: self._maybe_enqueue(new))

    def _maybe_enqueue(self, job: Obj) -> None:
        if not (job.get("metadata") or {}).get("deletionTimestamp") and needs_cleanup(job):
            self.enqueue_object(job)

    async def sync(self, key: str) -> None:
        job = self.jobs.store.get(key)
        if job is None or not self._expired(key, job):
            return
        namespace, name = split_key(key)
        try:
            fresh = await self.client.get(JOBS, name, namespace)
        except NotFoundError:
            return
        if not self._expired(key, fresh):
            return
        meta: dict[str, Any] = fresh.get("metadata") or {}
        log.info("%s: cleaning up Job %s", self.name, key)
        try:
            await self.client.delete(JOBS, name, namespace, propagation_policy="Foreground",
                                     preconditions=Preconditions(uid=meta.get("uid")))
        except NotFoundError:
            return

    def _expired(self, key: str, job: Obj) -> bool:
        """Whether `job` is due for deletion now; requeues it for later if not yet."""
        if (job.get("metadata") or {}).get("deletionTimestamp"):
            return False
        left = time_left(job, self.clock())
        if left is None:
            return False
        if left > 0:
            self.queue.add_after(key, left)
            return False
        return True
