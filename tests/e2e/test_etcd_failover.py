"""`kyb apiserver` on a 3-member etcd cluster survives kill -9 of one member under load.

A client writes 1000 ConfigMaps through the API, 16 at a time, while the test kills one etcd
member (the leader, or a follower the API server is connected to) halfway through. Every
write the API acknowledged (201) must be readable afterwards, through the API and in etcd
itself. Requests may fail around the kill, but only cleanly: a 5xx `Status` or a broken
connection, never a hang (each request has a deadline far above the storage's own) and
never another kind of answer. The number of failed requests is printed and recorded as the
test's `failed_requests` property (in the JUnit XML).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from kybernetes.apiserver.pki import Pki, ssl_client_context
from kybernetes.storage.etcd import EtcdStorage
from tests.e2e.cluster import Server, etcd_storage_args, make_namespace
from tests.etcd_cluster import EtcdCluster, etcd_binary

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(etcd_binary() is None, reason="etcd binary not found: install "
                       "Debian's etcd-server to run the etcd failover tests"),
]

TOTAL = 1000
CONCURRENCY = 16
# A request that takes longer than this hangs (the storage gives up on etcd after 5 s).
REQUEST_DEADLINE = 60.0
NS = "failover"


@dataclass
class Outcome:
    acknowledged: dict[str, str] = field(default_factory=dict)  # name -> resourceVersion
    server_errors: list[tuple[str, int, str]] = field(default_factory=list)
    connection_errors: list[tuple[str, str]] = field(default_factory=list)
    unexpected: list[tuple[str, str]] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return len(self.server_errors) + len(self.connection_errors) + len(self.unexpected)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[EtcdCluster]:
    with EtcdCluster(tmp_path / "etcd", size=3) as running:
        yield running


@pytest.fixture
def apiserver(tmp_path: Path, cluster: EtcdCluster) -> Iterator[Server]:
    data_dir = tmp_path / "kyb"
    data_dir.mkdir()
    server = Server(data_dir, command="apiserver", extra_args=etcd_storage_args(
        cluster.endpoints))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _configmap(i: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{i:04d}"},
            "data": {"index": str(i), "payload": "x" * 200}}


def _classify(outcome: Outcome, name: str, response: httpx.Response) -> None:
    if response.status_code == 201:
        outcome.acknowledged[name] = response.json()["metadata"]["resourceVersion"]
        return
    if response.status_code >= 500:
        try:
            status = response.json()
        except json.JSONDecodeError:
            status = {}
        if status.get("kind") == "Status" and status.get("code") == response.status_code \
                and status.get("status") == "Failure" and status.get("message"):
            outcome.server_errors.append((name, response.status_code, status["message"]))
            return
    outcome.unexpected.append((name, f"{response.status_code}: {response.text[:300]}"))


async def _write_while_killing(server: Server, cluster: EtcdCluster, victim: int) -> Outcome:
    """TOTAL creates, CONCURRENCY at a time; kill -9 of member `victim` after half."""
    outcome = Outcome()
    pending = iter(range(TOTAL))
    killed: asyncio.Task[None] | None = None
    context = ssl_client_context(Pki.at(server.data_dir))
    path = f"/api/v1/namespaces/{NS}/configmaps"

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal killed
        for i in pending:
            if i == TOTAL // 2:
                killed = asyncio.create_task(asyncio.to_thread(cluster.kill, victim))
            body = _configmap(i)
            name = body["metadata"]["name"]
            try:
                response = await client.post(path, json=body)
            except httpx.TimeoutException as err:
                outcome.unexpected.append((name, f"no answer in {REQUEST_DEADLINE}s: {err!r}"))
                continue
            except httpx.TransportError as err:
                outcome.connection_errors.append((name, repr(err)))
                continue
            _classify(outcome, name, response)

    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=server.url, verify=context, limits=limits,
                                 timeout=REQUEST_DEADLINE) as client:
        await asyncio.gather(*(worker(client) for _ in range(CONCURRENCY)))
    assert killed is not None
    await killed
    return outcome


async def _stored_names(cluster: EtcdCluster) -> dict[str, int]:
    """The ConfigMaps of the namespace as etcd itself has them (name -> mod revision)."""
    storage = EtcdStorage(cluster.endpoints)
    await storage.start()
    try:
        listed = await storage.list(f"/registry/configmaps/{NS}/")
    finally:
        await storage.close()
    return {kv.key.rsplit("/", 1)[1]: kv.mod_revision for kv in listed.items}


@pytest.mark.parametrize("victim", ["leader", "follower-in-use"])
async def test_acknowledged_writes_survive_kill_9_of_an_etcd_member(
        victim: str, cluster: EtcdCluster, apiserver: Server,
        record_property: Any) -> None:
    with apiserver.client() as api:
        make_namespace(api, NS)
    leader = cluster.leader()
    assert leader is not None
    # The API server's storage talks to the first endpoint until it fails.
    in_use_follower = 0 if leader != 0 else 1
    index = leader if victim == "leader" else in_use_follower
    outcome = await _write_while_killing(apiserver, cluster, index)

    report = (f"etcd failover ({victim}, member m{index} killed after {TOTAL // 2} of {TOTAL} "
              f"creates, {CONCURRENCY} at a time): {len(outcome.acknowledged)} acknowledged, "
              f"{outcome.failed} failed ({len(outcome.server_errors)} 5xx Status, "
              f"{len(outcome.connection_errors)} connection errors)")
    print(report)
    for name, code, message in outcome.server_errors[:5]:
        print(f"  {name}: {code} {message}")
    record_property("failed_requests", outcome.failed)
    record_property("acknowledged_writes", len(outcome.acknowledged))

    assert not outcome.unexpected, outcome.unexpected[:10]
    assert len(outcome.acknowledged) + outcome.failed == TOTAL

    # Every acknowledged write is there: through the API (a consistent list) ...
    with apiserver.client() as api:
        response = api.get(f"/api/v1/namespaces/{NS}/configmaps")
        assert response.status_code == 200, response.text
        listed = {item["metadata"]["name"]: item for item in response.json()["items"]}
        for name, rv in outcome.acknowledged.items():
            assert name in listed, f"acknowledged {name} (rv {rv}) is missing"
            assert listed[name]["metadata"]["resourceVersion"] == rv
            assert listed[name]["data"]["index"] == str(int(name.removeprefix("cm-")))
        # ... one by one ...
        for name in list(outcome.acknowledged)[::50]:
            assert api.get(f"/api/v1/namespaces/{NS}/configmaps/{name}").status_code == 200
    # ... and in etcd itself, once the killed member is back too.
    cluster.restart(index)
    stored = await _stored_names(cluster)
    for name, rv in outcome.acknowledged.items():
        assert stored.get(name) == int(rv), name
    # Failed creates may or may not have been applied; nothing else is there.
    assert set(stored) <= {_configmap(i)["metadata"]["name"] for i in range(TOTAL)}
    assert set(listed) == set(stored)
