"""A component's secure port: the controller manager's (upstream: 10257) and the scheduler's
(10259), serving `/metrics` from the Prometheus registries it records on, and `/healthz`,
`/livez`, `/readyz`.

As upstream's `SecureServing` on `--bind-address`/`--secure-port`: HTTPS with a serving
certificate made in memory at start when none is given (`MaybeDefaultWithSelfSignedCerts`
for `localhost` and 127.0.0.1: a CA of its own signing it), and every request through the
delegating filters (client/delegatedauth.py) with the component's own client. A client
certificate must chain to the client CA published in
`kube-system/extension-apiserver-authentication` (re-read every minute, as upstream's
dynamic CA controller does: new connections verify against the newest), a bearer token is
reviewed by the API server, and a caller needs `get` on the path by RBAC
(`system:monitoring` grants the scrape); a caller without credentials is
`system:anonymous`. `/healthz`, `/readyz` and `/livez` are always allowed.

When the address is taken (several `kyb server`s on one host) the component runs on without
the port, with a warning.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import logging
import ssl
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from prometheus_client import CollectorRegistry, generate_latest

from kybernetes.client import ApiClient, ClientError
from kybernetes.client.delegatedauth import DelegatingAuth, client_ca
from kybernetes.client.plainhttp import Request, Response, one_request_handler

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
CLIENT_CA_PERIOD = 60.0
CLIENT_CA_RETRY = 10.0


def split_address(address: str, default_port: int) -> tuple[str, int]:
    """`HOST:PORT` (or `HOST`, `[V6]:PORT`) into host and port."""
    host, sep, port = address.rpartition(":")
    if not sep or "]" in port:
        return address.strip("[]"), default_port
    return host.strip("[]"), int(port)


def self_signed(host: str = "localhost", ips: tuple[str, ...] = ("127.0.0.1",)
                ) -> tuple[bytes, bytes]:
    """A serving certificate for `host` and `ips` signed by a CA of its own, as upstream's
    `GenerateSelfSignedCertKeyWithFixtures`: the chain (certificate, then CA) and the key,
    PEM; valid from an hour ago for a year."""
    now = datetime.datetime.now(datetime.UTC)
    stamp = int(now.timestamp())
    start, end = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=365)

    def name(common_name: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = (x509.CertificateBuilder().subject_name(name(f"{host}-ca@{stamp}"))
          .issuer_name(name(f"{host}-ca@{stamp}")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(True, False, True, False, False, True, False, False,
                                       False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    names: list[x509.GeneralName] = [x509.DNSName(host)]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    cert = (x509.CertificateBuilder().subject_name(name(f"{host}@{stamp}"))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False,
                                         False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .sign(ca_key, hashes.SHA256()))
    chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (cert, ca))
    return chain, key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())


def server_context(chain: bytes, key: bytes, client_ca_pem: str | None) -> ssl.SSLContext:
    """Serving `chain`/`key`, asking for client certificates, which must chain to
    `client_ca_pem` (with none, a presented certificate fails the handshake)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    with tempfile.TemporaryDirectory(prefix="kyb-serving-") as directory:
        cert_file, key_file = Path(directory) / "tls.crt", Path(directory) / "tls.key"
        cert_file.write_bytes(chain)
        key_file.write_bytes(key)
        context.load_cert_chain(cert_file, key_file)
    context.verify_mode = ssl.CERT_OPTIONAL
    if client_ca_pem:
        context.load_verify_locations(cadata=client_ca_pem)
    return context


class ServingTls:
    """The listener's TLS: each handshake switches (in the SNI callback, which OpenSSL
    calls with or without a server name) to the context holding the newest client CA."""

    def __init__(self, chain: bytes, key: bytes) -> None:
        self.chain, self.key = chain, key
        self.listener = server_context(chain, key, None)
        self.current = self.listener
        self.listener.sni_callback = self._switch

    def _switch(self, connection: ssl.SSLObject, _name: str | None,
                _context: ssl.SSLContext) -> None:
        connection.context = self.current

    def use_client_ca(self, pem: str | None) -> None:
        self.current = server_context(self.chain, self.key, pem)


async def follow_client_ca(name: str, client: ApiClient, tls: ServingTls) -> None:
    """Keep `tls` on the client CA the API server publishes, until cancelled."""
    known: str | None = None
    while True:
        try:
            pem = await client_ca(client)
        except ClientError as err:
            log.warning("%s: unable to get configmap/extension-apiserver-authentication in "
                        "kube-system (client certificates are refused until then): %s",
                        name, err)
            await asyncio.sleep(CLIENT_CA_RETRY)
            continue
        if pem != known:
            try:
                tls.use_client_ca(pem)
            except ssl.SSLError as err:
                log.warning("%s: the published client CA is not usable: %s", name, err)
            known = pem
        await asyncio.sleep(CLIENT_CA_PERIOD)


def routes(registries: Callable[[], list[CollectorRegistry]]
           ) -> dict[str, Callable[[], Response]]:
    def metrics() -> Response:
        return 200, CONTENT_TYPE, "".join(generate_latest(r).decode() for r in registries())

    def healthz() -> Response:
        return 200, "text/plain; charset=utf-8", "ok"

    return {"/metrics": metrics, "/healthz": healthz, "/livez": healthz, "/readyz": healthz}


def handler(auth: DelegatingAuth, paths: dict[str, Callable[[], Response]]
            ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    """One request a connection: authenticated, authorized, then answered."""
    async def answer(request: Request) -> Response:
        refusal = await auth.refusal(request.certificate, request.headers, request.method,
                                     request.path)
        if refusal is not None:
            return refusal.status, refusal.content_type, refusal.message
        route = paths.get(request.path)
        if route is None:
            return 404, "text/plain; charset=utf-8", "404 page not found\n"
        if request.method not in ("GET", "HEAD"):
            return 405, "text/plain; charset=utf-8", "method not allowed\n"
        return route()

    return one_request_handler(answer, [("X-Content-Type-Options", "nosniff")])


@contextlib.asynccontextmanager
async def serving(name: str, address: str, default_port: int,
                  registries: Callable[[], list[CollectorRegistry]],
                  client: ApiClient) -> AsyncIterator[None]:
    """Serve the port (unless `address` is ''), authorizing through `client`, while the
    body runs."""
    if not address:
        yield
        return
    host, port = split_address(address, default_port)
    auth = DelegatingAuth.through(client)

    async def serve() -> None:
        tls = ServingTls(*await asyncio.to_thread(self_signed))
        try:
            server = await asyncio.start_server(handler(auth, routes(registries)),
                                                host or None, port, ssl=tls.listener,
                                                reuse_address=True)
        except OSError as err:
            log.warning("%s: not serving /metrics on %s: %s", name, address, err)
            return
        async with server:
            await asyncio.gather(server.serve_forever(), follow_client_ca(name, client, tls))

    task = asyncio.create_task(serve(), name=f"{name}-metrics")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
