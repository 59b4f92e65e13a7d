"""The authentication chain (upstream's union of request authenticators plus the
anonymous fallback): a client certificate first, then a bearer token through each token
authenticator in turn; no credential at all is `system:anonymous` when anonymous requests
are enabled, else 401. A bearer token that no authenticator accepts is 401.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from kybernetes.api import errors
from kybernetes.apiserver.authn.user import ANONYMOUS_USER, UserInfo, with_authenticated
from kybernetes.apiserver.authn.x509 import X509Authenticator
from kybernetes.apiserver.http import Request


class TokenAuthenticator(Protocol):
    async def authenticate_token(self, token: str) -> UserInfo | None:
        """The token's identity; None when this authenticator does not know the token."""
        ...


def bearer_token(request: Request) -> str | None:
    """The token of `Authorization: Bearer <token>`; None without one."""
    header = request.header("authorization")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


class AuthenticationChain:
    def __init__(self, tokens: Sequence[TokenAuthenticator] = (), *,
                 anonymous: bool = True) -> None:
        self.x509 = X509Authenticator()
        self.tokens = list(tokens)
        self.anonymous = anonymous

    async def authenticate(self, request: Request) -> UserInfo:
        user = self.x509.authenticate(request)
        if user is not None:
            return with_authenticated(user)
        token = bearer_token(request)
        if token is not None:
            for authenticator in self.tokens:
                found = await authenticator.authenticate_token(token)
                if found is not None:
                    return with_authenticated(found)
            raise errors.unauthorized()
        if self.anonymous:
            return ANONYMOUS_USER
        raise errors.unauthorized()
