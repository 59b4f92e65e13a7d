"""Certificates the tests make for servers of their own (webhooks, extension API servers,
TLS behind the ingress): ECDSA P-256, valid from five minutes ago for a day."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _builder(subject: str, issuer: str, public_key: ec.EllipticCurvePublicKey
             ) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1)))


def _names(dns_names: Sequence[str], ips: Sequence[str]) -> x509.SubjectAlternativeName:
    return x509.SubjectAlternativeName(
        [*(x509.DNSName(n) for n in dns_names),
         *(x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips)])


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def self_signed(host: str) -> tuple[x509.Certificate, bytes]:
    """A self-signed certificate for `host`, and its key (PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (_builder(host, host, key.public_key())
            .add_extension(_names([host], []), critical=False).sign(key, hashes.SHA256()))
    return cert, key_pem(key)


def ca_signed(directory: Path, common_name: str, *, dns_names: Sequence[str] = (),
              ips: Sequence[str] = ()) -> tuple[bytes, Path, Path]:
    """A CA of its own (its certificate as PEM) and a serving certificate and key it signed
    for `dns_names` and `ips`, written to `directory` as tls.crt and tls.key."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (_builder(f"{common_name}-ca", f"{common_name}-ca", ca_key.public_key())
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (_builder(common_name, f"{common_name}-ca", key.public_key())
            .add_extension(_names(dns_names, ips), critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key_pem(key))
    return ca.public_bytes(serialization.Encoding.PEM), cert_path, key_path
