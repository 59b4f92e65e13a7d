"""flannel's VXLAN backend: pods reach pods on nodes that are not on one L2 segment.

Follows flannel's pkg/backend/vxlan (vxlan.go, vxlan_network.go, device.go), with the
Node annotations of its kube subnet manager:

- the node's VTEP is the device `flannel.1`: VXLAN id 1, UDP port 8472, the node's
  address as local end, no learning, MTU 1450 (the pods' MTU too: 50 bytes of
  encapsulation), with the network address of the node's pod CIDR as its /32 address;
- the node publishes it on its own Node: `flannel.alpha.coreos.com/backend-type: vxlan`,
  `.../backend-data: {"VNI":1,"VtepMAC":"<mac>"}`, `.../public-ip: <node address>`,
  `.../kube-subnet-manager: "true"`;
- for every other node that published one: a permanent ARP entry (its pod CIDR's network
  address -> its VTEP's MAC) and FDB entry (that MAC -> its public IP) on `flannel.1`, and
  the route `<pod CIDR> via <network address> dev flannel.1 onlink`, of host-gw's routing
  protocol (routes.py keeps the routes and the masquerade rules for both backends).

ARP and FDB entries of nodes that went away are removed: every entry on `flannel.1` is
this backend's own.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kybernetes.client import ApiClient
from kybernetes.kubelet.network.masquerade import Masquerade
from kybernetes.kubelet.network.routes import (
    CHECK_PERIOD,
    HostGateway,
    RouteTable,
    node_pod_cidr,
)

DEVICE = "flannel.1"
VNI = 1
PORT = 8472
MTU = 1450  # 1500 less the VXLAN encapsulation
ANNOTATION_PREFIX = "flannel.alpha.coreos.com/"
BACKEND_TYPE = f"{ANNOTATION_PREFIX}backend-type"
BACKEND_DATA = f"{ANNOTATION_PREFIX}backend-data"
PUBLIC_IP = f"{ANNOTATION_PREFIX}public-ip"
SUBNET_MANAGER = f"{ANNOTATION_PREFIX}kube-subnet-manager"
NODES = ("", "v1", "nodes")


@dataclass(frozen=True)
class Vtep:
    """Another node's VTEP: its pod CIDR, that CIDR's network address, MAC and address."""

    cidr: str
    gateway: str
    mac: str
    public_ip: str


def remote_vteps(nodes: Sequence[Mapping[str, Any]], node_name: str) -> dict[str, Vtep]:
    """pod CIDR -> VTEP of every other node that published a VXLAN VTEP."""
    vteps: dict[str, Vtep] = {}
    for node in nodes:
        meta = node.get("metadata") or {}
        annotations = meta.get("annotations") or {}
        cidr = node_pod_cidr(node)
        if meta.get("name") == node_name or cidr is None \
                or annotations.get(BACKEND_TYPE) != "vxlan":
            continue
        try:
            mac = str(json.loads(annotations.get(BACKEND_DATA) or "{}")["VtepMAC"])
            public_ip = str(ipaddress.IPv4Address(annotations.get(PUBLIC_IP, "")))
        except (ValueError, KeyError, TypeError):
            continue
        gateway = str(ipaddress.ip_network(cidr).network_address)
        vteps[cidr] = Vtep(cidr, gateway, mac.lower(), public_ip)
    return vteps


class Vxlan(HostGateway):
    """The VXLAN backend of one node (host-gw's loop, VXLAN's routes)."""

    device = DEVICE
    refusal_hint = ""

    def __init__(self, node_name: str, cluster_cidr: str, node_ip: str, client: ApiClient,
                 *, routes: RouteTable | None = None, masquerade: Masquerade | None = None,
                 check_period: float = CHECK_PERIOD) -> None:
        super().__init__(node_name, cluster_cidr, routes=routes, masquerade=masquerade,
                         check_period=check_period)
        self.node_ip = node_ip
        self.client = client
        self._addressed: str | None = None  # the pod CIDR the device's address is of

    async def _bridge(self, *args: str) -> str:
        return await self.routes.run("bridge", *args)

    async def vtep(self, pod_cidr: str) -> str:
        """Make `flannel.1` (if missing) with the address of `pod_cidr`; its MAC."""
        links = json.loads(await self.routes.ip("-d", "-json", "link", "show") or "[]")
        device = next((link for link in links if link.get("ifname") == DEVICE), None)
        data = ((device or {}).get("linkinfo") or {}).get("info_data") or {}
        if device is not None and (data.get("id"), data.get("local"), data.get("port")) \
                != (VNI, self.node_ip, PORT):
            await self.routes.ip("link", "del", DEVICE)  # flannel: incompatible, recreate
            device = None
        if device is None:
            await self.routes.ip("link", "add", DEVICE, "type", "vxlan", "id", str(VNI),
                                 "local", self.node_ip, "dstport", str(PORT), "nolearning")
            await self.routes.ip("link", "set", DEVICE, "mtu", str(MTU))
            self._addressed = None
        if self._addressed != pod_cidr:
            address = ipaddress.ip_network(pod_cidr).network_address
            await self.routes.ip("addr", "flush", "dev", DEVICE)
            await self.routes.ip("addr", "add", f"{address}/32", "dev", DEVICE)
            self._addressed = pod_cidr
        await self.routes.ip("link", "set", DEVICE, "up")
        shown = json.loads(await self.routes.ip("-json", "link", "show", "dev", DEVICE))
        return str(shown[0]["address"])

    async def publish(self, own: Mapping[str, Any], mac: str) -> None:
        """flannel's annotations on the node's own Node, where they differ."""
        wanted = {BACKEND_TYPE: "vxlan", BACKEND_DATA: json.dumps(
            {"VNI": VNI, "VtepMAC": mac}, separators=(",", ":")),
            PUBLIC_IP: self.node_ip, SUBNET_MANAGER: "true"}
        annotations = (own.get("metadata") or {}).get("annotations") or {}
        if any(annotations.get(key) != value for key, value in wanted.items()):
            await self.client.patch(NODES, self.node_name,
                                    {"metadata": {"annotations": wanted}})

    async def neighbours(self, vteps: Mapping[str, Vtep]) -> None:
        """The ARP and FDB entries of `flannel.1`: exactly those of `vteps`."""
        shown = json.loads(await self.routes.ip("-4", "-json", "neigh", "show", "dev", DEVICE)
                           or "[]")
        arp = {str(n["dst"]): str(n.get("lladdr", "")).lower() for n in shown}
        wanted_arp = {v.gateway: v.mac for v in vteps.values()}
        for dst in sorted(arp.keys() - wanted_arp.keys()):
            await self.routes.ip("neigh", "del", dst, "dev", DEVICE)
        for dst, mac in sorted(wanted_arp.items()):
            if arp.get(dst) != mac:
                await self.routes.ip("neigh", "replace", dst, "lladdr", mac, "dev", DEVICE,
                                     "nud", "permanent")
        entries = json.loads(await self._bridge("-json", "fdb", "show", "dev", DEVICE)
                             or "[]")
        fdb = {(str(e["mac"]).lower(), str(e["dst"])) for e in entries if e.get("dst")}
        wanted_fdb = {(v.mac, v.public_ip) for v in vteps.values()}
        for mac, dst in sorted(fdb - wanted_fdb):
            await self._bridge("fdb", "del", mac, "dev", DEVICE, "dst", dst)
        for mac, dst in sorted(wanted_fdb - fdb):
            await self._bridge("fdb", "replace", mac, "dev", DEVICE, "dst", dst, "self",
                               "permanent")

    async def wanted(self, nodes: Sequence[Mapping[str, Any]],
                     own: Mapping[str, Any] | None) -> dict[str, str]:
        pod_cidr = node_pod_cidr(own) if own is not None else None
        if own is None or pod_cidr is None:
            return {}  # no VTEP before the node has its pod CIDR
        await self.publish(own, await self.vtep(pod_cidr))
        vteps = remote_vteps(nodes, self.node_name)
        await self.neighbours(vteps)
        return {cidr: vtep.gateway for cidr, vtep in vteps.items()}
