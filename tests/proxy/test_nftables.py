"""The nftables backend: the rules of a service as upstream's proxier writes them
(pkg/proxy/nftables/proxier_test.go's names and rules), and transactions that carry only
what changed."""

from __future__ import annotations

import shutil

import pytest

from kybernetes.proxy.changes import ChangeTracker, Endpoint, ServicePort, ServicePortName
from kybernetes.proxy.nftables import NftablesProxier, render_port
from tests.kubelet import netns
from tests.proxy.fixtures import endpoint, endpoint_slice, service
from tests.proxy.recorder import InNamespace, Recorder

pytestmark = pytest.mark.e2e

SVC1 = "service-ULMVA6XW-ns1/svc1/tcp/p80"
EP1 = "endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80"
CIDR = "10.0.0.0/8"


def port(**fields: object) -> ServicePort:
    base: dict[str, object] = {"name": ServicePortName("ns1", "svc1", "p80"),
                               "protocol": "tcp", "cluster_ip": "172.30.0.41", "port": 80}
    return ServicePort(**{**base, **fields})  # type: ignore[arg-type]


def test_cluster_ip_as_upstream() -> None:
    out = render_port(port(), [Endpoint("10.180.0.1", 80)], cluster_cidr=CIDR)
    assert out.chains == {
        SVC1: ("ip daddr 172.30.0.41 tcp dport 80 ip saddr != 10.0.0.0/8 jump "
               "mark-for-masquerade", f"goto {EP1}"),
        EP1: ("ip saddr 10.180.0.1 jump mark-for-masquerade",
              "meta l4proto tcp dnat to 10.180.0.1:80")}
    assert out.elements == {("cluster-ips", "172.30.0.41"): "",
                            ("service-ips", "172.30.0.41 . tcp . 80"): f"goto {SVC1}"}


def test_endpoints_picked_uniformly() -> None:
    out = render_port(port(), [Endpoint(f"10.180.0.{i}", 80) for i in (1, 2, 3)])
    rules = out.chains[SVC1]
    assert [rule.split("goto ")[0] for rule in rules] == [
        "numgen random mod 3 == 0 ", "numgen random mod 2 == 0 ", ""]
    assert len(out.chains) == 4


def test_node_port_goes_through_the_external_chain() -> None:
    out = render_port(port(node_port=3001), [Endpoint("10.180.0.1", 80)])
    external = "external-ULMVA6XW-ns1/svc1/tcp/p80"
    assert out.chains[external] == ("jump mark-for-masquerade", f"goto {SVC1}")
    assert out.elements[("service-nodeports", "tcp . 3001")] == f"goto {external}"


def test_external_traffic_policy_local() -> None:
    out = render_port(port(node_port=3001, external_local=True),
                      [Endpoint("10.180.0.1", 80, local=True), Endpoint("10.180.0.2", 80)],
                      cluster_cidr=CIDR)
    external, local = (f"{kind}-ULMVA6XW-ns1/svc1/tcp/p80" for kind in ("external", "local"))
    assert out.chains[external] == (
        f'ip saddr {CIDR} goto {SVC1} comment "short-circuit pod traffic"',
        'fib saddr type local jump mark-for-masquerade comment "masquerade local traffic"',
        f'fib saddr type local goto {SVC1} comment "short-circuit local traffic"',
        f"goto {local}")
    assert out.chains[local] == (f"goto {EP1}",)
    assert len([rule for rule in out.chains[SVC1] if "goto endpoint-" in rule]) == 2


def test_no_endpoints_rejected_and_no_local_endpoints_dropped() -> None:
    out = render_port(port(node_port=3001, external_ips=("192.168.99.11",)), [])
    assert out.chains == {}
    assert out.elements == {
        ("cluster-ips", "172.30.0.41"): "",
        ("no-endpoint-services", "172.30.0.41 . tcp . 80"): "goto reject-chain",
        ("no-endpoint-services", "192.168.99.11 . tcp . 80"): "goto reject-chain",
        ("no-endpoint-nodeports", "tcp . 3001"): "goto reject-chain"}
    out = render_port(port(internal_local=True), [Endpoint("10.180.0.1", 80)])
    assert out.elements[("no-endpoint-services", "172.30.0.41 . tcp . 80")] == "drop"
    assert ("service-ips", "172.30.0.41 . tcp . 80") not in out.elements


