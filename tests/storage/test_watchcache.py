"""The API server's watch cache on each backend: fresh reads stay fresh and do not stall
when the storage's revision moves on through keys outside `/registry/` (which bring the
cache no events), thanks to the storage watch's progress notifications."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest

from kybernetes.api.errors import StatusError
from kybernetes.apiserver import watchcache
from kybernetes.apiserver.watchcache import WatchCache
from kybernetes.storage.interface import Storage


@pytest.fixture
async def cache(storage: Storage) -> AsyncIterator[WatchCache]:
    running = WatchCache(storage)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


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
