"""ServiceAccount tokens: the JWTs TokenRequest issues and their authentication (upstream's
`pkg/serviceaccount`: `claims.go` and the `jwtTokenAuthenticator` of `jwt.go`).

A token names its issuer (`--service-account-issuer`), subject
`system:serviceaccount:<ns>:<name>`, audiences, lifetime (`iat`, `nbf`, `exp`) and an id
(`jti`), and in the private `kubernetes.io` claim the service account and the object it is
bound to (a pod, with its node; a secret; or a node), each by name and uid.

A token is accepted when the server's key signed it, its issuer is the server's, it is in
its lifetime (one minute of leeway, as go-jose's), one of its audiences is targeted, and the
objects it names still exist with those uids and are not deleted (more than the leeway ago;
a pod in graceful deletion keeps its tokens until then). Signature checks are cached (a
bounded map, entries dropped when they expire); the object checks run every time, against
the watch cache, so deleting a pod invalidates its token at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from kybernetes.api.goquote import go_quote
from kybernetes.apiserver.authn.getter import ObjectGetter
from kybernetes.apiserver.authn.jws import SignatureError, SigningKey, parse
from kybernetes.apiserver.authn.tokens import InvalidToken, TokenResponse, intersect
from kybernetes.apiserver.authn.user import UserInfo, service_account_user

# A pod-bound token asked for with this lifetime (the kubelet's default projection) lives a
# year, warning after the lifetime asked for (upstream's --service-account-extend-token-
# expiration, on by default).
WARN_ONLY_BOUND_TOKEN_EXPIRATION_SECONDS = 60 * 60 + 7
EXPIRATION_EXTENSION_SECONDS = 24 * 365 * 60 * 60
# go-jose's jwt.DefaultLeeway.
LEEWAY = 60.0
PRIVATE_CLAIM = "kubernetes.io"
POD_NAME_KEY = "authentication.kubernetes.io/pod-name"
POD_UID_KEY = "authentication.kubernetes.io/pod-uid"
NODE_NAME_KEY = "authentication.kubernetes.io/node-name"
NODE_UID_KEY = "authentication.kubernetes.io/node-uid"
CREDENTIAL_ID_KEY = "authentication.kubernetes.io/credential-id"
INVALIDATED = "service account token has been invalidated"

Ref = dict[str, str]


def object_ref(name: str, uid: str = "") -> Ref:
    """A `{name, uid}` reference, empty fields left out as upstream's omitempty does."""
    return {k: v for k, v in (("name", name), ("uid", uid)) if v}


def claims(*, issuer: str, namespace: str, service_account: Ref, audiences: Sequence[str],
           issued_at: int, expiration_seconds: int, jti: str, warn_after_seconds: int = 0,
           pod: Ref | None = None, secret: Ref | None = None, node: Ref | None = None
           ) -> dict[str, Any]:
    """The claims of a token (upstream's `Claims` plus the generator's issuer)."""
    private: dict[str, Any] = {"namespace": namespace, "serviceaccount": service_account}
    if pod is not None:
        private["pod"] = pod
    if secret is not None:
        private["secret"] = secret
    if node is not None:
        private["node"] = node
    if warn_after_seconds:
        private["warnafter"] = issued_at + warn_after_seconds
    name = service_account.get("name", "")
    return {"iss": issuer, "sub": f"system:serviceaccount:{namespace}:{name}",
            "aud": list(audiences), "iat": issued_at, "nbf": issued_at,
            "exp": issued_at + expiration_seconds, "jti": jti, PRIVATE_CLAIM: private}


def go_strings(items: Sequence[str]) -> str:
    """Go's `%q` of a []string: `["a" "b"]`."""
    return "[" + " ".join(go_quote(i) for i in items) + "]"