def test_session_affinity_sets_with_the_timeout() -> None:
    out = render_port(port(affinity_seconds=10800), [Endpoint("10.180.0.1", 80)])
    affinity = "affinity-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80"
    assert out.sets == {affinity: "type ipv4_addr ; flags dynamic,timeout ; timeout 10800s ;"}
    assert out.chains[SVC1] == (f"ip saddr @{affinity} goto {EP1}", f"goto {EP1}")
    assert f"update @{affinity} {{ ip saddr }}" in out.chains[EP1]


def _cluster(services: int) -> ChangeTracker:
    tracker = ChangeTracker("node-a")
    for i in range(services):
        tracker.update_service(service("ns", f"svc{i}", f"10.43.0.{i + 1}", node_port=30000 + i))
        tracker.update_slice(endpoint_slice("ns", f"svc{i}", [
            endpoint(f"10.42.{i}.1"), endpoint(f"10.42.{i}.2")]))
    return tracker


async def test_one_endpoint_change_is_a_small_transaction() -> None:
    tracker = _cluster(100)
    recorder = Recorder()
    proxier = NftablesProxier(recorder, cluster_cidr="10.42.0.0/16")
    await proxier.sync(tracker, tracker.take_dirty(), ["192.0.2.10"], full=True)
    full = recorder.inputs("nft")[-1]
    assert full.startswith("add table ip kube-proxy\ndelete table ip kube-proxy\n")
    assert full.count("\nadd chain ip kube-proxy endpoint-") == 200
    tracker.update_slice(endpoint_slice("ns", "svc7", [endpoint("10.42.7.1"),
                                                        endpoint("10.42.7.3")]))
    await proxier.sync(tracker, tracker.take_dirty(), ["192.0.2.10"], full=False)
    lines = recorder.inputs("nft")[-1].splitlines()
    gone, new = "__10.42.7.2/80", "__10.42.7.3/80"
    assert all("ns/svc7/" in line for line in lines), lines
    assert [line.split(" ip kube-proxy ")[0] for line in lines] == [
        "add chain", "flush chain", "flush chain", "delete chain", *["add rule"] * 5]
    assert any(line.startswith("delete chain") and gone in line for line in lines)
    assert any(line.startswith("add chain") and new in line for line in lines)
    # Nothing changed: nothing to run.
    await proxier.sync(tracker, set(), ["192.0.2.10"], full=False)
    assert len(recorder.inputs("nft")) == 2


async def test_deleting_a_service_removes_its_chains_and_elements() -> None:
    tracker = _cluster(2)
    recorder = Recorder()
    proxier = NftablesProxier(recorder)
    await proxier.sync(tracker, tracker.take_dirty(), [], full=True)
    tracker.update_service(service("ns", "svc1", "10.43.0.2"), deleted=True)
    await proxier.sync(tracker, tracker.take_dirty(), [], full=False)
    text = recorder.inputs("nft")[-1]
    assert "delete element ip kube-proxy service-ips { 10.43.0.2 . tcp . 80 }" in text
    assert "delete element ip kube-proxy service-nodeports { tcp . 30001 }" in text
    assert text.count("delete chain") == 4 and "add " not in text


@pytest.mark.skipif(bool(netns.available()) or shutil.which("nft") is None,
                    reason="needs root, iproute2 and nft")
async def test_transactions_load_into_the_kernel() -> None:
    with netns.netns("kyb-proxy-nft") as ns:
        tracker = _cluster(3)
        tracker.update_service(service("ns", "sticky", "10.43.1.1", sessionAffinity="ClientIP",
                                       externalTrafficPolicy="Local"))
        tracker.update_slice(endpoint_slice("ns", "sticky", [endpoint("10.42.9.1")]))
        proxier = NftablesProxier(InNamespace(ns.name), cluster_cidr="10.42.0.0/16")
        await proxier.sync(tracker, tracker.take_dirty(), ["192.0.2.10"], full=True)
        tracker.update_slice(endpoint_slice("ns", "svc0", [endpoint("10.42.0.9")]))
        tracker.update_service(service("ns", "svc2", "10.43.0.3"), deleted=True)
        tracker.update_service(service("ns", "sticky", "10.43.1.1"), deleted=True)
        await proxier.sync(tracker, tracker.take_dirty(), ["192.0.2.11"], full=False)
        table = ns.run("nft", "list", "table", "ip", "kube-proxy").stdout
        assert "10.42.0.9:80" in table and "10.42.0.1:80" not in table
        assert "ns/svc2/" not in table and "10.43.0.3" not in table
        assert "affinity-" not in table and "ns/sticky" not in table
        assert "192.0.2.11" in table and "192.0.2.10" not in table
        await proxier.cleanup()
        assert "kube-proxy" not in ns.run("nft", "list", "tables").stdout
