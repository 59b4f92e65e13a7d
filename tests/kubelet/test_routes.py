"""flannel's host-gw backend (kubelet/network/routes.py) in a namespace the test makes.

The "node" namespace has a veth on 192.0.2.0/24 (TEST-NET-1, leading nowhere) where the
other nodes' addresses are reachable as gateways. Routes appear, change and go with the
Nodes; a route someone else made is left alone; a node that is not on the segment gets
no route and is reported while the others are kept; the masquerade table follows the
node's own pod CIDR. VXLAN (vxlan.py) joins two nodes on different segments through a
router namespace. The Node watch that drives `sync` runs in tests/e2e/test_multinode.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from kybernetes.client import ApiClient
from kybernetes.kubelet.network.masquerade import TABLE, Masquerade
from kybernetes.kubelet.network.routes import ROUTE_PROTOCOL, HostGateway, RouteTable
from kybernetes.kubelet.network.vxlan import BACKEND_DATA, PUBLIC_IP, Vxlan
from tests.kubelet import netns

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(bool(netns.available()), reason=netns.available() or "ok")]

CLUSTER_CIDR = "10.42.0.0/16"
NODES = ("", "v1", "nodes")
FOREIGN = "10.42.99.0/24"  # someone else's route, inside the cluster CIDR even
Obj = dict[str, Any]


def node(name: str, address: str | None, pod_cidr: str | None) -> Obj:
    obj: Obj = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
                "spec": {}, "status": {}}
    if pod_cidr:
        obj["spec"] = {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr]}
    if address:
        obj["status"]["addresses"] = [{"type": "InternalIP", "address": address},
                                      {"type": "Hostname", "address": name}]
    return obj


@pytest.fixture
def node_ns() -> Iterator[netns.NetNS]:
    with netns.netns("kyb-routes") as ns:
        netns.add_node_interface(ns, "192.0.2.1/24")
        ns.ip("route", "add", FOREIGN, "via", "192.0.2.99", "proto", "static")
        yield ns


def routes(ns: netns.NetNS) -> dict[str, tuple[str, str]]:
    """Every route of the main table: destination -> (gateway, protocol)."""
    shown = json.loads(ns.ip("-4", "-json", "route", "show", "table", "main").stdout)
    return {r["dst"]: (r.get("gateway", ""), str(r.get("protocol", "")))
            for r in shown if "gateway" in r}


def gateway(ns: netns.NetNS) -> HostGateway:
    return HostGateway("node-a", CLUSTER_CIDR, routes=RouteTable(ns.path),
                       masquerade=Masquerade(CLUSTER_CIDR, ns.path))


async def test_routes_follow_the_nodes_and_only_ours_are_touched(
        node_ns: netns.NetNS) -> None:
    hostgw = gateway(node_ns)
    nodes = [node("node-a", "192.0.2.1", "10.42.0.0/24"),
             node("node-b", "192.0.2.2", "10.42.1.0/24"),
             node("node-c", "192.0.2.3", "10.42.2.0/24"),
             node("no-cidr-yet", "192.0.2.4", None),
             node("elsewhere", "203.0.113.5", "10.42.3.0/24")]
    failures = await hostgw.sync(nodes)
    assert len(failures) == 1 and "10.42.3.0/24 via 203.0.113.5" in failures[0]
    proto = str(ROUTE_PROTOCOL)
    assert routes(node_ns) == {"10.42.1.0/24": ("192.0.2.2", proto),
                               "10.42.2.0/24": ("192.0.2.3", proto),
                               FOREIGN: ("192.0.2.99", "static")}
    # The refused route is not tried again until its Node changes.
    assert await hostgw.sync(nodes) == []

    # node-b moves, node-c goes away, the foreign route stays.
    moved = [nodes[0], node("node-b", "192.0.2.12", "10.42.1.0/24")]
    assert await hostgw.sync(moved) == []
    assert routes(node_ns) == {"10.42.1.0/24": ("192.0.2.12", proto),
                               FOREIGN: ("192.0.2.99", "static")}

    # A route of ours deleted by hand comes back at the next check.
    node_ns.ip("route", "del", "10.42.1.0/24")
    assert await hostgw.sync(moved) == []
    assert routes(node_ns)["10.42.1.0/24"] == ("192.0.2.12", proto)


async def test_masquerade_follows_the_own_pod_cidr(node_ns: netns.NetNS) -> None:
    hostgw = gateway(node_ns)
    await hostgw.sync([node("node-a", "192.0.2.1", None)])
    listed = node_ns.run("nft", "list", "tables").stdout
    assert TABLE not in listed  # no pod CIDR yet: nothing to masquerade for
    await hostgw.sync([node("node-a", "192.0.2.1", "10.42.5.0/24")])
    table = node_ns.run("nft", "list", "table", "ip", TABLE).stdout
    assert "ip saddr 10.42.0.0/16 ip daddr 10.42.0.0/16 return" in table
    assert "ip saddr != 10.42.0.0/16 ip daddr 10.42.5.0/24 return" in table
    await hostgw.sync([node("node-a", "192.0.2.1", "10.42.6.0/24")])
    table = node_ns.run("nft", "list", "table", "ip", TABLE).stdout
    assert "10.42.6.0/24" in table and "10.42.5.0/24" not in table


@pytest.fixture
def routed() -> Iterator[tuple[netns.NetNS, netns.NetNS]]:
    """Two nodes on different segments (192.0.2.0/24 and 198.18.0.0/24) with a router
    namespace between them: not one L2 segment."""
    with netns.namespaces("kyb-vx-a", "kyb-vx-r", "kyb-vx-b") as (a, router, b):
        for node, address, side, gateway in ((a, "192.0.2.1/24", "ra", "192.0.2.254/24"),
                                             (b, "198.18.0.1/24", "rb", "198.18.0.254/24")):
            node.ip("link", "add", "eth0", "type", "veth", "peer", "name", side, "netns",
                    router.name)
            node.ip("addr", "add", address, "dev", "eth0")
            node.ip("link", "set", "eth0", "up")
            router.ip("addr", "add", gateway, "dev", side)
            router.ip("link", "set", side, "up")
            node.ip("route", "add", "default", "via", gateway.split("/")[0])
        router.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
        yield a, b


async def test_vxlan_reaches_a_node_on_another_segment(
        routed: tuple[netns.NetNS, netns.NetNS], api: ApiClient) -> None:
    a, b = routed
    await api.create(NODES, node("node-a", "192.0.2.1", "10.42.0.0/24"))
    await api.create(NODES, node("node-b", "198.18.0.1", "10.42.1.0/24"))
    backends = {ns.name: Vxlan(name, CLUSTER_CIDR, ip, api, routes=RouteTable(ns.path),
                               masquerade=Masquerade(CLUSTER_CIDR, ns.path))
                for ns, name, ip in ((a, "node-a", "192.0.2.1"), (b, "node-b", "198.18.0.1"))}

    async def sync_both() -> None:
        for backend in backends.values():
            assert await backend.sync((await api.list(NODES)).items) == []

    # A flannel.1 left with other settings (another VNI and port) is made anew.
    a.ip("link", "add", "flannel.1", "type", "vxlan", "id", "7", "dstport", "4789", "local",
         "192.0.2.1")
    await sync_both()
    await sync_both()  # each now knows the other's published VTEP
    vxlan = json.loads(a.ip("-d", "-json", "link", "show", "dev", "flannel.1").stdout)
    assert (vxlan[0]["linkinfo"]["info_data"]["id"], vxlan[0]["mtu"]) == (1, 1450)
    published = (await api.get(NODES, "node-b"))["metadata"]["annotations"]
    mac_b = b.ip("-json", "link", "show", "dev", "flannel.1").stdout
    assert json.loads(published[BACKEND_DATA]) == {
        "VNI": 1, "VtepMAC": json.loads(mac_b)[0]["address"]}
    assert published[PUBLIC_IP] == "198.18.0.1"
    assert "10.42.1.0/24 via 10.42.1.0 dev flannel.1 proto 107 onlink" in \
        a.ip("-4", "route").stdout
    # Through the tunnel: from A's VTEP address to B's, across the router.
    a.run("busybox", "ping", "-c", "1", "-W", "5", "10.42.1.0")

    await api.delete(NODES, "node-b")
    await backends[a.name].sync((await api.list(NODES)).items)
    assert "10.42.1.0" not in a.ip("-4", "route").stdout
    assert a.ip("neigh", "show", "dev", "flannel.1").stdout.strip() == ""
    assert "dst" not in a.run("bridge", "fdb", "show", "dev", "flannel.1").stdout
