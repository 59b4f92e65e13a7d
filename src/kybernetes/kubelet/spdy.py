"""SPDY/3.1 framing and the kubelet's side of `kubectl port-forward` over it.

kubectl 1.35 port-forwards through a WebSocket whose subprotocol is
`SPDY/3.1+portforward.k8s.io` (client-go's tunneling dialer, feature PortForwardWebsockets,
on by default): the WebSocket's binary messages carry a SPDY/3.1 byte stream in which kubectl
is the client. For every local connection it opens two streams with the headers
`streamtype` (`error` | `data`), `port` and `requestid`; the server replies to each
(SYN_REPLY), copies bytes between the data stream and the pod's port, writes a message on
the error stream if the port cannot be reached, and half-closes (FIN) both when done, as
upstream's `kubelet/pkg/cri/streaming/portforward/httpstream.go` does.

Only what that exchange uses is implemented (moby/spdystream is the peer): SYN_STREAM,
SYN_REPLY, DATA, RST_STREAM, PING (answered), GOAWAY; SETTINGS, HEADERS and WINDOW_UPDATE
are read and ignored, because spdystream does no flow control. Header blocks are zlib
streams primed with SPDY/3's dictionary, one compression context per direction for the
whole connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

PORT_FORWARD_PROTOCOL = "portforward.k8s.io"
TUNNELING_PREFIX = "SPDY/3.1+"
WEBSOCKET_PROTOCOL = TUNNELING_PREFIX + PORT_FORWARD_PROTOCOL

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = (
    1, 2, 3, 4, 6, 7, 8, 9)
FLAG_FIN = 0x01
RST_PROTOCOL_ERROR = 1
MAX_DATA = (1 << 24) - 1
_READ_SIZE = 32 * 1024

Connect = Callable[[int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]
Send = Callable[[bytes], Awaitable[None]]

# SPDY/3's header compression dictionary (draft 3, section 2.6.10.1).
_DICTIONARY = bytes.fromhex(
    "000000076f7074696f6e73000000046865616400000004706f7374000000037075740000000664656c657465"
    "000000057472616365000000066163636570740000000e6163636570742d636861727365740000000f616363"
    "6570742d656e636f64696e670000000f6163636570742d6c616e67756167650000000d6163636570742d7261"
    "6e6765730000000361676500000005616c6c6f770000000d617574686f72697a6174696f6e0000000d636163"
    "68652d636f6e74726f6c0000000a636f6e6e656374696f6e0000000c636f6e74656e742d6261736500000010"
    "636f6e74656e742d656e636f64696e6700000010636f6e74656e742d6c616e67756167650000000e636f6e74"
    "656e742d6c656e67746800000010636f6e74656e742d6c6f636174696f6e0000000b636f6e74656e742d6d64"
    "350000000d636f6e74656e742d72616e67650000000c636f6e74656e742d7479706500000004646174650000"
    "0004657461670000000665787065637400000007657870697265730000000466726f6d00000004686f737400"
    "00000869662d6d617463680000001169662d6d6f6469666965642d73696e63650000000d69662d6e6f6e652d"
    "6d617463680000000869662d72616e67650000001369662d756e6d6f6469666965642d73696e63650000000d"
    "6c6173742d6d6f646966696564000000086c6f636174696f6e0000000c6d61782d666f727761726473000000"
    "06707261676d610000001270726f78792d61757468656e7469636174650000001370726f78792d617574686f"
    "72697a6174696f6e0000000572616e676500000007726566657265720000000b72657472792d616674657200"
    "00000673657276657200000002746500000007747261696c6572000000117472616e736665722d656e636f64"
    "696e6700000007757067726164650000000a757365722d6167656e7400000004766172790000000376696100"
    "0000077761726e696e67000000107777772d61757468656e746963617465000000066d6574686f6400000003"
    "6765740000000673746174757300000006323030204f4b0000000776657273696f6e00000008485454502f31"
    "2e310000000375726c000000067075626c69630000000a7365742d636f6f6b69650000000a6b6565702d616c"
    "697665000000066f726967696e31303031303132303132303232303532303633303033303233303333303433"
    "3035333036333037343032343035343036343037343038343039343130343131343132343133343134343135"
    "343136343137353032353034353035323033204e6f6e2d417574686f726974617469766520496e666f726d61"
    "74696f6e323034204e6f20436f6e74656e74333031204d6f766564205065726d616e656e746c793430302042"
    "6164205265717565737434303120556e617574686f72697a656434303320466f7262696464656e343034204e"
    "6f7420466f756e6435303020496e7465726e616c20536572766572204572726f72353031204e6f7420496d70"
    "6c656d656e746564353033205365727669636520556e617661696c61626c654a616e20466562204d61722041"
    "7072204d6179204a756e204a756c204175672053657074204f6374204e6f76204465632030303a30303a3030"
    "204d6f6e2c205475652c205765642c205468752c204672692c205361742c2053756e2c20474d546368756e6b"
    "65642c746578742f68746d6c2c696d6167652f706e672c696d6167652f6a70672c696d6167652f6769662c61"
    "70706c69636174696f6e2f786d6c2c6170706c69636174696f6e2f7868746d6c2b786d6c2c746578742f706c"
    "61696e2c746578742f6a6176617363726970742c7075626c6963707269766174656d61782d6167653d677a69"
    "702c6465666c6174652c73646368636861727365743d7574662d38636861727365743d69736f2d383835392d"
    "312c7574662d2c2a2c656e713d302e"
)


class ProtocolError(Exception):
    """The peer sent something that is not SPDY/3."""


@dataclass(frozen=True)
class Frame:
    control: bool
    type: int  # control frame type; 0 for data frames
    flags: int
    stream_id: int  # 0 for control frames without one
    payload: bytes


class FrameReader:
    """Splits a byte stream into frames, whatever the message boundaries were."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        frames: list[Frame] = []
        while len(self._buffer) >= 8:
            first, second = struct.unpack_from(">II", self._buffer)
            length = second & 0xFFFFFF
            if len(self._buffer) < 8 + length:
                break
            payload = bytes(self._buffer[8:8 + length])
            del self._buffer[:8 + length]
            flags = second >> 24
            if first & 0x80000000:
                version, kind = (first >> 16) & 0x7FFF, first & 0xFFFF
                if version != VERSION:
                    raise ProtocolError(f"unsupported SPDY version {version}")
                stream_id = struct.unpack_from(">I", payload)[0] & 0x7FFFFFFF \
                    if kind in (SYN_STREAM, SYN_REPLY, RST_STREAM, HEADERS, WINDOW_UPDATE) \
                    and len(payload) >= 4 else 0
                frames.append(Frame(True, kind, flags, stream_id, payload))
            else:
                frames.append(Frame(False, 0, flags, first & 0x7FFFFFFF, payload))
        return frames


