"""The client certificate of a kubelet API connection, handed to the app in the ASGI
scope.

uvicorn verifies a client certificate against the cluster CA during the handshake
(certificates are requested, not required, so bearer tokens work too) but does not pass
it on. These protocol classes put the verified leaf certificate (DER) into every request's
scope, WebSocket upgrades included, for the authenticator. (The API server has the same
classes: components share no code.)
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from kybernetes.kubelet.streaming import WebSocketProtocol


def _peer_certificate(transport: asyncio.BaseTransport) -> bytes | None:
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return bytes(der) if der else None


def _add(scope: dict[str, Any], der: bytes | None) -> None:
    if der is not None:
        scope.setdefault("extensions", {})["tls"] = {"client_cert_der": der}


def client_certificate(scope: dict[str, Any]) -> bytes | None:
    """The verified client certificate of the request's connection, if it sent one."""
    der = ((scope.get("extensions") or {}).get("tls") or {}).get("client_cert_der")
    return der if isinstance(der, bytes) else None


class PeerCertHttpProtocol(HttpToolsProtocol):
    _peer_der: bytes | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._peer_der = _peer_certificate(transport)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        _add(self.scope, self._peer_der)  # type: ignore[arg-type]


class PeerCertWebSocketProtocol(WebSocketProtocol):
    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        _add(self.scope, _peer_certificate(self.transport))  # type: ignore[arg-type]
