"""`kubectl top` with simulated nodes: usage declared on the pods (kubelet/stats_sim.py)
is what the metrics API reports, and a changed declaration is followed, as scale tests
drive an autoscaler.

A `kyb server` without a node (metric resolution 1 s) and one `kyb sim nodes` node; a
Deployment of two pods declaring 200m of cpu and 64Mi of memory per container. Waits are
bounded polls, not measures.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cluster import Kubectl, Server, checked_server, wait_until
from tests.e2e.test_rollout import ready_nodes
from tests.e2e.test_scheduler import Process

pytestmark = pytest.mark.e2e

NODE = "topsim-0"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with checked_server(tmp_path_factory.mktemp("kyb"), ["--metric-resolution", "1s"]) \
            as running:
        yield running


@pytest.fixture(scope="module")
def node(server: Server, kubectl: Kubectl, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[None]:
    logs: Path = tmp_path_factory.mktemp("topsim-logs")
    process = Process("topsim", ["sim", "nodes", "--count", "1", "--name-prefix", "topsim-",
                                 "--kubeconfig", str(server.kubeconfig)], logs / "sim.log")
    try:
        wait_until(lambda: ready_nodes(kubectl) == {NODE}, "the simulated node ready")
        yield
    finally:
        process.stop()


def top_pods(kubectl: Kubectl, ns: str) -> dict[str, tuple[str, str]]:
    result = kubectl.run("top", "pods", "-n", ns, "--no-headers", check=False)
    if result.returncode != 0:
        return {}
    return {line.split()[0]: (line.split()[1], line.split()[2])
            for line in result.stdout.splitlines() if line.strip()}


def test_declared_usage_is_reported_and_followed(kubectl: Kubectl, node: None) -> None:
    ns = "topsim"
    kubectl("create", "namespace", ns)
    kubectl("apply", "-n", ns, "-f", "-", input=json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {
                     "metadata": {"labels": {"app": "web"}, "annotations": {
                         "sim.kybernetes.io/usage-cpu": "200m",
                         "sim.kybernetes.io/usage-memory": "64Mi"}},
                     "spec": {"containers": [{"name": "app", "image": "127.0.0.1:1/web:1"}]}}}}))

    def both() -> dict[str, tuple[str, str]] | None:
        found = top_pods(kubectl, ns)
        return found if len(found) == 2 and all(v == ("200m", "64Mi")
                                                 for v in found.values()) else None
    pods = wait_until(both, "both pods at 200m and 64Mi")

    first = sorted(pods)[0]
    kubectl("annotate", "pod", first, "-n", ns, "--overwrite",
            "sim.kybernetes.io/usage-cpu=500m")
    wait_until(lambda: top_pods(kubectl, ns).get(first, ("", ""))[0] == "500m",
               "the stepped pod at 500m")

    def node_row() -> list[str] | None:
        result = kubectl.run("top", "nodes", "--no-headers", check=False)
        rows = [line.split() for line in result.stdout.splitlines()
                if line.startswith(NODE)]
        return rows[0] if result.returncode == 0 and rows and rows[0][1] == "700m" else None
    row = wait_until(node_row, "the node at 700m")
    assert row[3] == "128Mi"
