"""The kubelet API's authentication and authorization over real TLS: client certificates of
the cluster CA (the API server's own, a user's), bearer tokens reviewed by the API server,
and every decision asked of it by a SubjectAccessReview.

The API server here is a fake that answers TokenReviews and SubjectAccessReviews as the
real one would (who holds which token, who may do what on `nodes/<sub>`) and records every
review, so the tests see what the kubelet asks and how often. The caches' clock is the
test's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from kybernetes.apiserver.pki import (
    Pki,
    ensure_pki,
    issue_client_cert,
    kubelet_client_context,
    ssl_client_context,
)
from kybernetes.client import ApiClient, ClientConfig
from kybernetes.client.delegatedauth import User
from kybernetes.kubelet.auth import KubeletAuth
from kybernetes.kubelet.authz import request_attributes
from kybernetes.kubelet.logs import STDOUT
from kybernetes.kubelet.server import KubeletServer
from tests.kubelet.fakeapi import Clock, read_json, send_json
from tests.kubelet.streamhost import LocalHost

pytestmark = pytest.mark.e2e

NODE = "node-a"
V5 = Subprotocol("v5.channel.k8s.io")
RUNNING = {"state": {"running": {"startedAt": "2026-11-23T10:00:00Z"}}}
LOGS = "/containerLogs/ns/web/app"
EXEC = "/exec/ns/web/app?command=true&output=1"
SA_USER = "system:serviceaccount:ns:viewer"


@dataclass
class FakeApi:
    """TokenReviews and SubjectAccessReviews, answered as the API server would."""

    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)  # token -> status
    # (user or group, verb, subresource) allowed on this node
    grants: set[tuple[str, str, str]] = field(default_factory=set)
    reviews: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    failing: bool = False

    def count(self, kind: str) -> int:
        return sum(1 for k, _ in self.reviews if k == kind)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        review = await read_json(receive)
        spec = review["spec"]
        self.reviews.append((review["kind"], spec))
        code = 201
        if review["kind"] == "TokenReview":
            review["status"] = self.tokens.get(spec["token"], {"authenticated": False})
        elif self.failing:
            code, review = 500, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                 "message": "etcd is away", "reason": "InternalError",
                                 "code": 500}
        else:
            attrs = spec["resourceAttributes"]
            allowed = attrs.get("name") == NODE and any(
                (who, attrs["verb"], attrs["subresource"]) in self.grants
                for who in [spec["user"], *spec.get("groups", ())])
            review["status"] = {"allowed": allowed}
        await send_json(send, code, review)


@dataclass
class Kubelet:
    host: LocalHost
    api: FakeApi
    clock: Clock
    pki: Pki
    url: str
    tmp: Path

    def context(self, user: str | None = None, groups: tuple[str, ...] = ()
                ) -> ssl.SSLContext:
        """Trusting the cluster CA, presenting `user`'s certificate (none: no
        certificate)."""
        if user is None:
            return ssl.create_default_context(cafile=str(self.pki.ca_cert))
        cert, key = issue_client_cert(self.pki, user, groups, self.tmp / "users")
        return ssl_client_context(self.pki, cert=cert, key=key)

    def http(self, context: ssl.SSLContext, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.url, verify=context, headers=headers,
                                 timeout=10)

    async def exec_status(self, context: ssl.SSLContext, token: str | None = None
                          ) -> dict[str, Any]:
        """The final Status of `true` run over a WebSocket exec."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with connect(self.url.replace("https", "wss") + EXEC, ssl=context,
                           subprotocols=[V5], additional_headers=headers) as ws:
            status: dict[str, Any] = {}
            async for message in ws:
                assert isinstance(message, bytes)
                if message[0] == 3:
                    status = json.loads(message[1:])
            return status

    async def exec_refusal(self, context: ssl.SSLContext, token: str | None = None
                           ) -> tuple[int, str]:
        with pytest.raises(InvalidStatus) as refused:
            await self.exec_status(context, token)
        response = refused.value.response
        return response.status_code, response.body.decode()


