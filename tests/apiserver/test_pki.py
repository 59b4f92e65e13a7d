"""Tests for the cluster PKI and kubeconfig writer."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import json
import re
import shutil
import socket
import ssl
import stat
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kybernetes.apiserver import pki as pki_mod
from kybernetes.apiserver.pki import (
    Pki,
    PkiError,
    client_identity,
    ensure_pki,
    issue_client_cert,
    ssl_client_context,
    write_kubeconfig,
)

KEY_FILES = ("ca.key", "serving.key", "admin.key", "service-account.key")
ALL_FILES = ("ca.crt", "serving.crt", "admin.crt", *KEY_FILES)


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("base")
    ensure_pki(data_dir)
    return data_dir


@pytest.fixture
def data_dir(base_dir: Path, tmp_path: Path) -> Path:
    """A private copy of a generated PKI (saves generating keys in every test)."""
    dest = tmp_path / "data"
    shutil.copytree(base_dir, dest)
    return dest


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _sans(path: Path) -> tuple[set[str], set[str]]:
    ext = _cert(path).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return (
        set(ext.get_values_for_type(x509.DNSName)),
        {str(ip) for ip in ext.get_values_for_type(x509.IPAddress)},
    )


def _eku(path: Path) -> list[x509.ObjectIdentifier]:
    return list(_cert(path).extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def _snapshot(pki: Pki) -> dict[str, bytes]:
    return {name: (pki.tls_dir / name).read_bytes() for name in ALL_FILES}


def _der(path: Path) -> bytes:
    return _cert(path).public_bytes(serialization.Encoding.DER)


# --------------------------------------------------------------------------- generation


def test_generates_all_files(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path)
    assert pki == Pki.at(tmp_path)
    assert pki.tls_dir == tmp_path / "tls"
    for name in ALL_FILES:
        assert (tmp_path / "tls" / name).is_file()
    for name in KEY_FILES:
        assert stat.S_IMODE((tmp_path / "tls" / name).stat().st_mode) == 0o600
        assert b"PRIVATE KEY-----" in (tmp_path / "tls" / name).read_bytes()
    for name in ("ca.crt", "serving.crt", "admin.crt"):
        assert (tmp_path / "tls" / name).read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert not list(pki.tls_dir.glob("*.tmp"))


def test_ca(data_dir: Path) -> None:
    pki = Pki.at(data_dir)
    ca = _cert(pki.ca_cert)
    cn = ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert isinstance(cn, str)
    assert re.fullmatch(r"kybernetes-ca@\d+", cn)
    assert ca.issuer == ca.subject
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    key = ca.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert key.curve.name == "secp256r1"
    lifetime = ca.not_valid_after_utc - ca.not_valid_before_utc
    assert dt.timedelta(days=3640) < lifetime < dt.timedelta(days=3660)
    ca.verify_directly_issued_by(ca)


def test_serving_cert(data_dir: Path) -> None:
    pki = Pki.at(data_dir)
    cert = _cert(pki.serving_cert)
    cert.verify_directly_issued_by(_cert(pki.ca_cert))
    dns, ips = _sans(pki.serving_cert)
    assert {
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        socket.gethostname().lower(),
    } <= dns
    assert {"127.0.0.1", "::1", "10.43.0.1"} <= ips
    assert _eku(pki.serving_cert) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert dt.timedelta(days=364) < lifetime < dt.timedelta(days=366)


def test_admin_cert(data_dir: Path) -> None:
    pki = Pki.at(data_dir)
    _cert(pki.admin_cert).verify_directly_issued_by(_cert(pki.ca_cert))
    assert _eku(pki.admin_cert) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert client_identity(_der(pki.admin_cert)) == ("system:admin", ["system:masters"])


def test_service_account_key(data_dir: Path) -> None:
    key = serialization.load_pem_private_key(
        Pki.at(data_dir).service_account_key.read_bytes(), password=None
    )
    assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)


# --------------------------------------------------------------------------- reuse


def test_idempotent(data_dir: Path) -> None:
    pki = Pki.at(data_dir)
    before = _snapshot(pki)
    assert ensure_pki(data_dir) == pki
    assert _snapshot(pki) == before


def test_concurrent_first_start(tmp_path: Path) -> None:
    results: list[bytes] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(ensure_pki(tmp_path).ca_cert.read_bytes())
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(results)) == 1
    assert results[0] == (tmp_path / "tls" / "ca.crt").read_bytes()


def test_san_reissue_keeps_ca_and_key(data_dir: Path) -> None:
    pki = Pki.at(data_dir)
    before = _snapshot(pki)
    ensure_pki(data_dir, hostnames=["API.Example.com", "192.0.2.7"], ips=["192.0.2.10"])
    after = _snapshot(pki)
    for name in ("ca.crt", "ca.key", "serving.key", "admin.crt", "admin.key"):
        assert after[name] == before[name], name
    assert after["serving.crt"] != before["serving.crt"]
    dns, ips = _sans(pki.serving_cert)
    assert "api.example.com" in dns
    assert {"192.0.2.7", "192.0.2.10", "127.0.0.1", "10.43.0.1"} <= ips
    assert "kubernetes.default.svc.cluster.local" in dns
    _cert(pki.serving_cert).verify_directly_issued_by(_cert(pki.ca_cert))

    # Asking for a subset again changes nothing; the earlier SANs stay.
    ensure_pki(data_dir, ips=["192.0.2.10"])
    ensure_pki(data_dir)
    assert _snapshot(pki) == after


def test_invalid_ip_rejected(data_dir: Path) -> None:
    with pytest.raises(ValueError):
        ensure_pki(data_dir, ips=["not-an-ip"])


def test_renews_leaf_near_expiry(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pki = Pki.at(data_dir)
    pki.serving_cert.unlink()
    pki.admin_cert.unlink()
    monkeypatch.setattr(pki_mod, "LEAF_VALIDITY", dt.timedelta(days=30))
    ensure_pki(data_dir)
    short = _snapshot(pki)
    monkeypatch.undo()
    ensure_pki(data_dir)
    renewed = _snapshot(pki)
    assert renewed["ca.crt"] == short["ca.crt"]
    assert renewed["serving.crt"] != short["serving.crt"]
    assert renewed["admin.crt"] != short["admin.crt"]
    left = _cert(pki.serving_cert).not_valid_after_utc - dt.datetime.now(dt.UTC)
    assert left > dt.timedelta(days=300)


def test_reissues_leaf_from_foreign_ca(data_dir: Path, tmp_path: Path) -> None:
    other = ensure_pki(tmp_path / "other")
    pki = Pki.at(data_dir)
    shutil.copy(other.serving_cert, pki.serving_cert)
    shutil.copy(other.serving_key, pki.serving_key)
    ensure_pki(data_dir)
    _cert(pki.serving_cert).verify_directly_issued_by(_cert(pki.ca_cert))


def test_never_replaces_partial_ca(data_dir: Path) -> None:
    pki = Pki.at(data_dir)
    ca = pki.ca_cert.read_bytes()
    pki.ca_key.unlink()
    with pytest.raises(PkiError):
        ensure_pki(data_dir)
    assert pki.ca_cert.read_bytes() == ca
    assert not pki.ca_key.exists()


def test_mismatched_ca_key_rejected(data_dir: Path, tmp_path: Path) -> None:
    other = ensure_pki(tmp_path / "other")
    shutil.copy(other.ca_key, Pki.at(data_dir).ca_key)
    with pytest.raises(PkiError):
        ensure_pki(data_dir)


def test_tightens_key_modes(data_dir: Path) -> None:
    pki = Pki.at(data_dir)
    pki.admin_key.chmod(0o644)
    ensure_pki(data_dir)
    assert stat.S_IMODE(pki.admin_key.stat().st_mode) == 0o600


# --------------------------------------------------------------------------- client certs


def test_issue_client_cert(data_dir: Path, tmp_path: Path) -> None:
    pki = Pki.at(data_dir)
    dest = tmp_path / "agent"
    cert, key = issue_client_cert(pki, "system:node:n1", ["system:nodes"], dest)
    assert (cert, key) == (dest / "system-node-n1.crt", dest / "system-node-n1.key")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    _cert(cert).verify_directly_issued_by(_cert(pki.ca_cert))
    assert _eku(cert) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert client_identity(_der(cert)) == ("system:node:n1", ["system:nodes"])

    # Reused when still valid and for the same subject; reissued for a new subject.
    cert_bytes, key_bytes = cert.read_bytes(), key.read_bytes()
    issue_client_cert(pki, "system:node:n1", ["system:nodes"], dest)
    assert cert.read_bytes() == cert_bytes
    issue_client_cert(pki, "system:node:n1", ["system:nodes", "extra"], dest)
    assert cert.read_bytes() != cert_bytes
    assert key.read_bytes() == key_bytes
    assert client_identity(_der(cert)) == ("system:node:n1", ["system:nodes", "extra"])

    cert2, _ = issue_client_cert(pki, "system:kube-scheduler", [], dest)
    assert client_identity(_der(cert2)) == ("system:kube-scheduler", [])
    with pytest.raises(ValueError):
        issue_client_cert(pki, "", [], dest)


def test_client_identity_rejects(data_dir: Path) -> None:
    pki = Pki.at(data_dir)
    assert client_identity(b"not a certificate") is None
    assert client_identity(_der(pki.serving_cert)) is None  # serverAuth only

    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    no_cn = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "g")]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    assert client_identity(no_cn.public_bytes(serialization.Encoding.DER)) is None


# --------------------------------------------------------------------------- kubeconfig


def test_kubeconfig(data_dir: Path, tmp_path: Path) -> None:
    pki = Pki.at(data_dir)
    path = tmp_path / "kube" / "kubeconfig.yaml"
    write_kubeconfig(path, server="https://127.0.0.1:6443", pki=pki)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not list(path.parent.glob("*.tmp"))
    config = yaml.safe_load(path.read_text())
    assert config["apiVersion"] == "v1"
    assert config["kind"] == "Config"
    assert config["current-context"] == "default"
    assert config["clusters"] == [
        {
            "cluster": {
                "certificate-authority-data": base64.b64encode(pki.ca_cert.read_bytes()).decode(),
                "server": "https://127.0.0.1:6443",
            },
            "name": "default",
        }
    ]
    assert config["contexts"] == [
        {"context": {"cluster": "default", "user": "default"}, "name": "default"}
    ]
    [user] = config["users"]
    assert user["name"] == "default"
    assert base64.b64decode(user["user"]["client-certificate-data"]) == pki.admin_cert.read_bytes()
    assert base64.b64decode(user["user"]["client-key-data"]) == pki.admin_key.read_bytes()

    # Overwriting is atomic and keeps the mode.
    write_kubeconfig(path, server="https://10.0.0.5:6443", pki=pki, token="abc", context="c1")
    config = yaml.safe_load(path.read_text())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert config["current-context"] == "c1"
    assert config["clusters"][0]["cluster"]["server"] == "https://10.0.0.5:6443"
    assert config["users"] == [{"name": "c1", "user": {"token": "abc"}}]

    with pytest.raises(ValueError):
        write_kubeconfig(path, server="https://x", pki=pki, cert=pki.admin_cert)


def _context_from_kubeconfig(path: Path, scratch: Path) -> ssl.SSLContext:
    """What a client does with a kubeconfig: trust its CA, present its certificate."""
    config = yaml.safe_load(path.read_text())
    cluster = config["clusters"][0]["cluster"]
    user = config["users"][0]["user"]
    ctx = ssl.create_default_context(
        cadata=base64.b64decode(cluster["certificate-authority-data"]).decode()
    )
    scratch.mkdir(exist_ok=True)
    (scratch / "c.crt").write_bytes(base64.b64decode(user["client-certificate-data"]))
    (scratch / "c.key").write_bytes(base64.b64decode(user["client-key-data"]))
    ctx.load_cert_chain(scratch / "c.crt", scratch / "c.key")
    return ctx


# --------------------------------------------------------------------------- TLS


@contextlib.asynccontextmanager
async def _tls_server(pki: Pki) -> AsyncIterator[int]:
    """A TLS server on 127.0.0.1 requiring a client certificate from the cluster CA; it
    answers each connection with the client's identity as JSON."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki.ca_cert))
    ctx.load_cert_chain(pki.serving_cert, pki.serving_key)
    ctx.verify_mode = ssl.CERT_REQUIRED

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        writer.write(json.dumps(client_identity(der)).encode() + b"\n")
        await writer.drain()
        writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def _whoami(port: int, ctx: ssl.SSLContext, hostname: str) -> object:
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname=hostname), 10
    )
    try:
        line = await asyncio.wait_for(reader.readline(), 10)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await writer.wait_closed()
    return json.loads(line) if line else None


