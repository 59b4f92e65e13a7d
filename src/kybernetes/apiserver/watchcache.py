"""The API server's watch cache: every object in memory, and a window of recent events.

One storage watch on `/registry/` feeds it. Each object is decoded once (with its
`resourceVersion` set from the storage revision) and kept both as a dict, for selectors and
tables, and as JSON bytes, so that lists and watch events are assembled from ready bytes.
Lists wait until the cache has caught up with the storage's current revision, so they are as
fresh as a read from storage (upstream's consistent reads from cache). A watch from an
older revision replays the event window; one from before the window gets 410 Gone.

The window is upstream's (watch_cache.go): the events of the last 75 s
(`eventFreshDuration`), at least the last 100 whatever their age and at most 100 Ki. Each
event holds its object as it was (dict and bytes), so a window bounded by count alone
keeps every past version of everything until that many writes have happened: hundreds of
megabytes on a long-lived node whose leases and pod statuses are rewritten all day.

The cache's `revision` is never ahead of what it holds: it moves with each event applied (in
revision order) and with the storage watch's progress notifications, which a backend reports
only when every event up to them has been delivered (see storage/etcd.py: etcd's requested
progress cannot be trusted for that, its fence writes can). So the cache's objects are always
exactly the storage's `root` at `revision`. Progress keeps the revision following the
storage's when the writes that moved it were to keys outside `/registry/` (another client of
a shared etcd), which bring no events: a read that finds the cache behind asks the storage
for progress (rate-limited) after a short grace in which the events of its own writes
normally arrive.

When the storage watch breaks (etcd restarted, the API server cut off from it), the storage
resumes it from the last revision delivered and replays what it missed, however much; a
watch that cannot resume (compacted away) relists at the storage's revision and follows from
there. Until the cache has caught up, fresh reads wait and `/readyz` is red. An event at or
below the revision the cache already holds means the storage broke its promise: the cache
relists rather than carry on from a state it cannot vouch for. A relist ends every watch of
the cache, and a watch from before the relisted revision gets 410 Gone (clients relist),
never a silent gap.

A read the cache cannot serve in time is a clean Status: 504 for a resourceVersion the
storage has not reached (upstream's "Too large resource version"), 503 when the cache does
not catch up with the storage.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import time
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

# Events kept for watches that resume from an older resourceVersion: those of the last
# EVENT_FRESH_SECONDS, at least MIN_WINDOW of them and at most the window (upstream's
# eventFreshDuration, lowerBoundCapacity and upperBoundCapacity).
DEFAULT_WINDOW = 100 * 1024
MIN_WINDOW = 100
EVENT_FRESH_SECONDS = 75.0
# How long a read waits for the events of revisions it must see before asking the storage
# for progress, and how often it asks again while it waits.
PROGRESS_GRACE = 0.02
PROGRESS_INTERVAL = 0.25
# How long a read waits for the cache to reach the storage's revision (then 503), and for a
# resourceVersion beyond the storage's revision to come into being (then 504, as upstream).
FRESH_TIMEOUT = 10.0
TOO_LARGE_TIMEOUT = 3.0
# Most events of a replay (the initial snapshot, a resume) one step of a watch yields.
_REPLAY_BATCH = 500


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


def too_large_resource_version(requested: int, current: int) -> errors.StatusError:
    """Upstream's 504 for a resourceVersion the storage has not reached (clients retry)."""
    return errors.StatusError(
        504, "Timeout", f"Too large resource version: {requested}, current: {current}",
        {"causes": [{"reason": "ResourceVersionTooLarge",
                     "message": "Too large resource version"}], "retryAfterSeconds": 1})


class TooOldError(Exception):
    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} ({oldest})")
        self.requested = requested
        self.oldest = oldest


