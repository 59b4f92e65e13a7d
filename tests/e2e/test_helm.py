"""The real helm 4 (server-side apply by default) installs, upgrades and uninstalls a chart."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.cluster import Kubectl, Server

pytestmark = pytest.mark.e2e
ANY_BACKEND = True  # a client's use of the API, whatever the storage (conftest.py)


def _helm_binary() -> str:
    for candidate in (os.environ.get("HELM"), str(Path.home() / ".local/bin/helm"),
                      shutil.which("helm")):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.skip("helm not installed: run tools/install-kubectl")


def test_install_upgrade_uninstall(server: Server, kubectl: Kubectl, tmp_path: Path) -> None:
    helm = _helm_binary()
    env = {**os.environ, "KUBECONFIG": str(server.kubeconfig), "HELM_CACHE_HOME":
           str(tmp_path / "cache"), "HELM_CONFIG_HOME": str(tmp_path / "config"),
           "HELM_DATA_HOME": str(tmp_path / "data")}

    def run(*args: str) -> str:
        done = subprocess.run([helm, *args], env=env, capture_output=True, text=True,
                              timeout=120, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        return done.stdout

    run("create", "chart")
    kubectl("create", "namespace", "helm")
    run("install", "demo", "./chart", "-n", "helm")
    deployment = kubectl.json("get", "deployment", "demo-chart", "-n", "helm",
                              "--show-managed-fields")
    assert deployment["spec"]["replicas"] == 1
    assert any(m["operation"] == "Apply" for m in deployment["metadata"]["managedFields"])
    assert "deployed" in run("list", "-n", "helm")
    run("upgrade", "demo", "./chart", "-n", "helm", "--set", "replicaCount=2")
    assert kubectl.json("get", "deployment", "demo-chart", "-n", "helm")["spec"]["replicas"] == 2
    releases = kubectl("get", "secrets", "-n", "helm", "-l", "owner=helm", "-o", "name")
    assert sorted(releases.split()) == ["secret/sh.helm.release.v1.demo.v1",
                                        "secret/sh.helm.release.v1.demo.v2"]
    run("uninstall", "demo", "-n", "helm")
    assert kubectl("get", "deployments,services", "-n", "helm", "-o", "name").strip() == ""
