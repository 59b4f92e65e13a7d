"""The kubelet's HTTPS server: logs, exec, attach and port-forward as the API server
proxies them, over real TLS and WebSockets, with local processes standing for containers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from kybernetes.apiserver.pki import ensure_pki
from kybernetes.apiserver.podproxy import open_websocket
from kybernetes.kubelet import spdy
from kybernetes.kubelet.logs import STDERR, STDOUT
from kybernetes.kubelet.server import KubeletServer
from tests.kubelet.streamhost import LocalHost

pytestmark = pytest.mark.e2e

V5 = Subprotocol("v5.channel.k8s.io")
RUNNING = {"state": {"running": {"startedAt": "2026-11-23T10:00:00Z"}}}


@dataclass
class Kubelet:
    host: LocalHost
    url: str
    ssl: ssl.SSLContext

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, verify=self.ssl, timeout=10)

    @contextlib.asynccontextmanager
    async def ws(self, path: str, protocols: list[Subprotocol] | None = None
                 ) -> AsyncIterator[ClientConnection]:
        """As the API server dials the kubelet (which also takes `SPDY/3.1+...`)."""
        ws = await open_websocket(self.url.replace("https", "wss") + path, protocols or [V5],
                                  self.ssl)
        try:
            yield ws
        finally:
            await ws.close()


@pytest.fixture
async def kubelet(tmp_path: Path) -> AsyncIterator[Kubelet]:
    pki = await asyncio.to_thread(ensure_pki, tmp_path / "pki", ips=["127.0.0.1"])
    host = LocalHost(tmp_path / "pods")
    server = KubeletServer(host, log_poll_interval=0.01)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    task = asyncio.create_task(server.serve(sock, cert_file=pki.serving_cert,
                                            key_file=pki.serving_key))
    context = ssl.create_default_context(cafile=str(pki.ca_cert))
    try:
        yield Kubelet(host, f"https://127.0.0.1:{sock.getsockname()[1]}", context)
    finally:
        host.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _session(ws: ClientConnection) -> tuple[bytes, bytes, dict[str, Any]]:
    """stdout, stderr and the final Status of an exec/attach session."""
    out, err, status = b"", b"", {}
    async for message in ws:
        assert isinstance(message, bytes)
        channel, data = message[0], message[1:]
        if channel == 1:
            out += data
        elif channel == 2:
            err += data
        elif channel == 3:
            status = json.loads(data)
    return out, err, status


# -- logs ------------------------------------------------------------------------------

async def test_logs_honour_tail_and_timestamps(kubelet: Kubelet) -> None:
    kubelet.host.add_pod("ns", "web", "u1", {"app": RUNNING})
    log = kubelet.host.writer("ns", "web", "app", 0)
    log.write(STDOUT, b"one\ntwo\n")
    log.write(STDERR, b"three\n")
    async with kubelet.http() as client:
        whole = await client.get("/containerLogs/ns/web/app")
        assert (whole.status_code, whole.text) == (200, "one\ntwo\nthree\n")
        tail = await client.get("/containerLogs/ns/web/app",
                                params={"tailLines": "1", "timestamps": "true"})
        stamp, line = tail.text.split(" ", 1)
        assert line == "three\n" and stamp.endswith("Z") and len(stamp) == 30


async def test_previous_reads_the_terminated_instance(kubelet: Kubelet) -> None:
    kubelet.host.add_pod("ns", "web", "u1", {"app": {
        **RUNNING, "restartCount": 1,
        "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}})
    kubelet.host.writer("ns", "web", "app", 0).write(STDOUT, b"first life\n")
    kubelet.host.writer("ns", "web", "app", 1).write(STDOUT, b"second life\n")
    async with kubelet.http() as client:
        assert (await client.get("/containerLogs/ns/web/app")).text == "second life\n"
        previous = await client.get("/containerLogs/ns/web/app", params={"previous": "true"})
        assert previous.text == "first life\n"


@pytest.mark.parametrize(("status", "query", "code", "message"), [
    ({"state": {"waiting": {"reason": "ContainerCreating"}}}, {}, 400,
     'container "app" in pod "web" is waiting to start: ContainerCreating'),
    ({"state": {"waiting": {"reason": "ErrImagePull"}}}, {}, 400,
     'container "app" in pod "web" is waiting to start: image can\'t be pulled'),
    (RUNNING, {"previous": "true"}, 400,
     'previous terminated container "app" in pod "web" not found'),
])
async def test_logs_say_why_there_are_none(kubelet: Kubelet, status: dict[str, Any],
                                           query: dict[str, str], code: int,
                                           message: str) -> None:
    kubelet.host.add_pod("ns", "web", "u1", {"app": status})
    async with kubelet.http() as client:
        response = await client.get("/containerLogs/ns/web/app", params=query)
    assert (response.status_code, response.text) == (code, message)


async def test_logs_of_unknown_pods_and_containers(kubelet: Kubelet) -> None:
    kubelet.host.add_pod("ns", "web", "u1", {"app": RUNNING})
    async with kubelet.http() as client:
        missing = await client.get("/containerLogs/ns/nope/app")
        assert missing.status_code == 404
        assert missing.text == 'pod "nope" does not exist'
        other = await client.get("/containerLogs/ns/web/other")
        assert (other.status_code, other.text) == (
            404, 'container "other" not found in pod "web"')
        kubelet.host.pods[("ns", "web")]["spec"]["containers"].append({"name": "late"})
        late = await client.get("/containerLogs/ns/web/late")
        assert (late.status_code, late.text) == (
            400, 'container "late" in pod "web" is not available')
        bad = await client.get("/containerLogs/ns/web/app", params={"tailLines": "x"})
        assert bad.status_code == 400


async def test_follow_streams_until_the_container_exits(kubelet: Kubelet) -> None:
    kubelet.host.add_pod("ns", "web", "u1", {"app": RUNNING})
    log = kubelet.host.writer("ns", "web", "app", 0)
    log.write(STDOUT, b"hello\n")
    async with kubelet.http() as client, client.stream(
            "GET", "/containerLogs/ns/web/app", params={"follow": "true"}) as response:
        chunks = response.aiter_bytes()
        assert await anext(chunks) == b"hello\n"
        log.write(STDOUT, b"goodbye\n")
        assert await anext(chunks) == b"goodbye\n"
        kubelet.host.running.clear()
        assert [chunk async for chunk in chunks] == []


# -- exec and attach -------------------------------------------------------------------

async def test_exec_separates_streams_and_reports_the_exit_code(kubelet: Kubelet) -> None:
    kubelet.host.add_pod("ns", "web", "u1", {"app": RUNNING})
    query = "command=sh&command=-c&command=echo+out%3B+echo+err+>%262%3B+exit+3" \
            "&output=1&error=1"
    async with kubelet.ws(f"/exec/ns/web/app?{query}") as ws:
        assert ws.subprotocol == V5
        out, err, status = await _session(ws)
    assert (out, err) == (b"out\n", b"err\n")
    assert status["status"] == "Failure"
    assert status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]


async def test_exec_stdin_until_closed(kubelet: Kubelet) -> None:
    kubelet.host.add_pod("ns", "web", "u1", {"app": RUNNING})
    async with kubelet.ws("/exec/ns/web/app?command=cat&input=1&output=1&error=1") as ws:
        await ws.send(b"\x00hello ")
        await ws.send(b"\x00world")
        await ws.send(b"\xff\x00")  # v5: close stdin
        out, err, status = await _session(ws)
    assert (out, err, status) == (b"hello world", b"", {"metadata": {}, "status": "Success"})


async def test_exec_tty_applies_resize_before_input(kubelet: Kubelet) -> None:
    kubelet.host.add_pod("ns", "web", "u1", {"app": RUNNING})
    query = "command=sh&command=-c&command=read+x%3B+stty+size&input=1&output=1&tty=1"
    async with kubelet.ws(f"/exec/ns/web/app?{query}") as ws:
        await ws.send(b"\x04" + json.dumps({"Width": 100, "Height": 30}).encode())
        await ws.send(b"\x00go\n")
        out, _err, status = await _session(ws)
    assert out.replace(b"\r", b"").endswith(b"30 100\n"), out
    assert status["status"] == "Success"


async def test_exec_failures_to_start_are_internal_errors(kubelet: Kubelet) -> None:
    kubelet.host.add_pod("ns", "web", "u1", {"app": RUNNING})
    async with kubelet.ws("/exec/ns/web/app?command=/no/such/binary&output=1") as ws:
        _, _, status = await _session(ws)
    assert status["reason"] == "InternalError"
    assert "error executing command in container" in status["message"]


@pytest.mark.parametrize(("path", "protocols", "code", "message"), [
    ("/exec/ns/web/app?command=true&output=1", [V5], 404, 'container not found ("app")'),
    ("/exec/ns/gone/app?command=true&output=1", [V5], 404, "pod does not exist"),
    ("/exec/ns/web/app?command=true&output=1", [Subprotocol("channel.k8s.io")], 400,
     "unable to upgrade: none of the requested protocols"),
])
async def test_exec_refusals_are_http_answers(kubelet: Kubelet, path: str,
                                              protocols: list[Subprotocol], code: int,
                                              message: str) -> None:
    kubelet.host.add_pod("ns", "web", "u1", {"app": {"state": {"waiting": {
        "reason": "ContainerCreating"}}}})
    with pytest.raises(InvalidStatus) as refused:
        async with kubelet.ws(path, protocols):
            pass
    assert refused.value.response.status_code == code
    assert refused.value.response.body.decode().startswith(message)


async def test_attach_joins_the_main_process_and_leaves_it_running(kubelet: Kubelet) -> None:
    kubelet.host.add_pod("ns", "web", "u1", {"app": RUNNING})
    kubelet.host.main_commands["app"] = ["sh", "-c", "while read l; do echo got $l; done"]
    async with kubelet.ws("/attach/ns/web/app?input=1&output=1&error=1") as ws:
        await ws.send(b"\x00one\n")
        message = await ws.recv()
        assert message == b"\x01got one\n"
    # Detaching did not stop it: a second attach talks to the same process.
    async with kubelet.ws("/attach/ns/web/app?input=1&output=1&error=1") as ws:
        await ws.send(b"\x00two\n")
        assert await ws.recv() == b"\x01got two\n"
        await ws.send(b"\xff\x00")
        _out, _, status = await _session(ws)
    assert status["status"] == "Success"


# -- port-forward ----------------------------------------------------------------------

class SpdyClient:
    """kubectl's side of a tunnelled port-forward, enough to drive the server."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.codec = spdy.HeaderCodec()
        self.reader = spdy.FrameReader()
        self.next_id = 1
        self.frames: list[spdy.Frame] = []

    async def open(self, kind: str, port: int, request: int) -> int:
        stream_id, self.next_id = self.next_id, self.next_id + 2
        block = self.codec.encode({"streamtype": kind, "port": str(port),
                                   "requestid": str(request)})
        await self.ws.send(spdy.control_frame(
            spdy.SYN_STREAM, 0, struct.pack(">IIH", stream_id, 0, 0) + block))
        return stream_id

    async def next_frame(self) -> spdy.Frame:
        while not self.frames:
            message = await self.ws.recv()
            assert isinstance(message, bytes)
            self.frames += self.reader.feed(message)
        return self.frames.pop(0)

    async def read_stream(self, stream_id: int) -> bytes:
        """A stream's data up to its FIN (other streams' frames are kept aside)."""
        data, aside = b"", []
        while True:
            frame = await self.next_frame()
            if frame.control or frame.stream_id != stream_id:
                aside.append(frame)
                continue
            data += frame.payload
            if frame.flags & spdy.FLAG_FIN:
                self.frames = aside + self.frames
                return data


