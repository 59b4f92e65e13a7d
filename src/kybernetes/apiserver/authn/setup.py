"""Builds the API server's authentication chain from its configuration (`install`), and
registers the authentication API once the app exists (`register`): TokenReview,
SelfSubjectReview and the `serviceaccounts/token` subresource.

Token authenticators come in kube-apiserver's order: the static token file, service-account
tokens, bootstrap tokens. The service-account key is read when first needed, after
`ApiServer.prepare` has made sure it exists (or made then, for an in-process server).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from kybernetes.apiserver.authn.bootstrap import BootstrapTokenAuthenticator
from kybernetes.apiserver.authn.chain import AuthenticationChain
from kybernetes.apiserver.authn.getter import ObjectGetter
from kybernetes.apiserver.authn.jws import SigningKey
from kybernetes.apiserver.authn.reviews import Reviews
from kybernetes.apiserver.authn.serviceaccount import ServiceAccountTokenAuthenticator
from kybernetes.apiserver.authn.tokenfile import TokenFile
from kybernetes.apiserver.authn.tokenrequest import MAX_EXPIRATION_SECONDS, TokenRequestHandler
from kybernetes.apiserver.authn.tokens import AudienceAgnostic, TokenAuthenticator
from kybernetes.apiserver.pki import ensure_service_account_key

if TYPE_CHECKING:
    from kybernetes.apiserver.server import ApiServer, ApiServerConfig


def api_audiences(config: ApiServerConfig) -> tuple[str, ...]:
    """`--api-audiences`, by default the issuer."""
    return tuple(config.api_audiences) or (config.service_account_issuer,)


class ServiceAccountKey:
    """The service-account key of a data dir, loaded (created if need be) on first use."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._key: SigningKey | None = None

    def __call__(self) -> SigningKey:
        if self._key is None:
            self._key = SigningKey.load(ensure_service_account_key(self.data_dir))
        return self._key


def install(server: ApiServer) -> AuthenticationChain:
    config = server.config
    if not config.service_account_issuer:
        raise ValueError("service-account-issuer should not be an empty string")
    if config.service_account_max_token_expiration and \
            not 3600 <= config.service_account_max_token_expiration <= MAX_EXPIRATION_SECONDS:
        raise ValueError("the service-account-max-token-expiration must be between 1 hour and "
                         "2^32 seconds")
    audiences = api_audiences(config)
    objects = ObjectGetter(server.cache, server.registry)
    tokens: list[TokenAuthenticator] = []
    if config.token_auth_file is not None:
        tokens.append(AudienceAgnostic(TokenFile.load(config.token_auth_file), audiences))
    tokens.append(ServiceAccountTokenAuthenticator(
        config.service_account_issuer, ServiceAccountKey(config.data_dir), audiences,
        objects))
    tokens.append(AudienceAgnostic(BootstrapTokenAuthenticator(objects), audiences))
    return AuthenticationChain(tokens, anonymous=config.anonymous_auth,
                               api_audiences=audiences, loopback=server.loopback_tokens)


def register(server: ApiServer) -> None:
    """The authentication API's handlers, on the app `install`'s chain serves."""
    chain = server.app.authenticator
    assert isinstance(chain, AuthenticationChain)
    resources = server.app.resources
    reviews = Reviews(chain)
    resources.virtual[("authentication.k8s.io", "tokenreviews")] = reviews.token_review
    resources.virtual[("authentication.k8s.io", "selfsubjectreviews")] = \
        reviews.self_subject_review
    config = server.config
    resources.subresources[("", "serviceaccounts", "token")] = TokenRequestHandler(
        server.store, server.registry, issuer=config.service_account_issuer,
        key=ServiceAccountKey(config.data_dir), audiences=api_audiences(config),
        max_expiration_seconds=int(config.service_account_max_token_expiration))
