"""Simulated nodes' building blocks: pod CIDRs, Node and Lease objects, running status."""

from __future__ import annotations

import pytest

from kybernetes.kubelet.runtime import NodeContext
from kybernetes.kubelet.runtime.simulated import (
    CidrAllocator,
    SimNodeSpec,
    SimulatedRuntime,
    lease_object,
    node_ip,
    node_object,
    running_status,
)
from kybernetes.kubelet.simnodes import specs_from_args


def test_cidrs_skip_taken_and_overflow_past_the_cluster_cidr() -> None:
    allocator = CidrAllocator(["10.42.0.0/24", "10.42.2.0/24"])
    assert [allocator.allocate()[0] for _ in range(2)] == ["10.42.1.0/24", "10.42.3.0/24"]
    many = CidrAllocator()
    cidrs = [many.allocate() for _ in range(300)]
    assert cidrs[255] == ("10.42.255.0/24", 255)
    assert cidrs[256] == ("10.64.0.0/24", 256)
    assert len({c for c, _ in cidrs}) == 300
    assert node_ip(0) == "172.16.0.1" and node_ip(300) == "172.16.1.45"


def test_node_object() -> None:
    spec = SimNodeSpec("sim-0", cpu="8", memory="16Gi", pods=50,
                       labels={"topology.kubernetes.io/zone": "a"},
                       taints=[{"key": "k", "effect": "NoSchedule"}],
                       extended={"example.com/gpu": "2"})
    obj = node_object(spec, "10.42.0.0/24", "172.16.0.1")
    labels = obj["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == "sim-0"
    assert labels["kubernetes.io/os"] == "linux" and labels["type"] == "kwok"
    assert labels["topology.kubernetes.io/zone"] == "a"
    assert obj["status"]["allocatable"] == {"cpu": "8", "memory": "16Gi", "pods": "50",
                                            "ephemeral-storage": "100Gi",
                                            "example.com/gpu": "2"}
    ready = next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True" and ready["reason"] == "KubeletReady"
    assert obj["spec"]["podCIDR"] == "10.42.0.0/24" and obj["spec"]["taints"]
    lease = lease_object("sim-0", "uid-1", 40)
    assert lease["metadata"]["namespace"] == "kube-node-lease"
    assert lease["spec"]["holderIdentity"] == "sim-0"
    assert lease["metadata"]["ownerReferences"][0]["uid"] == "uid-1"


def test_running_status() -> None:
    pod = {"metadata": {"name": "p", "namespace": "d", "uid": "u"},
           "spec": {"initContainers": [{"name": "init", "image": "busybox"}],
                    "containers": [{"name": "c", "image": "nginx"}]},
           "status": {"phase": "Pending", "qosClass": "BestEffort"}}
    status = running_status(pod, "172.16.0.1", "10.42.0.2", now="t")
    assert status["phase"] == "Running" and status["podIP"] == "10.42.0.2"
    assert status["hostIPs"] == [{"ip": "172.16.0.1"}] and status["startTime"] == "t"
    assert {c["type"] for c in status["conditions"]} == {
        "PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"}
    (container,) = status["containerStatuses"]
    assert container["ready"] and "running" in container["state"]
    (init,) = status["initContainerStatuses"]
    assert init["state"]["terminated"]["reason"] == "Completed"
    assert status["qosClass"] == "BestEffort"


async def test_runtime_allocates_and_releases_ips() -> None:
    runtime = SimulatedRuntime()
    node = NodeContext("n", "172.16.0.1", "10.42.7.0/24")

    def pod(name: str, host: bool = False) -> dict[str, object]:
        return {"metadata": {"name": name, "namespace": "d", "uid": name},
                "spec": {"containers": [], "hostNetwork": host}}

    a = await runtime.start_pod(pod("a"), node)
    b = await runtime.start_pod(pod("b"), node)
    assert (a["podIP"], b["podIP"]) == ("10.42.7.2", "10.42.7.3")
    assert (await runtime.start_pod(pod("a"), node))["podIP"] == "10.42.7.2"
    assert (await runtime.start_pod(pod("h", host=True), node))["podIP"] == "172.16.0.1"
    await runtime.stop_pod(pod("a"), node)
    assert runtime.pod_status(pod("a"), node) is None
    assert (await runtime.start_pod(pod("c"), node))["podIP"] == "10.42.7.2"


@pytest.mark.parametrize(("zones", "expected"), [((), None), (("a", "b"), ["b", "a", "b"])])
def test_specs(zones: tuple[str, ...], expected: list[str] | None) -> None:
    specs = specs_from_args(3, "w-", start=5, zones=zones)
    assert [s.name for s in specs] == ["w-5", "w-6", "w-7"]
    got = [s.labels.get("topology.kubernetes.io/zone") for s in specs]
    assert got == (expected or [None, None, None])
