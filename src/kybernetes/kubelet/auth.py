"""The kubelet API's filter (upstream's `Server.InstallAuthFilter`): every request,
WebSocket upgrades included, is authenticated, then authorized, before it is served.

No user is 401 `Unauthorized`; a user the API server does not allow is 403
`Forbidden (user=<name>, verb=<verb>, resource=nodes, subresource=<sub>)`; a review that
could not be had is 500 `Authorization error (...)`: upstream's plain-text bodies. The
API server calls with its own client certificate (`system:masters`), so a kubelet serves
`kubectl logs/exec/port-forward` through it; anyone else needs `nodes/proxy` (or the
subresource its path maps to) on this node.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from kybernetes.client import ApiClient
from kybernetes.kubelet.authn import RequestAuthenticator, TokenReviewAuthenticator
from kybernetes.kubelet.authz import (
    AuthorizationError,
    SubjectAccessReviewAuthorizer,
    request_attributes,
)
from kybernetes.kubelet.tlspeer import client_certificate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refusal:
    status: int
    message: str


class KubeletAuth:
    def __init__(self, authenticator: RequestAuthenticator,
                 authorizer: SubjectAccessReviewAuthorizer, node_name: str) -> None:
        self.authenticator = authenticator
        self.authorizer = authorizer
        self.node_name = node_name

    @classmethod
    def delegating(cls, client: ApiClient, node_name: str) -> KubeletAuth:
        """Both decisions delegated to the API server through the kubelet's client
        (TokenReview, SubjectAccessReview), as `authentication.webhook` and
        `authorization.mode: Webhook` do."""
        return cls(RequestAuthenticator(TokenReviewAuthenticator(client)),
                   SubjectAccessReviewAuthorizer(client), node_name)

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
            log.error("authorization error (%s): %s", attrs.describe(), err)
            return Refusal(500, f"Authorization error ({attrs.describe()})")
        if not allowed:
            log.debug("forbidden (%s)", attrs.describe())
            return Refusal(403, f"Forbidden ({attrs.describe()})")
        return None
