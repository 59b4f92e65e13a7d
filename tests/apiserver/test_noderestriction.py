"""The NodeRestriction admission plugin: a kubelet writes only its own objects, with
upstream's messages. Requests carry a node's client certificate through a real API server's
app (in this process, SQLite in a temporary directory, `--authorization-mode=Node`, the
admission chain holding NodeRestriction alone); what no HTTP request can reach (token
requests, status writes the store already narrows) is asked of the plugin directly."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tests.apiserver import inprocess
from tests.apiserver.test_node_authorizer import (
    admin_certificate,
    client_as,
    node_certificate,
    node_server,
    write,
)

from kybernetes.api import errors
from kybernetes.apiserver import requestcontext
from kybernetes.apiserver.admission.chain import AdmissionRequest, Operation
from kybernetes.apiserver.admission.noderestriction import NodeRestriction
from kybernetes.apiserver.authn.user import APISERVER, NODES_GROUP, UserInfo
from kybernetes.apiserver.server import ApiServer, ApiServerConfig

NS = "ns"
PODS = f"/api/v1/namespaces/{NS}/pods"
NODES = "/api/v1/nodes"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
CSRS = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
N1 = UserInfo("system:node:n1", groups=(NODES_GROUP, "system:authenticated"))
MIRROR = "kubernetes.io/config.mirror"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ApiServer]:
    async with inprocess.running(node_server(tmp_path)) as server:
        # NodeRestriction alone: the other plugins would fill in what the tests write.
        server.store.admission.plugins = [NodeRestriction(server)]
        await write(server, "", "v1", "namespaces", {"metadata": {"name": NS}}, namespace="")
        for node in ("n1", "n2"):
            await write(server, "", "v1", "nodes", {"metadata": {"name": node}, "spec": {
                "taints": [{"key": "dedicated", "value": "x", "effect": "NoSchedule"}]}})
            await write(server, "", "v1", "pods", pod(f"on-{node}", node))
        yield server


@pytest.fixture
async def n1(server: ApiServer, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with client_as(server, node_certificate(server, tmp_path, "n1")) as client:
        yield client


def test_enabled_by_default(tmp_path: Path) -> None:
    """kube-apiserver's default chain holds NodeRestriction (k3s enables it)."""
    plugins = ApiServer(ApiServerConfig(data_dir=tmp_path)).store.admission.plugins
    assert [p.name for p in plugins if isinstance(p, NodeRestriction)] == ["NodeRestriction"]


def pod(name: str, node: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "pause"}], **spec}}


async def node_uid(server: ApiServer, name: str) -> str:
    info = server.registry.get("", "v1", "nodes")
    assert info is not None
    return str((await server.store.get(info, "", name)).obj["metadata"]["uid"])


def forbidden(response: httpx.Response) -> str:
    assert response.status_code == 403, response.text
    message: str = response.json()["message"]
    return message


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


# -- pods ---------------------------------------------------------------------------------


