"""The data plane on real nginx, on loopback: rendered configurations pass `nginx -t`,
requests reach the backends the paths name (Exact, Prefix, ImplementationSpecific, the
longest match), a backend without endpoints answers 503, nothing matching 404, TLS by SNI
with the Secret's certificate and the default one otherwise, annotations (rewrite, ssl
redirect, allow list, affinity), and a reload under a stream of requests loses none."""

from __future__ import annotations

import asyncio
import shutil
import threading

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from kybernetes.ingress import defaultcert
from kybernetes.ingress.nginx import NginxError
from tests.ingress.objects import ingress, rule
from tests.ingress.plane import Plane, get

pytestmark = pytest.mark.skipif(shutil.which("nginx") is None, reason="needs nginx")


async def test_paths_route_by_type_and_length(plane: Plane) -> None:
    await plane.apply([ingress("a", [
        rule("a.test", ("/", "Prefix", "one"), ("/api", "Prefix", "two"),
             ("/exact", "Exact", "two"), ("/impl", "ImplementationSpecific", "two")),
        rule("*.wild.test", ("/", "Prefix", "two"))])])
    assert await get(plane, "a.test", "/") == (200, "one /")
    assert await get(plane, "a.test", "/api") == (200, "two /api")
    assert await get(plane, "a.test", "/api/v1") == (200, "two /api/v1")
    assert await get(plane, "a.test", "/apis") == (200, "one /apis")  # element-wise prefix
    assert await get(plane, "a.test", "/exact") == (200, "two /exact")
    assert await get(plane, "a.test", "/exact/more") == (200, "one /exact/more")
    assert await get(plane, "a.test", "/implementation") == (200, "two /implementation")
    assert await get(plane, "x.wild.test", "/") == (200, "two /")
    assert (await get(plane, "x.y.wild.test", "/"))[0] == 404
    assert (await get(plane, "other.test", "/"))[0] == 404


async def test_no_ready_endpoint_is_503(plane: Plane) -> None:
    await plane.apply([ingress("a", [rule("a.test", ("/", "Prefix", "one"))])], ready=False)
    assert (await get(plane, "a.test", "/"))[0] == 503


async def test_tls_by_sni_and_the_default_certificate(plane: Plane) -> None:
    await plane.apply([ingress("a", [rule("secure.test", ("/", "Prefix", "one")),
                                     rule("plain.test", ("/", "Prefix", "two"))],
                               tls=[{"hosts": ["secure.test"], "secretName": "tls"}])])
    served = await asyncio.to_thread(plane.server_certificate, "secure.test")
    assert x509.load_pem_x509_certificate(served) == \
        x509.load_pem_x509_certificate(plane.cert_pem)
    other = x509.load_pem_x509_certificate(
        await asyncio.to_thread(plane.server_certificate, "plain.test"))
    assert other.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == \
        defaultcert.COMMON_NAME
    assert await get(plane, "secure.test", "/x", tls=True) == (200, "one /x")
    status, _, response = await asyncio.to_thread(plane.get, "secure.test", "/x")
    assert status == 308 and response.getheader("Location") == "https://secure.test/x"
    assert await get(plane, "plain.test", "/y") == (200, "two /y")


async def test_annotations(plane: Plane) -> None:
    prefix = "nginx.ingress.kubernetes.io/"
    await plane.apply([
        ingress("rewrite", [rule("r.test", ("/app(/|$)(.*)", "ImplementationSpecific", "one"))],
                annotations={prefix + "rewrite-target": "/$2"}),
        ingress("deny", [rule("d.test", ("/", "Prefix", "one"))],
                annotations={prefix + "whitelist-source-range": "192.0.2.0/24"}),
        ingress("sticky", [rule("s.test", ("/", "Prefix", "two"))],
                annotations={prefix + "affinity": "cookie"})])
    assert await get(plane, "r.test", "/app/x/y") == (200, "one /x/y")
    assert (await get(plane, "d.test", "/"))[0] == 403
    status, _, response = await asyncio.to_thread(plane.get, "s.test", "/")
    assert status == 200 and (response.getheader("Set-Cookie") or "").startswith(
        "INGRESSCOOKIE=")
    status, _, response = await asyncio.to_thread(
        plane.get, "s.test", "/", headers={"Cookie": "INGRESSCOOKIE=abc"})
    assert status == 200 and response.getheader("Set-Cookie") is None


async def test_a_refused_configuration_keeps_the_running_one(plane: Plane) -> None:
    await plane.apply([ingress("a", [rule("a.test", ("/", "Prefix", "one"))])])
    with pytest.raises(NginxError):
        await plane.nginx.apply("events {}\nhttp { bogus_directive on; }\n")
    assert await get(plane, "a.test", "/") == (200, "one /")


async def test_reloads_under_a_request_stream_lose_nothing(plane: Plane) -> None:
    await plane.apply([ingress("a", [rule("a.test", ("/", "Prefix", "one"))])])
    failures: list[str] = []
    stop = threading.Event()
    answers: list[str] = []

    def stream() -> None:
        while not stop.is_set():
            try:
                status, body, _ = plane.get("a.test", "/")
                answers.append(body)
                if status != 200:
                    failures.append(f"{status} {body}")
            except OSError as err:
                failures.append(repr(err))

    thread = threading.Thread(target=stream)
    thread.start()
    try:
        for i in range(6):
            target = "two" if i % 2 == 0 else "one"
            await plane.apply([ingress("a", [rule("a.test", ("/", "Prefix", target))])])
            await asyncio.sleep(0.3)
    finally:
        stop.set()
        await asyncio.to_thread(thread.join)
    assert not failures
    assert {"one /", "two /"} <= set(answers)
    assert plane.nginx.reloads == 6
