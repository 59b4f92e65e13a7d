"""Delegated authentication and authorization: how a server that is not the API server (the
kubelet's 10250, the controller manager's 10257, the scheduler's 10259) learns who calls it
and what they may do, by asking the API server, as k8s.io/apiserver's delegating
authenticator and webhook authorizer do.

Authentication (`RequestAuthenticator`, upstream's `DelegatingAuthenticatorConfig`):
- A client certificate the TLS handshake verified against the client CA names the user by
  its CN and the groups by its O values (`x509.CommonNameUserConversion`); one whose
  extended key usages exclude client authentication, or without a CN, names nobody.
- Else `Authorization: Bearer <token>` is asked of the API server by a `TokenReview`
  (`authentication.k8s.io/v1`, no audiences: the API server's own). Answers are cached for
  the server's TTL, refusals too, but not a review that failed or carried an error, as
  upstream's cache (`cacheErrs=false`) does.
- An authenticated user gets `system:authenticated` (upstream's group adder).
- A request offering no credential is `system:anonymous` (group `system:unauthenticated`)
  where anonymous requests are allowed (upstream's default for delegating servers; the
  kubelet runs without, as k3s runs it); a credential nobody accepts is nobody: 401.

Authorization: a `SubjectAccessReview` for the request's attributes (resource or
non-resource), cached by its spec for one TTL when allowed and another when not; only
`allowed` passes, and a review both allowing and denying is an error, as upstream's webhook
authorizer. `DelegatingAuthorizer` first lets through the always-allowed paths (`/healthz`,
`/readyz`, `/livez`: probes never wait on the API server) and groups (`system:masters`),
as `DelegatingAuthorizationOptions` does.

`DelegatingAuth` is upstream's authentication and authorization filters for a server of
non-resource paths (`/metrics`): 401, 403 and 500 answered as a generic API server does.
`client_ca` reads the client CA from `kube-system/extension-apiserver-authentication`.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kybernetes.api import errors
from kybernetes.api.goquote import go_quote
from kybernetes.client.expiring import ExpiringCache
from kybernetes.client.rest import ApiClient, ClientError, NotFoundError

log = logging.getLogger(__name__)

ALL_AUTHENTICATED = "system:authenticated"
MASTERS = "system:masters"
TOKEN_REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"
SUBJECT_ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
EXTENSION_AUTHENTICATION = ("/api/v1/namespaces/kube-system/configmaps/"
                            "extension-apiserver-authentication")
# The delegating options' defaults: every answer cached 10 seconds.
CACHE_TTL = 10.0
TOKEN_CACHE_SIZE = 4096
REVIEW_CACHE_SIZE = 8192  # upstream's webhook authorizer cache
ALWAYS_ALLOW_PATHS = ("/healthz", "/readyz", "/livez")
TEXT = "text/plain; charset=utf-8"


class AuthenticationError(Exception):
    """The credential could not be checked (the review failed, or reported an error)."""


class AuthorizationError(Exception):
    """The review could not be had, or made no sense."""


@dataclass(frozen=True)
class User:
    """Upstream's `user.Info`."""

    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


