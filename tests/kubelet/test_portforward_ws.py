"""Port-forward over a plain WebSocket (`v4.channel.k8s.io`, none, or the base64 variant),
as the official Python client speaks it: driven with the `websockets` library against the
kubelet's real HTTPS server, to listeners on loopback and in a network namespace made here.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from kybernetes.api import errors
from kybernetes.apiserver import podproxy
from kybernetes.apiserver.pki import ensure_pki
from kybernetes.kubelet import netnsdial, portforward_ws
from kybernetes.kubelet.portforward_ws import PortsError, negotiate, parse_ports
from kybernetes.kubelet.server import KubeletServer
from tests.kubelet import netns
from tests.kubelet.streamhost import LocalHost

pytestmark = pytest.mark.e2e

V5 = Subprotocol("v5.channel.k8s.io")
V4 = Subprotocol("v4.channel.k8s.io")
V4_BASE64 = Subprotocol("v4.base64.channel.k8s.io")
RUNNING = {"state": {"running": {"startedAt": "2026-11-23T10:00:00Z"}}}

class NetnsHost(LocalHost):
    """Dials ports inside a network namespace, as the kubelet does (`netnsdial`)."""

    netns_path = ""

    async def connect(self, pod: Mapping[str, Any], port: int
                      ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await netnsdial.dial(self.netns_path, port)


@dataclass
class Kubelet:
    host: NetnsHost
    url: str
    ssl: ssl.SSLContext

    @contextlib.asynccontextmanager
    async def ws(self, path: str, protocols: list[Subprotocol] | None
                 ) -> AsyncIterator[ClientConnection]:
        async with connect(self.url + path, ssl=self.ssl, subprotocols=protocols,
                           open_timeout=10) as ws:
            yield ws


@pytest.fixture
async def kubelet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Kubelet]:
    monkeypatch.setattr(portforward_ws, "GRACE", 0.1)
    pki = await asyncio.to_thread(ensure_pki, tmp_path / "pki", ips=["127.0.0.1"])
    host = NetnsHost(tmp_path / "pods")
    host.add_pod("ns", "web", "u1", {"app": RUNNING})
    server = KubeletServer(host)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    task = asyncio.create_task(server.serve(sock, cert_file=pki.serving_cert,
                                            key_file=pki.serving_key))
    context = ssl.create_default_context(cafile=str(pki.ca_cert))
    try:
        yield Kubelet(host, f"wss://127.0.0.1:{sock.getsockname()[1]}", context)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def line_server() -> AsyncIterator[tuple[int, list[bytes]]]:
    """A loopback listener answering each connection's first line upper-cased, then closing;
    yields its port and what each connection received in all."""
    received: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        writer.write(line.upper())
        await writer.drain()
        writer.close()
        received.append(line + await reader.read())

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1], received


async def frames(ws: ClientConnection) -> list[bytes]:
    """Every binary message until the server closes the socket."""
    got: list[bytes] = []
    with contextlib.suppress(ConnectionClosed):
        async for message in ws:
            assert isinstance(message, bytes)
            got.append(message)
    return got


def port_frame(channel: int, port: int) -> bytes:
    return bytes([channel]) + struct.pack("<H", port)


# -- options ---------------------------------------------------------------------------

def test_ports_are_parsed_as_upstream() -> None:
    assert parse_ports(["80,1234", "443"]) == [80, 1234, 443]
    for values, message in [
        ([], 'query parameter "port" is required'),
        ([""], 'query parameter "port" cannot be empty'),
        (["80,x"], 'unable to parse "80,x" as a port: strconv.ParseUint: parsing "x": '
                   "invalid syntax"),
        (["70000"], 'unable to parse "70000" as a port: strconv.ParseUint: parsing "70000": '
                    "value out of range"),
        (["0"], 'port "0" must be > 0'),
    ]:
        with pytest.raises(PortsError) as refused:
            parse_ports(values)
        assert str(refused.value) == message


def test_subprotocols_are_upstreams_in_the_clients_order() -> None:
    assert negotiate([V5, V4]) == V4  # what the Python client offers
    assert negotiate([V4_BASE64, V4]) == V4_BASE64
    assert negotiate([]) == ""
    assert negotiate([V5, "portforward.k8s.io"]) is None


def test_the_api_server_passes_ports_on_as_the_kubelets_port() -> None:
    assert podproxy.stream_query("portforward", {"ports": ["80,081", "443"]}) == \
        "port=80%2C81%2C443"
    with pytest.raises(errors.StatusError) as refused:
        podproxy.stream_query("portforward", {"ports": ["http"]})
    assert (refused.value.code, refused.value.message) == (
        400, 'cannot convert to []int32: strconv.ParseUint: parsing "http": invalid syntax')


# -- sessions --------------------------------------------------------------------------

async def test_v4_forwards_each_port_on_its_channel_pair(kubelet: Kubelet) -> None:
    async with line_server() as (first, got_first), line_server() as (second, got_second), \
            kubelet.ws(f"/portForward/ns/web?port={first},{second}", [V5, V4]) as ws:
        assert ws.subprotocol == V4
        opening = [await ws.recv() for _ in range(4)]
        assert opening == [port_frame(0, first), port_frame(1, first),
                           port_frame(2, second), port_frame(3, second)]
        await ws.send(b"\x02second\n")
        await ws.send(b"\x00fir")
        await ws.send(b"\x00st\n")
        await ws.send(b"\x01ignored: the error channel is the server's\n")
        rest = await frames(ws)
    assert sorted(rest) == [b"\x00FIRST\n", b"\x02SECOND\n"]
    assert got_first == [b"first\n"] and got_second == [b"second\n"]


async def test_no_subprotocol_is_binary_too(kubelet: Kubelet) -> None:
    async with line_server() as (port, _), \
            kubelet.ws(f"/portForward/ns/web?port={port}", None) as ws:
        assert ws.subprotocol is None
        assert [await ws.recv(), await ws.recv()] == [port_frame(0, port), port_frame(1, port)]
        await ws.send(b"\x00hello\n")
        assert await frames(ws) == [b"\x00HELLO\n"]


async def test_base64_variant_uses_text_and_digit_channels(kubelet: Kubelet) -> None:
    async with line_server() as (port, _), \
            kubelet.ws(f"/portForward/ns/web?port={port}", [V4_BASE64]) as ws:
        assert ws.subprotocol == V4_BASE64
        number = base64.b64encode(struct.pack("<H", port)).decode()
        assert [await ws.recv(), await ws.recv()] == ["0" + number, "1" + number]
        await ws.send("0" + base64.b64encode(b"hello\n").decode())
        answer = await ws.recv()
        assert isinstance(answer, str) and answer[0] == "0"
        assert base64.b64decode(answer[1:]) == b"HELLO\n"


async def test_an_unreachable_port_is_reported_on_its_error_channel(kubelet: Kubelet) -> None:
    async with line_server() as (port, _):
        pass  # closed: nothing listens there any more
    async with kubelet.ws(f"/portForward/ns/web?port={port}", [V4]) as ws:
        got = await frames(ws)
    assert got[:2] == [port_frame(0, port), port_frame(1, port)]
    assert len(got) == 3 and got[2][0] == 1
    message = got[2][1:].decode()
    assert message.startswith(f"error forwarding port {port} to pod web, uid u1: ")
    assert "[Errno 111]" in message  # ECONNREFUSED


async def test_the_client_leaving_closes_the_pods_connection(kubelet: Kubelet) -> None:
    async with line_server() as (port, received):
        async with kubelet.ws(f"/portForward/ns/web?port={port}", [V4]) as ws:
            await ws.recv()
            await ws.recv()
            await ws.send(b"\x00partial line, no newline")
            await asyncio.sleep(0.2)
        for _ in range(100):
            if received:
                break
            await asyncio.sleep(0.05)
    assert received == [b"partial line, no newline"]


@pytest.mark.parametrize(("query", "protocols", "code", "message"), [
    ("", [V4], 400, 'query parameter "port" is required'),
    ("?port=", [V4], 400, 'query parameter "port" cannot be empty'),
    ("?port=0", [V4], 400, 'port "0" must be > 0'),
    ("?port=80,http", [V4], 400, 'unable to parse "80,http" as a port'),
    ("?port=80", [V5], 403, "requested protocol(s) are not supported: [v5.channel.k8s.io]"),
])
async def test_refusals_are_http_answers(kubelet: Kubelet, query: str,
                                         protocols: list[Subprotocol], code: int,
                                         message: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with kubelet.ws(f"/portForward/ns/web{query}", protocols):
            pass
    assert refused.value.response.status_code == code
    assert refused.value.response.body is not None
    assert refused.value.response.body.decode().startswith(message)


# -- into a pod's network namespace ----------------------------------------------------

@pytest.fixture
def pod_netns() -> Iterator[tuple[netns.NetNS, int]]:
    """A namespace with a one-shot echo server on its 127.0.0.1, and the server's port."""
    why = netns.available()
    if why:
        pytest.skip(why)
    with netns.with_echo_server("kyb-pfws") as pod:
        yield pod


async def test_ports_are_dialled_inside_the_pods_namespace(
        kubelet: Kubelet, pod_netns: tuple[netns.NetNS, int]) -> None:
    ns, port = pod_netns
    kubelet.host.netns_path = ns.path
    async with kubelet.ws(f"/portForward/ns/web?port={port}", [V5, V4]) as ws:
        assert [await ws.recv(), await ws.recv()] == [port_frame(0, port), port_frame(1, port)]
        await ws.send(b"\x00inside the pod")
        assert await frames(ws) == [b"\x00INSIDE THE POD"]