def mirror_pod(name: str, uid: str, node: str = "n1", *,
               owners: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    body = pod(name, node, **spec)
    body["metadata"]["annotations"] = {MIRROR: "hash"}
    body["metadata"]["ownerReferences"] = owners if owners is not None else [
        {"apiVersion": "v1", "kind": "Node", "name": "n1", "uid": uid, "controller": True}]
    return body


MIRROR_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("not a mirror pod", {"annotations": None},
     f'pod does not have "{MIRROR}" annotation, node "n1" can only create mirror pods'),
    ("bound elsewhere", {"node": "n2"},
     'node "n1" can only create pods with spec.nodeName set to itself'),
    ("no owner", {"owners": []},
     'node "n1" can only create pods with an owner reference set to itself'),
    ("two owners", {"owners": [{}, {}]},
     'node "n1" can only create pods with a single owner reference set to itself'),
    ("owned by another node", {"owner": {"name": "n2"}},
     'node "n1" can only create pods with an owner reference set to itself'),
    ("owned by a Deployment", {"owner": {"kind": "Deployment", "apiVersion": "apps/v1"}},
     'node "n1" can only create pods with an owner reference set to itself'),
    ("not the controller", {"owner": {"controller": False}},
     'node "n1" can only create pods with a controller owner reference set to itself'),
    ("blocks deletion", {"owner": {"blockOwnerDeletion": True}},
     'node "n1" must not set blockOwnerDeletion on an owner reference'),
    ("stale node uid", {"owner": {"uid": "0f0f0f0f-0000-0000-0000-000000000000"}},
     "node n1 UID mismatch: expected 0f0f0f0f-0000-0000-0000-000000000000 got {uid}"),
    ("a service account", {"spec": {"serviceAccountName": "default"}},
     'node "n1" can not create pods that reference a service account'),
    ("a secret", {"spec": {"imagePullSecrets": [{"name": "pull"}]}},
     'node "n1" can not create pods that reference secrets'),
    ("a configmap", {"spec": {"volumes": [{"name": "v", "configMap": {"name": "cm"}}]}},
     'node "n1" can not create pods that reference configmaps'),
    ("a trust bundle", {"spec": {"volumes": [{"name": "v", "projected": {"sources": [
        {"clusterTrustBundle": {"name": "b", "path": "b.pem"}}]}}]}},
     'node "n1" can not create pods that reference clustertrustbundles'),
    ("a claim", {"spec": {"volumes": [{"name": "v", "persistentVolumeClaim": {
        "claimName": "c"}}]}},
     'node "n1" can not create pods that reference persistentvolumeclaims'),
]


async def test_node_creates_only_its_mirror_pods(server: ApiServer,
                                                 n1: httpx.AsyncClient) -> None:
    uid = await node_uid(server, "n1")
    wrong = []
    for case, change, reason in MIRROR_CASES:
        owner = {"apiVersion": "v1", "kind": "Node", "name": "n1", "uid": uid,
                 "controller": True, **change.get("owner", {})}
        body = mirror_pod("m", uid, change.get("node", "n1"),
                          owners=change.get("owners", [owner]), **change.get("spec", {}))
        if "annotations" in change:
            del body["metadata"]["annotations"]
        response = await n1.post(PODS, json=body)
        expected = f'pods "m" is forbidden: {reason.format(uid=uid)}'
        if response.status_code != 403 or response.json()["message"] != expected:
            wrong.append((case, response.status_code, response.text))
    assert not wrong


async def test_node_creates_and_deletes_its_mirror_pod(server: ApiServer,
                                                       n1: httpx.AsyncClient) -> None:
    uid = await node_uid(server, "n1")
    body = created(await n1.post(PODS, json=mirror_pod("m", uid)))
    assert body["metadata"]["ownerReferences"][0]["uid"] == uid
    assert (await n1.delete(f"{PODS}/m")).status_code == 200


async def test_node_deletes_only_its_pods(n1: httpx.AsyncClient) -> None:
    message = forbidden(await n1.delete(f"{PODS}/on-n2"))
    assert message == ('pods "on-n2" is forbidden: node "n1" can only delete pods with '
                       "spec.nodeName set to itself")
    assert (await n1.delete(f"{PODS}/on-n1")).status_code == 200


async def test_node_updates_status_of_its_pods_only(n1: httpx.AsyncClient) -> None:
    status = {"status": {"phase": "Running"}}
    message = forbidden(await n1.patch(
        f"{PODS}/on-n2/status", json=status,
        headers={"content-type": "application/merge-patch+json"}))
    assert message == ('pods "on-n2" is forbidden: node "n1" can only update pod status for '
                       "pods with spec.nodeName set to itself")
    patched = created(await n1.patch(f"{PODS}/on-n1/status", json=status,
                                     headers={"content-type": "application/merge-patch+json"}))
    assert patched["status"]["phase"] == "Running"


async def test_node_evicts_only_its_pods(n1: httpx.AsyncClient) -> None:
    def eviction(name: str) -> dict[str, Any]:
        return {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name}}

    message = forbidden(await n1.post(f"{PODS}/on-n2/eviction", json=eviction("on-n2")))
    assert message == ('pods "on-n2" is forbidden: node n1 can only evict pods with '
                       "spec.nodeName set to itself")
    assert (await n1.post(f"{PODS}/gone/eviction", json=eviction("gone"))).status_code == 404
    assert (await n1.post(f"{PODS}/on-n1/eviction", json=eviction("on-n1"))).status_code == 201


