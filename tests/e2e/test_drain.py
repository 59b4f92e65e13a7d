"""Draining and losing nodes end to end: a real `kyb server` (controller manager with the
node lifecycle, taint eviction and disruption controllers, short node periods), simulated
nodes from `kyb sim nodes` renewing their Leases every second, and the real kubectl.

- `kubectl drain` evicts through `pods/eviction` and respects a PodDisruptionBudget: it
  blocks (retrying the 429s) while the budget is spent, and finishes once a new healthy
  pod gives the budget room again.
- Draining a node of a Deployment's pods under a `maxUnavailable: 50%` budget (resolved
  through the Deployment's scale) moves them to the other node.
- A node whose Lease stops being renewed (its `kyb sim nodes` process is stopped) goes
  Ready=Unknown, is tainted unreachable, its pods are marked not ready, and a pod that
  tolerates the taint for 2 s is evicted by the taint eviction controller while one with
  the default 300 s toleration stays.

Waits are bounded polls (safety limits), never measures of speed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.cluster import Kubectl, LineReader, Server, checked_server, wait_until
from tests.e2e.test_scheduler import Process

pytestmark = pytest.mark.e2e

SIM_FLAGS = ["--node-lease-duration-seconds", "4"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with checked_server(tmp_path_factory.mktemp("kyb"), [
            "--node-monitor-period", "1s", "--node-monitor-grace-period", "4s"]) as running:
        yield running


@pytest.fixture(scope="module")
def nodes(server: Server, kubectl: Kubectl, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[dict[str, Process]]:
    logs = tmp_path_factory.mktemp("drain-logs")
    processes = {prefix: Process(prefix, [
        "sim", "nodes", "--count", "2" if prefix == "d-" else "1", "--name-prefix", prefix,
        "--kubeconfig", str(server.kubeconfig), *SIM_FLAGS], logs / f"{prefix}.log")
        for prefix in ("d-", "x-")}
    try:
        wait_until(lambda: ready_nodes(kubectl) >= {"d-0", "d-1", "x-0"}, "three ready nodes")
        yield processes
    finally:
        for process in processes.values():
            process.stop()


def ready_nodes(kubectl: Kubectl) -> set[str]:
    return {n["metadata"]["name"] for n in kubectl.json("get", "nodes")["items"]
            if condition(n, "Ready").get("status") == "True"}


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    return next((c for c in obj.get("status", {}).get("conditions", [])
                 if c["type"] == type_), {})


def create(kubectl: Kubectl, ns: str, manifest: dict[str, Any]) -> None:
    kubectl("create", "-n", ns, "-f", "-", input=json.dumps(manifest))


def pod(name: str, node: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": "web"}},
            "spec": {"nodeName": node, "containers": [
                {"name": "app", "image": "registry.k8s.io/pause:3.10"}], **spec}}


def pods(kubectl: Kubectl, ns: str) -> dict[str, dict[str, Any]]:
    return {p["metadata"]["name"]: p for p in kubectl.json("get", "pods", "-n", ns)["items"]}


def ready_pods(kubectl: Kubectl, ns: str) -> set[str]:
    return {name for name, p in pods(kubectl, ns).items()
            if condition(p, "Ready").get("status") == "True"
            and not p["metadata"].get("deletionTimestamp")}


def pdb_status(kubectl: Kubectl, ns: str) -> dict[str, Any]:
    status: dict[str, Any] = kubectl.json("get", "pdb", "web", "-n", ns).get("status", {})
    return status


def test_drain_respects_the_disruption_budget(kubectl: Kubectl, nodes: dict[str, Process],
                                              ns: str) -> None:
    for name, node in (("web-0", "d-0"), ("web-1", "d-0"), ("web-2", "d-1")):
        create(kubectl, ns, pod(name, node))
    wait_until(lambda: ready_pods(kubectl, ns) == {"web-0", "web-1", "web-2"}, "ready pods")
    create(kubectl, ns, {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                         "metadata": {"name": "web"},
                         "spec": {"minAvailable": 2,
                                  "selector": {"matchLabels": {"app": "web"}}}})
    wait_until(lambda: pdb_status(kubectl, ns).get("disruptionsAllowed") == 1, "pdb status")
    status = pdb_status(kubectl, ns)
    assert (status["currentHealthy"], status["desiredHealthy"], status["expectedPods"]) == \
        (3, 2, 3)
    assert condition({"status": status}, "DisruptionAllowed")["reason"] == "SufficientPods"

    drain = kubectl.popen("drain", "d-0", "--ignore-daemonsets", "--delete-emptydir-data",
                          "--force", "--timeout=120s")
    output = LineReader(drain.stdout)  # type: ignore[arg-type]
    errors = LineReader(drain.stderr)  # type: ignore[arg-type]
    try:
        errors.wait_for(lambda line: "Cannot evict pod as it would violate the pod's "
                        "disruption budget." in line, timeout=60)
        # One pod of d-0 went; the budget keeps the other while only 2 are healthy.
        wait_until(lambda: len({"web-0", "web-1"} & set(pods(kubectl, ns))) == 1,
                   "one pod of d-0 evicted")
        assert drain.poll() is None
        status = pdb_status(kubectl, ns)
        assert (status["currentHealthy"], status["disruptionsAllowed"]) == (2, 0)
        assert condition({"status": status}, "DisruptionAllowed")["reason"] == \
            "InsufficientPods"
        node = kubectl.json("get", "node", "d-0")
        assert node["spec"]["unschedulable"] is True
        wait_until(lambda: {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
                   in [{k: t[k] for k in ("key", "effect")}
                       for t in kubectl.json("get", "node", "d-0")["spec"].get("taints", [])],
                   "unschedulable taint")

        # A new healthy pod elsewhere gives the budget room: the drain completes.
        create(kubectl, ns, pod("web-3", "d-1"))
        assert drain.wait(timeout=90) == 0
        output.wait_for(lambda line: "node/d-0 drained" in line)
    finally:
        if drain.poll() is None:
            drain.kill()
            drain.wait()
    assert set(pods(kubectl, ns)) == {"web-2", "web-3"}
    kubectl("uncordon", "d-0")
    kubectl("delete", "pods", "--all", "-n", ns, "--wait=true", "--timeout=60s")


def test_drain_reschedules_a_deployment_within_its_percent_budget(
        kubectl: Kubectl, nodes: dict[str, Process], ns: str) -> None:
    """maxUnavailable 50% of the Deployment's 2 replicas (its scale, not the pod count):
    one pod may be down at a time while the drained node's pods move to the other node."""
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{
            "key": "kubernetes.io/hostname", "operator": "In", "values": ["d-0", "d-1"]}]}]}}}
    create(kubectl, ns, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "api"}},
                 "template": {"metadata": {"labels": {"app": "api"}}, "spec": {
                     "affinity": affinity, "containers": [
                         {"name": "app", "image": "registry.k8s.io/pause:3.10"}]}}}})
    create(kubectl, ns, {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                         "metadata": {"name": "api"},
                         "spec": {"maxUnavailable": "50%",
                                  "selector": {"matchLabels": {"app": "api"}}}})

    def budget() -> dict[str, Any] | None:
        status: dict[str, Any] = kubectl.json("get", "pdb", "api", "-n", ns).get("status", {})
        return status if status.get("currentHealthy") == 2 else None

    status = wait_until(budget, "two healthy pods under the budget")
    assert (status["expectedPods"], status["desiredHealthy"], status["disruptionsAllowed"]) \
        == (2, 1, 1)
    drained = next(iter({p["spec"]["nodeName"] for p in pods(kubectl, ns).values()}))
    other = "d-1" if drained == "d-0" else "d-0"
    result = kubectl.run("drain", drained, "--ignore-daemonsets", "--delete-emptydir-data",
                         "--timeout=90s", timeout=120)
    assert result.returncode == 0, result.stderr
    try:
        def moved() -> bool:
            current = pods(kubectl, ns)
            return len(current) == 2 and all(
                p["spec"].get("nodeName") == other and
                condition(p, "Ready").get("status") == "True" for p in current.values())

        wait_until(moved, f"both pods on {other}")
    finally:
        kubectl("uncordon", drained)


