"""Secrets at rest and safe defaults, end to end: a real `kyb apiserver` with
`--encryption-provider-config`, the real kubectl, and the bytes it leaves on disk (SQLite)
or in etcd; the documented key rotation across restarts; the modes of the data dir's files;
TLS 1.2 as the least a client may speak, to the API server and to the kubelet."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import sqlite3
import ssl
import stat
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kybernetes.apiserver.pki import Pki, ensure_pki
from kybernetes.kubelet.server import KubeletServer
from tests.e2e.cluster import Kubectl, Server, etcd_storage_args, wipe_etcd
from tests.etcd_cluster import EtcdCluster
from tests.kubelet.streamhost import LocalHost

pytestmark = pytest.mark.e2e

KEY1 = base64.b64encode(bytes(range(32))).decode()
KEY2 = base64.b64encode(bytes(range(64, 96))).decode()


def encryption_config(path: Path, *providers: dict[str, Any]) -> Path:
    path.write_text(json.dumps({
        "apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
        "resources": [{"resources": ["secrets"], "providers": list(providers)}]}))
    return path


def aescbc(*keys: tuple[str, str]) -> dict[str, Any]:
    return {"aescbc": {"keys": [{"name": name, "secret": secret} for name, secret in keys]}}


IDENTITY: dict[str, Any] = {"identity": {}}


@contextlib.contextmanager
def apiserver(data_dir: Path, *args: str) -> Iterator[Server]:
    server = Server(data_dir, command="apiserver", extra_args=list(args))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def stored_secrets(data_dir: Path) -> dict[str, bytes]:
    """The live values of every Secret, as the SQLite file holds them."""
    with contextlib.closing(sqlite3.connect(data_dir / "state.db")) as db:
        rows = db.execute("SELECT key, value FROM current WHERE key LIKE '/registry/secrets/%'")
        return {key.rsplit("/", 1)[1]: bytes(value) for key, value in rows}


def disk_bytes(data_dir: Path) -> bytes:
    """Everything the SQLite database has on disk: the file and its write-ahead log."""
    return b"".join(p.read_bytes() for p in (data_dir / "state.db", data_dir / "state.db-wal")
                    if p.exists())


def secret_value(kubectl: Kubectl, name: str) -> str:
    encoded = kubectl("get", "secret", name, "-o", "jsonpath={.data.password}")
    return base64.b64decode(encoded).decode()


def rewrite_all_secrets(kubectl: Kubectl) -> None:
    """Upstream's documented step: `kubectl get secrets -A -o json | kubectl replace -f -`
    (kubectl validates the List against /openapi/v2 in protobuf)."""
    listed = kubectl("get", "secrets", "--all-namespaces", "-o", "json")
    kubectl("replace", "-f", "-", input=listed)


def test_secrets_are_encrypted_on_disk_and_survive_key_rotation(tmp_path: Path) -> None:
    data = tmp_path / "kyb"
    data.mkdir()
    kubectl = Kubectl(data / "kubeconfig.yaml")
    # A Secret from before encryption was turned on.
    with apiserver(data):
        kubectl("create", "secret", "generic", "before", "--from-literal=password=old-plain-9f3e")
    assert stored_secrets(data)["before"].startswith(b"{")

    # Encryption on: new Secrets are written with key1, the old one is still readable.
    config = encryption_config(tmp_path / "enc1.json", aescbc(("key1", KEY1)), IDENTITY)
    with apiserver(data, "--encryption-provider-config", str(config)):
        kubectl("create", "secret", "generic", "fresh", "--from-literal=password=s3cr3t-7c1d")
        kubectl("create", "configmap", "visible", "--from-literal=note=plain-config-5b2a")
        stored = stored_secrets(data)
        assert stored["fresh"].startswith(b"k8s:enc:aescbc:v1:key1:")
        on_disk = disk_bytes(data)
        for clear in (b"s3cr3t-7c1d", base64.b64encode(b"s3cr3t-7c1d")):
            assert clear not in on_disk
        # Only Secrets are configured: a ConfigMap stays readable on disk (the check sees
        # clear text where there is some).
        assert b"plain-config-5b2a" in on_disk
        assert secret_value(kubectl, "fresh") == "s3cr3t-7c1d"
        assert secret_value(kubectl, "before") == "old-plain-9f3e"
        rewrite_all_secrets(kubectl)
        assert all(v.startswith(b"k8s:enc:aescbc:v1:key1:")
                   for v in stored_secrets(data).values())

    # Rotation: the new key first, restart, rewrite every Secret, then drop the old key.
    config = encryption_config(tmp_path / "enc2.json", aescbc(("key2", KEY2), ("key1", KEY1)),
                               IDENTITY)
    with apiserver(data, "--encryption-provider-config", str(config)):
        assert secret_value(kubectl, "fresh") == "s3cr3t-7c1d"
        rewrite_all_secrets(kubectl)
        assert all(v.startswith(b"k8s:enc:aescbc:v1:key2:")
                   for v in stored_secrets(data).values())
    config = encryption_config(tmp_path / "enc3.json", aescbc(("key2", KEY2)))
    with apiserver(data, "--encryption-provider-config", str(config)):
        assert secret_value(kubectl, "fresh") == "s3cr3t-7c1d"
        assert secret_value(kubectl, "before") == "old-plain-9f3e"


def test_an_invalid_configuration_stops_the_server(tmp_path: Path) -> None:
    config = encryption_config(tmp_path / "enc.json", aescbc(("key1", "c2hvcnQ=")))
    server = Server(tmp_path, command="apiserver",
                    extra_args=["--encryption-provider-config", str(config)])
    with pytest.raises(RuntimeError) as refused:
        server.start()
    assert "secret is not of the expected length, got 5, expected one of [16 24 32]" in \
        str(refused.value)


def test_secrets_are_encrypted_in_etcd(tmp_path: Path, e2e_etcd: EtcdCluster) -> None:
    wipe_etcd(e2e_etcd.endpoints[0])
    config = encryption_config(tmp_path / "enc.json", {"secretbox": {"keys": [
        {"name": "box1", "secret": KEY1}]}})
    data = tmp_path / "kyb"
    data.mkdir()
    with apiserver(data, *etcd_storage_args(e2e_etcd.endpoints),
                   "--encryption-provider-config", str(config)):
        kubectl = Kubectl(data / "kubeconfig.yaml")
        kubectl("create", "secret", "generic", "in-etcd", "--from-literal=password=etcd-8d4c")
        raw = etcd_value(e2e_etcd.endpoints[0], "/registry/secrets/default/in-etcd")
        assert raw.startswith(b"k8s:enc:secretbox:v1:box1:")
        assert b"etcd-8d4c" not in raw and base64.b64encode(b"etcd-8d4c") not in raw
        assert secret_value(kubectl, "in-etcd") == "etcd-8d4c"


def etcd_value(endpoint: str, key: str) -> bytes:
    """The value etcd holds under `key`, read with etcd's own API."""
    import grpc  # type: ignore[import-untyped]
    from aetcd import rpc  # type: ignore[import-untyped]

    async def read() -> bytes:
        async with grpc.aio.insecure_channel(endpoint) as channel:
            found = await rpc.KVStub(channel).Range(rpc.RangeRequest(key=key.encode()),
                                                    timeout=10)
            return bytes(found.kvs[0].value)

    return asyncio.run(read())


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _private_files(data: Path) -> list[Path]:
    """What only the owner may read: the state, every key, the node token, the admin
    kubeconfig."""
    files = [data / "state.db", data / "kubeconfig.yaml", data / "token",
             *sorted((data / "tls").glob("*.key"))]
    return [p for p in files if p.exists()]


