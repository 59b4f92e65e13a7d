"""`NodeInfo`: one node and the pods the scheduler counts on it (upstream's
`framework.NodeInfo`).

It aggregates what filters need without walking the pods again: the sum of requests
(`requested`, and `nz_cpu`/`nz_memory` where request-less containers count as 100m/200Mi),
the host ports in use, and the pods with affinity terms (only those matter to
InterPodAffinity's view of existing pods). `add_pod`/`remove_pod` keep these in step.

The cache owns the live NodeInfos; preemption works on `clone()`s, removing victims from a
copy to see whether the preemptor would then fit.
"""

from __future__ import annotations

from typing import Any

from kybernetes.scheduler.podinfo import (
    PodInfo,
    Resource,
    Taint,
    normalized_image_name,
    parse_taints,
)

Obj = dict[str, Any]

_ALL_IPS = "0.0.0.0"


class HostPortInfo:
    """Host ports in use on a node: ip -> {(protocol, port)}, with 0.0.0.0 conflicting
    with every address (upstream's `HostPortInfo`)."""

    __slots__ = ("_counts", "_ports")

    def __init__(self) -> None:
        self._ports: dict[str, dict[tuple[str, int], int]] = {}
        self._counts = 0

    def add(self, ip: str, protocol: str, port: int) -> None:
        if port <= 0:
            return
        ip = ip or _ALL_IPS
        bucket = self._ports.setdefault(ip, {})
        bucket[(protocol or "TCP", port)] = bucket.get((protocol or "TCP", port), 0) + 1
        self._counts += 1

    def remove(self, ip: str, protocol: str, port: int) -> None:
        if port <= 0:
            return
        ip = ip or _ALL_IPS
        bucket = self._ports.get(ip)
        key = (protocol or "TCP", port)
        if not bucket or key not in bucket:
            return
        bucket[key] -= 1
        if bucket[key] <= 0:
            del bucket[key]
        if not bucket:
            del self._ports[ip]
        self._counts -= 1

    def conflicts(self, ip: str, protocol: str, port: int) -> bool:
        if port <= 0:
            return False
        ip = ip or _ALL_IPS
        key = (protocol or "TCP", port)
        if ip == _ALL_IPS:
            return any(key in bucket for bucket in self._ports.values())
        for address in (ip, _ALL_IPS):
            bucket = self._ports.get(address)
            if bucket and key in bucket:
                return True
        return False

    def __len__(self) -> int:
        return self._counts

    def clone(self) -> HostPortInfo:
        copy = HostPortInfo()
        copy._ports = {ip: dict(b) for ip, b in self._ports.items()}
        copy._counts = self._counts
        return copy


class ImageStateSummary:
    """An image's size and on how many nodes it is (shared by all nodes that have it)."""

    __slots__ = ("num_nodes", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self.num_nodes = 0


def node_images(node: Obj) -> dict[str, int]:
    """{normalized image name: size} from node.status.images."""
    images: dict[str, int] = {}
    for image in (node.get("status") or {}).get("images") or ():
        size = int(image.get("sizeBytes") or 0)
        for name in image.get("names") or ():
            images[normalized_image_name(str(name))] = size
    return images


class NodeInfo:
    __slots__ = (
        "allocatable", "generation", "image_states", "index", "labels", "name", "node",
        "nz_cpu", "nz_memory", "pods", "pods_with_affinity", "pods_with_required_anti_affinity",
        "requested", "taints", "unschedulable", "used_ports",
    )

    def __init__(self, node: Obj | None = None) -> None:
        self.node: Obj | None = None
        self.name = ""
        self.labels: dict[str, str] = {}
        self.taints: tuple[Taint, ...] = ()
        self.unschedulable = False
        self.allocatable = Resource()
        self.requested = Resource()
        self.nz_cpu = 0
        self.nz_memory = 0
        self.pods: dict[str, PodInfo] = {}
        self.pods_with_affinity: dict[str, PodInfo] = {}
        self.pods_with_required_anti_affinity: dict[str, PodInfo] = {}
        self.used_ports = HostPortInfo()
        self.image_states: dict[str, ImageStateSummary] = {}
        self.generation = 0
        # The node's slot in the cache's NodeTable (-1: not in a table, e.g. a clone).
        self.index = -1
        if node is not None:
            self.set_node(node)

    def set_node(self, node: Obj) -> None:
        meta = node.get("metadata") or {}
        spec = node.get("spec") or {}
        status = node.get("status") or {}
        self.node = node
        self.name = meta.get("name") or ""
        self.labels = meta.get("labels") or {}
        self.taints = parse_taints(spec.get("taints"))
        self.unschedulable = bool(spec.get("unschedulable"))
        self.allocatable = Resource.from_list(status.get("allocatable") or {})
        self.generation += 1

    def add_pod(self, pi: PodInfo) -> None:
        self.pods[pi.key] = pi
        self.requested.add(pi.requests)
        self.nz_cpu += pi.nz_cpu
        self.nz_memory += pi.nz_memory
        for ip, protocol, port in pi.host_ports:
            self.used_ports.add(ip, protocol, port)
        if pi.has_affinity:
            self.pods_with_affinity[pi.key] = pi
        if pi.required_anti_affinity_terms:
            self.pods_with_required_anti_affinity[pi.key] = pi
        self.generation += 1

    def remove_pod(self, pi: PodInfo) -> bool:
        """Remove the pod with `pi`'s key; False when it was not on this node."""
        existing = self.pods.pop(pi.key, None)
        if existing is None:
            return False
        self.requested.add(existing.requests, -1)
        self.nz_cpu -= existing.nz_cpu
        self.nz_memory -= existing.nz_memory
        for ip, protocol, port in existing.host_ports:
            self.used_ports.remove(ip, protocol, port)
        self.pods_with_affinity.pop(pi.key, None)
        self.pods_with_required_anti_affinity.pop(pi.key, None)
        self.generation += 1
        return True

    def clone(self) -> NodeInfo:
        copy = NodeInfo()
        copy.node = self.node
        copy.name = self.name
        copy.labels = self.labels
        copy.taints = self.taints
        copy.unschedulable = self.unschedulable
        copy.allocatable = self.allocatable
        copy.requested = self.requested.clone()
        copy.nz_cpu = self.nz_cpu
        copy.nz_memory = self.nz_memory
        copy.pods = dict(self.pods)
        copy.pods_with_affinity = dict(self.pods_with_affinity)
        copy.pods_with_required_anti_affinity = dict(self.pods_with_required_anti_affinity)
        copy.used_ports = self.used_ports.clone()
        copy.image_states = self.image_states
        copy.generation = self.generation
        return copy

    def __repr__(self) -> str:
        return f"<NodeInfo {self.name} pods={len(self.pods)} requested={self.requested}>"
