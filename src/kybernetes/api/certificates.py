"""CertificateSigningRequest helpers shared by the API server, the certificate controllers
and the kubelet (upstream's `pkg/apis/certificates/helpers.go` and the condition helpers of
`pkg/controller/certificates`): the well-known signer names and key usages, decoding
`spec.request` (base64 of a PEM `CERTIFICATE REQUEST`), the kubelet client and serving
request shapes, and reading the Approved/Denied/Failed conditions.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

GROUP = "certificates.k8s.io"

KUBE_APISERVER_CLIENT = "kubernetes.io/kube-apiserver-client"
KUBE_APISERVER_CLIENT_KUBELET = "kubernetes.io/kube-apiserver-client-kubelet"
KUBELET_SERVING = "kubernetes.io/kubelet-serving"
LEGACY_UNKNOWN = "kubernetes.io/legacy-unknown"

APPROVED = "Approved"
DENIED = "Denied"
FAILED = "Failed"

NODES_GROUP = "system:nodes"
NODE_USER_PREFIX = "system:node:"

# Key usages (upstream's `certificates.KeyUsage` values).
SIGNING = "signing"
DIGITAL_SIGNATURE = "digital signature"
KEY_ENCIPHERMENT = "key encipherment"
SERVER_AUTH = "server auth"
CLIENT_AUTH = "client auth"
ALL_USAGES = frozenset({
    SIGNING, DIGITAL_SIGNATURE, "content commitment", KEY_ENCIPHERMENT, "key agreement",
    "data encipherment", "cert sign", "crl sign", "encipher only", "decipher only", "any",
    SERVER_AUTH, CLIENT_AUTH, "code signing", "email protection", "s/mime",
    "ipsec end system", "ipsec tunnel", "ipsec user", "timestamping", "ocsp signing",
    "microsoft sgc", "netscape sgc",
})

_PEM_BLOCK = re.compile(
    rb"-----BEGIN ([^-\r\n]*)-----\r?\n(.*?)-----END \1-----", re.DOTALL)


class CsrError(ValueError):
    """A request that cannot be parsed, or does not have the shape a signer requires; the
    message is upstream's."""


def decode_request(request: Any) -> bytes:
    """The PEM bytes of `spec.request` (base64 in JSON); empty when missing or not base64."""
    if not isinstance(request, str):
        return b""
    try:
        return base64.b64decode(request, validate=True)
    except (binascii.Error, ValueError):
        return b""


def pem_blocks(data: bytes) -> list[tuple[str, bool, bytes]]:
    """The (type, has headers, DER) of each PEM block in `data`, in order, as a loop over
    Go's `pem.Decode` reads them: leading `Key: value` lines of a body are headers; a body
    that is not base64 ends the list."""
    blocks: list[tuple[str, bool, bytes]] = []
    for match in _PEM_BLOCK.finditer(data):
        lines = match[2].splitlines()
        headers = 0
        while headers < len(lines) and b":" in lines[headers]:
            headers += 1
        try:
            der = base64.b64decode(b"".join(b"".join(lines[headers:]).split()), validate=True)
        except (binascii.Error, ValueError):
            return blocks
        blocks.append((match[1].decode("ascii", "replace"), headers > 0, der))
    return blocks


def parse_csr(pem: bytes) -> x509.CertificateSigningRequest:
    """Upstream's `ParseCSR`: the first PEM block must be a `CERTIFICATE REQUEST`."""
    blocks = pem_blocks(pem)
    if not blocks or blocks[0][0] != "CERTIFICATE REQUEST":
        raise CsrError("PEM block type must be CERTIFICATE REQUEST")
    try:
        return x509.load_der_x509_csr(blocks[0][2])
    except ValueError:
        raise CsrError("x509: malformed certificate request") from None


def parse_request(csr: Mapping[str, Any]) -> x509.CertificateSigningRequest:
    """The x509 request of a CertificateSigningRequest object."""
    return parse_csr(decode_request((csr.get("spec") or {}).get("request")))


def subject(req: x509.CertificateSigningRequest) -> tuple[str, list[str]]:
    """(common name, organizations) of a request's subject."""
    names = req.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    orgs = req.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    common_name = str(names[0].value) if names else ""
    return common_name, [str(o.value) for o in orgs]


def subject_alt_names(req: x509.CertificateSigningRequest
                      ) -> tuple[list[str], list[str], list[str], list[str]]:
    """(DNS names, IP addresses, email addresses, URIs) the request asks for."""
    try:
        ext = req.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], [], [], []
    ips = [str(ip) for ip in ext.get_values_for_type(x509.IPAddress)
           if isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address)]
    return (list(ext.get_values_for_type(x509.DNSName)), ips,
            list(ext.get_values_for_type(x509.RFC822Name)),
            list(ext.get_values_for_type(x509.UniformResourceIdentifier)))


