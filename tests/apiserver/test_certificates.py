"""The certificates API through the real kubectl, against a real `kyb server` (its
controller manager approves and signs as in a cluster).

Intent: a request records who made it whatever its body says and starts unapproved;
`kubectl certificate approve|deny` decide it through `/approval` (for users RBAC lets
approve for the signer only), after which the signer issues the certificate; spec and
status cannot be changed through the main endpoint, approvals not through `/status`;
malformed requests and `system:masters` client certificates are refused with upstream's
messages.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from tests.e2e.cluster import Kubectl, Server, checked_server, find_kubectl, wait_until

from kybernetes.api import certificates as csrs
from kybernetes.api import jointoken
from kybernetes.apiserver import nodetoken
from kybernetes.apiserver.pki import Pki
from kybernetes.kubelet.certificate import csr as csr_requests

pytestmark = pytest.mark.e2e

Obj = dict[str, Any]
CLIENT = csrs.KUBE_APISERVER_CLIENT


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with checked_server(tmp_path_factory.mktemp("kyb-csr")) as running:
        yield running


@pytest.fixture(scope="module")
def kubectl(server: Server) -> Kubectl:
    return Kubectl(server.kubeconfig, find_kubectl())


def request_pem(cn: str, orgs: tuple[str, ...] = ()) -> str:
    pem = csr_requests.make_request(csr_requests.new_key(), cn, orgs)
    return base64.b64encode(pem).decode()


def manifest(name: str, *, request: str | None = None, signer: str = CLIENT,
             usages: list[str] | None = None, **spec: Any) -> str:
    body: Obj = {"request": request_pem(name) if request is None else request,
                 "signerName": signer,
                 "usages": ["digital signature", "client auth"] if usages is None else usages,
                 **spec}
    return json.dumps({"apiVersion": "certificates.k8s.io/v1",
                       "kind": "CertificateSigningRequest", "metadata": {"name": name},
                       "spec": body})


def create(kubectl: Kubectl, name: str, **kwargs: Any) -> Obj:
    kubectl("create", "-f", "-", input=manifest(name, **kwargs))
    found: Obj = kubectl.json("get", "csr", name)
    return found


def refused(kubectl: Kubectl, document: str) -> str:
    result = kubectl.run("create", "-f", "-", input=document, check=False)
    assert result.returncode != 0, result.stdout
    return result.stderr


def test_the_requester_is_recorded_and_nothing_is_preapproved(kubectl: Kubectl) -> None:
    kubectl("create", "-f", "-", input=json.dumps({
        **json.loads(manifest("forged")),
        "status": {"conditions": [{"type": "Approved", "status": "True"}]}})
        .replace('"signerName"', '"username": "mallory", "groups": ["x"], "signerName"'))
    csr = kubectl.json("get", "csr", "forged")
    assert csr["spec"]["username"] == "system:admin"
    assert csr["spec"]["groups"] == ["system:masters", "system:authenticated"]
    assert not csr.get("status", {}).get("conditions")
    row = kubectl("get", "csr", "forged", "--no-headers").split()
    assert row[2:4] == [CLIENT, "system:admin"] and row[-1] == "Pending"


def test_approve_then_the_signer_issues_the_certificate(kubectl: Kubectl,
                                                         server: Server) -> None:
    create(kubectl, "alice", request=request_pem("alice", ("dev",)), expirationSeconds=3600)
    assert kubectl("certificate", "approve", "alice").strip() == \
        "certificatesigningrequest.certificates.k8s.io/alice approved"
    issued = wait_until(lambda: csrs.issued_certificate(kubectl.json("get", "csr", "alice")),
                        "alice's certificate")
    cert = x509.load_pem_x509_certificate(issued)
    ca = x509.load_pem_x509_certificate(Pki.at(server.data_dir).ca_cert.read_bytes())
    cert.verify_directly_issued_by(ca)
    assert cert.subject.rfc4514_string() == "CN=alice,O=dev"
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == \
        [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).total_seconds() == 3900
    condition = kubectl.json("get", "csr", "alice")["status"]["conditions"][0]
    assert (condition["type"], condition["reason"]) == ("Approved", "KubectlApprove")
    row = kubectl("get", "csr", "alice", "--no-headers").split()
    assert row[-2:] == ["60m", "Approved,Issued"]


def test_deny(kubectl: Kubectl) -> None:
    create(kubectl, "bob")
    assert kubectl("certificate", "deny", "bob").strip() == \
        "certificatesigningrequest.certificates.k8s.io/bob denied"
    csr = kubectl.json("get", "csr", "bob")
    assert [(c["type"], c["reason"]) for c in csr["status"]["conditions"]] == \
        [("Denied", "KubectlDeny")]
    # Approved and Denied exclude each other, even through /approval.
    csr["status"]["conditions"].append({"type": "Approved", "status": "True"})
    result = kubectl.run("replace", "--raw",
                         "/apis/certificates.k8s.io/v1/certificatesigningrequests/bob/approval",
                         "-f", "-", input=json.dumps(csr), check=False)
    assert "Approved and Denied conditions are mutually exclusive" in result.stderr


def test_malformed_requests_are_refused(kubectl: Kubectl) -> None:
    garbage = base64.b64encode(b"junk").decode()
    message = refused(kubectl, manifest("bad-pem", request=garbage))
    assert ('spec.request: Invalid value: []byte{0x6a, 0x75, 0x6e, 0x6b}: PEM block type '
            'must be CERTIFICATE REQUEST') in message
    message = refused(kubectl, manifest("bad-spec", signer=csrs.LEGACY_UNKNOWN,
                                        usages=["client auth", "client auth", "flying"],
                                        expirationSeconds=60))
    for expected in ('spec.usages[1]: Duplicate value: "client auth"',
                     'spec.usages[2]: Unsupported value: "flying": supported values: "any", ',
                     'spec.signerName: Invalid value: "kubernetes.io/legacy-unknown": the '
                     'legacy signerName is not allowed via this API version',
                     'spec.expirationSeconds: Invalid value: 60: may not specify a duration '
                     'less than 600 seconds (10 minutes)'):
        assert expected in message
    message = refused(kubectl, manifest("no-usages", signer="example", usages=[]))
    assert "spec.usages: Required value" in message
    assert ("spec.signerName: Invalid value: \"example\": must be a fully qualified domain "
            "and path of the form 'example.com/signer-name'") in message


def test_system_masters_client_certificates_are_refused(kubectl: Kubectl) -> None:
    message = refused(kubectl, manifest(
        "root", request=request_pem("root", ("system:masters",))))
    assert ('certificatesigningrequests.certificates.k8s.io "root" is forbidden: use of '
            'kubernetes.io/kube-apiserver-client signer with system:masters group is not '
            'allowed') in message


def test_spec_and_status_change_only_through_their_subresources(kubectl: Kubectl) -> None:
    before = create(kubectl, "carol")
    kubectl("patch", "csr", "carol", "--type=merge", "-p", json.dumps({
        "metadata": {"labels": {"team": "x"}},
        "spec": {"usages": ["server auth"], "signerName": "example.com/other"}}))
    after = kubectl.json("get", "csr", "carol")
    assert after["spec"] == before["spec"]
    assert after["metadata"]["labels"] == {"team": "x"}
    result = kubectl.run("patch", "csr", "carol", "--subresource=status", "--type=merge", "-p",
                         json.dumps({"status": {"conditions": [
                             {"type": "Approved", "status": "True"}]}}), check=False)
    assert 'status.conditions: Forbidden: updates may not add a condition of type ' \
        '"Approved"' in result.stderr
    assert not kubectl.json("get", "csr", "carol").get("status", {}).get("conditions")


def test_approving_needs_the_approve_verb_on_the_signer(kubectl: Kubectl,
                                                        tmp_path: Path) -> None:
    create(kubectl, "dave")
    rules = [{"apiGroups": ["certificates.k8s.io"], "resources": ["certificatesigningrequests"],
              "verbs": ["get", "list"]},
             {"apiGroups": ["certificates.k8s.io"],
              "resources": ["certificatesigningrequests/approval"], "verbs": ["update"]}]
    grant(kubectl, "csr-clerk", "csr-clerk", rules)
    clerk = ["--as", "csr-clerk"]

    def attempt() -> str | None:
        """What approving said, once RBAC lets the clerk write /approval."""
        result = kubectl.run(*clerk, "certificate", "approve", "dave", check=False)
        return None if "cannot update resource" in result.stderr else f"{result.stderr}."

    assert ('certificatesigningrequests.certificates.k8s.io "dave" is forbidden: user not '
            'permitted to approve requests with signerName '
            '"kubernetes.io/kube-apiserver-client"') in wait_until(attempt, "RBAC's answer")
    # The signer's domain with a wildcard is enough.
    grant(kubectl, "csr-clerk-approves", "csr-clerk", [{
        "apiGroups": ["certificates.k8s.io"], "resources": ["signers"],
        "resourceNames": ["kubernetes.io/*"], "verbs": ["approve"]}])
    wait_until(lambda: kubectl.run(*clerk, "certificate", "approve", "dave",
                                   check=False).returncode == 0, "the clerk may approve")
    assert kubectl.json("get", "csr", "dave")["status"]["conditions"][0]["type"] == "Approved"


def grant(kubectl: Kubectl, name: str, user: str, rules: list[Obj]) -> None:
    for obj in ({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                 "metadata": {"name": name}, "rules": rules},
                {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                 "metadata": {"name": name},
                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                             "name": name},
                 "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                               "name": user}]}):
        kubectl("create", "-f", "-", input=json.dumps(obj))


# ----------------------------------------------------------------------------- node token


def test_the_node_token_and_what_agents_join_with(server: Server, kubectl: Kubectl) -> None:
    path = server.data_dir / "token"
    assert path.stat().st_mode & 0o777 == 0o600
    token = jointoken.parse(path.read_text())
    ca_pem = Pki.at(server.data_dir).ca_cert.read_bytes()
    assert token.ca_hash == hashlib.sha256(ca_pem).hexdigest()
    secret = kubectl.json("get", "secret", f"bootstrap-token-{token.token_id}", "-n",
                          "kube-system")
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert secret["type"] == "bootstrap.kubernetes.io/token"
    assert (data["token-id"], data["token-secret"], data["usage-bootstrap-authentication"],
            data["auth-extra-groups"]) == (token.token_id, token.secret, "true",
                                           "system:bootstrappers:kybernetes:default-node-token")
    # cluster-info, and only it, is readable without credentials.
    with httpx.Client(base_url=server.url, verify=False, timeout=30) as anonymous:
        info = anonymous.get("/api/v1/namespaces/kube-public/configmaps/cluster-info")
        assert info.status_code == 200
        config = yaml.safe_load(info.json()["data"]["kubeconfig"])
        cluster = config["clusters"][0]["cluster"]
        assert base64.b64decode(cluster["certificate-authority-data"]) == ca_pem
        assert cluster["server"] == f"https://127.0.0.1:{server.port}"
        assert anonymous.get("/api/v1/namespaces/kube-public/configmaps").status_code == 403
    # The bootstrap token's user may ask for a node's client certificate.
    bootstrap_user = ["--as", f"system:bootstrap:{token.token_id}", "--as-group",
                      "system:bootstrappers"]
    assert kubectl("auth", "can-i", *bootstrap_user, "create",
                   "certificatesigningrequests").strip() == "yes"
    assert kubectl("auth", "can-i", *bootstrap_user, "create",
                   "certificatesigningrequests", "--subresource=nodeclient").strip() == "yes"


def test_ensure_token_keeps_generates_or_takes_the_configured_one(tmp_path: Path) -> None:
    ca_pem = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    digest = hashlib.sha256(ca_pem).hexdigest()
    first, replaced = nodetoken.ensure_token(tmp_path, ca_pem)
    assert replaced is None
    assert (tmp_path / "token").read_text() == first.full(digest) + "\n"
    assert nodetoken.ensure_token(tmp_path, ca_pem) == (first, None)
    chosen, replaced = nodetoken.ensure_token(tmp_path, ca_pem, "abcdef.0123456789abcdef")
    assert (chosen.token_id, replaced) == ("abcdef", first)
    assert nodetoken.ensure_token(tmp_path, ca_pem, chosen.full(digest))[0] == chosen
    for wrong in ("secret", f"K10{'0' * 64}::abcdef.0123456789abcdef"):
        with pytest.raises(jointoken.TokenError):
            nodetoken.ensure_token(tmp_path, ca_pem, wrong)
