"""The API server's Unix socket, for the components `kyb server` runs in its own process.

Why: those components (the controllers' informers, the scheduler, the kubelet, kube-proxy,
the DNS, ingress and metrics servers...) hold a connection to the API server per watch,
about a hundred, with both ends in this process. Over loopback TLS each end costs a
handshake and uvloop's per-connection TLS read buffer (256 KiB, zero-filled): some 50 MiB
of the server's memory for talking to itself. Over this socket there is no TLS at all.

Who may use it: the socket is its owner's only (0600, in the data dir, itself 0700), and
every request on it must carry a bearer token, never anonymous and never a client
certificate (there is no TLS): one the API server minted in memory for an in-process
component (authn/loopback.py, good nowhere else), or any other token the server accepts
(the controllers act as their service accounts). Its requests are marked in their ASGI
scope by this listener's protocol only, so nothing sent to the HTTPS port can claim to
have come this way. Upgrades (WebSocket) are not served here: an upgrade request is a plain
request.

A Unix peer has no address; requests on the socket show `127.0.0.1` as their client (the
audit log's `sourceIPs`), as the same component's requests over loopback TCP did.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from pathlib import Path
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

SOCKET_NAME = "apiserver.sock"
_MARK = "kybernetes.loopback_socket"
_PEER = ("127.0.0.1", 0)
# The size of sockaddr_un's path, its terminating NUL included.
_SUN_PATH = 108


def socket_path(data_dir: Path) -> Path:
    return data_dir / SOCKET_NAME


def bind(path: Path) -> socket.socket:
    """A stream socket bound at `path` (a stale one replaced), mode 0600. A path longer
    than a socket address holds (108 bytes) is bound through `/proc/self/fd/` of its
    directory (the name `ss` then shows)."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        if len(os.fsencode(path)) < _SUN_PATH:
            sock.bind(str(path))
        else:
            directory = os.open(path.parent, os.O_PATH | os.O_CLOEXEC)
            try:
                sock.bind(f"/proc/self/fd/{directory}/{path.name}")
            finally:
                os.close(directory)
        os.chmod(path, 0o600)
    except BaseException:
        sock.close()
        raise
    return sock


def over_loopback_socket(scope: dict[str, Any]) -> bool:
    """Whether the request came over the API server's Unix socket."""
    return _MARK in (scope.get("extensions") or {})


class LoopbackHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol for the socket: every request marked as having come
    over it, from `127.0.0.1`; no upgrades."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ws_protocol_class = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.client = _PEER

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope.setdefault("extensions", {})[_MARK] = {}
