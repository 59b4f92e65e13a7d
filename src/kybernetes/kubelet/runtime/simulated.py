"""The simulated runtime: hollow pods that run the instant they are bound, like kwok's.

Nothing is started; `start_pod` only allocates the pod an IP from its node's pod CIDR and
answers the status a healthy kubelet would report for a pod whose containers all started:
phase Running; conditions PodReadyToStartContainers, Initialized, Ready, ContainersReady and
PodScheduled all True; each container `running` and ready (init containers `terminated`
with reason Completed); `hostIP`/`hostIPs`, `podIP`/`podIPs` (the host's for
`hostNetwork` pods) and `startTime`. `stop_pod` gives the IP back.

This module also builds the objects a simulated node registers: the `Node` (capacity and
allocatable from the node's spec, labels `kubernetes.io/hostname`, `kubernetes.io/os=linux`,
`kubernetes.io/arch=amd64`, `type=kwok`, a Ready condition, addresses, nodeInfo) and its
`Lease` in `kube-node-lease`. Pod CIDRs are /24s handed out by `CidrAllocator`, from
10.42.0.0/16 as k3s does; the cluster CIDR only holds 256 of them, so larger simulated
clusters continue in 10.64.0.0/10 (simulated addresses, never routed). Node InternalIPs
come from 172.16.0.0/12, one per CIDR slot.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kybernetes.api.timeutil import now_rfc3339
from kybernetes.api.version import KUBERNETES_VERSION
from kybernetes.kubelet.runtime import NodeContext

Obj = dict[str, Any]

KUBELET_VERSION = f"{KUBERNETES_VERSION}-kyb-sim"
DEFAULT_POD_CIDR = "10.42.0.0/16"
OVERFLOW_POD_CIDR = "10.64.0.0/10"
NODE_IP_RANGE = "172.16.0.0/12"
SIM_LABEL = "type"
SIM_LABEL_VALUE = "kwok"
SIM_ANNOTATION = "kybernetes.io/simulated-node"


def micro_time() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class SimNodeSpec:
    """One simulated node: its name, size and placement attributes."""

    name: str
    cpu: str = "4"
    memory: str = "32Gi"
    pods: int = 110
    ephemeral_storage: str = "100Gi"
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[Obj] = field(default_factory=list)
    extended: dict[str, str] = field(default_factory=dict)

    def resources(self) -> dict[str, str]:
        return {"cpu": self.cpu, "memory": self.memory, "pods": str(self.pods),
                "ephemeral-storage": self.ephemeral_storage, **self.extended}


class CidrAllocator:
    """Per-node /24 pod CIDRs, skipping those already taken (by existing nodes)."""

    def __init__(self, taken: Iterable[str] = (), primary: str = DEFAULT_POD_CIDR) -> None:
        self._pools = [ipaddress.ip_network(primary), ipaddress.ip_network(OVERFLOW_POD_CIDR)]
        self._taken = {str(ipaddress.ip_network(c, strict=False)) for c in taken if c}
        self._next = [0, 0]

    def allocate(self) -> tuple[str, int]:
        """(cidr, slot): slot numbers subnets across the pools, for node IPs."""
        offset = 0
        for i, pool in enumerate(self._pools):
            count = 2 ** (24 - pool.prefixlen) if pool.prefixlen <= 24 else 0
            while self._next[i] < count:
                index = self._next[i]
                self._next[i] += 1
                cidr = str(ipaddress.ip_network(
                    (int(pool.network_address) + (index << 8), 24)))
                if cidr in self._taken:
                    continue
                self._taken.add(cidr)
                return cidr, offset + index
            offset += count
        raise RuntimeError("no pod CIDR left for another simulated node")


def node_ip(slot: int) -> str:
    base = ipaddress.ip_network(NODE_IP_RANGE)
    return str(base.network_address + 1 + slot)


def node_object(spec: SimNodeSpec, pod_cidr: str, ip: str) -> Obj:
    """The Node a simulated node registers (status included: the node reports it)."""
    now = now_rfc3339()
    labels = {"kubernetes.io/hostname": spec.name, "kubernetes.io/os": "linux",
              "kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
              "beta.kubernetes.io/arch": "amd64", SIM_LABEL: SIM_LABEL_VALUE, **spec.labels}
    resources = spec.resources()
    node_spec: Obj = {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr],
                      "providerID": f"kwok://{spec.name}"}
    if spec.taints:
        node_spec["taints"] = [dict(t) for t in spec.taints]
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": spec.name, "labels": labels,
                     "annotations": {SIM_ANNOTATION: "true", "node.alpha.kubernetes.io/ttl": "0"}},
        "spec": node_spec,
        "status": {
            "capacity": dict(resources), "allocatable": dict(resources),
            "conditions": node_conditions(now, now),
            "addresses": [{"type": "InternalIP", "address": ip},
                          {"type": "Hostname", "address": spec.name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": "amd64", "operatingSystem": "linux",
                "kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": KUBELET_VERSION,
                "containerRuntimeVersion": "simulated://1.0.0",
                "kernelVersion": "simulated", "osImage": "kybernetes simulated node",
                "machineID": spec.name, "systemUUID": spec.name, "bootID": spec.name,
            },
        },
    }


def node_conditions(heartbeat: str, transition: str) -> list[Obj]:
    def condition(kind: str, status: str, reason: str, message: str) -> Obj:
        return {"type": kind, "status": status, "reason": reason, "message": message,
                "lastHeartbeatTime": heartbeat, "lastTransitionTime": transition}

    return [
        condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        condition("MemoryPressure", "False", "KubeletHasSufficientMemory",
                  "kubelet has sufficient memory available"),
        condition("DiskPressure", "False", "KubeletHasNoDiskPressure",
                  "kubelet has no disk pressure"),
        condition("PIDPressure", "False", "KubeletHasSufficientPID",
                  "kubelet has sufficient PID available"),
        condition("NetworkUnavailable", "False", "RouteCreated", "simulated network"),
    ]


def lease_object(node_name: str, node_uid: str, duration: int) -> Obj:
    meta: Obj = {"name": node_name, "namespace": "kube-node-lease"}
    if node_uid:
        meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": node_name,
                                    "uid": node_uid}]
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta,
            "spec": {"holderIdentity": node_name, "leaseDurationSeconds": duration,
                     "renewTime": micro_time()}}


def _container_status(container: Mapping[str, Any], uid: str, started: str, *, init: bool
                      ) -> Obj:
    name = str(container.get("name") or "")
    image = str(container.get("image") or "")
    if init and container.get("restartPolicy") != "Always":
        state: Obj = {"terminated": {"exitCode": 0, "reason": "Completed",
                                     "startedAt": started, "finishedAt": started,
                                     "containerID": f"sim://{uid}/{name}"}}
        ready = False
    else:
        state = {"running": {"startedAt": started}}
        ready = True
    return {"name": name, "image": image, "imageID": f"sim://{image}",
            "containerID": f"sim://{uid}/{name}", "ready": ready, "started": ready,
            "restartCount": 0, "state": state}


def running_status(pod: Obj, host_ip: str, pod_ip: str, now: str | None = None) -> Obj:
    """The status a kubelet reports once every container of the pod has started."""
    now = now or now_rfc3339()
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    old = pod.get("status") or {}
    uid = str(meta.get("uid") or "")
    started = old.get("startTime") or now
    conditions = [
        {"type": kind, "status": "True", "lastProbeTime": None, "lastTransitionTime": now}
        for kind in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                     "PodScheduled")]
    status: Obj = {
        "phase": "Running", "conditions": conditions,
        "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
        "podIP": pod_ip, "podIPs": [{"ip": pod_ip}],
        "startTime": started,
        "containerStatuses": [_container_status(c, uid, now, init=False)
                              for c in spec.get("containers") or ()],
    }
    if spec.get("initContainers"):
        status["initContainerStatuses"] = [_container_status(c, uid, now, init=True)
                                           for c in spec["initContainers"]]
    if old.get("qosClass"):
        status["qosClass"] = old["qosClass"]
    return status


class SimulatedRuntime:
    """Pods "run" at once; each gets an IP from its node's /24 (.2 to .254)."""

    name = "simulated"

    def __init__(self) -> None:
        self._ips: dict[str, dict[str, str]] = {}  # node -> pod key -> ip
        self._free: dict[str, list[int]] = {}

    def _pod_key(self, pod: Obj) -> str:
        meta = pod.get("metadata") or {}
        return f"{meta.get('namespace')}/{meta.get('name')}/{meta.get('uid')}"

    def allocate_ip(self, pod: Obj, node: NodeContext) -> str:
        if (pod.get("spec") or {}).get("hostNetwork"):
            return node.host_ip
        assigned = self._ips.setdefault(node.name, {})
        key = self._pod_key(pod)
        found = assigned.get(key)
        if found is not None:
            return found
        free = self._free.get(node.name)
        if free is None:
            free = self._free[node.name] = list(range(254, 1, -1))
        network = ipaddress.ip_network(node.pod_cidr or "10.42.0.0/24")
        offset = free.pop() if free else 2 + len(assigned) % 253
        ip = str(network.network_address + offset)
        assigned[key] = ip
        return ip

    def release_ip(self, pod: Obj, node_name: str) -> None:
        assigned = self._ips.get(node_name)
        if not assigned:
            return
        ip = assigned.pop(self._pod_key(pod), None)
        if ip is not None:
            self._free.setdefault(node_name, []).append(int(ip.rsplit(".", 1)[1]))

    async def start_pod(self, pod: Obj, node: NodeContext) -> Obj:
        return running_status(pod, node.host_ip, self.allocate_ip(pod, node))

    async def stop_pod(self, pod: Obj, node: NodeContext) -> None:
        self.release_ip(pod, node.name)

    def pod_status(self, pod: Obj, node: NodeContext) -> Obj | None:
        ip = self._ips.get(node.name, {}).get(self._pod_key(pod))
        if ip is None:
            return None
        return running_status(pod, node.host_ip, ip)
