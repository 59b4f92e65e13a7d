"""RBAC end to end: a real `kyb server`, the real kubectl and plain HTTPS.

Jane (a client certificate the cluster CA issued: CN jane, O devs) is bound to the `view`
ClusterRole in one namespace: she reads there but cannot delete (403 with upstream's
message) and sees nothing elsewhere; `kubectl auth can-i [--list]`, as herself or through
`--as jane`, says exactly what the server then enforces. With `admin` in a namespace she
may write roles and bindings there, but never grant more than she holds.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kybernetes.apiserver.pki import Pki, issue_client_cert, write_kubeconfig
from tests.e2e.cluster import Kubectl, Server, make_namespace, namespace_name, wait_until

pytestmark = pytest.mark.e2e
ANY_BACKEND = True  # authorization, whatever the storage (conftest.py)

RBAC_GROUP = "rbac.authorization.k8s.io"


@pytest.fixture(scope="module")
def jane_credentials(server: Server, tmp_path_factory: pytest.TempPathFactory
                     ) -> tuple[Path, Path]:
    return issue_client_cert(Pki.at(server.data_dir), "jane", ["devs"],
                             tmp_path_factory.mktemp("jane"))


@pytest.fixture(scope="module")
def jane(server: Server, jane_credentials: tuple[Path, Path]) -> Kubectl:
    """kubectl as jane."""
    cert, key = jane_credentials
    kubeconfig = cert.parent / "kubeconfig.yaml"
    write_kubeconfig(kubeconfig, server=server.url, pki=Pki.at(server.data_dir), cert=cert,
                     key=key)
    return Kubectl(kubeconfig)


@pytest.fixture(scope="module")
def jane_https(server: Server, jane_credentials: tuple[Path, Path]) -> Iterator[httpx.Client]:
    """Plain HTTPS as jane."""
    context = ssl.create_default_context(cafile=str(Pki.at(server.data_dir).ca_cert))
    context.load_cert_chain(*map(str, jane_credentials))
    with httpx.Client(base_url=server.url, verify=context, timeout=30) as client:
        yield client


def bind(kubectl: Kubectl, jane: Kubectl, ns: str, role: str) -> None:
    """Bind `role` to jane in `ns`, and wait until the server authorizes by it."""
    kubectl("create", "rolebinding", f"jane-{role}", f"--clusterrole={role}", "--user=jane",
            "-n", ns)
    wait_until(lambda: jane.run("auth", "can-i", "list", "pods", "-n", ns,
                                check=False).stdout.strip() == "yes",
               f"jane's {role} binding in {ns}")


def forbidden(verb: str, resource: str, ns: str, name: str = "") -> str:
    """kubectl's report of upstream's 403 for jane."""
    subject = f'{resource} "{name}"' if name else resource
    return (f'Error from server (Forbidden): {subject} is forbidden: User "jane" cannot '
            f'{verb} resource "{resource}" in API group "" in the namespace "{ns}"')


def test_a_viewer_reads_but_cannot_delete_and_sees_nothing_elsewhere(
        kubectl: Kubectl, jane: Kubectl, ns: str) -> None:
    kubectl("create", "configmap", "settings", "--from-literal=a=b", "-n", ns)
    bind(kubectl, jane, ns, "view")

    assert jane.json("get", "configmap", "settings", "-n", ns)["data"] == {"a": "b"}
    assert jane("get", "pods", "-n", ns).strip() == ""
    deleted = jane.run("delete", "configmap", "settings", "-n", ns, check=False)
    assert deleted.returncode != 0
    assert deleted.stderr.strip() == forbidden("delete", "configmaps", ns,
                                               "settings")
    assert kubectl.json("get", "configmap", "settings", "-n", ns)["data"] == {"a": "b"}
    secrets = jane.run("get", "secrets", "-n", ns, check=False)
    assert secrets.stderr.strip() == forbidden("list", "secrets", ns)

    elsewhere = jane.run("get", "configmaps", "-n", "default", check=False)
    assert elsewhere.stderr.strip() == forbidden("list", "configmaps", "default")
    everywhere = jane.run("get", "pods", "--all-namespaces", check=False)
    assert everywhere.stderr.strip() == (
        'Error from server (Forbidden): pods is forbidden: User "jane" cannot list resource '
        '"pods" in API group "" at the cluster scope')


def _listed(output: str) -> dict[str, set[str]]:
    """`kubectl auth can-i --list`: resource -> verbs."""
    rows: dict[str, set[str]] = {}
    for line in output.splitlines()[1:]:
        resource, rest = line.split(maxsplit=1)
        verbs = rest[rest.rindex("[") + 1:rest.rindex("]")].split()
        rows.setdefault(resource, set()).update(verbs)
    return rows


# What jane tries, and the request that does it: (verb, kubectl resource, method, path).
PROBES = [
    ("get", "configmaps", "GET", "/api/v1/namespaces/{ns}/configmaps/absent"),
    ("list", "configmaps", "GET", "/api/v1/namespaces/{ns}/configmaps"),
    ("delete", "configmaps", "DELETE", "/api/v1/namespaces/{ns}/configmaps/absent"),
    ("list", "secrets", "GET", "/api/v1/namespaces/{ns}/secrets"),
    ("get", "pods/log", "GET", "/api/v1/namespaces/{ns}/pods/absent/log"),
    ("list", "deployments.apps", "GET", "/apis/apps/v1/namespaces/{ns}/deployments"),
    ("delete", "deployments.apps", "DELETE", "/apis/apps/v1/namespaces/{ns}/deployments/x"),
    ("create", "roles.rbac.authorization.k8s.io", "POST",
     "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles"),
    ("list", "nodes", "GET", "/api/v1/nodes"),
]


def test_can_i_agrees_with_what_the_server_enforces(
        kubectl: Kubectl, jane: Kubectl, jane_https: httpx.Client, ns: str) -> None:
    bind(kubectl, jane, ns, "view")
    own = _listed(jane("auth", "can-i", "--list", "-n", ns))
    impersonated = _listed(kubectl("auth", "can-i", "--list", "-n", ns, "--as", "jane",
                                   "--as-group", "devs", "--as-group", "system:authenticated"))
    assert own == impersonated
    assert own["pods"] == {"get", "list", "watch"}
    assert own["selfsubjectaccessreviews.authorization.k8s.io"] == {"create"}
    assert "secrets" not in own

    for verb, resource, method, path in PROBES:
        said = jane.run("auth", "can-i", verb, resource, "-n", ns, check=False).stdout.strip()
        as_jane = kubectl.run("auth", "can-i", verb, resource, "-n", ns, "--as", "jane",
                              check=False).stdout.strip()
        response = jane_https.request(method, path.format(ns=ns), json={
            "apiVersion": f"{RBAC_GROUP}/v1", "kind": "Role", "metadata": {"name": "r"},
            "rules": []} if method == "POST" else None)
        enforced = "no" if response.status_code == 403 else "yes"
        assert (said, as_jane, enforced) == (enforced, enforced, enforced), \
            (verb, resource, response.status_code, response.text[:300])
        assert (verb in own.get(resource, set())) == (enforced == "yes"), (verb, resource)


def test_a_namespace_admin_cannot_grant_more_than_she_holds(
        kubectl: Kubectl, jane: Kubectl, ns: str) -> None:
    bind(kubectl, jane, ns, "admin")
    jane("create", "role", "pod-reader", "--verb=get,list", "--resource=pods", "-n", ns)
    jane("create", "rolebinding", "bob-reads", "--role=pod-reader", "--user=bob", "-n", ns)

    more = jane.run("create", "role", "node-reader", "--verb=get", "--resource=nodes", "-n",
                    ns, check=False)
    assert more.returncode != 0
    assert more.stderr.strip() == (
        f'Error from server (Forbidden): roles.{RBAC_GROUP} "node-reader" is forbidden: '
        'user "jane" (groups=["devs" "system:authenticated"]) is attempting to grant RBAC '
        "permissions not currently held:\n"
        '{APIGroups:[""], Resources:["nodes"], Verbs:["get"]}')
    root = jane.run("create", "rolebinding", "jane-root", "--clusterrole=cluster-admin",
                    "--user=jane", "-n", ns, check=False)
    assert root.returncode != 0
    assert root.stderr.strip() == (
        f'error: failed to create rolebinding: rolebindings.{RBAC_GROUP} "jane-root" is '
        'forbidden: user "jane" (groups=["devs" "system:authenticated"]) is attempting to '
        "grant RBAC permissions not currently held:\n"
        '{APIGroups:["*"], Resources:["*"], Verbs:["*"]}\n'
        '{NonResourceURLs:["*"], Verbs:["*"]}')
    cluster = jane.run("create", "clusterrolebinding", "jane-root",
                       "--clusterrole=cluster-admin", "--user=jane", check=False)
    assert cluster.returncode != 0
    assert "Forbidden" in cluster.stderr or "forbidden" in cluster.stderr
    names = {r["metadata"]["name"] for r in kubectl.json("get", "roles", "-n", ns)["items"]}
    assert names == {"pod-reader"}
    assert jane.run("auth", "can-i", "get", "nodes", check=False).stdout.strip() == "no"


def test_auth_reconcile_applies_rbac_manifests(kubectl: Kubectl, api: httpx.Client) -> None:
    ns = make_namespace(api, namespace_name("auth-reconcile"))
    manifest = f"""
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: cm-editor
  namespace: {ns}
