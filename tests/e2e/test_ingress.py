"""Ingress end to end (issue 18's done-when): `kyb server` with its node in a network
namespace made here, its ingress controller's nginx on the node's ports 80 and 443, real
busybox pods behind two Services.

One Ingress routes `a.example.test/` and `b.example.test/api` to the two Deployments
(requests to the node's address with those Host headers, as `curl --resolve` sends);
TLS with a certificate the test makes (SNI picks it; plain HTTP is redirected); a changed
Ingress takes effect within 2 s while a stream of requests runs across the change and
sees no error; a Service without ready endpoints answers 503; an invalid Ingress is
refused with upstream's message; an Ingress without a class gets the default `nginx`;
the Ingress's status carries the node's address; the access log is the mirror pod's log.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.e2e.cluster import Kubectl, wait_until
from tests.e2e.nodens import NODE_IP, REAL_NODE, import_busybox, new_namespace, real_node
from tests.testcerts import self_signed

pytestmark = [pytest.mark.e2e, REAL_NODE]

NODE = "ingress-node"
IMAGE = "busybox:1.36"
Obj = dict[str, Any]


class Cluster:
    def __init__(self, kubectl: Kubectl, namespace: str) -> None:
        self.kubectl = kubectl
        self.namespace = namespace

    def __call__(self, *args: str, input: str | None = None) -> str:
        return self.kubectl("-n", self.namespace, *args, input=input)

    def apply(self, *objects: Obj) -> None:
        self("apply", "-f", "-", input="\n---\n".join(map(json.dumps, objects)))


def web(name: str) -> list[Obj]:
    """A Deployment whose pods answer `<name>` on / and `<name>-api` on /api, and its
    Service."""
    script = (f"mkdir -p /www && echo {name} > /www/index.html && echo {name}-api > /www/api"
              " && exec busybox httpd -f -p 8080 -h /www")
    labels = {"app": name}
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
         "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels}, "spec": {
                      "terminationGracePeriodSeconds": 1,
                      "containers": [{"name": "httpd", "image": IMAGE,
                                      "command": ["sh", "-c", script],
                                      "ports": [{"name": "http", "containerPort": 8080}],
                                      # a loaded CI machine may hold a probe past 1 s;
                                      # an unready pod would leave its Service empty (503)
                                      "readinessProbe": {"httpGet": {"path": "/", "port": 8080},
                                                         "periodSeconds": 1,
                                                         "timeoutSeconds": 5}}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
         "spec": {"selector": labels, "ports": [{"name": "http", "port": 80,
                                                  "targetPort": "http"}]}},
    ]


def ingress(name: str, rules: list[Obj], **spec: Any) -> Obj:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name}, "spec": {"rules": rules, **spec}}


def rule(host: str, path: str, service: str) -> Obj:
    return {"host": host, "http": {"paths": [{
        "path": path, "pathType": "Prefix",
        "backend": {"service": {"name": service, "port": {"number": 80}}}}]}}


def get(host: str, path: str, *, https: bool = False) -> tuple[int, str, dict[str, str]]:
    """GET http(s)://host/path from the node's address, as `curl --resolve` would."""
    conn: http.client.HTTPConnection
    if https:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(NODE_IP, 443, timeout=5, context=context)
        # SNI is the host, as curl --resolve sends it
        conn._context = context  # type: ignore[attr-defined]
        conn.host = NODE_IP
        sock = socket.create_connection((NODE_IP, 443), timeout=5)
        conn.sock = context.wrap_socket(sock, server_hostname=host)
    else:
        conn = http.client.HTTPConnection(NODE_IP, 80, timeout=5)
    try:
        conn.request("GET", path, headers={"Host": host})
        response = conn.getresponse()
        return (response.status, response.read().decode(errors="replace").strip(),
                {k.lower(): v for k, v in response.getheaders()})
    finally:
        conn.close()


def answer(host: str, path: str) -> tuple[int, str] | None:
    try:
        status, body, _ = get(host, path)
    except OSError:
        return None
    return status, body


def served_certificate(host: str) -> x509.Certificate:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((NODE_IP, 443), timeout=5) as raw, \
            context.wrap_socket(raw, server_hostname=host) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    data = tmp_path_factory.mktemp("kyb-ingress")
    import_busybox(data, IMAGE)
    with real_node(data, "kyb-e2e-ingress", NODE) as (_server, kubectl):
        cluster = Cluster(kubectl, new_namespace(kubectl, "ingress"))
        cluster.apply(*web("a"), *web("b"))
        for name in ("a", "b"):
            cluster("rollout", "status", f"deployment/{name}", "--timeout=120s")
        cluster.apply(ingress("web", [rule("a.example.test", "/", "a"),
                                      rule("b.example.test", "/api", "b")]))
        yield cluster


def test_hosts_and_paths_route_to_their_services(cluster: Cluster) -> None:
    assert wait_until(lambda: answer("a.example.test", "/") == (200, "a"), "a routed")
    assert wait_until(lambda: answer("b.example.test", "/api") == (200, "b-api"), "b routed")
    assert (answer("b.example.test", "/") or (0,))[0] == 404
    assert (answer("c.example.test", "/") or (0,))[0] == 404


def test_an_ingress_without_class_gets_the_default_one(cluster: Cluster) -> None:
    assert cluster("get", "ingress", "web", "-o",
                   "jsonpath={.spec.ingressClassName}") == "nginx"
    classes = cluster.kubectl("get", "ingressclass", "nginx", "-o", "json")
    assert json.loads(classes)["spec"]["controller"] == "kybernetes.io/ingress-nginx"