async def test_tls_handshake(data_dir: Path, tmp_path: Path) -> None:
    pki = Pki.at(data_dir)
    node_cert, node_key = issue_client_cert(pki, "system:node:n1", ["system:nodes"], tmp_path)
    kubeconfig = tmp_path / "kubeconfig.yaml"
    write_kubeconfig(kubeconfig, server="https://127.0.0.1:6443", pki=pki)

    async with _tls_server(pki) as port:
        ctx = ssl_client_context(pki)
        assert ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED
        for hostname in ("127.0.0.1", "localhost", "kubernetes.default.svc"):
            assert await _whoami(port, ctx, hostname) == ["system:admin", ["system:masters"]]

        node_ctx = ssl_client_context(pki, cert=node_cert, key=node_key)
        assert await _whoami(port, node_ctx, "localhost") == ["system:node:n1", ["system:nodes"]]

        kube_ctx = _context_from_kubeconfig(kubeconfig, tmp_path / "scratch")
        assert await _whoami(port, kube_ctx, "127.0.0.1") == ["system:admin", ["system:masters"]]

        # The server's name is checked.
        with pytest.raises(ssl.SSLCertVerificationError):
            await _whoami(port, ctx, "example.com")

        # A client without a certificate is refused (with TLS 1.3 only after the handshake).
        anon = ssl.create_default_context(cafile=str(pki.ca_cert))
        try:
            result = await _whoami(port, anon, "localhost")
        except (ssl.SSLError, ConnectionError):
            result = None
        assert result is None


async def test_tls_rejects_foreign_ca(data_dir: Path, tmp_path: Path) -> None:
    pki = Pki.at(data_dir)
    other = ensure_pki(tmp_path / "other")
    async with _tls_server(pki) as port:
        # A client trusting another cluster's CA does not accept this server...
        with pytest.raises(ssl.SSLCertVerificationError):
            await _whoami(port, ssl_client_context(other), "localhost")
        # ...and this server does not accept that cluster's admin.
        mixed = ssl_client_context(pki, cert=other.admin_cert, key=other.admin_key)
        try:
            result = await _whoami(port, mixed, "localhost")
        except (ssl.SSLError, ConnectionError):
            result = None
        assert result is None
