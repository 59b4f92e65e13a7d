"""Authentication end to end: a real `kyb server`, the real kubectl and plain HTTPS.

`kubectl create token` issues a service-account token (audience, lifetime, pod binding) that
then works as a bearer token; tampered tokens and tokens whose pod was deleted are 401 with
upstream's body; `kubectl auth whoami` shows who a request runs as, impersonation included;
impersonation is for those allowed it (system:masters), refused to others.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kybernetes.apiserver.authn.jws import b64url_decode, b64url_encode
from kybernetes.apiserver.pki import Pki, write_kubeconfig
from tests.e2e.cluster import Kubectl, Server, assert_status, wait_until

pytestmark = pytest.mark.e2e
ANY_BACKEND = True  # authentication, whatever the storage (conftest.py)

ISSUER = "https://kubernetes.default.svc.cluster.local"
REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"


@pytest.fixture(scope="module")
def bearer(server: Server) -> Iterator[httpx.Client]:
    """HTTPS to the server without a client certificate (credentials per request)."""
    context = ssl.create_default_context(cafile=str(Pki.at(server.data_dir).ca_cert))
    with httpx.Client(base_url=server.url, verify=context, timeout=30) as client:
        yield client


def claims(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(b64url_decode(token.split(".")[1]))
    return decoded


def review(api: httpx.Client, token: str, audiences: list[str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"token": token}
    if audiences:
        spec["audiences"] = audiences
    response = api.post(REVIEWS, json={"apiVersion": "authentication.k8s.io/v1",
                                       "kind": "TokenReview", "spec": spec})
    assert response.status_code == 201, response.text
    status: dict[str, Any] = response.json()["status"]
    return status


def pods_with(bearer: httpx.Client, ns: str, token: str) -> httpx.Response:
    return bearer.get(f"/api/v1/namespaces/{ns}/pods",
                      headers={"Authorization": f"Bearer {token}"})


def assert_unauthorized(response: httpx.Response) -> None:
    status = assert_status(response, 401, "Unauthorized")
    assert status["message"] == "Unauthorized"


def token_kubeconfig(server: Server, path: Path, token: str) -> Kubectl:
    """kubectl as the holder of `token` (no client certificate)."""
    write_kubeconfig(path, server=server.url, pki=Pki.at(server.data_dir), token=token)
    return Kubectl(path)


def whoami_rows(kubectl: Kubectl, *args: str) -> dict[str, str]:
    """`kubectl auth whoami`'s table, ATTRIBUTE -> VALUE."""
    lines = kubectl("auth", "whoami", *args).splitlines()
    assert lines[0].split() == ["ATTRIBUTE", "VALUE"], lines
    return dict(line.split(None, 1) for line in lines[1:])


def test_kubectl_create_token_bound_to_a_pod(kubectl: Kubectl, api: httpx.Client,
                                             bearer: httpx.Client, ns: str) -> None:
    # The service account controller gives the namespace its `default` account.
    wait_until(lambda: kubectl.run("get", "serviceaccount", "default", "-n", ns,
                                   check=False).returncode == 0,
               "the default service account")
    kubectl("run", "p", "-n", ns, "--image", "pause", "--restart", "Never")
    pod_uid = kubectl.json("get", "pod", "p", "-n", ns)["metadata"]["uid"]
    account_uid = kubectl.json("get", "serviceaccount", "default", "-n", ns)["metadata"]["uid"]
    token = kubectl("create", "token", "default", "-n", ns, "--duration", "20m", "--audience",
                    "x", "--bound-object-kind", "Pod", "--bound-object-name", "p").strip()
    issued = claims(token)
    assert issued["aud"] == ["x"]
    assert issued["exp"] - issued["iat"] == 1200
    assert issued["iss"] == ISSUER
    assert issued["sub"] == f"system:serviceaccount:{ns}:default"
    assert issued["kubernetes.io"]["serviceaccount"] == {"name": "default", "uid": account_uid}
    assert issued["kubernetes.io"]["pod"] == {"name": "p", "uid": pod_uid}
    # Good for audience x, not for the API itself.
    status = review(api, token, ["x"])
    assert status["authenticated"] is True
    assert status["user"]["username"] == f"system:serviceaccount:{ns}:default"
    assert status["user"]["extra"]["authentication.kubernetes.io/pod-name"] == ["p"]
    assert status["audiences"] == ["x"]
    assert_unauthorized(pods_with(bearer, ns, token))
    # Deleting the pod invalidates the token.
    kubectl("delete", "pod", "p", "-n", ns, "--wait=false")
    wait_until(lambda: not review(api, token, ["x"]).get("authenticated"),
               "the deleted pod's token to be refused")
    assert review(api, token, ["x"])["error"] == \
        "[invalid bearer token, service account token has been invalidated]"


