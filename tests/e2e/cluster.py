"""A real `kyb server` process on loopback, and the real kubectl pointed at it.

End-to-end tests start the server exactly as a user does (a separate process, HTTPS, its
own data dir and kubeconfig) and drive it with kubectl 1.35 and plain HTTPS requests.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from kybernetes.apiserver.pki import Pki, ssl_client_context


def find_kubectl() -> str:
    """kubectl 1.35: $KUBECTL, else the one install-kubectl puts in ~/.local/bin."""
    for candidate in (os.environ.get("KUBECTL"), str(Path.home() / ".local/bin/kubectl"),
                      shutil.which("kubectl")):
        if candidate and Path(candidate).exists():
            return candidate
    raise RuntimeError("kubectl not found: run ../shared/tools/install-kubectl")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    data_dir: Path
    port: int = field(default_factory=free_port)
    extra_args: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def kubeconfig(self) -> Path:
        return self.data_dir / "kubeconfig.yaml"

    def start(self, timeout: float = 60) -> None:
        log = open(self.data_dir / "server.log", "ab")  # noqa: SIM115 - owned by the process
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kybernetes.cli.main", "server", "--data-dir",
             str(self.data_dir), "--bind-address", "127.0.0.1", "--https-listen-port",
             str(self.port), *self.extra_args],
            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"kyb server exited: {self.log_tail()}")
            try:
                if self.client().get("/readyz").status_code == 200:
                    return
            except (httpx.HTTPError, OSError, ssl.SSLError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"kyb server not ready in {timeout}s: {self.log_tail()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def log_tail(self, lines: int = 40) -> str:
        path = self.data_dir / "server.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) \
            if path.exists() else ""

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=ssl_client_context(Pki.at(self.data_dir)),
                            timeout=30)


@dataclass
class Kubectl:
    kubeconfig: Path
    binary: str = field(default_factory=find_kubectl)

    def run(self, *args: str, input: str | None = None, check: bool = True,
            env: dict[str, str] | None = None, timeout: float = 60
            ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.binary, "--kubeconfig", str(self.kubeconfig), *args], input=input,
            capture_output=True, text=True, timeout=timeout,
            env={**os.environ, **(env or {})})
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def __call__(self, *args: str, input: str | None = None) -> str:
        return self.run(*args, input=input).stdout

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-o", "json"))
