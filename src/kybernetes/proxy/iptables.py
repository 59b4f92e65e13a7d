"""The iptables backend: upstream's pkg/proxy/iptables/proxier.go.

nat: `KUBE-SERVICES` (from PREROUTING and OUTPUT) matches each cluster IP, external IP and
load-balancer IP and ends with a jump to `KUBE-NODEPORTS` for local destinations; a
service port has a `KUBE-SVC-*` chain (cluster policy: masquerade off-cluster sources,
then one `statistic --mode random` rule per endpoint), `KUBE-SVL-*` (Local policy) and
`KUBE-EXT-*` (external traffic) as needed; each endpoint a `KUBE-SEP-*` chain that DNATs.
`KUBE-MARK-MASQ` marks 0x4000, `KUBE-POSTROUTING` masquerades marked packets. filter:
`KUBE-SERVICES` and `KUBE-EXTERNAL-SERVICES` reject traffic to services without endpoints,
`KUBE-FORWARD` accepts marked and established forwarded traffic. `sessionAffinity:
ClientIP` uses the `recent` match with the affinity timeout.

A sync is one `iptables-restore --noflush`: the shared chains are always rewritten (as
upstream does), service chains only when they changed (all of them on the first sync,
which also deletes stale `KUBE-*` service chains `iptables-save` shows).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from kybernetes.proxy import execute
from kybernetes.proxy.changes import ChangeTracker, Endpoint, ServicePort
from kybernetes.proxy.rendered import Rendered, diff, hash16
from kybernetes.proxy.topology import categorize

MASQ_MARK = "0x4000"
SERVICE_CHAIN_PREFIXES = ("KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-SEP-", "KUBE-FW-")
NAT_SHARED = ("KUBE-SERVICES", "KUBE-NODEPORTS")
FILTER_SHARED = ("KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES")

_NAT_BASE: dict[str, tuple[str, ...]] = {
    "KUBE-POSTROUTING": (
        f"-m mark ! --mark {MASQ_MARK}/{MASQ_MARK} -j RETURN",
        f"-j MARK --xor-mark {MASQ_MARK}",
        '-m comment --comment "kubernetes service traffic requiring SNAT" '
        "-j MASQUERADE --random-fully"),
    "KUBE-MARK-MASQ": (f"-j MARK --or-mark {MASQ_MARK}",),
}
_FILTER_BASE: dict[str, tuple[str, ...]] = {
    "KUBE-FORWARD": (
        f'-m comment --comment "kubernetes forwarding rules" -m mark --mark '
        f"{MASQ_MARK}/{MASQ_MARK} -j ACCEPT",
        '-m comment --comment "kubernetes forwarding conntrack rule" -m conntrack '
        "--ctstate RELATED,ESTABLISHED -j ACCEPT"),
}
_NODEPORTS_JUMP = ('-m comment --comment "kubernetes service nodeports; NOTE: this must be '
                   'the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS')
# (table, built-in chain, rule): the jumps into our chains, kept by `iptables -C/-I`.
JUMPS = (
    ("filter", "INPUT", "-m conntrack --ctstate NEW -m comment --comment "
     "kubernetes externally-visible service portals -j KUBE-EXTERNAL-SERVICES"),
    ("filter", "FORWARD", "-m conntrack --ctstate NEW -m comment --comment "
     "kubernetes externally-visible service portals -j KUBE-EXTERNAL-SERVICES"),
    ("filter", "FORWARD", "-m comment --comment kubernetes forwarding rules -j KUBE-FORWARD"),
    ("filter", "OUTPUT", "-m conntrack --ctstate NEW -m comment --comment "
     "kubernetes service portals -j KUBE-SERVICES"),
    ("filter", "FORWARD", "-m conntrack --ctstate NEW -m comment --comment "
     "kubernetes service portals -j KUBE-SERVICES"),
    ("nat", "OUTPUT", "-m comment --comment kubernetes service portals -j KUBE-SERVICES"),
    ("nat", "PREROUTING", "-m comment --comment kubernetes service portals -j KUBE-SERVICES"),
    ("nat", "POSTROUTING", "-m comment --comment kubernetes postrouting rules "
     "-j KUBE-POSTROUTING"),
)


def _hash(port: ServicePort, endpoint: Endpoint | None = None) -> str:
    return hash16(str(port.name) + port.protocol + (endpoint.address if endpoint else ""))


@dataclass
class IptRendered:
    """A service's own nat chains, and its lines in the shared chains ("table/chain")."""
    chains: dict[str, tuple[str, ...]] = field(default_factory=dict)
    shared: dict[str, list[str]] = field(default_factory=dict)

    def add_shared(self, table: str, chain: str, rule: str) -> None:
        self.shared.setdefault(f"{table}/{chain}", []).append(rule)

    def merge(self, other: IptRendered) -> None:
        self.chains.update(other.chains)
        for key, rules in other.shared.items():
            self.shared.setdefault(key, []).extend(rules)


