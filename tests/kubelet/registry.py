"""A real registry for tests: Debian's `docker-registry` (distribution 2.8) on loopback.

`run_registry(tmp)` starts it on 127.0.0.1:<free port> with its own config and storage
dir and stops it afterwards. With `token_auth=TokenServer(...)` the registry demands
Bearer tokens (`auth: token`), which a tiny token server in this process issues: RS256
JWTs signed with a key made here, whose self-signed certificate is the registry's
`rootcertbundle` (the token carries it in its `x5c` header). The token server grants pull
on `public_repositories` to anyone, and pull and push on everything to a user who
authenticates with Basic credentials from `users`; wrong credentials get 401.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import http.server
import json
import os
import socket
import subprocess
import threading
import time
import urllib.parse
import uuid
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from tests.e2e.cluster import stop_process

DOCKER_REGISTRY = Path("/usr/bin/docker-registry")
SERVICE = "kyb-test-registry"
ISSUER = "kyb-test-token-issuer"
_STARTUP_TRIES = 200  # x 0.05 s: how long the registry may take to listen


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class TokenServer:
    users: Mapping[str, str] = field(default_factory=dict)
    public_repositories: Collection[str] = ()
    port: int = 0
    requests: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER)])
        now = datetime.datetime.now(datetime.UTC)
        self.certificate = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(self._key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256()))
        self._server: http.server.ThreadingHTTPServer | None = None

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def issue(self, subject: str, access: list[dict[str, object]]) -> str:
        der = self.certificate.public_bytes(serialization.Encoding.DER)
        header = {"alg": "RS256", "typ": "JWT", "x5c": [base64.b64encode(der).decode()]}
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": subject, "aud": SERVICE, "exp": now + 300,
                  "nbf": now - 10, "iat": now, "jti": uuid.uuid4().hex, "access": access}
        signing_input = (_b64url(json.dumps(header).encode()) + "." +
                         _b64url(json.dumps(claims).encode()))
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(),
                                   hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    def grant(self, authorization: str | None, scope: str) -> tuple[int, str]:
        """(status, token) for a token request."""
        user = ""
        if authorization:
            kind, _, value = authorization.partition(" ")
            username, _, password = base64.b64decode(value).decode().partition(":")
            if kind.lower() != "basic" or self.users.get(username) != password:
                return 401, ""
            user = username
        access: list[dict[str, object]] = []
        for item in filter(None, scope.split(" ")):
            kind, _, rest = item.partition(":")
            name, _, actions = rest.rpartition(":")
            wanted = actions.split(",")
            allowed = wanted if user else (["pull"] if name in self.public_repositories
                                           else [])
            granted = [a for a in wanted if a in allowed]
            if kind == "repository" and granted:
                access.append({"type": kind, "name": name, "actions": granted})
        return 200, self.issue(user, access)

    def start(self) -> None:
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
                authorization = self.headers.get("Authorization")
                owner.requests.append({**query, "authorized": str(bool(authorization))})
                status, token = owner.grant(authorization, query.get("scope", ""))
                body = json.dumps({"token": token} if token else {"details": "denied"})
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def token_for(self, user: str, repository: str, actions: str = "pull,push") -> str:
        """A token as the server would give `user` (for pushing in test setup)."""
        return self.issue(user, [{"type": "repository", "name": repository,
                                  "actions": actions.split(",")}])


@dataclass
class RunningRegistry:
    host: str  # "127.0.0.1:<port>"
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://{self.host}"


@contextlib.contextmanager
def run_registry(directory: Path, *, token_auth: TokenServer | None = None, port: int = 0
                 ) -> Iterator[RunningRegistry]:
    """docker-registry on 127.0.0.1:`port` (a free one by default), storing under
    `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    config = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(directory / "storage")},
                    "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}"},
    }
    if token_auth is not None:
        bundle = directory / "token-ca.pem"
        bundle.write_bytes(token_auth.certificate.public_bytes(serialization.Encoding.PEM))
        token_auth.start()
        config["auth"] = {"token": {"realm": token_auth.realm, "service": SERVICE,
                                    "issuer": ISSUER, "rootcertbundle": str(bundle)}}
    config_path = directory / "config.yml"
    config_path.write_text(json.dumps(config))  # JSON is YAML
    log = open(directory / "registry.log", "wb")  # noqa: SIM115 - closed below
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    process = subprocess.Popen([str(DOCKER_REGISTRY), "serve", str(config_path)],
                               stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        for _ in range(_STARTUP_TRIES):
            if process.poll() is not None:
                raise RuntimeError("docker-registry exited: "
                                   + (directory / "registry.log").read_text())
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{port}/v2/").status_code in (200, 401):
                    break
            time.sleep(0.05)
        else:
            raise RuntimeError("docker-registry did not start listening")
        yield RunningRegistry(host=f"127.0.0.1:{port}", process=process)
    finally:
        stop_process(process, 10)
        log.close()
        if token_auth is not None:
            token_auth.stop()
