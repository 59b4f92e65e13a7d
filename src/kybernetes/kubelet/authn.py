"""Who calls the kubelet API: upstream's delegating authenticator as the kubelet builds it
(`cmd/kubelet/app/auth.go` `BuildAuthn`), with anonymous requests off as k3s runs it.

- A client certificate the TLS handshake verified against the cluster CA names the user
  by its CN and the groups by its O values (`x509.CommonNameUserConversion`); one whose
  extended key usages exclude client authentication, or without a CN, names nobody.
- Else `Authorization: Bearer <token>` is asked of the API server by a `TokenReview`
  (`authentication.k8s.io/v1`, no audiences: the API server's own), as the webhook token
  authenticator does. Answers are cached 2 minutes (the kubelet's
  `authentication.webhook.cacheTTL`), refusals too, but not a review that failed or
  carried an error, as upstream's cache (`cacheErrs=false`) does.
- An authenticated user gets `system:authenticated` (upstream's group adder).

No credential, or one nobody accepts, is no user: the server answers 401.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kybernetes.client import ApiClient, ClientError
from kybernetes.kubelet.expiring import ExpiringCache

log = logging.getLogger(__name__)

ALL_AUTHENTICATED = "system:authenticated"
TOKEN_REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"
# The kubelet's `authentication.webhook.cacheTTL` default.
TOKEN_CACHE_TTL = 120.0
TOKEN_CACHE_SIZE = 4096


class AuthenticationError(Exception):
    """The credential could not be checked (the review failed, or reported an error)."""


@dataclass(frozen=True)
class User:
    """Upstream's `user.Info`."""

    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def with_authenticated(user: User) -> User:
    if ALL_AUTHENTICATED in user.groups:
        return user
    return User(user.name, user.uid, (*user.groups, ALL_AUTHENTICATED), user.extra)


def certificate_user(der: bytes) -> User | None:
    """The user a verified client certificate names, or None."""
    try:
        cert = x509.load_der_x509_certificate(der)
        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        orgs = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        try:
            usages = set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
        except x509.ExtensionNotFound:
            usages = None
    except ValueError:
        return None
    if usages is not None and not usages & {ExtendedKeyUsageOID.CLIENT_AUTH,
                                            ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE}:
        return None
    if not names or not isinstance(names[0].value, str) or not names[0].value:
        return None
    return User(names[0].value, groups=tuple(o.value for o in orgs if isinstance(o.value, str)))


def bearer_token(headers: Sequence[tuple[bytes, bytes]]) -> str | None:
    """The token of the request's `Authorization: Bearer <token>` header, or None."""
    value = next((v for k, v in headers if k.lower() == b"authorization"), b"")
    parts = value.decode("latin-1").strip().split(" ", 2)
    if len(parts) < 2 or parts[0].lower() != "bearer" or not parts[1]:
        return None
    return parts[1]


def _user(status: Mapping[str, Any]) -> User:
    info = status.get("user") or {}
    extra = {str(k): tuple(str(v) for v in values or ())
             for k, values in (info.get("extra") or {}).items()}
    return User(str(info.get("username") or ""), str(info.get("uid") or ""),
                tuple(str(g) for g in info.get("groups") or ()), extra)


class TokenReviewAuthenticator:
    """Bearer tokens checked by the API server (upstream's webhook token authenticator
    behind its cache)."""

    def __init__(self, client: ApiClient, *, ttl: float = TOKEN_CACHE_TTL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.ttl = ttl
        # Keyed by the token's digest: the cache holds no credential.
        self._cache: ExpiringCache[bytes, User | None] = ExpiringCache(TOKEN_CACHE_SIZE,
                                                                       clock=clock)

    async def authenticate_token(self, token: str) -> User | None:
        key = hashlib.sha256(token.encode()).digest()
        cached = self._cache.get(key)
        if cached is not None:
            return cached[0]
        review = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                  "spec": {"token": token}}
        try:
            answer: dict[str, Any] = await self.client.request("POST", TOKEN_REVIEWS,
                                                               body=review)
        except ClientError as err:
            raise AuthenticationError(f"token review failed: {err}") from err
        status = answer.get("status") or {}
        if not status.get("authenticated"):
            if status.get("error"):
                raise AuthenticationError(str(status["error"]))
            self._cache.set(key, None, self.ttl)
            return None
        user = _user(status)
        self._cache.set(key, user, self.ttl)
        return user


class RequestAuthenticator:
    """A client certificate first, then a bearer token."""

    def __init__(self, tokens: TokenReviewAuthenticator) -> None:
        self.tokens = tokens

    async def authenticate(self, certificate: bytes | None,
                           headers: Sequence[tuple[bytes, bytes]]) -> User | None:
        if certificate is not None:
            user = certificate_user(certificate)
            if user is not None:
                return with_authenticated(user)
        token = bearer_token(headers)
        if token is None:
            return None
        try:
            found = await self.tokens.authenticate_token(token)
        except AuthenticationError as err:
            log.warning("unable to authenticate the request: %s", err)
            return None
        return None if found is None else with_authenticated(found)
