"""Who may ask: the cluster's pods and nodes, not whoever can reach the node's address.

On k3s, CoreDNS listens on a pod IP that only the cluster reaches. Here the server listens
on the node's address, so it answers only clients in the cluster's networks (the pod
CIDR, given), loopback, and the addresses of the cluster's Nodes (from the nodes
informer: traffic kube-proxy masquerades arrives from a node's address); everyone else is
REFUSED, as CoreDNS's `acl` plugin answers a blocked query. Decisions are remembered per
source address until the Nodes change.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

from kybernetes.client import Store

_DECISIONS = 4096
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ClientAcl:
    def __init__(self, networks: Sequence[str], nodes: Store | None = None) -> None:
        self.networks: list[_Network] = [ipaddress.ip_network(n, strict=False)
                                         for n in (*networks, "127.0.0.0/8", "::1/128")]
        self.nodes = nodes
        self._node_addresses: frozenset[str] = frozenset()
        self._decisions: dict[str, bool] = {}
        self.nodes_changed()

    def nodes_changed(self, *_objects: Any) -> None:
        """Recompute the Nodes' addresses (an informer handler)."""
        addresses: set[str] = set()
        for node in self.nodes or ():
            for address in ((node.get("status") or {}).get("addresses") or ()):
                if address.get("type") in ("InternalIP", "ExternalIP"):
                    addresses.add(str(address.get("address")))
        self._node_addresses = frozenset(addresses)
        self._decisions.clear()

    def allows(self, host: str) -> bool:
        decision = self._decisions.get(host)
        if decision is None:
            decision = self._decide(host)
            if len(self._decisions) >= _DECISIONS:
                self._decisions.clear()
            self._decisions[host] = decision
        return decision

    def _decide(self, host: str) -> bool:
        if host in self._node_addresses:
            return True
        try:
            ip = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        if ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self.networks)

