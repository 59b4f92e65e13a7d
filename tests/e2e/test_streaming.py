"""kubectl 1.35's streaming commands through a real `kyb server` to a kubelet server:
`logs` (tail, timestamps, previous, since, limit, follow), `exec` (exit codes, piped stdin,
a terminal), `attach` and `port-forward`.

The kubelet's HTTPS server runs in this process on 127.0.0.1, backed by local processes
standing for containers (`tests/kubelet/streamhost.py`); a Node object points the API server
at it, exactly as a real node's status would. Everything stays on loopback.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import select
import socket
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from kybernetes.apiserver.pki import Pki
from kybernetes.kubelet.logs import STDERR, STDOUT
from kybernetes.kubelet.server import KubeletServer
from tests.e2e.cluster import Kubectl, LineReader, Server, running_server
from tests.kubelet.streamhost import LocalHost, serving_in_thread

pytestmark = pytest.mark.e2e

NODE = "stream-node"
RUNNING = {"state": {"running": {"startedAt": "2026-11-23T10:00:00Z"}}}
T0 = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)


@dataclass
class NodeKubelet:
    host: LocalHost
    port: int


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One `kyb server` on SQLite without its own node: the storage backend plays no part."""
    with running_server(tmp_path_factory.mktemp("kyb"), ["--disable-agent"]) as running:
        yield running


@pytest.fixture(scope="module")
def kubelet(server: Server, api: httpx.Client, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[NodeKubelet]:
    """The kubelet server on a thread of its own, and its Node."""
    host = LocalHost(tmp_path_factory.mktemp("pods"))
    pki = Pki.at(server.data_dir)
    with serving_in_thread(lambda sock: KubeletServer(host, log_poll_interval=0.02).serve(
            sock, cert_file=pki.serving_cert, key_file=pki.serving_key)) as port:
        node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE}}
        assert api.post("/api/v1/nodes", json=node).status_code == 201
        current = api.get(f"/api/v1/nodes/{NODE}").json()
        current["status"] = {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                                           {"type": "Hostname", "address": NODE}],
                             "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}
        assert api.put(f"/api/v1/nodes/{NODE}/status", json=current).status_code == 200
        try:
            yield NodeKubelet(host, port)
        finally:
            host.stop()


def _pod(api: httpx.Client, kubelet: NodeKubelet, ns: str, name: str,
         containers: dict[str, dict[str, Any]]) -> None:
    """A pod bound to the node, Running in the API; its containers' states as given."""
    spec = {"nodeName": NODE, "containers": [
        {"name": c, "image": "busybox", "stdin": True} for c in containers]}
    created = api.post(f"/api/v1/namespaces/{ns}/pods", json={
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec})
    assert created.status_code == 201, created.text
    pod = created.json()
    pod["status"] = {"phase": "Running"}
    assert api.put(f"/api/v1/namespaces/{ns}/pods/{name}/status", json=pod).status_code == 200
    kubelet.host.add_pod(ns, name, pod["metadata"]["uid"], containers)


@pytest.fixture
def web(api: httpx.Client, kubelet: NodeKubelet, ns: str) -> str:
    """Pod `web` in `ns`: `app` on its second life (restarted once), `side` beside it."""
    _pod(api, kubelet, ns, "web", {
        "app": {**RUNNING, "restartCount": 1,
                "lastState": {"terminated": {"exitCode": 2, "reason": "Error"}}},
        "side": RUNNING})
    kubelet.host.writer(ns, "web", "app", 0).write(STDOUT, b"first life\n", when=T0)
    app = kubelet.host.writer(ns, "web", "app", 1)
    for i in range(3):
        app.write(STDOUT if i != 1 else STDERR, f"line {i}\n".encode(),
                  when=T0 + timedelta(seconds=i))
    kubelet.host.writer(ns, "web", "side", 0).write(STDOUT, b"sidecar\n", when=T0)
    return "web"


