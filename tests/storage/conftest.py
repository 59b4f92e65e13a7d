"""Backends the storage contract suite runs against: SQLite and a real etcd, and the
API server's watch cache over each.

The etcd backend talks to one `etcd` process started once per session on free loopback
ports (tests/etcd_cluster.py); before each test every key is deleted, so each test starts
from an empty keyspace (revisions keep growing, which the contract allows). The etcd cases
are skipped, saying why, only when the `etcd` binary is not installed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc  # type: ignore[import-untyped]
import pytest
from aetcd import rpc  # type: ignore[import-untyped]

from kybernetes.apiserver.watchcache import WatchCache
from kybernetes.storage.etcd import EtcdStorage
from kybernetes.storage.interface import Storage
from kybernetes.storage.sqlite import SQLiteStorage
from tests.etcd_cluster import EtcdCluster, etcd_binary

NO_ETCD = "etcd binary not found: install Debian's etcd-server to run the etcd backend tests"


def require_etcd() -> None:
    if etcd_binary() is None:
        pytest.skip(NO_ETCD)


@pytest.fixture(scope="session")
def etcd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdCluster]:
    """One etcd member for the whole session."""
    require_etcd()
    with EtcdCluster(tmp_path_factory.mktemp("etcd"), size=1) as cluster:
        yield cluster


async def wipe(endpoint: str) -> None:
    """Delete every key in the etcd at `endpoint`."""
    async with grpc.aio.insecure_channel(endpoint) as channel:
        await rpc.KVStub(channel).DeleteRange(
            rpc.DeleteRangeRequest(key=b"\0", range_end=b"\0"), timeout=10)


# The etcd cases start an etcd: they are end-to-end tests (`-m "not e2e"` leaves them out).
@pytest.fixture(params=["sqlite", pytest.param("etcd", marks=pytest.mark.e2e)])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    backend: Storage
    if request.param == "etcd":
        require_etcd()
        cluster: EtcdCluster = request.getfixturevalue("etcd_server")
        await wipe(cluster.endpoints[0])
        backend = EtcdStorage(cluster.endpoints)
    else:
        backend = SQLiteStorage(tmp_path / "state.db")
    await backend.start()
    try:
        yield backend
    finally:
        await backend.close()


@pytest.fixture
async def cache(storage: Storage) -> AsyncIterator[WatchCache]:
    running = WatchCache(storage)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()
