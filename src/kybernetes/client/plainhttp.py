"""The minimal HTTP/1.1 server side of the components' small ports (kube-proxy's health and
metrics, the controller manager's and scheduler's secure port): one request a connection,
its head read within a timeout, answered with a complete response and `Connection: close`.

Their callers are probes and Prometheus sending plain GETs, so there is no body to read, no
keep-alive and no chunking; what the request asks is routed by the port's own `answer`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

# How long a client gets to send its request's head.
REQUEST_TIMEOUT = 10.0
REASONS = {200: "OK", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 500: "Internal Server Error",
           503: "Service Unavailable"}
# (status, content type, body)
Response = tuple[int, str, str]


@dataclass(frozen=True)
class Request:
    method: str
    # The path without its query.
    path: str
    # Header names lowercased, values stripped.
    headers: list[tuple[bytes, bytes]]
    # The client's certificate (DER) when it presented one over TLS.
    certificate: bytes | None


Answer = Callable[[Request], Awaitable[Response]]


async def _read_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                       ) -> Request:
    """The request's head, parsed; raises what the stream raises (timeouts included)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT)
    line, *fields = head.decode("latin-1").split("\r\n")
    method, _, rest = line.partition(" ")
    path = rest.split(" ", 1)[0].split("?", 1)[0]
    headers = [(k.strip().lower().encode("latin-1"), v.strip().encode("latin-1"))
               for k, sep, v in (f.partition(":") for f in fields if f) if sep]
    tls = writer.get_extra_info("ssl_object")
    der = tls.getpeercert(binary_form=True) if tls is not None else None
    return Request(method, path, headers, der or None)


def _write_response(writer: asyncio.StreamWriter, method: str, response: Response,
                   extra_headers: Sequence[tuple[str, str]] = ()) -> None:
    """A whole response, its body left out for HEAD."""
    status, content_type, body = response
    data = body.encode()
    fields = "".join(f"{name}: {value}\r\n" for name, value in
                     (("Content-Type", content_type), *extra_headers,
                      ("Content-Length", str(len(data))), ("Connection", "close")))
    writer.write(f"HTTP/1.1 {status} {REASONS.get(status, '')}\r\n{fields}\r\n".encode()
                 + (data if method != "HEAD" else b""))


def one_request_handler(answer: Answer, extra_headers: Sequence[tuple[str, str]] = ()
                        ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter],
                                      Awaitable[None]]:
    """An `asyncio.start_server` callback: read one request, write `answer`'s response
    (with `extra_headers`), close the connection. A client that goes away or is too slow
    is dropped."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await _read_request(reader, writer)
            _write_response(writer, request.method, await answer(request), extra_headers)
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                TimeoutError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    return handle
