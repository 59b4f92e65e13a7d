"""The kubelet API's authentication and authorization against a real `kyb server`: the
kubelet asks the API server (TokenReview, SubjectAccessReview through RBAC) as its own
node identity, exactly as `kyb agent` wires it.

The kubelet's HTTPS server runs in this process on 127.0.0.1 (as in test_streaming.py),
backed by local processes standing for containers, and requests client certificates of
the cluster CA. `kubectl logs/exec` reach it through the API server, which presents its
own certificate; a caller without credentials gets 401, one without `nodes/proxy` 403.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from kybernetes.apiserver.pki import Pki, issue_client_cert, ssl_client_context
from kybernetes.cli import credentials
from kybernetes.client import ApiClient, load_config
from kybernetes.kubelet.auth import KubeletAuth
from kybernetes.kubelet.logs import STDOUT
from kybernetes.kubelet.server import KubeletServer
from tests.e2e.cluster import Kubectl, Server, running_server
from tests.kubelet.streamhost import LocalHost, serving_in_thread

pytestmark = pytest.mark.e2e

NODE = "auth-node"
RUNNING = {"state": {"running": {"startedAt": "2026-11-23T10:00:00Z"}}}


@dataclass
class NodeKubelet:
    host: LocalHost
    url: str
    pki: Pki

    def get(self, path: str, *, context: ssl.SSLContext | None = None,
            token: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        verify = context or ssl.create_default_context(cafile=str(self.pki.ca_cert))
        with httpx.Client(base_url=self.url, verify=verify, timeout=30) as client:
            return client.get(path, headers=headers)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("kyb"), ["--disable-agent"]) as running:
        yield running


@contextlib.asynccontextmanager
async def _node_client(server: Server) -> AsyncIterator[ApiClient]:
    path = credentials.component_kubeconfig(server.data_dir, server.url,
                                            credentials.node_identity(NODE))
    async with ApiClient(load_config(str(path))) as client:
        yield client


@pytest.fixture(scope="module")
def kubelet(server: Server, api: httpx.Client) -> Iterator[NodeKubelet]:
    """The kubelet server on a thread of its own, authenticating and authorizing through
    the API server as `system:node:auth-node`, and its Node."""
    pki = Pki.at(server.data_dir)
    host = LocalHost(server.data_dir / "pods")

    async def serve(sock: socket.socket) -> None:
        async with _node_client(server) as client:
            kubelet = KubeletServer(host, auth=KubeletAuth.delegating(client, NODE),
                                    log_poll_interval=0.02)
            await kubelet.serve(sock, cert_file=pki.serving_cert, key_file=pki.serving_key,
                                client_ca=pki.ca_cert)

    with serving_in_thread(serve) as port:
        assert api.post("/api/v1/nodes", json={"apiVersion": "v1", "kind": "Node",
                                               "metadata": {"name": NODE}}).status_code == 201
        current = api.get(f"/api/v1/nodes/{NODE}").json()
        current["status"] = {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                             "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}
        assert api.put(f"/api/v1/nodes/{NODE}/status", json=current).status_code == 200
        try:
            yield NodeKubelet(host, f"https://127.0.0.1:{port}", pki)
        finally:
            host.stop()


@pytest.fixture
def web(api: httpx.Client, kubelet: NodeKubelet, ns: str) -> str:
    created = api.post(f"/api/v1/namespaces/{ns}/pods", json={
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
        "spec": {"nodeName": NODE, "containers": [{"name": "app", "image": "busybox"}]}})
    assert created.status_code == 201, created.text
    pod: dict[str, Any] = created.json()
    kubelet.host.add_pod(ns, "web", pod["metadata"]["uid"], {"app": RUNNING})
    kubelet.host.writer(ns, "web", "app", 0).write(STDOUT, b"hello\n")
    return f"/containerLogs/{ns}/web/app"


def _account_token(kubectl: Kubectl, ns: str, name: str) -> str:
    kubectl("create", "serviceaccount", name, "-n", ns)
    return kubectl("create", "token", name, "-n", ns).strip()


def test_kubectl_reaches_the_kubelet_through_the_api_server(kubectl: Kubectl, ns: str,
                                                            web: str) -> None:
    assert kubectl("logs", "-n", ns, "web") == "hello\n"
    assert kubectl("exec", "-n", ns, "web", "--", "echo", "inside") == "inside\n"


def test_callers_without_rights_are_refused(kubelet: NodeKubelet, kubectl: Kubectl, ns: str,
                                            web: str) -> None:
    anonymous = kubelet.get(web)
    assert (anonymous.status_code, anonymous.text) == (401, "Unauthorized")
    assert (kubelet.get(web, token="not-a-token").status_code) == 401

    cert, key = issue_client_cert(kubelet.pki, "jane", ["devs"], kubelet.pki.tls_dir / "jane")
    jane = kubelet.get(web, context=ssl_client_context(kubelet.pki, cert=cert, key=key))
    assert (jane.status_code, jane.text) == (
        403, "Forbidden (user=jane, verb=get, resource=nodes, subresource=proxy)")

    token = _account_token(kubectl, ns, "viewer")
    viewer = kubelet.get(web, token=token)
    assert (viewer.status_code, viewer.text) == (
        403, f"Forbidden (user=system:serviceaccount:{ns}:viewer, verb=get, "
             "resource=nodes, subresource=proxy)")


def test_a_token_with_nodes_proxy_reads_logs(kubelet: NodeKubelet, kubectl: Kubectl, ns: str,
                                             web: str) -> None:
    role = f"{ns}-node-proxy"
    kubectl("create", "clusterrole", role, "--verb=get", "--resource=nodes/proxy")
    kubectl("create", "clusterrolebinding", role, f"--clusterrole={role}",
            f"--serviceaccount={ns}:reader")
    response = kubelet.get(web, token=_account_token(kubectl, ns, "reader"))
    assert (response.status_code, response.text) == (200, "hello\n")
