"""The HTTP/1.1 transport against a scripted loopback server: keep-alive, pool limits,
stale connections, streaming, timeouts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import httpx
import pytest

from kybernetes.client.transport import Http11Transport

Reply = Callable[["Exchange"], Awaitable[None]]


@dataclass
class Exchange:
    method: str
    path: str
    body: bytes
    connection: int
    writer: asyncio.StreamWriter

    def send(self, status: int, body: bytes = b"", *, close: bool = False) -> None:
        head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n"
        if close:
            head += "Connection: close\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)


@dataclass
class Scripted:
    reply: Reply
    connections: int = 0
    requests: list[Exchange] = field(default_factory=list)
    port: int = 0


async def _serve(script: Scripted, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
    script.connections += 1
    number = script.connections
    try:
        while True:
            line = await reader.readline()
            if not line:
                return
            method, path, _ = line.decode().split(" ", 2)
            length = 0
            while (header := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = header.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            body = await reader.readexactly(length) if length else b""
            exchange = Exchange(method, path, body, number, writer)
            script.requests.append(exchange)
            await script.reply(exchange)
            await writer.drain()
            if writer.is_closing():
                return
    except (ConnectionError, asyncio.IncompleteReadError):
        return
    finally:
        writer.close()


@pytest.fixture
async def scripted() -> AsyncIterator[Callable[[Reply], Awaitable[Scripted]]]:
    servers: list[asyncio.Server] = []

    async def start(reply: Reply) -> Scripted:
        script = Scripted(reply)
        srv = await asyncio.start_server(lambda r, w: _serve(script, r, w), "127.0.0.1", 0)
        servers.append(srv)
        script.port = srv.sockets[0].getsockname()[1]
        return script

    yield start
    for srv in servers:
        srv.close()


def client(script: Scripted, max_connections: int = 1024) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{script.port}",
                             transport=Http11Transport(max_connections=max_connections),
                             timeout=5)


async def ok(exchange: Exchange) -> None:
    exchange.send(200, f"{exchange.method} {exchange.path} {exchange.body.decode()}".encode())


async def test_keep_alive_reuses_one_connection(scripted: Callable[[Reply], Awaitable[Scripted]]
                                                ) -> None:
    script = await scripted(ok)
    async with client(script) as http:
        for i in range(5):
            response = await http.post(f"/r{i}", content=b"body")
            assert response.status_code == 200
            assert response.text == f"POST /r{i} body"
    assert script.connections == 1


async def test_pool_limit_queues_requests(scripted: Callable[[Reply], Awaitable[Scripted]]
                                          ) -> None:
    async def slow(exchange: Exchange) -> None:
        await asyncio.sleep(0.01)
        await ok(exchange)

    script = await scripted(slow)
    async with client(script, max_connections=2) as http:
        responses = await asyncio.gather(*(http.get(f"/{i}") for i in range(10)))
    assert [r.text for r in responses] == [f"GET /{i} " for i in range(10)]
    assert script.connections == 2


async def test_connection_close_is_honoured(scripted: Callable[[Reply], Awaitable[Scripted]]
                                            ) -> None:
    async def closing(exchange: Exchange) -> None:
        exchange.send(200, b"bye", close=True)
        exchange.writer.close()

    script = await scripted(closing)
    async with client(script) as http:
        for _ in range(3):
            assert (await http.get("/")).text == "bye"
    assert script.connections == 3


async def test_stale_idle_connection_is_replaced_transparently(
        scripted: Callable[[Reply], Awaitable[Scripted]]) -> None:
    """The server drops a kept-alive connection without saying so; a GET retried once on a
    fresh connection does not notice."""
    dropped = False

    async def drop_second(exchange: Exchange) -> None:
        nonlocal dropped
        if exchange.connection == 1 and len(script.requests) == 2 and not dropped:
            dropped = True
            exchange.writer.transport.abort()
            return
        await ok(exchange)

    script = await scripted(drop_second)
    async with client(script) as http:
        assert (await http.get("/one")).status_code == 200
        assert (await http.get("/two")).text == "GET /two "
    assert dropped and script.connections == 2


async def test_post_is_not_resent_after_the_server_dropped_it(
        scripted: Callable[[Reply], Awaitable[Scripted]]) -> None:
    async def drop_posts(exchange: Exchange) -> None:
        if exchange.method == "POST":
            exchange.writer.transport.abort()
            return
        await ok(exchange)

    script = await scripted(drop_posts)
    async with client(script) as http:
        await http.get("/warm")
        with pytest.raises(httpx.RemoteProtocolError):
            await http.post("/create", content=b"x")
    assert [r.method for r in script.requests] == ["GET", "POST"]


async def test_streamed_chunked_body_and_large_bodies(
        scripted: Callable[[Reply], Awaitable[Scripted]]) -> None:
    big = bytes(range(256)) * (40 * 1024)  # 10 MiB: crosses the pause threshold

    async def stream(exchange: Exchange) -> None:
        if exchange.path == "/big":
            exchange.send(200, big)
            return
        exchange.writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for i in range(3):
            data = f"line {i}\n".encode()
            exchange.writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            await exchange.writer.drain()
            await asyncio.sleep(0.005)
        exchange.writer.write(b"0\r\n\r\n")

    script = await scripted(stream)
    async with client(script) as http:
        async with http.stream("GET", "/watch") as response:
            lines = [line async for line in response.aiter_lines()]
        assert lines == ["line 0", "line 1", "line 2"]
        async with http.stream("GET", "/big") as response:
            received = bytearray()
            async for chunk in response.aiter_bytes():
                received += chunk
                await asyncio.sleep(0)  # a consumer slower than the socket
        assert bytes(received) == big
        assert (await http.get("/watch")).text == "line 0\nline 1\nline 2\n"
    assert script.connections == 1, "fully read responses return their connection"


async def test_read_timeout_and_refused_connections(
        scripted: Callable[[Reply], Awaitable[Scripted]]) -> None:
    async def never(exchange: Exchange) -> None:
        await asyncio.sleep(10)

    script = await scripted(never)
    async with client(script) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get("/", timeout=0.05)
    port = script.port
    async with httpx.AsyncClient(transport=Http11Transport()) as http:
        srv = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        srv.close()
        await srv.wait_closed()
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{port}/")
