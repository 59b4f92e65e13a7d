"""A webhook server for tests: HTTPS on a loopback port, in a thread, with a certificate
for 127.0.0.1 (and `hooks.webhook-service.svc`) signed by a CA of its own, which
webhook configurations carry as caBundle. `answer(path, review)` makes each answer; every
review received is kept in `reviews`."""

from __future__ import annotations

import base64
import json
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.testcerts import ca_signed

Answer = Callable[[str, dict[str, Any]], dict[str, Any]]


def review_response(review: dict[str, Any], **response: Any) -> dict[str, Any]:
    """An AdmissionReview answering `review` (allowed unless `response` says otherwise)."""
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "response": {"uid": review["request"]["uid"], "allowed": True, **response}}


def json_patch(operations: list[dict[str, Any]]) -> dict[str, str]:
    """The response fields of a JSONPatch."""
    return {"patchType": "JSONPatch",
            "patch": base64.b64encode(json.dumps(operations).encode()).decode()}


class WebhookServer:
    """The test's webhook server: HTTPS on a loopback port, in a thread."""

    def __init__(self, directory: Path, answer: Answer) -> None:
        self.ca, cert, key = ca_signed(directory, "hooks", ips=["127.0.0.1"],
                                       dns_names=["hooks.webhook-service.svc"])
        self.reviews: list[dict[str, Any]] = []
        reviews = self.reviews

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                reviews.append(review)
                body = json.dumps(answer(self.path, review)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def ca_bundle(self) -> str:
        return base64.b64encode(self.ca).decode()

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


