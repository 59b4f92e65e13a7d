"""An API server answering what delegating servers ask of it, as an ASGI app for httpx's
ASGI transport: TokenReviews (who holds which token), SubjectAccessReviews of non-resource
paths (who may do what where) and the `extension-apiserver-authentication` ConfigMap. It
records every review, so tests see what was asked and how often."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.kubelet.fakeapi import read_json, send_json

NOT_FOUND = {"kind": "Status", "apiVersion": "v1", "status": "Failure",
             "message": "not found", "reason": "NotFound", "code": 404}


@dataclass
class ReviewingApi:
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)  # token -> status
    grants: set[tuple[str, str, str]] = field(default_factory=set)  # (who, verb, path)
    reviews: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    client_ca: str | None = None
    failing: bool = False

    def count(self, kind: str) -> int:
        return sum(1 for k, _ in self.reviews if k == kind)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["method"] == "GET":
            if self.client_ca is None:
                await send_json(send, 404, NOT_FOUND)
            else:
                await send_json(send, 200, {"kind": "ConfigMap", "apiVersion": "v1",
                                            "data": {"client-ca-file": self.client_ca}})
            return
        review = await read_json(receive)
        spec = review["spec"]
        self.reviews.append((review["kind"], spec))
        if review["kind"] == "TokenReview":
            review["status"] = self.tokens.get(spec["token"], {"authenticated": False})
        elif self.failing:
            await send_json(send, 500, {**NOT_FOUND, "message": "etcd is away",
                                        "reason": "InternalError", "code": 500})
            return
        else:
            attrs = spec["nonResourceAttributes"]
            review["status"] = {"allowed": any(
                (who, attrs["verb"], attrs["path"]) in self.grants
                for who in [spec["user"], *spec.get("groups", ())])}
        await send_json(send, 201, review)
