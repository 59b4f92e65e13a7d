"""kube-proxy end to end: `kyb server` with its node and kube-proxy inside a network
namespace this module makes, Services written with kubectl, traffic from the namespace.

The node's address sits on the namespace's `lo`; two HTTP servers of the test stand in
for pods on 10.42.0.11 and 10.42.0.12 (also on `lo`), behind EndpointSlices written by
hand (the Services have no selector). An `eth0` leading nowhere carries the route to the
service network, as a node's default route would. Everything — the server, kube-proxy's
table or chains, the test's sockets — lives in the namespace; both proxy modes run the
same tests.
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from kybernetes.proxy.rendered import hash16
from tests.e2e.cluster import Kubectl, Server, find_kubectl, wait_until
from tests.e2e.nodens import NODE_IP, add_node_address, inside
from tests.kubelet import netns

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(
    bool(netns.available()) or shutil.which("nft") is None
    or shutil.which("iptables-restore") is None,
    reason="needs root, iproute2, nft and iptables")]

NODE = "proxy-node"
BACKENDS = {"a": "10.42.0.11", "b": "10.42.0.12"}
BACKEND_PORT = 8080
NS = "default"
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class _Named(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = self.server.name.encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        pass


@dataclass
class Cluster:
    mode: str
    ns: netns.NetNS
    server: Server
    kubectl: Kubectl

    def apply(self, *objects: dict[str, Any]) -> None:
        self.kubectl("apply", "-f", "-", input="\n---\n".join(map(json.dumps, objects)))

    def ruleset(self) -> str:
        argv = ("nft", "list", "ruleset") if self.mode == "nftables" else ("iptables-save",)
        return self.ns.run(*argv).stdout


def _serve_backends() -> list[ThreadingHTTPServer]:
    servers = []
    for name, ip in BACKENDS.items():
        server = ThreadingHTTPServer((ip, BACKEND_PORT), _Named)
        server.name = name  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    return servers


@pytest.fixture(scope="module", params=["nftables", "iptables"])
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[Cluster]:
    mode: str = request.param
    data = tmp_path_factory.mktemp(f"kyb-proxy-{mode}")
    with netns.netns("kyb-e2e-proxy") as ns:
        add_node_address(ns)
        for ip in BACKENDS.values():
            ns.ip("addr", "add", f"{ip}/32", "dev", "lo")
        netns.add_node_interface(ns, "192.168.251.2/24")
        ns.ip("route", "add", "10.43.0.0/16", "dev", "eth0")
        with inside(ns):
            backends = _serve_backends()
            server = Server(data, agent=True, extra_args=[
                "--node-name", NODE, "--node-ip", NODE_IP, "--run-dir", str(data / "run"),
                "--proxy-mode", mode, "--proxy-min-sync-period", "0.1"])
            server.start()
            try:
                yield Cluster(mode, ns, server, Kubectl(server.kubeconfig, find_kubectl()))
            finally:
                server.stop()
                for backend in backends:
                    backend.shutdown()
                    backend.server_close()


def service(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"ports": [{"name": "http", "port": 80, "targetPort": BACKEND_PORT}],
                     **spec}}


def endpoint_slice(service_name: str, ips: list[str]) -> dict[str, Any]:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{service_name}-manual",
                         "labels": {"kubernetes.io/service-name": service_name,
                                    "endpointslice.kubernetes.io/managed-by": "e2e-test"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": BACKEND_PORT, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True},
                           "nodeName": NODE} for ip in ips]}


def fetch(ip: str, port: int, path: str = "/") -> str:
    """The body from http://ip:port/path (the caller runs inside the namespace)."""
    with _opener.open(f"http://{ip}:{port}{path}", timeout=5) as response:
        return str(response.read().decode())


def _answers(ip: str, port: int, path: str = "/") -> str | None:
    try:
        return fetch(ip, port, path)
    except OSError:
        return None


def _seen(ip: str, port: int, tries: int = 40) -> set[str]:
    return {fetch(ip, port) for _ in range(tries)}


