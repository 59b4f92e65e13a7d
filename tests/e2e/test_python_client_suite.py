"""The official Python client's e2e suites (kubernetes-client/python `kubernetes/e2e_test`
and `kubernetes/aio/e2e_test`), unmodified, against `kyb server` with a real node: typed CRUD
of core, apps and batch objects, exec and port-forward streams, watches, informers, the
dynamic client, server-side apply and `utils.create_from_yaml`.

The suite runs in a pytest of its own (`tests/e2e/python_client_plugin.py`), inside the
node's network namespace, with the server's admin kubeconfig as `KUBECONFIG`; its images are
local stand-ins served by a registry on the node's loopback (`registries.yaml` mirrors).
Every test passes, or is skipped by the plugin with the reason it gives.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from tests.e2e.nodens import REAL_NODE, real_node
from tests.e2e.python_client_plugin import SKIPPED, SUITE
from tests.e2e.standin_images import push_standins
from tests.kubelet.registry import run_registry

pytestmark = [pytest.mark.e2e, REAL_NODE]
ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("kubernetes/e2e_test", "kubernetes/aio/e2e_test")
REGISTRY_PORT = 5000  # on the node's own loopback, in the namespace made for the test


def outcomes(report: Path, package: str) -> dict[str, str]:
    """node id -> passed / skipped / failed, from the JUnit XML of a run of `package`."""
    results = {}
    for case in ElementTree.parse(report).iter("testcase"):
        module, test_class = case.get("classname", "").rsplit(".", 1)
        nodeid = f"{package}/{module.split('.')[-1]}.py::{test_class}::{case.get('name')}"
        kinds = {child.tag for child in case}
        results[nodeid] = ("failed" if kinds & {"failure", "error"}
                           else "skipped" if "skipped" in kinds else "passed")
    return results


@pytest.mark.timeout(1200)
def test_the_python_client_e2e_suite_passes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    mirror = {"endpoint": [f"http://127.0.0.1:{REGISTRY_PORT}"]}
    (data / "registries.yaml").write_text(json.dumps(
        {"mirrors": {"docker.io": mirror, "k8s.gcr.io": mirror}}))
    suite = shutil.copytree(SUITE, tmp_path / "suite")
    # The metrics test reads a new pod's metrics 10 s after it runs: scrape more often
    # than upstream's 15 s so that the first scrape after its start comes before.
    with real_node(data, "pyclient", "pyclient-node", ["--metric-resolution", "4s"]) \
            as (server, _), \
            run_registry(tmp_path / "registry", port=REGISTRY_PORT) as registry:
        asyncio.run(push_standins(registry.url))
        env = {**os.environ, "KUBECONFIG": str(server.kubeconfig),
               "PYTHONPATH": str(ROOT)}
        results: dict[str, str] = {}
        logs = []
        for package in PACKAGES:  # one run each: both are packages named `e2e_test`
            report = tmp_path / f"{package.replace('/', '-')}.xml"
            run = subprocess.run(
                [sys.executable, "-m", "pytest", "-p", "tests.e2e.python_client_plugin",
                 "-p", "no:cacheprovider", "-q", "-rfEs", f"--junitxml={report}", package],
                cwd=suite, env=env, capture_output=True, text=True, timeout=540)
            logs.append(run.stdout + run.stderr)
            results.update(outcomes(report, package))
    log = "\n".join(logs)
    (tmp_path / "suite.log").write_text(log)
    failed = sorted(test for test, outcome in results.items() if outcome == "failed")
    assert not failed, f"{len(failed)} failed:\n" + "\n".join(failed) + "\n" + log[-6000:]
    skipped = {test for test, outcome in results.items() if outcome == "skipped"}
    assert skipped == set(SKIPPED), log[-3000:]
    assert sum(o == "passed" for o in results.values()) >= 40, log[-3000:]