# -- nodes --------------------------------------------------------------------------------


async def test_node_registers_only_itself_with_allowed_labels(
        server: ApiServer, n1: httpx.AsyncClient, tmp_path: Path) -> None:
    message = forbidden(await n1.post(NODES, json={"metadata": {"name": "n3"}}))
    assert message == 'nodes "n3" is forbidden: node "n1" is not allowed to modify node "n3"'
    async with client_as(server, node_certificate(server, tmp_path, "n3")) as n3:
        labels = {"node-restriction.kubernetes.io/pool": "a", "node-role.kubernetes.io/x": "",
                  "kubernetes.io/hostname": "n3", "node.kubernetes.io/instance-type": "t",
                  "kubelet.kubernetes.io/k": "v", "example.com/team": "a"}
        message = forbidden(await n3.post(NODES, json={"metadata": {"name": "n3",
                                                                    "labels": labels}}))
        assert message == (
            'nodes "n3" is forbidden: node "n3" is not allowed to set the following labels: '
            "node-restriction.kubernetes.io/pool, node-role.kubernetes.io/x")
        for refused in ("node-restriction.kubernetes.io/pool", "node-role.kubernetes.io/x"):
            del labels[refused]
        body = created(await n3.post(NODES, json={"metadata": {"name": "n3",
                                                               "labels": labels}}))
        assert body["metadata"]["labels"] == labels


MERGE = {"content-type": "application/merge-patch+json"}


async def test_node_modifies_only_itself_not_taints_or_labels(n1: httpx.AsyncClient) -> None:
    message = forbidden(await n1.patch(f"{NODES}/n2", json={"metadata": {"labels": {
        "a": "b"}}}, headers=MERGE))
    assert message == 'nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"'
    message = forbidden(await n1.patch(f"{NODES}/n1", json={"spec": {"taints": []}},
                                       headers=MERGE))
    assert message == 'nodes "n1" is forbidden: node "n1" is not allowed to modify taints'
    message = forbidden(await n1.patch(f"{NODES}/n1", json={"metadata": {"labels": {
        "node-role.kubernetes.io/control-plane": "", "a.node-restriction.kubernetes.io/b": "",
        "kubernetes.io/os": "linux"}}}, headers=MERGE))
    assert message == ('nodes "n1" is forbidden: is not allowed to modify labels: '
                       "a.node-restriction.kubernetes.io/b, node-role.kubernetes.io/control-plane")
    patched = created(await n1.patch(f"{NODES}/n1", json={"metadata": {"labels": {
        "kubernetes.io/os": "linux", "topology.kubernetes.io/zone": "z"}}}, headers=MERGE))
    assert patched["metadata"]["labels"]["topology.kubernetes.io/zone"] == "z"
    status = created(await n1.patch(f"{NODES}/n1/status", json={"status": {"conditions": [
        {"type": "Ready", "status": "True"}]}}, headers=MERGE))
    assert status["status"]["conditions"][0]["type"] == "Ready"
    message = forbidden(await n1.patch(f"{NODES}/n2/status", json={"status": {}},
                                       headers=MERGE))
    assert message == 'nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"'


# -- leases, CSINodes, CSRs ---------------------------------------------------------------


async def test_node_writes_only_its_lease_and_csinode(n1: httpx.AsyncClient) -> None:
    def lease(name: str) -> dict[str, Any]:
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": name}, "spec": {"holderIdentity": name}}

    message = forbidden(await n1.post(LEASES, json=lease("n2")))
    assert message == ('leases.coordination.k8s.io "n2" is forbidden: can only access node '
                       "lease with the same name as the requesting node")
    mine = created(await n1.post(LEASES, json=lease("n1")))
    mine["spec"]["leaseDurationSeconds"] = 40
    assert created(await n1.put(f"{LEASES}/n1", json=mine))["spec"]["leaseDurationSeconds"] == 40

    csinodes = "/apis/storage.k8s.io/v1/csinodes"

    def csinode(name: str) -> dict[str, Any]:
        return {"apiVersion": "storage.k8s.io/v1", "kind": "CSINode",
                "metadata": {"name": name}, "spec": {"drivers": []}}

    message = forbidden(await n1.post(csinodes, json=csinode("n2")))
    assert message == ('csinodes.storage.k8s.io "n2" is forbidden: can only access CSINode '
                       "with the same name as the requesting node")
    created(await n1.post(csinodes, json=csinode("n1")))


