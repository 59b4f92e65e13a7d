"""CertificateSigningRequest validation, as upstream's `pkg/apis/certificates/validation`.

A request must carry a signed PEM `CERTIFICATE REQUEST`, known and distinct usages, a
qualified signer name (never `kubernetes.io/legacy-unknown` through v1) and, when given,
`expirationSeconds` of at least 600. Conditions are checked for type and status (Approved,
Denied and Failed are True only; Approved and Denied exclude each other), and
`status.certificate` must be CERTIFICATE PEM blocks. On update, Approved/Denied/Failed
conditions are never removed; Approved/Denied change only through `/approval`, and the
certificate is set only through `/status`, once. Problems already in the stored object are
tolerated, as upstream does for compatibility. ObjectMeta is checked by the generic store.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from kybernetes.api import certificates as csrs
from kybernetes.api.errors import FieldError
from kybernetes.api.validation.meta import is_dns1123_label, is_dns1123_subdomain

Obj = dict[str, Any]

_TRUE_ONLY = {csrs.APPROVED, csrs.DENIED, csrs.FAILED}
_ALL_STATUSES = ["False", "True", "Unknown"]
_DNS1123_SUBDOMAIN_MAX = 253
_DNS1123_LABEL_MAX = 63
_MAX_SIGNER_NAME = _DNS1123_SUBDOMAIN_MAX + (_DNS1123_SUBDOMAIN_MAX + _DNS1123_LABEL_MAX + 1) + 1


class GoBytes:
    """A `[]byte` field value, printed as Go's `%#v` prints it in field errors."""

    def __init__(self, data: bytes | None) -> None:
        self.data = data

    def __str__(self) -> str:
        if self.data is None:
            return "[]byte(nil)"
        return "[]byte{" + ", ".join(f"0x{b:x}" for b in self.data) + "}"


@dataclass(frozen=True)
class Options:
    """Upstream's `certificateValidationOptions`: what an update path may do, and what
    problems of the stored object are tolerated."""

    allow_setting_approval_conditions: bool = False
    allow_setting_certificate: bool = False
    allow_both_approved_and_denied: bool = False
    allow_legacy_signer_name: bool = False
    allow_duplicate_condition_types: bool = False
    allow_empty_condition_type: bool = False
    allow_arbitrary_certificate: bool = False
    allow_unknown_usages: bool = False
    allow_duplicate_usages: bool = False


def _spec(csr: Obj) -> Obj:
    spec = csr.get("spec")
    return spec if isinstance(spec, dict) else {}


def _usages(csr: Obj) -> list[str]:
    return [u for u in _spec(csr).get("usages") or [] if isinstance(u, str)]


def _certificate(csr: Obj) -> str:
    value = (csr.get("status") or {}).get("certificate")
    return value if isinstance(value, str) else ""


def options_for(new: Obj, old: Obj | None) -> Options:
    """Upstream's `getValidationOptions`: tolerate what the stored object already has."""
    if old is None:
        return Options()
    approved, denied = csrs.approval_state(old)
    types = [c.get("type") for c in csrs.conditions(old)]
    usages = _usages(old)
    return Options(
        allow_both_approved_and_denied=approved and denied,
        allow_legacy_signer_name=_spec(old).get("signerName") == csrs.LEGACY_UNKNOWN,
        allow_duplicate_condition_types=len(types) != len(set(types)),
        allow_empty_condition_type=any(not t for t in types),
        allow_arbitrary_certificate=_certificate(new) == _certificate(old)
        or validate_certificate(csrs.decode_request(_certificate(old))) is not None,
        allow_unknown_usages=any(u not in csrs.ALL_USAGES for u in usages),
        allow_duplicate_usages=len(usages) != len(set(usages)),
    )


def check_request(pem: bytes) -> str | None:
    """Why `spec.request` is not acceptable (parse or signature), else None."""
    try:
        request = csrs.parse_csr(pem)
    except csrs.CsrError as err:
        return str(err)
    if not request.is_signature_valid:
        return _signature_error(request)
    return None


def _signature_error(request: x509.CertificateSigningRequest) -> str:
    name = type(request.public_key()).__name__
    if "RSA" in name:
        return "crypto/rsa: verification error"
    if "Ed25519" in name:
        return "x509: Ed25519 verification failure"
    return "x509: ECDSA verification failure"


def validate_certificate(pem: bytes) -> str | None:
    """Why `status.certificate` is not acceptable, else None (empty is fine)."""
    if not pem:
        return None
    blocks = csrs.pem_blocks(pem)
    for kind, headers, der in blocks:
        if kind != "CERTIFICATE":
            return f'only CERTIFICATE PEM blocks are allowed, found "{kind}"'
        if headers:
            return "no PEM block headers are permitted"
        try:
            x509.load_der_x509_certificate(der)
        except ValueError:
            return "x509: malformed certificate"
    if not blocks:
        return "must contain at least one CERTIFICATE PEM block"
    return None


def validate_signer_name(path: str, name: Any) -> list[FieldError]:
    """Upstream's `ValidateSignerName`: `<domain>/<path>`, DNS labels and subdomains."""
    if not isinstance(name, str) or not name:
        return [FieldError.required(path)]
    segments = name.split("/")
    if len(segments) != 2:
        return [FieldError.invalid(path, name, "must be a fully qualified domain and path of "
                                               "the form 'example.com/signer-name'")]
    errs: list[FieldError] = []
    domain, rest = segments
    if len(domain) > _DNS1123_SUBDOMAIN_MAX:
        errs.append(FieldError.too_long(path, "", _DNS1123_SUBDOMAIN_MAX))
    labels = domain.split(".")
    for label in labels:
        problems = is_dns1123_label(label)
        if problems:
            errs += [FieldError.invalid(path, domain, f'validating label "{label}": {p}')
                     for p in problems]
            break
    if len(labels) < 2:
        errs.append(FieldError.invalid(
            path, domain, "should be a domain with at least two segments separated by dots"))
    for label in rest.split("."):
        problems = is_dns1123_subdomain(label)
        if problems:
            errs += [FieldError.invalid(path, rest, f'validating label "{label}": {p}')
                     for p in problems]
            break
    if len(name) > _MAX_SIGNER_NAME:
        errs.append(FieldError.too_long(path, "", _MAX_SIGNER_NAME))
    return errs


