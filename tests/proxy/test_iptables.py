"""The iptables backend: upstream's chain names and rules (pkg/proxy/iptables/
proxier_test.go), and restores that redeclare only the changed service chains."""

from __future__ import annotations

import shutil

import pytest

from kybernetes.proxy.changes import Endpoint, ServicePort, ServicePortName
from kybernetes.proxy.iptables import IptablesProxier, render_port
from tests.kubelet import netns
from tests.proxy.fixtures import endpoint, endpoint_slice, service
from tests.proxy.recorder import InNamespace, Recorder
from tests.proxy.test_nftables import _cluster

pytestmark = pytest.mark.e2e

SVC1 = "KUBE-SVC-XPGD46QRK7WJZT7O"
SEP1 = "KUBE-SEP-SXIVWICOYRO3J4NJ"


def port(**fields: object) -> ServicePort:
    base: dict[str, object] = {"name": ServicePortName("ns1", "svc1", "p80"),
                               "protocol": "tcp", "cluster_ip": "172.30.0.41", "port": 80}
    return ServicePort(**{**base, **fields})  # type: ignore[arg-type]


def test_cluster_ip_as_upstream() -> None:
    out = render_port(port(), [Endpoint("10.180.0.1", 80)], cluster_cidr="10.0.0.0/8")
    assert out.shared == {"nat/KUBE-SERVICES": [
        '-m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 '
        f"--dport 80 -j {SVC1}"]}
    assert out.chains == {
        SVC1: ('-m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 '
               "--dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ",
               f'-m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -j {SEP1}'),
        SEP1: ("-m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ",
               "-m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination "
               "10.180.0.1:80")}


def test_statistic_probabilities_and_affinity() -> None:
    out = render_port(port(affinity_seconds=10800),
                      [Endpoint(f"10.180.0.{i}", 80) for i in (1, 2, 3)])
    rules = out.chains[SVC1]
    assert sum("--rcheck --seconds 10800 --reap" in rule for rule in rules) == 3
    assert [rule.split("--probability ")[1].split()[0] for rule in rules
            if "--probability" in rule] == ["0.3333333333", "0.5000000000"]
    assert "-m recent --name KUBE-SEP-SXIVWICOYRO3J4NJ --set" in out.chains[SEP1][1]


def test_no_endpoints_are_rejected_in_filter() -> None:
    out = render_port(port(node_port=3001), [])
    assert out.chains == {}
    assert out.shared == {
        "filter/KUBE-SERVICES": ['-m comment --comment "ns1/svc1:p80 has no endpoints" '
                                 "-m tcp -p tcp -d 172.30.0.41 --dport 80 -j REJECT"],
        "filter/KUBE-EXTERNAL-SERVICES": [
            '-m comment --comment "ns1/svc1:p80 has no endpoints" -m addrtype --dst-type '
            "LOCAL -m tcp -p tcp --dport 3001 -j REJECT"]}


async def test_partial_restore_declares_only_changed_chains() -> None:
    tracker = _cluster(50)
    recorder = Recorder()
    proxier = IptablesProxier(recorder, cluster_cidr="10.42.0.0/16")
    await proxier.sync(tracker, tracker.take_dirty(), [], full=True)
    assert recorder.inputs("iptables-restore")[-1].count(":KUBE-SEP-") == 100
    tracker.update_slice(endpoint_slice("ns", "svc7", [endpoint("10.42.7.1"),
                                                        endpoint("10.42.7.3")]))
    await proxier.sync(tracker, tracker.take_dirty(), [], full=False)
    text = recorder.inputs("iptables-restore")[-1]
    declared = [line for line in text.splitlines()
                if line.startswith(":KUBE-S") and line[1:].startswith(("KUBE-SVC", "KUBE-SEP"))]
    assert len(declared) == 3  # the service chain, the new endpoint, the gone one
    assert sum(line.startswith("-X ") for line in text.splitlines()) == 1
    assert text.count("cluster IP\" -m tcp") >= 50  # KUBE-SERVICES rewritten whole


@pytest.mark.skipif(bool(netns.available()) or shutil.which("iptables-restore") is None,
                    reason="needs root, iproute2 and iptables")
async def test_restores_load_and_cleanup_removes_everything() -> None:
    with netns.netns("kyb-proxy-ipt") as ns:
        tracker = _cluster(3)
        tracker.update_service(service("ns", "sticky", "10.43.1.1", sessionAffinity="ClientIP"))
        tracker.update_slice(endpoint_slice("ns", "sticky", [endpoint("10.42.9.1")]))
        proxier = IptablesProxier(InNamespace(ns.name), cluster_cidr="10.42.0.0/16")
        await proxier.sync(tracker, tracker.take_dirty(), [], full=True)
        tracker.update_service(service("ns", "svc2", "10.43.0.3"), deleted=True)
        await proxier.sync(tracker, tracker.take_dirty(), [], full=False)
        saved = ns.run("iptables-save").stdout
        assert "ns/svc1:p80" in saved and "--rcheck --seconds 10800" in saved
        assert "ns/svc2" not in saved and "10.43.0.3" not in saved
        await proxier.cleanup()
        assert "KUBE-" not in ns.run("iptables-save").stdout
