"""A lean HTTP/1.1 keep-alive load generator for the benchmarks.

httpx costs more CPU per request than the server it measures, and both share the machine,
so the benchmarks drive the API server with this instead: one TLS connection per worker,
requests written as bytes, responses read by Content-Length (or chunked for lists).
`ops_per_second` drives any async operation (HTTP or a storage call) at a concurrency.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 host: str) -> None:
        self.reader = reader
        self.writer = writer
        self.host = host

    @classmethod
    async def open(cls, host: str, port: int, context: ssl.SSLContext) -> Connection:
        reader, writer = await asyncio.open_connection(host, port, ssl=context,
                                                       limit=64 * 1024 * 1024)
        return cls(reader, writer, host)

    async def request(self, method: str, path: str, body: bytes = b"",
                      headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}",
                 f"Content-Length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = -1
        chunked = False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "transfer-encoding" and "chunked" in value:
                chunked = True
        if not chunked:
            return status, await self.reader.readexactly(length) if length > 0 else b""
        parts: list[bytes] = []
        while True:
            size = int((await self.reader.readline()).strip(), 16)
            data = await self.reader.readexactly(size + 2)
            if size == 0:
                return status, b"".join(parts)
            parts.append(data[:-2])

    def close(self) -> None:
        self.writer.close()


class ConnectionPool:
    """Connections to one server, each request made on one that is idle."""

    def __init__(self, connections: list[Connection]) -> None:
        self.connections = connections
        self._idle: asyncio.Queue[Connection] = asyncio.Queue()
        for connection in connections:
            self._idle.put_nowait(connection)

    @classmethod
    async def open(cls, host: str, port: int, context: ssl.SSLContext,
                   size: int) -> ConnectionPool:
        return cls([await Connection.open(host, port, context) for _ in range(size)])

    async def request(self, method: str, path: str, body: bytes = b"",
                      headers: dict[str, str] | None = None, expect: int = 200) -> bytes:
        """The body of a response that must have the status `expect`."""
        connection = await self._idle.get()
        try:
            status, payload = await connection.request(method, path, body, headers)
        finally:
            self._idle.put_nowait(connection)
        assert status == expect, payload[:300]
        return payload

    def close(self) -> None:
        for connection in self.connections:
            connection.close()


async def ops_per_second(count: int, concurrency: int,
                         op: Callable[[int], Awaitable[object]]) -> float:
    """Operations per second for `count` calls of `op`, `concurrency` at a time."""
    queue = iter(range(count))

    async def worker() -> None:
        for i in queue:
            await op(i)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return count / (time.perf_counter() - start)
