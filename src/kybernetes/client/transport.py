"""An HTTP/1.1 transport for httpx with an O(1) connection pool, parsed by httptools.

Why not httpx's default transport (httpcore)? Its pool rescans every connection, checking
each for expiry and idleness (a `poll` syscall per idle connection, and a nested scan that
is quadratic in the pool size), on every request and every response close. A control-plane
component holds one connection per open watch, dozens of them, and with 32 requests in
flight the client spent more CPU in the pool bookkeeping than in everything else (measured:
500 GET/s at concurrency 32 against 1,600 at concurrency 4). This transport keeps per origin:

- an idle stack (LIFO, so warm connections are reused and surplus ones age out),
- a count of open connections, and
- a FIFO of requests waiting for a connection when `max_connections` is reached.

Acquire and release are O(1); a connection checks only itself (closed? past its keep-alive
expiry?) when taken from the idle stack. An open watch simply holds its connection outside
the idle stack until its stream is closed.

Each connection is an `asyncio.Protocol` feeding the C `llhttp` parser through httptools
(already a dependency of the API server). The response body is a queue of chunks with a
read-side waiter; reading pauses the socket when more than `_HIGH_WATER` bytes are buffered,
so a slow watch consumer cannot make the client buffer without bound.

Semantics kept from httpx/httpcore: timeouts come from the request's `timeout` extension
(connect, read, write, pool) and failures raise httpx's exceptions (`ConnectError`,
`ReadTimeout`, `RemoteProtocolError`, ...), so `httpx.AsyncClient` behaves as usual on top.
A request that fails on a *reused* connection before any response byte arrives (the server
closed the idle connection as we wrote) is retried once on a new connection when its
method is idempotent, as Go's net/http does.

`uds` sends every request over that Unix socket instead, without TLS whatever the URL's
scheme (the API server's own socket, which `kyb server`'s in-process components use; see
apiserver/loopbacksocket.py). It is connected through `/proc/self/fd/` of its directory, so a
path longer than a socket address holds (108 bytes) works too.

Not supported (kybernetes needs none of them): HTTP/2, proxies, upgrades (exec/attach use
websockets directly), HEAD bodies (a HEAD response ends at its headers and its connection
is not reused).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any, cast

import httptools
import httpx

# Pause reading a response once this much body is buffered, resume below the low mark.
_HIGH_WATER = 4 * 1024 * 1024
_LOW_WATER = 1024 * 1024
_IDEMPOTENT = frozenset({b"GET", b"HEAD", b"PUT", b"DELETE", b"OPTIONS", b"TRACE"})

Origin = tuple[str, str, int]


class _Retry(Exception):
    """The connection died before any response byte. `sent`: whether the request was
    written (then only idempotent requests may be sent again)."""

    def __init__(self, sent: bool) -> None:
        super().__init__("connection lost before a response")
        self.sent = sent


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection; one request at a time."""

    def __init__(self, pool: _Pool) -> None:
        self._pool = pool
        self._loop = pool.loop
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[None] | None = None
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._paused = False
        self._status = 0
        self._headers: list[tuple[bytes, bytes]] = []
        self._headers_done = False
        self._message_done = False
        self._keep_alive = True
        self._got_bytes = False
        self._error: BaseException | None = None
        self._head_request = False
        self.closed = False
        self.reused = False
        self.expires_at = 0.0

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing it.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._got_bytes = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as err:
            self._fail(httpx.RemoteProtocolError(f"malformed HTTP response: {err}"))
            self.close()

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        was_closed = self.closed
        self.closed = True
        self._transport = None
        if self._headers_done and not self._message_done and self._reads_until_close():
            self._message_done = True
            self._wake()
        elif not self._message_done:
            if self._got_bytes or not self.reused:
                self._fail(httpx.RemoteProtocolError(
                    "peer closed connection without sending complete message body"
                    if self._headers_done else
                    "server disconnected without sending a response"))
            else:
                self._fail(_Retry(sent=True))
        if not was_closed:
            self._pool.forget(self)

    def pause_writing(self) -> None:  # bodies are small; the kernel buffers them
        pass

    def resume_writing(self) -> None:
        pass

    # -- httptools callbacks ------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()
        self._keep_alive = self._parser.should_keep_alive()
        self._headers_done = True
        if self._head_request:
            self._message_done = True
            self._keep_alive = False
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self._head_request:
            return
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > _HIGH_WATER and not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        self._message_done = True
        self._wake()

    # -- request side -------------------------------------------------------------------

    def _reads_until_close(self) -> bool:
        names = {n.lower() for n, _ in self._headers}
        return b"content-length" not in names and b"transfer-encoding" not in names

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: BaseException) -> None:
        if self._error is None:
            self._error = error
        self._wake()

    async def _wait(self, limit: float | None, what: str) -> None:
        if self._error is not None:
            raise self._error
        self._waiter = self._loop.create_future()
        try:
            if limit is None:
                await self._waiter
            else:
                async with asyncio.timeout(limit):
                    await self._waiter
        except TimeoutError:
            self.close()
            raise httpx.ReadTimeout(f"timed out waiting for the {what}") from None
        finally:
            self._waiter = None
        if self._error is not None:
            raise self._error

    async def send(self, head: bytes, body: bytes, read_timeout: float | None,
                   head_request: bool) -> tuple[int, list[tuple[bytes, bytes]]]:
        self._status = 0
        self._headers = []
        self._headers_done = self._message_done = self._got_bytes = False
        self._keep_alive = True
        self._head_request = head_request
        self._chunks.clear()
        self._buffered = 0
        transport = self._transport
        if self.closed or transport is None:
            raise _Retry(sent=False)
        transport.write(head + body if len(body) < 65536 else head)
        if len(body) >= 65536:
            transport.write(body)
        while not self._headers_done:
            await self._wait(read_timeout, "response headers")
        return self._status, self._headers

    async def read(self, limit: float | None) -> bytes:
        """The body bytes buffered so far (waiting for some); b"" at the end."""
        while True:
            if self._chunks:
                data = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
                self._chunks.clear()
                self._buffered = 0
                if self._paused and self._transport is not None:
                    self._paused = False
                    self._transport.resume_reading()
                return data
            if self._message_done:
                return b""
            await self._wait(limit, "response body")

    @property
    def reusable(self) -> bool:
        return (not self.closed and self._message_done and self._keep_alive
                and self._error is None and not self._chunks)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        if self._headers_done and not self._message_done:
            self._fail(httpx.ReadError("connection closed while reading the response"))
        if not self.closed:
            self.closed = True
            self._pool.forget(self)


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, connection: _Connection, pool: _Pool, read_timeout: float | None
                 ) -> None:
        self._connection = connection
        self._pool = pool
        self._read_timeout = read_timeout
        self._released = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        connection = self._connection
        while True:
            chunk = await connection.read(self._read_timeout)
            if not chunk:
                return
            yield chunk

    async def aclose(self) -> None:
        if not self._released:
            self._released = True
            self._pool.release(self._connection)


