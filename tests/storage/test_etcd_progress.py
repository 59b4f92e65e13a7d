"""Progress notifications of the etcd backend beyond the shared contract: etcd's periodic
ones; requested ones (answered by a write of the watch's fence key) while etcd replays a
backlog of several catch-up passes, across a compaction, after a reconnect to another member,
and as seen by another client of the same etcd. Each test starts its own etcd on loopback
ports."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from kybernetes.storage.etcd import EtcdStorage
from kybernetes.storage.interface import KeyExistsError, UnavailableError, WatchBatch
from tests.etcd_cluster import EtcdCluster, etcd_binary

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(
    etcd_binary() is None,
    reason="etcd binary not found: install Debian's etcd-server to run the etcd backend tests")]


@contextlib.asynccontextmanager
async def recording(storage: EtcdStorage, prefix: str, revision: int
                    ) -> AsyncIterator[list[WatchBatch]]:
    batches: list[WatchBatch] = []

    async def run() -> None:
        async for batch in storage.watch(prefix, revision, progress=True):
            batches.append(batch)

    task = asyncio.create_task(run())
    try:
        yield batches
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def asking(storage: EtcdStorage) -> AsyncIterator[None]:
    """Ask for progress every few milliseconds until the block ends."""
    async def ask() -> None:
        while True:
            await storage.request_progress()
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ask())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(done: Callable[[], bool], storage: EtcdStorage | None = None) -> None:
    """Wait for `done()`, asking `storage` for progress now and then if given."""
    async def poll() -> None:
        while not done():
            if storage is not None:
                await storage.request_progress()
            await asyncio.sleep(0.05)
    await asyncio.wait_for(poll(), 30)


async def test_periodic_progress_needs_no_request(tmp_path: Path) -> None:
    with EtcdCluster(tmp_path, size=1, progress_notify_interval="200ms") as cluster:
        storage = EtcdStorage(cluster.endpoints)
        await storage.start()
        try:
            start = await storage.current_revision()
            async with recording(storage, "/quiet/", start) as batches:
                written = await storage.create("/loud/a", b"x")
                await until(lambda: any(b.revision >= written.mod_revision for b in batches))
            assert all(b == [] for b in batches)
        finally:
            await storage.close()


async def test_requested_progress_never_runs_ahead_of_a_long_catch_up(tmp_path: Path) -> None:
    """A watch that starts (or resumes after a reconnect) far behind is replayed by etcd
    1000 revisions per pass; etcd 3.4 answers a WatchProgressRequest at once, ahead of that
    replay. Progress asked for all along still comes after every event up to it."""
    with EtcdCluster(tmp_path, size=1) as cluster:
        storage = EtcdStorage(cluster.endpoints)
        await storage.start()
        try:
            start = await storage.current_revision()
            gate = asyncio.Semaphore(64)

            async def write(i: int) -> int:
                async with gate:
                    if i % 10 == 9:
                        await storage.create(f"/near/{i:05d}", b"x")
                    return (await storage.create(f"/far/{i:05d}", b"v" * 200)).mod_revision

            written = sorted(await asyncio.gather(*(write(i) for i in range(3000))))
            head = await storage.current_revision()
            for _ in range(3):
                async with recording(storage, "/far/", start) as batches, asking(storage):
                    await until(lambda: any(not b and b.revision >= head for b in batches))
                seen: set[int] = set()
                for batch in batches:
                    if not batch:
                        assert {r for r in written if r <= batch.revision} <= seen, \
                            f"progress {batch.revision} before {len(written) - len(seen)} events"
                    seen.update(e.kv.mod_revision for e in batch)
                assert sorted(seen) == written
        finally:
            await storage.close()


async def test_fences_are_progress_for_every_client_and_never_events(tmp_path: Path) -> None:
    """The fence key lies outside the prefix: lists and events of the prefix never show it,
    and another client's progress watch (an API server sharing the etcd) takes its write as
    progress too, without asking."""
    with EtcdCluster(tmp_path, size=1) as cluster:
        mine, theirs = EtcdStorage(cluster.endpoints), EtcdStorage(cluster.endpoints)
        await mine.start()
        await theirs.start()
        try:
            start = await mine.current_revision()
            async with recording(mine, "/shared/", start) as own, \
                    recording(theirs, "/shared/", start) as other:
                await mine.create("/elsewhere/a", b"x")
                head = await mine.current_revision()
                await until(lambda: any(b.revision >= head for b in own), mine)
                await until(lambda: any(b.revision >= head for b in other))
            assert all(b == [] for b in own + other)
            assert (await mine.list("/shared/")).items == []
        finally:
            await mine.close()
            await theirs.close()


async def test_requested_progress_after_a_compaction(tmp_path: Path) -> None:
    """Progress asked for after etcd compacted up to its head still comes (the fence is a
    new write, above any compaction)."""
    with EtcdCluster(tmp_path, size=1) as cluster:
        storage = EtcdStorage(cluster.endpoints)
        await storage.start()
        try:
            start = await storage.current_revision()
            async with recording(storage, "/quiet/", start) as batches:
                # The watch must be established before the compaction (a watch opened at a
                # compacted revision is refused, rightly): seeing a first event says so.
                await storage.create("/quiet/warm-up", b"0")
                await until(lambda: bool(batches))
                batches.clear()
                for i in range(5):
                    await storage.create(f"/loud/{i}", b"x")
                head = await storage.current_revision()
                await storage.compact(head)
                await until(lambda: any(b.revision >= head for b in batches), storage)
                inside = await storage.create("/quiet/a", b"1")
                await until(lambda: any(b for b in batches))
            assert [e.kv.mod_revision for b in batches for e in b] == [inside.mod_revision]
        finally:
            await storage.close()


async def test_requested_progress_after_moving_to_another_member(tmp_path: Path) -> None:
    with EtcdCluster(tmp_path, size=3) as cluster:
        storage = EtcdStorage(cluster.endpoints, request_timeout=5)
        await storage.start()
        try:
            start = await storage.current_revision()
            async with recording(storage, "/quiet/", start) as batches:
                first = await storage.create("/loud/a", b"x")
                await until(lambda: any(b.revision >= first.mod_revision for b in batches),
                            storage)
                cluster.kill(0)  # the member the watch is on
                target = 0
                while not target:
                    try:
                        target = (await storage.create("/loud/b", b"x")).mod_revision
                    except UnavailableError:  # a write in flight as the member died
                        await asyncio.sleep(0.05)
                    except KeyExistsError:  # ... which was applied after all
                        found = await storage.get("/loud/b")
                        assert found is not None
                        target = found.mod_revision
                await until(lambda: any(b.revision >= target for b in batches), storage)
            revisions = [b.revision for b in batches]
            assert revisions == sorted(set(revisions))
            assert all(b == [] for b in batches)
        finally:
            await storage.close()