class _Inconsistent(Exception):
    """The storage watch delivered an event that does not follow from what the cache holds:
    at or below its revision, or the deletion of a key it does not have."""


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
        self._window = window
        self._history: deque[CacheEvent] = deque()
        self._recorded: deque[float] = deque()  # monotonic time each history event came
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
        # Indexes kept in step with the cache (the Node authorizer's graph): each is called
        # with every change as it is applied, and with None after a (re)load, to rebuild
        # itself from scan().
        self.observers: list[Callable[[CacheEvent | None], None]] = []

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
        """List the storage and replace everything with it. Watches of the previous state
        end (their clients resume from their resourceVersion, which is then before the
        window unless nothing was missed): a subscriber is ended in the same step as the
        state is replaced, so none sees the jump."""
        listed = await self.storage.list(self.root)
        self._objects = {kv.key: decode(kv, kv.mod_revision) for kv in listed.items}
        self._sorted_keys = sorted(self._objects)
        self.revision = listed.revision
        self._oldest = listed.revision
        self._history.clear()
        self._recorded.clear()
        for sub in list(self._subscribers):
            sub.queue.put_nowait(None)
        self._subscribers.clear()
        for observe in self.observers:
            observe(None)
        self.ready.set()

    async def _follow(self) -> None:
        relist = False
        while True:
            try:
                if relist:
                    await self._relist()
                    relist = False
                await self._watch_storage()
            except CompactedError:
                log.warning("watch cache fell behind compaction; relisting")
                relist = True
            except _Inconsistent as err:
                log.error("watch cache: %s; relisting", err)
                relist = True
            except StorageError as err:
                log.warning("watch cache lost its storage watch: %s; retrying", err)
                await asyncio.sleep(1)
            else:
                return

    async def _watch_storage(self) -> None:
        """Follow the storage from the cache's revision, applying what comes."""
        stream = self.storage.watch(self.root, self.revision, progress=True)
        try:
            async for batch in stream:
                if batch:
                    self._apply(batch)
                if batch.revision > self.revision:
                    self.revision = batch.revision
                async with self._advanced:
                    self._advanced.notify_all()
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()

    async def _relist(self) -> None:
        self.ready.clear()
        await self._load()
        async with self._advanced:
            self._advanced.notify_all()

    def _apply(self, events: list[Event]) -> None:
        """Apply a batch in order. Raises _Inconsistent, after applying the events before
        it, for an event at or below the revision held before the batch or below one before
        it in the batch (one revision's events, a transaction's, come in one batch), and for
        the deletion of a key the cache does not hold."""
        held = self.revision
        for event in events:
            rev = event.kv.mod_revision
            if rev <= held or rev < self.revision:
                raise _Inconsistent(f"event of revision {rev} after revision {self.revision}")
            previous = self._objects.get(event.kv.key)
            if event.type == "DELETE":
                if previous is None:
                    raise _Inconsistent(f"deletion of {event.kv.key} at revision {rev}, "
                                        "which the cache does not hold")
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
            self._record(cache_event)
            self.revision = rev
            for sub in self._subscribers:
                if event.kv.key.startswith(sub.prefix):
                    sub.queue.put_nowait(cache_event)
            for observe in self.observers:
                observe(cache_event)

    def _record(self, event: CacheEvent) -> None:
        """Add to the window, dropping from its old end what it no longer keeps."""
        now = time.monotonic()
        self._history.append(event)
        self._recorded.append(now)
        while len(self._history) > self._window or (
                len(self._history) > MIN_WINDOW and
                now - self._recorded[0] > EVENT_FRESH_SECONDS):
            self._oldest = self._history.popleft().revision
            self._recorded.popleft()

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
            raise too_large_resource_version(target, self.revision)
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
        batches = self.watch_batches(prefix, revision, initial)
        try:
            async for batch in batches:
                if isinstance(batch, int):
                    yield batch
                    continue
                for event in batch:
                    yield event
        finally:
            await batches.aclose()

    async def watch_batches(self, prefix: str, revision: int,
                            initial: Callable[[], list[CachedObject]] | None = None,
                            ) -> AsyncGenerator[list[CacheEvent] | int, None]:
        """As `watch`, each step yielding every event ready by then, in order: a watcher
        the fan-out got ahead of catches up in one write rather than one per event."""
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
            for start in range(0, len(replay), _REPLAY_BATCH):
                yield replay[start:start + _REPLAY_BATCH]
            if initial is not None:
                yield start_rev
            while True:
                item = await sub.queue.get()
                batch: list[CacheEvent] = []
                while item is not None:
                    if item.revision > start_rev:
                        batch.append(item)
                    if sub.queue.empty():
                        break
                    item = sub.queue.get_nowait()
                if batch:
                    yield batch
                if item is None:
                    return
        finally:
            self._subscribers.discard(sub)
