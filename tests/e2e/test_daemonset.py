"""DaemonSets end to end: a real `kyb server` (scheduler, controller manager with the
DaemonSet controller), simulated nodes from `kyb sim nodes`, and the real kubectl 1.35
(`create`, `get ds`, `set image`, `rollout status|history|undo|restart`).

- A DaemonSet lands on every node (its pods bound there by the scheduler, following the
  node affinity the controller gives them); one with a nodeSelector only on the nodes it
  selects; a node added later (a second `kyb sim nodes` process) gets its pod.
- A rolling update with maxUnavailable 1 never has fewer than all nodes but one with a
  Ready pod, nor two live pods on one node (checked on every state the API server went
  through, as tests/e2e/test_rollout.py samples them); `rollout history` lists both
  revisions, `rollout undo` brings the first template back, `rollout restart` replaces
  every pod.

Waits are bounded polls or `rollout status --timeout` (safety limits, never measures of
speed).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cluster import Kubectl, Server, checked_server, wait_until
from tests.e2e.test_rollout import Sampler, image, ready, ready_nodes, terminating
from tests.e2e.test_scheduler import Process

pytestmark = pytest.mark.e2e

Obj = dict[str, Any]

ROLLOUT_TIMEOUT = "--timeout=90s"
# Simulated nodes never pull images; should a pod reach a real node, its image names a
# registry on a closed loopback port.
IMAGE_1 = "127.0.0.1:1/agent:1.0"
IMAGE_2 = "127.0.0.1:1/agent:2.0"
WEB_NODES = {"dsw-0", "dsw-1"}
DB_NODES = {"dsd-0"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server (SQLite): the controller's behaviour does not depend on the storage."""
    with checked_server(tmp_path_factory.mktemp("kyb")) as running:
        yield running


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("daemonset-logs")


def sim_nodes(server: Server, prefix: str, count: int, tier: str, logs: Path) -> Process:
    return Process(prefix, [
        "sim", "nodes", "--count", str(count), "--name-prefix", prefix, "--labels",
        f"tier={tier}", "--cpu", "8", "--memory", "16Gi",
        "--kubeconfig", str(server.kubeconfig)], logs / f"{prefix}.log")


@pytest.fixture(scope="module")
def nodes(server: Server, kubectl: Kubectl, logs: Path) -> Iterator[None]:
    """Two `tier=web` nodes and one `tier=db` node (the only nodes: no agent runs)."""
    processes = [sim_nodes(server, "dsw-", 2, "web", logs),
                 sim_nodes(server, "dsd-", 1, "db", logs)]
    try:
        wait_until(lambda: ready_nodes(kubectl) == WEB_NODES | DB_NODES, "three ready nodes")
        yield
    finally:
        for process in processes:
            process.stop()


def daemon_set(name: str, **pod_spec: Any) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "updateStrategy": {"type": "RollingUpdate",
                                        "rollingUpdate": {"maxUnavailable": 1}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {
                         "containers": [{"name": "agent", "image": IMAGE_1}], **pod_spec}}}}


def create(kubectl: Kubectl, ns: str, manifest: Obj) -> None:
    kubectl("create", "-n", ns, "-f", "-", input=json.dumps(manifest))


def rollout_status(kubectl: Kubectl, ns: str, name: str) -> None:
    out = kubectl.run("rollout", "status", f"daemonset/{name}", "-n", ns, ROLLOUT_TIMEOUT,
                      timeout=120).stdout
    assert out.strip().splitlines()[-1] == f'daemon set "{name}" successfully rolled out', out


def live_pods(kubectl: Kubectl, ns: str, app: str) -> list[Obj]:
    items = kubectl.json("get", "pods", "-n", ns, "-l", f"app={app}")["items"]
    return [p for p in items if not terminating(p)]


def nodes_with_ready_pods(kubectl: Kubectl, ns: str, app: str) -> set[str]:
    return {p["spec"].get("nodeName", "") for p in live_pods(kubectl, ns, app) if ready(p)}


