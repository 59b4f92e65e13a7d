"""The CSR approving and signing controllers against a real API server in this process
(Node,RBAC authorization and the bootstrap policy, SQLite in a temporary directory).

Requests are created by the identities that make them in a cluster (a bootstrap token's
user, a node, an admin), each a client certificate on the request's scope, so that
`spec.username`/`groups` and the SubjectAccessReviews the approver asks are real. The
controllers act as the controller manager does: as `certificate-controller`'s service
account would, with the admin's rights here. Their syncs are driven directly (the informer
store is seeded), as the other controller tests do.

Intent: a node's first client certificate is approved only for a requester RBAC lets ask
for one (`nodeclient`), a renewal only for the node itself (`selfnodeclient`), a serving
certificate only for the node it names; the signer issues approved requests for the
lifetime asked (at least ten minutes, at most its limit), with the usages asked, and marks
requests that break their signer's rules Failed instead.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from kybernetes.api import certificates as csrs
from kybernetes.apiserver import nodetoken, pki, requestcontext
from kybernetes.apiserver.authn.user import APISERVER
from kybernetes.apiserver.server import ApiServer
from kybernetes.client import ApiClient, SharedInformerFactory, resource
from kybernetes.controllers.base import ControllerContext, Requeue
from kybernetes.controllers.certificates.approver import CsrApprovingController
from kybernetes.controllers.certificates.controller import CSRS
from kybernetes.controllers.certificates.signer import CsrSigningController
from kybernetes.controllers.discovery import Discovery
from kybernetes.kubelet.certificate import csr as csr_requests
from tests.apiserver import inprocess

Obj = dict[str, Any]
ClientFor = Callable[[str, tuple[str, ...]], Awaitable[ApiClient]]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ApiServer]:
    async with inprocess.apiserver(tmp_path) as server:
        requestcontext.set_user(APISERVER)
        for obj in [*nodetoken.node_bindings(), *nodetoken.serving_approval()]:
            info = server.registry.get("rbac.authorization.k8s.io", "v1",
                                       f"{obj['kind'].lower()}s")
            assert info is not None
            await server.store.create(info, "", obj)
        yield server


@pytest.fixture
async def client_for(server: ApiServer, tmp_path: Path) -> AsyncIterator[ClientFor]:
    """Clients presenting a client certificate of the cluster CA for (user, groups)."""
    ca = pki.ensure_pki(tmp_path)
    clients: list[ApiClient] = []

    async def make(user: str, groups: tuple[str, ...]) -> ApiClient:
        cert, _ = pki.issue_client_cert(ca, user, groups, tmp_path / "clients")
        der = x509.load_pem_x509_certificate(cert.read_bytes()).public_bytes(Encoding.DER)
        client = inprocess.api_client(inprocess.with_peer_certificate(server.app, der))
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
async def admin(client_for: ClientFor) -> ApiClient:
    return await client_for("system:admin", ("system:masters",))


def context(client: ApiClient) -> ControllerContext:
    return ControllerContext(client=client, informers=SharedInformerFactory(client),
                             discovery=Discovery(client))


BOOTSTRAP = ("system:bootstrap:abcdef", ("system:bootstrappers",
                                          nodetoken.EXTRA_GROUP))
NODE1 = ("system:node:n1", ("system:nodes",))


async def request(client: ApiClient, cn: str, orgs: tuple[str, ...], signer: str,
                  usages: list[str], **extra: Any) -> Obj:
    sans = {k: extra.pop(k) for k in ("dns_names", "ips") if k in extra}
    key = csr_requests.new_key()
    pem = csr_requests.make_request(key, cn, orgs, **sans)
    spec = {"request": base64.b64encode(pem).decode(), "signerName": signer,
            "usages": usages, **extra}
    return await client.create(CSRS, {"apiVersion": "certificates.k8s.io/v1",
                                      "kind": "CertificateSigningRequest",
                                      "metadata": {"generateName": "csr-"}, "spec": spec})


CLIENT_USAGES = ["digital signature", "client auth"]
SERVING_USAGES = ["digital signature", "server auth"]


async def approve(admin: ApiClient, csr: Obj) -> Obj:
    """Run the approver's sync on `csr`; the request as stored afterwards."""
    controller = CsrApprovingController(context(admin))
    controller.csrs.store.add(csr)
    await controller.sync(csr["metadata"]["name"])
    return await admin.get(CSRS, csr["metadata"]["name"])


