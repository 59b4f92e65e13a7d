"""Only the cluster asks: pods' networks, loopback and the Nodes' addresses; anyone else
gets REFUSED."""

from __future__ import annotations

import dns.message
import dns.rcode

from kybernetes.client import Store
from kybernetes.dns.acl import ClientAcl
from tests.dns.conftest import Cluster


def node(name: str, *addresses: tuple[str, str]) -> dict[str, object]:
    return {"metadata": {"name": name}, "status": {"addresses": [
        {"type": kind, "address": address} for kind, address in addresses]}}


def test_cluster_networks_loopback_and_nodes() -> None:
    nodes = Store()
    nodes.add(node("a", ("InternalIP", "192.0.2.7"), ("Hostname", "a")))
    acl = ClientAcl(["10.42.0.0/16"], nodes)
    assert acl.allows("10.42.3.4") and acl.allows("::ffff:10.42.0.1")
    assert acl.allows("127.0.0.1") and acl.allows("::1")
    assert acl.allows("192.0.2.7")
    assert not acl.allows("192.0.2.8") and not acl.allows("203.0.113.9")
    assert not acl.allows("a")
    # A node joins: its address may ask from then on.
    joined = node("b", ("InternalIP", "192.0.2.8"))
    nodes.add(joined)
    acl.nodes_changed(joined)
    assert acl.allows("192.0.2.8")


async def test_outsiders_are_refused(cluster: Cluster) -> None:
    cluster.server.acl = ClientAcl(["10.42.0.0/16"])
    query = dns.message.make_query("web.shop.svc.cluster.local", "A")
    refused = cluster.server.handle(query.to_wire(), udp=True, client="203.0.113.9")
    assert isinstance(refused, bytes)
    response = dns.message.from_wire(refused)
    assert response.rcode() == dns.rcode.REFUSED and response.answer == []
    assert response.id == query.id
    allowed = cluster.server.handle(query.to_wire(), udp=True, client="10.42.0.7")
    assert isinstance(allowed, bytes)
    assert dns.message.from_wire(allowed).answer
