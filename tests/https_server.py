"""The HTTPS servers tests run for the API server to call (webhooks, extension API
servers): a handler that answers JSON, served on a loopback port in a thread with a
certificate for 127.0.0.1 (and the Service's DNS name) signed by a CA of its own, which
the API objects naming the server carry as caBundle."""

from __future__ import annotations

import base64
import json
import ssl
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.testcerts import ca_signed


class JSONHandler(BaseHTTPRequestHandler):
    """A quiet request handler whose answers are JSON documents."""

    def send_json(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return


class HTTPSServer:
    """`handler` served over HTTPS on a loopback port, in a thread, as `common_name` with
    a certificate for 127.0.0.1 and `dns_names`. With `client_ca` (PEM), a client
    certificate is asked for and, when given, checked against it."""

    def __init__(self, directory: Path, common_name: str, dns_names: Sequence[str],
                 handler: type[BaseHTTPRequestHandler], *, client_ca: str | None = None
                 ) -> None:
        self.ca, cert, key = ca_signed(directory, common_name, ips=["127.0.0.1"],
                                       dns_names=dns_names)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        if client_ca is not None:
            context.verify_mode = ssl.CERT_OPTIONAL
            context.load_verify_locations(cadata=client_ca)
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
