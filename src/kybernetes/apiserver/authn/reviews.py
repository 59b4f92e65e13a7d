"""TokenReview and SelfSubjectReview: created, answered, never stored (upstream's
`pkg/registry/authentication/tokenreview` and `selfsubjectreview`).

A TokenReview asks who a token is: it is checked by the same token authenticators as
requests, for `spec.audiences` (the API's when empty), and the answer says whether it is
authenticated, as whom, for which of the audiences, or why not. A SelfSubjectReview asks
who the requester is (`kubectl auth whoami`), after impersonation.
"""

from __future__ import annotations

from typing import Any

from kybernetes.api import errors, timeutil
from kybernetes.api.registry import ResourceInfo
from kybernetes.apiserver import requestcontext
from kybernetes.apiserver.authn.chain import AuthenticationChain
from kybernetes.apiserver.authn.tokens import intersect
from kybernetes.apiserver.http import Request


class Reviews:
    def __init__(self, chain: AuthenticationChain) -> None:
        self.chain = chain

    async def token_review(self, request: Request, info: ResourceInfo, namespace: str,
                           body: dict[str, Any]) -> dict[str, Any]:
        if namespace:
            raise errors.bad_request(f"namespace is not allowed on this type: {namespace}")
        spec = body.get("spec") or {}
        token = spec.get("token") or ""
        if not token:
            raise errors.bad_request("token is required for TokenReview in authentication")
        audiences = list(spec.get("audiences") or self.chain.api_audiences)
        found, error = await self.chain.review(token, audiences)
        status: dict[str, Any] = {"user": {}}
        if found is not None:
            if audiences and not intersect(audiences, found.audiences):
                raise errors.internal("error validating audiences")
            status = {"authenticated": True, "user": found.user.as_user_info()}
            if found.audiences:
                status["audiences"] = list(found.audiences)
        else:
            status["error"] = error
        return {"kind": info.kind, "apiVersion": info.group_version,
                "metadata": body.get("metadata") or {}, "spec": spec, "status": status}

    async def self_subject_review(self, request: Request, info: ResourceInfo, namespace: str,
                                  body: dict[str, Any]) -> dict[str, Any]:
        user = requestcontext.current_user()
        return {"kind": info.kind, "apiVersion": info.group_version,
                "metadata": {"creationTimestamp": timeutil.now_rfc3339()},
                "status": {"userInfo": user.as_user_info()}}
