"""Bearer tokens in a WebSocket subprotocol (upstream's `request/websocket` authenticator):
browsers cannot set headers on a WebSocket, so a client offers
`base64url.bearer.authorization.k8s.io.<token, unpadded base64url>` beside the protocols it
speaks (`v4.channel.k8s.io`, ...). Once the token is accepted it is taken out of the offered
protocols, so it is never relayed on (to the kubelet) nor echoed back.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

from kybernetes.api import errors

log = logging.getLogger(__name__)

PREFIX = "base64url.bearer.authorization.k8s.io."


def protocol_token(scope: dict[str, Any]) -> tuple[str | None, list[str]]:
    """The token a WebSocket upgrade carries in its subprotocols (None without one), and
    the other protocols; 401 for a malformed one, several, or one offered alone (the body
    says just "Unauthorized", as upstream's; the reason is logged)."""
    if scope.get("type") != "websocket":
        return None, []
    token: str | None = None
    others: list[str] = []
    for protocol in (str(p).strip() for p in scope.get("subprotocols") or ()):
        if not protocol.startswith(PREFIX):
            others.append(protocol)
            continue
        if token is not None:
            raise _refused("multiple base64.bearer.authorization tokens specified")
        encoded = protocol.removeprefix(PREFIX)
        try:
            token = base64.b64decode(encoded + "=" * (-len(encoded) % 4), altchars=b"-_",
                                     validate=True).decode()
        except (binascii.Error, ValueError, UnicodeDecodeError) as err:
            raise _refused("invalid base64.bearer.authorization token encoding") from err
    if token and not others:
        raise _refused("missing additional subprotocol")
    return token or None, others


def _refused(reason: str) -> errors.StatusError:
    log.debug("websocket bearer token refused: %s", reason)
    return errors.unauthorized()