# -- logs ------------------------------------------------------------------------------

def test_logs_with_options(kubectl: Kubectl, ns: str, web: str) -> None:
    logs = ["logs", "-n", ns, web, "-c", "app"]
    assert kubectl(*logs) == "line 0\nline 1\nline 2\n"
    assert kubectl(*logs, "--tail=1") == "line 2\n"
    assert kubectl(*logs, "--tail=1", "--timestamps") == \
        "2026-11-23T10:00:02.000000000Z line 2\n"
    assert kubectl(*logs, "--previous") == "first life\n"
    assert kubectl(*logs, "--since-time=2026-11-23T10:00:01Z") == "line 1\nline 2\n"
    assert kubectl(*logs, "--limit-bytes=9") == "line 0\nli"
    # --since is relative to now: everything here is older than an hour.
    assert kubectl(*logs, "--since=1h") == ""
    assert kubectl("logs", "-n", ns, web, "-c", "side") == "sidecar\n"


def test_logs_refusals_carry_upstream_messages(kubectl: Kubectl, api: httpx.Client,
                                               kubelet: NodeKubelet, ns: str,
                                               web: str) -> None:
    # kubectl itself picks a default container; the API's own answer names the choices.
    response = api.get(f"/api/v1/namespaces/{ns}/pods/{web}/log")
    assert response.status_code == 400
    assert response.json()["message"] == \
        "a container name must be specified for pod web, choose one of: [app side]"
    wrong = kubectl.run("logs", "-n", ns, web, "-c", "nope", check=False)
    assert wrong.returncode != 0
    assert "container nope is not valid for pod web" in wrong.stderr
    previous = kubectl.run("logs", "-n", ns, web, "-c", "side", "--previous", check=False)
    assert 'previous terminated container "side" in pod "web" not found' in previous.stderr
    _pod(api, kubelet, ns, "pending", {"app": {"state": {"waiting": {
        "reason": "ContainerCreating"}}}})
    waiting = kubectl.run("logs", "-n", ns, "pending", check=False)
    assert waiting.returncode != 0
    assert 'Error from server (BadRequest): container "app" in pod "pending" is waiting to ' \
           "start: ContainerCreating" in waiting.stderr


def test_logs_follow_ends_when_the_container_exits(kubectl: Kubectl, kubelet: NodeKubelet,
                                                   ns: str, web: str) -> None:
    follow = kubectl.popen("logs", "-n", ns, web, "-c", "app", "-f", "--tail=1")
    try:
        lines = LineReader(follow.stdout)  # type: ignore[arg-type]
        lines.wait_for(lambda line: line == "line 2")
        kubelet.host.writer(ns, web, "app", 1).write(STDOUT, b"fresh\n")
        lines.wait_for(lambda line: line == "fresh")
        kubelet.host.running.discard(f"fake://{ns}.{web}.app-1")
        assert follow.wait(30) == 0
    finally:
        follow.kill()
        follow.wait()


# -- exec and attach -------------------------------------------------------------------

def test_exec_propagates_output_and_exit_code(kubectl: Kubectl, ns: str, web: str) -> None:
    result = kubectl.run("exec", "-n", ns, web, "-c", "app", "--", "sh", "-c",
                         "echo hi; echo oops >&2; exit 3", check=False)
    assert (result.returncode, result.stdout) == (3, "hi\n")
    assert "oops" in result.stderr
    assert kubectl("exec", "-n", ns, web, "-c", "app", "--", "echo", "fine") == "fine\n"


def test_exec_with_piped_stdin(kubectl: Kubectl, ns: str, web: str) -> None:
    out = kubectl("exec", "-i", "-n", ns, web, "-c", "app", "--", "sh", "-c", "tr a-z A-Z",
                  input="piped through\n")
    assert out == "PIPED THROUGH\n"