def test_lands_on_every_node_or_the_selected_ones(
        kubectl: Kubectl, nodes: None, ns: str) -> None:
    create(kubectl, ns, daemon_set("agent"))
    create(kubectl, ns, daemon_set("dbagent", nodeSelector={"tier": "db"}))
    rollout_status(kubectl, ns, "agent")
    rollout_status(kubectl, ns, "dbagent")
    assert nodes_with_ready_pods(kubectl, ns, "agent") == WEB_NODES | DB_NODES
    assert nodes_with_ready_pods(kubectl, ns, "dbagent") == DB_NODES
    for pod in live_pods(kubectl, ns, "agent"):
        terms = pod["spec"]["affinity"]["nodeAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        assert terms == [{"matchFields": [{"key": "metadata.name", "operator": "In",
                                           "values": [pod["spec"]["nodeName"]]}]}]

    lines = kubectl("get", "ds", "-n", ns).splitlines()
    assert lines[0].split() == ["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE",
                                "AVAILABLE", "NODE", "SELECTOR", "AGE"]
    rows = {line.split()[0]: line.split()[1:7] for line in lines[1:]}
    assert rows == {"agent": ["3", "3", "3", "3", "3", "<none>"],
                    "dbagent": ["1", "1", "1", "1", "1", "tier=db"]}


def pod_state(objects: dict[str, Obj]) -> tuple[int, int]:
    """(nodes with a Ready pod, most live pods on one node) in one stored state."""
    per_node: dict[str, int] = {}
    ready_nodes_: set[str] = set()
    for pod in objects.values():
        if terminating(pod):
            continue
        terms = pod["spec"]["affinity"]["nodeAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        target = terms[0]["matchFields"][0]["values"][0]
        per_node[target] = per_node.get(target, 0) + 1
        if ready(pod):
            ready_nodes_.add(target)
    return len(ready_nodes_), max(per_node.values(), default=0)


def test_rolling_update_within_max_unavailable_then_undo_and_restart(
        server: Server, kubectl: Kubectl, nodes: None, ns: str) -> None:
    create(kubectl, ns, daemon_set("agent"))
    rollout_status(kubectl, ns, "agent")
    wait_until(lambda: nodes_with_ready_pods(kubectl, ns, "agent") == WEB_NODES | DB_NODES,
               "a ready pod on every node")

    with Sampler(server, f"/api/v1/namespaces/{ns}/pods", pod_state) as sampler:
        kubectl("set", "image", "daemonset/agent", "-n", ns, f"agent={IMAGE_2}")
        rollout_status(kubectl, ns, "agent")
        wait_until(lambda: {image(p) for p in live_pods(kubectl, ns, "agent")} == {IMAGE_2},
                   "only new pods")
    states = sampler.result()
    assert states[0] == (3, 1)
    assert len(states) > 6  # three pods deleted, three created
    assert min(ready_count for ready_count, _ in states) >= 2, states
    assert max(most for _, most in states) == 1, states

    history = kubectl("rollout", "history", "daemonset/agent", "-n", ns)
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == \
        ["1", "2"], history

    kubectl("rollout", "undo", "daemonset/agent", "-n", ns)
    rollout_status(kubectl, ns, "agent")
    wait_until(lambda: {image(p) for p in live_pods(kubectl, ns, "agent")} == {IMAGE_1},
               "the first image back")
    revisions = kubectl.json("get", "controllerrevisions", "-n", ns)["items"]
    assert sorted(r["revision"] for r in revisions) == [2, 3]

    before = {p["metadata"]["uid"] for p in live_pods(kubectl, ns, "agent")}
    kubectl("rollout", "restart", "daemonset/agent", "-n", ns)
    rollout_status(kubectl, ns, "agent")
    wait_until(lambda: len(pods := live_pods(kubectl, ns, "agent")) == 3 and
               not before & {p["metadata"]["uid"] for p in pods}, "every pod replaced")


def test_a_node_added_later_gets_its_pod(
        server: Server, kubectl: Kubectl, nodes: None, ns: str, logs: Path) -> None:
    create(kubectl, ns, daemon_set("agent"))
    rollout_status(kubectl, ns, "agent")
    process = sim_nodes(server, "dsn-", 1, "web", logs)
    try:
        wait_until(lambda: nodes_with_ready_pods(kubectl, ns, "agent") ==
                   WEB_NODES | DB_NODES | {"dsn-0"}, "a pod on the new node")
        wait_until(lambda: (status := kubectl.json("get", "ds", "agent", "-n", ns)["status"])
                   ["desiredNumberScheduled"] == status.get("numberAvailable") == 4,
                   "four desired and available pods in the status")
        rollout_status(kubectl, ns, "agent")
    finally:
        process.stop()
