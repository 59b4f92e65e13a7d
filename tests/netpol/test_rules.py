"""Rule generation for each NetworkPolicy feature: which pods are isolated in which
direction, and the accept rules their chains get (peers, ports, union of policies)."""

from __future__ import annotations

import shutil
from typing import Any

import pytest

from kybernetes.netpol import rules
from kybernetes.netpol.rules import PREFIX, pod_chain, pod_of
from tests.kubelet import netns

pytestmark = pytest.mark.e2e

NODE = "node-a"
Obj = dict[str, Any]


def pod(ns: str, name: str, ip: str, labels: dict[str, str] | None = None, *,
        node: str = NODE, ports: tuple[tuple[str, int, str], ...] = (),
        **status: Any) -> Obj:
    return {"metadata": {"namespace": ns, "name": name, "labels": labels or {}},
            "spec": {"nodeName": node, "containers": [{"name": "c", "ports": [
                {"name": n, "containerPort": p, "protocol": proto} for n, p, proto in ports]}]},
            "status": {"podIP": ip, "phase": "Running", **status}}


def policy(ns: str, name: str, selector: Obj | None = None, **spec: Any) -> Obj:
    return {"metadata": {"namespace": ns, "name": name},
            "spec": {"podSelector": selector or {}, **spec}}


NAMESPACES = {"a": {"team": "a"}, "b": {"team": "b"}, "c": {}}
SERVER = pod("a", "server", "10.42.0.10", {"app": "server"}, ports=(("http", 8080, "TCP"),))
CLIENT = pod("a", "client", "10.42.0.11", {"access": "true"})
OTHER = pod("a", "other", "10.42.0.12", {"access": "false"})
REMOTE_B = pod("b", "remote", "10.42.1.20", {"access": "true"}, node="node-b")
REMOTE_C = pod("c", "remote", "10.42.1.21", {"access": "true"}, node="node-b")
PODS = [SERVER, CLIENT, OTHER, REMOTE_B, REMOTE_C]


def render(*policies: Obj, pods: list[Obj] | None = None) -> str:
    return rules.render(policies, PODS if pods is None else pods, NAMESPACES, NODE)


def chain(script: str, direction: str, obj: Obj) -> list[str] | None:
    """The rules of the pod's chain (without `add rule <table> <chain>`), None if absent."""
    p = pod_of(obj)
    assert p is not None
    name = pod_chain(direction, p)
    if f"add chain {PREFIX} {name}\n" not in script:
        return None
    head = f"add rule {PREFIX} {name} "
    return [line[len(head):] for line in script.splitlines() if line.startswith(head)]


def test_without_policies_nothing_is_isolated() -> None:
    script = render()
    assert "add element" not in script
    assert "ct state established,related accept" in script
    assert chain(script, "Ingress", SERVER) is None


def test_default_deny_ingress_isolates_the_local_pods_of_its_namespace() -> None:
    script = render(policy("a", "deny"))
    for local in (SERVER, CLIENT, OTHER):
        assert chain(script, "Ingress", local) == ["drop"]
        assert chain(script, "Egress", local) is None
    assert f"{SERVER['status']['podIP']} : jump ingress-" in script
    # Pods of other nodes are programmed there, pods of other namespaces are not selected.
    assert "10.42.1.20 :" not in script and "10.42.1.21 :" not in script


def test_pod_selector_peer_is_the_policy_namespace_only() -> None:
    allow = policy("a", "allow", {"matchLabels": {"app": "server"}}, ingress=[
        {"from": [{"podSelector": {"matchLabels": {"access": "true"}}}]}])
    script = render(allow)
    assert chain(script, "Ingress", SERVER) == [
        'ip saddr { 10.42.0.11 } accept comment "a/allow"', "drop"]
    assert chain(script, "Ingress", CLIENT) is None


