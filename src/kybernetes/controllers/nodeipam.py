"""The node IPAM controller: each Node gets its pod network (`spec.podCIDR`/`podCIDRs`), a
subnet of the cluster's pod CIDR (upstream's `nodeipam` with its range allocator,
`--allocate-node-cidrs`, `--cluster-cidr`, `--node-cidr-mask-size`).

A kubelet may not list other Nodes to pick a free subnet itself (the Node authorizer lets it
read its own Node only), so the controller, which sees them all, hands them out. One worker
allocates: the subnets in use are those of every Node in the informer's cache plus those
this controller assigned and has not yet seen come back, so two Nodes never get the same
one. A Node that already has a pod CIDR keeps it.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import ClassVar

from kybernetes.client import NotFoundError, resource
from kybernetes.client.rest import Obj
from kybernetes.controllers.base import ControllerContext, QueueController

log = logging.getLogger(__name__)

NODES = resource("", "v1", "nodes")
DEFAULT_CLUSTER_CIDR = "10.42.0.0/16"
DEFAULT_NODE_MASK_SIZE = 24


class NodeIpamController(QueueController):
    name: ClassVar[str] = "node-ipam-controller"

    def __init__(self, ctx: ControllerContext, *, cluster_cidr: str = DEFAULT_CLUSTER_CIDR,
                 node_mask_size: int = DEFAULT_NODE_MASK_SIZE) -> None:
        super().__init__(workers=1)
        self.client = ctx.client
        self.cluster = ipaddress.ip_network(cluster_cidr)
        if node_mask_size < self.cluster.prefixlen:
            raise ValueError(f"--node-cidr-mask-size {node_mask_size} is larger than the "
                             f"cluster CIDR {cluster_cidr}")
        self.node_mask_size = node_mask_size
        self.nodes = ctx.informers.informer(NODES)
        # Assigned by us, by node name, until the informer shows them.
        self._assigned: dict[str, str] = {}
        self.watch(self.nodes, on_add=self._node_changed,
                   on_update=lambda _old, new: self._node_changed(new))

    def _node_changed(self, node: Obj) -> None:
        if not (node.get("spec") or {}).get("podCIDR"):
            self.enqueue(str(node["metadata"]["name"]))

    def _in_use(self) -> set[str]:
        used = set(self._assigned.values())
        for node in self.nodes.store.list():
            used.update((node.get("spec") or {}).get("podCIDRs") or ())
            cidr = (node.get("spec") or {}).get("podCIDR")
            if cidr:
                used.add(cidr)
        return used

    def _free_subnet(self) -> str:
        used = self._in_use()
        for subnet in self.cluster.subnets(new_prefix=self.node_mask_size):
            if str(subnet) not in used:
                return str(subnet)
        raise RuntimeError(f"no free /{self.node_mask_size} left in {self.cluster}")

    async def sync(self, key: str) -> None:
        node = self.nodes.store.get(key)
        if node is None:
            self._assigned.pop(key, None)
            return
        if (node.get("spec") or {}).get("podCIDR"):
            self._assigned.pop(key, None)
            return
        cidr = self._assigned.get(key) or self._free_subnet()
        self._assigned[key] = cidr
        try:
            await self.client.patch(NODES, key, {"spec": {"podCIDR": cidr,
                                                          "podCIDRs": [cidr]}})
        except NotFoundError:
            self._assigned.pop(key, None)
            return
        log.info("node %s: pod CIDR %s", key, cidr)
