"""Service-account tokens on the node: the kubelet's token manager (what it asks the
TokenRequest API for, when it refreshes, what it keeps when a refresh fails, what it
forgets) and the projected `kube-api-access` volume a pod reads them from, down to the
in-cluster client config built from its files.

TokenRequests are answered by `TokenApi`, a stand-in that issues numbered tokens expiring
`expirationSeconds` after the test's clock (so refresh timing is tested by moving that
clock, never by sleeping); every other request reaches the real in-process API server.
"""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kybernetes.apiserver.server import ApiServer
from kybernetes.client import ApiClient, load_incluster_config
from kybernetes.kubelet.listers import KubeletListers
from kybernetes.kubelet.tokenmanager import BoundPod, TokenError, TokenManager
from kybernetes.kubelet.volumes import VolumeManager
from tests.apiserver import inprocess
from tests.kubelet.fakeapi import Clock, read_json, send_json
from tests.kubelet.test_volumes import (
    NODE,
    NS,
    make_configmap,
    make_pod,
    needs_root,
    setup_error,
    teardown_all,
    vol_dir,
)

pytestmark = pytest.mark.e2e

Obj = dict[str, Any]
POD = BoundPod("p", "u1")
HOUR = 3600
NOW = 1_800_000_000.0


@dataclass
class TokenApi:
    """TokenRequests answered as the API server does; anything else goes to `app`."""

    clock: Clock
    app: Any = None
    requests: list[tuple[str, Obj]] = field(default_factory=list)
    failing: bool = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or scope["method"] != "POST" or \
                not path.endswith("/token") or "/serviceaccounts/" not in path:
            await self.app(scope, receive, send)
            return
        request = await read_json(receive)
        self.requests.append((path, request["spec"]))
        account = path.split("/")[-2]
        if self.failing or account == "ghost":
            code, reason = (500, "InternalError") if self.failing else (404, "NotFound")
            message = "etcd is away" if self.failing else f'serviceaccounts "{account}" not found'
            answer = {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                      "message": message, "reason": reason, "code": code}
        else:
            expiry = datetime.fromtimestamp(
                self.clock.now + request["spec"]["expirationSeconds"], UTC)
            code, answer = 201, {**request, "status": {
                "token": f"token-{len(self.requests)}",
                "expirationTimestamp": expiry.strftime("%Y-%m-%dT%H:%M:%SZ")}}
        await send_json(send, code, answer)


@dataclass
class Tokens:
    api: TokenApi
    manager: TokenManager
    clock: Clock

    async def get(self, audiences: list[str] | None = None, seconds: int = HOUR,
                  pod: BoundPod = POD, account: str = "sa") -> str:
        return await self.manager.get_token("ns", account, audiences or [], seconds, pod)


@pytest.fixture
async def tokens() -> AsyncIterator[Tokens]:
    clock = Clock(NOW)
    api = TokenApi(clock)
    async with inprocess.api_client(api) as client:
        yield Tokens(api, TokenManager(client, clock=clock), clock)


# ---------------------------------------------------------------------- token manager


async def test_a_token_is_bound_to_the_pod_and_cached(tokens: Tokens) -> None:
    assert await tokens.get(["vault"]) == "token-1"
    assert await tokens.get(["vault"]) == "token-1"
    assert tokens.api.requests == [("/api/v1/namespaces/ns/serviceaccounts/sa/token", {
        "expirationSeconds": HOUR, "audiences": ["vault"],
        "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p", "uid": "u1"}})]
    # Another audience is another token; none asks for the API server's own audiences.
    assert await tokens.get() == "token-2"
    assert "audiences" not in tokens.api.requests[-1][1]


async def test_a_token_is_refreshed_once_80_percent_of_its_lifetime_passed(
        tokens: Tokens) -> None:
    await tokens.get()
    tokens.clock.now += 0.8 * HOUR - 20  # short of 80%, less up to 10 s of jitter
    assert await tokens.get() == "token-1"
    tokens.clock.now += 21
    assert await tokens.get() == "token-2"
    tokens.clock.now += 0.8 * HOUR - 20  # counted from the new token's issue
    assert await tokens.get() == "token-2"


async def test_a_long_lived_token_is_refreshed_after_24_hours(tokens: Tokens) -> None:
    week = 7 * 24 * HOUR
    await tokens.get(seconds=week)
    tokens.clock.now += 24 * HOUR - 11
    assert await tokens.get(seconds=week) == "token-1"
    tokens.clock.now += 12
    assert await tokens.get(seconds=week) == "token-2"


async def test_a_clock_gone_back_refreshes_the_token(tokens: Tokens) -> None:
    await tokens.get()
    tokens.clock.now -= 60
    assert await tokens.get() == "token-2"