def test_namespace_selector_alone_and_combined_with_a_pod_selector() -> None:
    alone = policy("a", "ns", {"matchLabels": {"app": "server"}}, ingress=[
        {"from": [{"namespaceSelector": {"matchLabels": {"team": "b"}}}]}])
    assert chain(render(alone), "Ingress", SERVER) == [
        'ip saddr { 10.42.1.20 } accept comment "a/ns"', "drop"]
    every_ns = policy("a", "all", {"matchLabels": {"app": "server"}}, ingress=[
        {"from": [{"namespaceSelector": {},
                   "podSelector": {"matchLabels": {"access": "true"}}}]}])
    assert chain(render(every_ns), "Ingress", SERVER) == [
        'ip saddr { 10.42.0.11, 10.42.1.20, 10.42.1.21 } accept comment "a/all"', "drop"]


def test_a_peer_matching_no_pod_allows_nothing() -> None:
    none = policy("a", "none", {"matchLabels": {"app": "server"}}, ingress=[
        {"from": [{"podSelector": {"matchLabels": {"nobody": "here"}}}]}])
    assert chain(render(none), "Ingress", SERVER) == ["drop"]


def test_ip_block_with_except() -> None:
    block = policy("a", "block", {"matchLabels": {"app": "server"}}, ingress=[
        {"from": [{"ipBlock": {"cidr": "192.168.0.0/16",
                               "except": ["192.168.1.0/24", "192.168.1.128/25",
                                          "192.168.2.0/24"]}}]}])
    assert chain(render(block), "Ingress", SERVER) == [
        "ip saddr 192.168.0.0/16 ip saddr != { 192.168.1.0/24, 192.168.2.0/24 } "
        'accept comment "a/block"', "drop"]


def test_ports_numbers_ranges_and_protocols() -> None:
    ports = policy("a", "ports", {"matchLabels": {"app": "server"}}, ingress=[
        {"ports": [{"protocol": "TCP", "port": 80},
                   {"protocol": "UDP", "port": 1000, "endPort": 2000},
                   {"protocol": "SCTP"}]}])
    assert chain(render(ports), "Ingress", SERVER) == [
        'meta l4proto tcp th dport 80 accept comment "a/ports"',
        'meta l4proto udp th dport 1000-2000 accept comment "a/ports"',
        'meta l4proto sctp accept comment "a/ports"', "drop"]


def test_peers_and_ports_combine() -> None:
    both = policy("a", "both", {"matchLabels": {"app": "server"}}, ingress=[
        {"from": [{"podSelector": {"matchLabels": {"access": "true"}}},
                  {"ipBlock": {"cidr": "192.0.2.0/24"}}],
         "ports": [{"protocol": "TCP", "port": 80}, {"protocol": "UDP", "port": 53}]}])
    assert chain(render(both), "Ingress", SERVER) == [
        'ip saddr { 10.42.0.11 } meta l4proto tcp th dport 80 accept comment "a/both"',
        'ip saddr { 10.42.0.11 } meta l4proto udp th dport 53 accept comment "a/both"',
        'ip saddr 192.0.2.0/24 meta l4proto tcp th dport 80 accept comment "a/both"',
        'ip saddr 192.0.2.0/24 meta l4proto udp th dport 53 accept comment "a/both"',
        "drop"]


def test_named_port_resolves_against_each_destination_pod() -> None:
    second = pod("a", "server2", "10.42.0.13", {"app": "server"}, ports=(("http", 9090, "TCP"),))
    named = policy("a", "named", {"matchLabels": {"app": "server"}}, ingress=[
        {"ports": [{"protocol": "TCP", "port": "http"}]}])
    script = render(named, pods=[*PODS, second])
    assert chain(script, "Ingress", SERVER) == [
        'meta l4proto tcp th dport { 8080 } accept comment "a/named"', "drop"]
    assert chain(script, "Ingress", second) == [
        'meta l4proto tcp th dport { 9090 } accept comment "a/named"', "drop"]
    # The name with another protocol, or a name no container has, matches nothing.
    udp = policy("a", "udp", {"matchLabels": {"app": "server"}}, ingress=[
        {"ports": [{"protocol": "UDP", "port": "http"}, {"protocol": "TCP", "port": "dns"}]}])
    assert chain(render(udp), "Ingress", SERVER) == ["drop"]


