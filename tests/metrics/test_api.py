"""The metrics API's routes: discovery, lists and gets of NodeMetrics and PodMetrics,
selectors, NotFound, and who may ask (the front proxy's certificate, a remote user)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import orjson
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kybernetes.metrics.api import MetricsApi
from kybernetes.metrics.scrape import NodeBatch, Point
from kybernetes.metrics.storage import MetricsStorage

NODES = [{"metadata": {"name": "n1", "labels": {"zone": "a"}}},
         {"metadata": {"name": "n2", "labels": {"zone": "b"}}}]
PODS = [{"metadata": {"name": "web", "namespace": "ns", "labels": {"app": "web"}}},
        {"metadata": {"name": "db", "namespace": "ns", "labels": {"app": "db"}}},
        {"metadata": {"name": "dns", "namespace": "kube-system"}},
        {"metadata": {"name": "new", "namespace": "ns"}}]


def storage() -> MetricsStorage:
    s = MetricsStorage(15)
    for t, cpu in ((100, 0), (115, 15_000_000_000)):
        point = Point(0, t, cpu, 1 << 20)
        s.store({"n1": NodeBatch(point, {("ns", "web"): {"c": point},
                                         ("ns", "db"): {"c": point},
                                         ("kube-system", "dns"): {"c": point}}),
                 "n2": NodeBatch(point)})
    return s


def cert_der(common_name: str) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


PROXY = cert_der("system:auth-proxy")


def call(api: MetricsApi, path: str, query: str = "", *, cert: bytes | None = PROXY,
         user: bool = True) -> tuple[int, Any]:
    scope: dict[str, Any] = {"type": "http", "method": "GET", "path": path,
                             "query_string": query.encode(),
                             "headers": [(b"x-remote-user", b"admin")] if user else []}
    if cert is not None:
        scope["extensions"] = {"tls": {"client_cert_der": cert}}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(api(scope, receive, send))
    return sent[0]["status"], orjson.loads(sent[1]["body"])


def api() -> MetricsApi:
    return MetricsApi(storage(), lambda: NODES, lambda: PODS, ["system:auth-proxy"])


def test_discovery() -> None:
    status, body = call(api(), "/apis/metrics.k8s.io/v1beta1")
    assert status == 200 and body["kind"] == "APIResourceList"
    assert {r["name"]: r["namespaced"] for r in body["resources"]} == {"nodes": False,
                                                                       "pods": True}


def test_nodes() -> None:
    status, body = call(api(), "/apis/metrics.k8s.io/v1beta1/nodes")
    assert status == 200 and body["kind"] == "NodeMetricsList"
    assert [i["metadata"]["name"] for i in body["items"]] == ["n1", "n2"]
    assert body["items"][0]["usage"] == {"cpu": "1", "memory": "1Mi"}
    _, body = call(api(), "/apis/metrics.k8s.io/v1beta1/nodes", "labelSelector=zone%3Db")
    assert [i["metadata"]["name"] for i in body["items"]] == ["n2"]
    status, body = call(api(), "/apis/metrics.k8s.io/v1beta1/nodes/n1")
    assert status == 200 and body["kind"] == "NodeMetrics"
    status, body = call(api(), "/apis/metrics.k8s.io/v1beta1/nodes/n9")
    assert status == 404 and body["message"] == 'nodemetrics.metrics.k8s.io "n9" not found'


def test_pods() -> None:
    _, body = call(api(), "/apis/metrics.k8s.io/v1beta1/pods")
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in body["items"]] == \
        [("kube-system", "dns"), ("ns", "db"), ("ns", "web")]
    _, body = call(api(), "/apis/metrics.k8s.io/v1beta1/namespaces/ns/pods",
                   "labelSelector=app%3Dweb")
    assert [i["metadata"]["name"] for i in body["items"]] == ["web"]
    _, body = call(api(), "/apis/metrics.k8s.io/v1beta1/pods",
                   "fieldSelector=metadata.namespace%3Dkube-system")
    assert [i["metadata"]["name"] for i in body["items"]] == ["dns"]
    status, body = call(api(), "/apis/metrics.k8s.io/v1beta1/namespaces/ns/pods/web")
    assert status == 200 and body["kind"] == "PodMetrics"
    assert body["containers"][0]["name"] == "c"
    # A pod without metrics yet, and one in another namespace, are not found.
    for path in ("namespaces/ns/pods/new", "namespaces/other/pods/web"):
        status, body = call(api(), f"/apis/metrics.k8s.io/v1beta1/{path}")
        assert status == 404 and body["reason"] == "NotFound"


def test_only_the_front_proxy_with_a_user() -> None:
    path = "/apis/metrics.k8s.io/v1beta1/nodes"
    assert call(api(), path, cert=None)[0] == 401
    assert call(api(), path, cert=cert_der("someone"))[0] == 401
    assert call(api(), path, user=False)[0] == 401
