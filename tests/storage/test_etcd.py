"""The etcd backend beyond the shared contract: URLs, TLS, failures and recovery.

These start their own etcd processes (tests/etcd_cluster.py) since they kill and restart
them; everything listens on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kybernetes.apiserver.pki import ensure_pki, issue_client_cert
from kybernetes.storage import open_storage
from kybernetes.storage.etcd import EtcdStorage, parse_endpoints
from kybernetes.storage.interface import (
    CompactedError,
    Event,
    KeyExistsError,
    KeyValue,
    UnavailableError,
)
from kybernetes.storage.sqlite import SQLiteStorage
from tests.etcd_cluster import EtcdCluster, EtcdTLS, etcd_binary, free_port

pytestmark = pytest.mark.e2e

needs_etcd = pytest.mark.skipif(
    etcd_binary() is None,
    reason="etcd binary not found: install Debian's etcd-server to run the etcd backend tests")


@contextlib.asynccontextmanager
async def connected(storage: EtcdStorage) -> AsyncIterator[EtcdStorage]:
    await storage.start()
    try:
        yield storage
    finally:
        await storage.close()


async def create_until_done(storage: EtcdStorage, key: str, value: bytes,
                            failures: list[str]) -> KeyValue:
    """Create, retrying through outages; a retry that finds the key learns that the earlier
    attempt was applied after all."""
    while True:
        try:
            return await storage.create(key, value)
        except UnavailableError as err:
            failures.append(str(err))
            await asyncio.sleep(0.05)
        except KeyExistsError:
            found = await storage.get(key)
            assert found is not None and found.value == value
            return found


class Follower:
    """A watch kept running in the background, recording every event."""

    def __init__(self, storage: EtcdStorage, prefix: str, revision: int) -> None:
        self.events: list[Event] = []
        self._task = asyncio.create_task(self._run(storage, prefix, revision))

    async def _run(self, storage: EtcdStorage, prefix: str, revision: int) -> None:
        async for batch in storage.watch(prefix, revision):
            self.events.extend(batch)

    async def wait_for(self, count: int) -> list[Event]:
        """The events, once there are `count` (20 s at most)."""
        deadline = time.monotonic() + 20
        while len(self.events) < count:
            if self._task.done():
                self._task.result()
                raise AssertionError("watch ended early")
            assert time.monotonic() < deadline, f"{len(self.events)} of {count} events"
            await asyncio.sleep(0.02)
        return self.events

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


# -- configuration ---------------------------------------------------------------------


def test_endpoints_and_storage_urls() -> None:
    assert parse_endpoints("h1:2379,h2, https://h3:2380/") == (
        ["h1:2379", "h2:2379", "h3:2380"], True)
    assert parse_endpoints(["127.0.0.1:1", "[::1]"]) == (["127.0.0.1:1", "[::1]:2379"], False)
    with pytest.raises(ValueError):
        parse_endpoints("")
    plain = open_storage("etcd://h1:2379,h2:2379")
    assert isinstance(plain, EtcdStorage)
    assert (plain.addresses, plain.tls) == (["h1:2379", "h2:2379"], False)
    secure = open_storage("etcds://h1?cacert=/ca.crt&cert=/c.crt&key=/c.key&timeout=2")
    assert isinstance(secure, EtcdStorage) and secure.tls
    assert (secure.ca_file, secure.cert_file, secure.key_file) == (
        Path("/ca.crt"), Path("/c.crt"), Path("/c.key"))
    assert secure.request_timeout == 2
    with_ca = open_storage("etcd://h1", ca_file="/x.crt")
    assert isinstance(with_ca, EtcdStorage) and with_ca.tls
    with pytest.raises(ValueError):
        open_storage("etcd://h1?bogus=1")
    with pytest.raises(ValueError):
        EtcdStorage("h1", cert_file="/c.crt")
    assert isinstance(open_storage("sqlite:///tmp/x.db"), SQLiteStorage)


# -- unreachable etcd ------------------------------------------------------------------


async def test_unreachable_etcd_is_unavailable_at_once() -> None:
    ports = [free_port(), free_port()]
    storage = EtcdStorage([f"127.0.0.1:{p}" for p in ports], request_timeout=10,
                          watch_reconnect_timeout=0.5)
    async with connected(storage):
        for operation in (storage.get("/k"), storage.create("/k", b"v"),
                          storage.list("/k/"), storage.current_revision()):
            started = time.monotonic()
            with pytest.raises(UnavailableError):
                await operation
            assert time.monotonic() - started < 2
        started = time.monotonic()
        with pytest.raises(UnavailableError):
            async for _ in storage.watch("/k/", 0):
                pass
        assert time.monotonic() - started < 5


async def test_silent_etcd_times_out_instead_of_hanging() -> None:
    """A peer that accepts connections but never answers (a hung host)."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with connected(EtcdStorage(f"127.0.0.1:{port}", request_timeout=0.5)) as storage:
            for operation in (storage.get("/k"), storage.create("/k", b"v")):
                started = time.monotonic()
                with pytest.raises(UnavailableError):
                    await operation
                assert time.monotonic() - started < 3
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


# -- recovery --------------------------------------------------------------------------