def test_egress_isolation_from_the_presence_of_egress_rules() -> None:
    egress = policy("a", "egress", {"matchLabels": {"access": "true"}}, egress=[
        {"to": [{"ipBlock": {"cidr": "10.42.0.10/32"}}]}])
    script = render(egress)
    assert chain(script, "Egress", CLIENT) == [
        'ip daddr 10.42.0.10/32 accept comment "a/egress"', "drop"]
    # policyTypes defaulted to Ingress and Egress: no ingress rules, ingress denied.
    assert chain(script, "Ingress", CLIENT) == ["drop"]
    egress_only = policy("a", "deny-egress", policyTypes=["Egress"])
    script = render(egress_only)
    assert chain(script, "Egress", OTHER) == ["drop"]
    assert chain(script, "Ingress", OTHER) is None
    assert "ip saddr vmap @egress-pods" in script


def test_egress_named_port_resolves_against_the_destination_pods() -> None:
    named = policy("a", "to-http", {"matchLabels": {"access": "true"}},
                   policyTypes=["Egress"], egress=[
                       {"to": [{"podSelector": {"matchLabels": {"app": "server"}}}],
                        "ports": [{"protocol": "TCP", "port": "http"}]}])
    assert chain(render(named), "Egress", CLIENT) == [
        "ip daddr { 10.42.0.10 } ip daddr . meta l4proto . th dport "
        '{ 10.42.0.10 . tcp . 8080 } accept comment "a/to-http"', "drop"]


def test_policies_selecting_a_pod_add_up() -> None:
    first = policy("a", "first", {"matchLabels": {"app": "server"}}, ingress=[
        {"from": [{"podSelector": {"matchLabels": {"access": "true"}}}]}])
    everyone = policy("a", "second", ingress=[{}])
    script = render(first, everyone, policy("a", "deny"))
    assert chain(script, "Ingress", SERVER) == [
        'ip saddr { 10.42.0.11 } accept comment "a/first"',
        'accept comment "a/second"', "drop"]
    assert chain(script, "Ingress", OTHER) == ['accept comment "a/second"', "drop"]


def test_pods_without_an_address_of_their_own_are_left_out() -> None:
    host = pod("a", "host", "198.51.100.7")
    host["spec"]["hostNetwork"] = True
    done = pod("a", "done", "10.42.0.30", phase="Succeeded")
    pending = pod("a", "pending", "")
    assert pod_of(host) is None and pod_of(done) is None and pod_of(pending) is None
    script = render(policy("a", "deny"), pods=[host, done, pending])
    assert "add element" not in script


@pytest.mark.skipif(bool(netns.available()) or shutil.which("nft") is None,
                    reason="needs root, iproute2 and nft")
def test_the_rendered_table_loads_and_an_empty_one_replaces_it() -> None:
    everything = [
        policy("a", "deny"),
        policy("a", "allow", {"matchLabels": {"app": "server"}}, ingress=[
            {"from": [{"podSelector": {"matchLabels": {"access": "true"}}},
                      {"namespaceSelector": {"matchLabels": {"team": "b"}}},
                      {"ipBlock": {"cidr": "192.168.0.0/16", "except": ["192.168.1.0/24"]}}],
             "ports": [{"protocol": "TCP", "port": "http"},
                       {"protocol": "UDP", "port": 1000, "endPort": 2000},
                       {"protocol": "SCTP"}]}]),
        policy("a", "egress", {"matchLabels": {"access": "true"}}, policyTypes=["Egress"],
               egress=[{"to": [{"namespaceSelector": {}}],
                        "ports": [{"protocol": "TCP", "port": "http"}]}])]
    with netns.netns("kyb-netpol-rules") as ns:
        ns.run("nft", "-f", "-", input=render(*everything))
        loaded = ns.run("nft", "list", "table", PREFIX).stdout
        assert "10.42.0.10 : jump ingress-" in loaded
        assert 'comment "a/allow"' in loaded
        ns.run("nft", "-f", "-", input=render())
        loaded = ns.run("nft", "list", "table", PREFIX).stdout
        assert "10.42.0." not in loaded and "jump ingress-" not in loaded
