"""The API server's Unix socket for `kyb server`'s in-process components (loopbacksocket.py,
authn/loopback.py), on a real server in this process serving both it and HTTPS: the socket
is 0600; every request on it needs a bearer token; a minted token is its identity there and
nothing on the HTTPS port or in a TokenReview; other tokens work there too."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kybernetes.apiserver.loopbacksocket import socket_path
from kybernetes.apiserver.pki import Pki, issue_client_cert, ssl_client_context
from kybernetes.apiserver.server import ApiServer, ApiServerConfig
from kybernetes.client import ApiClient, ClientConfig

WHOAMI = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
REVIEW = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ApiServer]:
    # Longer than a socket address holds (108 bytes): bound and reached through its dir.
    data = tmp_path / ("d" * 100)
    running = ApiServer(ApiServerConfig(data_dir=data, bind_address="127.0.0.1",
                                        port=free_port(), loopback_socket=True))
    task = asyncio.create_task(running.serve())
    waiting = asyncio.create_task(running.serving.wait())
    await asyncio.wait({task, waiting}, return_when=asyncio.FIRST_COMPLETED, timeout=60)
    if task.done():
        task.result()
    assert running.serving.is_set()
    try:
        yield running
    finally:
        running.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 30)
    assert not socket_path(data).exists()


def over_socket(server: ApiServer, token: str | None = None) -> ApiClient:
    return ApiClient(ClientConfig(server="http://localhost", token=token, qps=0,
                                  unix_socket=str(socket_path(server.config.data_dir))))


def https(server: ApiServer, *, admin: bool = False,
          cert: tuple[Path, Path] | None = None) -> httpx.AsyncClient:
    """HTTPS to `server` with the admin's certificate, or `cert`, or none."""
    pki = Pki.at(server.config.data_dir)
    context = ssl.create_default_context(cafile=str(pki.ca_cert))
    if admin:
        context = ssl_client_context(pki)
    elif cert is not None:
        context = ssl_client_context(pki, cert=cert[0], key=cert[1])
    return httpx.AsyncClient(base_url=f"https://127.0.0.1:{server.config.port}",
                             verify=context, timeout=30)


async def whoami(client: ApiClient) -> httpx.Response:
    return await client.request_raw("POST", WHOAMI, content=httpx.Request(
        "POST", "/", json=REVIEW).content, headers={"Content-Type": "application/json"},
        check=False)


def user_of(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    user: dict[str, Any] = response.json()["status"]["userInfo"]
    return user


async def test_the_socket_is_its_owners_only(server: ApiServer) -> None:
    mode = socket_path(server.config.data_dir).stat().st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o600


async def test_a_request_without_a_token_is_refused(server: ApiServer) -> None:
    async with over_socket(server) as client:
        response = await client.request_raw("GET", "/api/v1/namespaces", check=False)
        assert response.status_code == 401
        assert response.json()["reason"] == "Unauthorized"
        # Not even what anonymous requests may see over HTTPS.
        assert (await client.request_raw("GET", "/version", check=False)).status_code == 401
    async with over_socket(server, "not-a-token") as client:
        assert (await whoami(client)).status_code == 401


async def test_minted_tokens_are_their_identity_on_the_socket_only(
        server: ApiServer, tmp_path: Path) -> None:
    node = server.loopback_tokens.mint("system:node:n1", ("system:nodes",))
    scheduler = server.loopback_tokens.mint("system:kube-scheduler")
    assert server.loopback_tokens.mint("system:kube-scheduler") == scheduler
    # The node over HTTPS with its client certificate, and over the socket with its token:
    # the same user, the same answers (the Node authorizer, RBAC).
    pki = Pki.at(server.config.data_dir)
    cert, key = issue_client_cert(pki, "system:node:n1", ["system:nodes"], tmp_path)
    paths = ["/api/v1/nodes/n1", "/api/v1/nodes/n2", "/api/v1/secrets",
             "/api/v1/namespaces/kube-system/secrets/x", "/api/v1/pods",
             "/apis/rbac.authorization.k8s.io/v1/clusterroles"]
    async with https(server, cert=(cert, key)) as tls, over_socket(server, node) as client:
        via_tls = user_of(await tls.post(WHOAMI, json=REVIEW))
        assert via_tls == {"username": "system:node:n1",
                           "groups": ["system:nodes", "system:authenticated"]}
        assert user_of(await whoami(client)) == via_tls
        for path in paths:
            answer = await client.request_raw("GET", path, check=False)
            assert answer.status_code == (await tls.get(path)).status_code, path
    async with over_socket(server, scheduler) as client:
        assert user_of(await whoami(client)) == {
            "username": "system:kube-scheduler", "groups": ["system:authenticated"]}
    async with https(server) as client:
        for token in (node, scheduler):
            refused = await client.post(WHOAMI, json=REVIEW,
                                        headers={"Authorization": f"Bearer {token}"})
            assert refused.status_code == 401, refused.text
    async with https(server, admin=True) as admin:
        reviewed = await admin.post("/apis/authentication.k8s.io/v1/tokenreviews", json={
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
            "spec": {"token": scheduler}})
        assert reviewed.status_code == 201, reviewed.text
        assert reviewed.json()["status"].get("authenticated") is not True


async def test_other_tokens_work_on_the_socket(server: ApiServer) -> None:
    async with https(server, admin=True) as admin:
        created = await admin.post("/api/v1/namespaces/default/serviceaccounts", json={
            "apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot"}})
        assert created.status_code == 201, created.text
        issued = await admin.post(
            "/api/v1/namespaces/default/serviceaccounts/robot/token",
            json={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                  "spec": {}})
        assert issued.status_code == 201, issued.text
    async with over_socket(server, issued.json()["status"]["token"]) as client:
        assert user_of(await whoami(client))["username"] == \
            "system:serviceaccount:default:robot"
