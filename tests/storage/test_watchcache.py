"""The API server's watch cache on each backend: fresh reads stay fresh and do not stall
when the storage's revision moves on through keys outside `/registry/` (which bring the
cache no events), thanks to the storage watch's progress notifications; a storage watch that
breaks resumes without a gap, and one that delivers an event below the cache's revision
makes the cache relist and send older watches 410 Gone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest

from kybernetes.api.errors import StatusError
from kybernetes.apiserver import watchcache
from kybernetes.apiserver.watchcache import CacheEvent, TooOldError, WatchCache
from kybernetes.storage.delegating import DelegatingStorage
from kybernetes.storage.interface import Storage, UnavailableError, WatchBatch


def _object(name: str) -> bytes:
    return orjson.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                         "metadata": {"name": name, "namespace": "default"}})


async def test_fresh_reads_see_every_acknowledged_write(storage: Storage,
                                                        cache: WatchCache) -> None:
    for i in range(20):
        created = await storage.create(f"/registry/configmaps/default/c{i}", _object(f"c{i}"))
        await asyncio.wait_for(cache.wait_fresh(), 30)
        found = cache.get(created.key)
        assert found is not None and found.revision == created.mod_revision


async def test_writes_outside_the_registry_do_not_stall_fresh_reads(
        storage: Storage, cache: WatchCache) -> None:
    inside = await storage.create("/registry/configmaps/default/a", _object("a"))
    for i in range(5):
        await storage.create(f"/elsewhere/{i}", b"x")
    head = await storage.current_revision()
    assert head > inside.mod_revision
    await asyncio.wait_for(cache.wait_fresh(), 30)
    assert cache.revision >= head
    assert cache.get(inside.key) is not None
    # An explicit revision the storage has reached is served too.
    await asyncio.wait_for(cache.wait_fresh(head), 30)
    later = await storage.create("/registry/configmaps/default/b", _object("b"))
    await asyncio.wait_for(cache.wait_fresh(), 30)
    found = cache.get(later.key)
    assert found is not None and found.revision == later.mod_revision


async def test_a_revision_the_storage_has_not_reached_is_a_504(
        storage: Storage, cache: WatchCache, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watchcache, "TOO_LARGE_TIMEOUT", 0.3)
    beyond = await storage.current_revision() + 1000
    with pytest.raises(StatusError) as raised:
        await asyncio.wait_for(cache.wait_fresh(beyond), 30)
    assert raised.value.code == 504 and raised.value.reason == "Timeout"
    assert raised.value.message.startswith(f"Too large resource version: {beyond}, current: ")


async def test_concurrent_fresh_reads_share_revision_reads(storage: Storage,
                                                           cache: WatchCache) -> None:
    """Many reads at once: each still sees the writes acknowledged before it began."""
    async def write_then_read(i: int) -> None:
        created = await storage.create(f"/registry/configmaps/default/s{i}", _object(f"s{i}"))
        await cache.wait_fresh()
        found = cache.get(created.key)
        assert found is not None and found.revision == created.mod_revision

    await asyncio.wait_for(asyncio.gather(*(write_then_read(i) for i in range(50))), 60)


class Faulty(DelegatingStorage):
    """The storage, whose watch misbehaves once when told to: it reports progress up to a
    batch before the batch itself (what etcd 3.4 did to the cache), or breaks before
    delivering a batch (a connection lost)."""

    def __init__(self, inner: Storage) -> None:
        super().__init__(inner)
        self.fault: str | None = None

    async def watch(self, prefix: str, revision: int, *, progress: bool = False
                    ) -> AsyncIterator[WatchBatch]:
        stream = self.inner.watch(prefix, revision, progress=progress)
        try:
            async for batch in stream:
                if batch and self.fault == "early progress":
                    self.fault = None
                    yield WatchBatch((), batch.revision)
                elif batch and self.fault == "break":
                    self.fault = None
                    raise UnavailableError("the watch broke")
                yield batch
        finally:
            await stream.aclose()  # type: ignore[attr-defined]


@pytest.fixture
async def faulty(storage: Storage) -> AsyncIterator[tuple[Faulty, WatchCache]]:
    wrapped = Faulty(storage)
    running = WatchCache(wrapped)
    await running.start()
    try:
        yield wrapped, running
    finally:
        await running.stop()


async def _collect(events: AsyncIterator[CacheEvent | int], into: list[CacheEvent],
                   count: int = 0) -> None:
    """Events into `into` until the watch ends, or until there are `count`."""
    async for item in events:
        if not isinstance(item, int):
            into.append(item)
            if len(into) == count:
                return


async def test_an_event_below_the_cache_revision_forces_a_relist(
        faulty: tuple[Faulty, WatchCache]) -> None:
    """The storage reports progress past an event it then delivers: the cache relists
    rather than carry on, ends its watches, and sends a watch from before the relist
    410 Gone instead of leaving it a gap."""
    storage, cache = faulty
    first = await storage.create("/registry/configmaps/default/a", _object("a"))
    await asyncio.wait_for(cache.wait_fresh(), 30)
    reloaded = asyncio.Event()
    cache.observers.append(lambda event: reloaded.set() if event is None else None)
    seen: list[CacheEvent] = []
    watching = asyncio.create_task(_collect(cache.watch("/registry/", cache.revision), seen))
    storage.fault = "early progress"
    later = await storage.create("/registry/configmaps/default/b", _object("b"))
    await asyncio.wait_for(reloaded.wait(), 30)
    await asyncio.wait_for(watching, 30)  # ended by the relist
    await asyncio.wait_for(cache.wait_fresh(), 30)
    found = cache.get(later.key)
    assert found is not None and found.revision == later.mod_revision
    with pytest.raises(TooOldError):
        await anext(cache.watch("/registry/", first.mod_revision))


async def test_a_broken_storage_watch_resumes_without_gap_or_relist(
        faulty: tuple[Faulty, WatchCache]) -> None:
    storage, cache = faulty
    await asyncio.wait_for(cache.wait_fresh(), 30)
    reloads: list[None] = []
    cache.observers.append(lambda event: reloads.append(None) if event is None else None)
    seen: list[CacheEvent] = []
    watching = asyncio.create_task(
        _collect(cache.watch("/registry/", cache.revision), seen, count=3))
    storage.fault = "break"
    written = [await storage.create(f"/registry/configmaps/default/r{i}", _object(f"r{i}"))
               for i in range(3)]
    await asyncio.wait_for(watching, 30)
    assert [(e.key, e.revision) for e in seen] == [(w.key, w.mod_revision) for w in written]
    assert reloads == []
    assert storage.fault is None  # the watch did break
