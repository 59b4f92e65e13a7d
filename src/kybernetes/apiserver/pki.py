"""The cluster PKI and kubeconfigs, in the manner of k3s.

On first start `ensure_pki` creates, under ``<data-dir>/tls/``, a self-signed CA, the API
server's serving certificate, an admin client certificate, the API server's client certificate
for kubelets (kubeadm's ``apiserver-kubelet-client``) and the service-account signing key;
afterwards it reuses them. A CA that exists is never regenerated. Leaf certificates are
reissued (with their existing key, signed by the same CA) when they are missing, broken, not
signed by the CA, within 90 days of expiry, or, for the serving certificate, lacking a
requested SAN. All files are PEM; keys are mode 0600; every write is atomic.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import fcntl
import ipaddress
import os
import re
import socket
import ssl
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kybernetes.api.keyfiles import key_pem, spki, write_atomic

__all__ = [
    "CA_VALIDITY",
    "DEFAULT_DNS_NAMES",
    "DEFAULT_IPS",
    "FIRST_SERVICE_IP",
    "LEAF_VALIDITY",
    "RENEW_BEFORE",
    "Pki",
    "PkiError",
    "client_identity",
    "ensure_pki",
    "ensure_service_account_key",
    "issue_client_cert",
    "kubelet_client_context",
    "ssl_client_context",
    "write_kubeconfig",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

FIRST_SERVICE_IP = "10.43.0.1"
DEFAULT_DNS_NAMES: tuple[str, ...] = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
DEFAULT_IPS: tuple[str, ...] = ("127.0.0.1", "::1", FIRST_SERVICE_IP)

CA_VALIDITY = dt.timedelta(days=3650)
LEAF_VALIDITY = dt.timedelta(days=365)
RENEW_BEFORE = dt.timedelta(days=90)
_BACKDATE = dt.timedelta(minutes=5)  # tolerate small clock skew between machines

SERVING_COMMON_NAME = "kybernetes"
ADMIN_USER = "system:admin"
ADMIN_GROUP = "system:masters"
# The identity the API server presents to kubelets (logs, exec, port-forward), kubeadm's.
KUBELET_CLIENT_USER = "kube-apiserver-kubelet-client"

_KEY_MODE = 0o600
_CERT_MODE = 0o644


class PkiError(Exception):
    """The PKI on disk is inconsistent and cannot be repaired without losing the CA."""


@dataclass(frozen=True)
class Pki:
    """Paths of the cluster's PKI files (all PEM)."""

    tls_dir: Path
    ca_cert: Path
    ca_key: Path
    serving_cert: Path
    serving_key: Path
    admin_cert: Path
    admin_key: Path
    kubelet_client_cert: Path
    kubelet_client_key: Path
    service_account_key: Path

    @classmethod
    def at(cls, data_dir: Path) -> Pki:
        """The paths under ``<data_dir>/tls/``, without creating anything."""
        tls = Path(data_dir) / "tls"
        return cls(
            tls_dir=tls,
            ca_cert=tls / "ca.crt",
            ca_key=tls / "ca.key",
            serving_cert=tls / "serving.crt",
            serving_key=tls / "serving.key",
            admin_cert=tls / "admin.crt",
            admin_key=tls / "admin.key",
            kubelet_client_cert=tls / "apiserver-kubelet-client.crt",
            kubelet_client_key=tls / "apiserver-kubelet-client.key",
            service_account_key=tls / "service-account.key",
        )


# --------------------------------------------------------------------------- public API