@needs_etcd
async def test_recovers_by_itself_and_watch_has_no_gap_across_an_etcd_restart(
        tmp_path: Path) -> None:
    """kill -9 etcd under a writer and a watcher, bring it back: requests fail fast while it
    is down, then succeed again on the same storage object; the watch resumes where it was,
    and every acknowledged write is seen once, in order."""
    with EtcdCluster(tmp_path, size=1) as cluster:
        async with connected(EtcdStorage(cluster.endpoints, request_timeout=2)) as storage:
            start = await storage.current_revision()
            follower = Follower(storage, "/x/", start)
            written: list[KeyValue] = []
            failures: list[str] = []
            for i in range(20):
                written.append(await create_until_done(storage, f"/x/{i:03d}", b"v", failures))
            await follower.wait_for(20)

            cluster.kill(0)
            started = time.monotonic()
            with pytest.raises(UnavailableError):
                await storage.get("/x/000")
            assert time.monotonic() - started < 2

            restart = asyncio.create_task(asyncio.to_thread(cluster.restart, 0))
            for i in range(20, 60):
                written.append(await create_until_done(storage, f"/x/{i:03d}", b"v", failures))
            await restart
            events = await follower.wait_for(60)
            await follower.stop()
            assert failures, "the writer should have seen the outage"
            assert [(e.kv.key, e.kv.mod_revision) for e in events] == [
                (kv.key, kv.mod_revision) for kv in written]
            assert await storage.count("/x/") == 60


@needs_etcd
async def test_three_members_survive_kill_9_of_the_member_in_use(tmp_path: Path) -> None:
    """The client moves to another member; acknowledged writes survive; the watch goes on
    without gap or duplicate. (The API-level failover test builds on this.)"""
    with EtcdCluster(tmp_path, size=3) as cluster:
        async with connected(EtcdStorage(cluster.endpoints, request_timeout=5)) as storage:
            start = await storage.current_revision()
            follower = Follower(storage, "/f/", start)
            written: list[KeyValue] = []
            failures: list[str] = []
            for i in range(100):
                if i == 30:
                    cluster.kill(0)  # the first endpoint, which the client is using
                written.append(await create_until_done(storage, f"/f/{i:03d}", b"v", failures))
            events = await follower.wait_for(100)
            await follower.stop()
            assert [(e.kv.key, e.kv.mod_revision) for e in events] == [
                (kv.key, kv.mod_revision) for kv in written]
            listed = await storage.list("/f/")
            assert [kv.key for kv in listed.items] == [f"/f/{i:03d}" for i in range(100)]
            assert len(failures) <= 5, failures


@needs_etcd
async def test_progress_notifications_keep_a_quiet_watch_above_compaction(
        tmp_path: Path) -> None:
    """A watch with no events of its own is told how far etcd is; so after a compaction and
    a reconnect it resumes from there instead of failing with a compacted revision."""
    with EtcdCluster(tmp_path, size=1, progress_notify_interval="200ms") as cluster:
        async with connected(EtcdStorage(cluster.endpoints, request_timeout=2)) as storage:
            start = await storage.current_revision()
            follower = Follower(storage, "/quiet/", start)
            for i in range(20):
                await storage.create(f"/busy/{i}", b"v")
            await asyncio.sleep(0.6)  # a progress notification or two
            await storage.compact(await storage.current_revision())
            cluster.kill(0)
            await asyncio.to_thread(cluster.restart, 0)
            created = await create_until_done(storage, "/quiet/a", b"v", [])
            events = await follower.wait_for(1)
            await follower.stop()
            assert [(e.kv.key, e.kv.mod_revision) for e in events] == [
                ("/quiet/a", created.mod_revision)]


@needs_etcd
async def test_compaction_by_another_client_is_learned(tmp_path: Path) -> None:
    """Another API server compacted: this client finds out when it runs into it, with the
    compaction revision, for lists and watches alike."""
    with EtcdCluster(tmp_path, size=1) as cluster:
        async with connected(EtcdStorage(cluster.endpoints)) as mine, \
                connected(EtcdStorage(cluster.endpoints)) as other:
            first = await mine.create("/c/a", b"1")
            await mine.update("/c/a", b"2", expected_revision=first.mod_revision)
            await mine.create("/c/b", b"1")
            head = await other.current_revision()
            await other.compact(head)
            assert await mine.compacted_revision() == 0
            with pytest.raises(CompactedError) as listed:
                await mine.list("/c/", revision=first.mod_revision)
            assert listed.value.compacted == head
            assert await mine.compacted_revision() == head
            fresh = EtcdStorage(cluster.endpoints)
            async with connected(fresh):
                with pytest.raises(CompactedError) as watched:
                    async for _ in fresh.watch("/c/", first.mod_revision):
                        pass
                assert watched.value.compacted == head
                await fresh.compact(head)  # already done by another: no error


# -- TLS -------------------------------------------------------------------------------


@needs_etcd
async def test_mutual_tls(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path / "pki", ips=["127.0.0.1"])
    cert, key = issue_client_cert(pki, "kube-apiserver-etcd-client", [], tmp_path / "client")
    tls = EtcdTLS(pki.ca_cert, pki.serving_cert, pki.serving_key, cert, key)
    with EtcdCluster(tmp_path / "etcd", size=1, tls=tls) as cluster:
        url = f"{cluster.url}?cacert={pki.ca_cert}&cert={cert}&key={key}"
        storage = open_storage(url)
        assert isinstance(storage, EtcdStorage)
        async with connected(storage):
            created = await storage.create("/t/a", b"1")
            assert await storage.get("/t/a") == created
        anonymous = EtcdStorage(cluster.endpoints, ca_file=pki.ca_cert, request_timeout=2)
        async with connected(anonymous):
            with pytest.raises(UnavailableError):
                await anonymous.get("/t/a")
        plaintext = EtcdStorage(cluster.endpoints, request_timeout=2)
        async with connected(plaintext):
            with pytest.raises(UnavailableError):
                await plaintext.get("/t/a")
