"""The Node authorizer: what a kubelet (`system:node:<name>` in `system:nodes`) may read
and write, decided from the pods bound to it, against a real API server in this process
(SQLite in a temporary directory). The objects are written through the server's store; the
decisions are asked of the authorizer the server installed for `--authorization-mode=Node`,
and a request with a node's client certificate goes through the app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from tests.apiserver import inprocess

from kybernetes.apiserver import pki, requestcontext
from kybernetes.apiserver.authn.user import APISERVER, NODES_GROUP, UserInfo
from kybernetes.apiserver.authz.attributes import request_attributes
from kybernetes.apiserver.authz.authorizer import Decision, Union
from kybernetes.apiserver.authz.node import NodeAuthorizer
from kybernetes.apiserver.authz.nodegraph import pod_references
from kybernetes.apiserver.server import ApiServer, ApiServerConfig
from kybernetes.apiserver.store import DeleteOptions

NS = "ns"
N1 = UserInfo("system:node:n1", groups=(NODES_GROUP, "system:authenticated"))
NO_RELATION = "no relationship found between node 'n1' and this object"

def pod(name: str, node: str = "n1", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"containers": [{"name": "c", "image": "pause"}], **spec}
    if node:
        body["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": body}


def secret_volume(secret: str) -> dict[str, Any]:
    return {"name": secret, "secret": {"secretName": secret}}


def pv(name: str, claim: str, **csi: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                     "claimRef": {"namespace": NS, "name": claim},
                     "csi": {"driver": "csi.example.com", "volumeHandle": name, **csi}}}


def node_server(data_dir: Path) -> ApiServer:
    server = ApiServer(ApiServerConfig(data_dir=data_dir, authorization_mode="Node"))
    # Objects are written as the tests give them: no admission plugin fills them in (or
    # wants the service accounts they name to exist).
    server.store.admission.plugins = []
    return server


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ApiServer]:
    async with inprocess.running(node_server(tmp_path)) as server:
        yield server


async def write(server: ApiServer, group: str, version: str, plural: str,
                obj: dict[str, Any], *, namespace: str = NS, delete: bool = False) -> None:
    """Create (or with `delete=True` delete) an object as the API server itself."""
    requestcontext.set_user(APISERVER)
    info = server.registry.get(group, version, plural)
    assert info is not None
    if delete:
        await server.store.delete(info, namespace, obj["metadata"]["name"],
                                  DeleteOptions(grace_period_seconds=0))
    else:
        await server.store.create(info, namespace if info.namespaced else "", obj)


def node_authorizer(server: ApiServer) -> NodeAuthorizer:
    assert isinstance(server.app.authorizer, Union)
    found = [a for a in server.app.authorizer.authorizers if isinstance(a, NodeAuthorizer)]
    assert len(found) == 1, "--authorization-mode=Node installs the Node authorizer"
    return found[0]


async def decide(server: ApiServer, method: str, path: str, query: dict[str, str] | None = None,
                 user: UserInfo = N1) -> Decision:
    await server.cache.wait_fresh()
    attrs = request_attributes(user, method, path, query or {})
    return node_authorizer(server).authorize(attrs)


async def populate(server: ApiServer) -> None:
    """Pods on n1 and n2 referring to secrets, configmaps, claims and a service account;
    a mirror pod and an unscheduled pod that grant nothing; PVs and an attachment."""
    await write(server, "", "v1", "namespaces", {"metadata": {"name": NS}}, namespace="")
    await write(server, "", "v1", "pods", pod(
        "p1", serviceAccountName="sa1", imagePullSecrets=[{"name": "s-pull"}],
        containers=[{"name": "c", "image": "pause",
                     "env": [{"name": "A", "valueFrom": {
                         "secretKeyRef": {"name": "s-env", "key": "k"}}}],
                     "envFrom": [{"configMapRef": {"name": "cm-envfrom"}}]}],
        volumes=[secret_volume("s-vol"), {"name": "c", "configMap": {"name": "cm-vol"}},
                 {"name": "claim", "persistentVolumeClaim": {"claimName": "claim1"}},
                 {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {
                     "accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": "1Gi"}}}}}},
                 {"name": "p", "projected": {"sources": [{"secret": {"name": "s-proj"}}]}}]))
    await write(server, "", "v1", "pods", pod("p2", "n2", serviceAccountName="sa2",
                                              volumes=[secret_volume("s-other")]))
    mirror = pod("m1", volumes=[secret_volume("s-mirror")])
    mirror["metadata"]["annotations"] = {"kubernetes.io/config.mirror": "x"}
    await write(server, "", "v1", "pods", mirror)
    await write(server, "", "v1", "pods", pod("p3", "", volumes=[secret_volume("s-unbound")]))
    await write(server, "", "v1", "persistentvolumes", pv(
        "pv1", "claim1", nodePublishSecretRef={"namespace": NS, "name": "s-pv"},
        controllerPublishSecretRef={"namespace": NS, "name": "s-ctrl"}))
    await write(server, "", "v1", "persistentvolumes", pv(
        "pv2", "claim-unused", nodePublishSecretRef={"namespace": NS, "name": "s-pv2"}))
    await write(server, "storage.k8s.io", "v1", "volumeattachments", {
        "metadata": {"name": "va1"}, "spec": {"attacher": "csi.example.com", "nodeName": "n1",
                                              "source": {"persistentVolumeName": "pv1"}}})


@pytest.fixture
async def world(server: ApiServer) -> ApiServer:
    await populate(server)
    return server


ALLOW = ("allow", "")
NONE = ("no-opinion", "")
SECRETS = f"/api/v1/namespaces/{NS}/secrets"
PODS = f"/api/v1/namespaces/{NS}/pods"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
CSINODES = "/apis/storage.k8s.io/v1/csinodes"

# (method, path, query, (verdict, reason)) for node n1; upstream's reasons.
CASES: list[tuple[str, str, dict[str, str], tuple[str, str]]] = [
    # Secrets and configmaps its pods refer to, by any of the pod's references.
    ("GET", f"{SECRETS}/s-vol", {}, ALLOW),
    ("GET", f"{SECRETS}/s-pull", {}, ALLOW),
    ("GET", f"{SECRETS}/s-env", {}, ALLOW),
    ("GET", f"{SECRETS}/s-proj", {}, ALLOW),
    ("GET", SECRETS, {"fieldSelector": "metadata.name=s-vol"}, ALLOW),
    ("GET", SECRETS, {"fieldSelector": "metadata.name=s-vol", "watch": "true"}, ALLOW),
    ("GET", f"/api/v1/namespaces/{NS}/configmaps/cm-vol", {}, ALLOW),
    ("GET", f"/api/v1/namespaces/{NS}/configmaps/cm-envfrom", {}, ALLOW),
    # ... through a PV bound to one of its claims, only the secrets a kubelet reads.
    ("GET", f"{SECRETS}/s-pv", {}, ALLOW),
    ("GET", f"{SECRETS}/s-ctrl", {}, ("no-opinion", NO_RELATION)),
    # Not others: another node's pod, a mirror pod, a pod bound to no node.
    ("GET", f"{SECRETS}/s-other", {}, ("no-opinion", NO_RELATION)),
    ("GET", f"{SECRETS}/s-mirror", {}, ("no-opinion", NO_RELATION)),
    ("GET", f"{SECRETS}/s-unbound", {}, ("no-opinion", NO_RELATION)),
    ("GET", "/api/v1/namespaces/other/secrets/s-vol", {}, ("no-opinion", NO_RELATION)),
    ("GET", SECRETS, {}, ("no-opinion", "No Object name found")),
    ("POST", SECRETS, {}, ("no-opinion", "can only read resources of this type")),
    ("DELETE", f"{SECRETS}/s-vol", {}, ("no-opinion", "can only read resources of this type")),
    ("GET", "/api/v1/secrets", {"fieldSelector": "metadata.name=s-vol"},
     ("no-opinion", "can only read namespaced object of this type")),
    # Claims (named and ephemeral), the PV bound to them, the attachment on the node.
    ("GET", f"/api/v1/namespaces/{NS}/persistentvolumeclaims/claim1", {}, ALLOW),
    ("GET", f"/api/v1/namespaces/{NS}/persistentvolumeclaims/p1-scratch", {}, ALLOW),
    ("PATCH", f"/api/v1/namespaces/{NS}/persistentvolumeclaims/claim1/status", {}, ALLOW),
    ("GET", f"/api/v1/namespaces/{NS}/persistentvolumeclaims/claim1/status", {},
     ("no-opinion", "can only get/update/patch this type")),
    ("GET", f"/api/v1/namespaces/{NS}/persistentvolumeclaims", {},
     ("no-opinion", "can only get individual resources of this type")),
    ("GET", "/api/v1/persistentvolumes/pv1", {}, ALLOW),
    ("GET", "/api/v1/persistentvolumes/pv2", {}, ("no-opinion", NO_RELATION)),
    ("GET", "/apis/storage.k8s.io/v1/volumeattachments/va1", {}, ALLOW),
    # Tokens for the service accounts of its pods.
    ("POST", f"/api/v1/namespaces/{NS}/serviceaccounts/sa1/token", {}, ALLOW),
    ("POST", f"/api/v1/namespaces/{NS}/serviceaccounts/sa2/token", {},
     ("no-opinion", NO_RELATION)),
    ("GET", f"/api/v1/namespaces/{NS}/serviceaccounts/sa1", {},
     ("no-opinion", "can only create tokens for individual service accounts")),
    # Pods: its own, listed by spec.nodeName; mirror pods, status and evictions.
    ("GET", f"{PODS}/p1", {}, ALLOW),
    ("GET", f"{PODS}/p2", {}, ("no-opinion", NO_RELATION)),
    ("GET", "/api/v1/pods", {"fieldSelector": "spec.nodeName=n1"}, ALLOW),
    ("GET", "/api/v1/pods", {"fieldSelector": "spec.nodeName=n1", "watch": "1"}, ALLOW),
    ("GET", "/api/v1/pods", {"fieldSelector": "spec.nodeName=n2"},
     ("no-opinion", "can only list/watch pods with spec.nodeName field selector")),
    ("GET", "/api/v1/pods", {"fieldSelector": "spec.nodeName!=n1"},
     ("no-opinion", "can only list/watch pods with spec.nodeName field selector")),
    ("GET", PODS, {"fieldSelector": "metadata.name=p1"}, ALLOW),
    ("POST", PODS, {}, ALLOW),
    ("DELETE", f"{PODS}/p2", {}, ALLOW),
    ("PATCH", f"{PODS}/p1/status", {}, ALLOW),
    ("POST", f"{PODS}/p1/eviction", {}, ALLOW),
    ("PUT", f"{PODS}/p1", {}, NONE),
    ("POST", f"{PODS}/p1/exec", {}, NONE),
    # Its own Node: read by name, writes (NodeRestriction's to refine).
    ("GET", "/api/v1/nodes/n1", {}, ALLOW),
    ("GET", "/api/v1/nodes", {"fieldSelector": "metadata.name=n1"}, ALLOW),
    ("GET", "/api/v1/nodes/n2", {},
     ("no-opinion", "node 'n1' cannot read 'n2', only its own Node object")),
    ("GET", "/api/v1/nodes", {},
     ("no-opinion", "node 'n1' cannot read all nodes, only its own Node object")),
    ("POST", "/api/v1/nodes", {}, ALLOW),
    ("PATCH", "/api/v1/nodes/n2", {}, ALLOW),
    ("PATCH", "/api/v1/nodes/n1/status", {}, ALLOW),
    ("DELETE", "/api/v1/nodes/n1", {}, NONE),
    ("GET", "/api/v1/nodes/n1/proxy", {}, NONE),
    # Its lease and CSINode.
    ("PUT", f"{LEASES}/n1", {}, ALLOW),
    ("POST", LEASES, {}, ALLOW),
    ("GET", f"{LEASES}/n2", {},
     ("no-opinion", "can only access node lease with the same name as the requesting node")),
    ("GET", "/apis/coordination.k8s.io/v1/namespaces/default/leases/n1", {},
     ("no-opinion", 'can only access leases in the "kube-node-lease" system namespace')),
    ("GET", LEASES, {},
     ("no-opinion", "can only get, create, update, patch, or delete a node lease")),
    ("GET", f"{CSINODES}/n1", {}, ALLOW),
    ("POST", CSINODES, {}, ALLOW),
    ("DELETE", f"{CSINODES}/n2", {},
     ("no-opinion", "can only access CSINode with the same name as the requesting node")),
    ("GET", CSINODES, {}, ("no-opinion", "can only get, create, update, patch, or delete a "
                           "CSINode")),
    # Everything else by upstream's static node rules.
    ("GET", "/api/v1/services", {}, ALLOW),
    ("POST", f"/api/v1/namespaces/{NS}/events", {}, ALLOW),
    ("POST", "/apis/authentication.k8s.io/v1/tokenreviews", {}, ALLOW),
    ("POST", "/apis/certificates.k8s.io/v1/certificatesigningrequests", {}, ALLOW),
    ("DELETE", f"/api/v1/namespaces/{NS}/events/e", {}, NONE),
    ("GET", "/apis/apps/v1/deployments", {}, NONE),
    ("GET", "/healthz", {}, NONE),
]


async def test_node_decisions(world: ApiServer) -> None:
    wrong = []
    for method, path, query, expected in CASES:
        decision = await decide(world, method, path, query)
        if (decision.verdict, decision.reason) != expected:
            wrong.append((method, path, query, decision, expected))
    assert not wrong


@pytest.mark.parametrize(("user", "expected"), [
    (UserInfo("alice", groups=("system:authenticated",)), NONE),
    # The node name without the nodes group, or the group without a node name.
    (UserInfo("system:node:n1", groups=("system:authenticated",)), NONE),
    (UserInfo("n1", groups=(NODES_GROUP,)), NONE),
    (UserInfo("system:node:", groups=(NODES_GROUP,)),
     ("no-opinion", 'unknown node for user "system:node:"')),
])
async def test_only_identified_nodes(server: ApiServer, user: UserInfo,
                                     expected: tuple[str, str]) -> None:
    decision = await decide(server, "GET", "/api/v1/services", user=user)
    assert (decision.verdict, decision.reason) == expected


def test_node_rules_cannot_be_listed(server: ApiServer) -> None:
    """SelfSubjectRulesReview: a node's rules depend on its pods, so its list is incomplete
    (upstream's RulesFor); other users get nothing from this authorizer."""
    rules = node_authorizer(server).rules_for(N1, NS)
    assert (rules.resource_rules, rules.incomplete, rules.evaluation_error) == (
        (), True, "node authorizer does not support user rule resolution")
    other = node_authorizer(server).rules_for(UserInfo("alice"), NS)
    assert (other.resource_rules, other.incomplete, other.errors) == ((), False, ())


async def test_graph_follows_changes(world: ApiServer) -> None:
    # A second pod on the node refers to s-vol too: access lasts until both are gone.
    await write(world, "", "v1", "pods", pod("p4", volumes=[secret_volume("s-vol")]))
    await write(world, "", "v1", "pods", pod("p1"), delete=True)
    assert (await decide(world, "GET", f"{SECRETS}/s-vol")).allowed
    assert not (await decide(world, "GET", f"{SECRETS}/s-env")).allowed
    # p1 held claim1, and through it pv1 and its secret.
    assert not (await decide(world, "GET", "/api/v1/persistentvolumes/pv1")).allowed
    assert not (await decide(world, "GET", f"{SECRETS}/s-pv")).allowed
    await write(world, "", "v1", "pods", pod("p4"), delete=True)
    assert (await decide(world, "GET", f"{SECRETS}/s-vol")).reason == NO_RELATION
    # A pod of the same name bound to n1 now: what it refers to is n1's.
    await write(world, "", "v1", "pods", pod("p2"), delete=True)
    await write(world, "", "v1", "pods", pod("p2", volumes=[secret_volume("s-other")]))
    assert (await decide(world, "GET", f"{SECRETS}/s-other")).allowed
    # Binding an unscheduled pod (by the scheduler, here the admin) grants what it refers to.
    async with client_as(world, admin_certificate(world)) as admin:
        bound = await admin.post(f"{PODS}/p3/binding", json={
            "apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p3"},
            "target": {"kind": "Node", "name": "n1"}})
        assert bound.status_code == 201, bound.text
    assert (await decide(world, "GET", f"{SECRETS}/s-unbound")).allowed


