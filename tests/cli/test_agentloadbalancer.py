"""The agent's load balancer: connections go to the default server while it answers, to the
next live one when it stops (open connections to it are closed), and the server list follows
the `kubernetes` endpoints. Real TCP servers on loopback stand in for the API servers."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

from kybernetes.cli.agentloadbalancer import LoadBalancer, endpoint_addresses


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Named:
    """A server answering each line with its name; `stop` ends it and its connections."""

    def __init__(self, name: bytes) -> None:
        self.name = name
        self.writers: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None

    async def answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        with contextlib.suppress(OSError):
            while await reader.readline():
                writer.write(self.name + b"\n")
                await writer.drain()
        writer.close()

    def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()


@contextlib.asynccontextmanager
async def _named_server(name: bytes) -> AsyncIterator[_Named]:
    named = _Named(name)
    named.server = await asyncio.start_server(named.answer, "127.0.0.1", 0)
    try:
        yield named
    finally:
        named.stop()


def _port(named: _Named) -> int:
    assert named.server is not None
    return int(named.server.sockets[0].getsockname()[1])


async def _ask(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    writer.write(b"who\n")
    await writer.drain()
    return (await reader.readline()).strip()


async def test_fails_over_to_the_next_server_and_follows_the_list() -> None:
    async with _named_server(b"one") as one, _named_server(b"two") as two:
        balancer = LoadBalancer(f"https://127.0.0.1:{_port(one)}", _free_port(),
                                health_interval=0.1)
        await balancer.start()
        balancer.update([("127.0.0.1", _port(two))])
        checking = asyncio.create_task(balancer._check_forever())
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", balancer.port)
            assert await _ask(reader, writer) == b"one"
            one.stop()
            assert await reader.read() == b""  # the relayed connection ended with it
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", balancer.port)
            assert await _ask(reader, writer) == b"two"
            assert balancer.current == ("127.0.0.1", _port(two))
            writer.close()
        finally:
            checking.cancel()
            await asyncio.gather(checking, return_exceptions=True)
            await balancer.close()


async def test_a_dead_default_server_is_skipped_at_dial() -> None:
    async with _named_server(b"two") as two:
        balancer = LoadBalancer(f"https://127.0.0.1:{_free_port()}", _free_port())
        balancer.update([("127.0.0.1", _port(two))])
        await balancer.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", balancer.port)
            assert await _ask(reader, writer) == b"two"
            writer.close()
        finally:
            await balancer.close()


def test_endpoint_addresses() -> None:
    assert endpoint_addresses({"subsets": [{
        "addresses": [{"ip": "198.51.100.1"}, {"ip": "198.51.100.2"}],
        "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]}]}) == [
        ("198.51.100.1", 6443), ("198.51.100.2", 6443)]
    assert endpoint_addresses({}) == []