def approved_by_controller(csr: Obj) -> str | None:
    for cond in csrs.conditions(csr):
        if cond["type"] == "Approved":
            assert cond["status"] == "True" and cond["reason"] == "AutoApproved"
            assert cond["lastUpdateTime"] and cond["lastTransitionTime"]
            return str(cond["message"])
    return None


async def test_a_bootstrap_token_user_gets_a_nodes_first_client_certificate(
        client_for: ClientFor, admin: ApiClient) -> None:
    joining = await client_for(*BOOTSTRAP)
    made = await request(joining, "system:node:n1", ("system:nodes",),
                         csrs.KUBE_APISERVER_CLIENT_KUBELET, CLIENT_USAGES)
    assert made["spec"]["username"] == "system:bootstrap:abcdef"
    assert approved_by_controller(await approve(admin, made)) == \
        "Auto approving kubelet client certificate after SubjectAccessReview."


async def test_a_node_renews_its_own_client_certificate(
        client_for: ClientFor, admin: ApiClient) -> None:
    node = await client_for(*NODE1)
    own = await request(node, "system:node:n1", ("system:nodes",),
                        csrs.KUBE_APISERVER_CLIENT_KUBELET, CLIENT_USAGES)
    assert approved_by_controller(await approve(admin, own)) == \
        "Auto approving self kubelet client certificate after SubjectAccessReview."