class _Pool:
    """Connections to one origin (scheme, host, port)."""

    def __init__(self, transport: Http11Transport, origin: Origin, sni: str | None) -> None:
        self.loop = asyncio.get_running_loop()
        self._transport = transport
        self._scheme, self._host, self._port = origin
        self._sni = sni
        self._idle: deque[_Connection] = deque()
        self._open = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._all: set[_Connection] = set()

    async def acquire(self, connect_timeout: float | None, pool_timeout: float | None
                      ) -> _Connection:
        idle = self._idle
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if not connection.closed and connection.expires_at > now:
                connection.reused = True
                return connection
            connection.close()
        while self._open >= self._transport.max_connections:
            waiter = self.loop.create_future()
            self._waiters.append(waiter)
            try:
                async with asyncio.timeout(pool_timeout):
                    await waiter
            except TimeoutError:
                raise httpx.PoolTimeout("no connection free in the pool") from None
            finally:
                if not waiter.done():
                    waiter.cancel()
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            while idle:
                connection = idle.pop()
                if not connection.closed and connection.expires_at > time.monotonic():
                    connection.reused = True
                    return connection
                connection.close()
        self._open += 1
        try:
            return await self._connect(connect_timeout)
        except BaseException:
            self._open -= 1
            self._wake_one()
            raise

    async def _connect(self, limit: float | None) -> _Connection:
        uds = self._transport.uds
        tls = self._scheme == "https" and uds is None
        context = self._transport.ssl_context if tls else None
        if tls and context is None:
            context = ssl.create_default_context()
        try:
            async with asyncio.timeout(limit):
                if uds is not None:
                    _, protocol = await self.loop.create_unix_connection(
                        lambda: _Connection(self), sock=await _unix_socket(self.loop, uds))
                else:
                    _, protocol = await self.loop.create_connection(
                        lambda: _Connection(self), self._host, self._port, ssl=context,
                        server_hostname=(self._sni or self._host) if tls else None)
        except TimeoutError:
            raise httpx.ConnectTimeout(
                f"connecting to {uds or f'{self._host}:{self._port}'} timed out") from None
        except (OSError, ssl.SSLError) as err:
            raise httpx.ConnectError(str(err)) from err
        assert isinstance(protocol, _Connection)
        self._all.add(protocol)
        return protocol

    def release(self, connection: _Connection) -> None:
        if connection.reusable and len(self._idle) < self._transport.max_keepalive:
            connection.expires_at = time.monotonic() + self._transport.keepalive_expiry
            self._idle.append(connection)
            self._wake_one()
        else:
            connection.close()

    def forget(self, connection: _Connection) -> None:
        """A connection closed: free its slot."""
        if connection in self._all:
            self._all.discard(connection)
            self._open -= 1
            self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def close(self) -> None:
        for connection in list(self._all):
            connection.close()
        self._idle.clear()