@pytest.fixture
async def kubelet(tmp_path: Path) -> AsyncIterator[Kubelet]:
    pki = await asyncio.to_thread(ensure_pki, tmp_path / "pki", ips=["127.0.0.1"])
    api, clock = FakeApi(), Clock(1000.0)
    config = ClientConfig(server="http://api.test", qps=0)
    async with ApiClient(config, transport=httpx.ASGITransport(app=api)) as client:
        auth = KubeletAuth.delegating(client, NODE, clock=clock)
        host = LocalHost(tmp_path / "pods")
        host.add_pod("ns", "web", "u1", {"app": RUNNING})
        host.writer("ns", "web", "app", 0).write(STDOUT, b"hello\n")
        server = KubeletServer(host, auth=auth, log_poll_interval=0.01)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        task = asyncio.create_task(server.serve(sock, cert_file=pki.serving_cert,
                                                key_file=pki.serving_key, client_ca=pki.ca_cert))
        try:
            yield Kubelet(host, api, clock, pki, f"https://127.0.0.1:{sock.getsockname()[1]}",
                          tmp_path)
        finally:
            host.stop()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_no_credential_is_unauthorized(kubelet: Kubelet) -> None:
    anonymous = kubelet.context()
    async with kubelet.http(anonymous) as client:
        response = await client.get(LOGS)
    assert (response.status_code, response.text) == (401, "Unauthorized")
    assert await kubelet.exec_refusal(anonymous) == (401, "Unauthorized")
    assert kubelet.api.reviews == []


async def test_the_api_server_certificate_passes(kubelet: Kubelet) -> None:
    kubelet.api.grants |= {("system:masters", "get", "proxy")}
    apiserver = kubelet_client_context(kubelet.pki.ca_cert)
    async with kubelet.http(apiserver) as client:
        response = await client.get(LOGS)
    assert (response.status_code, response.text) == (200, "hello\n")
    assert await kubelet.exec_status(apiserver) == {"metadata": {}, "status": "Success"}
    assert kubelet.api.reviews == [("SubjectAccessReview", {
        "resourceAttributes": {"verb": "get", "version": "v1", "resource": "nodes",
                               "subresource": "proxy", "name": NODE},
        "user": "kube-apiserver-kubelet-client",
        "groups": ["system:masters", "system:authenticated"]})]  # the exec: from the cache


async def test_a_user_without_nodes_proxy_is_forbidden(kubelet: Kubelet) -> None:
    jane = kubelet.context("jane", ("devs",))
    async with kubelet.http(jane) as client:
        posted = await client.post(EXEC)
        stats = await client.get("/stats/summary")
    assert (posted.status_code, posted.text) == (
        403, "Forbidden (user=jane, verb=create, resource=nodes, subresource=proxy)")
    assert (stats.status_code, stats.text) == (
        403, "Forbidden (user=jane, verb=get, resource=nodes, subresource=stats)")
    # A WebSocket upgrade is a GET.
    assert await kubelet.exec_refusal(jane) == (
        403, "Forbidden (user=jane, verb=get, resource=nodes, subresource=proxy)")


async def test_a_group_grant_lets_a_certificate_user_in(kubelet: Kubelet) -> None:
    kubelet.api.grants |= {("devs", "get", "proxy")}
    async with kubelet.http(kubelet.context("jane", ("devs",))) as client:
        response = await client.get(LOGS)
    assert (response.status_code, response.text) == (200, "hello\n")


async def test_denials_are_cached_for_30_seconds(kubelet: Kubelet) -> None:
    async with kubelet.http(kubelet.context("jane")) as client:
        assert (await client.get(LOGS)).status_code == 403
        kubelet.api.grants |= {("jane", "get", "proxy")}
        kubelet.clock.now += 29
        assert (await client.get(LOGS)).status_code == 403
        kubelet.clock.now += 2
        assert (await client.get(LOGS)).status_code == 200
    assert kubelet.api.count("SubjectAccessReview") == 2