def test_a_token_for_the_api_authenticates_requests(server: Server, kubectl: Kubectl,
                                                    bearer: httpx.Client, ns: str,
                                                    tmp_path: Path) -> None:
    kubectl("create", "serviceaccount", "robot", "-n", ns)
    token = kubectl("create", "token", "robot", "-n", ns).strip()
    assert claims(token)["aud"] == [ISSUER]
    assert claims(token)["exp"] - claims(token)["iat"] == 3600
    # Authenticated (what RBAC then allows it is another matter: not 401).
    assert pods_with(bearer, ns, token).status_code != 401
    as_robot = token_kubeconfig(server, tmp_path / "robot.kubeconfig", token)
    rows = whoami_rows(as_robot)
    assert rows["Username"] == f"system:serviceaccount:{ns}:robot"
    assert rows["Groups"] == f"[system:serviceaccounts system:serviceaccounts:{ns} " \
                             "system:authenticated]"
    assert rows["Extra:"].split() == ["authentication.kubernetes.io/credential-id",
                                      f"[JTI={claims(token)['jti']}]"]
    # Tampered: a changed signature, or a changed claim under the old signature.
    head, body, signature = token.split(".")
    raw = bytearray(b64url_decode(signature))
    raw[0] ^= 0xFF
    assert_unauthorized(pods_with(bearer, ns, f"{head}.{body}.{b64url_encode(bytes(raw))}"))
    forged = claims(token)
    forged["sub"] = "system:serviceaccount:kube-system:default"
    forged_body = b64url_encode(json.dumps(forged).encode())
    assert_unauthorized(pods_with(bearer, ns, f"{head}.{forged_body}.{signature}"))
    assert_unauthorized(pods_with(bearer, ns, "not-a-token"))
    refused = token_kubeconfig(server, tmp_path / "bad.kubeconfig",
                               "not-a-token").run("get", "pods", "-n", ns, check=False)
    assert refused.returncode != 0
    assert "error: You must be logged in to the server (Unauthorized)" in refused.stderr
    # Deleting the service account invalidates its tokens.
    kubectl("delete", "serviceaccount", "robot", "-n", ns)
    wait_until(lambda: pods_with(bearer, ns, token).status_code == 401,
               "the deleted service account's token to be refused")


def test_whoami_and_impersonation(kubectl: Kubectl) -> None:
    assert whoami_rows(kubectl) == {"Username": "system:admin",
                                    "Groups": "[system:masters system:authenticated]"}
    assert whoami_rows(kubectl, "--as", "jane", "--as-group", "system:masters", "--as-group",
                       "devs", "--as-uid", "u-7") == {
        "Username": "jane", "UID": "u-7",
        "Groups": "[system:masters devs system:authenticated]"}
    review = kubectl.json("auth", "whoami", "--as", "jane", "--as-group", "system:masters")
    assert review["kind"] == "SelfSubjectReview"
    assert review["status"]["userInfo"] == {
        "username": "jane", "groups": ["system:masters", "system:authenticated"]}


def test_impersonating_a_service_account(kubectl: Kubectl, ns: str) -> None:
    kubectl("create", "serviceaccount", "robot", "-n", ns)
    result = kubectl.run("get", "pods", "-n", ns, "--as", f"system:serviceaccount:{ns}:robot",
                         check=False)
    # The request ran as the service account (which no role allows to list pods).
    assert result.returncode != 0
    assert (f'pods is forbidden: User "system:serviceaccount:{ns}:robot" cannot list resource '
            f'"pods" in API group "" in the namespace "{ns}"') in result.stderr


def test_a_plain_user_may_not_impersonate(server: Server, kubectl: Kubectl, ns: str,
                                          tmp_path: Path) -> None:
    kubectl("create", "serviceaccount", "bob", "-n", ns)
    token = kubectl("create", "token", "bob", "-n", ns).strip()
    as_bob = token_kubeconfig(server, tmp_path / "bob.kubeconfig", token)
    result = as_bob.run("get", "pods", "-n", ns, "--as", "jane", check=False)
    assert result.returncode != 0
    assert ('Error from server (Forbidden): users "jane" is forbidden: User '
            f'"system:serviceaccount:{ns}:bob" cannot impersonate resource "users" in API group '
            '"" at the cluster scope') in result.stderr
