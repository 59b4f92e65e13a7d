"""A minimal request/response layer over raw ASGI.

The API server needs little from a web framework (routing is by Kubernetes path rules, bodies
are JSON, watches stream), and raw ASGI keeps the hot path short. `Request` reads the body
with a size limit; `Response` sends a complete body (a large one in pieces); `Streaming`
sends chunks until the client goes away. JSON bodies end with a newline, as upstream's
serializer (a Go `json.Encoder`) writes every object, list and Status.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import orjson

from kybernetes.api import errors

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# Upstream's limit on a request body (3 MiB).
MAX_BODY_BYTES = 3 * 1024 * 1024

# A larger response body goes out in pieces of this size: TLS encrypts each write whole
# into one growing buffer, and a 15 MB LIST written at once costs several times what the
# same bytes cost in pieces.
BODY_PIECE_BYTES = 256 * 1024

JSON = "application/json"


class Request:
    def __init__(self, scope: Scope, receive: Receive, *, method: str = "") -> None:
        self.scope = scope
        self.receive = receive
        self.method: str = method or scope["method"]
        self.path: str = scope["path"]
        raw_query = scope.get("query_string", b"").decode("latin-1")
        self.query: dict[str, str] = {k: v[-1] for k, v in
                                      parse_qs(raw_query, keep_blank_values=True).items()}
        self.headers: dict[str, str] = {}
        for key, value in scope.get("headers", []):
            name = key.decode("latin-1").lower()
            text = value.decode("latin-1")
            self.headers[name] = f"{self.headers[name]},{text}" if name in self.headers else text

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name, default)

    async def body(self) -> bytes:
        declared = self.header("content-length")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise errors.too_large(f"Request entity too large: limit is {MAX_BODY_BYTES}")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise errors.bad_request("client disconnected")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise errors.too_large(f"Request entity too large: limit is {MAX_BODY_BYTES}")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = JSON
    headers: list[tuple[str, str]] = field(default_factory=list)

    async def send(self, send: Send) -> None:
        headers = [(b"content-type", self.content_type.encode()),
                   (b"content-length", str(len(self.body)).encode()),
                   (b"cache-control", b"no-cache, private")]
        headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in self.headers]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        size = len(self.body)
        if size <= BODY_PIECE_BYTES:
            await send({"type": "http.response.body", "body": self.body})
            return
        for start in range(0, size, BODY_PIECE_BYTES):
            end = start + BODY_PIECE_BYTES
            await send({"type": "http.response.body", "body": self.body[start:end],
                        "more_body": end < size})


def json_response(obj: Any, status: int = 200, headers: list[tuple[str, str]] | None = None,
                  content_type: str = JSON) -> Response:
    return Response(status, orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE), content_type,
                    headers or [])


def status_response(err: errors.StatusError) -> Response:
    return json_response(err.status(), err.code)


@dataclass
class Streaming:
    """A chunked response fed by an async iterator; ends when the client disconnects."""

    chunks: AsyncIterator[bytes]
    content_type: str = JSON
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)

    async def send(self, send: Send, receive: Receive) -> None:
        headers = [(b"content-type", self.content_type.encode()),
                   (b"cache-control", b"no-cache, private")]
        headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in self.headers]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        pump = asyncio.create_task(self._pump(send))
        gone = asyncio.create_task(_wait_disconnect(receive))
        try:
            await asyncio.wait({pump, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (pump, gone):
                task.cancel()
                await _reap(task)
            aclose = getattr(self.chunks, "aclose", None)
            if aclose is not None:
                try:
                    await aclose()
                except Exception:
                    log.exception("closing a streamed response failed")
        try:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError as err:  # the client is gone: nothing to end
            log.debug("ending a streamed response: %s", err)

    async def _pump(self, send: Send) -> None:
        async for chunk in self.chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})


async def _reap(task: asyncio.Task[None]) -> None:
    """Await a finished or cancelled task of a streamed response. A client that went away
    (OSError) is normal; any other failure (of the stream's producer, a watch) is logged
    with its traceback rather than ending the stream silently."""
    try:
        await task
    except asyncio.CancelledError:
        pass  # cancelled by `send`'s cleanup, which goes on to close the stream
    except OSError as err:
        log.debug("streamed response ended: %s", err)
    except Exception:
        log.exception("streamed response failed")


async def _wait_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