def test_cluster_ip_balances_over_both_backends(cluster: Cluster) -> None:
    cluster.apply(service("web"), endpoint_slice("web", list(BACKENDS.values())))
    ip = cluster.kubectl("get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}")
    with inside(cluster.ns):
        wait_until(lambda: _answers(ip, 80), f"the ClusterIP {ip} answering")
        assert _seen(ip, 80) == set(BACKENDS)
        # One endpoint gone: only the other answers.
        cluster.apply(endpoint_slice("web", [BACKENDS["b"]]))
        wait_until(lambda: _seen(ip, 80, 10) == {"b"}, "traffic only to the remaining one")


def test_node_port_answers_on_the_node_address(cluster: Cluster) -> None:
    cluster.apply(service("nodeport", type="NodePort"),
                  endpoint_slice("nodeport", [BACKENDS["a"]]))
    port = int(cluster.kubectl("get", "svc", "nodeport", "-o",
                               "jsonpath={.spec.ports[0].nodePort}"))
    with inside(cluster.ns):
        assert wait_until(lambda: _answers(NODE_IP, port), "the NodePort answering") == "a"


def test_service_without_endpoints_is_rejected(cluster: Cluster) -> None:
    cluster.apply(service("empty"))
    ip = cluster.kubectl("get", "svc", "empty", "-o", "jsonpath={.spec.clusterIP}")

    def refused() -> bool:
        with socket.socket() as sock:
            sock.settimeout(5)
            try:
                sock.connect((ip, 80))
            except ConnectionRefusedError:
                return True
            except TimeoutError:
                pytest.fail(f"{ip}:80 timed out instead of refusing")
            return False

    with inside(cluster.ns):
        wait_until(refused, f"{ip}:80 refused")


def test_deleted_service_leaves_no_rule(cluster: Cluster) -> None:
    cluster.apply(service("gone", type="NodePort"), endpoint_slice("gone", [BACKENDS["a"]]))
    ip = cluster.kubectl("get", "svc", "gone", "-o", "jsonpath={.spec.clusterIP}")
    with inside(cluster.ns):
        wait_until(lambda: _answers(ip, 80), "the service answering")
    assert f"{NS}/gone" in cluster.ruleset()
    cluster.kubectl("delete", "svc", "gone")
    cluster.kubectl("delete", "endpointslice", "gone-manual")
    wait_until(lambda: f"{NS}/gone" not in cluster.ruleset(), "the service's rules gone")
    rules = cluster.ruleset()
    assert ip not in rules, rules
    # iptables' chains are named by a hash of the port (upstream's portProtoHash).
    assert hash16(f"{NS}/gone:httptcp") not in rules, rules


def test_health_and_metrics(cluster: Cluster) -> None:
    with inside(cluster.ns):
        health = json.loads(wait_until(lambda: _answers("127.0.0.1", 10256, "/healthz"),
                                       "healthz"))
        assert health["nodeEligible"] is True and health["lastUpdated"]
        metrics = fetch("127.0.0.1", 10249, "/metrics")
        mode = fetch("127.0.0.1", 10249, "/proxyMode")
    assert "kubeproxy_sync_proxy_rules_duration_seconds_count" in metrics
    assert "kubeproxy_network_programming_duration_seconds_bucket" in metrics
    assert mode == cluster.mode


def test_rules_of_the_other_mode_are_absent(cluster: Cluster) -> None:
    if cluster.mode == "nftables":
        assert "KUBE-SERVICES" not in cluster.ns.run("iptables-save").stdout
    else:
        assert "kube-proxy" not in cluster.ns.run("nft", "list", "tables").stdout


def test_proxy_acts_as_system_kube_proxy(cluster: Cluster) -> None:
    kubeconfig = cluster.server.data_dir / "cred" / "system-kube-proxy.kubeconfig"
    whoami = cluster.kubectl.run("--kubeconfig", str(kubeconfig), "auth", "whoami", "-o",
                                 "jsonpath={.status.userInfo.username}")
    assert whoami.stdout == "system:kube-proxy"
    # upstream's system:node-proxier: it reads EndpointSlices, it cannot write Services.
    denied = cluster.kubectl.run("--kubeconfig", str(kubeconfig), "auth", "can-i", "create",
                                 "services", check=False)
    assert denied.stdout.strip() == "no"
