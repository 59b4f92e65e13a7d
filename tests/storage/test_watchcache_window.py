"""The watch cache's event window, as upstream's: recent events (EVENT_FRESH_SECONDS) are
all kept for watches that resume; older ones only down to MIN_WINDOW of them, and a watch
from before what is kept gets 410 Gone (TooOldError)."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from kybernetes.apiserver import watchcache
from kybernetes.apiserver.watchcache import CacheEvent, TooOldError, WatchCache
from kybernetes.storage.interface import Storage


async def _write(storage: Storage, cache: WatchCache, count: int) -> list[int]:
    revisions = []
    for i in range(count):
        created = await storage.create(f"/registry/configmaps/default/c{i}", orjson.dumps(
            {"apiVersion": "v1", "kind": "ConfigMap",
             "metadata": {"name": f"c{i}", "namespace": "default"}}))
        revisions.append(created.mod_revision)
    await asyncio.wait_for(cache.wait_fresh(), 30)
    return revisions


async def _replayed(cache: WatchCache, revision: int, count: int) -> list[int]:
    events = cache.watch("/registry/", revision)
    try:
        seen = []
        for _ in range(count):
            event = await asyncio.wait_for(anext(events), 30)
            assert isinstance(event, CacheEvent)
            seen.append(event.revision)
        return seen
    finally:
        await events.aclose()


async def test_recent_events_are_all_kept(storage: Storage, cache: WatchCache,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watchcache, "MIN_WINDOW", 2)
    revisions = await _write(storage, cache, 5)
    assert await _replayed(cache, revisions[0], 4) == revisions[1:]


async def test_stale_events_are_dropped_down_to_the_minimum(
        storage: Storage, cache: WatchCache, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watchcache, "MIN_WINDOW", 2)
    monkeypatch.setattr(watchcache, "EVENT_FRESH_SECONDS", 0.0)
    revisions = await _write(storage, cache, 5)
    with pytest.raises(TooOldError):
        await anext(cache.watch("/registry/", revisions[1]))
    # The two newest are kept: a watch that saw the third resumes without a gap.
    assert await _replayed(cache, revisions[2], 2) == revisions[3:]
