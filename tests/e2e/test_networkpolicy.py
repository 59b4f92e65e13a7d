"""NetworkPolicy end to end: `kyb server` with its real node (kubelet, runc, CNI bridge)
inside a network namespace this module makes, policies written with kubectl, traffic
between real pods (busybox `httpd`, and `wget` given 2 s by `timeout`: Debian's static
busybox crashes on `wget -T`).

One server pod (`app=server`, container port `http` 8080) and two clients, `access=true`
and `access=false`, live for the whole module; each test removes its policies. The
network policy controller's table (`ip kube-network-policies`) lives in the namespace,
as does everything else.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.cluster import Kubectl, LineReader, wait_until
from tests.e2e.nodens import REAL_NODE, import_busybox, new_namespace, real_node

pytestmark = [pytest.mark.e2e, REAL_NODE]

NODE = "netpol-node"
IMAGE = "busybox:1.36"
TABLE = "ip kube-network-policies"
Obj = dict[str, Any]
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Cluster:
    kubectl: Kubectl
    namespace: str
    server_ip: str

    def apply(self, *objects: Obj) -> None:
        self.kubectl("apply", "-n", self.namespace, "-f", "-",
                     input="\n---\n".join(map(json.dumps, objects)))

    def reaches(self, client: str, address: str = "") -> bool:
        """Whether `client` gets the server's page at `address` (default: the server pod's
        port 8080); a blocked attempt gives up in 2 s."""
        result = self.kubectl.run("exec", client, "-n", self.namespace, "--", "timeout", "2",
                                  "wget", "-q", "-O", "-",
                                  f"http://{address or f'{self.server_ip}:8080'}/",
                                  check=False)
        return result.returncode == 0 and result.stdout.strip() == "ok"

    def node_reaches(self) -> bool:
        """Whether the node itself (the test thread is in its namespace) gets the page."""
        try:
            with _opener.open(f"http://{self.server_ip}:8080/", timeout=2) as response:
                return bool(response.read().decode().strip() == "ok")
        except OSError:
            return False

    def table(self) -> str:
        return _nft("list", "table", *TABLE.split())

    def programmed(self, policy: str) -> None:
        """Wait until the node's table carries the policy's rules."""
        wait_until(lambda: f'"{self.namespace}/{policy}"' in self.table(),
                   f"the rules of {policy}")


def _nft(*argv: str) -> str:
    """`nft` in the node's namespace (the test thread is in it)."""
    return subprocess.run(["nft", *argv], capture_output=True, text=True, check=False).stdout


def _pod(name: str, labels: dict[str, str], script: str, **container: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": labels},
            "spec": {"terminationGracePeriodSeconds": 1, "containers": [
                {"name": "c", "image": IMAGE, "command": ["sh", "-c", script], **container}]}}


def _policy(name: str, selector: Obj, **spec: Any) -> Obj:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name}, "spec": {"podSelector": selector, **spec}}


def _ready(kubectl: Kubectl, namespace: str, name: str) -> str | None:
    obj = kubectl.json("get", "pod", name, "-n", namespace)
    conditions = (obj.get("status") or {}).get("conditions") or []
    ready = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
    return obj["status"].get("podIP") if ready else None


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    data = tmp_path_factory.mktemp("kyb-netpol")
    import_busybox(data, IMAGE)
    with real_node(data, "kyb-e2e-netpol", NODE) as (_server, kubectl):
        namespace = new_namespace(kubectl, "np")
        cluster = Cluster(kubectl, namespace, "")
        cluster.apply(
            _pod("server", {"app": "server"},
                 "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www",
                 ports=[{"name": "http", "containerPort": 8080}]),
            _pod("client-a", {"access": "true"}, "exec sleep 3600"),
            _pod("client-b", {"access": "false"}, "exec sleep 3600"))
        for name in ("server", "client-a", "client-b"):
            ip = wait_until(lambda n=name: _ready(kubectl, namespace, n),  # type: ignore[misc]
                            f"pod {name} Ready")
            if name == "server":
                cluster.server_ip = ip
        yield cluster


@pytest.fixture
def np(cluster: Cluster) -> Iterator[Cluster]:
    """The cluster, both clients reaching the server before; the test's policies deleted
    after."""
    wait_until(lambda: cluster.reaches("client-a") and cluster.reaches("client-b"),
               "both clients reaching the server")
    yield cluster
    cluster.kubectl("delete", "networkpolicy", "--all", "-n", cluster.namespace)


