"""ServiceAccount tokens, issued by TokenRequest and presented as bearer tokens, against a
real API server in this process (SQLite in a temporary directory, its ASGI app behind
httpx): who a good token is, and every way a token stops being good (tampered, another
issuer or key, another audience, expired, its service account or bound object deleted or
recreated)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from tests.apiserver import inprocess
from tests.apiserver.inprocess import http, ok

from kybernetes.apiserver.authn.jws import SigningKey, b64url_decode, b64url_encode
from kybernetes.apiserver.authn.serviceaccount import (
    ServiceAccountTokenAuthenticator,
    claims,
    object_ref,
)
from kybernetes.apiserver.authn.setup import ServiceAccountKey
from kybernetes.apiserver.authn.tokenrequest import TokenRequestHandler
from kybernetes.apiserver.authn.tokens import InvalidToken
from kybernetes.apiserver.server import ApiServer

__all__ = ["http"]  # the fixture

NS = "default"
ISSUER = "https://kubernetes.default.svc.cluster.local"
SELF = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ApiServer]:
    # In-process over ASGI (no client certificate): authorization is off, authentication on.
    async with inprocess.apiserver(tmp_path, authorization_mode="AlwaysAllow") as server:
        yield server


def payload(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(b64url_decode(token.split(".")[1]))
    return decoded


async def make(http: httpx.AsyncClient, plural: str, body: dict[str, Any]) -> dict[str, Any]:
    path = f"/api/v1/{plural}" if plural == "nodes" else f"/api/v1/namespaces/{NS}/{plural}"
    return ok(await http.post(path, json=body))


async def service_account(http: httpx.AsyncClient, name: str) -> dict[str, Any]:
    return await make(http, "serviceaccounts", {"metadata": {"name": name}})


async def pod(http: httpx.AsyncClient, name: str, account: str, node: str = "") -> dict[str, Any]:
    spec: dict[str, Any] = {"serviceAccountName": account,
                            "containers": [{"name": "c", "image": "pause"}]}
    if node:
        spec["nodeName"] = node
    return await make(http, "pods", {"metadata": {"name": name}, "spec": spec})


async def issue(http: httpx.AsyncClient, account: str, **spec: Any) -> str:
    answer = ok(await http.post(f"/api/v1/namespaces/{NS}/serviceaccounts/{account}/token",
                                json={"apiVersion": "authentication.k8s.io/v1",
                                      "kind": "TokenRequest", "spec": spec}))
    token: str = answer["status"]["token"]
    return token


async def whoami(http: httpx.AsyncClient, token: str) -> httpx.Response:
    return await http.post(SELF, json={"apiVersion": "authentication.k8s.io/v1",
                                       "kind": "SelfSubjectReview"},
                           headers={"Authorization": f"Bearer {token}"})


async def review(http: httpx.AsyncClient, token: str, audiences: list[str] | None = None
                 ) -> dict[str, Any]:
    spec: dict[str, Any] = {"token": token}
    if audiences is not None:
        spec["audiences"] = audiences
    status: dict[str, Any] = ok(await http.post(REVIEWS, json={
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec}))["status"]
    return status


async def delete(server: ApiServer, http: httpx.AsyncClient, path: str) -> dict[str, Any]:
    """Delete, then wait until the watch cache (which token checks read) has seen it: a
    delete reaches it a moment after it is acknowledged, as upstream's informers do."""
    deleted = ok(await http.delete(path))
    await server.cache.wait_fresh()
    return deleted


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json() == {"kind": "Status", "apiVersion": "v1", "metadata": {},
                               "status": "Failure", "message": "Unauthorized",
                               "reason": "Unauthorized", "code": 401}


def token_handler(server: ApiServer) -> TokenRequestHandler:
    handler = server.app.resources.subresources[("", "serviceaccounts", "token")]
    assert isinstance(handler, TokenRequestHandler)
    return handler


def authenticator(server: ApiServer, now: float) -> ServiceAccountTokenAuthenticator:
    """The server's service-account authenticator, as it would judge at time `now`."""
    from kybernetes.apiserver.authn.chain import AuthenticationChain

    chain = server.app.authenticator
    assert isinstance(chain, AuthenticationChain)
    found = next(t for t in chain.tokens if isinstance(t, ServiceAccountTokenAuthenticator))
    return ServiceAccountTokenAuthenticator(found.issuer, found.key, found.implicit,
                                            found.objects, clock=lambda: now)


async def test_a_token_authenticates_as_its_service_account(http: httpx.AsyncClient) -> None:
    account = await service_account(http, "robot")
    token = await issue(http, "robot")
    info = ok(await whoami(http, token))["status"]["userInfo"]
    assert info["username"] == "system:serviceaccount:default:robot"
    assert info["uid"] == account["metadata"]["uid"]
    assert info["groups"] == ["system:serviceaccounts", "system:serviceaccounts:default",
                              "system:authenticated"]
    assert info["extra"] == {"authentication.kubernetes.io/credential-id":
                             [f"JTI={payload(token)['jti']}"]}
    status = await review(http, token)
    assert status["authenticated"] is True
    assert status["user"] == info
    assert status["audiences"] == [ISSUER]


