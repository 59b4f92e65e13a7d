"""A real `kyb server` process on loopback, and the real kubectl pointed at it.

End-to-end tests start the server exactly as a user does (a separate process, HTTPS, its
own data dir and kubeconfig) and drive it with kubectl 1.35 and plain HTTPS requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import queue
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx
import pytest

from kybernetes.apiserver.pki import Pki, ssl_client_context


def find_kubectl() -> str:
    """kubectl 1.35: $KUBECTL, else the one install-kubectl puts in ~/.local/bin."""
    for candidate in (os.environ.get("KUBECTL"), str(Path.home() / ".local/bin/kubectl"),
                      shutil.which("kubectl")):
        if candidate and Path(candidate).exists():
            return candidate
    raise RuntimeError("kubectl not found: run tools/install-kubectl")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process(process: subprocess.Popen[Any], timeout: float = 20,
                 sig: int = signal.SIGTERM) -> None:
    """Signal `process` (SIGTERM: shut down cleanly) and wait up to `timeout` seconds for
    it to exit; kill it if it does not."""
    process.send_signal(sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class Server:
    data_dir: Path
    port: int = field(default_factory=free_port)
    extra_args: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None
    # The `kyb` subcommand: `server` (everything) or `apiserver` (the API server alone).
    command: str = "server"
    # Whether `kyb server` runs its node agent (a real kubelet with CNI): only inside a
    # network namespace the test made (see tests/e2e/nodens.py), never on the host's.
    agent: bool = False

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def kubeconfig(self) -> Path:
        return self.data_dir / "kubeconfig.yaml"

    def start(self, timeout: float = 60) -> None:
        log = open(self.data_dir / "server.log", "ab")  # noqa: SIM115 - owned by the process
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kybernetes.cli.main", self.command, "--data-dir",
             str(self.data_dir), "--bind-address", "127.0.0.1", "--https-listen-port",
             str(self.port), *self._agent_args(), *self.extra_args],
            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"kyb server exited: {self.log_tail()}")
            try:
                with self.client() as client:
                    if client.get("/readyz").status_code == 200:
                        return
            except (httpx.HTTPError, OSError, ssl.SSLError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"kyb server not ready in {timeout}s: {self.log_tail()}")

    def _agent_args(self) -> list[str]:
        return ["--disable-agent"] if self.command == "server" and not self.agent else []

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            stop_process(self.process, 20, sig)
        self.process = None

    def kill(self) -> None:
        """`kill -9`: no shutdown, no flush; whatever was acknowledged must be on disk."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def request_counts(self) -> dict[tuple[str, int], int]:
        """`apiserver_request_total` from /metrics: {(verb, code): count}."""
        with self.client() as client:
            text = client.get("/metrics").text
        counts: dict[tuple[str, int], int] = {}
        for match in _REQUEST_TOTAL.finditer(text):
            key = (match["verb"], int(match["code"]))
            counts[key] = counts.get(key, 0) + int(float(match["count"]))
        return counts

    def server_errors(self) -> dict[tuple[str, int], int]:
        """The requests this server answered with a 5xx (it never should)."""
        counts = self.request_counts()
        if not counts:
            raise AssertionError("/metrics has no apiserver_request_total samples")
        return {key: n for key, n in counts.items() if key[1] >= 500}

    def log_tail(self, lines: int = 40) -> str:
        path = self.data_dir / "server.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) \
            if path.exists() else ""

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=ssl_client_context(Pki.at(self.data_dir)),
                            timeout=30)


@contextlib.contextmanager
def running_server(data_dir: Path, extra_args: Sequence[str] = ()) -> Iterator[Server]:
    """A started `kyb server` (the fixture of a test module), stopped on exit."""
    running = Server(data_dir, extra_args=list(extra_args))
    running.start()
    try:
        yield running
    finally:
        running.stop()


@contextlib.contextmanager
def checked_server(data_dir: Path, extra_args: Sequence[str] = (),
                   expected: Mapping[tuple[str, int], int] | None = None) -> Iterator[Server]:
    """`running_server`, and the test fails if the server answered any 5xx but exactly the
    `expected` ones ((verb, code) -> count, read at the end: tests add what they cause)."""
    with running_server(data_dir, extra_args) as running:
        yield running
        errors = running.server_errors()
    wanted = dict(expected or {})
    if errors != wanted:
        pytest.fail(f"the server answered 5xx: {errors} (expected {wanted})\n"
                    f"{running.log_tail()}")


def desired_state(obj: dict[str, Any]) -> tuple[Any, ...]:
    """What a user's write changes (spec, generation, labels): a refused or no-op write must
    leave it as it was, while controllers may write status and annotations meanwhile."""
    meta = obj["metadata"]
    return obj["spec"], meta["generation"], meta.get("labels")


