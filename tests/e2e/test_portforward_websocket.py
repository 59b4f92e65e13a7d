"""The official Python client's `kubernetes.stream.portforward` on a real node: plain
WebSocket port-forward (`v4.channel.k8s.io`) through `kyb server` to its kubelet and into a
busybox pod's network namespace.

The node is set up as in test_kubelet (tests/e2e/nodens.py): `kyb server` with its kubelet,
runc and CNI in a network namespace this module makes, the test thread inside it.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.stream import portforward

from tests.e2e.cluster import WAIT, Kubectl, wait_until
from tests.e2e.nodens import REAL_NODE, import_busybox, new_namespace, real_node

pytestmark = [pytest.mark.e2e, REAL_NODE]

NODE = "node-pf"
IMAGE = "busybox:1.36"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Kubectl]]:
    data = tmp_path_factory.mktemp("kyb-pfws")
    import_busybox(data, IMAGE)
    with real_node(data, "kyb-e2e-pfws", NODE) as (server, kubectl):
        yield server.kubeconfig, kubectl


@pytest.fixture(scope="module")
def core(node: tuple[Path, Kubectl]) -> Iterator[client.CoreV1Api]:
    api: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
        str(node[0]))
    with api:
        yield client.CoreV1Api(api)


@pytest.fixture(scope="module")
def web(node: tuple[Path, Kubectl], core: client.CoreV1Api) -> tuple[str, str]:
    """A busybox httpd on port 8080 serving `hello-web`; its namespace and name."""
    ns = new_namespace(node[1], "pf")
    core.create_namespaced_pod(ns, client.V1Pod(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1PodSpec(termination_grace_period_seconds=5, containers=[
            client.V1Container(name="app", image=IMAGE, command=[
                "sh", "-c", "mkdir -p /www && echo hello-web > /www/index.html && "
                            "httpd -f -p 8080 -h /www"])])))

    def ready() -> bool:
        status = core.read_namespaced_pod("web", ns).status
        return status is not None and any(c.type == "Ready" and c.status == "True"
                                          for c in status.conditions or ())

    wait_until(ready, "pod web Ready")
    return ns, "web"


def _read_all(sock: Any) -> bytes:
    data = b""
    sock.settimeout(WAIT)
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_http_through_the_python_clients_port_forward(core: client.CoreV1Api,
                                                      web: tuple[str, str]) -> None:
    ns, name = web
    pf = portforward(core.connect_get_namespaced_pod_portforward, name, ns, ports="8080")
    sock = pf.socket(8080)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as http.client does
    sock.sendall(b"GET /index.html HTTP/1.0\r\nHost: web\r\n\r\n")
    answer = _read_all(sock)
    sock.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.") and b" 200 " in head.split(b"\r\n")[0]
    assert body == b"hello-web\n"
    assert pf.error(8080) is None
    deadline = time.monotonic() + WAIT
    while pf.connected and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pf.connected


def test_a_port_nothing_listens_on_is_reported(core: client.CoreV1Api,
                                               web: tuple[str, str]) -> None:
    ns, name = web
    pf = portforward(core.connect_get_namespaced_pod_portforward, name, ns, ports="9090")
    assert _read_all(pf.socket(9090)) == b""
    error = pf.error(9090)
    assert error is not None
    assert error.startswith(f"error forwarding port 9090 to pod {name}, uid ")