async def test_bearer_tokens_are_reviewed_and_the_answers_cached(kubelet: Kubelet) -> None:
    kubelet.api.tokens["good"] = {"authenticated": True, "user": {
        "username": SA_USER, "uid": "u-1", "groups": ["system:serviceaccounts"],
        "extra": {"authentication.kubernetes.io/pod-name": ["web"]}}}
    kubelet.api.grants |= {(SA_USER, "get", "proxy")}
    anonymous = kubelet.context()
    async with kubelet.http(anonymous, "good") as client:
        assert (await client.get(LOGS)).text == "hello\n"
        assert (await client.get(LOGS)).text == "hello\n"
        assert [k for k, _ in kubelet.api.reviews] == ["TokenReview", "SubjectAccessReview"]
        assert kubelet.api.reviews[0][1] == {"token": "good"}
        assert kubelet.api.reviews[1][1] == {
            "resourceAttributes": {"verb": "get", "version": "v1", "resource": "nodes",
                                   "subresource": "proxy", "name": NODE},
            "user": SA_USER, "groups": ["system:serviceaccounts", "system:authenticated"],
            "extra": {"authentication.kubernetes.io/pod-name": ["web"]}, "uid": "u-1"}
        kubelet.clock.now += 121  # the token's review expired, the allowed decision not
        assert (await client.get(LOGS)).status_code == 200
        assert (kubelet.api.count("TokenReview"), kubelet.api.count("SubjectAccessReview")) \
            == (2, 1)
        kubelet.clock.now += 180  # 301 s: the decision expired too
        assert (await client.get(LOGS)).status_code == 200
        assert (kubelet.api.count("TokenReview"), kubelet.api.count("SubjectAccessReview")) \
            == (3, 2)
    assert await kubelet.exec_status(anonymous, "good") == {"metadata": {}, "status": "Success"}


async def test_refused_tokens_are_unauthorized(kubelet: Kubelet) -> None:
    kubelet.api.tokens["tampered"] = {"authenticated": False,
                                      "error": "invalid bearer token"}
    anonymous = kubelet.context()
    for token in ("unknown", "unknown", "tampered", "tampered"):
        async with kubelet.http(anonymous, token) as client:
            response = await client.get(LOGS)
        assert (response.status_code, response.text) == (401, "Unauthorized")
    assert await kubelet.exec_refusal(anonymous, "tampered") == (401, "Unauthorized")
    # A plain refusal is cached; a review reporting an error is not.
    assert [s["token"] for _, s in kubelet.api.reviews] == ["unknown", "tampered",
                                                            "tampered", "tampered"]


async def test_a_failed_review_is_an_authorization_error(kubelet: Kubelet) -> None:
    kubelet.api.failing = True
    async with kubelet.http(kubelet.context("jane")) as client:
        response = await client.get(LOGS)
    assert (response.status_code, response.text) == (
        500, "Authorization error (user=jane, verb=get, resource=nodes, subresource=proxy)")


async def test_a_certificate_of_another_ca_is_refused(kubelet: Kubelet) -> None:
    other = await asyncio.to_thread(ensure_pki, kubelet.tmp / "other")
    context = ssl_client_context(kubelet.pki, cert=other.admin_cert, key=other.admin_key)
    async with kubelet.http(context) as client:
        with pytest.raises(httpx.HTTPError):
            await client.get(LOGS)
    assert kubelet.api.reviews == []


@pytest.mark.parametrize(("method", "path", "verb", "subresource"), [
    ("GET", "/containerLogs/ns/p/c", "get", "proxy"),
    ("POST", "/exec/ns/p/c", "create", "proxy"),
    ("POST", "/run/ns/p/c", "create", "proxy"),
    ("GET", "/portForward/ns/p", "get", "proxy"),
    ("GET", "/pods", "get", "proxy"),
    ("GET", "/stats", "get", "stats"),
    ("GET", "/stats/summary", "get", "stats"),
    ("GET", "/statsx", "get", "proxy"),
    ("GET", "/metrics", "get", "metrics"),
    ("GET", "/metrics/cadvisor", "get", "metrics"),
    ("GET", "/logs/syslog", "get", "log"),
    ("GET", "/spec/", "get", "spec"),
    ("POST", "/checkpoint/ns/p/c", "create", "checkpoint"),
    ("PUT", "/x", "update", "proxy"),
    ("PATCH", "/x", "patch", "proxy"),
    ("DELETE", "/x", "delete", "proxy"),
    ("HEAD", "/x", "", "proxy"),
])
def test_request_attributes_follow_the_path_and_method(method: str, path: str, verb: str,
                                                       subresource: str) -> None:
    attrs = request_attributes(User("u"), method, path, NODE)
    assert (attrs.verb, attrs.resource, attrs.subresource, attrs.name) == \
        (verb, "nodes", subresource, NODE)
