"""TokenRequest (`serviceaccounts/<name>/token`) against a real API server in this process:
defaults, limits and upstream's messages, bound objects, the token's header and claims as
upstream writes them, and EC signing keys."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from tests.apiserver import inprocess
from tests.apiserver.inprocess import ok

from kybernetes.apiserver.authn.jws import b64url_decode, b64url_encode
from kybernetes.apiserver.pki import Pki

NS = "default"
ISSUER = "https://kubernetes.default.svc.cluster.local"
TOKEN = f"/api/v1/namespaces/{NS}/serviceaccounts/robot/token"


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    # In-process over ASGI (no client certificate): authorization is off.
    async with (inprocess.apiserver(tmp_path, authorization_mode="AlwaysAllow",
                                    service_account_max_token_expiration=48 * 3600) as server,
                inprocess.http_client(server.app) as client):
        ok(await client.post(f"/api/v1/namespaces/{NS}/serviceaccounts",
                             json={"metadata": {"name": "robot"}}))
        yield client


def part(token: str, index: int) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(b64url_decode(token.split(".")[index]))
    return decoded


def request(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}


def stamp(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def status_of(response: httpx.Response, code: int) -> dict[str, Any]:
    assert response.status_code == code, response.text
    body: dict[str, Any] = response.json()
    assert body["kind"] == "Status"
    return body


async def test_defaults_and_the_claims_upstream_writes(http: httpx.AsyncClient,
                                                       tmp_path: Path) -> None:
    response = await http.post(TOKEN, json=request())
    assert response.status_code == 201
    answer = response.json()
    assert answer["kind"] == "TokenRequest"
    assert answer["apiVersion"] == "authentication.k8s.io/v1"
    assert answer["metadata"]["name"] == "robot"
    assert answer["metadata"]["namespace"] == NS
    assert answer["spec"] == {"audiences": [ISSUER], "expirationSeconds": 3600}
    created = stamp(answer["metadata"]["creationTimestamp"])
    assert stamp(answer["status"]["expirationTimestamp"]) - created == 3600
    token = answer["status"]["token"]
    # Header: RS256 (the server's key is RSA), kid = base64url(sha256(DER of the public key)).
    key = serialization.load_pem_private_key(
        Pki.at(tmp_path).service_account_key.read_bytes(), None)
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    assert part(token, 0) == {"alg": "RS256", "kid": b64url_encode(hashlib.sha256(der).digest())}
    claims = part(token, 1)
    account = ok(await http.get(f"/api/v1/namespaces/{NS}/serviceaccounts/robot"))
    assert claims["iss"] == ISSUER
    assert claims["sub"] == "system:serviceaccount:default:robot"
    assert claims["aud"] == [ISSUER]
    assert claims["iat"] == claims["nbf"] == created
    assert claims["exp"] - claims["iat"] == 3600
    assert len(claims["jti"]) == 36
    assert claims["kubernetes.io"] == {
        "namespace": NS, "serviceaccount": {"name": "robot", "uid": account["metadata"]["uid"]}}


async def test_expiration_limits(http: httpx.AsyncClient) -> None:
    short = status_of(await http.post(TOKEN, json=request(expirationSeconds=599)), 422)
    assert short["message"] == (
        'TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid '
        "value: 599: may not specify a duration less than 10 minutes")
    assert short["reason"] == "Invalid"
    huge = status_of(await http.post(TOKEN, json=request(expirationSeconds=2**32 + 1)), 422)
    assert huge["message"].endswith("may not specify a duration larger than 2^32 seconds")
    # Beyond --service-account-max-token-expiration: shortened, with a warning.
    response = await http.post(TOKEN, json=request(expirationSeconds=72 * 3600))
    assert response.status_code == 201
    assert response.json()["spec"]["expirationSeconds"] == 48 * 3600
    assert response.headers["warning"] == (
        '299 - "requested expiration of 259200 seconds shortened to 172800 seconds"')
    claims = part(response.json()["status"]["token"], 1)
    assert claims["exp"] - claims["iat"] == 48 * 3600


async def test_missing_service_account_and_mismatched_names(http: httpx.AsyncClient) -> None:
    missing = status_of(await http.post(
        f"/api/v1/namespaces/{NS}/serviceaccounts/nobody/token", json=request()), 404)
    assert missing["message"] == 'serviceaccounts "nobody" not found'
    named = request()
    named["metadata"] = {"name": "other"}
    wrong = status_of(await http.post(TOKEN, json=named), 422)
    assert wrong["message"] == (
        'TokenRequest.authentication.k8s.io "robot" is invalid: metadata.name: Invalid value: '
        '"other": must match the service account name if specified')
    status_of(await http.get(TOKEN), 405)


async def test_bound_object_checks(http: httpx.AsyncClient) -> None:
    ok(await http.post(f"/api/v1/namespaces/{NS}/serviceaccounts",
                       json={"metadata": {"name": "other"}}))
    pod = ok(await http.post(f"/api/v1/namespaces/{NS}/pods", json={
        "metadata": {"name": "web"}, "spec": {
            "serviceAccountName": "other", "containers": [{"name": "c", "image": "pause"}]}}))
    to_pod = {"kind": "Pod", "apiVersion": "v1", "name": "web"}
    foreign = status_of(await http.post(TOKEN, json=request(boundObjectRef=to_pod)), 400)
    assert foreign["message"] == ('cannot bind token for serviceaccount "robot" to pod running '
                                  "with different serviceaccount name.")
    stale = status_of(await http.post(
        f"/api/v1/namespaces/{NS}/serviceaccounts/other/token",
        json=request(boundObjectRef={**to_pod, "uid": "not-" + pod["metadata"]["uid"]})), 409)
    assert stale["message"] == (
        f'Operation cannot be fulfilled on Pod "web": the UID in the bound object reference '
        f'(not-{pod["metadata"]["uid"]}) does not match the UID in record. The object might '
        "have been deleted and then recreated")
    odd = status_of(await http.post(TOKEN, json=request(boundObjectRef={
        "kind": "Deployment", "apiVersion": "apps/v1", "name": "d"})), 400)
    assert odd["message"] == "cannot bind token to object of type apps/v1, Kind=Deployment"
    gone = status_of(await http.post(TOKEN, json=request(boundObjectRef={
        "kind": "Secret", "apiVersion": "v1", "name": "nothing"})), 404)
    assert gone["message"] == 'secrets "nothing" not found'


async def test_the_kubelets_default_projection_is_extended(http: httpx.AsyncClient) -> None:
    """A pod-bound token asked for 3607 s (the kubelet's default) for the API audiences
    lives a year and warns after 3607 s, as upstream's --service-account-extend-token-
    expiration (on by default) has it; any other lifetime is left alone."""
    ok(await http.post(f"/api/v1/namespaces/{NS}/pods", json={
        "metadata": {"name": "web"}, "spec": {
            "serviceAccountName": "robot", "containers": [{"name": "c", "image": "pause"}]}}))
    bound = {"kind": "Pod", "apiVersion": "v1", "name": "web"}
    answer = ok(await http.post(TOKEN, json=request(expirationSeconds=3607,
                                                    boundObjectRef=bound)))
    claims = part(answer["status"]["token"], 1)
    assert claims["exp"] - claims["iat"] == 365 * 24 * 3600
    assert claims["kubernetes.io"]["warnafter"] - claims["iat"] == 3607
    assert stamp(answer["status"]["expirationTimestamp"]) - claims["iat"] == 3607
    plain = part(ok(await http.post(TOKEN, json=request(expirationSeconds=3600,
                                                        boundObjectRef=bound)))["status"]
                 ["token"], 1)
    assert plain["exp"] - plain["iat"] == 3600
    assert "warnafter" not in plain["kubernetes.io"]


async def test_an_ec_key_signs_es256(tmp_path: Path) -> None:
    key_path = Pki.at(tmp_path).service_account_key
    key_path.parent.mkdir(parents=True)
    key_path.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption()))
    key_path.chmod(0o600)
    async with (inprocess.apiserver(tmp_path, authorization_mode="AlwaysAllow") as server,
                inprocess.http_client(server.app) as http):
        ok(await http.post(f"/api/v1/namespaces/{NS}/serviceaccounts",
                           json={"metadata": {"name": "robot"}}))
        token = ok(await http.post(TOKEN, json=request()))["status"]["token"]
        assert part(token, 0)["alg"] == "ES256"
        assert len(b64url_decode(token.split(".")[2])) == 64
        who = ok(await http.post("/apis/authentication.k8s.io/v1/selfsubjectreviews",
                                 json={}, headers={"Authorization": f"Bearer {token}"}))
        assert who["status"]["userInfo"]["username"] == "system:serviceaccount:default:robot"
