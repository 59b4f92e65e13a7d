"""The `Storage` contract: every backend must pass these, as upstream's store_tests.go."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

import pytest

from kybernetes.storage.interface import (
    CompactedError,
    ConflictError,
    Event,
    KeyExistsError,
    KeyNotFoundError,
    Storage,
    WatchBatch,
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


async def test_unconditional_update_needs_an_existing_key(storage: Storage) -> None:
    created = await storage.create("/k/a", b"1")
    updated = await storage.update("/k/a", b"2", expected_revision=0)
    assert (updated.value, updated.create_revision) == (b"2", created.create_revision)
    assert updated.mod_revision > created.mod_revision
    with pytest.raises(KeyNotFoundError):
        await storage.update("/k/missing", b"1", expected_revision=0)


async def test_revisions_are_unique_and_ordered_under_concurrent_writes(
        storage: Storage) -> None:
    """Every write gets its own revision; a watch sees them once each, in that order."""
    start = await storage.current_revision()
    created = await asyncio.gather(*(storage.create(f"/o/{i:03d}", b"v") for i in range(60)))
    revisions = sorted(kv.mod_revision for kv in created)
    assert len(set(revisions)) == 60 and revisions[0] > start
    assert await storage.current_revision() == revisions[-1]
    updated = await asyncio.gather(*(storage.update(kv.key, b"w", expected_revision=kv.mod_revision)
                                     for kv in created))
    assert min(kv.mod_revision for kv in updated) > revisions[-1]
    events = await _collect(storage, "/o/", start, 120)
    seen = [e.kv.mod_revision for e in events]
    assert seen == sorted(set(seen)) == sorted(revisions + [kv.mod_revision for kv in updated])
    assert [e.created for e in events] == [True] * 60 + [False] * 60


async def test_list_pages_stay_consistent_while_writes_happen(storage: Storage) -> None:
    """Pages read at the first page's revision form that snapshot, whatever is written
    between them (upstream's continue tokens)."""
    for i in range(40):
        await storage.create(f"/p/{i:03d}", f"v{i}".encode())
    snapshot = {kv.key: kv.value for kv in (await storage.list("/p/")).items}
    first = await storage.list("/p/", limit=7)
    assert first.remaining == 33
    pages = [first]
    step = 0
    while pages[-1].remaining:
        # Change the keyspace under the reader: update, delete and add keys.
        await storage.update(f"/p/{step:03d}", b"changed", expected_revision=0)
        await storage.delete(f"/p/{39 - step:03d}")
        await storage.create(f"/p/{step:03d}x", b"new")
        step += 1
        pages.append(await storage.list("/p/", limit=7, revision=first.revision,
                                        start_key=pages[-1].items[-1].key + "\x00"))
    assert all(page.revision == first.revision for page in pages)
    listed = [(kv.key, kv.value) for page in pages for kv in page.items]
    assert listed == sorted(snapshot.items())
    # `remaining` may be an estimate (upstream's remainingItemCount), but says whether more.
    assert all(page.remaining > 0 for page in pages[:-1]) and pages[-1].remaining == 0
    assert len(pages) == 6
    assert await storage.count("/p/") == 40


async def test_watch_sees_only_its_prefix_and_only_later_revisions(storage: Storage) -> None:
    await storage.create("/w/old", b"0")
    start = await storage.current_revision()
    collector = asyncio.create_task(_collect(storage, "/w/", start, 2))
    await asyncio.sleep(0.05)
    await storage.create("/wx/a", b"outside")
    await storage.create("/w", b"outside too")
    await storage.create("/w/a", b"1")
    await storage.delete("/w/old")
    events = await collector
    assert [(e.type, e.kv.key, e.kv.value) for e in events] == [
        ("PUT", "/w/a", b"1"), ("DELETE", "/w/old", b"0")]


async def test_recreated_key_is_a_creation_again(storage: Storage) -> None:
    start = await storage.current_revision()
    first = await storage.create("/r/a", b"1")
    await storage.delete("/r/a")
    again = await storage.create("/r/a", b"2")
    assert again.create_revision == again.mod_revision > first.create_revision
    events = await _collect(storage, "/r/", start, 3)
    assert [(e.type, e.created) for e in events] == [("PUT", True), ("DELETE", False),
                                                     ("PUT", True)]
    assert events[1].kv.create_revision == first.create_revision


async def test_watch_resumed_repeatedly_while_writes_happen(storage: Storage) -> None:
    """A client that drops its watch and resumes from the last revision it saw, again and
    again while another client writes, sees every write exactly once, in order."""
    start = await storage.current_revision()
    total = 120
    written: list[int] = []

    async def writer() -> None:
        for i in range(total):
            kv = await storage.create(f"/rw/{i:03d}", b"v")
            written.append(kv.mod_revision)
            if i % 10 == 0:
                await asyncio.sleep(0.005)

    task = asyncio.create_task(writer())
    seen: list[Event] = []
    last = start

    async def follow() -> None:
        nonlocal last
        while len(seen) < total:
            taken = 0
            async for batch in storage.watch("/rw/", last):
                seen.extend(batch)
                last = batch[-1].kv.mod_revision
                taken += len(batch)
                if taken >= 7 or len(seen) >= total:
                    break  # drop the watch: a reconnect
    await asyncio.wait_for(follow(), 20)
    await task
    assert [e.kv.mod_revision for e in seen] == written
    assert [e.kv.key for e in seen] == [f"/rw/{i:03d}" for i in range(total)]


async def test_watch_and_list_after_compaction_from_later_revisions(storage: Storage) -> None:
    a = await storage.create("/c/a", b"1")
    await storage.update("/c/a", b"2", expected_revision=a.mod_revision)
    compacted_at = await storage.current_revision()
    await storage.compact(compacted_at)
    assert await storage.compacted_revision() >= compacted_at
    later = await storage.create("/c/b", b"1")
    listed = await storage.list("/c/", revision=later.mod_revision)
    assert [kv.key for kv in listed.items] == ["/c/a", "/c/b"]
    events = await _collect(storage, "/c/", compacted_at, 1)
    assert [(e.kv.key, e.kv.mod_revision) for e in events] == [("/c/b", later.mod_revision)]
    await storage.compact(compacted_at - 1)  # an older compaction is a no-op
    assert (await storage.get("/c/b")) == later


# -- progress ----------------------------------------------------------------------------


class _Recorder:
    """A `progress=True` watch running in the background, recording every batch."""

    def __init__(self, storage: Storage, prefix: str, revision: int) -> None:
        self.batches: list[WatchBatch] = []
        self._storage = storage
        self._task = asyncio.create_task(self._run(prefix, revision))

    async def _run(self, prefix: str, revision: int) -> None:
        async for batch in self._storage.watch(prefix, revision, progress=True):
            self.batches.append(batch)

    @property
    def events(self) -> list[Event]:
        return [e for b in self.batches for e in b]

    async def wait(self, done: Callable[[], bool], *, ask: bool = False) -> None:
        """Until `done()`, asking for progress now and then when `ask`."""
        async def poll() -> None:
            while not done():
                if self._task.done():
                    self._task.result()
                    raise AssertionError("the watch ended")
                if ask:
                    await self._storage.request_progress()
                await asyncio.sleep(0.05)
        await asyncio.wait_for(poll(), 20)

    async def reach(self, revision: int) -> None:
        """Until the watch is at `revision`, asking for progress."""
        await self.wait(lambda: bool(self.batches) and self.batches[-1].revision >= revision,
                        ask=True)

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def test_progress_tells_a_watch_of_writes_outside_its_prefix(storage: Storage) -> None:
    """Writes to other keys move the revision on without events for this watch; asked for
    progress, it says how far it is (an empty batch), and never goes back on it."""
    start = await storage.current_revision()
    inside = await storage.create("/in/a", b"1")
    recorder = _Recorder(storage, "/in/", start)
    try:
        await recorder.wait(lambda: len(recorder.events) == 1)
        outside = [await storage.create(f"/out/{i}", b"x") for i in range(3)]
        head = outside[-1].mod_revision
        await recorder.wait(lambda: recorder.batches[-1].revision >= head, ask=True)
        progress = recorder.batches[-1]
        assert progress == [] and head <= progress.revision <= await storage.current_revision()
        later = await storage.create("/in/b", b"2")
        await recorder.wait(lambda: len(recorder.events) == 2)
    finally:
        await recorder.stop()
    assert [(e.kv.key, e.kv.mod_revision) for e in recorder.events] == [
        ("/in/a", inside.mod_revision), ("/in/b", later.mod_revision)]
    revisions = [b.revision for b in recorder.batches]
    assert revisions == sorted(set(revisions))
    for batch in recorder.batches:
        assert not batch or batch.revision == batch[-1].kv.mod_revision


async def test_progress_never_runs_ahead_of_events(storage: Storage) -> None:
    """While writes go to keys inside and outside the prefix and progress is asked for
    again and again, every progress revision P comes after every event up to P."""
    start = await storage.current_revision()
    recorder = _Recorder(storage, "/mix/", start)
    written: list[int] = []
    stop = asyncio.Event()

    async def write(worker: int) -> None:
        for i in range(60):
            kv = await storage.create(f"/mix/{worker}-{i:03d}", b"v")
            written.append(kv.mod_revision)
            await storage.create(f"/else/{worker}-{i:03d}", b"v")

    async def ask() -> None:
        while not stop.is_set():
            await storage.request_progress()
            await asyncio.sleep(0.005)

    asker = asyncio.create_task(ask())
    try:
        await asyncio.gather(*(write(w) for w in range(4)))
        head = await storage.current_revision()
        await recorder.wait(lambda: bool(recorder.batches)
                            and recorder.batches[-1].revision >= head, ask=True)
    finally:
        stop.set()
        await asyncio.gather(asker)
        await recorder.stop()
    seen: set[int] = set()
    progress = 0
    for batch in recorder.batches:
        if batch:
            assert batch[0].kv.mod_revision > progress, "an event after progress beyond it"
            seen.update(e.kv.mod_revision for e in batch)
        else:
            progress = batch.revision
            assert {r for r in written if r <= progress} <= seen
    assert sorted(seen) == sorted(written)
    assert any(not batch for batch in recorder.batches)


async def test_no_progress_batches_unless_asked_for(storage: Storage) -> None:
    start = await storage.current_revision()
    batches: list[WatchBatch] = []

    async def follow() -> None:
        async for batch in storage.watch("/plain/", start):
            batches.append(batch)
            return

    task = asyncio.create_task(follow())
    await storage.create("/other/x", b"x")
    await storage.request_progress()
    created = await storage.create("/plain/a", b"1")
    await asyncio.wait_for(task, 10)
    assert [(e.kv.key, e.kv.mod_revision) for b in batches for e in b] == [
        ("/plain/a", created.mod_revision)]


async def test_progress_never_runs_ahead_of_a_watch_catching_up(storage: Storage) -> None:
    """A watch from an old revision has history to catch up on; progress asked for from
    its first moment still comes after every event up to it."""
    start = await storage.current_revision()
    written = []
    for i in range(200):
        written.append((await storage.create(f"/old/{i:03d}", b"v")).mod_revision)
        await storage.create(f"/noise/{i:03d}", b"v")
    head = await storage.current_revision()
    for _ in range(5):
        recorder = _Recorder(storage, "/old/", start)
        try:
            await storage.request_progress()
            await recorder.reach(head)
        finally:
            await recorder.stop()
        seen: set[int] = set()
        for batch in recorder.batches:
            if not batch:
                assert {r for r in written if r <= batch.revision} <= seen
            seen.update(e.kv.mod_revision for e in batch)
        assert sorted(seen) == written