async def test_a_tampered_signature_is_refused(http: httpx.AsyncClient) -> None:
    await service_account(http, "robot")
    token = await issue(http, "robot")
    head, body, signature = token.split(".")
    flipped = bytearray(b64url_decode(signature))
    flipped[10] ^= 0x01
    tampered = f"{head}.{body}.{b64url_encode(bytes(flipped))}"
    assert_unauthorized(await whoami(http, tampered))
    assert (await review(http, tampered)) == {
        "user": {}, "error": "[invalid bearer token, go-jose/go-jose: error in cryptographic "
                             "primitive]"}


async def test_a_tampered_payload_is_refused(http: httpx.AsyncClient) -> None:
    await service_account(http, "robot")
    await service_account(http, "admin")
    token = await issue(http, "robot")
    head, _, signature = token.split(".")
    claimed = payload(token)
    claimed["sub"] = "system:serviceaccount:default:admin"
    claimed["kubernetes.io"]["serviceaccount"]["name"] = "admin"
    forged = f"{head}.{b64url_encode(json.dumps(claimed).encode())}.{signature}"
    assert_unauthorized(await whoami(http, forged))
    assert ok(await whoami(http, token))["status"]["userInfo"]["username"] == \
        "system:serviceaccount:default:robot"


async def test_another_issuer_or_key_is_refused(server: ApiServer, http: httpx.AsyncClient
                                                ) -> None:
    account = await service_account(http, "robot")
    now = int(time.time())
    good = claims(issuer=ISSUER, namespace=NS,
                  service_account=object_ref("robot", account["metadata"]["uid"]),
                  audiences=[ISSUER], issued_at=now, expiration_seconds=600, jti="j")
    key = ServiceAccountKey(server.config.data_dir)()
    assert (await whoami(http, key.sign(good))).status_code == 201
    # Signed by the server's key for another issuer: not a token of this server.
    assert_unauthorized(await whoami(http, key.sign({**good, "iss": "https://elsewhere"})))
    assert (await review(http, key.sign({**good, "iss": "https://elsewhere"}))) == {
        "user": {}, "error": "invalid bearer token"}
    # The right issuer, another key.
    stranger = SigningKey(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    assert_unauthorized(await whoami(http, stranger.sign(good)))
    assert (await review(http, stranger.sign(good)))["error"] == \
        "[invalid bearer token, invalid signature, no keys found]"


async def test_audiences_must_meet(http: httpx.AsyncClient) -> None:
    await service_account(http, "robot")
    token = await issue(http, "robot", audiences=["vault"])
    assert payload(token)["aud"] == ["vault"]
    # Not for the API...
    assert_unauthorized(await whoami(http, token))
    assert (await review(http, token))["error"] == (
        '[invalid bearer token, token audiences ["vault"] is invalid for the target audiences '
        f'["{ISSUER}"]]')
    # ...but for whoever asks for its audience.
    status = await review(http, token, ["other", "vault"])
    assert status["authenticated"] is True
    assert status["audiences"] == ["vault"]


async def test_an_expired_token_is_refused(server: ApiServer, http: httpx.AsyncClient) -> None:
    await service_account(http, "robot")
    handler = token_handler(server)
    handler.clock = lambda: time.time() - 3600 - 61
    token = await issue(http, "robot", expirationSeconds=3600)
    assert_unauthorized(await whoami(http, token))
    assert (await review(http, token))["error"] == \
        "[invalid bearer token, service account token has expired]"
    # Within go-jose's minute of leeway it is still good.
    handler.clock = lambda: time.time() - 3600 - 30
    assert (await whoami(http, await issue(http, "robot", expirationSeconds=3600))
            ).status_code == 201


async def test_a_token_from_the_future_is_refused(server: ApiServer, http: httpx.AsyncClient
                                                  ) -> None:
    await service_account(http, "robot")
    token_handler(server).clock = lambda: time.time() + 600
    token = await issue(http, "robot")
    assert (await review(http, token))["error"] == \
        "[invalid bearer token, service account token is not valid yet]"


async def test_deleting_the_service_account_invalidates_its_tokens(
        server: ApiServer, http: httpx.AsyncClient) -> None:
    await service_account(http, "robot")
    token = await issue(http, "robot")
    assert (await whoami(http, token)).status_code == 201
    await delete(server, http, f"/api/v1/namespaces/{NS}/serviceaccounts/robot")
    assert_unauthorized(await whoami(http, token))
    assert (await review(http, token))["error"] == \
        '[invalid bearer token, serviceaccounts "robot" not found]'


async def test_a_recreated_service_account_does_not_inherit_tokens(
        server: ApiServer, http: httpx.AsyncClient) -> None:
    old = await service_account(http, "robot")
    token = await issue(http, "robot")
    await delete(server, http, f"/api/v1/namespaces/{NS}/serviceaccounts/robot")
    new = await service_account(http, "robot")
    assert_unauthorized(await whoami(http, token))
    assert (await review(http, token))["error"] == (
        f"[invalid bearer token, service account UID ({new['metadata']['uid']}) does not "
        f"match claim ({old['metadata']['uid']})]")
    assert (await whoami(http, await issue(http, "robot"))).status_code == 201


async def test_deleting_the_bound_pod_invalidates_the_token(server: ApiServer,
                                                            http: httpx.AsyncClient) -> None:
    await service_account(http, "robot")
    node = await make(http, "nodes", {"metadata": {"name": "n1"}})
    bound = await pod(http, "web", "robot", node="n1")
    token = await issue(http, "robot", boundObjectRef={
        "kind": "Pod", "apiVersion": "v1", "name": "web"})
    private = payload(token)["kubernetes.io"]
    assert private["pod"] == {"name": "web", "uid": bound["metadata"]["uid"]}
    assert private["node"] == {"name": "n1", "uid": node["metadata"]["uid"]}
    info = ok(await whoami(http, token))["status"]["userInfo"]
    assert info["extra"]["authentication.kubernetes.io/pod-name"] == ["web"]
    assert info["extra"]["authentication.kubernetes.io/pod-uid"] == [bound["metadata"]["uid"]]
    assert info["extra"]["authentication.kubernetes.io/node-name"] == ["n1"]
    # A pod on a node is deleted gracefully: until its deletion time (and a minute of
    # leeway) has passed, its token still works.
    deleting = await delete(server, http, f"/api/v1/namespaces/{NS}/pods/web")
    assert deleting["metadata"]["deletionTimestamp"]
    assert (await whoami(http, token)).status_code == 201
    later = time.time() + deleting["metadata"]["deletionGracePeriodSeconds"] + 61
    with pytest.raises(InvalidToken, match=r"^service account token has been invalidated$"):
        await authenticator(server, later).authenticate_token(token, [ISSUER])
    # Gone altogether: refused at once.
    await delete(server, http, f"/api/v1/namespaces/{NS}/pods/web?gracePeriodSeconds=0")
    assert_unauthorized(await whoami(http, token))
    assert (await review(http, token))["error"] == \
        "[invalid bearer token, service account token has been invalidated]"


async def test_a_pod_recreated_under_the_same_name_does_not_inherit_tokens(
        server: ApiServer, http: httpx.AsyncClient) -> None:
    await service_account(http, "robot")
    old = await pod(http, "web", "robot")
    token = await issue(http, "robot", boundObjectRef={
        "kind": "Pod", "apiVersion": "v1", "name": "web"})
    await delete(server, http, f"/api/v1/namespaces/{NS}/pods/web?gracePeriodSeconds=0")
    new = await pod(http, "web", "robot")
    assert (await review(http, token))["error"] == (
        f"[invalid bearer token, pod UID ({new['metadata']['uid']}) does not match service "
        f"account pod ref claim ({old['metadata']['uid']})]")


async def test_secret_and_node_bound_tokens_die_with_their_object(
        server: ApiServer, http: httpx.AsyncClient) -> None:
    await service_account(http, "robot")
    await make(http, "secrets", {"metadata": {"name": "s"}, "stringData": {"k": "v"}})
    await make(http, "nodes", {"metadata": {"name": "n2"}})
    by_secret = await issue(http, "robot", boundObjectRef={
        "kind": "Secret", "apiVersion": "v1", "name": "s"})
    by_node = await issue(http, "robot", boundObjectRef={
        "kind": "Node", "apiVersion": "v1", "name": "n2"})
    assert (await whoami(http, by_secret)).status_code == 201
    node_info = ok(await whoami(http, by_node))["status"]["userInfo"]
    assert node_info["extra"]["authentication.kubernetes.io/node-name"] == ["n2"]
    await delete(server, http, f"/api/v1/namespaces/{NS}/secrets/s")
    await delete(server, http, "/api/v1/nodes/n2")
    assert_unauthorized(await whoami(http, by_secret))
    assert_unauthorized(await whoami(http, by_node))


async def test_verified_signatures_are_cached_within_bounds(server: ApiServer,
                                                            http: httpx.AsyncClient) -> None:
    await service_account(http, "robot")
    tokens = [await issue(http, "robot") for _ in range(3)]
    found = authenticator(server, time.time())
    found.cache_size = 2
    for token in tokens:
        assert await found.authenticate_token(token, [ISSUER]) is not None
    assert len(found._verified) == 2
    assert tokens[0] not in found._verified
    # An entry whose token expired is dropped when next seen.
    late = ServiceAccountTokenAuthenticator(found.issuer, found.key, found.implicit,
                                            found.objects, clock=lambda: time.time() + 7200)
    late._verified = found._verified
    with pytest.raises(InvalidToken, match="has expired"):
        await late.authenticate_token(tokens[2], [ISSUER])
    assert tokens[2] not in late._verified