def csr(name: str, common_name: str, signer: str) -> dict[str, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    request = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, NODES_GROUP),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name)])).sign(key, hashes.SHA256())
    pem = request.public_bytes(serialization.Encoding.PEM)
    return {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
            "metadata": {"name": name},
            "spec": {"request": base64.b64encode(pem).decode(), "signerName": signer,
                     "usages": ["digital signature", "client auth"]}}


async def test_node_requests_certificates_only_for_itself(n1: httpx.AsyncClient) -> None:
    kubelet_client = "kubernetes.io/kube-apiserver-client-kubelet"
    message = forbidden(await n1.post(CSRS, json=csr("other", "system:node:n2",
                                                     kubelet_client)))
    assert message == ('certificatesigningrequests.certificates.k8s.io "other" is forbidden: '
                       "can only create a node CSR with CN=system:node:n1")
    garbled = csr("garbled", "system:node:n1", kubelet_client)
    garbled["spec"]["request"] = base64.b64encode(b"not a PEM block").decode()
    message = forbidden(await n1.post(CSRS, json=garbled))
    assert message == ('certificatesigningrequests.certificates.k8s.io "garbled" is '
                       "forbidden: unable to parse csr: PEM block type must be CERTIFICATE "
                       "REQUEST")
    created(await n1.post(CSRS, json=csr("mine", "system:node:n1", kubelet_client)))
    # Requests to other signers are the signer's to judge.
    created(await n1.post(CSRS, json=csr("any", "someone",
                                         "kubernetes.io/kube-apiserver-client")))


# -- what no request reaches: the plugin asked directly -----------------------------------


async def admit(server: ApiServer, operation: Operation, plural: str, name: str,
                obj: dict[str, Any] | None, old: dict[str, Any] | None = None, *,
                subresource: str = "", user: UserInfo = N1) -> str | None:
    """The message NodeRestriction refuses with (403), None when it admits."""
    info = server.registry.get("", "v1", plural)
    assert info is not None
    try:
        await NodeRestriction(server).admit(AdmissionRequest(
            operation, info, NS, name, obj, old, subresource=subresource, user=user))
    except errors.StatusError as err:
        if err.code != 403:
            raise
        return err.message
    return None


async def pod_on(server: ApiServer, name: str) -> dict[str, Any]:
    info = server.registry.get("", "v1", "pods")
    assert info is not None
    return (await server.store.get(info, NS, name)).obj


async def test_token_requests_bound_to_its_pods(server: ApiServer) -> None:
    own, other = await pod_on(server, "on-n1"), await pod_on(server, "on-n2")

    def token(ref: dict[str, Any] | None) -> dict[str, Any]:
        return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                "spec": {"audiences": ["api"], **({"boundObjectRef": ref} if ref else {})}}

    def bound(pod: dict[str, Any], **change: Any) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Pod", "name": pod["metadata"]["name"],
                "uid": pod["metadata"]["uid"], **change}

    prefix = 'serviceaccounts "default" is forbidden: '
    cases: list[tuple[dict[str, Any] | None, str | None]] = [
        (None, "node requested token not bound to a pod"),
        (bound(own, kind="Secret"), "node requested token not bound to a pod"),
        (bound(own, uid=""), "node requested token with a pod binding without a uid"),
        (bound(own, uid="1234"), "the UID in the bound object reference (1234) does not "
         "match the UID in record. The object might have been deleted and then recreated"),
        (bound(other), "node requested token bound to a pod scheduled on a different node"),
        (bound(own), None),
    ]
    for ref, reason in cases:
        refused = await admit(server, "CREATE", "serviceaccounts", "default", token(ref),
                              subresource="token")
        assert refused == (None if reason is None else prefix + reason)
    # A token for a pod that does not exist is that pod's 404.
    with pytest.raises(errors.StatusError) as missing:
        await admit(server, "CREATE", "serviceaccounts", "default",
                    token(bound(own, name="gone")), subresource="token")
    assert missing.value.code == 404