def _comment(text: str) -> str:
    return f'-m comment --comment "{text}"' if " " in text else f"-m comment --comment {text}"


def _endpoint_rules(port: ServicePort, chain: str, endpoints: Sequence[Endpoint],
                    out: IptRendered, first: Sequence[str] = ()) -> None:
    name, proto = str(port.name), port.protocol
    rules = list(first)
    seps = [(endpoint, f"KUBE-SEP-{_hash(port, endpoint)}") for endpoint in endpoints]
    if port.affinity_seconds:
        for endpoint, sep in seps:
            rules.append(f"{_comment(f'{name} -> {endpoint.address}')} -m recent --name {sep} "
                         f"--rcheck --seconds {port.affinity_seconds} --reap -j {sep}")
    for index, (endpoint, sep) in enumerate(seps):
        left = len(seps) - index
        statistic = f" -m statistic --mode random --probability {1 / left:.10f}" \
            if left > 1 else ""
        rules.append(f"{_comment(f'{name} -> {endpoint.address}')}{statistic} -j {sep}")
        recent = f" -m recent --name {sep} --set" if port.affinity_seconds else ""
        out.chains[sep] = (
            f"{_comment(name)} -s {endpoint.ip} -j KUBE-MARK-MASQ",
            f"{_comment(name)}{recent} -m {proto} -p {proto} -j DNAT "
            f"--to-destination {endpoint.address}")
    out.chains[chain] = tuple(rules)


def render_port(port: ServicePort, endpoints: Sequence[Endpoint], *, cluster_cidr: str = "",
                masquerade_all: bool = False) -> IptRendered:
    out = IptRendered()
    name, proto, vip = str(port.name), port.protocol, port.cluster_ip
    svc_hash = _hash(port)
    cluster_chain, local_chain = f"KUBE-SVC-{svc_hash}", f"KUBE-SVL-{svc_hash}"
    external_chain = f"KUBE-EXT-{svc_hash}"
    found = categorize(port, endpoints)
    uses_cluster = bool(found.cluster) and port.uses_cluster_endpoints
    uses_local = bool(found.local) and port.uses_local_endpoints
    has_endpoints = found.has_any
    internal_chain, has_internal = cluster_chain, has_endpoints
    if port.internal_local:
        internal_chain, has_internal = local_chain, bool(found.local)
    external_policy_chain, has_external = cluster_chain, has_endpoints
    if port.external_policy_local:
        external_policy_chain, has_external = local_chain, bool(found.local)
    uses_external = has_endpoints and port.externally_accessible
    match = f"-m {proto} -p {proto}"

    masquerade: list[str] = []
    if has_internal:
        out.add_shared("nat", "KUBE-SERVICES", f'{_comment(f"{name} cluster IP")} {match} '
                       f"-d {vip} --dport {port.port} -j {internal_chain}")
        source = "" if masquerade_all else f" ! -s {cluster_cidr}" if cluster_cidr else None
        if source is not None:
            masquerade.append(f'{_comment(f"{name} cluster IP")} {match} -d {vip} '
                              f"--dport {port.port}{source} -j KUBE-MARK-MASQ")
    else:
        verdict = "REJECT" if not has_endpoints else "DROP"
        text = "has no endpoints" if not has_endpoints else "has no local endpoints"
        out.add_shared("filter", "KUBE-SERVICES", f'{_comment(f"{name} {text}")} {match} '
                       f"-d {vip} --dport {port.port} -j {verdict}")
    external_verdict = "" if has_external else "REJECT" if not has_endpoints else "DROP"
    external_text = "has no endpoints" if not has_endpoints else "has no local endpoints"
    for kind, ips in (("external IP", port.external_ips),
                      ("loadbalancer IP", port.load_balancer_ips)):
        for ip in ips:
            if uses_external:
                out.add_shared("nat", "KUBE-SERVICES", f'{_comment(f"{name} {kind}")} '
                               f"{match} -d {ip} --dport {port.port} -j {external_chain}")
            if external_verdict:
                out.add_shared("filter", "KUBE-EXTERNAL-SERVICES",
                               f'{_comment(f"{name} {external_text}")} {match} -d {ip} '
                               f"--dport {port.port} -j {external_verdict}")
    if port.node_port:
        if uses_external:
            out.add_shared("nat", "KUBE-NODEPORTS", f"{_comment(name)} {match} "
                           f"--dport {port.node_port} -j {external_chain}")
        if external_verdict:
            out.add_shared("filter", "KUBE-EXTERNAL-SERVICES",
                           f'{_comment(f"{name} {external_text}")} -m addrtype --dst-type '
                           f"LOCAL {match} --dport {port.node_port} -j {external_verdict}")
    if uses_external:
        rules = []
        if not port.external_policy_local:
            rules.append(f'{_comment(f"masquerade traffic for {name} external destinations")}'
                         " -j KUBE-MARK-MASQ")
        elif uses_cluster:
            if cluster_cidr:
                rules.append(f"-s {cluster_cidr} "
                             f'{_comment(f"pod traffic for {name} external destinations")}'
                             f" -j {cluster_chain}")
            rules.append(_comment(f"masquerade LOCAL traffic for {name} external "
                                  "destinations") + " -m addrtype --src-type LOCAL "
                         "-j KUBE-MARK-MASQ")
            rules.append(_comment(f"route LOCAL traffic for {name} external destinations")
                         + f" -m addrtype --src-type LOCAL -j {cluster_chain}")
        if has_external:
            rules.append(f"-j {external_policy_chain}")
        out.chains[external_chain] = tuple(rules)
    if uses_cluster:
        _endpoint_rules(port, cluster_chain, found.cluster, out,
                        masquerade if internal_chain == cluster_chain else ())
    if uses_local:
        _endpoint_rules(port, local_chain, found.local, out,
                        masquerade if internal_chain == local_chain else ())
    return out


