"""Static tokens (`--token-auth-file`) and bootstrap tokens (kube-system Secrets of type
`bootstrap.kubernetes.io/token`) against a real API server in this process; and the chain's
401 for anything else."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.apiserver import inprocess
from tests.apiserver.inprocess import http, ok

from kybernetes.apiserver.authn.bootstrap import token_secret
from kybernetes.apiserver.authn.tokenfile import TokenFile
from kybernetes.apiserver.server import ApiServer

__all__ = ["http"]  # the fixture

SELF = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"
SECRETS = "/api/v1/namespaces/kube-system/secrets"
ISSUER = "https://kubernetes.default.svc.cluster.local"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ApiServer]:
    tokens = tmp_path / "tokens.csv"
    tokens.write_text('s3cret,alice,1001,"dev,ops"\n'
                      "\n"
                      "plain,bob,1002\n")
    # In-process over ASGI (no client certificate): authorization is off.
    async with inprocess.apiserver(tmp_path, authorization_mode="AlwaysAllow",
                                   token_auth_file=tokens) as server:
        yield server


async def whoami(http: httpx.AsyncClient, token: str | None) -> httpx.Response:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return await http.post(SELF, json={}, headers=headers)


async def user_of(http: httpx.AsyncClient, token: str | None) -> dict[str, Any]:
    info: dict[str, Any] = ok(await whoami(http, token))["status"]["userInfo"]
    return info


async def test_static_tokens(http: httpx.AsyncClient) -> None:
    assert await user_of(http, "s3cret") == {
        "username": "alice", "uid": "1001", "groups": ["dev", "ops", "system:authenticated"]}
    assert await user_of(http, "plain") == {
        "username": "bob", "uid": "1002", "groups": ["system:authenticated"]}
    unknown = await whoami(http, "guess")
    assert unknown.status_code == 401
    assert unknown.json()["message"] == "Unauthorized"
    # No credential at all is anonymous (allowed here: authorization is off).
    assert await user_of(http, None) == {"username": "system:anonymous",
                                         "groups": ["system:unauthenticated"]}
    # Static tokens are good for the API's audiences only.
    review = ok(await http.post(REVIEWS, json={"spec": {"token": "s3cret"}}))["status"]
    assert review["authenticated"] is True
    assert review["audiences"] == [ISSUER]
    elsewhere = ok(await http.post(REVIEWS, json={"spec": {"token": "s3cret",
                                                           "audiences": ["vault"]}}))
    assert elsewhere["status"] == {"user": {}, "error": "invalid bearer token"}
    empty = await http.post(REVIEWS, json={"spec": {"token": ""}})
    assert empty.status_code == 400
    assert empty.json()["message"] == "token is required for TokenReview in authentication"


def test_a_token_file_needs_three_columns(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("token,user\n")
    with pytest.raises(ValueError, match=r"^token file '.*bad.csv' must have at least 3 "
                                         r"columns \(token, user name, user uid\), found 2$"):
        TokenFile.load(path)


async def test_bootstrap_tokens(server: ApiServer, http: httpx.AsyncClient) -> None:
    body = token_secret("abcdef", "0123456789abcdef",
                        extra_groups=["system:bootstrappers:kybernetes:default-node-token"],
                        expiration="2999-01-01T00:00:00Z", description="joining nodes")
    assert body["metadata"] == {"name": "bootstrap-token-abcdef", "namespace": "kube-system"}
    assert body["type"] == "bootstrap.kubernetes.io/token"
    assert {k: base64.b64decode(v).decode() for k, v in body["data"].items()} == {
        "token-id": "abcdef", "token-secret": "0123456789abcdef",
        "usage-bootstrap-authentication": "true", "usage-bootstrap-signing": "true",
        "auth-extra-groups": "system:bootstrappers:kybernetes:default-node-token",
        "expiration": "2999-01-01T00:00:00Z", "description": "joining nodes"}
    ok(await http.post(SECRETS, json=body))
    assert await user_of(http, "abcdef.0123456789abcdef") == {
        "username": "system:bootstrap:abcdef",
        "groups": ["system:bootstrappers", "system:bootstrappers:kybernetes:default-node-token",
                   "system:authenticated"]}
    assert (await whoami(http, "abcdef.0123456789abcdeX")).status_code == 401
    assert (await whoami(http, "abcdef.0000000000000000")).status_code == 401
    assert (await whoami(http, "zzzzzz.0123456789abcdef")).status_code == 401


@pytest.mark.parametrize("change", [
    {"expiration": "2000-01-01T00:00:00Z"},
    {"expiration": "tomorrow"},
    {"usage-bootstrap-authentication": "false"},
    {"auth-extra-groups": "system:masters"},
    {"token-id": "ghijkl"},
])
async def test_a_bootstrap_secret_that_does_not_vouch(server: ApiServer, http: httpx.AsyncClient,
                                                      change: dict[str, str]) -> None:
    body = token_secret("abcdef", "0123456789abcdef")
    body["data"].update({k: base64.b64encode(v.encode()).decode() for k, v in change.items()})
    ok(await http.post(SECRETS, json=body))
    assert (await whoami(http, "abcdef.0123456789abcdef")).status_code == 401


async def test_a_bootstrap_secret_of_another_type_or_deleted(server: ApiServer,
                                                             http: httpx.AsyncClient) -> None:
    opaque = {**token_secret("abcdef", "0123456789abcdef"), "type": "Opaque"}
    ok(await http.post(SECRETS, json=opaque))
    assert (await whoami(http, "abcdef.0123456789abcdef")).status_code == 401
    ok(await http.post(SECRETS, json=token_secret("ghijkl", "0123456789abcdef")))
    assert (await whoami(http, "ghijkl.0123456789abcdef")).status_code == 201
    ok(await http.delete(f"{SECRETS}/bootstrap-token-ghijkl"))
    await server.cache.wait_fresh()
    assert (await whoami(http, "ghijkl.0123456789abcdef")).status_code == 401


def test_token_secret_refuses_bad_input() -> None:
    with pytest.raises(ValueError):
        token_secret("ABCDEF", "0123456789abcdef")
    with pytest.raises(ValueError, match="bootstrap group"):
        token_secret("abcdef", "0123456789abcdef", extra_groups=["system:masters"])