class HeaderCodec:
    """One direction's header compression context each way."""

    def __init__(self) -> None:
        self._inflate = zlib.decompressobj(zdict=_DICTIONARY)
        self._deflate = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zdict=_DICTIONARY)

    def decode(self, block: bytes) -> dict[str, str]:
        raw = self._inflate.decompress(block)
        (count,) = struct.unpack_from(">I", raw)
        offset = 4
        headers: dict[str, str] = {}
        for _ in range(count):
            (size,) = struct.unpack_from(">I", raw, offset)
            name = raw[offset + 4:offset + 4 + size].decode("latin-1").lower()
            offset += 4 + size
            (size,) = struct.unpack_from(">I", raw, offset)
            # Several values are NUL-separated; the first is the one that counts here.
            headers[name] = raw[offset + 4:offset + 4 + size].decode("latin-1").split("\0")[0]
            offset += 4 + size
        return headers

    def encode(self, headers: dict[str, str]) -> bytes:
        raw = struct.pack(">I", len(headers))
        for name, value in headers.items():
            key, text = name.lower().encode("latin-1"), value.encode("latin-1")
            raw += struct.pack(">I", len(key)) + key + struct.pack(">I", len(text)) + text
        return self._deflate.compress(raw) + self._deflate.flush(zlib.Z_SYNC_FLUSH)


def control_frame(kind: int, flags: int, payload: bytes) -> bytes:
    return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(payload)) + payload


def data_frame(stream_id: int, data: bytes, *, fin: bool = False) -> bytes:
    return struct.pack(">II", stream_id & 0x7FFFFFFF,
                       ((FLAG_FIN if fin else 0) << 24) | len(data)) + data


@dataclass
class _Pair:
    """The error and data streams of one forwarded connection (one `requestid`)."""

    port: int
    error: int = 0
    data: int = 0
    writer: asyncio.StreamWriter | None = None
    task: asyncio.Task[None] | None = None
    # Client bytes that arrived before the pod's port was connected.
    early: list[bytes] = field(default_factory=list)
    client_done: bool = False