async def test_a_failed_refresh_keeps_the_token_while_it_is_valid(tokens: Tokens) -> None:
    await tokens.get(["vault"])
    tokens.api.failing = True
    tokens.clock.now += 0.8 * HOUR + 1
    assert await tokens.get(["vault"]) == "token-1"
    tokens.clock.now = tokens.clock.now - 0.8 * HOUR - 1 + HOUR + 1  # expired
    with pytest.raises(TokenError) as failed:
        await tokens.get(["vault"])
    assert str(failed.value) == (
        'token "sa"/"ns"/[]string{"vault"}/3600/v1.BoundObjectReference{Kind:"Pod", '
        'APIVersion:"v1", Name:"p", UID:"u1"} expired and refresh failed: etcd is away')
    tokens.api.failing = False
    assert await tokens.get(["vault"]) == "token-4"


async def test_a_token_that_cannot_be_had_is_an_error(tokens: Tokens) -> None:
    with pytest.raises(TokenError) as failed:
        await tokens.get(account="ghost")
    assert str(failed.value) == 'failed to fetch token: serviceaccounts "ghost" not found'


async def test_the_tokens_of_a_deleted_pod_are_forgotten(tokens: Tokens) -> None:
    other = BoundPod("q", "u2")
    assert (await tokens.get(), await tokens.get(pod=other)) == ("token-1", "token-2")
    tokens.manager.delete_pod_tokens("u1")
    assert (await tokens.get(), await tokens.get(pod=other)) == ("token-3", "token-2")


# ------------------------------------------------------------------ projected volume

# The volume the ServiceAccount admission plugin adds to every pod (upstream's
# `TokenVolumeSource`).
KUBE_API_ACCESS = {"name": "kube-api-access-x7k2p", "projected": {"defaultMode": 420, "sources": [
    {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
        "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}}
SERVICE_ENV = {"KUBERNETES_SERVICE_HOST": "10.43.0.1", "KUBERNETES_SERVICE_PORT": "443"}


@dataclass
class Node:
    api: TokenApi
    manager: VolumeManager
    clock: Clock


@pytest.fixture
async def node(apiserver: ApiServer, tmp_path: Path) -> AsyncIterator[Node]:
    clock = Clock(NOW)
    api = TokenApi(clock, apiserver.app)
    async with inprocess.api_client(api) as client:
        listers = KubeletListers(client, NODE)
        manager = VolumeManager(tmp_path / "kubelet", client, listers,
                                tokens=TokenManager(client, clock=clock))
        try:
            yield Node(api, manager, clock)
        finally:
            await teardown_all(manager)
            await listers.aclose()


@needs_root
async def test_kube_api_access_volume_serves_the_in_cluster_config(
        api: ApiClient, node: Node) -> None:
    await make_configmap(api, "kube-root-ca.crt", {"ca.crt": "-----BEGIN CERTIFICATE-----\n"})
    pod = await make_pod(api, [KUBE_API_ACCESS])
    await node.manager.setup(pod)
    path = vol_dir(node.manager, pod, "projected", "kube-api-access-x7k2p")
    assert {f.name: f.read_text() for f in path.iterdir() if not f.name.startswith("..")} == {
        "token": "token-1", "ca.crt": "-----BEGIN CERTIFICATE-----\n", "namespace": NS}
    assert stat.S_IMODE((path / "token").stat().st_mode) == 0o644
    assert node.api.requests == [(f"/api/v1/namespaces/{NS}/serviceaccounts/default/token", {
        "expirationSeconds": 3607, "boundObjectRef": {
            "kind": "Pod", "apiVersion": "v1", "name": "p", "uid": pod["metadata"]["uid"]}})]

    config = load_incluster_config(SERVICE_ENV, root=path)
    assert (config.server, config.namespace, config.ca_file) == (
        "https://10.43.0.1:443", NS, str(path / "ca.crt"))
    assert config.bearer_token() == "token-1"

    await node.manager.refresh(pod)  # fresh: nothing asked
    node.clock.now += 0.8 * 3607 + 11
    await node.manager.refresh(pod)
    assert config.bearer_token() == "token-2"
    assert len(node.api.requests) == 2

    await node.manager.teardown(pod["metadata"]["uid"])  # the pod's tokens go with it
    await node.manager.setup(pod)
    assert (path / "token").read_text() == "token-3"


@needs_root
async def test_a_token_that_cannot_be_had_fails_the_volume(api: ApiClient, node: Node) -> None:
    pod = await make_pod(api, [{"name": "sa", "projected": {"sources": [
        {"serviceAccountToken": {"path": "token"}}, {"configMap": {"name": "missing"}}]}}])
    pod["spec"]["serviceAccountName"] = "ghost"
    assert await setup_error(node.manager, pod) == (
        'MountVolume.SetUp failed for volume "sa" : [failed to fetch token: serviceaccounts '
        '"ghost" not found, configmap "missing" not found]')