async def test_pod_status_keeps_labels_and_claims(server: ApiServer) -> None:
    old = await pod_on(server, "on-n1")
    relabelled = {**old, "metadata": {**old["metadata"], "labels": {"app": "x"}}}
    assert await admit(server, "UPDATE", "pods", "on-n1", relabelled, old,
                       subresource="status") == (
        'pods "on-n1" is forbidden: node "n1" cannot update labels through pod status')
    claimed = {**old, "status": {"resourceClaimStatuses": [{"name": "gpu",
                                                            "resourceClaimName": "c"}]}}
    assert await admit(server, "UPDATE", "pods", "on-n1", claimed, old,
                       subresource="status") == (
        'pods "on-n1" is forbidden: node "n1" cannot update resource claim statues')
    assert await admit(server, "UPDATE", "pods", "on-n1", old, old) == (
        'pods "on-n1" is forbidden: unexpected operation "UPDATE", node "n1" can only create '
        "and delete mirror pods")
    assert await admit(server, "UPDATE", "pods", "on-n1", old, old,
                       subresource="ephemeralcontainers") == (
        "pods \"on-n1\" is forbidden: unexpected pod subresource \"ephemeralcontainers\", only "
        "'status' and 'eviction' are allowed")


async def test_claim_status_only(server: ApiServer) -> None:
    old: dict[str, Any] = {
        "metadata": {"name": "c", "namespace": NS, "resourceVersion": "5"},
        "spec": {"accessModes": ["ReadWriteOnce"]}, "status": {"phase": "Bound"}}
    resized: dict[str, Any] = {
        "metadata": {"name": "c", "namespace": NS, "resourceVersion": "",
                     "managedFields": [{"manager": "kubelet"}]},
        "spec": {"accessModes": ["ReadWriteOnce"]},
        "status": {"phase": "Bound", "capacity": {"storage": "2Gi"},
                   "conditions": [{"type": "Resizing", "status": "True"}]}}
    assert await admit(server, "UPDATE", "persistentvolumeclaims", "c", resized, old,
                       subresource="status") is None
    rephased = {**resized, "status": {**resized["status"], "phase": "Lost"},
                "metadata": {**resized["metadata"], "labels": {"a": "b"}}}
    assert await admit(server, "UPDATE", "persistentvolumeclaims", "c", rephased, old,
                       subresource="status") == (
        'persistentvolumeclaims "c" is forbidden: node "n1" is not allowed to update fields '
        "other than status.quantity and status.conditions: changed metadata.labels, "
        "status.phase")
    assert await admit(server, "UPDATE", "persistentvolumeclaims", "c", resized, old) == (
        'persistentvolumeclaims "c" is forbidden: may only update PVC status')


async def test_only_nodes_are_restricted(server: ApiServer) -> None:
    anything = pod("p", "n2", serviceAccountName="sa", imagePullSecrets=[{"name": "s"}])
    for user in (APISERVER, UserInfo("alice", groups=("system:authenticated",)),
                 UserInfo("system:node:n1", groups=("system:authenticated",))):
        assert await admit(server, "CREATE", "pods", "p", anything, user=user) is None
    assert await admit(server, "CREATE", "pods", "p", anything, user=UserInfo(
        "system:node:", groups=(NODES_GROUP,))) == (
        'pods "p" is forbidden: could not determine node from user "system:node:"')


async def test_admin_is_not_restricted_over_http(server: ApiServer) -> None:
    """The same chain lets the cluster admin write what a node may not."""
    requestcontext.set_user(APISERVER)
    async with client_as(server, admin_certificate(server)) as admin:
        created(await admin.post(PODS, json=pod("p", "n2", imagePullSecrets=[{"name": "s"}])))
        created(await admin.patch(f"{NODES}/n2", json={"spec": {"taints": []}}, headers=MERGE))