def test_unreachable_node_pods_are_evicted_after_their_toleration(
        kubectl: Kubectl, nodes: dict[str, Process], ns: str) -> None:
    short = [{"key": "node.kubernetes.io/unreachable", "operator": "Exists",
              "effect": "NoExecute", "tolerationSeconds": 2}]
    create(kubectl, ns, pod("brief", "x-0", tolerations=short))
    create(kubectl, ns, pod("patient", "x-0"))
    wait_until(lambda: ready_pods(kubectl, ns) == {"brief", "patient"}, "ready pods")
    assert {"key": "node.kubernetes.io/not-ready", "operator": "Exists",
            "effect": "NoExecute", "tolerationSeconds": 300} in \
        pods(kubectl, ns)["brief"]["spec"]["tolerations"]

    nodes["x-"].stop()  # the node's Lease is no longer renewed
    try:
        def unknown() -> dict[str, Any] | None:
            node: dict[str, Any] = kubectl.json("get", "node", "x-0")
            return node if condition(node, "Ready").get("status") == "Unknown" else None

        node = wait_until(unknown, "node x-0 Unknown")
        ready = condition(node, "Ready")
        assert (ready["reason"], ready["message"]) == (
            "NodeStatusUnknown", "Kubelet stopped posting node status.")
        wait_until(lambda: {("node.kubernetes.io/unreachable", "NoExecute"),
                            ("node.kubernetes.io/unreachable", "NoSchedule")} <=
                   {(t["key"], t["effect"]) for t in
                    kubectl.json("get", "node", "x-0")["spec"].get("taints", [])},
                   "unreachable taints")

        def evicted() -> dict[str, Any] | None:
            found = pods(kubectl, ns).get("brief")
            return found if found and found["metadata"].get("deletionTimestamp") else None

        brief = wait_until(evicted, "brief evicted")
        target = condition(brief, "DisruptionTarget")
        assert (target["status"], target["reason"]) == ("True", "DeletionByTaintManager")
        patient = pods(kubectl, ns)["patient"]
        assert condition(patient, "Ready")["status"] == "False"
        assert not patient["metadata"].get("deletionTimestamp")
    finally:
        # No kubelet will finish the deletions: force them.
        kubectl.run("delete", "pods", "--all", "-n", ns, "--force", "--grace-period=0",
                    check=False)

