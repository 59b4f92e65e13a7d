"""Service-account tokens for the pods of this node (upstream's `pkg/kubelet/token`
`Manager`), which projected `serviceAccountToken` volumes write.

A token is requested through `POST .../serviceaccounts/<name>/token` (a TokenRequest with
audiences, expirationSeconds and a boundObjectRef to the pod, so deleting the pod revokes
it) and cached by what was asked. A cached token is used until it needs a refresh
(`requires_refresh`): older than 24 hours, within 20% of its lifetime of expiring (each
less up to 10 s of jitter, so pods do not refresh in step), or issued "in the future"
(the clock went back). A refresh that fails keeps the old token while it is valid, as
upstream: the API server being away for a moment must not empty a pod's token file.
Tokens of a deleted pod are dropped (`delete_pod_tokens`), expired ones once a minute.

The clock (`time.time`, seconds) and the jitter are injectable, so the timing is tested
without waiting.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kybernetes.api import timeutil
from kybernetes.api.goquote import go_quote
from kybernetes.client import ApiClient, ApiError, ClientError, resource

log = logging.getLogger(__name__)

SERVICE_ACCOUNTS = resource("", "v1", "serviceaccounts")
MAX_TTL = 24 * 3600.0
GC_PERIOD = 60.0
MAX_JITTER = 10.0


class TokenError(Exception):
    """No usable token; the message is upstream's."""


@dataclass(frozen=True)
class BoundPod:
    """The pod a token is bound to (its `boundObjectRef`)."""

    name: str
    uid: str


@dataclass(frozen=True)
class _Issued:
    token: str
    expires: float  # the status' expirationTimestamp, as a time.time()
    expiration_seconds: int  # the answer's spec.expirationSeconds
    pod_uid: str


def cache_key(account: str, namespace: str, audiences: Sequence[str],
              expiration_seconds: int, pod: BoundPod) -> str:
    """Upstream's `keyFunc` (Go's `%q/%q/%#v/%#v/%#v`): names what was asked, never the
    token, so it is safe to log."""
    auds = f"[]string{{{', '.join(go_quote(a) for a in audiences)}}}" if audiences \
        else "[]string(nil)"
    ref = (f'v1.BoundObjectReference{{Kind:"Pod", APIVersion:"v1", '
           f"Name:{go_quote(pod.name)}, UID:{go_quote(pod.uid)}}}")
    return f"{go_quote(account)}/{go_quote(namespace)}/{auds}/{expiration_seconds}/{ref}"


class TokenManager:
    def __init__(self, client: ApiClient, *, clock: Callable[[], float] = time.time,
                 jitter: Callable[[], float] = random.random) -> None:
        self.client = client
        self.clock = clock
        self.jitter = jitter
        self._cache: dict[str, _Issued] = {}
        self._next_gc = clock() + GC_PERIOD

    async def get_token(self, namespace: str, account: str, audiences: Sequence[str],
                        expiration_seconds: int, pod: BoundPod) -> str:
        """A token of `namespace/account` bound to `pod`, from the cache unless it needs a
        refresh."""
        key = cache_key(account, namespace, audiences, expiration_seconds, pod)
        cached = self._cache.get(key)
        self._collect_expired()
        if cached is not None and not self.requires_refresh(cached):
            return cached.token
        try:
            issued = await self._request(namespace, account, audiences, expiration_seconds,
                                         pod)
        except (ClientError, ValueError) as err:
            detail = err.message if isinstance(err, ApiError) else str(err)
            if cached is None:
                raise TokenError(f"failed to fetch token: {detail}") from err
            if self.clock() > cached.expires:
                raise TokenError(f"token {key} expired and refresh failed: {detail}") from err
            log.error("couldn't update token %s: %s", key, detail)
            return cached.token
        self._cache[key] = issued
        return issued.token

    def requires_refresh(self, issued: _Issued) -> bool:
        now = self.clock()
        issued_at = issued.expires - issued.expiration_seconds
        jitter = float(int(self.jitter() * MAX_JITTER))  # whole seconds, as upstream
        if now > issued_at + MAX_TTL - jitter:
            return True
        if now > issued.expires - (issued.expiration_seconds * 20) // 100 - jitter:
            return True
        return now < issued_at

    def delete_pod_tokens(self, pod_uid: str) -> None:
        """Forget the tokens bound to a pod that is gone."""
        self._cache = {k: v for k, v in self._cache.items() if v.pod_uid != pod_uid}

    def _collect_expired(self) -> None:
        now = self.clock()
        if now < self._next_gc:
            return
        self._next_gc = now + GC_PERIOD
        self._cache = {k: v for k, v in self._cache.items() if now <= v.expires}

    async def _request(self, namespace: str, account: str, audiences: Sequence[str],
                       expiration_seconds: int, pod: BoundPod) -> _Issued:
        spec: dict[str, Any] = {
            "expirationSeconds": expiration_seconds,
            "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": pod.name,
                               "uid": pod.uid}}
        if audiences:
            spec["audiences"] = list(audiences)
        request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                   "spec": spec}
        path = self.client.path(SERVICE_ACCOUNTS, namespace, account, "token")
        answer: dict[str, Any] = await self.client.request("POST", path, body=request)
        status = answer.get("status") or {}
        seconds = (answer.get("spec") or {}).get("expirationSeconds") or expiration_seconds
        expires = timeutil.parse_time(status.get("expirationTimestamp"))
        if expires is None:
            raise ValueError(f"TokenRequest answer without an expirationTimestamp: {status}")
        return _Issued(str(status.get("token") or ""), expires.timestamp(), int(seconds),
                       pod.uid)