class ServiceAccountTokenAuthenticator:
    def __init__(self, issuer: str, key: Callable[[], SigningKey], implicit: Sequence[str],
                 objects: ObjectGetter, *, clock: Callable[[], float] = time.time,
                 cache_size: int = 4096) -> None:
        self.issuer = issuer
        self.key = key
        self.implicit = tuple(implicit)
        self.objects = objects
        self.clock = clock
        self.cache_size = cache_size
        # Token -> its claims, for tokens whose signature and issuer checked out.
        self._verified: dict[str, dict[str, Any]] = {}

    async def authenticate_token(self, token: str, audiences: Sequence[str]
                                 ) -> TokenResponse | None:
        public = self._verified_claims(token)
        if public is None:
            return None
        aud = public.get("aud")
        token_audiences = (aud,) if isinstance(aud, str) else \
            tuple(a for a in aud if isinstance(a, str)) if isinstance(aud, list) else ()
        targets = tuple(audiences) or self.implicit
        common = intersect(token_audiences or self.implicit, targets)
        if not common and self.implicit:
            raise InvalidToken(f"token audiences {go_strings(token_audiences or self.implicit)}"
                               f" is invalid for the target audiences {go_strings(targets)}")
        try:
            user = await self._validate(public, self.clock())
        except InvalidToken:
            if _expired(public, self.clock()):
                self._verified.pop(token, None)
            raise
        return TokenResponse(user, common)

    def _verified_claims(self, token: str) -> dict[str, Any] | None:
        """The claims of a token this server signed; None for a token of another issuer
        (or no JWT at all)."""
        cached = self._verified.get(token)
        if cached is not None:
            return cached
        parsed = parse(token)
        if parsed is None or parsed.payload.get("iss") != self.issuer:
            return None
        try:
            self.key().verify(parsed)
        except SignatureError as err:
            raise InvalidToken(str(err)) from None
        if len(self._verified) >= self.cache_size:
            now = self.clock()
            for stale in [t for t, c in self._verified.items() if _expired(c, now)]:
                del self._verified[stale]
            if len(self._verified) >= self.cache_size:
                del self._verified[next(iter(self._verified))]
        self._verified[token] = parsed.payload
        return parsed.payload

    async def _validate(self, public: dict[str, Any], now: float) -> UserInfo:
        """Upstream's validator: lifetime, then the objects the token names."""
        _check_lifetime(public, now)
        private = public.get(PRIVATE_CLAIM)
        if not isinstance(private, dict):
            raise InvalidToken("service account token claims could not be validated due to "
                               "unexpected validation error")
        namespace = _text(private, "namespace")
        sa_ref = _ref(private, "serviceaccount") or {}
        pod_ref = _ref(private, "pod")
        secret_ref = _ref(private, "secret")
        node_ref = _ref(private, "node")
        objects = self.objects
        sa_name, sa_uid = sa_ref.get("name", ""), sa_ref.get("uid", "")
        account = await objects.get(objects.serviceaccounts, namespace, sa_name)
        if account is None:
            raise InvalidToken(f'serviceaccounts "{sa_name}" not found')
        uid = account["metadata"].get("uid", "")
        if uid != sa_uid:
            raise InvalidToken(f"service account UID ({uid}) does not match claim ({sa_uid})")
        if _deleted_before(account, now):
            raise InvalidToken(f"service account {namespace}/{sa_name} has been deleted")
        if secret_ref is not None:
            self._check_bound(await objects.get(objects.secrets, namespace,
                                                secret_ref.get("name", "")), secret_ref,
                              "secret", now)
        extra: dict[str, tuple[str, ...]] = {}
        if pod_ref is not None:
            self._check_bound(await objects.get(objects.pods, namespace,
                                                pod_ref.get("name", "")), pod_ref, "pod", now)
            extra[POD_NAME_KEY] = (pod_ref.get("name", ""),)
            extra[POD_UID_KEY] = (pod_ref.get("uid", ""),)
        if node_ref is not None:
            if pod_ref is None:
                self._check_bound(await objects.get(objects.nodes, "", node_ref.get("name", "")),
                                  node_ref, "node", now)
            if node_ref.get("name"):
                extra[NODE_NAME_KEY] = (node_ref["name"],)
                if node_ref.get("uid"):
                    extra[NODE_UID_KEY] = (node_ref["uid"],)
        jti = public.get("jti")
        if isinstance(jti, str) and jti:
            extra[CREDENTIAL_ID_KEY] = (f"JTI={jti}",)
        return service_account_user(namespace, sa_name, sa_uid, extra)

    @staticmethod
    def _check_bound(obj: dict[str, Any] | None, ref: Ref, kind: str, now: float) -> None:
        """The object a token is bound to still exists, with the uid claimed."""
        if obj is None:
            raise InvalidToken(INVALIDATED)
        uid = obj["metadata"].get("uid", "")
        if uid != ref.get("uid", ""):
            raise InvalidToken(f"{kind} UID ({uid}) does not match service account {kind} ref "
                               f"claim ({ref.get('uid', '')})")
        if _deleted_before(obj, now):
            raise InvalidToken(INVALIDATED)


def _text(claims_: dict[str, Any], key: str) -> str:
    value = claims_.get(key)
    return value if isinstance(value, str) else ""


def _ref(private: dict[str, Any], key: str) -> Ref | None:
    value = private.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidToken("service account token claims could not be validated due to "
                           "unexpected validation error")
    return {k: v for k, v in value.items() if k in ("name", "uid") and isinstance(v, str)}


def _number(public: dict[str, Any], key: str) -> float | None:
    value = public.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken("service account token claims could not be validated due to "
                           "unexpected validation error")
    return float(value)


def _expired(public: dict[str, Any], now: float) -> bool:
    exp = public.get("exp")
    return isinstance(exp, int | float) and now - LEEWAY > exp


def _check_lifetime(public: dict[str, Any], now: float) -> None:
    """go-jose's `ValidateWithLeeway`, with the validator's messages."""
    not_before, expiry, issued_at = (_number(public, k) for k in ("nbf", "exp", "iat"))
    if not_before is not None and now + LEEWAY < not_before:
        raise InvalidToken("service account token is not valid yet")
    if expiry is not None and now - LEEWAY > expiry:
        raise InvalidToken("service account token has expired")
    if issued_at is not None and now + LEEWAY < issued_at:
        raise InvalidToken("service account token is issued in the future")


def _deleted_before(obj: dict[str, Any], now: float) -> bool:
    """Deleted (its deletionTimestamp passed) more than the leeway ago."""
    stamp = obj["metadata"].get("deletionTimestamp")
    if not isinstance(stamp, str) or not stamp:
        return False
    try:
        deleted = datetime.fromisoformat(stamp).timestamp()
    except ValueError:
        return False
    return deleted < now - LEEWAY
