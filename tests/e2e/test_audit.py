"""The audit log of a real `kyb apiserver` (`--audit-policy-file`, `--audit-log-path`) driven
by the real kubectl and plain HTTPS: what the policy asks for is logged, with the requester,
the object, the response status and the authorization decision; what it does not is not."""

from __future__ import annotations

import json
import ssl
import stat
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from kybernetes.apiserver.pki import Pki
from tests.e2e.cluster import Kubectl, Server, wait_until

pytestmark = pytest.mark.e2e

POLICY = {
    "apiVersion": "audit.k8s.io/v1", "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "None", "nonResourceURLs": ["/healthz*", "/readyz*", "/livez*", "/openapi*",
                                              "/api*", "/version"]},
        {"level": "Metadata", "resources": [{"group": "", "resources": ["secrets"]}]},
        {"level": "RequestResponse", "resources": [{"group": "", "resources": ["configmaps"]}],
         "omitManagedFields": True},
        {"level": "Metadata"},
    ],
}


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("kyb")
    policy = data / "policy.json"
    policy.write_text(json.dumps(POLICY))
    server = Server(data, command="apiserver", extra_args=[
        "--audit-policy-file", str(policy), "--audit-log-path", str(data / "audit.log"),
        "--audit-log-maxsize", "10", "--audit-log-maxbackup", "2"])
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def kubectl(audited: Server) -> Kubectl:
    return Kubectl(audited.kubeconfig)


def events(server: Server) -> list[dict[str, Any]]:
    path = server.data_dir / "audit.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def completed(server: Server, predicate: Any) -> dict[str, Any]:
    """The ResponseComplete (or a refusal's only) event the predicate picks, once logged."""
    def find() -> dict[str, Any] | None:
        return next((e for e in events(server) if predicate(e)), None)

    found: dict[str, Any] = wait_until(find, "the audit event")
    return found


def about(verb: str, resource: str, name: str = "") -> Any:
    def matches(event: dict[str, Any]) -> bool:
        ref = event.get("objectRef") or {}
        return event["stage"] == "ResponseComplete" and event["verb"] == verb and \
            ref.get("resource") == resource and (not name or ref.get("name") == name)
    return matches


ADMIN = {"username": "system:admin", "groups": ["system:masters", "system:authenticated"]}


def test_kubectl_requests_are_logged_at_their_level(audited: Server, kubectl: Kubectl) -> None:
    kubectl("create", "secret", "generic", "audited", "--from-literal=password=e2e-hidden-31")
    kubectl("create", "configmap", "shown", "--from-literal=color=teal")
    kubectl("get", "configmap", "shown", "-o", "json")
    secret = completed(audited, about("create", "secrets", "audited"))
    assert secret["level"] == "Metadata"
    assert secret["user"] == ADMIN
    assert secret["sourceIPs"] == ["127.0.0.1"]
    assert secret["userAgent"].startswith("kubectl")
    assert secret["objectRef"] == {"resource": "secrets", "namespace": "default",
                                   "name": "audited", "apiVersion": "v1"}
    assert secret["responseStatus"] == {"metadata": {}, "code": 201}
    assert secret["annotations"]["authorization.k8s.io/decision"] == "allow"
    assert "requestObject" not in secret and "responseObject" not in secret
    got = completed(audited, about("get", "configmaps", "shown"))
    assert got["level"] == "RequestResponse"
    assert got["responseObject"]["data"] == {"color": "teal"}
    assert "managedFields" not in got["responseObject"]["metadata"]
    log = (audited.data_dir / "audit.log").read_text()
    assert "e2e-hidden-31" not in log and "ZTJlLWhpZGRlbi0zMQ" not in log
    # Discovery and health checks are at level None; RequestReceived is omitted.
    assert not [e for e in events(audited) if e["requestURI"].startswith(("/api?", "/apis?",
                                                                            "/openapi"))]
    assert {e["stage"] for e in events(audited)} <= {"ResponseStarted", "ResponseComplete"}
    assert stat.S_IMODE((audited.data_dir / "audit.log").stat().st_mode) == 0o600


def test_refused_requests_are_logged(audited: Server, kubectl: Kubectl) -> None:
    pki = Pki.at(audited.data_dir)
    trust = ssl.create_default_context(cafile=str(pki.ca_cert))
    with httpx.Client(base_url=audited.url, verify=trust, timeout=30) as anonymous:
        refused = anonymous.get("/api/v1/secrets")
    assert refused.status_code == 403
    event = completed(audited, lambda e: e["auditID"] == refused.headers["audit-id"] and
                      e["stage"] == "ResponseComplete")
    assert event["user"] == {"username": "system:anonymous",
                             "groups": ["system:unauthenticated"]}
    assert event["verb"] == "list" and event["objectRef"] == {"resource": "secrets",
                                                              "apiVersion": "v1"}
    assert event["annotations"]["authorization.k8s.io/decision"] == "forbid"
    assert event["responseStatus"]["code"] == 403
    assert event["responseStatus"]["reason"] == "Forbidden"
    assert event["responseStatus"]["message"] == refused.json()["message"]

    as_jane = kubectl.run("get", "pods", "--as=jane", check=False)
    assert as_jane.returncode != 0 and "forbidden" in as_jane.stderr
    impersonated = completed(audited, lambda e: e.get("impersonatedUser", {}).get(
        "username") == "jane" and e["stage"] == "ResponseComplete")
    assert impersonated["user"] == ADMIN
    assert impersonated["annotations"]["authorization.k8s.io/decision"] == "forbid"


def test_a_watch_is_logged_when_it_starts_and_when_it_ends(audited: Server) -> None:
    with audited.client() as admin:
        watch = admin.get("/api/v1/namespaces/default/pods",
                          params={"watch": "1", "timeoutSeconds": "1"})
    assert watch.status_code == 200
    audit_id = watch.headers["audit-id"]
    completed(audited, lambda e: e["auditID"] == audit_id and e["stage"] == "ResponseComplete")
    stages = [e["stage"] for e in events(audited) if e["auditID"] == audit_id]
    assert stages == ["ResponseStarted", "ResponseComplete"]