ANONYMOUS = User("system:anonymous", groups=("system:unauthenticated",))


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

    def __init__(self, client: ApiClient, *, ttl: float = CACHE_TTL,
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
    """A client certificate first, then a bearer token; without either, the anonymous user
    when `anonymous` allows it."""

    def __init__(self, tokens: TokenReviewAuthenticator, *, anonymous: bool = False) -> None:
        self.tokens = tokens
        self.anonymous = anonymous

    async def authenticate(self, certificate: bytes | None,
                           headers: Sequence[tuple[bytes, bytes]]) -> User | None:
        if certificate is not None:
            user = certificate_user(certificate)
            if user is not None:
                return with_authenticated(user)
        token = bearer_token(headers)
        if token is None:
            return ANONYMOUS if self.anonymous and certificate is None else None
        try:
            found = await self.tokens.authenticate_token(token)
        except AuthenticationError as err:
            log.warning("unable to authenticate the request: %s", err)
            return None
        return None if found is None else with_authenticated(found)


@dataclass(frozen=True)
class Attributes:
    """Upstream's `authorizer.AttributesRecord`: a resource request when `resource` is set,
    else a request of the non-resource `path`."""

    user: User
    verb: str
    path: str
    resource: str = ""
    subresource: str = ""
    name: str = ""
    namespace: str = ""
    group: str = ""
    version: str = ""


def review_spec(attrs: Attributes) -> dict[str, Any]:
    """The `SubjectAccessReviewSpec` (fields left out when empty, as Go's omitempty)."""
    spec: dict[str, Any]
    if attrs.resource:
        resource = {"namespace": attrs.namespace, "verb": attrs.verb, "group": attrs.group,
                    "version": attrs.version, "resource": attrs.resource,
                    "subresource": attrs.subresource, "name": attrs.name}
        spec = {"resourceAttributes": {k: v for k, v in resource.items() if v}}
    else:
        spec = {"nonResourceAttributes": {"path": attrs.path, "verb": attrs.verb}}
    spec["user"] = attrs.user.name
    if attrs.user.groups:
        spec["groups"] = list(attrs.user.groups)
    if attrs.user.extra:
        spec["extra"] = {k: list(v) for k, v in attrs.user.extra.items()}
    if attrs.user.uid:
        spec["uid"] = attrs.user.uid
    return spec


class SubjectAccessReviewAuthorizer:
    """Every decision the API server's (upstream's webhook authorizer behind its cache)."""

    def __init__(self, client: ApiClient, *, allowed_ttl: float = CACHE_TTL,
                 denied_ttl: float = CACHE_TTL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.allowed_ttl = allowed_ttl
        self.denied_ttl = denied_ttl
        self._cache: ExpiringCache[bytes, dict[str, Any]] = ExpiringCache(REVIEW_CACHE_SIZE,
                                                                          clock=clock)

    async def authorize(self, attrs: Attributes) -> bool:
        spec = review_spec(attrs)
        key = orjson.dumps(spec)
        cached = self._cache.get(key)
        if cached is not None:
            status = cached[0]
        else:
            review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                      "spec": spec}
            try:
                answer: dict[str, Any] = await self.client.request(
                    "POST", SUBJECT_ACCESS_REVIEWS, body=review)
            except ClientError as err:
                raise AuthorizationError(f"subject access review failed: {err}") from err
            status = answer.get("status") or {}
            self._cache.set(key, status,
                            self.allowed_ttl if status.get("allowed") else self.denied_ttl)
        if status.get("allowed") and status.get("denied"):
            raise AuthorizationError("webhook subject access review returned both allow and "
                                     "deny response")
        return bool(status.get("allowed"))


def path_allowed(path: str, patterns: Sequence[str]) -> bool:
    """Upstream's path authorizer: a pattern is a path, or a prefix ending in `*`."""
    return any(path.startswith(p[:-1]) if p.endswith("*") else path == p for p in patterns)


class DelegatingAuthorizer:
    """The always-allowed paths (non-resource requests only) and groups, then the API
    server."""

    def __init__(self, webhook: SubjectAccessReviewAuthorizer, *,
                 always_allow_paths: Sequence[str] = ALWAYS_ALLOW_PATHS,
                 always_allow_groups: Sequence[str] = (MASTERS,)) -> None:
        self.webhook = webhook
        self.always_allow_paths = tuple(always_allow_paths)
        self.always_allow_groups = frozenset(always_allow_groups)

    async def authorize(self, attrs: Attributes) -> bool:
        if not attrs.resource and path_allowed(attrs.path, self.always_allow_paths):
            return True
        if self.always_allow_groups.intersection(attrs.user.groups):
            return True
        return await self.webhook.authorize(attrs)


@dataclass(frozen=True)
class Refusal:
    """Why a request is not served: its status code and body."""

    status: int
    message: str
    content_type: str = TEXT


def _status(error: errors.StatusError) -> Refusal:
    return Refusal(error.code, orjson.dumps(error.status()).decode(), "application/json")


class DelegatingAuth:
    """Upstream's authentication, then authorization, filters for a server of non-resource
    paths: no user is a 401 `Status`; a user refused is 403 `forbidden: User "<name>"
    cannot <verb> path "<path>"`; a decision that could not be had is 500."""

    def __init__(self, authenticator: RequestAuthenticator,
                 authorizer: DelegatingAuthorizer) -> None:
        self.authenticator = authenticator
        self.authorizer = authorizer

    @classmethod
    def through(cls, client: ApiClient, *, always_allow_paths: Sequence[str] = ALWAYS_ALLOW_PATHS,
                clock: Callable[[], float] = time.monotonic) -> DelegatingAuth:
        """Both decisions asked of the API server through `client`, with the delegating
        options' defaults (anonymous requests allowed, answers cached 10 seconds)."""
        tokens = TokenReviewAuthenticator(client, clock=clock)
        webhook = SubjectAccessReviewAuthorizer(client, clock=clock)
        return cls(RequestAuthenticator(tokens, anonymous=True),
                   DelegatingAuthorizer(webhook, always_allow_paths=always_allow_paths))

    async def refusal(self, certificate: bytes | None, headers: Sequence[tuple[bytes, bytes]],
                      method: str, path: str) -> Refusal | None:
        """Why the request may not be served; None when it may."""
        user = await self.authenticator.authenticate(certificate, headers)
        if user is None:
            return _status(errors.unauthorized())
        # A non-resource request's verb is its method's, lower-cased (RequestInfoFactory).
        attrs = Attributes(user, method.lower(), path)
        try:
            allowed = await self.authorizer.authorize(attrs)
        except AuthorizationError as err:
            log.error("authorization error (user=%s, verb=%s, path=%s): %s", user.name,
                      attrs.verb, path, err)
            return Refusal(500, f"Internal Server Error: {go_quote(path)}: {err}")
        if not allowed:
            return _status(errors.StatusError(
                403, "Forbidden",
                f"forbidden: User {go_quote(user.name)} cannot {attrs.verb} path "
                f"{go_quote(path)}"))
        return None


async def client_ca(client: ApiClient) -> str | None:
    """The client CA bundle (PEM) the API server publishes for delegating servers in
    `kube-system/extension-apiserver-authentication` (`client-ca-file`); None when it
    publishes none."""
    try:
        config_map: dict[str, Any] = await client.request("GET", EXTENSION_AUTHENTICATION)
    except NotFoundError:
        return None
    ca = (config_map.get("data") or {}).get("client-ca-file")
    return str(ca) if ca else None
