"""Bearer tokens the API server mints for the components `kyb server` runs in its own
process, good only on its Unix socket (apiserver/loopbacksocket.py).

kube-apiserver mints one such token for its own loopback client at start; here each
component gets its own, for the identity its client certificate names over TLS (the same
name and groups, no uid, no extra), so that RBAC, the Node authorizer, admission and audit
see the same user whichever way it connects. The tokens live in memory only (a restart
mints new ones), and neither the HTTPS port nor TokenReview accepts them.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from kybernetes.apiserver.authn.user import UserInfo, with_authenticated


class LoopbackTokens:
    def __init__(self) -> None:
        self._users: dict[str, UserInfo] = {}
        self._tokens: dict[tuple[str, tuple[str, ...]], str] = {}

    def mint(self, name: str, groups: Sequence[str] = ()) -> str:
        """The token of the user `name` in `groups` (the same one on every call)."""
        key = (name, tuple(groups))
        token = self._tokens.get(key)
        if token is None:
            token = self._tokens[key] = secrets.token_urlsafe(32)
            self._users[token] = with_authenticated(UserInfo(name, groups=key[1]))
        return token

    def user(self, token: str) -> UserInfo | None:
        """Whose token it is; None for one not minted here."""
        return self._users.get(token)
