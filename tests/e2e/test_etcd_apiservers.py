"""Two `kyb apiserver` processes on one 3-member etcd cluster.

Writes go through both servers while a client (kybernetes.client) watches through server A,
then switches to server B midway, resuming from the last resourceVersion it saw. The events
it got must be exactly the writes made (none lost, none twice, in revision order), and
replaying them onto the starting list must give the final list, which both servers serve
identically (their watch caches converge).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from kybernetes.client import ApiClient, NotFoundError, load_kubeconfig, resource
from kybernetes.client.rest import WatchEvent
from tests.e2e.cluster import Server, etcd_storage_args
from tests.etcd_cluster import EtcdCluster, etcd_binary

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(etcd_binary() is None, reason="etcd binary not found: install "
                       "Debian's etcd-server to run the multi-apiserver tests"),
]

CONFIGMAPS = resource("", "v1", "configmaps")
NAMESPACES = resource("", "v1", "namespaces")
NS = "switching"
WRITES = 300


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdCluster]:
    with EtcdCluster(tmp_path_factory.mktemp("etcd"), size=3) as running:
        yield running


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory, cluster: EtcdCluster
            ) -> Iterator[tuple[Server, Server]]:
    started: list[Server] = []
    try:
        for name in ("a", "b"):
            server = Server(tmp_path_factory.mktemp(f"kyb-{name}"), command="apiserver",
                            extra_args=etcd_storage_args(cluster.endpoints))
            server.start()
            started.append(server)
        yield started[0], started[1]
        errors = {key: n for s in started for key, n in s.server_errors().items()}
        assert not errors, f"5xx answers: {errors}"
    finally:
        for server in started:
            server.stop()


@pytest.fixture
async def clients(servers: tuple[Server, Server]) -> AsyncIterator[tuple[ApiClient, ApiClient]]:
    async with AsyncExitStack() as stack:
        a, b = [await stack.enter_async_context(ApiClient(load_kubeconfig(s.kubeconfig)))
                for s in servers]
        yield a, b


def _state(items: list[dict[str, Any]]) -> dict[str, tuple[str, dict[str, str]]]:
    return {o["metadata"]["name"]: (o["metadata"]["resourceVersion"], o.get("data") or {})
            for o in items}


async def _write(clients: tuple[ApiClient, ApiClient]) -> list[int]:
    """Creates, updates and deletes, each through one server or the other, a few at a time.
    Returns the resourceVersion of every write (each is one revision, one event; -1 for
    a delete answered with a Status)."""
    revisions: list[int] = []
    names: list[str] = []
    rng = random.Random(6)

    async def one(i: int) -> None:
        api = clients[i % 2]
        if names and i % 5 == 4:
            name = names.pop(rng.randrange(len(names)))
            deleted = await api.delete(CONFIGMAPS, name, NS)
            revisions.append(int(deleted["metadata"]["resourceVersion"])
                             if deleted.get("kind") == "ConfigMap" else -1)
            return
        if names and i % 3 == 2:
            name = rng.choice(names)
            try:
                patched = await api.patch(CONFIGMAPS, name, {"data": {"step": str(i)}}, NS)
            except NotFoundError:
                return  # deleted meanwhile by a concurrent write
            revisions.append(int(patched["metadata"]["resourceVersion"]))
            return
        name = f"cm-{i:04d}"
        created = await api.create(CONFIGMAPS, {"metadata": {"name": name},
                                                "data": {"step": str(i)}}, NS)
        names.append(name)
        revisions.append(int(created["metadata"]["resourceVersion"]))

    for start in range(0, WRITES, 4):
        await asyncio.gather(*(one(i) for i in range(start, min(start + 4, WRITES))))
    return revisions


async def _watch(api: ApiClient, rv: str, events: list[WatchEvent],
                 enough: Callable[[], bool]) -> str:
    """Watch through `api` from `rv`, collecting events, until `enough()` after one.
    Returns the resourceVersion to resume from (the last one seen)."""
    last = rv

    async def follow() -> None:
        nonlocal last
        async with api.watch(CONFIGMAPS, NS, resource_version=rv, timeout_seconds=120,
                             allow_bookmarks=True) as watch:
            async for event in watch:
                last = watch.resource_version
                if event.type != "BOOKMARK":
                    events.append(event)
                if enough():
                    return
        raise AssertionError(f"the watch ended; {len(events)} events")

    await asyncio.wait_for(follow(), 120)
    return last


async def test_a_client_switching_servers_misses_nothing_and_both_caches_agree(
        clients: tuple[ApiClient, ApiClient]) -> None:
    a, b = clients
    await a.create(NAMESPACES, {"metadata": {"name": NS}})
    start = await b.list(CONFIGMAPS, NS)  # the namespace is new: through B, and empty
    assert start.items == []
    events: list[WatchEvent] = []
    writer = asyncio.create_task(_write(clients))
    resume = await _watch(a, start.resource_version, events,
                          lambda: len(events) >= WRITES // 3)
    through_a = len(events)
    revisions = await writer
    await _watch(b, resume, events, lambda: len(events) >= len(revisions))
    assert 0 < through_a < len(events), "the switch should happen while writes go on"

    # Nothing lost, nothing twice: one event per write, in revision order.
    seen = [int(e.object["metadata"]["resourceVersion"]) for e in events]
    assert seen == sorted(set(seen)), "events out of order or duplicated"
    assert len(seen) == len(revisions)
    assert set(seen) >= {r for r in revisions if r > 0}
    # Replaying the events onto the starting (empty) list gives the final list ...
    state: dict[str, tuple[str, dict[str, str]]] = {}
    for event in events:
        name = event.object["metadata"]["name"]
        if event.type == "DELETED":
            del state[name]
        else:
            assert (name in state) == (event.type == "MODIFIED"), event
            state[name] = (event.object["metadata"]["resourceVersion"],
                           event.object.get("data") or {})
    final_a, final_b = await a.list(CONFIGMAPS, NS), await b.list(CONFIGMAPS, NS)
    assert state == _state(final_a.items)
    # ... which both servers serve alike.
    assert final_a.resource_version == final_b.resource_version
    assert final_a.items == final_b.items
    assert [o["metadata"]["name"] for o in final_a.items] == sorted(state)


async def test_a_write_through_one_server_is_seen_by_a_watch_on_the_other(
        clients: tuple[ApiClient, ApiClient]) -> None:
    a, b = clients
    listed = await b.list(NAMESPACES)
    async with b.watch(NAMESPACES, resource_version=listed.resource_version,
                       timeout_seconds=60) as watch:
        created = await a.create(NAMESPACES, {"metadata": {"name": "seen-elsewhere"}})
        async for event in watch:
            if event.type == "ADDED" and event.object["metadata"]["name"] == "seen-elsewhere":
                assert event.object["metadata"]["uid"] == created["metadata"]["uid"]
                break
    # Both read their own writes and each other's at once (consistent reads).
    got = await b.get(NAMESPACES, "seen-elsewhere")
    assert got["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    patched = await b.patch(NAMESPACES, "seen-elsewhere", {"metadata": {"labels": {"x": "1"}}})
    again = await a.get(NAMESPACES, "seen-elsewhere")
    assert again["metadata"]["resourceVersion"] == patched["metadata"]["resourceVersion"]
    assert (await a.list(NAMESPACES)).items == (await b.list(NAMESPACES)).items


async def test_writes_outside_the_registry_do_not_stall_reads(
        clients: tuple[ApiClient, ApiClient], cluster: EtcdCluster) -> None:
    """Another etcd client writes keys outside /registry/: the revision moves on without
    events for the API servers, whose consistent reads must not wait for one."""
    from kybernetes.storage.etcd import EtcdStorage

    other = EtcdStorage(cluster.endpoints)
    await other.start()
    try:
        for i in range(5):
            await other.create(f"/elsewhere/{Path(__file__).stem}/{i}", b"x")
        head = await other.current_revision()
    finally:
        await other.close()
    for api in clients:
        listed = await api.list(NAMESPACES)
        assert int(listed.resource_version) >= head
        await api.get(NAMESPACES, "default")
