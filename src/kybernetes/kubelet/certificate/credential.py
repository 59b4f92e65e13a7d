"""A certificate and its private key kept together in one PEM file, mode 0600, as
upstream's `kubelet-client-current.pem` and `kubelet-server-current.pem`: replacing the file
(atomically) replaces both at once, so a reader never sees a certificate with another key.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from kybernetes.api import timeutil
from kybernetes.api.keyfiles import key_pem, spki, write_atomic

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def load_key(data: bytes) -> PrivateKey | None:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        return None
    return key if isinstance(key, PrivateKey) else None


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically, mode 0600 from the start."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_atomic(path, data)


@dataclass(frozen=True)
class Credential:
    path: Path
    certificate: x509.Certificate
    key: PrivateKey

    @property
    def not_before(self) -> dt.datetime:
        return self.certificate.not_valid_before_utc

    @property
    def not_after(self) -> dt.datetime:
        return self.certificate.not_valid_after_utc

    def valid(self, now: dt.datetime | None = None) -> bool:
        now = now or timeutil.now()
        return self.not_before <= now < self.not_after


def load(path: Path) -> Credential | None:
    """The credential in `path`; None when it is missing, unreadable, or its certificate
    and key do not belong together."""
    try:
        data = path.read_bytes()
        cert = x509.load_pem_x509_certificate(data)
    except (OSError, ValueError):
        return None
    key = load_key(data)
    if key is None or spki(key.public_key()) != spki(cert.public_key()):
        return None
    return Credential(path, cert, key)


def save(path: Path, cert_pem: bytes, key: PrivateKey) -> Credential:
    """Store `cert_pem` (a leaf, possibly followed by intermediates) with `key`."""
    write_private(path, cert_pem.rstrip(b"\n") + b"\n" + key_pem(key))
    saved = load(path)
    if saved is None:
        raise ValueError(f"{path}: the certificate does not match its key")
    return saved
