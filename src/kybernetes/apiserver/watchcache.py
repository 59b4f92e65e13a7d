"""The API server's watch cache: every object in memory, and a window of recent events.

One storage watch on `/registry/` feeds it. Each object is decoded once (with its
`resourceVersion` set from the storage revision) and kept both as a dict, for selectors and
tables, and as JSON bytes, so that lists and watch events are assembled from ready bytes.
Lists wait until the cache has caught up with the storage's current revision, so they are as
fresh as a read from storage (upstream's consistent reads from cache). A watch from an
older revision replays the event window; one from before the window gets 410 Gone.

The storage watch reports progress too, so the cache's revision follows the storage's even
when the writes that moved it were to keys outside `/registry/` (another client of a shared
etcd), which bring no events: a read that finds the cache behind asks the storage for a
progress notification (rate-limited; etcd's WatchProgressRequest) after a short grace in
which the events of its own writes normally arrive. A read the cache cannot serve in time is
a clean Status: 504 for a resourceVersion the storage has not reached (upstream's "Too large
resource version"), 503 when the cache does not catch up with the storage.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
from collections import deque
from collections.abc import AsyncGenerator, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from kybernetes.api import errors
from kybernetes.storage.interface import (
    CompactedError,
    Event,
    KeyValue,
    Storage,
    StorageError,
    prefix_end,
)

log = logging.getLogger(__name__)

EventType = Literal["ADDED", "MODIFIED", "DELETED"]

# Events kept for watches that resume from an older resourceVersion.
DEFAULT_WINDOW = 100_000
# How long a read waits for the events of revisions it must see before asking the storage
# for progress, and how often it asks again while it waits.
PROGRESS_GRACE = 0.02
PROGRESS_INTERVAL = 0.25
# How long a read waits for the cache to reach the storage's revision (then 503), and for a
# resourceVersion beyond the storage's revision to come into being (then 504, as upstream).
FRESH_TIMEOUT = 10.0
TOO_LARGE_TIMEOUT = 3.0


@dataclass(frozen=True, slots=True)
class CachedObject:
    key: str
    obj: dict[str, Any]
    raw: bytes
    revision: int


@dataclass(frozen=True, slots=True)
class CacheEvent:
    type: EventType
    key: str
    revision: int
    current: CachedObject
    previous: CachedObject | None


def decode(kv: KeyValue, revision: int) -> CachedObject:
    """Decode a stored value and stamp its resourceVersion."""
    obj = orjson.loads(kv.value)
    obj.setdefault("metadata", {})["resourceVersion"] = str(revision)
    return CachedObject(kv.key, obj, orjson.dumps(obj), revision)


def _retrieve(future: asyncio.Future[int]) -> None:
    """Mark a shared future's exception as seen (its waiters may all have gone)."""
    if not future.cancelled():
        future.exception()


class TooOldError(Exception):
    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} ({oldest})")
        self.requested = requested
        self.oldest = oldest


class _Subscriber:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.queue: asyncio.Queue[CacheEvent | None] = asyncio.Queue()


