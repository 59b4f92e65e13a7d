"""Port-forward over a plain WebSocket: the channel protocol the official clients speak.

Upstream's kubelet serves this beside SPDY (`pkg/kubelet/cri/streaming/portforward/
websocket.go`), and libraries such as the Python client's `kubernetes.stream.portforward`
use it. The ports come from the query (`port=80,1234`; the API server turns `ports` into
it), all at once; the subprotocols are upstream's: `v4.channel.k8s.io` (binary), none at
all (binary too) and `v4.base64.channel.k8s.io` (text messages: the channel as an ASCII
digit, then the payload in base64), chosen in the client's order.

Port i has the data channel 2i and the error channel 2i+1. Each message is the channel byte
and a payload; the first message on each channel is the port number (uint16, little
endian). Bytes on a data channel go to a TCP connection to that port in the pod; what the
pod answers comes back on it. A connection that cannot be made or fails has its error
written on the error channel as text. The protocol has no per-channel close: a port is done
once the pod's side ends (after upstream runtimes' one-second grace for the client's last
bytes) and the socket closes when every port is done, or when the client leaves.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kybernetes.kubelet.runtime.cri import CRIError
from kybernetes.kubelet.spdy import Connect
from kybernetes.kubelet.streaming import WebSocket

V4_BINARY = "v4.channel.k8s.io"
V4_BASE64 = "v4.base64.channel.k8s.io"
PROTOCOLS = ("", V4_BINARY, V4_BASE64)  # "": the client offered none
PORT_PARAM = "port"  # upstream's `api.PortHeader`
GRACE = 1.0  # seconds the client's side may still send after the pod's side ended
_READ_SIZE = 32 * 1024


class PortsError(ValueError):
    """The query's ports are missing or malformed (upstream's message)."""


def _go_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_ports(values: Sequence[str]) -> list[int]:
    """The ports of the `port` query parameters, as upstream's `NewV4Options` reads them."""
    if not values:
        raise PortsError(f"query parameter {_go_quote(PORT_PARAM)} is required")
    ports: list[int] = []
    for value in values:
        if not value:
            raise PortsError(f"query parameter {_go_quote(PORT_PARAM)} cannot be empty")
        for part in value.split(","):
            if not part.isascii() or not part.isdigit():
                raise PortsError(f"unable to parse {_go_quote(value)} as a port: "
                                 f"strconv.ParseUint: parsing {_go_quote(part)}: invalid syntax")
            port = int(part)
            if port > 0xFFFF:
                raise PortsError(f"unable to parse {_go_quote(value)} as a port: "
                                 f"strconv.ParseUint: parsing {_go_quote(part)}: value out of "
                                 "range")
            if port < 1:
                raise PortsError(f"port {_go_quote(value)} must be > 0")
            ports.append(port)
    return ports


def negotiate(offered: Sequence[str]) -> str | None:
    """The first offered subprotocol this serves ("" when none was offered), else None."""
    return next((p for p in offered or [""] if p in PROTOCOLS), None)


@dataclass
class _Port:
    number: int
    data_channel: int
    writer: asyncio.StreamWriter | None = None
    # Client bytes that arrived before the pod's port was connected.
    early: list[bytes] = field(default_factory=list)
    done: bool = False

    @property
    def error_channel(self) -> int:
        return self.data_channel + 1


class PortForwardWebSocket:
    """One accepted port-forward socket: `run` serves it until it is over."""

    def __init__(self, ws: WebSocket, protocol: str, ports: Sequence[int], connect: Connect,
                 describe: Callable[[int, str], str]) -> None:
        self._ws = ws
        self._base64 = protocol == V4_BASE64
        self._ports = [_Port(number, 2 * i) for i, number in enumerate(ports)]
        self._connect = connect
        self._describe = describe  # the error message for a port that cannot be reached

    async def run(self) -> None:
        for port in self._ports:
            number = struct.pack("<H", port.number)
            await self._send(port.data_channel, number)
            await self._send(port.error_channel, number)
        forwards: asyncio.Future[list[None]] = asyncio.gather(
            *(self._forward(p) for p in self._ports))
        client = asyncio.create_task(self._from_client())
        either: list[asyncio.Future[Any]] = [forwards, client]
        try:
            done, _ = await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            for finished in done:
                finished.result()  # an unexpected failure is not swallowed
        finally:
            client.cancel()
            forwards.cancel()
            await asyncio.gather(forwards, client, return_exceptions=True)
            for port in self._ports:
                if port.writer is not None:
                    port.writer.close()
            await self._ws.close()

    async def _send(self, channel: int, data: bytes) -> None:
        # A client that went away ends the session through `_from_client`.
        with contextlib.suppress(OSError):
            if self._base64:
                await self._ws.send_text(chr(ord("0") + channel)
                                         + base64.b64encode(data).decode("ascii"))
            else:
                await self._ws.send_bytes(bytes([channel]) + data)

    async def _from_client(self) -> None:
        async for message in self._ws.messages():
            if not message:
                continue
            channel, data = message[0], message[1:]
            if self._base64:
                channel -= ord("0")
                try:
                    data = base64.b64decode(data, validate=True)
                except binascii.Error:
                    continue  # upstream drops a frame it cannot decode
            # Error channels are the server's to write; unknown channels are ignored.
            if channel < 0 or channel % 2 or channel // 2 >= len(self._ports):
                continue
            await self._to_pod(self._ports[channel // 2], data)

    async def _to_pod(self, port: _Port, data: bytes) -> None:
        if port.done or not data:
            return
        if port.writer is None:
            port.early.append(data)
            return
        # A pod that closed its side drops what the client still sends.
        with contextlib.suppress(ConnectionError, OSError):
            port.writer.write(data)
            await port.writer.drain()

    async def _forward(self, port: _Port) -> None:
        try:
            reader, writer = await self._connect(port.number)
        except (OSError, CRIError) as err:  # unreachable, or no sandbox to dial into
            port.done = True
            await self._send(port.error_channel, self._describe(port.number, str(err)).encode())
            return
        try:
            for chunk in port.early:
                writer.write(chunk)
            port.early.clear()
            port.writer = writer
            await writer.drain()
            while chunk := await reader.read(_READ_SIZE):
                await self._send(port.data_channel, chunk)
            await asyncio.sleep(GRACE)
        except OSError as err:
            await self._send(port.error_channel, self._describe(port.number, str(err)).encode())
        finally:
            port.done = True
            writer.close()
