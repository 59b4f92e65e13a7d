"""`kyb controller-manager --kubeconfig PATH` as its own process, against a `kyb server`
that runs no controllers of its own (`--disable-controller-manager`).

Intent: the controllers need nothing but the API: started from a kubeconfig they take the
`kube-controller-manager` Lease, do their work (a ServiceAccount appears, a deleted owner's
dependents are collected), and on SIGTERM stop cleanly, releasing the Lease.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cluster import Kubectl, Server, running_server, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("kyb"),
                        ["--disable-controller-manager"]) as running:
        yield running


@pytest.fixture(scope="module")
def kubectl(apiserver: Server) -> Kubectl:
    return Kubectl(apiserver.kubeconfig)


def start_controller_manager(kubeconfig: Path, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "kybernetes.cli.main", "controller-manager",
             "--kubeconfig", str(kubeconfig)], stdout=out, stderr=subprocess.STDOUT)


def lease(kubectl: Kubectl) -> dict[str, Any]:
    result = kubectl.run("get", "-n", "kube-system", "lease", "kube-controller-manager",
                         "-o", "json", check=False)
    return json.loads(result.stdout) if result.returncode == 0 else {}


def test_no_controllers_without_a_controller_manager(kubectl: Kubectl) -> None:
    kubectl("create", "namespace", "before-manager")
    time.sleep(1.0)
    assert kubectl("get", "-n", "before-manager", "serviceaccounts", "-o", "name") == ""
    assert lease(kubectl) == {}


def test_standalone_controller_manager(apiserver: Server, kubectl: Kubectl,
                                       tmp_path: Path) -> None:
    log = tmp_path / "controller-manager.log"
    manager = start_controller_manager(apiserver.kubeconfig, log)
    try:
        wait_until(lambda: bool(lease(kubectl).get("spec", {}).get("holderIdentity")),
                   "the controller manager holds its lease")
        # Namespaces created before it started are caught up with.
        wait_until(lambda: kubectl("get", "-n", "before-manager", "serviceaccounts", "-o",
                                   "name").strip() == "serviceaccount/default",
                   "the default ServiceAccount")
        kubectl("create", "configmap", "owner", "-n", "before-manager")
        uid = kubectl("get", "-n", "before-manager", "configmap", "owner", "-o",
                      "jsonpath={.metadata.uid}")
        dependent = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
            "name": "dependent", "ownerReferences": [{
                "apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid}]}}
        kubectl("apply", "-n", "before-manager", "-f", "-", input=json.dumps(dependent))
        kubectl("delete", "-n", "before-manager", "configmap", "owner")
        wait_until(lambda: "configmap/dependent" not in kubectl(
            "get", "-n", "before-manager", "configmaps", "-o", "name").split(),
                   "the dependent is collected")
        manager.send_signal(signal.SIGTERM)
        assert manager.wait(30) == 0, log.read_text()
    finally:
        if manager.poll() is None:
            manager.kill()
            manager.wait()
    # Released on the way out, so that a standby could take over at once.
    assert lease(kubectl)["spec"]["holderIdentity"] == ""
