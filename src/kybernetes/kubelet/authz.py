"""What a user may do on the kubelet API: upstream's `NodeAuthorizerAttributesGetter`
(`pkg/kubelet/server/auth.go`) and the webhook authorizer the kubelet delegates to
(`authorization.mode: Webhook`).

A request is a resource request on this node's `nodes` object: the verb is the HTTP
method's (GET get, POST create, PUT update, PATCH patch, DELETE delete; a WebSocket
upgrade is a GET, so `get`, as upstream 1.35 still maps it); the subresource is `stats`,
`metrics`, `log`, `spec` or `checkpoint` for those paths and `proxy` for everything else
(containerLogs, exec, attach, portForward, run, pods).

The decision is the API server's, asked by a `SubjectAccessReview`. Answers are cached
by their spec, 5 minutes when allowed and 30 seconds when not (the kubelet's
`authorization.webhook.cacheAuthorizedTTL` / `cacheUnauthorizedTTL`). Only `allowed`
passes; a review both allowing and denying is an error, as upstream's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from kybernetes.client import ApiClient, ClientError
from kybernetes.kubelet.authn import User
from kybernetes.kubelet.expiring import ExpiringCache

SUBJECT_ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
ALLOWED_TTL = 300.0
DENIED_TTL = 30.0
CACHE_SIZE = 8192  # upstream's webhook authorizer cache
VERBS = {"POST": "create", "GET": "get", "PUT": "update", "PATCH": "patch",
         "DELETE": "delete"}
# Path prefixes with a subresource of their own (upstream's statsPath, metricsPath,
# logsPath, specPath, checkpointPath); any other path is `proxy`.
SUBRESOURCES = (("/stats/", "stats"), ("/metrics", "metrics"), ("/logs/", "log"),
                ("/spec/", "spec"), ("/checkpoint/", "checkpoint"))


class AuthorizationError(Exception):
    """The review could not be had, or made no sense."""


@dataclass(frozen=True)
class Attributes:
    """Upstream's `authorizer.AttributesRecord` for a kubelet API request."""

    user: User
    verb: str
    name: str
    subresource: str
    path: str
    resource: str = "nodes"
    version: str = "v1"

    def describe(self) -> str:
        return (f"user={self.user.name}, verb={self.verb}, resource={self.resource}, "
                f"subresource={self.subresource}")


def is_subpath(subpath: str, path: str) -> bool:
    path = path.removesuffix("/")
    return subpath == path or (subpath.startswith(path) and subpath[len(path):][:1] == "/")


def request_attributes(user: User, method: str, path: str, node_name: str) -> Attributes:
    subresource = next((sub for prefix, sub in SUBRESOURCES if is_subpath(path, prefix)),
                       "proxy")
    return Attributes(user, VERBS.get(method, ""), node_name, subresource, path)


def review_spec(attrs: Attributes) -> dict[str, Any]:
    """The `SubjectAccessReviewSpec` (fields left out when empty, as Go's omitempty)."""
    resource = {"verb": attrs.verb, "version": attrs.version, "resource": attrs.resource,
                "subresource": attrs.subresource, "name": attrs.name}
    spec: dict[str, Any] = {"resourceAttributes": {k: v for k, v in resource.items() if v},
                            "user": attrs.user.name}
    if attrs.user.groups:
        spec["groups"] = list(attrs.user.groups)
    if attrs.user.extra:
        spec["extra"] = {k: list(v) for k, v in attrs.user.extra.items()}
    if attrs.user.uid:
        spec["uid"] = attrs.user.uid
    return spec


class SubjectAccessReviewAuthorizer:
    def __init__(self, client: ApiClient, *, allowed_ttl: float = ALLOWED_TTL,
                 denied_ttl: float = DENIED_TTL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.allowed_ttl = allowed_ttl
        self.denied_ttl = denied_ttl
        self._cache: ExpiringCache[bytes, dict[str, Any]] = ExpiringCache(CACHE_SIZE,
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