async def _echo_server() -> tuple[asyncio.Server, int]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write((await reader.read()).upper())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_port_forward_tunnels_spdy_streams_to_the_pod_port(kubelet: Kubelet) -> None:
    kubelet.host.add_pod("ns", "web", "u1", {"app": RUNNING})
    server, port = await _echo_server()
    async with server, kubelet.ws("/portForward/ns/web",
                                  [Subprotocol(spdy.WEBSOCKET_PROTOCOL)]) as ws:
        assert ws.subprotocol == spdy.WEBSOCKET_PROTOCOL
        client = SpdyClient(ws)
        error = await client.open("error", port, 0)
        data = await client.open("data", port, 0)
        await ws.send(spdy.data_frame(data, b"ping over spdy"))
        await ws.send(spdy.data_frame(data, b"", fin=True))
        await ws.send(spdy.control_frame(spdy.PING, 0, struct.pack(">I", 7)))
        assert await client.read_stream(data) == b"PING OVER SPDY"
        assert await client.read_stream(error) == b""
        kinds = [f.type for f in client.frames]
        assert kinds.count(spdy.SYN_REPLY) == 2 and spdy.PING in kinds


async def test_port_forward_reports_an_unreachable_port(kubelet: Kubelet) -> None:
    kubelet.host.add_pod("ns", "web", "u1", {"app": RUNNING})
    server, port = await _echo_server()
    server.close()
    await server.wait_closed()
    async with kubelet.ws("/portForward/ns/web", [Subprotocol(spdy.WEBSOCKET_PROTOCOL)]) as ws:
        client = SpdyClient(ws)
        error = await client.open("error", port, 5)
        await client.open("data", port, 5)
        message = (await client.read_stream(error)).decode()
    assert message.startswith(f"error forwarding port {port} to pod web, uid u1: ")
