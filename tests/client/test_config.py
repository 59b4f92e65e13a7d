"""kubeconfig and in-cluster config parsing, and the TLS context they produce."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path

import pytest
import yaml

from kybernetes.apiserver.pki import ensure_pki, write_kubeconfig
from kybernetes.client.config import (
    ConfigError,
    in_cluster,
    kubeconfig_from_dict,
    load_config,
    load_incluster_config,
    load_kubeconfig,
)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_kyb_server_kubeconfig_round_trip(tmp_path: Path) -> None:
    """The kubeconfig `kyb server` writes: embedded CA and admin cert load into TLS."""
    pki = ensure_pki(tmp_path)
    path = tmp_path / "kubeconfig.yaml"
    write_kubeconfig(path, server="https://127.0.0.1:6443", pki=pki)
    cfg = load_kubeconfig(path)
    assert cfg.server == "https://127.0.0.1:6443"
    assert cfg.namespace == "default"
    assert cfg.ca_data == pki.ca_cert.read_bytes()
    assert cfg.cert_data == pki.admin_cert.read_bytes()
    assert cfg.key_data == pki.admin_key.read_bytes()
    ctx = cfg.ssl_context()
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert len(ctx.get_ca_certs()) == 1, "the cluster CA replaces the system roots"


def test_contexts_files_relative_to_kubeconfig_and_tokens(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path / "pki")
    (tmp_path / "certs").mkdir()
    for src, name in ((pki.ca_cert, "ca.crt"), (pki.admin_cert, "me.crt"),
                      (pki.admin_key, "me.key")):
        (tmp_path / "certs" / name).write_bytes(src.read_bytes())
    (tmp_path / "token").write_text("file-token\n")
    doc = {
        "apiVersion": "v1", "kind": "Config", "current-context": "dev",
        "clusters": [
            {"name": "dev", "cluster": {"server": "https://dev:6443/",
                                        "certificate-authority": "certs/ca.crt"}},
            {"name": "prod", "cluster": {"server": "https://prod:6443",
                                         "insecure-skip-tls-verify": True,
                                         "tls-server-name": "api.prod"}},
        ],
        "users": [
            {"name": "cert-user", "user": {"client-certificate": "certs/me.crt",
                                           "client-key": "certs/me.key"}},
            {"name": "token-user", "user": {"token": "abc"}},
            {"name": "file-user", "user": {"tokenFile": "token"}},
        ],
        "contexts": [
            {"name": "dev", "context": {"cluster": "dev", "user": "cert-user",
                                        "namespace": "team"}},
            {"name": "prod", "context": {"cluster": "prod", "user": "token-user"}},
            {"name": "file", "context": {"cluster": "dev", "user": "file-user"}},
        ],
    }
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(doc))
    dev = load_kubeconfig(path)
    assert dev.server == "https://dev:6443"
    assert dev.namespace == "team"
    assert dev.ca_file == str(tmp_path / "certs" / "ca.crt")
    assert dev.cert_file == str(tmp_path / "certs" / "me.crt")
    dev.ssl_context()
    prod = load_kubeconfig(path, context="prod")
    assert prod.token == "abc" and prod.bearer_token() == "abc"
    assert prod.insecure_skip_tls_verify and prod.tls_server_name == "api.prod"
    assert prod.ssl_context().verify_mode == ssl.CERT_NONE
    assert load_kubeconfig(path, context="file").bearer_token() == "file-token"
    with pytest.raises(ConfigError, match="not found"):
        load_kubeconfig(path, context="missing")


def test_kubeconfig_env_merges_files_first_wins(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    first = {"current-context": "a",
             "clusters": [{"name": "c", "cluster": {"server": "https://first"}}],
             "users": [{"name": "u", "user": {"token": "t1"}}],
             "contexts": [{"name": "a", "context": {"cluster": "c", "user": "u"}}]}
    second = {"current-context": "b",
              "clusters": [{"name": "c", "cluster": {"server": "https://second"}},
                           {"name": "d", "cluster": {"server": "https://other"}}],
              "contexts": [{"name": "b", "context": {"cluster": "d", "user": "u"}}]}
    (tmp_path / "one").write_text(yaml.safe_dump(first))
    (tmp_path / "two").write_text(yaml.safe_dump(second))
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'one'}:{tmp_path / 'missing'}:"
                                     f"{tmp_path / 'two'}")
    cfg = load_kubeconfig()
    assert cfg.server == "https://first" and cfg.token == "t1"
    assert load_kubeconfig(context="b").server == "https://other"


def test_invalid_kubeconfigs_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_kubeconfig(tmp_path / "nope")
    with pytest.raises(ConfigError, match="current-context"):
        kubeconfig_from_dict({"contexts": []})
    with pytest.raises(ConfigError, match="not supported"):
        kubeconfig_from_dict({
            "current-context": "x",
            "clusters": [{"name": "c", "cluster": {"server": "https://s"}}],
            "users": [{"name": "u", "user": {"exec": {"command": "aws"}}}],
            "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}]})
    cfg = kubeconfig_from_dict({
        "current-context": "x",
        "clusters": [{"name": "c", "cluster": {"server": "https://s"}}],
        "users": [{"name": "u", "user": {"client-certificate-data": _b64(b"only cert")}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}]})
    with pytest.raises(ConfigError, match="both"):
        cfg.ssl_context()


def test_in_cluster_config(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path / "pki")
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text("sa-token")
    (sa / "ca.crt").write_bytes(pki.ca_cert.read_bytes())
    (sa / "namespace").write_text("kube-system")
    env = {"KUBERNETES_SERVICE_HOST": "10.43.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    assert in_cluster(env, sa)
    cfg = load_incluster_config(env, sa)
    assert cfg.server == "https://10.43.0.1:443"
    assert cfg.namespace == "kube-system"
    assert cfg.bearer_token() == "sa-token"
    (sa / "token").write_text("rotated")
    assert cfg.bearer_token() == "rotated", "the token file is re-read (it rotates)"
    cfg.ssl_context()
    v6 = load_incluster_config({"KUBERNETES_SERVICE_HOST": "fd00::1",
                                "KUBERNETES_SERVICE_PORT": "443"}, sa)
    assert v6.server == "https://[fd00::1]:443"
    assert not in_cluster({}, sa)
    with pytest.raises(ConfigError):
        load_incluster_config({}, sa)


def test_load_config_prefers_an_explicit_kubeconfig(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path)
    write_kubeconfig(tmp_path / "kc", server="https://x:1", pki=pki)
    assert load_config(tmp_path / "kc").server == "https://x:1"
