"""Upstream's certificate admission plugins (`plugin/pkg/admission/certificates`):

- **CertificateApproval**: approving or denying through `/approval` needs the `approve`
  verb on the synthetic `signers` resource named by the request's signer (or
  `<domain>/*`).
- **CertificateSigning**: changing `status.certificate` or the conditions through `/status`
  needs `sign` on the signer, likewise.
- **CertificateSubjectRestriction**: a `kubernetes.io/kube-apiserver-client` request may not
  ask for the `system:masters` group.

Refusals are 403s with upstream's messages.
"""

from __future__ import annotations

from typing import Any

from kybernetes.api import certificates as csrs
from kybernetes.api import errors
from kybernetes.apiserver.admission.chain import (
    AdmissionPlugin,
    AdmissionRequest,
    Phase,
    Target,
)
from kybernetes.apiserver.authn.user import SYSTEM_MASTERS, UserInfo
from kybernetes.apiserver.authz.attributes import Attributes
from kybernetes.apiserver.authz.authorizer import Authorizer

RESOURCE = "certificatesigningrequests"


def _is_csr(request: AdmissionRequest) -> bool:
    return request.info.group == csrs.GROUP and request.info.plural == RESOURCE


def _signer(csr: dict[str, Any] | None) -> str:
    return str(((csr or {}).get("spec") or {}).get("signerName") or "")


def authorized_for_signer(authorizer: Authorizer, user: UserInfo, verb: str,
                          signer: str) -> bool:
    """Upstream's `IsAuthorizedForSignerName`: `verb` on signers/<signer>, else on
    signers/<domain>/*."""
    for name in (signer, f"{signer.split('/', 1)[0]}/*"):
        attrs = Attributes(user, verb, True, api_group=csrs.GROUP, api_version="*",
                           resource="signers", name=name)
        if authorizer.authorize(attrs).allowed:
            return True
    return False


def _forbidden(request: AdmissionRequest, why: str) -> errors.StatusError:
    return errors.forbidden(csrs.GROUP, RESOURCE, request.name, why)


class CertificateApproval:
    name = "CertificateApproval"

    def __init__(self, authorizer: Authorizer) -> None:
        self.authorizer = authorizer

    @staticmethod
    def handles(target: Target) -> Phase:
        return Phase.VALIDATE if target == (csrs.GROUP, RESOURCE, "approval", "UPDATE") \
            else Phase.NONE

    async def admit(self, request: AdmissionRequest) -> None:
        return None

    async def validate(self, request: AdmissionRequest) -> None:
        if not _is_csr(request) or request.subresource != "approval" or \
                request.operation != "UPDATE":
            return
        signer = _signer(request.old)
        if not authorized_for_signer(self.authorizer, request.user, "approve", signer):
            raise _forbidden(request, f'user not permitted to approve requests with '
                                      f'signerName "{signer}"')


class CertificateSigning:
    name = "CertificateSigning"

    def __init__(self, authorizer: Authorizer) -> None:
        self.authorizer = authorizer

    @staticmethod
    def handles(target: Target) -> Phase:
        return Phase.VALIDATE if target == (csrs.GROUP, RESOURCE, "status", "UPDATE") \
            else Phase.NONE

    async def admit(self, request: AdmissionRequest) -> None:
        return None

    async def validate(self, request: AdmissionRequest) -> None:
        if not _is_csr(request) or request.subresource != "status" or \
                request.operation != "UPDATE" or request.old is None or request.obj is None:
            return
        before, after = request.old.get("status") or {}, request.obj.get("status") or {}
        if before.get("certificate") == after.get("certificate") and \
                before.get("conditions") == after.get("conditions"):
            return
        signer = _signer(request.old)
        if not authorized_for_signer(self.authorizer, request.user, "sign", signer):
            raise _forbidden(request, f'user not permitted to sign requests with '
                                      f'signerName "{signer}"')


class CertificateSubjectRestriction:
    name = "CertificateSubjectRestriction"

    @staticmethod
    def handles(target: Target) -> Phase:
        return Phase.VALIDATE if target == (csrs.GROUP, RESOURCE, "", "CREATE") \
            else Phase.NONE

    async def admit(self, request: AdmissionRequest) -> None:
        return None

    async def validate(self, request: AdmissionRequest) -> None:
        if not _is_csr(request) or request.subresource or request.operation != "CREATE" \
                or _signer(request.obj) != csrs.KUBE_APISERVER_CLIENT or request.obj is None:
            return
        try:
            parsed = csrs.parse_request(request.obj)
        except csrs.CsrError as err:
            raise _forbidden(request, f"failed to parse CSR: {err}") from None
        if SYSTEM_MASTERS in csrs.subject(parsed)[1]:
            raise _forbidden(request, f"use of {csrs.KUBE_APISERVER_CLIENT} signer with "
                                      f"{SYSTEM_MASTERS} group is not allowed")


def plugins(authorizer: Authorizer) -> list[AdmissionPlugin]:
    """The three, in kube-apiserver's order."""
    return [CertificateApproval(authorizer), CertificateSigning(authorizer),
            CertificateSubjectRestriction()]