def test_status_carries_the_node_address(cluster: Cluster) -> None:
    def address() -> str | None:
        return cluster("get", "ingress", "web", "-o",
                       "jsonpath={.status.loadBalancer.ingress[*].ip}") or None
    assert wait_until(address, "the Ingress's status") == NODE_IP
    assert NODE_IP in cluster("get", "ingress", "web")


def test_tls_with_the_secret_certificate(cluster: Cluster, tmp_path: Path) -> None:
    cert, key = self_signed("secure.example.test")
    cert_path, key_path = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key)
    cluster("create", "secret", "tls", "secure-tls", f"--cert={cert_path}",
            f"--key={key_path}")
    cluster.apply(ingress("secure", [rule("secure.example.test", "/", "a")],
                          tls=[{"hosts": ["secure.example.test"],
                                "secretName": "secure-tls"}]))

    def served() -> bool:
        try:
            return served_certificate("secure.example.test") == cert
        except OSError:
            return False
    wait_until(served, "the Secret's certificate served for its host")
    assert wait_until(lambda: get("secure.example.test", "/", https=True)[:2] == (200, "a"),
                      "the TLS host routed to a")
    status, _, headers = get("secure.example.test", "/x")
    assert status == 308 and headers["location"] == "https://secure.example.test/x"
    assert served_certificate("a.example.test") != cert  # the default certificate


def test_a_change_takes_effect_within_2s_and_a_request_stream_sees_no_error(
        cluster: Cluster) -> None:
    cluster.apply(ingress("moving", [rule("move.example.test", "/", "a")]))
    wait_until(lambda: answer("move.example.test", "/") == (200, "a"), "moving -> a")
    failures: list[str] = []
    stop = threading.Event()

    def stream() -> None:
        while not stop.is_set():
            try:
                status, body, _ = get("move.example.test", "/")
                if status != 200 or body not in ("a", "b"):
                    failures.append(f"{status} {body}")
            except OSError as err:
                failures.append(repr(err))

    thread = threading.Thread(target=stream)
    thread.start()
    try:
        time.sleep(0.5)
        changed = time.monotonic()
        cluster.apply(ingress("moving", [rule("move.example.test", "/", "b")]))
        wait_until(lambda: answer("move.example.test", "/") == (200, "b"), "moving -> b")
        took = time.monotonic() - changed
        time.sleep(0.5)
    finally:
        stop.set()
        thread.join()
    assert not failures
    assert took < 2.0, f"the change took {took:.1f}s"


def test_a_service_without_ready_endpoints_answers_503(cluster: Cluster) -> None:
    cluster.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "empty"},
                   "spec": {"selector": {"app": "nothing"},
                            "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}},
                  ingress("empty", [rule("empty.example.test", "/", "empty")]))

    def status() -> int | None:
        got = answer("empty.example.test", "/")
        return None if got is None else got[0]
    wait_until(lambda: status() == 503, "503 from the Service without endpoints")


def test_an_invalid_ingress_is_refused_with_upstreams_message(cluster: Cluster) -> None:
    bad = ingress("bad", [{"host": "bad.example.test", "http": {"paths": [
        {"path": "/", "backend": {"service": {"name": "a", "port": {"number": 80}}}}]}}])
    result = cluster.kubectl.run("-n", cluster.namespace, "apply", "-f", "-",
                                 input=json.dumps(bad), check=False)
    assert result.returncode != 0
    assert ('The Ingress "bad" is invalid: spec.rules[0].http.paths[0].pathType: Required '
            'value: pathType must be specified') in result.stderr


def test_the_access_log_is_the_mirror_pods_log(cluster: Cluster) -> None:
    assert answer("a.example.test", "/logged-path") is not None
    pod = f"ingress-nginx-{NODE}"

    def logged() -> bool:
        logs = cluster.kubectl.run("logs", "-n", "kube-system", pod, check=False).stdout
        return "GET /logged-path HTTP/1.1" in logs
    wait_until(logged, "the request in the ingress pod's log")


def test_an_httproute_splits_traffic_by_weight(cluster: Cluster) -> None:
    assert cluster.kubectl("get", "gatewayclass", "nginx", "-o",
                           "jsonpath={.spec.controllerName}") == "kybernetes.io/gateway-nginx"
    cluster.apply(
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
         "metadata": {"name": "web"},
         "spec": {"gatewayClassName": "nginx", "listeners": [
             {"name": "http", "port": 80, "protocol": "HTTP",
              "hostname": "*.gw.example.test"}]}},
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
         "metadata": {"name": "split"},
         "spec": {"parentRefs": [{"name": "web"}], "hostnames": ["split.gw.example.test"],
                  "rules": [{"backendRefs": [{"name": "a", "port": 80, "weight": 3},
                                             {"name": "b", "port": 80, "weight": 1}]}]}})
    wait_until(lambda: answer("split.gw.example.test", "/") in ((200, "a"), (200, "b")),
               "the HTTPRoute served")
    seen = {"a": 0, "b": 0}
    for _ in range(200):
        status, body, _ = get("split.gw.example.test", "/")
        assert status == 200
        seen[body] += 1
    assert 120 <= seen["a"] <= 180, seen  # 3:1 of 200 is 150

    def accepted() -> bool:
        route = json.loads(cluster("get", "httproute", "split", "-o", "json"))
        parents = (route.get("status") or {}).get("parents") or []
        return any(c["type"] == "Accepted" and c["status"] == "True"
                   for p in parents for c in p["conditions"])
    wait_until(accepted, "the HTTPRoute Accepted")
    programmed = cluster("get", "gateway", "web", "-o",
                         'jsonpath={.status.conditions[?(@.type=="Programmed")].status} '
                         "{.status.addresses[*].value}")
    assert programmed == f"True {NODE_IP}"
