"""Masquerade of pod traffic leaving the cluster network: flannel's masquerade rules.

Follows flannel's pkg/trafficmngr/nftables (MasqRules), in a table of our own, `ip
kybernetes-flannel`, replaced whole in one `nft -f` transaction:

- packets kube-proxy marked for masquerade (0x4000) are left to kube-proxy;
- pod to pod (source and destination in the cluster CIDR) keeps its addresses, so pods
  on other nodes see the real pod IP (host-gw routes carry it there);
- pod traffic to anything else but multicast is masqueraded to the node's address;
- traffic from outside the cluster network to another node's pods is masqueraded too
  (its replies then come back through this node), to this node's own pods it is not.

The bridge CNI plugin's own `ipMasq` (which masquerades pod-to-pod traffic crossing
nodes too) is off on nodes that run this.
"""

from __future__ import annotations

import ipaddress

from kybernetes.kubelet import spawn

TABLE = "kybernetes-flannel"
KUBE_PROXY_MASQ_MARK = "0x4000"


class MasqueradeError(RuntimeError):
    """`nft` refused the rules; the message has its stderr."""


def ruleset(cluster_cidr: str, pod_cidr: str) -> str:
    """The whole table for a node whose pods are in `pod_cidr`."""
    cluster = ipaddress.ip_network(cluster_cidr, strict=False)
    pods = ipaddress.ip_network(pod_cidr, strict=False)
    mark = KUBE_PROXY_MASQ_MARK
    return "\n".join([
        f"table ip {TABLE}",
        f"delete table ip {TABLE}",
        f"table ip {TABLE} {{",
        "  chain postrouting {",
        "    type nat hook postrouting priority srcnat; policy accept;",
        f"    meta mark & {mark} == {mark} return",
        f"    ip saddr {cluster} ip daddr {cluster} return",
        f"    ip saddr {cluster} ip daddr != 224.0.0.0/4 masquerade fully-random",
        f"    ip saddr != {cluster} ip daddr {pods} return",
        f"    ip saddr != {cluster} ip daddr {cluster} masquerade fully-random",
        "  }",
        "}",
        ""])


class Masquerade:
    """The node's masquerade table; in the network namespace `netns` (a path) if given."""

    def __init__(self, cluster_cidr: str, netns: str | None = None) -> None:
        self.cluster_cidr = cluster_cidr
        self.prefix: list[str] = ["nsenter", f"--net={netns}", "--"] if netns else []

    async def sync(self, pod_cidr: str) -> None:
        """Replace the table with the rules for `pod_cidr`, atomically."""
        done = await spawn.run([*self.prefix, "nft", "-f", "-"],
                               input=ruleset(self.cluster_cidr, pod_cidr).encode())
        if done.returncode != 0:
            raise MasqueradeError(f"nft -f: {done.stderr.decode(errors='replace').strip()}")
