"""NetworkPolicies, Pods and Namespaces in; the `ip kube-network-policies` table out.

The semantics are upstream's (networking.k8s.io/v1 and its e2e `test/e2e/network/netpol`);
the table design follows sig-network's kube-network-policies (one table of the policy
controller's own, beside kube-proxy's) with the policies compiled into rules instead of
judged in userspace:

- base chains `egress-forward` and `egress-input` (filter, priority 0) judge what this
  node's pods send, `ingress-forward` (filter, priority 10) what they receive. The forward
  hook runs after prerouting's DNAT, so service traffic is judged on the real destination
  pod; bridged pod-to-pod traffic passes it too (br_netfilter). Traffic the node itself
  sends (kubelet probes) takes the output hook, which is not filtered;
- each base chain accepts replies (`ct state established,related`), then looks the pod's
  address up in the verdict map `egress-pods` or `ingress-pods`: only pods that some policy
  isolates in that direction have an element, jumping to the pod's chain;
- a pod's chain holds one `accept` rule per (peer, port) of every rule of every policy
  selecting it (their union), then `drop`. Named ports resolve against the destination
  pod's container ports: the pod itself for ingress, each possible peer pod for egress.

Each render is the whole table, loaded in one `nft -f -` transaction that replaces it, so
policies added or removed judge new connections at once while established ones continue
(as kube-router).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kybernetes.api.selectors import LabelSelector, label_selector_from_dict

log = logging.getLogger(__name__)

TABLE = "kube-network-policies"
FAMILY = "ip"
PREFIX = f"{FAMILY} {TABLE}"
INGRESS_PODS = "ingress-pods"
EGRESS_PODS = "egress-pods"
INGRESS, EGRESS = "Ingress", "Egress"
_ESTABLISHED = "ct state established,related accept"
# (chain, hook, the map of isolated pods it consults, the address it looks up)
BASE_CHAINS = (
    ("egress-forward", "type filter hook forward priority 0 ;", EGRESS_PODS, "saddr"),
    ("egress-input", "type filter hook input priority 0 ;", EGRESS_PODS, "saddr"),
    ("ingress-forward", "type filter hook forward priority 10 ;", INGRESS_PODS, "daddr"),
)
_PROTOCOLS = {"TCP": "tcp", "UDP": "udp", "SCTP": "sctp"}
Obj = dict[str, Any]


@dataclass(frozen=True)
class Pod:
    namespace: str
    name: str
    ip: str
    node: str
    labels: Mapping[str, str]
    # (name, protocol, number) of its containers' ports
    ports: tuple[tuple[str, str, int], ...]

    def named_port(self, name: str, protocol: str) -> list[int]:
        return [number for port_name, proto, number in self.ports
                if port_name == name and proto == protocol]


def pod_of(obj: Obj) -> Pod | None:
    """The pod as policies see it: one with an IPv4 pod address of its own (not on the
    host network) that has not finished; None otherwise."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    ip = status.get("podIP") or ""
    if not ip or spec.get("hostNetwork") or status.get("phase") in ("Succeeded", "Failed"):
        return None
    try:
        if ipaddress.ip_address(ip).version != 4:
            return None
    except ValueError:
        return None
    ports = tuple((port.get("name") or "", port.get("protocol") or "TCP",
                   int(port["containerPort"]))
                  for container in spec.get("containers") or []
                  for port in container.get("ports") or [] if port.get("containerPort"))
    meta = obj["metadata"]
    return Pod(meta.get("namespace", ""), meta["name"], ip, spec.get("nodeName") or "",
               dict(meta.get("labels") or {}), ports)


def policy_types(policy: Obj) -> set[str]:
    """spec.policyTypes, defaulted as upstream: Ingress, and Egress when egress rules exist."""
    spec = policy.get("spec") or {}
    types = spec.get("policyTypes")
    if types:
        return set(types)
    return {INGRESS, EGRESS} if spec.get("egress") else {INGRESS}


def _selector(raw: Mapping[str, Any] | None) -> LabelSelector:
    try:
        return label_selector_from_dict(raw)
    except ValueError as err:
        log.warning("ignoring an invalid selector %s: %s", raw, err)
        return LabelSelector.nothing()


def _hash(text: str) -> str:
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:16].lower()


def pod_chain(direction: str, pod: Pod) -> str:
    return f"{direction.lower()}-{_hash(f'{pod.namespace}/{pod.name}')}"


def _ip_set(addresses: Iterable[str]) -> str:
    return "{ " + ", ".join(addresses) + " }"


class _Cluster:
    """The pods and namespaces peers are chosen from."""

    def __init__(self, pods: Sequence[Pod], namespaces: Mapping[str, Mapping[str, str]]):
        self.pods = pods
        self.namespaces = namespaces

    def peer_pods(self, policy_ns: str, peer: Obj) -> list[Pod]:
        pod_selector = _selector(peer["podSelector"]) if peer.get("podSelector") is not None \
            else LabelSelector.everything()
        if peer.get("namespaceSelector") is not None:
            ns_selector = _selector(peer["namespaceSelector"])
            in_namespace = {ns for ns, labels in self.namespaces.items()
                            if ns_selector.matches(labels)}
        else:
            in_namespace = {policy_ns}
        return [pod for pod in self.pods
                if pod.namespace in in_namespace and pod_selector.matches(pod.labels)]


