"""A WebSocket's bearer token in its subprotocols (upstream's websocket protocol
authenticator): found, taken out of the offered protocols, refused when malformed, doubled
or offered alone; ignored on plain HTTP requests.
"""

from __future__ import annotations

import base64

import pytest

from kybernetes.api.errors import StatusError
from kybernetes.apiserver.authn.websocketprotocol import PREFIX, protocol_token


def offer(*protocols: str, kind: str = "websocket") -> dict[str, object]:
    return {"type": kind, "subprotocols": list(protocols)}


def encoded(token: str) -> str:
    return PREFIX + base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")


def test_token_found_and_taken_out() -> None:
    token, others = protocol_token(offer("v4.channel.k8s.io", encoded("abc.def-x")))
    assert (token, others) == ("abc.def-x", ["v4.channel.k8s.io"])


def test_no_token() -> None:
    assert protocol_token(offer("v5.channel.k8s.io")) == (None, ["v5.channel.k8s.io"])
    assert protocol_token(offer(encoded("t"), kind="http")) == (None, [])


@pytest.mark.parametrize("protocols", [
    (encoded("t"),),
    (encoded("a"), encoded("b"), "v4.channel.k8s.io"),
    (PREFIX + "!!!", "v4.channel.k8s.io"),
    (PREFIX + base64.urlsafe_b64encode(b"\xff\xfe").decode(), "v4.channel.k8s.io"),
])
def test_refused(protocols: tuple[str, ...]) -> None:
    with pytest.raises(StatusError) as refused:
        protocol_token(offer(*protocols))
    assert refused.value.code == 401