def ensure_pki(data_dir: Path, *, hostnames: Sequence[str] = (), ips: Sequence[str] = ()) -> Pki:
    """Create whatever part of the PKI is missing or stale and return its paths.

    ``hostnames`` and ``ips`` are extra SANs for the serving certificate (an entry of
    ``hostnames`` that parses as an IP address counts as an IP). SANs of an existing serving
    certificate are kept when it is reissued, so processes asking for different SANs do not
    undo each other. Safe against concurrent callers (an exclusive lock on ``tls/.lock``).
    """
    pki = Pki.at(data_dir)
    dns_names, ip_addrs = _requested_sans(hostnames, ips)
    pki.tls_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    pki.tls_dir.chmod(0o700)  # an existing install's too
    with _locked(pki):
        ca_cert, ca_key = _ensure_ca(pki)
        _ensure_serving(pki, ca_cert, ca_key, dns_names, ip_addrs)
        _ensure_client(pki.admin_cert, pki.admin_key, ca_cert, ca_key, ADMIN_USER, [ADMIN_GROUP])
        _ensure_client(pki.kubelet_client_cert, pki.kubelet_client_key, ca_cert, ca_key,
                       KUBELET_CLIENT_USER, [ADMIN_GROUP])
        _ensure_service_account_key(pki.service_account_key)
        for key_path in (pki.ca_key, pki.serving_key, pki.admin_key, pki.kubelet_client_key,
                         pki.service_account_key):
            _tighten_mode(key_path)
    return pki


def issue_client_cert(
    pki: Pki, common_name: str, organizations: Sequence[str], dest_dir: Path
) -> tuple[Path, Path]:
    """A client certificate (EKU clientAuth, 1 year) signed by the cluster CA.

    Written to ``dest_dir/<name>.crt`` and ``<name>.key``, where ``<name>`` is the common name
    with characters other than letters, digits, ``.``, ``_`` and ``-`` replaced by ``-``
    (``system:node:n1`` becomes ``system-node-n1``). An existing certificate with the same
    subject that is still valid is reused. Returns ``(cert_path, key_path)``.
    """
    if not common_name:
        raise ValueError("a client certificate needs a common name")
    stem = re.sub(r"[^A-Za-z0-9._-]", "-", common_name)
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    cert_path, key_path = dest_dir / f"{stem}.crt", dest_dir / f"{stem}.key"
    with _locked(pki):
        ca_cert, ca_key = _load_ca(pki)
        _ensure_client(cert_path, key_path, ca_cert, ca_key, common_name, list(organizations))
        _tighten_mode(key_path)
    return cert_path, key_path


def issue_serving_cert(
    pki: Pki, common_name: str, dest_dir: Path, *, hostnames: Sequence[str] = (),
    ips: Sequence[str] = ()
) -> tuple[Path, Path]:
    """A serving certificate (EKU serverAuth) signed by the cluster CA for another
    component, a kubelet say: ``dest_dir/serving.crt`` and ``serving.key``, reissued when
    the SANs asked for are not all in it. Returns ``(cert_path, key_path)``."""
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    cert_path, key_path = dest_dir / "serving.crt", dest_dir / "serving.key"
    dns_names, ip_addrs = _requested_sans(hostnames, ips)
    with _locked(pki):
        ca_cert, ca_key = _load_ca(pki)
        _ensure_serving_at(cert_path, key_path, ca_cert, ca_key, dns_names, ip_addrs,
                           common_name)
        _tighten_mode(key_path)
    return cert_path, key_path


def ensure_service_account_key(data_dir: Path) -> Path:
    """The service-account signing key's path, the key created first if missing: what
    `ensure_pki` does for it, for an API server whose PKI was not otherwise prepared (one
    run in-process by a test)."""
    pki = Pki.at(data_dir)
    pki.tls_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    with _locked(pki):
        _ensure_service_account_key(pki.service_account_key)
        _tighten_mode(pki.service_account_key)
    return pki.service_account_key


def write_kubeconfig(
    path: Path,
    *,
    server: str,
    pki: Pki,
    cert: Path | None = None,
    key: Path | None = None,
    token: str | None = None,
    context: str = "default",
) -> None:
    """Write a kubeconfig as k3s does: CA and client credentials embedded as base64.

    The cluster, user and context are all named ``context`` (``default``). The user presents
    ``cert``/``key`` and/or ``token``; with neither, the admin certificate. Mode 0600,
    written atomically.
    """
    if (cert is None) != (key is None):
        raise ValueError("cert and key must be given together")
    if cert is None and token is None:
        cert, key = pki.admin_cert, pki.admin_key
    user: dict[str, str] = {}
    if cert is not None and key is not None:
        user["client-certificate-data"] = _b64(cert.read_bytes())
        user["client-key-data"] = _b64(key.read_bytes())
    if token is not None:
        user["token"] = token
    config: dict[str, Any] = {
        "apiVersion": "v1",
        "clusters": [
            {
                "cluster": {
                    "certificate-authority-data": _b64(pki.ca_cert.read_bytes()),
                    "server": server,
                },
                "name": context,
            }
        ],
        "contexts": [{"context": {"cluster": context, "user": context}, "name": context}],
        "current-context": context,
        "kind": "Config",
        "preferences": {},
        "users": [{"name": context, "user": user}],
    }
    text = yaml.safe_dump(config, default_flow_style=False, sort_keys=False, width=1 << 20)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text.encode(), _KEY_MODE)


