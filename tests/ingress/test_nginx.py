"""The data plane on real nginx, on loopback: rendered configurations pass `nginx -t`,
requests reach the backends the paths name (Exact, Prefix, ImplementationSpecific, the
longest match), a backend without endpoints answers 503, nothing matching 404, TLS by SNI
with the Secret's certificate and the default one otherwise, annotations (rewrite, ssl
redirect, allow list, affinity), and a reload under a stream of requests loses none."""

from __future__ import annotations

import asyncio
import base64
import datetime
import http.client
import shutil
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kybernetes.ingress import defaultcert, model
from kybernetes.ingress.nginx import Nginx, NginxError
from kybernetes.ingress.render import Listen, Paths, render
from tests.ingress.conftest import endpoint_slice, ingress, rule, service

pytestmark = pytest.mark.skipif(shutil.which("nginx") is None, reason="needs nginx")
Obj = dict[str, Any]


class _Echo(BaseHTTPRequestHandler):
    """Answers `<name> <path>`."""

    def do_GET(self) -> None:
        body = f"{self.server.name} {self.path}".encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def backends() -> Iterator[dict[str, str]]:
    """Two HTTP servers on loopback: name -> address:port."""
    servers = {}
    for name in ("one", "two"):
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
        server.name = name  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers[name] = server
    yield {name: f"127.0.0.1:{s.server_address[1]}" for name, s in servers.items()}
    for server in servers.values():
        server.shutdown()
        server.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _slice(name: str, address: str) -> Obj:
    ip, port = address.split(":")
    sl = endpoint_slice(name, ip)
    sl["ports"][0]["port"] = int(port)
    return sl


def _certificate(host: str) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


class Plane:
    def __init__(self, tmp: Path, backends: dict[str, str]) -> None:
        self.backends = backends
        self.listen = Listen("127.0.0.1", _free_port(), _free_port())
        self.paths = Paths(tmp / "nginx", tmp / "certs", tmp / "default.pem")
        self.nginx = Nginx(self.paths)
        self.nginx.prepare()
        defaultcert.ensure(self.paths.default_certificate)
        cert, key = _certificate("secure.test")
        self.secret = {"metadata": {"name": "tls", "namespace": "default"},
                       "type": "kubernetes.io/tls",
                       "data": {"tls.crt": base64.b64encode(cert).decode(),
                                "tls.key": base64.b64encode(key).decode()}}
        self.cert_pem = cert

    async def apply(self, ingresses: list[Obj], *, ready: bool = True) -> None:
        services = {f"default/{n}": service(n) for n in self.backends}
        slices = {f"default/{n}": [_slice(n, a)] for n, a in self.backends.items()} \
            if ready else {}
        config = model.Builder(services, slices, {"default/tls": self.secret}).build(ingresses)
        self.nginx.write_certificates(config.certificates)
        await self.nginx.apply(render(config, self.listen, self.paths, workers="1"))

    def get(self, host: str, path: str, *, tls: bool = False,
            headers: dict[str, str] | None = None) -> tuple[int, str, http.client.HTTPResponse]:
        if tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                "127.0.0.1", self.listen.https_port, timeout=5, context=context)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.listen.http_port, timeout=5)
        try:
            conn.request("GET", path, headers={"Host": host, **(headers or {})})
            response = conn.getresponse()
            return response.status, response.read().decode(errors="replace"), response
        finally:
            conn.close()

    def server_certificate(self, host: str) -> bytes:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", self.listen.https_port), timeout=5) as raw, \
                context.wrap_socket(raw, server_hostname=host) as tls:
            der = tls.getpeercert(binary_form=True)
        assert der is not None
        return ssl.DER_cert_to_PEM_cert(der).encode()


@pytest.fixture
async def plane(tmp_path: Path, backends: dict[str, str]) -> AsyncIterator[Plane]:
    p = Plane(tmp_path, backends)
    try:
        yield p
    finally:
        await p.nginx.stop()


async def _get(plane: Plane, host: str, path: str, **kw: Any) -> tuple[int, str]:
    status, body, _ = await asyncio.to_thread(plane.get, host, path, **kw)
    return status, body


async def test_paths_route_by_type_and_length(plane: Plane) -> None:
    await plane.apply([ingress("a", [
        rule("a.test", ("/", "Prefix", "one"), ("/api", "Prefix", "two"),
             ("/exact", "Exact", "two"), ("/impl", "ImplementationSpecific", "two")),
        rule("*.wild.test", ("/", "Prefix", "two"))])])
    assert await _get(plane, "a.test", "/") == (200, "one /")
    assert await _get(plane, "a.test", "/api") == (200, "two /api")
    assert await _get(plane, "a.test", "/api/v1") == (200, "two /api/v1")
    assert await _get(plane, "a.test", "/apis") == (200, "one /apis")  # element-wise prefix
    assert await _get(plane, "a.test", "/exact") == (200, "two /exact")
    assert await _get(plane, "a.test", "/exact/more") == (200, "one /exact/more")
    assert await _get(plane, "a.test", "/implementation") == (200, "two /implementation")
    assert await _get(plane, "x.wild.test", "/") == (200, "two /")
    assert (await _get(plane, "x.y.wild.test", "/"))[0] == 404
    assert (await _get(plane, "other.test", "/"))[0] == 404


async def test_no_ready_endpoint_is_503(plane: Plane) -> None:
    await plane.apply([ingress("a", [rule("a.test", ("/", "Prefix", "one"))])], ready=False)
    assert (await _get(plane, "a.test", "/"))[0] == 503


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
    assert await _get(plane, "secure.test", "/x", tls=True) == (200, "one /x")
    status, _, response = await asyncio.to_thread(plane.get, "secure.test", "/x")
    assert status == 308 and response.getheader("Location") == "https://secure.test/x"
    assert await _get(plane, "plain.test", "/y") == (200, "two /y")


async def test_annotations(plane: Plane) -> None:
    prefix = "nginx.ingress.kubernetes.io/"
    await plane.apply([
        ingress("rewrite", [rule("r.test", ("/app(/|$)(.*)", "ImplementationSpecific", "one"))],
                annotations={prefix + "rewrite-target": "/$2"}),
        ingress("deny", [rule("d.test", ("/", "Prefix", "one"))],
                annotations={prefix + "whitelist-source-range": "192.0.2.0/24"}),
        ingress("sticky", [rule("s.test", ("/", "Prefix", "two"))],
                annotations={prefix + "affinity": "cookie"})])
    assert await _get(plane, "r.test", "/app/x/y") == (200, "one /x/y")
    assert (await _get(plane, "d.test", "/"))[0] == 403
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
    assert await _get(plane, "a.test", "/") == (200, "one /")


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
