"""The API server's watch cache: every object in memory, and a window of recent events.

One storage watch on `/registry/` feeds it. Each object is decoded once (with its
`resourceVersion` set from the storage revision) and kept both as a dict, for selectors and
tables, and as JSON bytes, so that lists and watch events are assembled from ready bytes.
Lists wait until the cache has caught up with the storage's current revision, so they are as
fresh as a read from storage (upstream's consistent reads from cache). A watch from an
older revision replays the event window; one from before the window gets 410 Gone.
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
        self.ready = asyncio.Event()

    async def start(self) -> None:
        await self._load()
        self._task = asyncio.create_task(self._follow(), name="watchcache")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
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
        while True:
            try:
                async for events in self.storage.watch(self.root, self.revision):
                    self._apply(events)
                    async with self._advanced:
                        self._advanced.notify_all()
            except CompactedError:
                log.warning("watch cache fell behind compaction; relisting")
                await self._relist()
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
            self.revision = rev
            for sub in self._subscribers:
                if event.kv.key.startswith(sub.prefix):
                    sub.queue.put_nowait(cache_event)

    async def wait_fresh(self, revision: int = 0) -> None:
        """Wait until the cache holds `revision` (0: the storage's current revision)."""
        target = revision or await self.storage.current_revision()
        if self.revision >= target:
            return
        async with self._advanced:
            await asyncio.wait_for(self._advanced.wait_for(lambda: self.revision >= target), 30)

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
