"""Where a LIST is served from, on SQLite and on a real etcd (upstream's cache delegator):
a consistent list from the watch cache once it holds the storage's revision, so it sees a
write made just before it without reading the objects from storage; resourceVersion "0"
from the cache at once; an exact resourceVersion from storage at that revision; a consistent
list the cache cannot catch up with from storage; and upstream's ListOptions validation."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from tests.apiserver.inprocess import apiserver, http_client, ok
from tests.e2e.cluster import wipe_etcd
from tests.etcd_cluster import EtcdCluster, etcd_binary

from kybernetes.apiserver import watchcache
from kybernetes.apiserver.server import ApiServer
from kybernetes.storage.interface import ListResult

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


@pytest.fixture(scope="module")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdCluster]:
    if etcd_binary() is None:
        pytest.skip("etcd binary not found: install Debian's etcd-server")
    with EtcdCluster(tmp_path_factory.mktemp("etcd"), size=1) as cluster:
        yield cluster


@pytest.fixture(params=["sqlite", pytest.param("etcd", marks=pytest.mark.e2e)])
def storage_url(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return ""
    cluster: EtcdCluster = request.getfixturevalue("etcd")
    wipe_etcd(cluster.endpoints[0])
    return "etcd://" + cluster.endpoints[0]


@pytest.fixture
async def server(tmp_path: Path, storage_url: str) -> AsyncIterator[ApiServer]:
    async with apiserver(tmp_path, storage_url=storage_url, authorization_mode="AlwaysAllow",
                         disable_admission_plugins=["ServiceAccount"]) as running:
        yield running


@pytest.fixture
async def http(server: ApiServer) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(server.app) as client:
        yield client


@pytest.fixture
def storage_lists(server: ApiServer, monkeypatch: pytest.MonkeyPatch
                  ) -> list[tuple[str, int]]:
    """The (prefix, revision) of every list the server reads from its storage."""
    calls: list[tuple[str, int]] = []
    real = server.storage.list

    async def counted(prefix: str, **options: Any) -> ListResult:
        calls.append((prefix, options.get("revision", 0)))
        return await real(prefix, **options)

    monkeypatch.setattr(server.storage, "list", counted)
    return calls


def _configmap(name: str, value: str) -> bytes:
    return orjson.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                         "metadata": {"name": name, "namespace": "default"},
                         "data": {"v": value}})


def _items(body: dict[str, Any]) -> dict[str, str]:
    return {i["metadata"]["name"]: i["data"]["v"] for i in body["items"]}


async def test_consistent_list_is_served_by_the_cache_and_sees_the_write_before_it(
        server: ApiServer, http: httpx.AsyncClient, storage_lists: list[tuple[str, int]]
) -> None:
    # Written to storage directly, as another API server would: only the storage's watch
    # brings these writes into the cache, and each list comes right after its write.
    for i in range(20):
        kv = await server.storage.create(f"/registry/configmaps/default/w-{i}",
                                         _configmap(f"w-{i}", str(i)))
        body = ok(await http.get(CONFIGMAPS))
        assert _items(body).get(f"w-{i}") == str(i)
        assert int(body["metadata"]["resourceVersion"]) >= kv.mod_revision
    paged = ok(await http.get(CONFIGMAPS, params={"limit": "5"}))
    assert len(paged["items"]) == 5 and paged["metadata"]["remainingItemCount"] == 15
    assert storage_lists == []
    # Later pages are read from storage at the first page's revision.
    rest = ok(await http.get(CONFIGMAPS, params={"continue": paged["metadata"]["continue"]}))
    assert len(rest["items"]) == 15
    assert storage_lists[0] == ("/registry/configmaps/default/",
                                int(paged["metadata"]["resourceVersion"]))


async def test_resource_version_0_reads_nothing_from_storage(
        server: ApiServer, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    await server.storage.create("/registry/configmaps/default/a", _configmap("a", "1"))
    ok(await http.get(CONFIGMAPS))
    reads: list[str] = []

    async def current_revision() -> int:
        reads.append("revision")
        return 0

    monkeypatch.setattr(server.storage, "current_revision", current_revision)
    body = ok(await http.get(CONFIGMAPS, params={"resourceVersion": "0"}))
    assert _items(body) == {"a": "1"}
    assert int(body["metadata"]["resourceVersion"]) == server.cache.revision
    assert reads == []


async def test_exact_resource_version_is_read_from_storage_at_that_revision(
        server: ApiServer, http: httpx.AsyncClient) -> None:
    first = await server.storage.create("/registry/configmaps/default/a", _configmap("a", "1"))
    await server.storage.update("/registry/configmaps/default/a", _configmap("a", "2"),
                                expected_revision=first.mod_revision)
    await server.storage.create("/registry/configmaps/default/b", _configmap("b", "1"))
    assert _items(ok(await http.get(CONFIGMAPS))) == {"a": "2", "b": "1"}
    rv = str(first.mod_revision)
    for query in ({"resourceVersion": rv, "resourceVersionMatch": "Exact"},
                  {"resourceVersion": rv, "limit": "10"}):
        body = ok(await http.get(CONFIGMAPS, params=query))
        assert _items(body) == {"a": "1"}, query
        assert body["metadata"]["resourceVersion"] == rv
    # NotOlderThan an old revision: the cache's current state.
    newer = ok(await http.get(CONFIGMAPS, params={"resourceVersion": rv,
                                                  "resourceVersionMatch": "NotOlderThan"}))
    assert _items(newer) == {"a": "2", "b": "1"}

    future = str(server.cache.revision + 1000)
    response = await http.get(CONFIGMAPS, params={"resourceVersion": future,
                                                  "resourceVersionMatch": "Exact"})
    assert response.status_code == 504
    assert response.json()["details"]["causes"][0]["reason"] == "ResourceVersionTooLarge"

    await server.storage.compact(server.cache.revision)
    response = await http.get(CONFIGMAPS, params={"resourceVersion": rv,
                                                  "resourceVersionMatch": "Exact"})
    assert (response.status_code, response.json()["reason"]) == (410, "Expired")


async def test_consistent_list_falls_back_to_storage_when_the_cache_is_behind(
        server: ApiServer, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watchcache, "FRESH_TIMEOUT", 0.3)
    await server.cache.stop()  # the cache no longer follows the storage
    kv = await server.storage.create("/registry/configmaps/default/late",
                                     _configmap("late", "1"))
    body = ok(await http.get(CONFIGMAPS))
    assert _items(body) == {"late": "1"}
    assert int(body["metadata"]["resourceVersion"]) >= kv.mod_revision
    assert server.cache.get("/registry/configmaps/default/late") is None


@pytest.mark.parametrize(("query", "code"), [
    ({"resourceVersionMatch": "NotOlderThan"}, 422),
    ({"resourceVersion": "0", "resourceVersionMatch": "Exact"}, 422),
    ({"resourceVersion": "5", "resourceVersionMatch": "Newest"}, 422),
    ({"sendInitialEvents": "true"}, 422),
    ({"resourceVersion": "5", "continue": "x"}, 400),
])
async def test_list_options_are_validated(http: httpx.AsyncClient, query: dict[str, str],
                                          code: int) -> None:
    response = await http.get(CONFIGMAPS, params=query)
    assert response.status_code == code, response.text
