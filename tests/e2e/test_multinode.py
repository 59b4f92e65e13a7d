"""Pods on two nodes reach each other through Services, kube-proxy and cluster DNS (issue
11's done-when): node A is `kyb server` with its own node in one network namespace, node B
a `kyb agent` joined by token in a second one, the two joined by a veth pair the test
makes on 198.51.100.0/24 (TEST-NET-2) and nothing else (no route out).

Each node keeps host-gw routes to the other's pod CIDR and runs kube-proxy (B on its
node credentials); the cluster DNS answers on A's address behind 10.43.0.10. A Deployment
of 3 busybox `httpd` pods, spread over A and B, serves its pod name; a client pod on A
fetches `web.<ns>.svc.cluster.local` and sees every backend, then only what remains after
a scale-down; a NodePort and a LoadBalancer Service, and an Ingress, answer on both nodes'
addresses; a pod that fails readiness gets no traffic; `nslookup` of the kubernetes Service
works in a pod.

One cluster for the module in each proxy mode (nftables, iptables). Busybox is built from
Debian's busybox-static and imported into both nodes' image stores. Waits are bounded
polls, not measures.
"""

from __future__ import annotations

import functools
import http.client
import json
import shutil
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kybernetes.kubelet.network.routes import ROUTE_PROTOCOL
from tests.e2e.cluster import Kubectl, Server, find_kubectl, stop_process, wait_until
from tests.e2e.nodens import (
    REAL_NODE,
    cleanup_runtime,
    import_busybox,
    inside,
    new_namespace,
    node_ready,
)
from tests.kubelet import netns

pytestmark = [pytest.mark.e2e, REAL_NODE,
              pytest.mark.skipif(shutil.which("nft") is None, reason="needs nft")]

A_IP, B_IP = "198.51.100.21", "198.51.100.22"
NODE_A, NODE_B = "multi-a", "multi-b"
IMAGE = "busybox:1.36"
FETCHES = 30
Obj = dict[str, Any]
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Cluster:
    kubectl: Kubectl
    a: netns.NetNS
    b: netns.NetNS
    namespace: str = ""

    def __call__(self, *args: str, input: str | None = None) -> str:
        """kubectl, from node A's namespace (where the server listens)."""
        with inside(self.a):
            return self.kubectl(*args, input=input)

    def apply(self, *objects: Obj) -> None:
        self("apply", "-n", self.namespace, "-f", "-",
             input="\n---\n".join(map(json.dumps, objects)))

    def fetch_from_client(self, url: str) -> list[str]:
        """What `FETCHES` wgets from the client pod on A answered ("FAILED" for none)."""
        # `timeout`, not wget's -T: Debian's busybox 1.35 wget crashes with -T
        script = (f"for i in $(seq {FETCHES}); do timeout 5 wget -qO- {url} || echo FAILED; "
                  "done")
        return self("exec", "client", "-n", self.namespace, "--", "sh", "-c",
                    script).split()


def connect(a: netns.NetNS, b: netns.NetNS) -> None:
    a.ip("link", "add", "kybmn-a", "type", "veth", "peer", "name", "kybmn-b", "netns", b.name)
    a.ip("addr", "add", f"{A_IP}/24", "dev", "kybmn-a")
    b.ip("addr", "add", f"{B_IP}/24", "dev", "kybmn-b")
    a.ip("link", "set", "kybmn-a", "up")
    b.ip("link", "set", "kybmn-b", "up")


def remove_cgroups(root: str) -> None:
    """The pods' cgroups the two kubelets made under their own roots (emptied by then)."""
    base = Path("/sys/fs/cgroup") / root.lstrip("/")
    if base.is_dir():
        for path in sorted((p for p in base.rglob("*") if p.is_dir()),
                           key=lambda p: len(p.parts), reverse=True):
            subprocess.run(["rmdir", str(path)], check=False, capture_output=True)
        subprocess.run(["rmdir", str(base)], check=False, capture_output=True)


