"""The `Storage` contract: every backend must pass these, as upstream's store_tests.go."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kybernetes.storage.interface import (
    CompactedError,
    ConflictError,
    Event,
    KeyExistsError,
    KeyNotFoundError,
    Storage,
)
from kybernetes.storage.sqlite import SQLiteStorage


async def test_create_get_and_revisions_increase(storage: Storage) -> None:
    first = await storage.create("/registry/pods/default/a", b"1")
    second = await storage.create("/registry/pods/default/b", b"2")
    assert second.mod_revision > first.mod_revision
    assert first.create_revision == first.mod_revision
    got = await storage.get("/registry/pods/default/a")
    assert got == first
    assert await storage.current_revision() == second.mod_revision
    assert await storage.get("/registry/pods/default/missing") is None


async def test_create_existing_key_fails(storage: Storage) -> None:
    await storage.create("/k/a", b"1")
    with pytest.raises(KeyExistsError):
        await storage.create("/k/a", b"2")
    assert (await storage.get("/k/a")).value == b"1"  # type: ignore[union-attr]


async def test_guarded_update(storage: Storage) -> None:
    created = await storage.create("/k/a", b"1")
    updated = await storage.update("/k/a", b"2", expected_revision=created.mod_revision)
    assert updated.create_revision == created.create_revision
    assert updated.mod_revision > created.mod_revision
    with pytest.raises(ConflictError) as stale:
        await storage.update("/k/a", b"3", expected_revision=created.mod_revision)
    assert stale.value.current is not None and stale.value.current.value == b"2"
    with pytest.raises(KeyNotFoundError):
        await storage.update("/k/missing", b"3", expected_revision=1)


async def test_concurrent_guarded_updates_exactly_one_wins(storage: Storage) -> None:
    created = await storage.create("/k/a", b"0")
    results = await asyncio.gather(
        *(storage.update("/k/a", str(i).encode(), expected_revision=created.mod_revision)
          for i in range(20)), return_exceptions=True)
    assert sum(1 for r in results if not isinstance(r, BaseException)) == 1
    assert all(isinstance(r, ConflictError) for r in results if isinstance(r, BaseException))


async def test_delete_guarded_and_returns_last_value(storage: Storage) -> None:
    created = await storage.create("/k/a", b"1")
    with pytest.raises(ConflictError):
        await storage.delete("/k/a", expected_revision=created.mod_revision + 100)
    deleted = await storage.delete("/k/a", expected_revision=created.mod_revision)
    assert deleted.value == b"1"
    assert deleted.mod_revision > created.mod_revision
    assert await storage.get("/k/a") is None
    with pytest.raises(KeyNotFoundError):
        await storage.delete("/k/a")


async def test_list_prefix_order_and_pagination(storage: Storage) -> None:
    for name in ["c", "a", "b", "d"]:
        await storage.create(f"/registry/pods/ns/{name}", name.encode())
    await storage.create("/registry/pods/nt/x", b"x")
    await storage.create("/registry/podsx/ns/y", b"y")
    listed = await storage.list("/registry/pods/ns/")
    assert [kv.key.rsplit("/", 1)[1] for kv in listed.items] == ["a", "b", "c", "d"]
    page = await storage.list("/registry/pods/ns/", limit=2)
    assert [kv.value for kv in page.items] == [b"a", b"b"]
    assert page.remaining == 2
    rest = await storage.list("/registry/pods/ns/", limit=2, revision=page.revision,
                              start_key=page.items[-1].key + "\x00")
    assert [kv.value for kv in rest.items] == [b"c", b"d"]
    assert rest.remaining == 0
    assert await storage.count("/registry/pods/") == 5


async def test_list_at_old_revision_is_consistent(storage: Storage) -> None:
    a = await storage.create("/r/a", b"a1")
    await storage.create("/r/b", b"b1")
    snapshot = await storage.current_revision()
    await storage.update("/r/a", b"a2", expected_revision=a.mod_revision)
    await storage.delete("/r/b")
    await storage.create("/r/c", b"c1")
    old = await storage.list("/r/", revision=snapshot)
    assert [(kv.key, kv.value) for kv in old.items] == [("/r/a", b"a1"), ("/r/b", b"b1")]
    now = await storage.list("/r/")
    assert [(kv.key, kv.value) for kv in now.items] == [("/r/a", b"a2"), ("/r/c", b"c1")]


async def _collect(storage: Storage, prefix: str, revision: int, count: int) -> list[Event]:
    events: list[Event] = []

    async def run() -> None:
        async for batch in storage.watch(prefix, revision):
            events.extend(batch)
            if len(events) >= count:
                return
    await asyncio.wait_for(run(), 10)
    return events


async def test_watch_from_revision_replays_then_follows(storage: Storage) -> None:
    start = await storage.current_revision()
    a = await storage.create("/w/a", b"1")
    await storage.create("/other/x", b"x")
    collector = asyncio.create_task(_collect(storage, "/w/", start, 4))
    await asyncio.sleep(0.05)
    await storage.update("/w/a", b"2", expected_revision=a.mod_revision)
    await storage.create("/w/b", b"3")
    await storage.delete("/w/a")
    events = await collector
    assert [(e.type, e.kv.key, e.kv.value) for e in events] == [
        ("PUT", "/w/a", b"1"), ("PUT", "/w/a", b"2"), ("PUT", "/w/b", b"3"),
        ("DELETE", "/w/a", b"2")]
    revisions = [e.kv.mod_revision for e in events]
    assert revisions == sorted(set(revisions))
    assert events[0].created and not events[1].created


async def test_watch_resumed_after_reconnect_has_no_gap_or_duplicate(storage: Storage) -> None:
    start = await storage.current_revision()
    for i in range(10):
        await storage.create(f"/g/{i}", b"v")
    first = await _collect(storage, "/g/", start, 5)
    seen = first[4].kv.mod_revision
    for i in range(10, 15):
        await storage.create(f"/g/{i}", b"v")
    resumed = await _collect(storage, "/g/", seen, 10)
    keys = [e.kv.key for e in first[:5]] + [e.kv.key for e in resumed]
    assert keys == [f"/g/{i}" for i in range(15)]


async def test_compaction_keeps_live_keys_and_expires_old_revisions(storage: Storage) -> None:
    a = await storage.create("/c/a", b"1")
    a2 = await storage.update("/c/a", b"2", expected_revision=a.mod_revision)
    await storage.create("/c/b", b"1")
    await storage.delete("/c/b")
    await storage.compact(await storage.current_revision())
    assert (await storage.get("/c/a")) == a2
    assert [kv.key for kv in (await storage.list("/c/")).items] == ["/c/a"]
    with pytest.raises(CompactedError):
        await storage.list("/c/", revision=a.mod_revision)
    with pytest.raises(CompactedError):
        async for _ in storage.watch("/c/", a.mod_revision):
            break
    nxt = await storage.create("/c/c", b"1")
    assert nxt.mod_revision > a2.mod_revision


async def test_sqlite_state_survives_restart(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    first = SQLiteStorage(path)
    await first.start()
    created = await first.create("/k/a", b"1")
    await first.delete("/k/a")
    await first.compact(await first.current_revision())
    revision = await first.current_revision()
    await first.close()
    second = SQLiteStorage(path)
    await second.start()
    try:
        assert await second.current_revision() == revision
        again = await second.create("/k/a", b"2")
        assert again.mod_revision > revision > created.mod_revision
    finally:
        await second.close()
