"""The components' minimal HTTP/1.1 responder (client/plainhttp.py) on a real loopback
socket: the request's method, path and headers reach the answer; the response is whole,
closes the connection, and leaves its body out for HEAD."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from kybernetes.client.plainhttp import Request, Response, one_request_handler


@pytest.fixture
async def port() -> AsyncIterator[tuple[int, list[Request]]]:
    seen: list[Request] = []

    async def answer(request: Request) -> Response:
        seen.append(request)
        return 503, "application/json", '{"ok": false}'

    server = await asyncio.start_server(
        one_request_handler(answer, [("X-Content-Type-Options", "nosniff")]), "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1], seen


async def exchange(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    answer = await reader.read()  # to the end: the server closes the connection
    writer.close()
    await writer.wait_closed()
    return answer


async def test_a_get_is_answered_whole_and_closed(port: tuple[int, list[Request]]) -> None:
    number, seen = port
    answer = await exchange(number, b"GET /healthz?verbose=1 HTTP/1.1\r\nHost: x\r\n"
                                    b"Authorization:  Bearer t \r\n\r\n")
    assert answer == (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                      b"X-Content-Type-Options: nosniff\r\nContent-Length: 13\r\n"
                      b"Connection: close\r\n\r\n{\"ok\": false}")
    assert seen == [Request("GET", "/healthz", [(b"host", b"x"),
                                                (b"authorization", b"Bearer t")], None)]


async def test_a_head_gets_no_body(port: tuple[int, list[Request]]) -> None:
    answer = await exchange(port[0], b"HEAD /metrics HTTP/1.1\r\n\r\n")
    assert answer.endswith(b"Content-Length: 13\r\nConnection: close\r\n\r\n")


async def test_a_client_that_leaves_early_is_not_answered(
        port: tuple[int, list[Request]]) -> None:
    number, seen = port
    assert await exchange(number, b"GET /metrics HTTP/1.1\r\n") == b""
    assert seen == []
