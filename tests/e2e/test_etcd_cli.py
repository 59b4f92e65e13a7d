"""`kyb server` / `kyb apiserver` storage flags: `--storage etcd://h1,h2,...` with
`--etcd-cafile`, `--etcd-certfile` and `--etcd-keyfile` (kube-apiserver's flags) against an
etcd that requires client certificates."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kybernetes.apiserver.pki import ensure_pki, issue_client_cert
from tests.e2e.cluster import Server, etcd_storage_args
from tests.etcd_cluster import EtcdCluster, EtcdTLS, etcd_binary

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("command", ["server", "apiserver"])
def test_help_names_both_backends_and_the_etcd_tls_flags(command: str) -> None:
    result = subprocess.run([sys.executable, "-m", "kybernetes.cli.main", command, "--help"],
                            capture_output=True, text=True, timeout=60, check=True)
    text = " ".join(result.stdout.split())
    for expected in ("sqlite://", "etcd://", "--etcd-cafile", "--etcd-certfile",
                     "--etcd-keyfile"):
        assert expected in text, (expected, result.stdout)


@pytest.mark.skipif(etcd_binary() is None, reason="etcd binary not found: install Debian's "
                    "etcd-server to run the etcd CLI test")
def test_apiserver_on_an_etcd_with_client_certificates(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path / "etcd-pki", ips=["127.0.0.1"])
    cert, key = issue_client_cert(pki, "kube-apiserver-etcd-client", [], tmp_path / "client")
    tls = EtcdTLS(pki.ca_cert, pki.serving_cert, pki.serving_key, cert, key)
    with EtcdCluster(tmp_path / "etcd", size=3, tls=tls) as cluster:
        data_dir = tmp_path / "kyb"
        data_dir.mkdir()
        server = Server(data_dir, command="apiserver", extra_args=[
            *etcd_storage_args(cluster.endpoints), "--etcd-cafile", str(pki.ca_cert),
            "--etcd-certfile", str(cert), "--etcd-keyfile", str(key)])
        server.start()
        try:
            with server.client() as api:
                created = api.post("/api/v1/namespaces/default/configmaps", json={
                    "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "tls"},
                    "data": {"k": "v"}})
                assert created.status_code == 201, created.text
                got = api.get("/api/v1/namespaces/default/configmaps/tls")
                assert got.status_code == 200 and got.json()["data"] == {"k": "v"}
        finally:
            server.stop()


def test_etcd_tls_flags_need_an_etcd_storage(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kybernetes.cli.main", "apiserver", "--data-dir",
         str(tmp_path), "--bind-address", "127.0.0.1", "--etcd-cafile", str(tmp_path / "ca")],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr == ("kyb apiserver: error: --etcd-cafile needs --storage "
                             "etcd://HOST:PORT (storage is SQLite)\n")
