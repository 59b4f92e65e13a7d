"""The nftables backend: upstream's pkg/proxy/nftables/proxier.go.

One `ip kube-proxy` table. Base chains hook prerouting/output (nat, to `services`),
postrouting (`masquerading` of packets marked 0x4000) and filter input/forward/output
(rejecting traffic to services without endpoints before NAT sees it). `services` looks the
destination up in two verdict maps, `service-ips` (`ip . proto . port`, cluster IPs,
external IPs and load-balancer IPs) and `service-nodeports` (`proto . port`, for addresses
in `nodeport-ips`, the node's own). A service port has a `service-` chain (cluster policy)
and, as needed, `local-` (Local policy) and `external-` chains; each endpoint an
`endpoint-` chain that DNATs. Balancing is `numgen random mod N`; `sessionAffinity:
ClientIP` keeps each endpoint's clients in a set with the affinity timeout.

One departure from upstream: an endpoint is picked by a rule per endpoint (`numgen random
mod <endpoints left> == 0 goto ...`, as the iptables mode's `statistic` rules) instead of
one `numgen random mod N vmap { ... }`: each such vmap is an anonymous set, and the kernel
allocates anonymous set names by scanning the table's sets, so a table of 10000 services
took 87 s to load with them, 1 s without (measured here, kernel 6.x, nft 1.0.6).

A sync is one `nft -f -` transaction: the first (and any after a failure) replaces the
table; later ones carry only what changed in the services marked dirty (elements deleted
and added, changed chains flushed and refilled, gone chains and sets deleted). Gone chains
are deleted in the same transaction as the map elements that pointed at them, which
kernels from 6.2 on accept (upstream defers the deletion a second for older ones).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import ClassVar

from kybernetes.proxy import execute
from kybernetes.proxy.changes import ChangeTracker, Endpoint, ServicePort
from kybernetes.proxy.rendered import Rendered, chain_base, diff, endpoint_base
from kybernetes.proxy.topology import categorize

TABLE = "kube-proxy"
FAMILY = "ip"
PREFIX = f"{FAMILY} {TABLE}"
MASQ_MARK = "0x4000"

MARK_MASQ = "mark-for-masquerade"
MASQUERADING = "masquerading"
SERVICES = "services"
SERVICE_ENDPOINTS_CHECK = "service-endpoints-check"
NODEPORT_ENDPOINTS_CHECK = "nodeport-endpoints-check"
CLUSTER_IPS_CHECK = "cluster-ips-check"
REJECT_CHAIN = "reject-chain"
SERVICE_IPS = "service-ips"
SERVICE_NODEPORTS = "service-nodeports"
NO_ENDPOINT_SERVICES = "no-endpoint-services"
NO_ENDPOINT_NODEPORTS = "no-endpoint-nodeports"
CLUSTER_IPS = "cluster-ips"
NODEPORT_IPS = "nodeport-ips"

_SETS_AND_MAPS = (
    ("set", CLUSTER_IPS, 'type ipv4_addr ; comment "Active ClusterIPs" ;'),
    ("set", NODEPORT_IPS, 'type ipv4_addr ; comment "IPs that accept NodePort traffic" ;'),
    ("map", NO_ENDPOINT_NODEPORTS, "type inet_proto . inet_service : verdict ;"),
    ("map", NO_ENDPOINT_SERVICES, "type ipv4_addr . inet_proto . inet_service : verdict ;"),
    ("map", SERVICE_IPS, "type ipv4_addr . inet_proto . inet_service : verdict ;"),
    ("map", SERVICE_NODEPORTS, "type inet_proto . inet_service : verdict ;"),
)

# (chain, hook definition or "", rules)
_BASE_CHAINS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (MARK_MASQ, "", (f"mark set mark or {MASQ_MARK}",)),
    (MASQUERADING, "", (f"mark and {MASQ_MARK} == 0 return",
                        f"mark set mark xor {MASQ_MARK}", "masquerade fully-random")),
    (REJECT_CHAIN, "", ("reject",)),
    (CLUSTER_IPS_CHECK, "", (f'ip daddr @{CLUSTER_IPS} reject comment '
                             '"Reject traffic to invalid ports of ClusterIPs"',)),
    (SERVICES, "", (f"ip daddr . meta l4proto . th dport vmap @{SERVICE_IPS}",
                    f"ip daddr @{NODEPORT_IPS} meta l4proto . th dport "
                    f"vmap @{SERVICE_NODEPORTS}")),
    (SERVICE_ENDPOINTS_CHECK, "", (
        f"ip daddr . meta l4proto . th dport vmap @{NO_ENDPOINT_SERVICES}",)),
    (NODEPORT_ENDPOINTS_CHECK, "", (
        f"ip daddr @{NODEPORT_IPS} meta l4proto . th dport vmap @{NO_ENDPOINT_NODEPORTS}",)),
    ("filter-forward", "type filter hook forward priority -110 ;", (
        f"ct state new jump {SERVICE_ENDPOINTS_CHECK}",
        f"ct state new jump {CLUSTER_IPS_CHECK}")),
    ("filter-input", "type filter hook input priority -110 ;", (
        f"ct state new jump {NODEPORT_ENDPOINTS_CHECK}",
        f"ct state new jump {SERVICE_ENDPOINTS_CHECK}")),
    ("filter-output", "type filter hook output priority -110 ;", (
        f"ct state new jump {SERVICE_ENDPOINTS_CHECK}",)),
    ("filter-output-post-dnat", "type filter hook output priority -90 ;", (
        f"ct state new jump {CLUSTER_IPS_CHECK}",)),
    ("nat-output", "type nat hook output priority -100 ;", (f"jump {SERVICES}",)),
    ("nat-postrouting", "type nat hook postrouting priority 100 ;", (f"jump {MASQUERADING}",)),
    ("nat-prerouting", "type nat hook prerouting priority -100 ;", (f"jump {SERVICES}",)),
)


def _endpoint_rules(port: ServicePort, chain: str, endpoints: Sequence[Endpoint],
                    out: Rendered) -> None:
    """Rules of a policy chain sending to `endpoints` (and the endpoints' own chains)."""
    rules: list[str] = list(out.chains.get(chain, ()))
    targets = []
    for endpoint in endpoints:
        base = endpoint_base(port, endpoint)
        target = f"endpoint-{base}"
        targets.append(target)
        if port.affinity_seconds:
            affinity = f"affinity-{base}"
            out.sets[affinity] = (f"type ipv4_addr ; flags dynamic,timeout ; "
                                  f"timeout {port.affinity_seconds}s ;")
            rules.append(f"ip saddr @{affinity} goto {target}")
        out.chains[target] = (
            f"ip saddr {endpoint.ip} jump {MARK_MASQ}",
            *((f"update @affinity-{base} {{ ip saddr }}",) if port.affinity_seconds else ()),
            f"meta l4proto {port.protocol} dnat to {endpoint.ip}:{endpoint.port}")
    # Uniform over the endpoints, each rule taking 1/(endpoints left) of what reaches it.
    for index, target in enumerate(targets[:-1]):
        rules.append(f"numgen random mod {len(targets) - index} == 0 goto {target}")
    if targets:
        rules.append(f"goto {targets[-1]}")
    out.chains[chain] = tuple(rules)


def render_port(port: ServicePort, endpoints: Sequence[Endpoint], *, cluster_cidr: str = "",
                masquerade_all: bool = False) -> Rendered:
    """What one service port puts in the table (upstream's syncProxyRules loop body)."""
    out = Rendered()
    base = chain_base(port)
    cluster_chain, local_chain = f"service-{base}", f"local-{base}"
    external_chain = f"external-{base}"
    found = categorize(port, endpoints)
    uses_cluster = bool(found.cluster) and port.uses_cluster_endpoints
    uses_local = bool(found.local) and port.uses_local_endpoints
    has_endpoints = found.has_any

    internal_chain, has_internal = cluster_chain, has_endpoints
    if port.internal_local:
        internal_chain = local_chain
        has_internal = bool(found.local)
    external_policy_chain, has_external = cluster_chain, has_endpoints
    if port.external_policy_local:
        external_policy_chain = local_chain
        has_external = bool(found.local)
    uses_external = has_endpoints and port.externally_accessible

    proto, vip = port.protocol, port.cluster_ip
    internal_verdict = external_verdict = ""
    if not has_endpoints:
        internal_verdict = external_verdict = f"goto {REJECT_CHAIN}"
    else:
        internal_verdict = "" if has_internal else "drop"
        external_verdict = "" if has_external else "drop"

    out.elements[(CLUSTER_IPS, vip)] = ""
    if has_internal:
        out.elements[(SERVICE_IPS, f"{vip} . {proto} . {port.port}")] = \
            f"goto {internal_chain}"
        masquerade = "" if masquerade_all else \
            f" ip saddr != {cluster_cidr}" if cluster_cidr else None
        if masquerade is not None:
            out.chains[internal_chain] = (
                f"ip daddr {vip} {proto} dport {port.port}{masquerade} jump {MARK_MASQ}",)
    else:
        out.elements[(NO_ENDPOINT_SERVICES, f"{vip} . {proto} . {port.port}")] = \
            internal_verdict

    for ip in (*port.external_ips, *port.load_balancer_ips):
        key = f"{ip} . {proto} . {port.port}"
        if uses_external:
            out.elements[(SERVICE_IPS, key)] = f"goto {external_chain}"
        if external_verdict:
            out.elements[(NO_ENDPOINT_SERVICES, key)] = external_verdict
    if port.node_port:
        key = f"{proto} . {port.node_port}"
        if uses_external:
            out.elements[(SERVICE_NODEPORTS, key)] = f"goto {external_chain}"
        if external_verdict:
            out.elements[(NO_ENDPOINT_NODEPORTS, key)] = external_verdict

    if uses_external:
        rules = []
        if not port.external_policy_local:
            rules.append(f"jump {MARK_MASQ}")
        elif uses_cluster:
            if cluster_cidr:
                rules.append(f'ip saddr {cluster_cidr} goto {cluster_chain} '
                             'comment "short-circuit pod traffic"')
            rules.append(f'fib saddr type local jump {MARK_MASQ} '
                         'comment "masquerade local traffic"')
            rules.append(f'fib saddr type local goto {cluster_chain} '
                         'comment "short-circuit local traffic"')
        if has_external:
            rules.append(f"goto {external_policy_chain}")
        out.chains[external_chain] = tuple(rules)
    if uses_cluster:
        _endpoint_rules(port, cluster_chain, found.cluster, out)
    if uses_local:
        _endpoint_rules(port, local_chain, found.local, out)
    # A policy chain the maps point at exists even when it has no endpoint to send to.
    for chain in (internal_chain if has_internal else None,
                  external_policy_chain if uses_external and has_external else None):
        if chain is not None:
            out.chains.setdefault(chain, ())
    return out


def render_service(ports: Iterable[ServicePort], tracker: ChangeTracker, *,
                   cluster_cidr: str = "", masquerade_all: bool = False) -> Rendered:
    out = Rendered()
    for port in ports:
        out.merge(render_port(port, tracker.endpoints(port), cluster_cidr=cluster_cidr,
                              masquerade_all=masquerade_all))
    return out


def _element(name: str, key: str, value: str) -> str:
    return f"{key} : {value}" if value else key


def _add_elements(lines: list[str], elements: Iterable[tuple[tuple[str, str], str]]) -> None:
    grouped: dict[str, list[str]] = {}
    for (name, key), value in elements:
        grouped.setdefault(name, []).append(_element(name, key, value))
    for name, items in grouped.items():
        for start in range(0, len(items), 1000):
            chunk = ", ".join(items[start:start + 1000])
            lines.append(f"add element {PREFIX} {name} {{ {chunk} }}")


def base_ruleset(node_ips: Sequence[str]) -> list[str]:
    """The table, its sets and maps and its base chains, as upstream sets them up."""
    lines = [f'add table {PREFIX} {{ comment "rules for kube-proxy" ; }}']
    for kind, name, definition in _SETS_AND_MAPS:
        lines.append(f"add {kind} {PREFIX} {name} {{ {definition} }}")
    for chain, hook, _rules in _BASE_CHAINS:
        lines.append(f"add chain {PREFIX} {chain}" + (f" {{ {hook} }}" if hook else ""))
    for chain, _hook, rules in _BASE_CHAINS:
        lines.extend(f"add rule {PREFIX} {chain} {rule}" for rule in rules)
    if node_ips:
        lines.append(f"add element {PREFIX} {NODEPORT_IPS} {{ {', '.join(node_ips)} }}")
    return lines


def full_transaction(services: Mapping[str, Rendered], node_ips: Sequence[str]) -> str:
    """Replace the whole table (`add` first so that `delete` cannot fail)."""
    lines = [f"add table {PREFIX}", f"delete table {PREFIX}", *base_ruleset(node_ips)]
    for rendered in services.values():
        lines.extend(f"add chain {PREFIX} {chain}" for chain in rendered.chains)
        lines.extend(f"add set {PREFIX} {name} {{ {definition} }}"
                     for name, definition in rendered.sets.items())
    for rendered in services.values():
        for chain, rules in rendered.chains.items():
            lines.extend(f"add rule {PREFIX} {chain} {rule}" for rule in rules)
    _add_elements(lines, (item for r in services.values() for item in r.elements.items()))
    return "\n".join(lines) + "\n"


def partial_transaction(old: Mapping[str, Rendered], new: Mapping[str, Rendered],
                        node_ips: Sequence[str] | None) -> str:
    """Only the changes between the renderings of the services in `new` (those that
    changed; a deleted service maps to an empty `Rendered`). `node_ips`: new node
    addresses, or None when they did not change."""
    before, after = Rendered(), Rendered()
    for key, rendered in new.items():
        if key in old:
            before.merge(old[key])
        after.merge(rendered)
    change = diff(before, after)
    lines: list[str] = []
    for name, key in change.removed_elements:
        lines.append(f"delete element {PREFIX} {name} {{ {key} }}")
    lines.extend(f"add chain {PREFIX} {chain}" for chain in change.new_chains)
    lines.extend(f"flush chain {PREFIX} {chain}" for chain in change.changed_chains
                 if chain not in change.new_chains)
    lines.extend(f"flush chain {PREFIX} {chain}" for chain in change.removed_chains)
    lines.extend(f"delete chain {PREFIX} {chain}" for chain in change.removed_chains)
    lines.extend(f"delete set {PREFIX} {name}" for name in change.removed_sets)
    lines.extend(f"add set {PREFIX} {name} {{ {after.sets[name]} }}"
                 for name in change.new_sets)
    for chain in change.changed_chains:
        lines.extend(f"add rule {PREFIX} {chain} {rule}" for rule in after.chains[chain])
    _add_elements(lines, ((key, after.elements[key]) for key in change.added_elements))
    if node_ips is not None:
        lines.append(f"flush set {PREFIX} {NODEPORT_IPS}")
        if node_ips:
            lines.append(f"add element {PREFIX} {NODEPORT_IPS} {{ {', '.join(node_ips)} }}")
    return "\n".join(lines) + "\n" if lines else ""


class NftablesProxier:
    """Keeps the `kube-proxy` table in step with the tracker, one transaction a sync."""

    mode: ClassVar[str] = "nftables"

    def __init__(self, execute_: execute.Executor = execute.run, *, cluster_cidr: str = "",
                 masquerade_all: bool = False, nft: str = "nft") -> None:
        self._execute = execute_
        self._nft = nft
        self.cluster_cidr = cluster_cidr
        self.masquerade_all = masquerade_all
        self._programmed: dict[str, Rendered] = {}
        self._node_ips: tuple[str, ...] | None = None
        self.last_transaction = ""

    def render(self, tracker: ChangeTracker, key: str) -> Rendered:
        return render_service(tracker.services.get(key, ()), tracker,
                              cluster_cidr=self.cluster_cidr,
                              masquerade_all=self.masquerade_all)

    async def sync(self, tracker: ChangeTracker, dirty: set[str], node_ips: Sequence[str],
                   *, full: bool) -> None:
        """Program the services in `dirty` (every service when `full` or never synced);
        on failure the next sync must be full."""
        ips = tuple(sorted(node_ips))
        if full or self._node_ips is None:
            everything = {key: self.render(tracker, key) for key in tracker.services}
            text = full_transaction(everything, ips)
            self._node_ips = None  # unknown until the transaction succeeds
            await self._apply(text)
            self._programmed, self._node_ips = everything, ips
            return
        new = {key: self.render(tracker, key) for key in dirty}
        text = partial_transaction(self._programmed, new,
                                   ips if ips != self._node_ips else None)
        if text:
            self._node_ips = None
            await self._apply(text)
        for key, rendered in new.items():
            if key in tracker.services:
                self._programmed[key] = rendered
            else:
                self._programmed.pop(key, None)
        self._node_ips = ips

    async def _apply(self, text: str) -> None:
        self.last_transaction = text
        await execute.check(self._execute, [self._nft, "-f", "-"], text)

    async def cleanup(self) -> None:
        """Remove the table (kube-proxy --cleanup; and switching to the iptables mode)."""
        await execute.check(self._execute, [self._nft, "-f", "-"],
                            f"add table {PREFIX}\ndelete table {PREFIX}\n")
        self._programmed, self._node_ips = {}, None