def _usage_error(required: Iterable[str]) -> CsrError:
    return CsrError(f"usages did not match [{' '.join(sorted(required))}]")


_KUBELET_CLIENT_USAGES = {DIGITAL_SIGNATURE, KEY_ENCIPHERMENT, CLIENT_AUTH}
_KUBELET_CLIENT_USAGES_NO_RSA = {DIGITAL_SIGNATURE, CLIENT_AUTH}
_KUBELET_SERVING_USAGES = {DIGITAL_SIGNATURE, KEY_ENCIPHERMENT, SERVER_AUTH}
_KUBELET_SERVING_USAGES_NO_RSA = {DIGITAL_SIGNATURE, SERVER_AUTH}


def validate_kubelet_client_csr(req: x509.CertificateSigningRequest,
                                usages: Iterable[str]) -> None:
    """Upstream's `ValidateKubeletClientCSR`: O=system:nodes only, CN system:node:<name>,
    no SANs, usages (key encipherment optional)."""
    common_name, orgs = subject(req)
    if orgs != [NODES_GROUP]:
        raise CsrError("subject organization is not system:nodes")
    dns, ips, emails, uris = subject_alt_names(req)
    if dns:
        raise CsrError("DNS subjectAltNames are not allowed")
    if emails:
        raise CsrError("Email subjectAltNames are not allowed")
    if ips:
        raise CsrError("IP subjectAltNames are not allowed")
    if uris:
        raise CsrError("URI subjectAltNames are not allowed")
    if not common_name.startswith(NODE_USER_PREFIX):
        raise CsrError("subject common name does not begin with system:node:")
    wanted = set(usages)
    if wanted not in (_KUBELET_CLIENT_USAGES, _KUBELET_CLIENT_USAGES_NO_RSA):
        raise _usage_error(_KUBELET_CLIENT_USAGES)


def validate_kubelet_serving_csr(req: x509.CertificateSigningRequest,
                                 usages: Iterable[str]) -> None:
    """Upstream's `ValidateKubeletServingCSR`: O=system:nodes only, at least one DNS or IP
    SAN and no email or URI SANs, usages (key encipherment optional), CN system:node:."""
    common_name, orgs = subject(req)
    if orgs != [NODES_GROUP]:
        raise CsrError("subject organization is not system:nodes")
    dns, ips, emails, uris = subject_alt_names(req)
    if not dns and not ips:
        raise CsrError("DNS or IP subjectAltName is required")
    if emails:
        raise CsrError("Email subjectAltNames are not allowed")
    if uris:
        raise CsrError("URI subjectAltNames are not allowed")
    wanted = set(usages)
    if wanted not in (_KUBELET_SERVING_USAGES, _KUBELET_SERVING_USAGES_NO_RSA):
        raise _usage_error(_KUBELET_SERVING_USAGES)
    if not common_name.startswith(NODE_USER_PREFIX):
        raise CsrError("subject common name does not begin with system:node:")


def is_kubelet_client_csr(req: x509.CertificateSigningRequest, usages: Iterable[str]) -> bool:
    try:
        validate_kubelet_client_csr(req, usages)
    except CsrError:
        return False
    return True


def is_kubelet_serving_csr(req: x509.CertificateSigningRequest, usages: Iterable[str]) -> bool:
    try:
        validate_kubelet_serving_csr(req, usages)
    except CsrError:
        return False
    return True


def key_usages_for(key: Any, *, server: bool) -> list[str]:
    """The usages a kubelet asks for with `key`: key encipherment only for RSA keys (as
    upstream's kubelet since 1.27), then server or client auth."""
    usages = [DIGITAL_SIGNATURE]
    if isinstance(key, rsa.RSAPrivateKey):
        usages.append(KEY_ENCIPHERMENT)
    usages.append(SERVER_AUTH if server else CLIENT_AUTH)
    return usages


# ----------------------------------------------------------------------------- conditions


def conditions(csr: Mapping[str, Any]) -> list[dict[str, Any]]:
    found = (csr.get("status") or {}).get("conditions") or []
    return [c for c in found if isinstance(c, dict)]


def approval_state(csr: Mapping[str, Any]) -> tuple[bool, bool]:
    """(approved, denied), as upstream's `GetCertApprovalCondition`."""
    types = {c.get("type") for c in conditions(csr)}
    return APPROVED in types, DENIED in types


def is_approved(csr: Mapping[str, Any]) -> bool:
    """Approved and not denied (upstream's `IsCertificateRequestApproved`)."""
    approved, denied = approval_state(csr)
    return approved and not denied


def has_true_condition(csr: Mapping[str, Any], kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") in (None, "", "True")
               for c in conditions(csr))


def issued_certificate(csr: Mapping[str, Any]) -> bytes:
    """The PEM of `status.certificate`; empty while none is issued."""
    return decode_request((csr.get("status") or {}).get("certificate"))
