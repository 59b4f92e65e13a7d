"""The authentication chain (upstream's union of request authenticators plus the
anonymous fallback): a client certificate first, then a bearer token through each token
authenticator in turn; no credential at all is `system:anonymous` when anonymous requests
are enabled, else 401. A bearer token that no authenticator accepts is 401, never anonymous.
A WebSocket upgrade may carry its token in a subprotocol instead (see websocketprotocol).
A request over the API server's Unix socket (loopbacksocket.py) must carry a bearer token:
one minted for an in-process component (loopback.py, good there only) or any other.

Tokens on requests are checked for the API audiences; `review` checks one for any audiences
(TokenReview) and says why it failed, as upstream's aggregated errors do.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from kybernetes.api import errors
from kybernetes.apiserver.authn.loopback import LoopbackTokens
from kybernetes.apiserver.authn.tokens import InvalidToken, TokenAuthenticator, TokenResponse
from kybernetes.apiserver.authn.user import ANONYMOUS_USER, UserInfo, with_authenticated
from kybernetes.apiserver.authn.websocketprotocol import protocol_token
from kybernetes.apiserver.authn.x509 import X509Authenticator
from kybernetes.apiserver.http import Request
from kybernetes.apiserver.loopbacksocket import over_loopback_socket

log = logging.getLogger(__name__)

# What a bearer token no authenticator accepts is, for TokenReview (upstream's bearertoken).
INVALID_BEARER_TOKEN = "invalid bearer token"


def bearer_token(request: Request) -> str | None:
    """The token of `Authorization: Bearer <token>`; None without one."""
    header = request.header("authorization")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


class AuthenticationChain:
    def __init__(self, tokens: Sequence[TokenAuthenticator] = (), *,
                 anonymous: bool = True, api_audiences: Sequence[str] = (),
                 loopback: LoopbackTokens | None = None) -> None:
        self.x509 = X509Authenticator()
        self.loopback = loopback
        self.tokens = list(tokens)
        self.anonymous = anonymous
        self.api_audiences = tuple(api_audiences)

    async def authenticate(self, request: Request) -> UserInfo:
        if over_loopback_socket(request.scope):
            return await self._over_loopback_socket(request)
        user = self.x509.authenticate(request)
        if user is not None:
            return with_authenticated(user)
        token = bearer_token(request)
        others: list[str] | None = None
        if token is None:
            # A WebSocket's token in its subprotocols (browsers cannot send the header).
            token, others = protocol_token(request.scope)
        if token is not None:
            found, failures = await self._token(token, self.api_audiences)
            if found is None:
                if failures:
                    log.debug("bearer token refused: %s", "; ".join(failures))
                raise errors.unauthorized()
            if others is not None:
                request.scope["subprotocols"] = others
            return found.user
        if self.anonymous:
            return ANONYMOUS_USER
        raise errors.unauthorized()

    async def _over_loopback_socket(self, request: Request) -> UserInfo:
        token = bearer_token(request)
        if token is None:
            raise errors.unauthorized()
        user = self.loopback.user(token) if self.loopback is not None else None
        if user is not None:
            return user
        found, _ = await self._token(token, self.api_audiences)
        if found is None:
            raise errors.unauthorized()
        return found.user

    async def review(self, token: str, audiences: Sequence[str]
                     ) -> tuple[TokenResponse | None, str]:
        """The token's identity for `audiences`, or None and why not (TokenReview)."""
        found, failures = await self._token(token, audiences)
        if found is not None:
            return found, ""
        reasons = [INVALID_BEARER_TOKEN, *failures]
        return None, reasons[0] if len(reasons) == 1 else f"[{', '.join(reasons)}]"

    async def _token(self, token: str, audiences: Sequence[str]
               ) -> tuple[TokenResponse | None, list[str]]:
        failures: list[str] = []
        for authenticator in self.tokens:
            try:
                found = await authenticator.authenticate_token(token, audiences)
            except InvalidToken as err:
                failures.append(str(err))
                continue
            if found is not None:
                return TokenResponse(with_authenticated(found.user), found.audiences), []
        return None, failures
