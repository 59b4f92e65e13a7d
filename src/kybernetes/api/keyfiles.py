"""Files that hold keys, certificates and tokens, written the one safe way; and the PEM and
DER forms of keys. Shared by the API server's PKI and node token and the kubelet's
credentials, which may not import each other."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

PRIVATE_MODE = 0o600


def write_atomic(path: Path, data: bytes, mode: int = PRIVATE_MODE) -> None:
    """Write `data` to a temporary file beside `path` (created 0600, then set to `mode`),
    fsync it, rename it over `path` and fsync the directory: a reader sees the old content
    or the new, never part of it, and never a secret with a looser mode."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def key_pem(key: PrivateKeyTypes) -> bytes:
    """`key` as unencrypted PEM: the traditional form for RSA and EC keys (`BEGIN RSA/EC
    PRIVATE KEY`, as upstream writes them), PKCS#8 for the others."""
    fmt = (
        serialization.PrivateFormat.TraditionalOpenSSL
        if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
        else serialization.PrivateFormat.PKCS8
    )
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())


def spki(key: PublicKeyTypes) -> bytes:
    """The DER SubjectPublicKeyInfo of `key`: equal for a certificate's key and its
    private key's public half."""
    return key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)
