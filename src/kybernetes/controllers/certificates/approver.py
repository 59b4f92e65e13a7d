"""The CSR approving controller (upstream's `pkg/controller/certificates/approver/
sarapprove.go`), plus k3s' approval of kubelet serving certificates.

A pending request (no certificate, neither approved nor denied) is approved when it is:

- a kubelet client certificate (`kubernetes.io/kube-apiserver-client-kubelet`, CN
  `system:node:<name>`, O `system:nodes`, no SANs, client usages) and its requester may
  `create` `certificatesigningrequests/selfnodeclient` (a node renewing its own, CN equal
  to the requester) or `certificatesigningrequests/nodeclient` (a bootstrap token asking
  for a node's first certificate), as a SubjectAccessReview for the requester answers;
- a kubelet serving certificate (`kubernetes.io/kubelet-serving`, upstream's shape: O
  `system:nodes`, DNS/IP SANs only, serving usages) asked by the node it names (requester
  `system:node:<name>` in `system:nodes`, equal to the CN).

A recognised request the review refuses is retried later (the requester may be granted the
permission); anything else is left for a human (`kubectl certificate approve|deny`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from cryptography import x509

from kybernetes.api import certificates as csrs
from kybernetes.api.objects import spec as _spec
from kybernetes.client import resource
from kybernetes.client.rest import Obj
from kybernetes.controllers.base import ControllerContext, Requeue
from kybernetes.controllers.certificates.controller import (
    CSRS,
    DEFAULT_WORKERS,
    CertificateController,
    add_condition,
    parsed_request,
)

log = logging.getLogger(__name__)

SUBJECT_ACCESS_REVIEWS = resource("authorization.k8s.io", "v1", "subjectaccessreviews")

Recognize = Callable[[Obj, x509.CertificateSigningRequest], bool]


@dataclass(frozen=True)
class Recognizer:
    recognize: Recognize
    # The `create certificatesigningrequests/<subresource>` the requester must be allowed;
    # empty: none (the request's shape and requester suffice).
    subresource: str
    message: str


def is_node_client_cert(csr: Obj, req: x509.CertificateSigningRequest) -> bool:
    spec = _spec(csr)
    return spec.get("signerName") == csrs.KUBE_APISERVER_CLIENT_KUBELET and \
        csrs.is_kubelet_client_csr(req, spec.get("usages") or [])


def is_self_node_client_cert(csr: Obj, req: x509.CertificateSigningRequest) -> bool:
    return _spec(csr).get("username") == csrs.subject(req)[0] and is_node_client_cert(csr, req)


def is_self_node_serving_cert(csr: Obj, req: x509.CertificateSigningRequest) -> bool:
    spec = _spec(csr)
    username = spec.get("username")
    return spec.get("signerName") == csrs.KUBELET_SERVING and \
        csrs.NODES_GROUP in (spec.get("groups") or []) and \
        isinstance(username, str) and username.startswith(csrs.NODE_USER_PREFIX) and \
        username == csrs.subject(req)[0] and \
        csrs.is_kubelet_serving_csr(req, spec.get("usages") or [])


RECOGNIZERS = (
    Recognizer(is_self_node_client_cert, "selfnodeclient",
               "Auto approving self kubelet client certificate after SubjectAccessReview."),
    Recognizer(is_node_client_cert, "nodeclient",
               "Auto approving kubelet client certificate after SubjectAccessReview."),
    Recognizer(is_self_node_serving_cert, "",
               "Auto approving kubelet serving certificate of the node it names."),
)


class CsrApprovingController(CertificateController):
    name: ClassVar[str] = "certificatesigningrequest-approving-controller"

    def __init__(self, ctx: ControllerContext, *, workers: int = DEFAULT_WORKERS) -> None:
        super().__init__(ctx, workers=workers)

    async def handle(self, csr: Obj) -> None:
        approved, denied = csrs.approval_state(csr)
        if approved or denied:
            return
        req = parsed_request(csr)
        tried: list[str] = []
        for recognizer in RECOGNIZERS:
            if not recognizer.recognize(csr, req):
                continue
            tried.append(recognizer.subresource or "selfnodeserving")
            if recognizer.subresource and not await self._authorized(csr,
                                                                     recognizer.subresource):
                continue
            await self._approve(csr, recognizer.message)
            return
        if tried:
            name = csr["metadata"]["name"]
            raise Requeue(f"recognized csr {name!r} as {tried} but subject access review "
                          "was not approved")

    async def _authorized(self, csr: Obj, subresource: str) -> bool:
        spec = _spec(csr)
        review: dict[str, Any] = {
            "user": spec.get("username", ""), "groups": list(spec.get("groups") or []),
            "resourceAttributes": {"group": csrs.GROUP,
                                   "resource": "certificatesigningrequests",
                                   "verb": "create", "subresource": subresource}}
        if spec.get("uid"):
            review["uid"] = spec["uid"]
        if spec.get("extra"):
            review["extra"] = spec["extra"]
        answer = await self.client.create(SUBJECT_ACCESS_REVIEWS, {
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": review})
        return bool((answer.get("status") or {}).get("allowed"))

    async def _approve(self, csr: Obj, message: str) -> None:
        add_condition(csr, {"type": csrs.APPROVED, "status": "True", "reason": "AutoApproved",
                            "message": message})
        name = csr["metadata"]["name"]
        await self.client.request("PUT", self.client.path(CSRS, None, name, "approval"),
                                  body=csr)
        log.info("approved certificate signing request %s: %s", name, message)
