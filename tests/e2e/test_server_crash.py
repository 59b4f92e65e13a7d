"""`kyb server` dies with a full node and writes in flight; restarted, it loses nothing.

A real node (tests/e2e/nodens.py) runs a Deployment of 50 busybox `sleep` pods while a
thread creates ConfigMaps, recording each create acknowledged with a 201. Then the server
process alone is killed — `kill -9` in one test, SIGTERM in the other — and restarted on
the same data dir. Containers outlive the server by design (their conmons are their own), so
after the restart:

- every acknowledged ConfigMap is there;
- every pod is Running with the same container id and restartCount 0: the new kubelet
  adopted the containers instead of starting them again;
- runc runs exactly the 50 containers it ran before, with the same init pids: nothing was
  started twice.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.cluster import Kubectl, Server, wait_until
from tests.e2e.nodens import REAL_NODE, import_busybox, new_namespace, node_ready, real_node

pytestmark = [pytest.mark.e2e, REAL_NODE]

NODE = "crash-node"
IMAGE = "busybox:1.36"
REPLICAS = 50
# 50 pods on a small machine: starting them all takes the kubelet a while.
CONVERGE = 300.0
Obj = dict[str, Any]


@pytest.fixture
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Kubectl, Path]]:
    data = tmp_path_factory.mktemp("kyb-crash")
    import_busybox(data, IMAGE)
    with real_node(data, "kyb-e2e-crash", NODE) as (server, kubectl):
        yield server, kubectl, data


def deployment(name: str) -> Obj:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": REPLICAS, "selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels},
            "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
                "name": "sleep", "image": IMAGE, "command": ["sleep", "3600"],
                "resources": {"requests": {"cpu": "1m", "memory": "4Mi"}}}]}}}}


def running_pods(kubectl: Kubectl, ns: str) -> dict[str, Obj]:
    """Pod name -> its container status, when all `REPLICAS` pods run and are Ready."""
    pods = kubectl.json("get", "pods", "-n", ns)["items"]
    result: dict[str, Obj] = {}
    for pod in pods:
        status = pod.get("status") or {}
        statuses = status.get("containerStatuses") or []
        if status.get("phase") != "Running" or len(statuses) != 1 \
                or not statuses[0].get("ready") or not statuses[0]["state"].get("running"):
            return {}
        result[pod["metadata"]["name"]] = statuses[0]
    return result if len(result) == REPLICAS else {}


def runc_containers(data: Path) -> dict[str, tuple[str, int]]:
    """runc's own view: container id -> (status, init pid)."""
    listed = subprocess.run(["runc", "--root", str(data / "run" / "runc" / "runc"), "list",
                             "--format", "json"], check=True, capture_output=True, text=True)
    return {c["id"]: (c["status"], c["pid"]) for c in json.loads(listed.stdout or "[]")
            or []}


class Writer:
    """A thread creating ConfigMaps one after another until the server goes away; `acked`
    holds those the server acknowledged (201)."""

    def __init__(self, server: Server, ns: str) -> None:
        self.acked: list[str] = []
        self.failures: list[str] = []
        self.enough = threading.Event()
        self._server, self._ns = server, ns
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        path = f"/api/v1/namespaces/{self._ns}/configmaps"
        with self._server.client() as api:
            for i in range(100_000):
                name = f"inflight-{i}"
                try:
                    response = api.post(path, json={
                        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
                        "data": {"i": str(i)}})
                except httpx.HTTPError:
                    return  # the server is gone
                if response.status_code == 201:
                    self.acked.append(name)
                    if len(self.acked) >= 30:
                        self.enough.set()
                elif response.status_code >= 500:
                    self.failures.append(f"{name}: {response.status_code} {response.text}")

    def join(self) -> None:
        self._thread.join(60)
        assert not self._thread.is_alive(), "the writer did not notice the server was gone"


def crash_and_restart(node: tuple[Server, Kubectl, Path], sig: signal.Signals) -> None:
    server, kubectl, data = node
    ns = new_namespace(kubectl, "crash")
    kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(deployment("sleepers")))
    before = wait_until(lambda: running_pods(kubectl, ns), f"{REPLICAS} pods Running",
                        CONVERGE)
    runc_before = runc_containers(data)
    assert len(runc_before) == REPLICAS, runc_before
    assert {s["containerID"].removeprefix("runc://") for s in before.values()} \
        == set(runc_before)

    writer = Writer(server, ns)
    assert writer.enough.wait(60), "the writer got no creates acknowledged"
    assert server.process is not None
    if sig == signal.SIGKILL:
        server.kill()
    else:
        server.process.send_signal(sig)
        assert server.process.wait(30) == 0, server.log_tail()
        server.process = None
    writer.join()
    assert not writer.failures, writer.failures
    # Nothing of the node's goes away with the server: its containers run on meanwhile.
    assert runc_containers(data) == runc_before

    server.start()
    wait_until(lambda: node_ready(kubectl, NODE), "the node Ready again")
    names = set(kubectl("get", "configmaps", "-n", ns, "-o",
                        "jsonpath={.items[*].metadata.name}").split())
    lost = set(writer.acked) - names
    assert not lost, f"acknowledged but lost: {sorted(lost)}"

    time.sleep(5)  # some relists and pod syncs of the new kubelet
    after = wait_until(lambda: running_pods(kubectl, ns), f"{REPLICAS} pods Running again",
                       CONVERGE)
    assert set(after) == set(before), "the pods were replaced"
    for name, status in after.items():
        assert status["containerID"] == before[name]["containerID"], name
        assert status["restartCount"] == 0, (name, status)
        assert status["state"]["running"]["startedAt"] \
            == before[name]["state"]["running"]["startedAt"], name
    assert runc_containers(data) == runc_before, "a container was started twice or lost"


def test_kill_9_with_50_running_pods(node: tuple[Server, Kubectl, Path]) -> None:
    crash_and_restart(node, signal.SIGKILL)


def test_sigterm_with_50_running_pods(node: tuple[Server, Kubectl, Path]) -> None:
    crash_and_restart(node, signal.SIGTERM)
