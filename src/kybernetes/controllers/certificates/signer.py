"""The CSR signing controller (upstream's `pkg/controller/certificates/signer`): signs
approved requests of the kubelet and API-server-client signers with the cluster CA given
by `--cluster-signing-cert-file`/`--cluster-signing-key-file`.

For `kubernetes.io/kube-apiserver-client-kubelet`, `kubernetes.io/kubelet-serving` and
`kubernetes.io/kube-apiserver-client`, an approved request that has not failed is checked
against its signer's rules (the kubelet client and serving shapes; client auth, with
digital signature and key encipherment allowed, for API server clients). One that breaks
them gets a Failed condition (`SignerValidationFailure`) and is never signed; the others
get `status.certificate` for `spec.expirationSeconds` (at least ten minutes, at most
`--cluster-signing-duration`, one year by default). Requests for other signers are left
to their own signers. The CA files are read at each signing, so a rotated CA takes effect
without a restart; without them the controller does not run, as upstream's.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from kybernetes.api import certificates as csrs
from kybernetes.api import timeutil
from kybernetes.client.rest import Obj
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.certificates.authority import CertificateAuthority, SigningError
from kybernetes.controllers.certificates.controller import (
    CSRS,
    DEFAULT_WORKERS,
    CertificateController,
    add_condition,
    parsed_request,
)

log = logging.getLogger(__name__)

# --cluster-signing-duration
DEFAULT_DURATION = dt.timedelta(days=365)
MIN_DURATION = dt.timedelta(minutes=10)


def _api_server_client_usages(_req: x509.CertificateSigningRequest, usages: list[str]) -> None:
    has_client_auth = False
    for usage in usages:
        if usage == csrs.CLIENT_AUTH:
            has_client_auth = True
        elif usage not in (csrs.DIGITAL_SIGNATURE, csrs.KEY_ENCIPHERMENT):
            raise csrs.CsrError(f"invalid usage for client certificate: {usage}")
    if not has_client_auth:
        raise csrs.CsrError(
            f"missing required usage for client certificate: {csrs.CLIENT_AUTH}")


# Each signer's check of a request's shape (upstream's getCSRVerificationFuncForSignerName).
SIGNERS: dict[str, Callable[[x509.CertificateSigningRequest, list[str]], None]] = {
    csrs.KUBELET_SERVING: csrs.validate_kubelet_serving_csr,
    csrs.KUBE_APISERVER_CLIENT_KUBELET: csrs.validate_kubelet_client_csr,
    csrs.KUBE_APISERVER_CLIENT: _api_server_client_usages,
}


def duration(expiration_seconds: Any, limit: dt.timedelta) -> dt.timedelta:
    """The TTL to sign for: the requested one within [10 minutes, `limit`]."""
    if not isinstance(expiration_seconds, int) or isinstance(expiration_seconds, bool):
        return limit
    requested = dt.timedelta(seconds=expiration_seconds)
    return limit if requested > limit else max(requested, MIN_DURATION)


class CsrSigningController(CertificateController):
    name: ClassVar[str] = "certificatesigningrequest-signing-controller"

    def __init__(self, ctx: ControllerContext, *, cert_file: Path | None,
                 key_file: Path | None, certificate_duration: dt.timedelta = DEFAULT_DURATION,
                 workers: int = DEFAULT_WORKERS) -> None:
        super().__init__(ctx, workers=workers)
        self.cert_file = cert_file
        self.key_file = key_file
        self.certificate_duration = certificate_duration

    def has_ca(self) -> bool:
        return self.cert_file is not None and self.key_file is not None and \
            Path(self.cert_file).exists() and Path(self.key_file).exists()

    async def run(self) -> None:
        if not self.has_ca():
            log.warning("%s: no cluster signing certificate and key (--cluster-signing-cert-"
                        "file, --cluster-signing-key-file): not signing", self.name)
            return
        await super().run()

    async def handle(self, csr: Obj) -> None:
        if not csrs.is_approved(csr) or csrs.has_true_condition(csr, csrs.FAILED):
            return
        spec = csr.get("spec") or {}
        check = SIGNERS.get(str(spec.get("signerName")))
        if check is None:
            return
        name = csr["metadata"]["name"]
        req = parsed_request(csr)
        usages = [u for u in spec.get("usages") or [] if isinstance(u, str)]
        try:
            check(req, usages)
        except csrs.CsrError as err:
            add_condition(csr, {
                "type": csrs.FAILED, "status": "True", "reason": "SignerValidationFailure",
                "message": str(err), "lastUpdateTime": timeutil.now_rfc3339()})
            await self.client.update_status(CSRS, csr)
            log.info("certificate signing request %s failed validation: %s", name, err)
            return
        assert self.cert_file is not None and self.key_file is not None
        try:
            ca = CertificateAuthority.load(self.cert_file, self.key_file)
            cert = ca.sign(req, usages, duration(spec.get("expirationSeconds"),
                                                 self.certificate_duration))
        except SigningError as err:
            raise ValueError(f"error auto signing csr: {err}") from None
        pem = cert.public_bytes(serialization.Encoding.PEM)
        csr.setdefault("status", {})["certificate"] = base64.b64encode(pem).decode()
        await self.client.update_status(CSRS, csr)
        log.info("signed certificate signing request %s (%s, until %s)", name,
                 spec.get("signerName"), cert.not_valid_after_utc.isoformat())