def render_service(ports: Iterable[ServicePort], tracker: ChangeTracker, *,
                   cluster_cidr: str = "", masquerade_all: bool = False) -> IptRendered:
    out = IptRendered()
    for port in ports:
        out.merge(render_port(port, tracker.endpoints(port), cluster_cidr=cluster_cidr,
                              masquerade_all=masquerade_all))
    return out


def restore_input(services: Mapping[str, IptRendered], changed: Iterable[str],
                  removed: Iterable[str]) -> str:
    """The `iptables-restore --noflush` input: shared and base chains rewritten, the
    service chains in `changed` declared (flushed) and filled, those in `removed` deleted."""
    chains: dict[str, tuple[str, ...]] = {}
    shared: dict[str, list[str]] = {}
    for rendered in services.values():
        chains.update(rendered.chains)
        for key, rules in rendered.shared.items():
            shared.setdefault(key, []).extend(rules)
    changed, removed = list(changed), list(removed)
    nat_chains = [*NAT_SHARED, *_NAT_BASE, *changed, *removed]
    lines = ["*filter"]
    lines += [f":{chain} - [0:0]" for chain in (*FILTER_SHARED, *_FILTER_BASE)]
    for chain in FILTER_SHARED:
        lines += [f"-A {chain} {rule}" for rule in shared.get(f"filter/{chain}", ())]
    for chain, base in _FILTER_BASE.items():
        lines += [f"-A {chain} {rule}" for rule in base]
    lines += ["COMMIT", "*nat"]
    lines += [f":{chain} - [0:0]" for chain in nat_chains]
    lines += [f"-X {chain}" for chain in removed]
    for chain in NAT_SHARED:
        lines += [f"-A {chain} {rule}" for rule in shared.get(f"nat/{chain}", ())]
    lines.append(f"-A KUBE-SERVICES {_NODEPORTS_JUMP}")
    for chain, base in _NAT_BASE.items():
        lines += [f"-A {chain} {rule}" for rule in base]
    for chain in changed:
        lines += [f"-A {chain} {rule}" for rule in chains[chain]]
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