async def test_requesters_without_the_permission_and_other_shapes_are_left_pending(
        server: ApiServer, client_for: ClientFor, admin: ApiClient) -> None:
    # mallory may create requests (system:node-bootstrapper), not ask for nodes' ones.
    await admin.create(resource("rbac.authorization.k8s.io", "v1", "clusterrolebindings"), {
        "metadata": {"name": "mallory-csrs"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": nodetoken.NODE_BOOTSTRAPPER},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                      "name": "mallory"}]})
    await server.cache.wait_fresh()  # RBAC answers from the cache
    stranger = await client_for("mallory", ())
    asked = await request(stranger, "system:node:n1", ("system:nodes",),
                          csrs.KUBE_APISERVER_CLIENT_KUBELET, CLIENT_USAGES)
    with pytest.raises(Requeue):
        await approve(admin, asked)
    assert approved_by_controller(await admin.get(CSRS, asked["metadata"]["name"])) is None
    # Not a kubelet client certificate (a SAN, an API-server client signer): not recognised.
    joining = await client_for(*BOOTSTRAP)
    for signer, extra in ((csrs.KUBE_APISERVER_CLIENT_KUBELET, {"dns_names": ["n1"]}),
                          (csrs.KUBE_APISERVER_CLIENT, {})):
        odd = await request(joining, "system:node:n1", ("system:nodes",), signer,
                            CLIENT_USAGES, **extra)
        assert approved_by_controller(await approve(admin, odd)) is None


async def test_a_node_gets_a_serving_certificate_for_itself_only(
        client_for: ClientFor, admin: ApiClient) -> None:
    node = await client_for(*NODE1)
    own = await request(node, "system:node:n1", ("system:nodes",), csrs.KUBELET_SERVING,
                        SERVING_USAGES, dns_names=["n1"], ips=["198.51.100.7"])
    assert approved_by_controller(await approve(admin, own)) == \
        "Auto approving kubelet serving certificate of the node it names."
    joining = await client_for(*BOOTSTRAP)
    for client, extra in ((joining, {"dns_names": ["n1"]}),  # not the node itself
                          (node, {})):  # no DNS or IP SAN
        refused = await request(client, "system:node:n1", ("system:nodes",),
                                csrs.KUBELET_SERVING, SERVING_USAGES, **extra)
        assert approved_by_controller(await approve(admin, refused)) is None


# ----------------------------------------------------------------------------- signer


@pytest.fixture
def signer(admin: ApiClient, tmp_path: Path) -> CsrSigningController:
    ca = pki.ensure_pki(tmp_path)
    return CsrSigningController(context(admin), cert_file=ca.ca_cert, key_file=ca.ca_key,
                                certificate_duration=dt.timedelta(hours=2))


async def sign(admin: ApiClient, signer: CsrSigningController, csr: Obj, *,
               approved: bool = True) -> Obj:
    name = csr["metadata"]["name"]
    if approved:
        csr.setdefault("status", {})["conditions"] = [
            {"type": "Approved", "status": "True", "reason": "Test", "message": "ok"}]
        csr = await admin.request("PUT", admin.path(CSRS, None, name, "approval"), body=csr)
    signer.csrs.store.add(csr)
    await signer.sync(name)
    return await admin.get(CSRS, name)


def issued(csr: Obj) -> x509.Certificate:
    return x509.load_pem_x509_certificate(csrs.issued_certificate(csr))


async def test_the_signer_issues_what_was_approved_for_the_lifetime_asked(
        client_for: ClientFor, admin: ApiClient, signer: CsrSigningController,
        tmp_path: Path) -> None:
    node = await client_for(*NODE1)
    ca = x509.load_pem_x509_certificate(pki.Pki.at(tmp_path).ca_cert.read_bytes())
    serving = await sign(admin, signer, await request(
        node, "system:node:n1", ("system:nodes",), csrs.KUBELET_SERVING, SERVING_USAGES,
        dns_names=["n1"], ips=["198.51.100.7"], expirationSeconds=3600))
    cert = issued(serving)
    cert.verify_directly_issued_by(ca)
    assert cert.subject.rfc4514_string() == "CN=system:node:n1,O=system:nodes"
    # Backdated five minutes; one hour asked is one hour after signing.
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == dt.timedelta(minutes=65)
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    key_usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert key_usage.critical and key_usage.value.digital_signature
    assert not key_usage.value.key_encipherment
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["n1"]
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["198.51.100.7"]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    # Longer than the signer's limit (2h) is the limit; shorter than ten minutes is ten.
    joining = await client_for(*BOOTSTRAP)
    for asked, lifetime in ((10 * 3600, dt.timedelta(hours=2, minutes=5)),
                            (None, dt.timedelta(hours=2, minutes=5))):
        extra = {} if asked is None else {"expirationSeconds": asked}
        cert = issued(await sign(admin, signer, await request(
            joining, "system:node:n1", ("system:nodes",), csrs.KUBE_APISERVER_CLIENT_KUBELET,
            CLIENT_USAGES, **extra)))
        assert cert.not_valid_after_utc - cert.not_valid_before_utc == lifetime


async def test_requests_that_break_their_signers_rules_fail_and_others_wait(
        admin: ApiClient, signer: CsrSigningController) -> None:
    user = admin
    failed = await sign(admin, signer, await request(
        user, "alice", ("dev",), csrs.KUBE_APISERVER_CLIENT, ["server auth"]))
    condition = csrs.conditions(failed)[-1]
    assert (condition["type"], condition["status"], condition["reason"],
            condition["message"]) == ("Failed", "True", "SignerValidationFailure",
                                      "invalid usage for client certificate: server auth")
    assert not csrs.issued_certificate(failed)
    # A failed request is not looked at again; a pending one is not signed.
    assert not csrs.issued_certificate(await sign(admin, signer, failed, approved=False))
    pending = await sign(admin, signer, await request(
        user, "alice", ("dev",), csrs.KUBE_APISERVER_CLIENT, CLIENT_USAGES), approved=False)
    assert not csrs.issued_certificate(pending)
    # The same request approved is issued, with the client usage.
    cert = issued(await sign(admin, signer, pending))
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == \
        [ExtendedKeyUsageOID.CLIENT_AUTH]
