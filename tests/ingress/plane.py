"""A real nginx on loopback driven by the ingress's model and renderer, with two HTTP
backends on loopback standing in for pods (each answers `<name> <path>` and echoes the
request headers it got as `x-seen-<name>` response headers)."""

from __future__ import annotations

import asyncio
import base64
import http.client
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from kybernetes.ingress import defaultcert, model
from kybernetes.ingress.gateway import GatewayBuilder
from kybernetes.ingress.nginx import Nginx
from kybernetes.ingress.render import Listen, Paths, render
from tests.ingress.objects import endpoint_slice, service
from tests.testcerts import self_signed

Obj = dict[str, Any]
CONTROLLER = "kybernetes.io/gateway-nginx"


class _Echo(BaseHTTPRequestHandler):
    """Answers `<name> <path>`."""

    def do_GET(self) -> None:
        body = f"{self.server.name} {self.path}".encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        for name, value in self.headers.items():
            self.send_header(f"x-seen-{name.lower()}", value)
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


class Plane:
    def __init__(self, tmp: Path, backends: dict[str, str]) -> None:
        self.backends = backends
        self.listen = Listen("127.0.0.1", _free_port(), _free_port())
        self.paths = Paths(tmp / "nginx", tmp / "certs", tmp / "default.pem")
        self.nginx = Nginx(self.paths)
        self.nginx.prepare()
        defaultcert.ensure(self.paths.default_certificate)
        certificate, key = self_signed("secure.test")
        cert = certificate.public_bytes(serialization.Encoding.PEM)
        self.secret = {"metadata": {"name": "tls", "namespace": "default"},
                       "type": "kubernetes.io/tls",
                       "data": {"tls.crt": base64.b64encode(cert).decode(),
                                "tls.key": base64.b64encode(key).decode()}}
        self.cert_pem = cert

    async def apply(self, ingresses: list[Obj], *, ready: bool = True,
                    gateway: tuple[list[Obj], list[Obj], list[Obj]] | None = None) -> None:
        """Serve `ingresses` (and `gateway`'s classes, Gateways and HTTPRoutes)."""
        services = {f"default/{n}": service(n) for n in self.backends}
        slices = {f"default/{n}": [_slice(n, a)] for n, a in self.backends.items()} \
            if ready else {}
        builder = model.Builder(services, slices, {"default/tls": self.secret})
        config = builder.build(ingresses)
        if gateway is not None:
            config.gateway = GatewayBuilder(builder, CONTROLLER).build(*gateway)
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




async def get(plane: Plane, host: str, path: str, **kw: Any) -> tuple[int, str]:
    status, body, _ = await asyncio.to_thread(plane.get, host, path, **kw)
    return status, body
