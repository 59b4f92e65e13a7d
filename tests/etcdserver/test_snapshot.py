"""Restoring an etcd snapshot (etcdserver/snapshot.py, bbolt.py) with a real etcd: the
restored member, a new single-member cluster, has every key at its revision, and applies
the new cluster's writes from its first (its consistent index was reset), across a restart.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc  # type: ignore[import-untyped]
import pytest
from aetcd import rpc  # type: ignore[import-untyped]

from kybernetes.etcdserver import snapshot
from tests.etcd_cluster import EtcdCluster, etcd_binary, free_port

pytestmark = pytest.mark.skipif(etcd_binary() is None, reason="etcd binary not found")


async def _save(endpoint: str, path: Path) -> int:
    async with grpc.aio.insecure_channel(endpoint) as channel:
        kv = rpc.KVStub(channel)
        for i in range(20):
            await kv.Put(rpc.PutRequest(key=f"/k/{i:02d}".encode(), value=b"v" * 64))
        head = await kv.Range(rpc.RangeRequest(key=b"/k/00", count_only=True))
        with path.open("wb") as file:
            async for chunk in rpc.MaintenanceStub(channel).Snapshot(rpc.SnapshotRequest()):
                file.write(chunk.blob)
        return int(head.header.revision)


class _Member:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.client, self.peer = free_port(), free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        peer = f"http://127.0.0.1:{self.peer}"
        client = f"http://127.0.0.1:{self.client}"
        with open(f"{self.data_dir}.log", "ab") as log:
            self.process = subprocess.Popen(
                [str(etcd_binary()), "--data-dir", str(self.data_dir / "db" / "etcd"),
                 "--listen-client-urls", client, "--advertise-client-urls", client,
                 "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                 "--initial-cluster", f"default={peer}", "--listen-metrics-urls", ""],
                stdout=log, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(15)


@pytest.fixture
def member(tmp_path: Path) -> Iterator[_Member]:
    restored = _Member(tmp_path / "restored")
    yield restored
    restored.stop()


async def _range(endpoint: str, key: bytes, end: bytes = b"") -> tuple[list[object], int]:
    async with grpc.aio.insecure_channel(endpoint) as channel:
        for _ in range(100):
            try:
                got = await rpc.KVStub(channel).Range(rpc.RangeRequest(key=key, range_end=end),
                                                      timeout=2)
                return list(got.kvs), int(got.header.revision)
            except grpc.aio.AioRpcError:
                await asyncio.sleep(0.1)
    raise AssertionError(f"etcd at {endpoint} does not answer")


def test_a_restored_snapshot_keeps_its_keys_and_takes_new_writes(
        tmp_path: Path, member: _Member) -> None:
    saved = tmp_path / "snap.db"
    with EtcdCluster(tmp_path / "source") as source:
        revision = asyncio.run(_save(source.endpoints[0], saved))
    moved = snapshot.restore(member.data_dir, saved)
    assert moved is None
    member.start()
    endpoint = f"127.0.0.1:{member.client}"
    kvs, head = asyncio.run(_range(endpoint, b"/k/", b"/k0"))
    assert len(kvs) == 20 and head == revision

    async def put() -> int:
        async with grpc.aio.insecure_channel(endpoint) as channel:
            done = await rpc.KVStub(channel).Put(rpc.PutRequest(key=b"/new", value=b"x"))
            return int(done.header.revision)

    assert asyncio.run(put()) == revision + 1
    member.stop()
    member.start()  # the write was applied, not only acknowledged
    kvs, head = asyncio.run(_range(endpoint, b"/new"))
    assert len(kvs) == 1 and head == revision + 1


def test_a_restore_moves_the_old_data_aside(tmp_path: Path) -> None:
    saved = tmp_path / "snap.db"
    with EtcdCluster(tmp_path / "source") as source:
        asyncio.run(_save(source.endpoints[0], saved))
    old = tmp_path / "data" / "db" / "etcd"
    old.mkdir(parents=True)
    (old / "marker").write_text("old")
    moved = snapshot.restore(tmp_path / "data", saved)
    assert moved is not None and (moved / "marker").read_text() == "old"
    assert (old / "member" / "snap" / "db").is_file()


def test_a_corrupt_or_foreign_snapshot_is_refused(tmp_path: Path) -> None:
    saved = tmp_path / "snap.db"
    with EtcdCluster(tmp_path / "source") as source:
        asyncio.run(_save(source.endpoints[0], saved))
    data = bytearray(saved.read_bytes())
    data[5000] ^= 0xFF
    saved.write_bytes(bytes(data))
    with pytest.raises(snapshot.SnapshotError, match="sha256"):
        snapshot.restore(tmp_path / "data", saved)
    other = tmp_path / "other"
    other.write_bytes(b"\0" * 8192)
    with pytest.raises(snapshot.SnapshotError, match="not an etcd snapshot"):
        snapshot.restore(tmp_path / "data", other)
    assert not (tmp_path / "data" / "db" / "etcd").exists()