def client_identity(cert_der: bytes) -> tuple[str, list[str]] | None:
    """``(user name, groups)`` of a client certificate: its CN and its O values.

    The chain must already have been verified (by the TLS handshake). ``None`` when the
    certificate cannot be parsed, has no common name, or has an extended key usage that
    does not allow client authentication (as upstream's x509 authenticator).
    """
    try:
        cert = x509.load_der_x509_certificate(cert_der)
        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        orgs = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        usages = _extended_key_usages(cert)
    except ValueError:
        return None
    if not names or not isinstance(names[0].value, str) or not names[0].value:
        return None
    if usages is not None and not usages & {
        ExtendedKeyUsageOID.CLIENT_AUTH,
        ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    }:
        return None
    return names[0].value, [o.value for o in orgs if isinstance(o.value, str)]


def ssl_client_context(
    pki: Pki, *, cert: Path | None = None, key: Path | None = None
) -> ssl.SSLContext:
    """A client context trusting the cluster CA and presenting the admin certificate
    (or ``cert``/``key``). Hostnames are checked."""
    if (cert is None) != (key is None):
        raise ValueError("cert and key must be given together")
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(pki.ca_cert))
    ctx.load_cert_chain(str(cert or pki.admin_cert), str(key or pki.admin_key))
    return ctx


def kubelet_client_context(ca_cert: Path) -> ssl.SSLContext:
    """The API server's context for calling kubelets: trusts the cluster CA at ``ca_cert``
    and presents the kubelet-client certificate kept beside it. Hostnames are checked."""
    pki = Pki.at(Path(ca_cert).parent.parent)  # ca_cert is <data-dir>/tls/ca.crt
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_cert))
    ctx.load_cert_chain(str(pki.kubelet_client_cert), str(pki.kubelet_client_key))
    return ctx


# --------------------------------------------------------------------------- the parts


def _ensure_ca(pki: Pki) -> tuple[x509.Certificate, CertificateIssuerPrivateKeyTypes]:
    has_cert, has_key = pki.ca_cert.exists(), pki.ca_key.exists()
    if has_cert or has_key:
        return _load_ca(pki)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"kybernetes-ca@{int(time.time())}")])
    now = _now()
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        _cert_builder(name, name, key, now, now + CA_VALIDITY, ca=True)
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    # Key first: a certificate never appears on disk without its key.
    write_atomic(pki.ca_key, key_pem(key), _KEY_MODE)
    write_atomic(pki.ca_cert, cert.public_bytes(serialization.Encoding.PEM), _CERT_MODE)
    return cert, key


def _load_ca(pki: Pki) -> tuple[x509.Certificate, CertificateIssuerPrivateKeyTypes]:
    if not pki.ca_cert.exists() or not pki.ca_key.exists():
        missing = pki.ca_key if pki.ca_cert.exists() else pki.ca_cert
        raise PkiError(f"{missing} is missing; refusing to replace an existing CA")
    try:
        cert = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
        key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), password=None)
    except ValueError as e:
        raise PkiError(f"cannot load the CA in {pki.tls_dir}: {e}") from e
    if not isinstance(
        key,
        rsa.RSAPrivateKey
        | ec.EllipticCurvePrivateKey
        | ed25519.Ed25519PrivateKey
        | ed448.Ed448PrivateKey,
    ):
        raise PkiError(f"{pki.ca_key}: unsupported CA key type {type(key).__name__}")
    if spki(cert.public_key()) != spki(key.public_key()):
        raise PkiError(f"{pki.ca_key} does not match {pki.ca_cert}")
    return cert, key