class IptablesProxier:
    """Keeps the `KUBE-*` chains in step with the tracker, one restore a sync."""

    mode: ClassVar[str] = "iptables"

    def __init__(self, execute_: execute.Executor = execute.run, *, cluster_cidr: str = "",
                 masquerade_all: bool = False, iptables: str = "iptables") -> None:
        self._execute = execute_
        self._iptables = iptables
        self.cluster_cidr = cluster_cidr
        self.masquerade_all = masquerade_all
        self._programmed: dict[str, IptRendered] = {}
        self._synced = False
        self.last_transaction = ""

    def render(self, tracker: ChangeTracker, key: str) -> IptRendered:
        return render_service(tracker.services.get(key, ()), tracker,
                              cluster_cidr=self.cluster_cidr,
                              masquerade_all=self.masquerade_all)

    async def sync(self, tracker: ChangeTracker, dirty: set[str], node_ips: Sequence[str],
                   *, full: bool) -> None:
        """Program the services in `dirty` (all of them when `full` or never synced)."""
        del node_ips  # NodePorts answer on every local address (addrtype LOCAL)
        if full or not self._synced:
            self._synced = False
            rendered = {key: self.render(tracker, key) for key in tracker.services}
            wanted = {chain for r in rendered.values() for chain in r.chains}
            stale = [chain for chain in await self._service_chains() if chain not in wanted]
            await self._restore(restore_input(rendered, sorted(wanted), stale))
            await self._ensure_jumps()
            self._programmed, self._synced = rendered, True
            return
        if not dirty:
            return  # the hourly full sync repairs what others may have changed
        programmed = dict(self._programmed)
        before, after = Rendered(), Rendered()
        for key in dirty:
            if key in programmed:
                before.chains.update(programmed[key].chains)
            if key in tracker.services:
                programmed[key] = self.render(tracker, key)
                after.chains.update(programmed[key].chains)
            else:
                programmed.pop(key, None)
        change = diff(before, after)
        self._synced = False
        await self._restore(restore_input(programmed, change.changed_chains,
                                          change.removed_chains))
        self._programmed, self._synced = programmed, True

    async def _restore(self, text: str) -> None:
        self.last_transaction = text
        await execute.check(self._execute, [f"{self._iptables}-restore", "-w", "--noflush"],
                            text)

    async def _service_chains(self) -> list[str]:
        out = await execute.check(self._execute, [f"{self._iptables}-save", "-t", "nat"])
        return [line[1:].split()[0] for line in out.splitlines()
                if line.startswith(":") and line[1:].startswith(SERVICE_CHAIN_PREFIXES)]

    async def _ensure_jumps(self) -> None:
        """The jumps from the built-in chains into ours (which exist by now)."""
        for table, chain, rule in JUMPS:
            args = _split_rule(rule)
            done = await self._execute([self._iptables, "-w", "-t", table, "-C", chain,
                                        *args], None)
            if done.returncode != 0:
                await execute.check(self._execute, [self._iptables, "-w", "-t", table, "-I",
                                                    chain, *args])

    async def cleanup(self) -> None:
        """Remove every rule and chain of this mode (kube-proxy --cleanup); nothing is
        written when there is none (iptables-restore would make empty tables)."""
        saved = await execute.check(self._execute, [f"{self._iptables}-save"])
        if ":KUBE-" not in saved:
            return
        for table, chain, rule in JUMPS:
            await self._execute([self._iptables, "-w", "-t", table, "-D", chain,
                                 *_split_rule(rule)], None)
        nat = [*NAT_SHARED, *_NAT_BASE, *await self._service_chains()]
        lines = ["*filter", *(f":{c} - [0:0]" for c in (*FILTER_SHARED, *_FILTER_BASE)),
                 *(f"-X {c}" for c in (*FILTER_SHARED, *_FILTER_BASE)), "COMMIT", "*nat",
                 *(f":{c} - [0:0]" for c in nat), *(f"-X {c}" for c in nat), "COMMIT"]
        await self._restore("\n".join(lines) + "\n")
        self._programmed, self._synced = {}, False


def _split_rule(rule: str) -> list[str]:
    """A JUMPS rule as arguments: the comment (everything after --comment up to -j) is one."""
    head, _, rest = rule.partition("--comment ")
    if not rest:
        return head.split()
    comment, _, target = rest.rpartition(" -j ")
    return [*head.split(), "--comment", comment, "-j", target]