class Http11Transport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over asyncio with an O(1) keep-alive pool; see the module notes."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None,
                 max_connections: int = 1024, max_keepalive: int = 128,
                 keepalive_expiry: float = 90.0, sni_hostname: str | None = None,
                 uds: str | None = None) -> None:
        self.ssl_context = ssl_context
        self.uds = uds
        self.max_connections = max_connections
        self.max_keepalive = max_keepalive
        self.keepalive_expiry = keepalive_expiry
        self.sni_hostname = sni_hostname
        self._pools: dict[Origin, _Pool] = {}

    def _pool(self, url: httpx.URL) -> _Pool:
        scheme = url.scheme
        port = url.port or (443 if scheme == "https" else 80)
        origin = (scheme, url.host, port)
        pool = self._pools.get(origin)
        if pool is None:
            pool = _Pool(self, origin, self.sni_hostname)
            self._pools[origin] = pool
        return pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts: dict[str, Any] = request.extensions.get("timeout") or {}
        connect_timeout = timeouts.get("connect")
        read_timeout = timeouts.get("read")
        pool_timeout = timeouts.get("pool")
        url = request.url
        if url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported scheme {url.scheme!r}")
        pool = self._pool(url)
        method = request.method.encode()
        head = _head(method, url, request.headers.raw)
        body = await _body(request)
        for attempt in (0, 1):
            connection = await pool.acquire(connect_timeout, pool_timeout)
            try:
                status, headers = await connection.send(head, body, read_timeout,
                                                        method == b"HEAD")
            except _Retry as retry:
                connection.close()
                if attempt == 0 and (not retry.sent or method in _IDEMPOTENT):
                    continue
                raise httpx.RemoteProtocolError(
                    "server disconnected without sending a response") from None
            except BaseException:
                connection.close()
                raise
            return httpx.Response(
                status, headers=headers,
                stream=_ResponseStream(connection, pool, read_timeout),
                extensions={"http_version": b"HTTP/1.1"})
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()


async def _unix_socket(loop: asyncio.AbstractEventLoop, path: str) -> socket.socket:
    """A stream socket connected to `path`, through `/proc/self/fd/` of its directory."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    sock.setblocking(False)
    head, name = os.path.split(path)
    try:
        directory = os.open(head or ".", os.O_PATH | os.O_CLOEXEC)
        try:
            await loop.sock_connect(sock, f"/proc/self/fd/{directory}/{name}")
        finally:
            os.close(directory)
    except BaseException:
        sock.close()
        raise
    return sock


def _head(method: bytes, url: httpx.URL, headers: list[tuple[bytes, bytes]]) -> bytes:
    parts = [method, b" ", url.raw_path, b" HTTP/1.1\r\n"]
    for name, value in headers:
        parts += [name, b": ", value, b"\r\n"]
    parts.append(b"\r\n")
    return b"".join(parts)


async def _body(request: httpx.Request) -> bytes:
    try:
        content = request.content
    except httpx.RequestNotRead:
        content = b"".join([part async for part in request.stream])  # type: ignore[union-attr]
        if request.headers.get("transfer-encoding", "").lower() == "chunked":
            content = (f"{len(content):x}\r\n".encode() + content + b"\r\n0\r\n\r\n"
                       if content else b"0\r\n\r\n")
    return content