class WatchCache:
    def __init__(self, storage: Storage, *, root: str = "/registry/",
                 window: int = DEFAULT_WINDOW) -> None:
        self.storage = storage
        self.root = root
        self.revision = 0
        self._objects: dict[str, CachedObject] = {}
        self._sorted_keys: list[str] = []
        self._history: deque[CacheEvent] = deque(maxlen=window)
        # Resume below this revision is impossible: it predates the window.
        self._oldest = 0
        self._subscribers: set[_Subscriber] = set()
        self._advanced = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._progress_requested = -PROGRESS_INTERVAL
        # Reads of the storage's revision that concurrent fresh reads share.
        self._next_read: asyncio.Future[int] | None = None
        self._reader: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()

    async def start(self) -> None:
        await self._load()
        self._task = asyncio.create_task(self._follow(), name="watchcache")

    async def stop(self) -> None:
        for task in (self._task, self._reader):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for sub in list(self._subscribers):
            sub.queue.put_nowait(None)

    async def _load(self) -> None:
        listed = await self.storage.list(self.root)
        self._objects = {kv.key: decode(kv, kv.mod_revision) for kv in listed.items}
        self._sorted_keys = sorted(self._objects)
        self.revision = listed.revision
        self._oldest = listed.revision
        self._history.clear()
        self.ready.set()

    async def _follow(self) -> None:
        relist = False
        while True:
            try:
                if relist:
                    await self._relist()
                    relist = False
                async for batch in self.storage.watch(self.root, self.revision, progress=True):
                    if batch:
                        self._apply(batch)
                    if batch.revision > self.revision:
                        self.revision = batch.revision
                    async with self._advanced:
                        self._advanced.notify_all()
            except CompactedError:
                log.warning("watch cache fell behind compaction; relisting")
                relist = True
            except StorageError as err:
                log.warning("watch cache lost its storage watch: %s; retrying", err)
                await asyncio.sleep(1)
            else:
                return

    async def _relist(self) -> None:
        self.ready.clear()
        for sub in list(self._subscribers):
            sub.queue.put_nowait(None)
        self._subscribers.clear()
        await self._load()
        async with self._advanced:
            self._advanced.notify_all()

    def _apply(self, events: list[Event]) -> None:
        for event in events:
            rev = event.kv.mod_revision
            previous = self._objects.get(event.kv.key)
            if event.type == "DELETE":
                if previous is None:
                    continue
                gone = decode(event.kv, rev)
                del self._objects[event.kv.key]
                index = bisect.bisect_left(self._sorted_keys, event.kv.key)
                del self._sorted_keys[index]
                cache_event = CacheEvent("DELETED", event.kv.key, rev, gone, previous)
            else:
                current = decode(event.kv, rev)
                self._objects[event.kv.key] = current
                if previous is None:
                    bisect.insort(self._sorted_keys, event.kv.key)
                cache_event = CacheEvent("ADDED" if previous is None else "MODIFIED",
                                         event.kv.key, rev, current, previous)
            if len(self._history) == self._history.maxlen:
                self._oldest = self._history[0].revision
            self._history.append(cache_event)
            if rev <= self.revision:
                log.warning("watch cache: event of revision %d after progress to %d", rev,
                            self.revision)
            self.revision = max(self.revision, rev)
            for sub in self._subscribers:
                if event.kv.key.startswith(sub.prefix):
                    sub.queue.put_nowait(cache_event)

    async def wait_fresh(self, revision: int = 0) -> None:
        """Wait until the cache holds `revision` (0: the storage's current revision).

        Raises StorageError when the storage cannot say its revision, a 504 Status for a
        revision the storage has not reached within TOO_LARGE_TIMEOUT, a 503 Status when
        the cache does not reach the storage's revision within FRESH_TIMEOUT."""
        if revision and self.revision >= revision:
            return
        current = await self.storage_revision()
        target = revision or current
        if self.revision >= target:
            return
        loop = asyncio.get_running_loop()
        started = loop.time()
        too_large = target > current
        deadline = started + (TOO_LARGE_TIMEOUT if too_large else FRESH_TIMEOUT)
        async with self._advanced:
            while self.revision < target:
                now = loop.time()
                if now >= deadline:
                    break
                if now - started >= PROGRESS_GRACE:
                    await self._request_progress()
                wait = (started + PROGRESS_GRACE if now < started + PROGRESS_GRACE
                        else now + PROGRESS_INTERVAL)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._advanced.wait(), min(wait, deadline) - now)
        if self.revision >= target:
            return
        if too_large:
            raise errors.StatusError(
                504, "Timeout", f"Too large resource version: {target}, current: "
                f"{self.revision}", {"causes": [{"reason": "ResourceVersionTooLarge",
                                                 "message": "Too large resource version"}],
                                     "retryAfterSeconds": 1})
        raise errors.unavailable(
            f"the watch cache did not catch up with the storage in {FRESH_TIMEOUT:.0f}s (at "
            f"revision {self.revision}, the storage at {target}); try again later")

    async def storage_revision(self) -> int:
        """The storage's current revision, as read by a request sent after this call began
        (so as fresh as a read of one's own). Concurrent callers share reads: while one is
        in flight, those who arrive wait for the next, which then serves them all."""
        if self._next_read is None:
            self._next_read = asyncio.get_running_loop().create_future()
            self._next_read.add_done_callback(_retrieve)
            if self._reader is None or self._reader.done():
                self._reader = asyncio.create_task(self._read_revisions(),
                                                   name="watchcache-revision")
        return await asyncio.shield(self._next_read)

    async def _read_revisions(self) -> None:
        while self._next_read is not None:
            batch, self._next_read = self._next_read, None
            try:
                batch.set_result(await self.storage.current_revision())
            except Exception as err:
                batch.set_exception(err)
            except BaseException:
                batch.cancel()
                raise

    async def _request_progress(self) -> None:
        """Ask the storage watch to report progress, at most every PROGRESS_INTERVAL."""
        now = asyncio.get_running_loop().time()
        if now - self._progress_requested < PROGRESS_INTERVAL:
            return
        self._progress_requested = now
        await self.storage.request_progress()

    def get(self, key: str) -> CachedObject | None:
        return self._objects.get(key)

    def scan(self, prefix: str, start_after: str = "") -> Iterator[CachedObject]:
        """Objects under `prefix` in key order, after `start_after`."""
        keys = self._sorted_keys
        begin = max(prefix, start_after)
        index = bisect.bisect_right(keys, begin) if start_after else bisect.bisect_left(keys, begin)
        while index < len(keys) and keys[index].startswith(prefix):
            yield self._objects[keys[index]]
            index += 1

    def count_after(self, prefix: str, key: str) -> int:
        """How many keys under `prefix` sort after `key`."""
        keys = self._sorted_keys
        return bisect.bisect_left(keys, prefix_end(prefix)) - bisect.bisect_right(keys, key)

    async def watch(self, prefix: str, revision: int,
                    initial: Callable[[], list[CachedObject]] | None = None,
                    ) -> AsyncGenerator[CacheEvent | int, None]:
        """Events under `prefix` after `revision`. With `initial`, first yields synthetic
        ADDED events for those objects, then the cache revision they are as of (an int,
        for the initial-events-end bookmark). Raises TooOldError before the window."""
        sub = _Subscriber(prefix)
        replay: list[CacheEvent] = []
        if initial is not None:
            snapshot = initial()
            replay = [CacheEvent("ADDED", o.key, o.revision, o, None) for o in snapshot]
            start_rev = self.revision
        else:
            start_rev = revision
            if revision < self.revision:
                if revision < self._oldest:
                    raise TooOldError(revision, self._oldest)
                replay = [e for e in self._history
                          if e.revision > revision and e.key.startswith(prefix)]
        self._subscribers.add(sub)
        try:
            for event in replay:
                yield event
            if initial is not None:
                yield start_rev
            while True:
                item = await sub.queue.get()
                if item is None:
                    return
                if item.revision > start_rev:
                    yield item
        finally:
            self._subscribers.discard(sub)
