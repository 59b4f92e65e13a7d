"""`kyb apiserver` while its etcd is unreachable, and after it returns.

etcd is either killed (connections refused) or frozen with SIGSTOP (connections accepted,
nothing answered, the worse case). Meanwhile `/readyz` answers 503 and API requests get a
503 `Status` saying the storage is unavailable, each within a deadline far above the
storage's own request timeout, so never a hang. When etcd comes back, the server recovers
by itself: `/readyz` is 200 again, reads and writes work, and a watch opened before the
outage goes on without losing an event.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kybernetes.apiserver.pki import Pki, ssl_client_context
from tests.e2e.cluster import (
    Server,
    assert_status,
    etcd_storage_args,
    make_namespace,
    open_watch,
    read_until,
)
from tests.etcd_cluster import EtcdCluster, etcd_binary

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(etcd_binary() is None, reason="etcd binary not found: install "
                       "Debian's etcd-server to run the etcd outage tests"),
]

NS = "outage"
CONFIGMAPS = f"/api/v1/namespaces/{NS}/configmaps"
STORAGE_TIMEOUT = 2
# Far above the storage's request timeout: a request that takes this long hangs.
DEADLINE = 30.0
# How long the server gets to recover once etcd is back (it takes about a second).
RECOVERY = 60.0


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[EtcdCluster]:
    with EtcdCluster(tmp_path / "etcd", size=1) as running:
        yield running


@pytest.fixture
def apiserver(tmp_path: Path, cluster: EtcdCluster) -> Iterator[Server]:
    data_dir = tmp_path / "kyb"
    data_dir.mkdir()
    # Each etcd request may take 2 s (the URL's timeout) instead of the default 5.
    storage = etcd_storage_args(cluster.endpoints)
    storage[-1] += f"?timeout={STORAGE_TIMEOUT}"
    server = Server(data_dir, command="apiserver", extra_args=storage)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _configmap(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
            "data": {"k": name}}


def _wait_ready(api: httpx.Client) -> None:
    deadline = time.monotonic() + RECOVERY
    while True:
        response = api.get("/readyz")
        if response.status_code == 200:
            return
        assert time.monotonic() < deadline, f"not ready {RECOVERY}s after etcd returned: " \
            f"{response.status_code} {response.text}"
        time.sleep(0.2)


def _assert_unavailable(response: httpx.Response) -> None:
    status = assert_status(response, 503, "ServiceUnavailable")
    assert "storage is unavailable" in status["message"] or "etcd" in status["message"], \
        status


@pytest.mark.parametrize("outage", ["killed", "frozen"])
def test_unreachable_etcd_is_503_and_the_server_recovers_by_itself(
        outage: str, cluster: EtcdCluster, apiserver: Server) -> None:
    member = cluster.members[0]
    with httpx.Client(base_url=apiserver.url, timeout=DEADLINE,
                      verify=ssl_client_context(Pki.at(apiserver.data_dir))) as api:
        make_namespace(api, NS)
        before = api.post(CONFIGMAPS, json=_configmap("before"))
        assert before.status_code == 201, before.text
        since = before.json()["metadata"]["resourceVersion"]

        if outage == "killed":
            cluster.kill(0)
        else:
            assert member.process is not None
            os.kill(member.process.pid, signal.SIGSTOP)
        try:
            ready = api.get("/readyz")
            assert ready.status_code == 503, ready.text
            assert "storage" in ready.text
            assert api.get("/livez").status_code == 200  # alive, just not ready
            _assert_unavailable(api.get(f"{CONFIGMAPS}/before"))
            _assert_unavailable(api.get(CONFIGMAPS))
            _assert_unavailable(api.post(CONFIGMAPS, json=_configmap("during")))
            # A watch needing a fresh snapshot is refused before its stream starts.
            _assert_unavailable(api.get(CONFIGMAPS, params={"watch": "1"}))
        finally:
            if outage == "killed":
                cluster.restart(0)
            else:
                assert member.process is not None
                os.kill(member.process.pid, signal.SIGCONT)
                cluster.wait_healthy()

        _wait_ready(api)
        after = api.post(CONFIGMAPS, json=_configmap("after"))
        assert after.status_code == 201, after.text
        got = api.get(f"{CONFIGMAPS}/after")
        assert got.status_code == 200, got.text
        assert got.json()["metadata"]["resourceVersion"] == \
            after.json()["metadata"]["resourceVersion"]
        names = {o["metadata"]["name"] for o in api.get(CONFIGMAPS).json()["items"]}
        # The create during the outage failed; whether etcd applied it is unknown.
        assert {"before", "after"} <= names <= {"before", "during", "after"}
        # A watch from before the outage sees everything since, through the recovered cache.
        with open_watch(api, CONFIGMAPS, {"resourceVersion": since}) as events:
            seen = read_until(events, lambda e: e["object"]["metadata"]["name"] == "after")
        assert [e["type"] for e in seen][-1] == "ADDED"
        assert {e["object"]["metadata"]["name"] for e in seen} <= {"during", "after"}