async def test_pv_rebound(world: ApiServer) -> None:
    requestcontext.set_user(APISERVER)
    info = world.registry.get("", "v1", "persistentvolumes")
    assert info is not None

    def bind(claim: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
        def mutate(obj: dict[str, Any]) -> dict[str, Any]:
            obj["spec"]["claimRef"] = {"namespace": NS, "name": claim}
            return obj

        return mutate

    assert not (await decide(world, "GET", f"{SECRETS}/s-pv2")).allowed
    await world.store.modify(info, "", "pv2", bind("claim1"))
    assert (await decide(world, "GET", "/api/v1/persistentvolumes/pv2")).allowed
    assert (await decide(world, "GET", f"{SECRETS}/s-pv2")).allowed
    await world.store.modify(info, "", "pv2", bind("claim-unused"))
    assert not (await decide(world, "GET", f"{SECRETS}/s-pv2")).allowed
    await write(world, "", "v1", "persistentvolumes", pv("pv1", "claim1"), delete=True)
    assert not (await decide(world, "GET", f"{SECRETS}/s-pv")).allowed


async def test_graph_rebuilt_by_a_restarted_server(tmp_path: Path) -> None:
    """A new API server over the same storage builds the graph from its cache's load."""
    async with inprocess.running(node_server(tmp_path)) as first:
        await populate(first)
    async with inprocess.running(node_server(tmp_path)) as restarted:
        assert (await decide(restarted, "GET", f"{SECRETS}/s-vol")).allowed
        assert (await decide(restarted, "GET", f"{SECRETS}/s-pv")).allowed
        assert (await decide(restarted, "GET", f"{SECRETS}/s-other")).reason == NO_RELATION


def test_pod_references() -> None:
    """Every kind of reference a pod makes, as upstream's visitors and AddPod find them."""
    refs = pod_references({
        "metadata": {"namespace": "ns", "name": "p"},
        "spec": {"serviceAccountName": "sa",
                 "initContainers": [{"envFrom": [{"secretRef": {"name": "s-init"}}]}],
                 "ephemeralContainers": [{"env": [{"valueFrom": {
                     "configMapKeyRef": {"name": "cm-eph", "key": "k"}}}]}],
                 "volumes": [{"name": "a", "azureFile": {"secretName": "s-azure"}},
                             {"name": "r", "rbd": {"secretRef": {"name": "s-rbd"}}},
                             {"name": "c", "csi": {"nodePublishSecretRef": {"name": "s-csi"}}},
                             {"name": "p", "projected": {"sources": [
                                 {"configMap": {"name": "cm-proj"}},
                                 {"secret": {"name": ""}}]}},
                             {"name": "e", "ephemeral": {}}],
                 "resourceClaims": [{"name": "direct", "resourceClaimName": "rc-direct"},
                                    {"name": "tmpl", "resourceClaimTemplateName": "t"},
                                    {"name": "pending", "resourceClaimTemplateName": "t"}]},
        "status": {"resourceClaimStatuses": [{"name": "tmpl", "resourceClaimName": "rc-gen"}],
                   "extendedResourceClaimStatus": {"resourceClaimName": "rc-ext"}}})
    assert refs == {("serviceAccount", "ns", "sa"), ("secret", "ns", "s-init"),
                    ("configmap", "ns", "cm-eph"), ("secret", "ns", "s-azure"),
                    ("secret", "ns", "s-rbd"), ("secret", "ns", "s-csi"),
                    ("configmap", "ns", "cm-proj"), ("pvc", "ns", "p-e"),
                    ("resourceclaim", "ns", "rc-direct"), ("resourceclaim", "ns", "rc-gen"),
                    ("resourceclaim", "ns", "rc-ext")}
    mirror = {"metadata": {"name": "m", "annotations": {"kubernetes.io/config.mirror": "h"}},
              "spec": {"serviceAccountName": "sa"}}
    assert pod_references(mirror) == frozenset()
    assert pod_references({"spec": "not an object", "metadata": []}) == frozenset()


def node_certificate(server: ApiServer, tmp_path: Path, name: str) -> bytes:
    authority = pki.ensure_pki(server.config.data_dir)
    cert, _ = pki.issue_client_cert(authority, f"system:node:{name}", [NODES_GROUP],
                                    tmp_path / "certs")
    return _der(cert)


def admin_certificate(server: ApiServer) -> bytes:
    return _der(pki.ensure_pki(server.config.data_dir).admin_cert)


def _der(cert: Path) -> bytes:
    return x509.load_pem_x509_certificate(cert.read_bytes()).public_bytes(Encoding.DER)


def client_as(server: ApiServer, der: bytes) -> httpx.AsyncClient:
    """A client of the server's app whose requests carry the client certificate `der`."""
    return inprocess.http_client(inprocess.with_peer_certificate(server.app, der))


async def test_requests_of_a_node(world: ApiServer, tmp_path: Path) -> None:
    """Through the app: a node's client certificate, the Node authorizer's decision, and
    upstream's 403 with the authorizer's reason."""
    async with client_as(world, node_certificate(world, tmp_path, "n1")) as client:
        requestcontext.set_user(APISERVER)
        info = world.registry.get("", "v1", "secrets")
        assert info is not None
        for name in ("s-vol", "s-other"):
            await world.store.create(info, NS, {"metadata": {"name": name},
                                                "data": {"k": "dg=="}})
        allowed = await client.get(f"{SECRETS}/s-vol")
        assert allowed.status_code == 200, allowed.text
        refused = await client.get(f"{SECRETS}/s-other")
        assert refused.status_code == 403
        assert refused.json()["message"] == (
            'secrets "s-other" is forbidden: User "system:node:n1" cannot get resource '
            f'"secrets" in API group "" in the namespace "{NS}": {NO_RELATION}')
        listed = await client.get("/api/v1/pods", params={"fieldSelector": "spec.nodeName=n1"})
        assert listed.status_code == 200, listed.text
        assert {p["metadata"]["name"] for p in listed.json()["items"]} == {"p1", "m1"}