@pytest.fixture(scope="module", params=["nftables", "iptables"])
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[Cluster]:
    """Both proxy modes pass the same suite: the whole cluster once in each."""
    root = tmp_path_factory.mktemp("kyb-multinode")
    a_dir, b_dir = root / "a", root / "b"
    for data in (a_dir, b_dir):
        data.mkdir()
        import_busybox(data, IMAGE)
    resolv_conf = a_dir / "upstream-resolv.conf"
    resolv_conf.write_text("nameserver 127.0.0.1\n")  # nothing is forwarded out
    node_args = ["--proxy-min-sync-period", "0.1", "--proxy-mode", request.param]
    with netns.namespaces("kyb-mn-a", "kyb-mn-b") as (a, b):
        connect(a, b)
        server = Server(a_dir, agent=True, extra_args=[
            "--bind-address", "0.0.0.0", "--advertise-address", A_IP, "--node-name", NODE_A,
            "--node-ip", A_IP, "--run-dir", str(a_dir / "run"), "--cgroup-root",
            "/kyb-multinode-a", "--resolv-conf", str(resolv_conf), *node_args])
        agent: subprocess.Popen[bytes] | None = None
        with inside(a):
            server.start()
        kubectl = Kubectl(server.kubeconfig, find_kubectl())
        try:
            token = (a_dir / "token").read_text().strip()
            with open(b_dir / "agent.log", "ab") as log, inside(b):
                agent = subprocess.Popen(
                    [sys.executable, "-m", "kybernetes.cli.main", "agent", "--server",
                     f"https://{A_IP}:{server.port}", "--token", token, "--data-dir",
                     str(b_dir), "--node-name", NODE_B, "--node-ip", B_IP, "--run-dir",
                     str(b_dir / "run"), "--cgroup-root", "/kyb-multinode-b", *node_args],
                    stdout=log, stderr=subprocess.STDOUT)
            cluster = Cluster(kubectl, a, b)
            for node in (NODE_A, NODE_B):
                with inside(a):
                    wait_until(functools.partial(_ready, agent, b_dir, kubectl, node),
                               f"node {node} Ready")
            with inside(a):
                cluster.namespace = new_namespace(kubectl, "multi")
            yield cluster
            with inside(a):
                kubectl.run("delete", "pods", "--all", "--all-namespaces", "--grace-period=1",
                            "--wait=true", "--timeout=60s", check=False, timeout=120)
        finally:
            if agent is not None and agent.poll() is None:
                stop_process(agent, 30, signal.SIGTERM)
            with inside(a):
                server.stop()
            cleanup_runtime(a_dir)
            cleanup_runtime(b_dir)
            remove_cgroups("/kyb-multinode-a")
            remove_cgroups("/kyb-multinode-b")


def _ready(agent: subprocess.Popen[bytes], data: Path, kubectl: Kubectl, node: str) -> bool:
    if agent.poll() is not None:
        log = (data / "agent.log").read_text(errors="replace")
        raise AssertionError(f"kyb agent exited:\n{log[-3000:]}")
    return node_ready(kubectl, node)


def httpd_pod_spec(readiness: Obj) -> Obj:
    return {"terminationGracePeriodSeconds": 1, "containers": [{
        "name": "httpd", "image": IMAGE, "ports": [{"name": "http", "containerPort": 8080}],
        # index.html: the pod's name; /cgi-bin/peer: the client's address as seen here
        "command": ["sh", "-c", "mkdir -p /www/cgi-bin && hostname > /www/index.html && "
                    "printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\n"
                    "echo $REMOTE_ADDR\\n' > /www/cgi-bin/peer && chmod +x /www/cgi-bin/peer && "
                    "exec busybox httpd -f -p 8080 -h /www"],
        "readinessProbe": {**readiness, "periodSeconds": 1}}]}


