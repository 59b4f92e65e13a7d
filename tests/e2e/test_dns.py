"""Cluster DNS end to end: `kyb server` with a real node (kubelet, runc, CNI) inside a
network namespace this module makes, its DNS on the node's address, asked by a busybox pod
and by the test itself.

Going through the kube-dns ClusterIP (10.43.0.10) needs kube-proxy's rules, so the pod asks
the node's address directly (`nslookup NAME <node ip>`). Names outside the cluster are
forwarded to the resolv.conf given with `--resolv-conf`: here the namespace's own loopback,
where nothing listens, so nothing leaves the namespace.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import dns.flags
import dns.message
import dns.query
import dns.rcode
import httpx
import pytest

from tests.e2e.cluster import Kubectl, Server, wait_until
from tests.e2e.nodens import NODE_IP, REAL_NODE, import_busybox, new_namespace, real_node

pytestmark = [pytest.mark.e2e, REAL_NODE]

NODE = "dns-node"
IMAGE = "busybox:1.36"
Obj = dict[str, Any]


@dataclass
class Cluster:
    server: Server
    kubectl: Kubectl

    def apply(self, manifest: Obj, namespace: str) -> None:
        self.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    data = tmp_path_factory.mktemp("kyb-dns")
    import_busybox(data, IMAGE)
    resolv_conf = data / "upstream-resolv.conf"
    resolv_conf.write_text("nameserver 127.0.0.1\n")
    with real_node(data, "kyb-e2e-dns", NODE, ["--resolv-conf", str(resolv_conf)]) \
            as (server, kubectl):
        yield Cluster(server, kubectl)


def ask(name: str, rdtype: str = "A", *, tcp: bool = False) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype)
    if tcp:
        return dns.query.tcp(query, NODE_IP, timeout=5)
    return dns.query.udp(query, NODE_IP, timeout=5)


def answered(name: str) -> set[str]:
    return {rdata.to_text() for rrset in ask(name).answer for rdata in rrset}


def test_kube_dns_service_as_on_k3s(cluster: Cluster) -> None:
    def listed() -> str | None:
        out = cluster.kubectl("get", "svc", "-n", "kube-system")
        return out if "kube-dns" in out else None

    line = next(row for row in wait_until(listed, "the kube-dns Service").splitlines()
                if row.startswith("kube-dns"))
    assert line.split()[1:5] == ["ClusterIP", "10.43.0.10", "<none>",
                                 "53/UDP,53/TCP,9153/TCP"]
    endpoint_slice = wait_until(lambda: cluster.kubectl.json(
        "get", "endpointslices", "-n", "kube-system", "-l",
        "kubernetes.io/service-name=kube-dns")["items"], "the kube-dns EndpointSlice")[0]
    assert endpoint_slice["endpoints"][0]["addresses"] == [NODE_IP]
    assert endpoint_slice["endpoints"][0]["nodeName"] == NODE


def test_dns_identity_reads_everywhere_and_writes_only_kube_system(cluster: Cluster) -> None:
    def can(*request: str) -> str:
        return cluster.kubectl.run("auth", "can-i", *request, "--as",
                                   "system:kybernetes:dns", check=False).stdout.strip()

    assert can("watch", "endpointslices.discovery.k8s.io", "--all-namespaces") == "yes"
    assert can("list", "namespaces") == "yes"
    assert can("create", "services", "-n", "kube-system") == "yes"
    assert can("create", "services", "-n", "default") == "no"
    assert can("delete", "services", "-n", "kube-system") == "no"
    assert can("get", "secrets", "-n", "kube-system") == "no"


def test_pod_resolves_services_through_the_node(cluster: Cluster) -> None:
    namespace = new_namespace(cluster.kubectl, "dns")
    cluster.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                   "spec": {"ports": [{"name": "http", "port": 80}]}}, namespace)
    # A headless Service whose endpoint has a hostname (the StatefulSet shape), its
    # EndpointSlice written here so that this test needs no other controller.
    cluster.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db"},
                   "spec": {"clusterIP": "None", "ports": [{"name": "pg", "port": 5432}]}},
                  namespace)
    cluster.apply({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                   "metadata": {"name": "db-manual",
                                "labels": {"kubernetes.io/service-name": "db"}},
                   "addressType": "IPv4", "ports": [{"name": "pg", "port": 5432}],
                   "endpoints": [{"addresses": ["10.42.99.9"], "hostname": "db-0",
                                  "conditions": {"ready": True}}]}, namespace)
    cluster.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "client"},
                   "spec": {"terminationGracePeriodSeconds": 1, "containers": [
                       {"name": "sh", "image": IMAGE, "command": ["sleep", "3600"]}]}},
                  namespace)
    cluster.kubectl("wait", "--for=condition=Ready", "pod/client", "-n", namespace,
                    "--timeout=60s")
    web_ip = cluster.kubectl("get", "svc", "web", "-n", namespace, "-o",
                             "jsonpath={.spec.clusterIP}").strip()

    def nslookup(name: str) -> str:
        result = cluster.kubectl.run("exec", "client", "-n", namespace, "--", "nslookup",
                                     name, NODE_IP, check=False)
        return result.stdout + result.stderr

    resolv_conf = cluster.kubectl("exec", "client", "-n", namespace, "--", "cat",
                                  "/etc/resolv.conf")
    assert "nameserver 10.43.0.10" in resolv_conf
    assert f"search {namespace}.svc.cluster.local svc.cluster.local cluster.local" in \
        resolv_conf
    assert "options ndots:5" in resolv_conf
    # busybox's nslookup asks for a name as given when a server is named (no search path).
    assert "10.43.0.1" in nslookup("kubernetes.default.svc.cluster.local")
    assert web_ip in wait_until(lambda: (lambda out: out if web_ip in out else None)(
        nslookup(f"web.{namespace}.svc.cluster.local")), "the new Service in DNS")
    assert "10.42.99.9" in nslookup(f"db-0.db.{namespace}.svc.cluster.local")
    assert "NXDOMAIN" in nslookup(f"missing.{namespace}.svc.cluster.local")

    # The same names asked by the test itself, over UDP and TCP.
    assert answered(f"web.{namespace}.svc.cluster.local") == {web_ip}
    assert answered(f"db.{namespace}.svc.cluster.local") == {"10.42.99.9"}
    srv = ask(f"_pg._tcp.db.{namespace}.svc.cluster.local", "SRV", tcp=True)
    assert [r.target.to_text() for r in srv.answer[0]] == [
        f"db-0.db.{namespace}.svc.cluster.local."]
    assert srv.flags & dns.flags.AA
    # Deleting the Service takes its name away.
    cluster.kubectl("delete", "svc", "web", "-n", namespace)
    wait_until(lambda: ask(f"web.{namespace}.svc.cluster.local").rcode() ==
               dns.rcode.NXDOMAIN, "the deleted Service gone from DNS")


def test_names_outside_the_cluster_fail_without_upstream(cluster: Cluster) -> None:
    # The only upstream is the namespace's loopback, where nothing answers: SERVFAIL.
    assert ask("www.example.org").rcode() == dns.rcode.SERVFAIL


def test_metrics_on_the_kube_dns_metrics_port(cluster: Cluster) -> None:
    ask("kubernetes.default.svc.cluster.local")
    metrics = httpx.get(f"http://{NODE_IP}:9153/metrics", timeout=5)
    assert metrics.status_code == 200
    assert f'coredns_dns_requests_total{{server="dns://{NODE_IP}:53",zone=".",proto="udp",' \
        'type="A"}' in metrics.text

