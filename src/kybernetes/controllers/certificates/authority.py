"""Signing a certificate request with a CA (upstream's `pkg/controller/certificates/
authority`, `PermissiveSigningPolicy`):

- the subject and the DNS, IP, email and URI SANs come from the request (any other
  extension it asks for is dropped), with a random 128-bit serial;
- key usages and extended key usages are exactly the request's `spec.usages`;
- basic constraints say it is not a CA;
- it is valid from five minutes ago (tolerating clock skew) for the TTL; a TTL of eight
  hours or more also ends five minutes early, so that the backdating does not lengthen it;
  it never outlives the CA, and an expired CA signs nothing.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID

from kybernetes.api import timeutil

BACKDATE = dt.timedelta(minutes=5)
SHORT = dt.timedelta(hours=8)

_KEY_USAGES = {
    "signing": "digital_signature", "digital signature": "digital_signature",
    "content commitment": "content_commitment", "key encipherment": "key_encipherment",
    "key agreement": "key_agreement", "data encipherment": "data_encipherment",
    "cert sign": "key_cert_sign", "crl sign": "crl_sign", "encipher only": "encipher_only",
    "decipher only": "decipher_only",
}
_EXT_KEY_USAGES = {
    "any": x509.ObjectIdentifier("2.5.29.37.0"),
    "server auth": ExtendedKeyUsageOID.SERVER_AUTH,
    "client auth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "code signing": ExtendedKeyUsageOID.CODE_SIGNING,
    "email protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "s/mime": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "ipsec end system": x509.ObjectIdentifier("1.3.6.1.5.5.7.3.5"),
    "ipsec tunnel": x509.ObjectIdentifier("1.3.6.1.5.5.7.3.6"),
    "ipsec user": x509.ObjectIdentifier("1.3.6.1.5.5.7.3.7"),
    "timestamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "ocsp signing": ExtendedKeyUsageOID.OCSP_SIGNING,
    "microsoft sgc": x509.ObjectIdentifier("1.3.6.1.4.1.311.10.3.3"),
    "netscape sgc": x509.ObjectIdentifier("2.16.840.1.113730.4.1"),
}
# The order of Go's x509.ExtKeyUsage constants, in which upstream sorts them.
_EXT_ORDER = ("any", "server auth", "client auth", "code signing", "email protection",
              "ipsec end system", "ipsec tunnel", "ipsec user", "timestamping", "ocsp signing",
              "microsoft sgc", "netscape sgc")


class SigningError(Exception):
    """The CA cannot sign this request (unknown usages, expired CA, bad request)."""


def _key_usage(usages: Iterable[str]) -> tuple[x509.KeyUsage | None, list[x509.ObjectIdentifier]]:
    bits: set[str] = set()
    extended: set[str] = set()
    unknown: list[str] = []
    for usage in usages:
        if usage in _KEY_USAGES:
            bits.add(_KEY_USAGES[usage])
        elif usage in _EXT_KEY_USAGES:
            extended.add("email protection" if usage == "s/mime" else usage)
        else:
            unknown.append(usage)
    if unknown:
        raise SigningError("unrecognized usage values: [" +
                           " ".join(f'"{u}"' for u in unknown) + "]")
    ordered = [_EXT_KEY_USAGES[u] for u in _EXT_ORDER if u in extended]
    if not bits:
        return None, ordered
    names = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
             "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
    flags = {n: n in bits for n in names}
    if not flags["key_agreement"]:
        # x509 defines encipher/decipher only under key agreement.
        flags["encipher_only"] = flags["decipher_only"] = False
    return x509.KeyUsage(**flags), ordered


@dataclass(frozen=True)
class CertificateAuthority:
    certificate: x509.Certificate
    key: CertificateIssuerPrivateKeyTypes

    @classmethod
    def load(cls, cert_file: Path, key_file: Path) -> CertificateAuthority:
        try:
            cert = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
            key = serialization.load_pem_private_key(Path(key_file).read_bytes(),
                                                     password=None)
        except (OSError, ValueError) as err:
            raise SigningError(f"error reading CA cert file {cert_file!s}: {err}") from err
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey |
                          ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
            raise SigningError(f"{key_file}: unsupported CA key type {type(key).__name__}")
        return cls(cert, key)

    def sign(self, req: x509.CertificateSigningRequest, usages: Iterable[str],
             ttl: dt.timedelta, now: dt.datetime | None = None) -> x509.Certificate:
        if not req.is_signature_valid:
            raise SigningError("unable to verify certificate request signature")
        now = now or timeutil.now()
        ca_not_after = self.certificate.not_valid_after_utc
        not_before = now - BACKDATE
        not_after = now + ttl if ttl < SHORT else now + ttl - BACKDATE
        not_after = min(not_after, ca_not_after)
        if not_before >= ca_not_after:
            raise SigningError(f"the signer has expired: NotAfter={ca_not_after}")
        if now >= ca_not_after:
            raise SigningError("refusing to sign a certificate that expired in the past: "
                               f"NotAfter={ca_not_after}")
        key_usage, extended = _key_usage(usages)
        builder = (x509.CertificateBuilder()
                   .subject_name(req.subject)
                   .issuer_name(self.certificate.subject)
                   .public_key(req.public_key())
                   .serial_number(int.from_bytes(secrets.token_bytes(16), "big") >> 1 or 1)
                   .not_valid_before(not_before)
                   .not_valid_after(not_after)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                                  critical=True))
        if key_usage is not None:
            builder = builder.add_extension(key_usage, critical=True)
        if extended:
            builder = builder.add_extension(x509.ExtendedKeyUsage(extended), critical=False)
        try:
            asked = req.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            asked = x509.SubjectAlternativeName([])
        sans = [n for n in asked if isinstance(n, x509.DNSName | x509.IPAddress |
                                               x509.RFC822Name | x509.UniformResourceIdentifier)]
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        try:
            ski = self.certificate.extensions.get_extension_for_class(
                x509.SubjectKeyIdentifier).value
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                critical=False)
        except x509.ExtensionNotFound:
            pass
        algorithm = None if isinstance(self.key, ed25519.Ed25519PrivateKey |
                                       ed448.Ed448PrivateKey) else hashes.SHA256()
        return builder.sign(self.key, algorithm)
