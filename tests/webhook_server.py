"""A webhook server for tests: HTTPS on a loopback port, in a thread, with a certificate
for 127.0.0.1 (and `hooks.webhook-service.svc`) signed by a CA of its own, which
webhook configurations carry as caBundle. `answer(path, review)` makes each answer; every
review received is kept in `reviews`."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.https_server import HTTPSServer, JSONHandler

Answer = Callable[[str, dict[str, Any]], dict[str, Any]]


def review_response(review: dict[str, Any], **response: Any) -> dict[str, Any]:
    """An AdmissionReview answering `review` (allowed unless `response` says otherwise)."""
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "response": {"uid": review["request"]["uid"], "allowed": True, **response}}


def json_patch(operations: list[dict[str, Any]]) -> dict[str, str]:
    """The response fields of a JSONPatch."""
    return {"patchType": "JSONPatch",
            "patch": base64.b64encode(json.dumps(operations).encode()).decode()}


class WebhookServer(HTTPSServer):
    """The test's webhook server: HTTPS on a loopback port, in a thread."""

    def __init__(self, directory: Path, answer: Answer) -> None:
        self.reviews: list[dict[str, Any]] = []
        reviews = self.reviews

        class Handler(JSONHandler):
            def do_POST(self) -> None:
                review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                reviews.append(review)
                self.send_json(200, answer(self.path, review))

        super().__init__(directory, "hooks", ["hooks.webhook-service.svc"], Handler)