class PortForwardSession:
    """The server end of one port-forward connection: feed it the client's bytes
    (`run`), and it answers through `send` and `connect`s to the pod's ports."""

    def __init__(self, send: Send, connect: Connect, describe: Callable[[int, str], str]
                 ) -> None:
        self._send_raw = send
        self._connect = connect
        self._describe = describe  # the error message for a port that cannot be reached
        self._codec = HeaderCodec()
        self._lock = asyncio.Lock()
        self._pairs: dict[str, _Pair] = {}
        self._by_stream: dict[int, _Pair] = {}

    async def run(self, incoming: AsyncIterator[bytes]) -> None:
        reader = FrameReader()
        try:
            async for chunk in incoming:
                for frame in reader.feed(chunk):
                    if not await self._handle(frame):
                        return
        except (ProtocolError, zlib.error, struct.error) as err:
            log.info("port-forward session ended: not SPDY/3: %s", err)
        finally:
            for pair in self._pairs.values():
                if pair.task is not None:
                    pair.task.cancel()
                if pair.writer is not None:
                    pair.writer.close()

    async def _send(self, frame: Callable[[], bytes]) -> None:
        # Header blocks share one compression context: compress and send in order.
        async with self._lock:
            await self._send_raw(frame())

    async def _handle(self, frame: Frame) -> bool:
        """Act on one frame; False once the client said GOAWAY."""
        if not frame.control:
            await self._on_data(frame)
        elif frame.type == SYN_STREAM:
            await self._on_syn_stream(frame)
        elif frame.type == RST_STREAM:
            pair = self._by_stream.get(frame.stream_id)
            if pair is not None and pair.writer is not None:
                pair.writer.close()
        elif frame.type == PING:
            await self._send(lambda: control_frame(PING, 0, frame.payload))
        elif frame.type == GOAWAY:
            return False
        return True

    async def _on_syn_stream(self, frame: Frame) -> None:
        headers = self._codec.decode(frame.payload[10:])
        stream_id = frame.stream_id
        await self._send(lambda: control_frame(
            SYN_REPLY, 0, struct.pack(">I", stream_id) + self._codec.encode({})))
        kind, request = headers.get("streamtype", ""), headers.get("requestid", "")
        try:
            port = int(headers.get("port", ""))
        except ValueError:
            port = 0
        if kind not in ("error", "data") or not 0 < port < 65536:
            await self._send(lambda: control_frame(
                RST_STREAM, 0, struct.pack(">II", stream_id, RST_PROTOCOL_ERROR)))
            return
        pair = self._pairs.setdefault(request, _Pair(port))
        setattr(pair, kind, stream_id)
        self._by_stream[stream_id] = pair
        if pair.error and pair.data and pair.task is None:
            pair.task = asyncio.create_task(self._forward(pair))

    async def _on_data(self, frame: Frame) -> None:
        pair = self._by_stream.get(frame.stream_id)
        if pair is None or frame.stream_id != pair.data:
            return  # the client only closes its end of the error stream
        # The pod's side may have closed already: what the client still sends is dropped.
        with contextlib.suppress(ConnectionError, OSError):
            if frame.payload:
                if pair.writer is None:
                    pair.early.append(frame.payload)
                else:
                    pair.writer.write(frame.payload)
                    await pair.writer.drain()
            if frame.flags & FLAG_FIN:
                pair.client_done = True
                if pair.writer is not None and pair.writer.can_write_eof():
                    pair.writer.write_eof()

    async def _forward(self, pair: _Pair) -> None:
        try:
            reader, writer = await self._connect(pair.port)
        except (OSError, ConnectionError) as err:
            message = self._describe(pair.port, str(err)).encode()
            await self._send(lambda: data_frame(pair.error, message))
        else:
            pair.writer = writer
            with contextlib.suppress(ConnectionError, OSError):
                for chunk in pair.early:
                    writer.write(chunk)
                pair.early.clear()
                if pair.client_done and writer.can_write_eof():
                    writer.write_eof()
                while chunk := await reader.read(_READ_SIZE):
                    await self._send(lambda c=chunk: data_frame(pair.data, c))  # type: ignore[misc]
            writer.close()
        await self._send(lambda: data_frame(pair.data, b"", fin=True)
                         + data_frame(pair.error, b"", fin=True))
        # Done with this connection; late frames for its streams are ignored.
        for request, known in list(self._pairs.items()):
            if known is pair:
                del self._pairs[request]
        self._by_stream.pop(pair.data, None)
        self._by_stream.pop(pair.error, None)
