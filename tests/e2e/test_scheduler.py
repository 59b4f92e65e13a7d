"""The scheduler end to end: a real `kyb server` (which runs the default scheduler in its
process), `kyb sim nodes` and, for a second profile, `kyb scheduler` processes, driven with
the real kubectl.

The module's cluster has four simulated nodes: three workers `w-0..2` (2 CPU, 4Gi, zones
zone-a/b/c) and `gpu-0` (4 CPU, `example.com/gpu: 2`, tainted `dedicated=gpu:NoSchedule`).
Each test works in its own namespace and its pods are deleted afterwards, so every test
starts from empty nodes. Waits are bounded polls; nothing depends on how fast things are.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.cluster import Kubectl, Server, stop_process, wait_until

pytestmark = pytest.mark.e2e
ANY_BACKEND = True  # the scheduler's decisions, whatever the storage (conftest.py)

WORKERS = ["w-0", "w-1", "w-2"]


class Process:
    def __init__(self, name: str, args: list[str], log: Path) -> None:
        self.name = name
        self.log = log
        with open(log, "ab") as out:
            self.popen = subprocess.Popen([sys.executable, "-m", "kybernetes.cli.main", *args],
                                          stdout=out, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.popen.poll() is None:
            stop_process(self.popen, 20)

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class SimCluster:
    server: Server
    kubectl: Kubectl
    logs: Path
    processes: dict[str, Process] = field(default_factory=dict)

    def start(self, name: str, *args: str) -> Process:
        process = Process(name, list(args), self.logs / f"{name}.log")
        self.processes[name] = process
        return process

    def nodes(self, prefix: str, count: int, *flags: str) -> Process:
        return self.start(f"nodes-{prefix}", "sim", "nodes", "--count", str(count),
                          "--name-prefix", prefix, "--kubeconfig", str(self.server.kubeconfig),
                          *flags)

    def ready_nodes(self) -> set[str]:
        items = self.kubectl.json("get", "nodes")["items"]
        return {n["metadata"]["name"] for n in items
                if any(c["type"] == "Ready" and c["status"] == "True"
                       for c in n["status"].get("conditions", []))}

    def stop(self) -> None:
        for process in self.processes.values():
            process.stop()


@pytest.fixture(scope="module")
def cluster(server: Server, kubectl: Kubectl, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[SimCluster]:
    sim = SimCluster(server, kubectl, tmp_path_factory.mktemp("sched-logs"))
    try:
        sim.nodes("w-", 3, "--cpu", "2", "--memory", "4Gi",
                  "--zones", "zone-a,zone-b,zone-c", "--labels", "pool=workers")
        sim.nodes("gpu-", 1, "--cpu", "4", "--memory", "8Gi", "--labels", "accelerator=gpu",
                  "--taints", "dedicated=gpu:NoSchedule",
                  "--extended-resources", "example.com/gpu=2")
        wait_until(lambda: sim.ready_nodes() >= {*WORKERS, "gpu-0"}, "four ready nodes")
        yield sim
    finally:
        sim.stop()


@pytest.fixture(autouse=True)
def clean_pods(cluster: SimCluster, ns: str) -> Iterator[None]:
    """Every test leaves the nodes empty for the next."""
    yield
    cluster.kubectl.run("delete", "pods", "--all", "-n", ns, "--wait=true", "--timeout=60s",
                        check=False)


def apply(kubectl: Kubectl, ns: str, manifest: dict[str, Any]) -> None:
    kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(manifest))


def pod(name: str, cpu: str = "100m", **spec: Any) -> dict[str, Any]:
    labels = spec.pop("labels", {})
    extended = spec.pop("extra_requests", {})
    resources: dict[str, Any] = {"requests": {"cpu": cpu, **extended}}
    if extended:  # extended resources cannot be overcommitted: limits = requests
        resources["limits"] = dict(extended)
    container = {"name": "app", "image": "registry.k8s.io/pause:3.10",
                 "resources": resources}
    if "ports" in spec:
        container["ports"] = spec.pop("ports")
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"containers": [container], **spec}}


def get_pod(kubectl: Kubectl, ns: str, name: str) -> dict[str, Any]:
    result: dict[str, Any] = kubectl.json("get", "pod", name, "-n", ns)
    return result


def running_on(kubectl: Kubectl, ns: str, name: str) -> str:
    """Wait until the pod runs; its node."""
    def check() -> str | None:
        p = get_pod(kubectl, ns, name)
        if p["status"].get("phase") == "Running" and p["spec"].get("nodeName"):
            return str(p["spec"]["nodeName"])
        return None
    return wait_until(check, f"pod {ns}/{name} running")


def failed_scheduling(kubectl: Kubectl, ns: str, name: str, expected: str) -> str:
    """Wait until `kubectl describe pod` shows a FailedScheduling event with this message."""
    def check() -> str | None:
        text = kubectl("describe", "pod", name, "-n", ns)
        return text if "FailedScheduling" in text and expected in text else None
    return wait_until(check, f"FailedScheduling event {expected!r} on {name}")


def scheduled_condition(kubectl: Kubectl, ns: str, name: str) -> dict[str, Any]:
    conditions = get_pod(kubectl, ns, name)["status"].get("conditions") or []
    return next((c for c in conditions if c["type"] == "PodScheduled"), {})


NOT_HELPFUL_4 = "preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling."


def test_pods_run_on_simulated_nodes(cluster: SimCluster, kubectl: Kubectl, ns: str) -> None:
    apply(kubectl, ns, pod("hello"))
    node = running_on(kubectl, ns, "hello")
    assert node in WORKERS
    wide = kubectl("get", "pods", "-n", ns, "-o", "wide")
    row = next(line for line in wide.splitlines() if line.startswith("hello"))
    assert node in row.split() and "Running" in row.split()
    p = get_pod(kubectl, ns, "hello")
    assert p["status"]["podIP"].startswith("10.42.")
    assert {c["type"] for c in p["status"]["conditions"] if c["status"] == "True"} >= {
        "PodScheduled", "Initialized", "Ready", "ContainersReady"}
    text = kubectl("describe", "pod", "hello", "-n", ns)
    assert f"Successfully assigned {ns}/hello to {node}" in text
    assert "default-scheduler" in text
    kubectl("delete", "pod", "hello", "-n", ns, "--wait=true", "--timeout=60s")


def test_too_big_pod_waits_for_a_bigger_node(cluster: SimCluster, kubectl: Kubectl,
                                            ns: str) -> None:
    apply(kubectl, ns, pod("huge", cpu="3"))
    failed_scheduling(kubectl, ns, "huge",
                      "0/4 nodes are available: 1 node(s) had untolerated taint(s), "
                      f"3 Insufficient cpu. {NOT_HELPFUL_4}")
    condition = scheduled_condition(kubectl, ns, "huge")
    assert condition["status"] == "False" and condition["reason"] == "Unschedulable"
    assert get_pod(kubectl, ns, "huge")["status"]["phase"] == "Pending"
    big = cluster.nodes("big-", 1, "--cpu", "8", "--memory", "16Gi")
    try:
        assert running_on(kubectl, ns, "huge") == "big-0"
        wide = kubectl("get", "pods", "-n", ns, "-o", "wide")
        assert "big-0" in next(line for line in wide.splitlines() if line.startswith("huge"))
        kubectl("delete", "pod", "huge", "-n", ns, "--wait=true", "--timeout=60s")
    finally:
        big.stop()
        kubectl.run("delete", "node", "big-0", check=False)


def test_taints_tolerations_and_extended_resources(cluster: SimCluster, kubectl: Kubectl,
                                                   ns: str) -> None:
    apply(kubectl, ns, pod("no-toleration", nodeSelector={"accelerator": "gpu"}))
    failed_scheduling(kubectl, ns, "no-toleration",
                      "0/4 nodes are available: 1 node(s) had untolerated taint(s), "
                      "3 node(s) didn't match Pod's node affinity/selector. "
                      f"{NOT_HELPFUL_4}")
    toleration = [{"key": "dedicated", "operator": "Equal", "value": "gpu",
                   "effect": "NoSchedule"}]
    apply(kubectl, ns, pod("trainer", tolerations=toleration,
                           extra_requests={"example.com/gpu": "1"}))
    assert running_on(kubectl, ns, "trainer") == "gpu-0"
    apply(kubectl, ns, pod("greedy", tolerations=toleration,
                           extra_requests={"example.com/gpu": "2"}))
    failed_scheduling(kubectl, ns, "greedy",
                      "0/4 nodes are available: 4 Insufficient example.com/gpu. preemption: "
                      "0/4 nodes are available: 1 No preemption victims found for incoming "
                      "pod, 3 Preemption is not helpful for scheduling.")


def test_node_affinity(cluster: SimCluster, kubectl: Kubectl, ns: str) -> None:
    zone = "topology.kubernetes.io/zone"
    required = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [
            {"key": zone, "operator": "In", "values": ["zone-b"]}]}]}}}
    apply(kubectl, ns, pod("in-b", affinity=required))
    assert running_on(kubectl, ns, "in-b") == "w-1"
    preferred = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 100, "preference": {"matchExpressions": [
            {"key": zone, "operator": "In", "values": ["zone-c"]}]}}]}}
    apply(kubectl, ns, pod("likes-c", affinity=preferred))
    assert running_on(kubectl, ns, "likes-c") == "w-2"


def test_pod_anti_affinity(cluster: SimCluster, kubectl: Kubectl, ns: str) -> None:
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "ha"}},
         "topologyKey": "kubernetes.io/hostname"}]}}
    for i in range(3):
        apply(kubectl, ns, pod(f"ha-{i}", labels={"app": "ha"}, affinity=anti))
    nodes = {running_on(kubectl, ns, f"ha-{i}") for i in range(3)}
    assert nodes == set(WORKERS)
    apply(kubectl, ns, pod("ha-3", labels={"app": "ha"}, affinity=anti))
    failed_scheduling(kubectl, ns, "ha-3",
                      "0/4 nodes are available: 1 node(s) had untolerated taint(s), "
                      "3 node(s) didn't match pod anti-affinity rules. preemption: 0/4 nodes "
                      "are available: 1 Preemption is not helpful for scheduling, 3 No "
                      "preemption victims found for incoming pod.")


def test_topology_spread(cluster: SimCluster, kubectl: Kubectl, ns: str) -> None:
    spread = [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
               "whenUnsatisfiable": "DoNotSchedule",
               "labelSelector": {"matchLabels": {"app": "spread"}}}]
    for i in range(6):
        apply(kubectl, ns, pod(f"s-{i}", labels={"app": "spread"},
                               topologySpreadConstraints=spread))
    placed = [running_on(kubectl, ns, f"s-{i}") for i in range(6)]
    assert sorted(placed) == sorted(WORKERS * 2)


def test_host_ports(cluster: SimCluster, kubectl: Kubectl, ns: str) -> None:
    ports = [{"containerPort": 80, "hostPort": 30080}]
    pin = {"kubernetes.io/hostname": "w-0"}
    apply(kubectl, ns, pod("port-a", ports=ports, nodeSelector=pin))
    assert running_on(kubectl, ns, "port-a") == "w-0"
    apply(kubectl, ns, pod("port-b", ports=ports, nodeSelector=pin))
    failed_scheduling(kubectl, ns, "port-b",
                      "0/4 nodes are available: 1 node(s) didn't have free ports for the "
                      "requested pod ports, 1 node(s) had untolerated taint(s), 2 node(s) "
                      "didn't match Pod's node affinity/selector. preemption: 0/4 nodes are "
                      "available: 1 No preemption victims found for incoming pod, 3 "
                      "Preemption is not helpful for scheduling.")
    apply(kubectl, ns, pod("port-c", ports=[{"containerPort": 80, "hostPort": 30081}],
                           nodeSelector=pin))
    assert running_on(kubectl, ns, "port-c") == "w-0"


def test_preemption_by_priority(cluster: SimCluster, kubectl: Kubectl, ns: str) -> None:
    kubectl("create", "priorityclass", f"{ns}-low", "--value=10")
    kubectl("create", "priorityclass", f"{ns}-high", "--value=1000")
    # A pod's preemption policy comes from its class (Priority admission).
    kubectl("create", "priorityclass", f"{ns}-polite", "--value=1000",
            "--preemption-policy=Never")
    try:
        for i in range(3):
            apply(kubectl, ns, pod(f"low-{i}", cpu="1500m", priorityClassName=f"{ns}-low"))
        victims_nodes = {running_on(kubectl, ns, f"low-{i}"): f"low-{i}" for i in range(3)}
        assert set(victims_nodes) == set(WORKERS)
        apply(kubectl, ns, pod("vip", cpu="1500m", priorityClassName=f"{ns}-high"))
        node = running_on(kubectl, ns, "vip")
        victim = victims_nodes[node]
        wait_until(lambda: kubectl.run("get", "pod", victim, "-n", ns,
                                       check=False).returncode != 0, f"{victim} deleted")
        events = kubectl.json("get", "events", "-n", ns,
                              "--field-selector", f"involvedObject.name={victim}")["items"]
        uid = get_pod(kubectl, ns, "vip")["metadata"]["uid"]
        assert any(e["reason"] == "Preempted" and
                   e["message"] == f"Preempted by pod {uid} on node {node}" for e in events)
        text = kubectl("describe", "pod", "vip", "-n", ns)
        assert "0/4 nodes are available: 1 node(s) had untolerated taint(s), " \
               "3 Insufficient cpu." in text
        assert f"Successfully assigned {ns}/vip to {node}" in text
        apply(kubectl, ns, pod("polite", cpu="1500m", priorityClassName=f"{ns}-polite"))
        failed_scheduling(kubectl, ns, "polite",
                          "0/4 nodes are available: 1 node(s) had untolerated taint(s), "
                          "3 Insufficient cpu. preemption: not eligible due to "
                          "preemptionPolicy=Never.")
    finally:
        kubectl.run("delete", "priorityclass", f"{ns}-low", f"{ns}-high", f"{ns}-polite",
                    check=False)


def test_scheduler_profiles_from_a_config_file(cluster: SimCluster, kubectl: Kubectl,
                                               ns: str) -> None:
    config = cluster.logs / "packer.yaml"
    config.write_text(json.dumps({
        "apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "KubeSchedulerConfiguration",
        "leaderElection": {"leaderElect": True, "resourceName": "packer-scheduler"},
        "profiles": [{"schedulerName": "packer",
                      "plugins": {"score": {"disabled": [
                          {"name": "NodeResourcesBalancedAllocation"}]}},
                      "pluginConfig": [{"name": "NodeResourcesFit", "args": {
                          "scoringStrategy": {"type": "MostAllocated"}}}]}]}))
    packer = cluster.start("packer", "scheduler", "--kubeconfig",
                           str(cluster.server.kubeconfig), "--config", str(config))
    try:
        apply(kubectl, ns, pod("first", cpu="500m", schedulerName="packer"))
        first = running_on(kubectl, ns, "first")
        apply(kubectl, ns, pod("second", cpu="500m", schedulerName="packer"))
        assert running_on(kubectl, ns, "second") == first  # packed, not spread
        events = kubectl.json("get", "events", "-n", ns, "--field-selector",
                              "involvedObject.name=second,reason=Scheduled")["items"]
        assert events and events[0]["source"]["component"] == "packer"
        apply(kubectl, ns, pod("orphan", schedulerName="nobody"))
        time.sleep(1)  # give a wrong scheduler a chance to (wrongly) act; none should
        orphan = get_pod(kubectl, ns, "orphan")
        assert not orphan["spec"].get("nodeName") and not scheduled_condition(kubectl, ns,
                                                                              "orphan")
    finally:
        packer.stop()


def test_binding_subresource(cluster: SimCluster, api: httpx.Client, kubectl: Kubectl,
                             ns: str) -> None:
    apply(kubectl, ns, pod("manual", schedulerName="nobody"))
    path = f"/api/v1/namespaces/{ns}/pods/manual/binding"
    body = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "manual"},
            "target": {"apiVersion": "v1", "kind": "Node", "name": "w-0"}}
    response = api.post(path, json=body)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "Success"
    bound = get_pod(kubectl, ns, "manual")
    assert bound["spec"]["nodeName"] == "w-0"
    assert scheduled_condition(kubectl, ns, "manual")["status"] == "True"
    again = api.post(path, json={**body, "target": {"kind": "Node", "name": "w-1"}})
    assert again.status_code == 409
    status = again.json()
    assert status["reason"] == "Conflict"
    assert status["message"] == ('Operation cannot be fulfilled on pods/binding "manual": '
                                 'pod manual is already assigned to node "w-0"')
    assert status["details"] == {"name": "manual", "kind": "pods/binding"}
    missing = api.post(f"/api/v1/namespaces/{ns}/pods/nope/binding",
                       json={**body, "metadata": {"name": "nope"}})
    assert missing.status_code == 404
    invalid = api.post(path, json={**body, "target": {"kind": "Node"}})
    assert invalid.status_code == 422
    mismatch = api.post(path, json={**body, "metadata": {"name": "other"}})
    assert mismatch.status_code == 400
    assert running_on(kubectl, ns, "manual") == "w-0"