def _ensure_serving(
    pki: Pki,
    ca_cert: x509.Certificate,
    ca_key: CertificateIssuerPrivateKeyTypes,
    dns_names: list[str],
    ip_addrs: list[IPAddress],
) -> None:
    _ensure_serving_at(pki.serving_cert, pki.serving_key, ca_cert, ca_key, dns_names,
                       ip_addrs, SERVING_COMMON_NAME)


def _ensure_serving_at(
    cert_path: Path,
    key_path: Path,
    ca_cert: x509.Certificate,
    ca_key: CertificateIssuerPrivateKeyTypes,
    dns_names: list[str],
    ip_addrs: list[IPAddress],
    common_name: str,
) -> None:
    key = _load_or_new_key(key_path)
    cert = _load_cert(cert_path)
    have_dns: list[str] = []
    have_ips: list[IPAddress] = []
    if cert is not None and _issued_by(cert, ca_cert):
        have_dns, have_ips = _cert_sans(cert)
    fresh = (
        cert is not None
        and _leaf_usable(cert, key, ca_cert, ExtendedKeyUsageOID.SERVER_AUTH)
        and set(dns_names) <= set(have_dns)
        and set(ip_addrs) <= set(have_ips)
    )
    if fresh:
        return
    all_dns = list(dict.fromkeys([*dns_names, *have_dns]))
    all_ips = list(dict.fromkeys([*ip_addrs, *have_ips]))
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in all_dns]
    sans += [x509.IPAddress(ip) for ip in all_ips]
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, common_name),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    new = _sign_leaf(subject, key, ca_cert, ca_key, ExtendedKeyUsageOID.SERVER_AUTH, sans)
    _write_key_if_new(key_path, key)
    write_atomic(cert_path, new.public_bytes(serialization.Encoding.PEM), _CERT_MODE)


def _ensure_client(
    cert_path: Path,
    key_path: Path,
    ca_cert: x509.Certificate,
    ca_key: CertificateIssuerPrivateKeyTypes,
    common_name: str,
    organizations: list[str],
) -> None:
    key = _load_or_new_key(key_path)
    cert = _load_cert(cert_path)
    if (
        cert is not None
        and _leaf_usable(cert, key, ca_cert, ExtendedKeyUsageOID.CLIENT_AUTH)
        and client_identity(cert.public_bytes(serialization.Encoding.DER))
        == (common_name, organizations)
    ):
        return
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    new = _sign_leaf(x509.Name(attrs), key, ca_cert, ca_key, ExtendedKeyUsageOID.CLIENT_AUTH, [])
    _write_key_if_new(key_path, key)
    write_atomic(cert_path, new.public_bytes(serialization.Encoding.PEM), _CERT_MODE)


def _ensure_service_account_key(path: Path) -> None:
    if path.exists():
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except ValueError as e:
            # Replacing it would invalidate every issued token; leave that to a human.
            raise PkiError(f"cannot load the service-account key {path}: {e}") from e
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise PkiError(f"{path}: service-account key must be RSA or EC")
        return
    # RSA 2048 as k3s: RS256 tokens are what every consumer of service-account tokens accepts.
    new = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    write_atomic(path, key_pem(new), _KEY_MODE)


# --------------------------------------------------------------------------- helpers


def _sign_leaf(
    subject: x509.Name,
    key: CertificateIssuerPrivateKeyTypes,
    ca_cert: x509.Certificate,
    ca_key: CertificateIssuerPrivateKeyTypes,
    usage: x509.ObjectIdentifier,
    sans: list[x509.GeneralName],
) -> x509.Certificate:
    now = _now()
    not_after = min(now + LEAF_VALIDITY, ca_cert.not_valid_after_utc)
    builder = (
        _cert_builder(subject, ca_cert.subject, key, now, not_after, ca=False)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(_authority_key_id(ca_cert, ca_key), critical=False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca_key, _hash_for(ca_key))


def _cert_builder(
    subject: x509.Name,
    issuer: x509.Name,
    key: CertificateIssuerPrivateKeyTypes,
    now: dt.datetime,
    not_after: dt.datetime,
    *,
    ca: bool,
) -> x509.CertificateBuilder:
    """What the CA and every leaf share: a random serial, validity from a little before
    `now`, basic constraints and key usage. A CA signs certificates and CRLs; a leaf with an
    RSA key may also encipher keys (RSA key exchange)."""
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=not ca and isinstance(key, rsa.RSAPrivateKey),
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )


def _authority_key_id(
    ca_cert: x509.Certificate, ca_key: CertificateIssuerPrivateKeyTypes
) -> x509.AuthorityKeyIdentifier:
    try:
        ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except (x509.ExtensionNotFound, ValueError):
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _leaf_usable(
    cert: x509.Certificate,
    key: CertificateIssuerPrivateKeyTypes,
    ca_cert: x509.Certificate,
    usage: x509.ObjectIdentifier,
) -> bool:
    """Signed by the CA, matching the key, allowing ``usage``, and not about to expire."""
    now = _now()
    try:
        usages = _extended_key_usages(cert)
    except ValueError:
        return False
    return (
        _issued_by(cert, ca_cert)
        and spki(cert.public_key()) == spki(key.public_key())
        and cert.not_valid_before_utc <= now + _BACKDATE
        and cert.not_valid_after_utc - now > RENEW_BEFORE
        and (usages is None or usage in usages)
    )


def _issued_by(cert: x509.Certificate, ca_cert: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _extended_key_usages(cert: x509.Certificate) -> set[x509.ObjectIdentifier] | None:
    try:
        ext = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        return None
    return set(ext.value)


def _cert_sans(cert: x509.Certificate) -> tuple[list[str], list[IPAddress]]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except (x509.ExtensionNotFound, ValueError):
        return [], []
    dns = [d.lower() for d in ext.value.get_values_for_type(x509.DNSName)]
    ips = [
        ip
        for ip in ext.value.get_values_for_type(x509.IPAddress)
        if isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address)
    ]
    return dns, ips


def _requested_sans(
    hostnames: Sequence[str], ips: Sequence[str]
) -> tuple[list[str], list[IPAddress]]:
    dns: list[str] = list(DEFAULT_DNS_NAMES)
    addrs: list[IPAddress] = [ipaddress.ip_address(ip) for ip in DEFAULT_IPS]
    for raw in [socket.gethostname(), *hostnames]:
        name = raw.strip().rstrip(".").lower()
        if not name:
            continue
        try:
            addrs.append(ipaddress.ip_address(name.strip("[]")))
        except ValueError:
            dns.append(name)
    for raw in ips:
        try:
            addrs.append(ipaddress.ip_address(raw.strip().strip("[]")))
        except ValueError as e:
            raise ValueError(f"not an IP address: {raw!r}") from e
    return list(dict.fromkeys(dns)), list(dict.fromkeys(addrs))


def _load_cert(path: Path) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None


def _load_or_new_key(path: Path) -> CertificateIssuerPrivateKeyTypes:
    """The key in ``path`` if usable (reissuing with the same key keeps a running server's
    cert/key pair consistent while files are replaced), else a new EC P-256 key."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return ec.generate_private_key(ec.SECP256R1())
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        return key
    return ec.generate_private_key(ec.SECP256R1())


def _write_key_if_new(path: Path, key: CertificateIssuerPrivateKeyTypes) -> None:
    try:
        current = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if spki(current.public_key()) == spki(key.public_key()):
            return
    except (OSError, ValueError, TypeError):
        pass
    write_atomic(path, key_pem(key), _KEY_MODE)


def _hash_for(key: CertificateIssuerPrivateKeyTypes) -> hashes.SHA256 | None:
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return None
    return hashes.SHA256()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _tighten_mode(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        if path.stat().st_mode & 0o777 != _KEY_MODE:
            path.chmod(_KEY_MODE)


@contextlib.contextmanager
def _locked(pki: Pki) -> Iterator[None]:
    fd = os.open(pki.tls_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
