"""The agent's load balancer: connections go to the current server while it answers its
health check (`GET /readyz` over TLS, verified with the cluster CA), to the next one when it
fails a dial or a check (the connections still open to it are closed), back to one that
passes again when every server had failed, and the server list follows the `kubernetes`
endpoints. In-process TLS servers on loopback, with the serving certificate of a test PKI
(127.0.0.1 among its addresses), stand in for the API servers: each answers `GET /readyz`
with a 200, a 500 or not at all, and every other line with its name."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kybernetes.apiserver.pki import Pki, ensure_pki
from kybernetes.cli.agentloadbalancer import LoadBalancer, endpoint_addresses
from kybernetes.client import ClientConfig
from tests.client.helpers import eventually

OK = b"200 OK"
FAILING = b"500 Internal Server Error"
CHECKS = 0.05
# A hung /readyz fails after this; the 500 one long before.
CHECK_TIMEOUT = 0.5


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return ensure_pki(tmp_path_factory.mktemp("pki"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Api:
    """A TLS server: `GET /readyz` gets `readyz` as its status (None: no answer while the
    client stays), any other line its name; `stop` ends it and its connections."""

    def __init__(self, name: bytes) -> None:
        self.name = name
        self.readyz: bytes | None = OK
        self.checks = 0
        self.writers: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None

    @property
    def address(self) -> tuple[str, int]:
        assert self.server is not None
        return "127.0.0.1", int(self.server.sockets[0].getsockname()[1])

    async def answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        with contextlib.suppress(OSError):
            line = await reader.readline()
            if line.startswith(b"GET /readyz "):
                while (await reader.readline()).strip():
                    pass
                self.checks += 1
                if self.readyz is None:
                    await reader.read()  # until the client gives up
                else:
                    writer.write(b"HTTP/1.1 " + self.readyz + b"\r\ncontent-length: 0\r\n"
                                 b"connection: close\r\n\r\n")
                    await writer.drain()
                line = b""
            while line:
                writer.write(self.name + b"\n")
                await writer.drain()
                line = await reader.readline()
        self.writers.discard(writer)
        writer.close()

    def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()


@contextlib.asynccontextmanager
async def _api(name: bytes, pki: Pki) -> AsyncIterator[_Api]:
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(pki.serving_cert, pki.serving_key)
    api = _Api(name)
    api.server = await asyncio.start_server(api.answer, "127.0.0.1", 0, ssl=tls)
    try:
        yield api
    finally:
        api.stop()


@contextlib.asynccontextmanager
async def _balancing(default: tuple[str, int], others: list[tuple[str, int]], pki: Pki, *,
                     checked: bool = True) -> AsyncIterator[LoadBalancer]:
    """A started balancer over `default` and `others`, health-checking them (as a client of
    the balancer holding the cluster CA, anonymous) if `checked`."""
    balancer = LoadBalancer(f"https://{default[0]}:{default[1]}", _free_port(),
                            health_interval=CHECKS, health_timeout=CHECK_TIMEOUT)
    balancer.update(others)
    await balancer.start()
    config = ClientConfig(server=balancer.url, ca_file=str(pki.ca_cert))
    checking = asyncio.create_task(balancer._check_forever(config)) if checked else None
    try:
        yield balancer
    finally:
        if checking is not None:
            checking.cancel()
            await asyncio.gather(checking, return_exceptions=True)
        await balancer.close()


class _Client:
    """A TLS connection through the balancer, verifying the server as the agent's clients
    do (127.0.0.1, the cluster CA)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, balancer: LoadBalancer, ca: Path) -> _Client:
        tls = ssl.create_default_context(cafile=ca)
        return cls(*await asyncio.open_connection("127.0.0.1", balancer.port, ssl=tls,
                                                  server_hostname="127.0.0.1"))

    async def ask(self) -> bytes:
        self.writer.write(b"who\n")
        await self.writer.drain()
        return (await self.reader.readline()).strip()

    async def ended(self) -> bool:
        """Whether the server side closed (a TCP close without TLS's close_notify counts)."""
        try:
            return await self.reader.read() == b""
        except ssl.SSLError:
            return True

    def close(self) -> None:
        self.writer.transport.abort()


async def test_fails_over_when_a_dial_fails_and_follows_the_list(pki: Pki) -> None:
    async with _api(b"one", pki) as one, _api(b"two", pki) as two, \
            _balancing(one.address, [two.address], pki) as balancer:
        client = await _Client.connect(balancer, pki.ca_cert)
        assert await client.ask() == b"one"
        one.stop()
        assert await client.ended()  # the relayed connection ended with it
        client.close()
        client = await _Client.connect(balancer, pki.ca_cert)
        assert await client.ask() == b"two"
        assert balancer.current == two.address
        client.close()


async def test_a_dead_default_server_is_skipped_at_dial(pki: Pki) -> None:
    async with _api(b"two", pki) as two, \
            _balancing(("127.0.0.1", _free_port()), [two.address], pki,
                       checked=False) as balancer:
        client = await _Client.connect(balancer, pki.ca_cert)
        assert await client.ask() == b"two"
        client.close()


@pytest.mark.parametrize("readyz", [FAILING, None], ids=["500", "no-answer"])
async def test_a_server_failing_readyz_is_left_though_it_accepts_tcp(
        pki: Pki, readyz: bytes | None) -> None:
    async with _api(b"one", pki) as one, _api(b"two", pki) as two, \
            _balancing(one.address, [two.address], pki) as balancer:
        client = await _Client.connect(balancer, pki.ca_cert)
        assert await client.ask() == b"one"
        one.readyz = readyz
        assert await client.ended()  # closed by the balancer: one still serves it
        assert one.address in balancer._failed
        assert balancer.current == two.address
        _, tcp = await asyncio.open_connection(*one.address)  # still accepts TCP
        tcp.close()
        client.close()
        client = await _Client.connect(balancer, pki.ca_cert)
        assert await client.ask() == b"two"
        # The healthy one stays, check after check, and so does its connection.
        checks = two.checks
        await eventually(lambda: two.checks >= checks + 3)
        assert await client.ask() == b"two"
        assert balancer.current == two.address
        assert two.address not in balancer._failed
        client.close()


async def test_with_every_server_failing_connections_stay_until_one_passes(pki: Pki) -> None:
    async with _api(b"one", pki) as one, _api(b"two", pki) as two, \
            _balancing(one.address, [two.address], pki) as balancer:
        one.readyz = two.readyz = FAILING
        await eventually(lambda: {one.address, two.address} <= balancer._failed)
        client = await _Client.connect(balancer, pki.ca_cert)
        served = await client.ask()  # a failed server rather than none, as k3s does
        assert served in (b"one", b"two")
        checks = two.checks
        await eventually(lambda: two.checks >= checks + 3)
        assert await client.ask() == served  # kept while no server passes
        back = one if served == b"two" else two
        back.readyz = OK
        assert await client.ended()  # moved to the server that passes again
        assert balancer.current == back.address
        client.close()
        client = await _Client.connect(balancer, pki.ca_cert)
        assert await client.ask() == back.name
        client.close()


def test_endpoint_addresses() -> None:
    assert endpoint_addresses({"subsets": [{
        "addresses": [{"ip": "198.51.100.1"}, {"ip": "198.51.100.2"}],
        "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]}]}) == [
        ("198.51.100.1", 6443), ("198.51.100.2", 6443)]
    assert endpoint_addresses({}) == []