def etcd_storage_args(endpoints: list[str]) -> list[str]:
    """`kyb` flags for an etcd cluster at these `127.0.0.1:port` endpoints."""
    return ["--storage", "etcd://" + ",".join(endpoints)]


def wipe_etcd(endpoint: str) -> None:
    """Delete every key of the etcd at `endpoint`, so that a server started on it begins
    from an empty keyspace (as one on a new SQLite file does)."""
    import grpc  # type: ignore[import-untyped]
    from aetcd import rpc  # type: ignore[import-untyped]

    async def run() -> None:
        async with grpc.aio.insecure_channel(endpoint) as channel:
            await rpc.KVStub(channel).DeleteRange(
                rpc.DeleteRangeRequest(key=b"\0", range_end=b"\0"), timeout=10)

    asyncio.run(run())


_REQUEST_TOTAL = re.compile(
    r'^apiserver_request_total\{(?=[^}]*verb="(?P<verb>[^"]*)")(?=[^}]*code="(?P<code>\d+)")'
    r'[^}]*\}\s+(?P<count>[0-9.e+]+)$', re.MULTILINE)


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

    def popen(self, *args: str) -> subprocess.Popen[str]:
        """A long-running kubectl (e.g. `get -w`), its stdout a text pipe."""
        return subprocess.Popen(
            [self.binary, "--kubeconfig", str(self.kubeconfig), *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


class LineReader:
    """Reads a stream's lines on a thread, so a test can wait for a line with a deadline
    instead of blocking forever on a process that never prints it."""

    def __init__(self, stream: IO[str]) -> None:
        self.seen: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 30) -> str:
        """The next line matching `predicate`; every line read is kept in `seen`."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching line within {timeout}s; read {self.seen}")
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"the stream ended; read {self.seen}")
            self.seen.append(line)
            if predicate(line):
                return line


@contextlib.contextmanager
def open_watch(client: httpx.Client, path: str, params: dict[str, str],
               timeout_seconds: int = 15) -> Iterator[Iterator[dict[str, Any]]]:
    """A watch's events, as they arrive. The server ends the watch after `timeout_seconds`,
    so a test waiting for an event that never comes fails instead of hanging."""
    query = {**params, "watch": "1", "timeoutSeconds": str(timeout_seconds)}
    with client.stream("GET", path, params=query) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("application/json")
        yield (json.loads(line) for line in response.iter_lines() if line.strip())


def read_until(events: Iterator[dict[str, Any]], until: Callable[[dict[str, Any]], bool]
               ) -> list[dict[str, Any]]:
    """Events up to and including the first for which `until` is true."""
    got: list[dict[str, Any]] = []
    for event in events:
        got.append(event)
        if until(event):
            return got
    raise AssertionError(f"the watch ended before the awaited event; got {got}")


def watch_events(client: httpx.Client, path: str, params: dict[str, str],
                 until: Callable[[dict[str, Any]], bool], timeout_seconds: int = 15
                 ) -> list[dict[str, Any]]:
    """Open a watch and read its events up to and including the first `until` accepts."""
    with open_watch(client, path, params, timeout_seconds) as events:
        return read_until(events, until)


def assert_status(response: httpx.Response, code: int, reason: str) -> dict[str, Any]:
    """The response is a Kubernetes `Status` failure with this code and reason."""
    assert response.status_code == code, (response.status_code, response.text[:2000])
    assert response.headers["content-type"].startswith("application/json"), response.headers
    status: dict[str, Any] = response.json()
    assert status["kind"] == "Status", status
    assert status["apiVersion"] == "v1", status
    assert status["status"] == "Failure", status
    assert status["code"] == code, status
    assert status["reason"] == reason, status
    assert status.get("message"), status
    return status


def make_namespace(api: httpx.Client, name: str) -> str:
    """Create a namespace over HTTPS (JSON), for tests that need one of their own."""
    response = api.post("/api/v1/namespaces", json={
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    assert response.status_code == 201, response.text
    return name


def namespace_name(test_name: str) -> str:
    """A valid, unique namespace name (an RFC 1123 label) for a test."""
    base = re.sub(r"[^a-z0-9]+", "-", test_name.removeprefix("test_").lower()).strip("-")
    if len(base) <= 63:
        return base
    digest = hashlib.sha1(test_name.encode()).hexdigest()[:8]
    return f"{base[:54].rstrip('-')}-{digest}"


T = TypeVar("T")

# How long the e2e tests wait for the cluster to converge: a guard against hangs, not a measure.
WAIT = 90.0


def wait_until(check: Callable[[], T | None], what: str, timeout: float = WAIT) -> T:
    """Poll `check` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)