def test_the_data_dir_is_private_also_on_an_existing_install(tmp_path: Path) -> None:
    data = tmp_path / "kyb"
    data.mkdir(mode=0o755)
    with apiserver(data):
        assert _mode(data) == 0o700
        files = _private_files(data)
        assert {p.name for p in files} >= {"state.db", "kubeconfig.yaml", "token",
                                           "ca.key", "serving.key", "admin.key"}
        wal = [data / "state.db-wal", data / "state.db-shm"]
        assert all(p.exists() for p in wal)
        assert {p.name: _mode(p) for p in files + wal} == {p.name: 0o600 for p in files + wal}
    # An install of before: everything world-readable. A start puts it right.
    data.chmod(0o755)
    (data / "tls").chmod(0o755)
    for path in _private_files(data):
        path.chmod(0o644)
    with apiserver(data):
        assert _mode(data) == 0o700
        assert _mode(data / "tls") == 0o700
        files = _private_files(data)
        assert {p.name: _mode(p) for p in files} == {p.name: 0o600 for p in files}


def _handshake(port: int, ca: Path, newest: ssl.TLSVersion) -> str:
    """The TLS version agreed with a client that speaks at most `newest` (and, to show the
    refusal is the server's, down to TLS 1.0)."""
    context = ssl.create_default_context(cafile=str(ca))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = newest
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        return str(tls.version())


def _assert_tls12_minimum(port: int, ca: Path) -> None:
    assert _handshake(port, ca, ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
    # Refused: a protocol-version alert, or the connection closed mid-handshake.
    with pytest.raises(ssl.SSLError), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        _handshake(port, ca, ssl.TLSVersion.TLSv1_1)


def test_the_api_server_speaks_tls_1_2_or_newer(tmp_path: Path) -> None:
    with apiserver(tmp_path) as server:
        _assert_tls12_minimum(server.port, Pki.at(tmp_path).ca_cert)


async def test_the_kubelet_speaks_tls_1_2_or_newer(tmp_path: Path) -> None:
    pki = await asyncio.to_thread(ensure_pki, tmp_path / "pki", ips=["127.0.0.1"])
    host = LocalHost(tmp_path / "pods")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    serving = asyncio.create_task(KubeletServer(host).serve(
        sock, cert_file=pki.serving_cert, key_file=pki.serving_key))
    try:
        # The socket listens already: the handshake waits for the server to take it.
        await asyncio.to_thread(_assert_tls12_minimum, sock.getsockname()[1], pki.ca_cert)
    finally:
        host.stop()
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