WEB = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {
    "replicas": 3, "selector": {"matchLabels": {"app": "web", "tier": "backend"}},
    "template": {"metadata": {"labels": {"app": "web", "tier": "backend"}}, "spec": {
        **httpd_pod_spec({"httpGet": {"path": "/", "port": 8080}}),
        "topologySpreadConstraints": [{
            "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "web", "tier": "backend"}}}]}}}}


def service(name: str, port: int, **spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": "web"}, "ports": [
                {"name": "http", "port": port, "targetPort": "http"}], **spec}}


def web_pods(cluster: Cluster) -> dict[str, str]:
    """The Deployment's Ready pods: name -> node."""
    pods = json.loads(cluster("get", "pods", "-n", cluster.namespace, "-l", "tier=backend",
                              "-o", "json"))["items"]
    return {p["metadata"]["name"]: p["spec"].get("nodeName", "") for p in pods
            if not p["metadata"].get("deletionTimestamp")
            and any(c["type"] == "Ready" and c["status"] == "True"
                    for c in p.get("status", {}).get("conditions") or ())}


def ready_web_pods(cluster: Cluster, count: int) -> dict[str, str] | None:
    pods = web_pods(cluster)
    return pods if len(pods) == count else None


@pytest.fixture(scope="module")
def web(cluster: Cluster) -> dict[str, str]:
    """The Deployment, its Service and the client pod on A, all Ready."""
    cluster.apply(WEB, service("web", 8080), {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "client"},
        "spec": {"nodeName": NODE_A, "terminationGracePeriodSeconds": 1, "containers": [
            {"name": "sh", "image": IMAGE, "command": ["sleep", "3600"]}]}})
    pods = wait_until(lambda: ready_web_pods(cluster, 3), "3 web pods Ready")
    cluster("wait", "--for=condition=Ready", "pod/client", "-n", cluster.namespace,
            "--timeout=60s")
    return pods


def answer(address: str, port: int, path: str = "/") -> str | None:
    """The body from http://address:port/path (None when there is no answer, or an error)."""
    try:
        with _opener.open(f"http://{address}:{port}{path}", timeout=5) as response:
            return str(response.read().decode().strip())
    except OSError:
        return None


def ours(ns: netns.NetNS) -> str | None:
    """The routes of host-gw's protocol in `ns`, if any."""
    return ns.ip("route", "show", "proto", str(ROUTE_PROTOCOL)).stdout.strip() or None


def test_each_node_routes_to_the_other_nodes_pods(cluster: Cluster) -> None:
    cidrs = {node: cluster("get", "node", node, "-o", "jsonpath={.spec.podCIDR}")
             for node in (NODE_A, NODE_B)}
    assert cidrs[NODE_A] and cidrs[NODE_B] and cidrs[NODE_A] != cidrs[NODE_B]
    for ns, other, gateway in ((cluster.a, NODE_B, B_IP), (cluster.b, NODE_A, A_IP)):
        routes = wait_until(functools.partial(ours, ns), f"the route to {other}'s pods")
        assert routes.split()[:3] == [cidrs[other], "via", gateway]


def test_the_joined_node_runs_kube_proxy_on_its_own_credentials(cluster: Cluster) -> None:
    with inside(cluster.a):
        allowed = cluster.kubectl.run(
            "auth", "can-i", "watch", "endpointslices.discovery.k8s.io", "--all-namespaces",
            "--as", f"system:node:{NODE_B}", "--as-group", "system:nodes", check=False)
        assert allowed.stdout.strip() == "yes"
        # B's kube-proxy (no kubeconfig of its own was given) serves its health.
        health = wait_until(functools.partial(answer, B_IP, 10256, "/healthz"),
                            "kube-proxy healthy on B")
        assert json.loads(health)["nodeEligible"] is True


def test_the_service_name_reaches_every_pod_on_both_nodes(cluster: Cluster,
                                                          web: dict[str, str]) -> None:
    assert set(web.values()) == {NODE_A, NODE_B}
    url = f"http://web.{cluster.namespace}.svc.cluster.local:8080"
    wait_until(lambda: "FAILED" not in cluster.fetch_from_client(url) or None,
               "the Service answering")

    def every_backend() -> bool | None:
        seen = cluster.fetch_from_client(url)
        assert "FAILED" not in seen and set(seen) <= set(web), seen
        return set(seen) == set(web) or None

    wait_until(every_backend, "all 3 backends answering")


def test_node_port_and_load_balancer_answer_on_every_node(cluster: Cluster,
                                                          web: dict[str, str]) -> None:
    cluster.apply(service("web-np", 8080, type="NodePort"),
                  service("web-lb", 8090, type="LoadBalancer"))
    node_port = int(cluster("get", "svc", "web-np", "-n", cluster.namespace, "-o",
                            "jsonpath={.spec.ports[0].nodePort}"))
    wait_until(lambda: {i["ip"] for i in json.loads(cluster(
        "get", "svc", "web-lb", "-n", cluster.namespace, "-o", "json"))["status"].get(
        "loadBalancer", {}).get("ingress", [])} == {A_IP, B_IP} or None,
        "the LoadBalancer's ingress on both nodes")

    with inside(cluster.a):
        for address in (A_IP, B_IP):
            for port in (node_port, 8090):
                answered = wait_until(functools.partial(answer, address, port),
                                      f"{address}:{port} answering")
                assert answered in web


def test_an_ingress_answers_on_every_node(cluster: Cluster, web: dict[str, str]) -> None:
    """Both nodes run the ingress (B's on its node credentials) and publish their
    addresses in the Ingress's status."""
    cluster.apply({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                   "metadata": {"name": "web"},
                   "spec": {"rules": [{"host": "web.multi.test", "http": {"paths": [
                       {"path": "/", "pathType": "Prefix", "backend": {"service": {
                           "name": "web", "port": {"number": 8080}}}}]}}]}})

    def by_host(address: str) -> str | None:
        conn = http.client.HTTPConnection(address, 80, timeout=5)
        try:
            conn.request("GET", "/", headers={"Host": "web.multi.test"})
            response = conn.getresponse()
            body = response.read().decode().strip()
            return body if response.status == 200 else None
        except OSError:
            return None
        finally:
            conn.close()

    with inside(cluster.a):
        for address in (A_IP, B_IP):
            assert wait_until(functools.partial(by_host, address),
                              f"the ingress on {address}") in web
    wait_until(lambda: cluster("get", "ingress", "web", "-n", cluster.namespace, "-o",
                               "jsonpath={.status.loadBalancer.ingress[*].ip}") ==
               f"{A_IP} {B_IP}" or None, "both nodes in the Ingress's status")


def test_a_pod_failing_readiness_gets_no_traffic(cluster: Cluster,
                                                 web: dict[str, str]) -> None:
    cluster.apply({"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": "unready", "labels": {"app": "web"}},
                   "spec": {"nodeName": NODE_B,
                            **httpd_pod_spec({"exec": {"command": ["false"]}})}})
    def started() -> bool | None:
        return cluster("get", "pod", "unready", "-n", cluster.namespace, "-o",
                       "jsonpath={.status.containerStatuses[0].started}") == "true" or None

    wait_until(started, "the unready pod's container running")
    seen = cluster.fetch_from_client(f"http://web.{cluster.namespace}.svc.cluster.local:8080")
    assert "FAILED" not in seen and set(seen) <= set(web), seen
    # It does serve when asked directly: only the Service keeps traffic from it.
    pod_ip = cluster("get", "pod", "unready", "-n", cluster.namespace, "-o",
                     "jsonpath={.status.podIP}")
    assert cluster.fetch_from_client(f"http://{pod_ip}:8080")[0] == "unready"


def test_pods_on_other_nodes_see_the_pod_ip_not_the_node(cluster: Cluster,
                                                         web: dict[str, str]) -> None:
    client_ip = cluster("get", "pod", "client", "-n", cluster.namespace, "-o",
                        "jsonpath={.status.podIP}")
    pods = json.loads(cluster("get", "pods", "-n", cluster.namespace, "-l", "tier=backend",
                              "-o", "json"))["items"]
    on_b = next(p["status"]["podIP"] for p in pods if p["spec"]["nodeName"] == NODE_B)
    peers = cluster.fetch_from_client(f"http://{on_b}:8080/cgi-bin/peer")
    # httpd listens on a dual-stack socket: IPv4 peers read [::ffff:a.b.c.d]
    assert {peer.removeprefix("[::ffff:").removesuffix("]") for peer in peers} == {client_ip}


def test_nslookup_of_the_kubernetes_service_in_a_pod(cluster: Cluster,
                                                     web: dict[str, str]) -> None:
    out = cluster("exec", "client", "-n", cluster.namespace, "--", "nslookup",
                  "kubernetes.default.svc.cluster.local")
    assert "10.43.0.1" in out.split("kubernetes.default.svc.cluster.local", 1)[1]


def test_scaling_changes_the_backends(cluster: Cluster, web: dict[str, str]) -> None:
    cluster("scale", "deployment", "web", "-n", cluster.namespace, "--replicas=1")
    remaining = wait_until(lambda: ready_web_pods(cluster, 1), "one web pod left")
    url = f"http://web.{cluster.namespace}.svc.cluster.local:8080"
    wait_until(lambda: set(cluster.fetch_from_client(url)) == set(remaining) or None,
               "only the remaining pod answering")