def test_exec_into_a_container_not_running(kubectl: Kubectl, api: httpx.Client,
                                           kubelet: NodeKubelet, ns: str) -> None:
    _pod(api, kubelet, ns, "starting", {"app": {"state": {"waiting": {
        "reason": "ContainerCreating"}}}})
    result = kubectl.run("exec", "-n", ns, "starting", "--", "true", check=False)
    assert result.returncode != 0
    assert 'container not found ("app")' in result.stderr


def test_exec_with_a_terminal(kubectl: Kubectl, ns: str, web: str) -> None:
    """`exec -it` from a real terminal: kubectl sends the terminal's size and raw input."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    process = subprocess.Popen(
        [kubectl.binary, "--kubeconfig", str(kubectl.kubeconfig), "exec", "-it", "-n", ns,
         web, "-c", "app", "--", "sh", "-c",
         "echo ready; read x; stty size; [ -t 0 ] && echo tty:yes; echo got:$x"],
        stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    try:
        seen = _read_until(master, b"ready")
        os.write(master, b"hello\n")
        seen += _read_until(master, b"got:hello")
        assert process.wait(30) == 0
    finally:
        process.kill()
        process.wait()
        os.close(master)
    text = seen.replace(b"\r", b"").decode()
    assert "40 120\n" in text and "tty:yes\n" in text, text


def _read_until(fd: int, marker: bytes, timeout: float = 30) -> bytes:
    got = b""
    deadline = time.monotonic() + timeout
    while marker not in got:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"{marker!r} not seen in {got!r}")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                raise AssertionError(f"terminal closed before {marker!r}; read {got!r}")
            got += chunk
    return got


def test_attach_to_the_main_process(kubectl: Kubectl, kubelet: NodeKubelet, ns: str,
                                    web: str) -> None:
    kubelet.host.main_commands["app"] = ["sh", "-c", "while read l; do echo got $l; done"]
    out = kubectl("attach", "-i", "-n", ns, web, "-c", "app", input="one\ntwo\n")
    assert out == "got one\ngot two\n"


# -- port-forward ----------------------------------------------------------------------

@contextlib.contextmanager
def _echo_server() -> Iterator[int]:
    """A TCP server on loopback answering each connection with its input upper-cased."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                data = b""
                while chunk := conn.recv(4096):
                    data += chunk
                conn.sendall(data.upper())

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def _through(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(payload)
        conn.shutdown(socket.SHUT_WR)
        got = b""
        while chunk := conn.recv(4096):
            got += chunk
        return got


def test_port_forward_reaches_the_pod_port(kubectl: Kubectl, ns: str, web: str) -> None:
    with _echo_server() as pod_port:
        local = _free_port()
        forward = kubectl.popen("port-forward", "-n", ns, f"pod/{web}", f"{local}:{pod_port}")
        try:
            lines = LineReader(forward.stdout)  # type: ignore[arg-type]
            lines.wait_for(lambda line: line.startswith(f"Forwarding from 127.0.0.1:{local}"))
            assert _through(local, b"hello through the tunnel") == b"HELLO THROUGH THE TUNNEL"
            # A second connection over the same tunnel.
            assert _through(local, b"x" * 200_000) == b"X" * 200_000
        finally:
            forward.terminate()
            forward.wait(30)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_streaming_requests_for_unbound_pods(api: httpx.Client, ns: str) -> None:
    created = api.post(f"/api/v1/namespaces/{ns}/pods", json={
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "floating"},
        "spec": {"containers": [{"name": "app", "image": "busybox"}]}})
    assert created.status_code == 201
    # Not yet on a node: an empty log, and no exec.
    assert api.get(f"/api/v1/namespaces/{ns}/pods/floating/log").content == b""
    refused = api.post(f"/api/v1/namespaces/{ns}/pods/floating/exec",
                       params={"command": "true", "stdout": "true"})
    assert refused.status_code == 400
    assert refused.json()["message"] == "pod floating does not have a host assigned"
