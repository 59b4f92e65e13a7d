"""The kubelet's streaming protocols over an ASGI WebSocket: exec/attach channels and the
port-forward tunnel.

exec and attach speak the channel protocol of `apimachinery/pkg/util/remotecommand`
(`v5.channel.k8s.io`, else `v4.channel.k8s.io`): every binary message starts with its
channel byte: 0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize (JSON `{"Width","Height"}`);
in v5 the client sends `[255, 0]` to close stdin. When the process ends, its output is
drained and the error channel carries a `metav1.Status`: `Success`, or `Failure` with
reason `NonZeroExitCode` and the code in `details.causes[{reason: ExitCode}]`, as
`kubelet/pkg/cri/streaming/remotecommand/httpstream.go` writes it; then the socket closes.

Port-forward is SPDY tunnelled through the WebSocket (`spdy.PortForwardSession`), or
upstream's plain channel protocol (`portforward_ws`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.datastructures import Headers
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from kybernetes.kubelet.runtime.cri import CRIError, ExecProcess
from kybernetes.kubelet.spdy import WEBSOCKET_PROTOCOL, Connect, PortForwardSession

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
STREAM_PROTOCOLS = (V5, V4)
PORT_FORWARD_PROTOCOLS = (WEBSOCKET_PROTOCOL,)
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
NON_ZERO_EXIT_CODE = "NonZeroExitCode"
EXIT_CODE_CAUSE = "ExitCode"

Message = dict[str, Any]


class WebSocket:
    """The few ASGI WebSocket operations the protocols need."""

    def __init__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[Message]],
                 send: Callable[[Message], Awaitable[None]]) -> None:
        self.offered: list[str] = list(scope.get("subprotocols") or [])
        self._receive = receive
        self._send = send
        self._lock = asyncio.Lock()
        self.closed = False

    async def connected(self) -> bool:
        message = await self._receive()
        return bool(message["type"] == "websocket.connect")

    async def accept(self, subprotocol: str) -> None:
        await self._send({"type": "websocket.accept", "subprotocol": subprotocol})

    async def deny(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        """Refuse the upgrade with a plain HTTP answer (the client sees why)."""
        await self._send({"type": "websocket.http.response.start", "status": status,
                          "headers": [(b"content-type", content_type.encode())]})
        await self._send({"type": "websocket.http.response.body", "body": body})

    async def send_bytes(self, data: bytes) -> None:
        async with self._lock:
            if not self.closed:
                await self._send({"type": "websocket.send", "bytes": data})

    async def send_text(self, text: str) -> None:
        async with self._lock:
            if not self.closed:
                await self._send({"type": "websocket.send", "text": text})

    async def messages(self) -> AsyncIterator[bytes]:
        """The client's messages until it disconnects (text ones as UTF-8)."""
        while True:
            message = await self._receive()
            if message["type"] == "websocket.disconnect":
                self.closed = True
                return
            if message["type"] == "websocket.receive":
                data = message.get("bytes")
                yield data if data is not None else str(message.get("text", "")).encode()

    async def close(self, code: int = 1000) -> None:
        async with self._lock:
            if not self.closed:
                self.closed = True
                with contextlib.suppress(Exception):
                    await self._send({"type": "websocket.close", "code": code})


class _AnySubprotocolServer(ServerProtocol):
    def process_subprotocol(self, headers: Headers) -> Subprotocol | None:
        return None  # chosen by the ASGI app; uvicorn puts it in the answer on accept


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol, except that it lets through subprotocols that
    are not RFC 7230 tokens: kubectl offers `SPDY/3.1+portforward.k8s.io`, which the
    websockets library refuses with a 400. Pass as `uvicorn.Config(ws=...)`.

    The API server has the same class (components share no code)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn.__class__ = _AnySubprotocolServer


def choose(offered: Sequence[str], supported: Sequence[str]) -> str:
    """The first of our protocols the client offered ("" for none)."""
    return next((p for p in supported if p in offered), "")


@dataclass(frozen=True)
class StreamOptions:
    """What the client asked for (`input=1&output=1&error=1&tty=1`)."""

    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool


def exit_status(code: int) -> dict[str, Any]:
    """The Status the error channel carries once the process exited with `code`."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure",
            "message": f"command terminated with non-zero exit code: exit status {code}",
            "reason": NON_ZERO_EXIT_CODE,
            "details": {"causes": [{"reason": EXIT_CODE_CAUSE, "message": str(code)}]}}


def internal_error(message: str) -> dict[str, Any]:
    return {"metadata": {}, "status": "Failure", "message": f"Internal error occurred: {message}",
            "reason": "InternalError", "details": {"causes": [{"message": message}]},
            "code": 500}


async def serve_process(ws: WebSocket, protocol: str, opts: StreamOptions,
                        start: Callable[[], Awaitable[ExecProcess]], *,
                        kill_on_disconnect: bool) -> None:
    """Run one exec/attach session on an accepted socket until the process ends or the
    client goes away (which kills an exec'd process; an attached container runs on)."""
    try:
        process = await start()
    except CRIError as err:
        await _finish(ws, internal_error(f"error executing command in container: {err}"))
        return
    pumps = [asyncio.create_task(_pump(process.read_stdout, ws, STDOUT, opts.stdout))]
    if not process.tty:
        pumps.append(asyncio.create_task(_pump(process.read_stderr, ws, STDERR, opts.stderr)))
    client = asyncio.create_task(_from_client(ws, process, protocol, opts.stdin))
    try:
        drained: asyncio.Future[list[None]] = asyncio.gather(*pumps)
        either: list[asyncio.Future[Any]] = [drained, client]
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if not drained.done():  # the client left first
            if kill_on_disconnect:
                process.kill()
            else:
                process.detach()
            drained.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await drained
            return
        try:
            status = exit_status(await process.wait())
        except CRIError as err:
            status = internal_error(f"error executing command in container: {err}")
        await _finish(ws, status)
    finally:
        client.cancel()
        for task in pumps:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await client


async def _finish(ws: WebSocket, status: dict[str, Any]) -> None:
    await ws.send_bytes(bytes([ERROR]) + orjson.dumps(status))
    await ws.close()


async def _pump(read: Callable[[int], Awaitable[bytes]], ws: WebSocket, channel: int,
                wanted: bool) -> None:
    while data := await read(65536):
        if wanted:
            await ws.send_bytes(bytes([channel]) + data)


async def _from_client(ws: WebSocket, process: ExecProcess, protocol: str,
                       stdin: bool) -> None:
    async for message in ws.messages():
        if not message:
            continue
        channel, data = message[0], message[1:]
        if channel == STDIN and stdin:
            if data:
                await process.write_stdin(data)
        elif channel == RESIZE:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                size = orjson.loads(data)
                process.resize(int(size["Width"]), int(size["Height"]))
        elif channel == CLOSE and protocol == V5 and data[:1] == bytes([STDIN]) and stdin:
            await process.close_stdin()


async def serve_port_forward(ws: WebSocket, connect: Connect,
                             describe: Callable[[int, str], str]) -> None:
    """Run a SPDY port-forward session on an accepted socket."""
    session = PortForwardSession(ws.send_bytes, connect, describe)
    try:
        await session.run(ws.messages())
    finally:
        await ws.close()