def _peer_match(cluster: _Cluster, policy_ns: str, peer: Obj, addr: str) -> str | None:
    """The match of one from/to peer on `ip <addr>`; None when it matches nothing."""
    block = peer.get("ipBlock")
    if block is not None:
        try:
            cidr = ipaddress.ip_network(block.get("cidr", ""), strict=False)
            excepts = [ipaddress.ip_network(e, strict=False) for e in block.get("except") or []]
        except ValueError:
            return None
        if not isinstance(cidr, ipaddress.IPv4Network):
            return None
        match = f"ip {addr} {cidr}"
        excluded = list(ipaddress.collapse_addresses(
            e for e in excepts if isinstance(e, ipaddress.IPv4Network)))
        if excluded:
            match += f" ip {addr} != {_ip_set(map(str, excluded))}"
        return match
    ips = sorted({pod.ip for pod in cluster.peer_pods(policy_ns, peer)},
                 key=ipaddress.IPv4Address)
    return f"ip {addr} {_ip_set(ips)}" if ips else None


def _port_match(port: Obj, destination: Pod | None, candidates: Sequence[Pod]) -> str | None:
    """The match of one NetworkPolicyPort; None when it matches nothing. A named port
    resolves against `destination` (ingress: the pod itself), else against each of the
    `candidates` (egress: every pod the traffic may go to)."""
    protocol = port.get("protocol") or "TCP"
    proto = _PROTOCOLS.get(protocol)
    if proto is None:
        return None
    number = port.get("port")
    if number is None:
        return f"meta l4proto {proto}"
    if isinstance(number, int):
        end = port.get("endPort")
        return f"meta l4proto {proto} th dport {number}" + (f"-{end}" if end else "")
    if destination is not None:
        numbers = sorted(set(destination.named_port(number, protocol)))
        return f"meta l4proto {proto} th dport {_ip_set(map(str, numbers))}" \
            if numbers else None
    resolved = sorted({(pod.ip, n) for pod in candidates
                       for n in pod.named_port(number, protocol)},
                      key=lambda e: (ipaddress.IPv4Address(e[0]), e[1]))
    if not resolved:
        return None
    return (f"ip daddr . meta l4proto . th dport "
            f"{_ip_set(f'{ip} . {proto} . {n}' for ip, n in resolved)}")


def _rule_matches(cluster: _Cluster, policy_ns: str, rule: Obj, direction: str,
                  pod: Pod) -> list[str]:
    """The accept matches of one ingress or egress rule for `pod`: each peer with each port."""
    addr, peers_key = ("saddr", "from") if direction == INGRESS else ("daddr", "to")
    peers = rule.get(peers_key) or []
    peer_matches: list[str] = [""] if not peers else [
        m for m in (_peer_match(cluster, policy_ns, p, addr) for p in peers) if m is not None]
    ports = rule.get("ports") or []
    destination = pod if direction == INGRESS else None
    port_matches: list[str] = [""] if not ports else [
        m for m in (_port_match(p, destination, cluster.pods) for p in ports) if m is not None]
    return [" ".join(part for part in (peer, port) if part)
            for peer in peer_matches for port in port_matches]


@dataclass(frozen=True)
class Policy:
    namespace: str
    name: str
    selector: LabelSelector
    types: frozenset[str]
    spec: Obj

    def selects(self, pod: Pod) -> bool:
        return pod.namespace == self.namespace and self.selector.matches(pod.labels)


def policy_of(obj: Obj) -> Policy:
    spec = obj.get("spec") or {}
    meta = obj["metadata"]
    return Policy(meta.get("namespace", ""), meta["name"],
                  _selector(spec.get("podSelector") or {}), frozenset(policy_types(obj)), spec)


def render(policies: Iterable[Obj], pods: Iterable[Obj],
           namespaces: Mapping[str, Mapping[str, str]], node_name: str) -> str:
    """The `nft -f` script that replaces the table with the rules for `node_name`'s pods."""
    compiled = sorted((policy_of(p) for p in policies), key=lambda p: (p.namespace, p.name))
    all_pods: list[Pod] = []
    seen_ips: set[str] = set()
    for obj in sorted(pods, key=lambda o: (o["metadata"].get("namespace", ""),
                                           o["metadata"]["name"])):
        pod = pod_of(obj)
        if pod is not None and pod.ip not in seen_ips:
            seen_ips.add(pod.ip)
            all_pods.append(pod)
    cluster = _Cluster(all_pods, namespaces)
    lines = [f"add table {PREFIX}", f"delete table {PREFIX}", f"add table {PREFIX}",
             f"add map {PREFIX} {INGRESS_PODS} {{ type ipv4_addr : verdict ; }}",
             f"add map {PREFIX} {EGRESS_PODS} {{ type ipv4_addr : verdict ; }}"]
    for chain, hook, pod_map, addr in BASE_CHAINS:
        lines += [f"add chain {PREFIX} {chain} {{ {hook} }}",
                  f"add rule {PREFIX} {chain} {_ESTABLISHED}",
                  f"add rule {PREFIX} {chain} ip {addr} vmap @{pod_map}"]
    elements: list[str] = []
    for pod in all_pods:
        if pod.node != node_name:
            continue
        for direction, pod_map in ((INGRESS, INGRESS_PODS), (EGRESS, EGRESS_PODS)):
            selecting = [p for p in compiled if direction in p.types and p.selects(pod)]
            if not selecting:
                continue
            chain = pod_chain(direction, pod)
            lines.append(f"add chain {PREFIX} {chain}")
            for policy in selecting:
                comment = f'comment "{policy.namespace}/{policy.name}"'
                for rule in policy.spec.get(direction.lower()) or []:
                    for match in _rule_matches(cluster, policy.namespace, rule, direction,
                                               pod):
                        lines.append(f"add rule {PREFIX} {chain} "
                                     f"{match + ' ' if match else ''}accept {comment}")
            lines.append(f"add rule {PREFIX} {chain} drop")
            elements.append(f"add element {PREFIX} {pod_map} {{ {pod.ip} : jump {chain} }}")
    return "\n".join(lines + elements) + "\n"