def validate(csr: Obj, opts: Options) -> list[FieldError]:
    """Upstream's `validateCertificateSigningRequest` (ObjectMeta aside)."""
    spec = _spec(csr)
    errs: list[FieldError] = []
    raw = spec.get("request")
    pem = csrs.decode_request(raw)
    problem = check_request(pem)
    if problem is not None:
        errs.append(FieldError.invalid("spec.request", GoBytes(pem if raw is not None
                                                               else None), problem))
    usages = spec.get("usages") or []
    if not usages:
        errs.append(FieldError.required("spec.usages"))
    if not opts.allow_unknown_usages:
        errs += [FieldError.not_supported(f"spec.usages[{i}]", u, sorted(csrs.ALL_USAGES))
                 for i, u in enumerate(usages) if u not in csrs.ALL_USAGES]
    if not opts.allow_duplicate_usages:
        seen: set[Any] = set()
        for i, usage in enumerate(usages):
            if usage in seen:
                errs.append(FieldError.duplicate(f"spec.usages[{i}]", usage))
            seen.add(usage)
    signer = spec.get("signerName")
    if not opts.allow_legacy_signer_name and signer == csrs.LEGACY_UNKNOWN:
        errs.append(FieldError.invalid("spec.signerName", signer,
                                       "the legacy signerName is not allowed via this API "
                                       "version"))
    else:
        errs += validate_signer_name("spec.signerName", signer)
    expiration = spec.get("expirationSeconds")
    if isinstance(expiration, int) and expiration < 600:
        errs.append(FieldError.invalid("spec.expirationSeconds", expiration,
                                       "may not specify a duration less than 600 seconds "
                                       "(10 minutes)"))
    errs += _validate_conditions(csr, opts)
    if not opts.allow_arbitrary_certificate:
        why = validate_certificate(csrs.decode_request(_certificate(csr)))
        if why is not None:
            errs.append(FieldError.invalid("status.certificate", "<certificate data>", why))
    return errs


def _validate_conditions(csr: Obj, opts: Options) -> list[FieldError]:
    errs: list[FieldError] = []
    seen: set[Any] = set()
    approved = denied = False
    for i, cond in enumerate(csrs.conditions(csr)):
        path = f"status.conditions[{i}]"
        kind, status = cond.get("type"), cond.get("status")
        if not opts.allow_empty_condition_type and not kind:
            errs.append(FieldError.required(f"{path}.type"))
        allowed = ["True"] if kind in _TRUE_ONLY else _ALL_STATUSES
        if not status:
            errs.append(FieldError.required(f"{path}.status"))
        elif status not in allowed:
            errs.append(FieldError.not_supported(f"{path}.status", status, allowed))
        if not opts.allow_both_approved_and_denied:
            if kind == csrs.APPROVED:
                approved = True
                if denied:
                    errs.append(FieldError.invalid(f"{path}.type", kind, _EXCLUSIVE))
            elif kind == csrs.DENIED:
                denied = True
                if approved:
                    errs.append(FieldError.invalid(f"{path}.type", kind, _EXCLUSIVE))
        if not opts.allow_duplicate_condition_types:
            if kind in seen:
                errs.append(FieldError.duplicate(f"{path}.type", kind))
            seen.add(kind)
    return errs


_EXCLUSIVE = "Approved and Denied conditions are mutually exclusive"


def validate_create(csr: Obj) -> list[FieldError]:
    return validate(csr, options_for(csr, None))


def validate_update(new: Obj, old: Obj, *, approval: bool = False,
                    status: bool = False) -> list[FieldError]:
    """An update through the main endpoint, `/approval` (`approval`) or `/status`
    (`status`), as upstream's `validateCertificateSigningRequestUpdate`."""
    opts = dataclasses.replace(options_for(new, old), allow_setting_approval_conditions=approval,
                               allow_setting_certificate=status)
    errs = validate(new, opts)
    for kind in (csrs.APPROVED, csrs.DENIED, csrs.FAILED):
        if len(_of_type(new, kind)) < len(_of_type(old, kind)):
            errs.append(FieldError.forbidden(
                "status.conditions", f'updates may not remove a condition of type "{kind}"'))
    if not opts.allow_setting_approval_conditions:
        for kind in (csrs.APPROVED, csrs.DENIED):
            before, after = _of_type(old, kind), _of_type(new, kind)
            if len(after) > len(before):
                errs.append(FieldError.forbidden(
                    "status.conditions", f'updates may not add a condition of type "{kind}"'))
            elif len(after) == len(before) and after != before:
                errs.append(FieldError.forbidden(
                    "status.conditions", f'updates may not modify a condition of type "{kind}"'))
    if _certificate(new) != _certificate(old):
        if not opts.allow_setting_certificate:
            errs.append(FieldError.forbidden("status.certificate",
                                             "updates may not set certificate content"))
        elif _certificate(old):
            errs.append(FieldError.forbidden(
                "status.certificate", "updates may not modify existing certificate content"))
    return errs


def _of_type(csr: Obj, kind: str) -> list[Obj]:
    return [c for c in csrs.conditions(csr) if c.get("type") == kind]