rules:
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "update"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: cm-editors
  namespace: {ns}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: cm-editor
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: jane
"""
    kubectl("auth", "reconcile", "-f", "-", input=manifest)
    kubectl("auth", "reconcile", "-f", "-", input=manifest.replace('"update"]',
                                                                    '"update", "patch"]'))
    role = kubectl.json("get", "role", "cm-editor", "-n", ns)
    # The missing permission is added, as upstream's reconciliation does, as its own rule.
    assert [r["verbs"] for r in role["rules"]] == [["get", "update"], ["patch"]]
    assert kubectl("auth", "can-i", "patch", "configmaps", "-n", ns, "--as",
                   "jane").strip() == "yes"


def test_without_credentials_only_health_and_version_answer(server: Server) -> None:
    """No credential is `system:anonymous`: RBAC's public-info-viewer lets it read the
    health endpoints and /version, nothing else."""
    context = ssl.create_default_context(cafile=str(Pki.at(server.data_dir).ca_cert))
    with httpx.Client(base_url=server.url, verify=context, timeout=30) as anonymous:
        for path in ("/readyz", "/livez", "/healthz", "/version"):
            assert anonymous.get(path).status_code == 200, path
        refused = anonymous.get("/api/v1/secrets")
        assert refused.status_code == 403
        assert refused.json()["message"] == (
            'secrets is forbidden: User "system:anonymous" cannot list resource "secrets" '
            'in API group "" at the cluster scope')
        assert anonymous.get("/api/v1/namespaces/default/pods").status_code == 403
        assert anonymous.get("/metrics").status_code == 403
        bad = anonymous.get("/api/v1/secrets", headers={"authorization": "Bearer nope"})
        assert bad.status_code == 401 and bad.json() == {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "Unauthorized", "reason": "Unauthorized", "code": 401}