def test_default_deny_then_allow_for_labelled_clients_then_removed(np: Cluster) -> None:
    np.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
              "spec": {"selector": {"app": "server"},
                       "ports": [{"port": 80, "targetPort": "http"}]}})
    cluster_ip = np.kubectl("get", "svc", "web", "-n", np.namespace, "-o",
                            "jsonpath={.spec.clusterIP}")
    service = f"{cluster_ip}:80"
    wait_until(lambda: np.reaches("client-b", service), "the service answering")
    np.apply(_policy("deny-ingress", {}, policyTypes=["Ingress"]))
    wait_until(lambda: not np.reaches("client-a") and not np.reaches("client-b"),
               "default deny cutting both clients")
    # The node itself still reaches its pods (kubelet probes).
    assert np.node_reaches()
    # Only pods labelled access=true, on the server's named port.
    np.apply(_policy("allow-access", {"matchLabels": {"app": "server"}}, ingress=[
        {"from": [{"podSelector": {"matchLabels": {"access": "true"}}}],
         "ports": [{"protocol": "TCP", "port": "http"}]}]))
    wait_until(lambda: np.reaches("client-a"), "the allowed client reaching the server")
    assert not np.reaches("client-b")
    # Through the Service, judged on the pod kube-proxy sends it to.
    assert np.reaches("client-a", service)
    assert not np.reaches("client-b", service)
    np.kubectl("delete", "networkpolicy", "deny-ingress", "allow-access", "-n", np.namespace)
    wait_until(lambda: np.reaches("client-a") and np.reaches("client-b"),
               "both clients again once the policies are gone")


def test_egress_default_deny_and_ip_block(np: Cluster) -> None:
    np.apply(_policy("deny-egress", {"matchLabels": {"access": "false"}},
                     policyTypes=["Egress"]))
    wait_until(lambda: not np.reaches("client-b"), "client-b's outbound traffic cut")
    assert np.reaches("client-a")
    # The pod network except the server: still nothing to the server.
    np.apply(_policy("pod-network-but-server", {"matchLabels": {"access": "false"}},
                     policyTypes=["Egress"], egress=[
                         {"to": [{"ipBlock": {"cidr": "10.42.0.0/16",
                                              "except": [f"{np.server_ip}/32"]}}]}]))
    np.programmed("pod-network-but-server")
    assert not np.reaches("client-b")
    np.apply(_policy("to-server", {"matchLabels": {"access": "false"}},
                     policyTypes=["Egress"], egress=[
                         {"to": [{"ipBlock": {"cidr": f"{np.server_ip}/32"}}],
                          "ports": [{"protocol": "TCP", "port": 8080}]}]))
    wait_until(lambda: np.reaches("client-b"), "client-b reaching the server by ipBlock")


def test_established_connections_continue_under_a_new_policy(np: Cluster) -> None:
    client_b = np.kubectl.json("get", "pod", "client-b", "-n", np.namespace)
    b_ip = client_b["status"]["podIP"]
    argv = [np.kubectl.binary, "--kubeconfig", str(np.kubectl.kubeconfig), "exec", "-i", "-n",
            np.namespace]
    listener = subprocess.Popen([*argv, "client-b", "--", "nc", "-l", "-p", "9000"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    talker: subprocess.Popen[str] | None = None
    try:
        assert listener.stdout is not None
        lines = LineReader(listener.stdout)
        wait_until(lambda: ":9000" in np.kubectl(
            "exec", "client-b", "-n", np.namespace, "--", "netstat", "-ltn"), "nc listening")
        talker = subprocess.Popen([*argv, "client-a", "--", "nc", b_ip, "9000"],
                                  stdin=subprocess.PIPE, text=True)
        assert talker.stdin is not None
        talker.stdin.write("before\n")
        talker.stdin.flush()
        lines.wait_for(lambda line: line == "before")
        np.apply(_policy("deny-b", {"matchLabels": {"access": "false"}},
                         policyTypes=["Ingress"]))
        wait_until(lambda: f"{b_ip} : jump ingress-" in np.table(), "client-b isolated")
        talker.stdin.write("after\n")
        talker.stdin.flush()
        lines.wait_for(lambda line: line == "after")
    finally:
        for process in (talker, listener):
            if process is not None:
                process.kill()
                process.wait()


def test_nothing_left_once_every_policy_is_deleted(np: Cluster) -> None:
    np.apply(_policy("deny-all", {}, policyTypes=["Ingress", "Egress"]),
             _policy("allow-a", {}, ingress=[
                 {"from": [{"podSelector": {"matchLabels": {"access": "true"}}}]}]))
    np.programmed("allow-a")
    assert f"{np.server_ip} : jump ingress-" in np.table()
    np.kubectl("delete", "networkpolicy", "deny-all", "allow-a", "-n", np.namespace)
    wait_until(lambda: np.namespace not in np.table(), "the policies' rules gone")
    table = np.table()
    assert np.server_ip not in table and "jump ingress-" not in table, table
    assert "jump egress-" not in table, table
    ruleset = _nft("list", "ruleset")
    assert f'"{np.namespace}/' not in ruleset and "jump ingress-" not in ruleset


def test_controller_acts_under_its_own_identity(cluster: Cluster) -> None:
    user = "system:kybernetes:network-policy"
    for verb, resource in (("list", "networkpolicies.networking.k8s.io"),
                           ("watch", "pods"), ("list", "namespaces")):
        assert cluster.kubectl("auth", "can-i", verb, resource, "--all-namespaces",
                               f"--as={user}").strip() == "yes"
    denied = cluster.kubectl.run("auth", "can-i", "create", "pods", f"--as={user}",
                                 check=False)
    assert denied.stdout.strip() == "no"
