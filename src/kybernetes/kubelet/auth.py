"""The kubelet API's filter (upstream's `Server.InstallAuthFilter`): every request,
WebSocket upgrades included, is authenticated, then authorized, before it is served.

No user is 401 `Unauthorized`; a user the API server does not allow is 403
`Forbidden (user=<name>, verb=<verb>, resource=nodes, subresource=<sub>)`; a review that
could not be had is 500 `Authorization error (...)`: upstream's plain-text bodies. The
API server calls with its own client certificate (`system:masters`), so a kubelet serves
`kubectl logs/exec/port-forward` through it; anyone else needs `nodes/proxy` (or the
subresource its path maps to) on this node. Both decisions are the API server's, asked as
every delegating server asks (client/delegatedauth.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from kybernetes.client import ApiClient
from kybernetes.client.delegatedauth import (
    AuthorizationError,
    Refusal,
    RequestAuthenticator,
    SubjectAccessReviewAuthorizer,
    TokenReviewAuthenticator,
)
from kybernetes.kubelet.authz import describe, request_attributes
from kybernetes.kubelet.tlspeer import client_certificate

log = logging.getLogger(__name__)

# The kubelet's `authentication.webhook.cacheTTL` and `authorization.webhook`
# `cacheAuthorizedTTL` / `cacheUnauthorizedTTL` defaults.
TOKEN_CACHE_TTL = 120.0
ALLOWED_TTL = 300.0
DENIED_TTL = 30.0


class KubeletAuth:
    def __init__(self, authenticator: RequestAuthenticator,
                 authorizer: SubjectAccessReviewAuthorizer, node_name: str) -> None:
        self.authenticator = authenticator
        self.authorizer = authorizer
        self.node_name = node_name

    @classmethod
    def delegating(cls, client: ApiClient, node_name: str, *,
                   clock: Callable[[], float] = time.monotonic) -> KubeletAuth:
        """Both decisions delegated to the API server through the kubelet's client
        (TokenReview, SubjectAccessReview, client/delegatedauth.py), as
        `authentication.webhook` and `authorization.mode: Webhook` do, with the kubelet's
        cache TTLs and no anonymous requests."""
        tokens = TokenReviewAuthenticator(client, ttl=TOKEN_CACHE_TTL, clock=clock)
        return cls(RequestAuthenticator(tokens),
                   SubjectAccessReviewAuthorizer(client, allowed_ttl=ALLOWED_TTL,
                                                 denied_ttl=DENIED_TTL, clock=clock),
                   node_name)

    async def refusal(self, scope: dict[str, Any]) -> Refusal | None:
        """Why the request may not be served; None when it may."""
        user = await self.authenticator.authenticate(client_certificate(scope),
                                                     scope.get("headers") or [])
        if user is None:
            return Refusal(401, "Unauthorized")
        # A WebSocket scope has no method: the upgrade is a GET.
        attrs = request_attributes(user, str(scope.get("method", "GET")), str(scope["path"]),
                                   self.node_name)
        try:
            allowed = await self.authorizer.authorize(attrs)
        except AuthorizationError as err:
            log.error("authorization error (%s): %s", describe(attrs), err)
            return Refusal(500, f"Authorization error ({describe(attrs)})")
        if not allowed:
            log.debug("forbidden (%s)", describe(attrs))
            return Refusal(403, f"Forbidden ({describe(attrs)})")
        return None
