"""The strategy of certificates.k8s.io CertificateSigningRequests.

Any path segment is a valid name (upstream's ValidateCertificateRequestName); the
`/approval` subresource writes the conditions of the status. The CSR's own validation and
its create-time fields are admission's (apiserver/certificates.py, csrvalidation.py).
"""

from __future__ import annotations

from kybernetes.api.printers import admission as printers
from kybernetes.api.validation.meta import is_path_segment_name
from kybernetes.apiserver.strategies.base import ResourceStrategy
from kybernetes.apiserver.strategies.builtin import BuiltinStrategy


class CertificateSigningRequestStrategy(BuiltinStrategy):
    status_writing_subresources = frozenset({"approval"})

    def __init__(self) -> None:
        super().__init__("certificates.k8s.io", "certificatesigningrequests",
                         printer=printers.PRINTERS["certificatesigningrequests"])

    def validate_name(self, name: str, prefix: bool) -> list[str]:
        return is_path_segment_name(name, prefix)


def strategies() -> list[ResourceStrategy]:
    return [CertificateSigningRequestStrategy()]
