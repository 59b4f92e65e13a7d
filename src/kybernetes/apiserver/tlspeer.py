"""The client certificate of a TLS connection, handed to the app in the ASGI scope.

uvicorn verifies a client certificate against the cluster CA during the handshake (client
certificates are optional, so bearer tokens work too) but does not pass it on. These
protocol classes put the verified leaf certificate (DER) into each request's scope as
`scope["extensions"]["tls"]["client_cert_der"]`, for the x509 authenticator.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def peer_certificate(transport: asyncio.BaseTransport) -> bytes | None:
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return bytes(der) if der else None


def add_peer_certificate(scope: dict[str, Any], der: bytes | None) -> None:
    if der is not None:
        scope.setdefault("extensions", {})["tls"] = {"client_cert_der": der}


def client_certificate(scope: dict[str, Any]) -> bytes | None:
    """The verified client certificate of the request's connection, if it sent one."""
    tls = (scope.get("extensions") or {}).get("tls") or {}
    der = tls.get("client_cert_der")
    return der if isinstance(der, bytes) else None


class PeerCertHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, adding the client certificate to every scope."""

    _peer_der: bytes | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._peer_der = peer_certificate(transport)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        add_peer_certificate(self.scope, self._peer_der)  # type: ignore[arg-type]
