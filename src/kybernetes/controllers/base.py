"""The shape every controller shares: informers -> keys -> work queue -> idempotent sync.

This is `pkg/controller/replicaset/replica_set.go`'s skeleton, once:

- **Handlers enqueue, nothing more.** `QueueController.watch` registers informer handlers
  that compute a key and add it to the controller's `RateLimitingQueue`. The queue dedups
  keys and never hands one key to two workers at once, so a burst of events for one object
  costs one sync.
- **`sync(key)` is idempotent** and reads the current state (the informer cache, or a live
  GET where upstream does one), never the event that caused it. It reports failure by
  raising: the key is retried with the queue's rate limiter (per-key exponential backoff
  and an overall bucket). Raising `Requeue` asks for another pass without it being an error
  (`after` seconds later, or rate limited), as upstream's "requeue" results do.
- **N workers** (`run_workers`) pop keys concurrently; distinct keys proceed in parallel.
- **Start** waits until every handler registration has received its informer's initial
  contents (so the queue holds the whole initial state) before the workers start, as
  `cache.WaitForNamedCacheSync` does.
- **Clean shutdown**: cancelling `run` shuts the queue down and cancels the workers;
  a sync interrupted mid-way is harmless because syncs are idempotent. Informers belong to
  the shared factory and are stopped by whoever owns it (the manager).
- **One run per instance**: a controller object is one incarnation. Once its `run` has
  ended its queue is shut for good, so running it again is refused loudly; to restart a
  controller the manager calls `release` (its handlers leave the shared informers) and
  builds a new one, which gets a fresh queue and, from its new handler registrations, the
  informers' whole current contents again (upstream restarts the process instead).

A `ControllerContext` is what the manager hands every controller: the `ApiClient`, the one
`SharedInformerFactory` of this process, and shared `Discovery`.
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ClassVar

from kybernetes.client import (
    ApiClient,
    ClientError,
    ConflictError,
    Informer,
    RateLimitingQueue,
    SharedInformerFactory,
    ShutDown,
    meta_namespace_key,
    wait_for_cache_sync,
)
from kybernetes.client.informer import (
    AddHandler,
    DeleteHandler,
    HandlerRegistration,
    UpdateHandler,
)
from kybernetes.client.rest import Obj
from kybernetes.client.workqueue import RateLimiter
from kybernetes.controllers.discovery import Discovery

log = logging.getLogger(__name__)

# How often run() reports informers that have not synced yet.
_SYNC_REPORT_PERIOD = 30.0


class Requeue(Exception):
    """Raised by `sync` to have the key processed again without logging an error:
    after `after` seconds, or rate limited (per-key backoff) when `after` is None."""

    def __init__(self, reason: str = "", *, after: float | None = None) -> None:
        super().__init__(reason)
        self.after = after


@dataclass(frozen=True, kw_only=True)
class ControllerContext:
    """What every controller of one manager shares."""

    client: ApiClient
    informers: SharedInformerFactory
    discovery: Discovery


class Controller(abc.ABC):
    """A reconcile loop the manager can run: `run` works until cancelled."""

    name: ClassVar[str]

    @abc.abstractmethod
    async def run(self) -> None:
        """Work until cancelled."""

    async def release(self) -> None:  # noqa: B027 - a hook, empty for handler-less ones
        """Remove this controller's handlers from the shared informers (after `run` has
        ended, before the manager builds a replacement). Nothing to do by default."""


class QueueController(Controller):
    """A controller with one work queue of string keys and `workers` workers."""

    def __init__(self, *, workers: int = 1, rate_limiter: RateLimiter[str] | None = None
                 ) -> None:
        if workers < 1:
            raise ValueError(f"{self.name}: workers must be at least 1")
        self.workers = workers
        self.queue: RateLimitingQueue[str] = RateLimitingQueue(rate_limiter, name=self.name)
        self._watched: list[tuple[Informer, HandlerRegistration]] = []

    def watch(self, informer: Informer, *, on_add: AddHandler | None = None,
              on_update: UpdateHandler | None = None,
              on_delete: DeleteHandler | None = None) -> HandlerRegistration:
        """Register handlers on a (shared) informer; `run` waits for them to sync."""
        registration = informer.add_event_handler(
            on_add, on_update, on_delete, name=f"{self.name}:{informer.name}")
        self._watched.append((informer, registration))
        return registration

    async def release(self) -> None:
        watched, self._watched = self._watched, []
        for informer, registration in watched:
            await informer.remove_event_handler(registration)

    def enqueue(self, key: str) -> None:
        self.queue.add(key)

    def enqueue_object(self, obj: Obj) -> None:
        self.queue.add(meta_namespace_key(obj))

    @abc.abstractmethod
    async def sync(self, key: str) -> None:
        """Reconcile one key; raise to retry it (rate limited), `Requeue` to look again."""

    async def wait_for_sync(self) -> None:
        """Until every registration has seen its informer's initial contents."""
        registrations = [registration for _, registration in self._watched]
        while not await wait_for_cache_sync(*registrations, timeout=_SYNC_REPORT_PERIOD):
            waiting = [r.name for r in registrations if not r.has_synced]
            log.info("%s: waiting for caches to sync: %s", self.name, ", ".join(waiting))

    async def run(self) -> None:
        if self.queue.shutting_down:
            raise RuntimeError(f"{self.name}: this controller has run and stopped; "
                               "build a new one to run it again")
        await self.wait_for_sync()
        log.info("%s: caches synced, starting %d worker(s)", self.name, self.workers)
        await run_workers(self.queue, self.sync, self.workers, name=self.name)


# ----------------------------------------------------------------------------- workers


async def process_queue(queue: RateLimitingQueue[str],
                        sync: Callable[[str], Awaitable[None]], *, name: str) -> None:
    """One worker: take a key, sync it, forget it on success, retry it on failure.
    Returns when the queue is shut down and empty."""
    while True:
        try:
            key = await queue.get()
        except ShutDown:
            return
        try:
            await sync(key)
        except asyncio.CancelledError:
            queue.done(key)
            raise
        except Requeue as again:
            if again.after is None:
                queue.add_rate_limited(key)
            else:
                queue.add_after(key, again.after)
            log.debug("%s: requeued %r: %s", name, key, again)
        except ConflictError as err:
            # Lost an optimistic-concurrency race: normal, retry quietly.
            log.debug("%s: conflict syncing %r (will retry): %s", name, key, err)
            queue.add_rate_limited(key)
        except ClientError as err:
            log.warning("%s: error syncing %r (will retry): %s", name, key, err)
            queue.add_rate_limited(key)
        except Exception:
            log.exception("%s: unexpected error syncing %r (will retry)", name, key)
            queue.add_rate_limited(key)
        else:
            queue.forget(key)
        queue.done(key)


async def run_workers(queue: RateLimitingQueue[str], sync: Callable[[str], Awaitable[None]],
                      count: int, *, name: str) -> None:
    """`count` workers on `queue` until cancelled (or the queue is shut down). On the way
    out the queue is shut down and every worker is cancelled and awaited."""
    tasks = [asyncio.create_task(process_queue(queue, sync, name=name),
                                 name=f"{name}:worker-{i}") for i in range(count)]
    try:
        await asyncio.gather(*tasks)
    finally:
        queue.shutdown()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
