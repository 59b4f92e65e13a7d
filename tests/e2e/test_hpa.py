"""The HorizontalPodAutoscaler end to end: a real `kyb server` (its metrics server and the
controller manager's HPA controller), simulated nodes whose pods report the cpu usage
their `sim.kybernetes.io/usage-cpu` annotation declares, and kubectl 1.35 doing what
users do: `autoscale`, `get hpa`, `annotate`.

The steps are upstream's replica formula, `ceil(replicas * utilization / target)`, within
its limits: 2 pods at 80% of their 100m request against a 50% target ask for
ceil(2 * 1.6) = 4 (also the no-behavior scale-up limit, max(2 * 2, 4)); at 4 pods, still
80% each, for ceil(4 * 1.6) = 7, held to maxReplicas 5 (ScalingLimited, TooManyReplicas).
When the pods drop to 10m (10%), ceil(5 * 0.2) = 1, once the HPA's scale-down
stabilisation window has passed. The sync period, the metrics server's scrape interval and
that window are shortened (3 s, 2 s, 6 s; upstream's 15 s, 15 s, 300 s); the waits are
bounded polls.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.cluster import Kubectl, Server, wait_until
from tests.e2e.test_rollout import ready_nodes
from tests.e2e.test_scheduler import Process

pytestmark = pytest.mark.e2e
ANY_BACKEND = True  # a controller's logic and metrics, whatever the storage (conftest.py)

SIM_PREFIX = "hpa-"
CPU_ANNOTATION = "sim.kybernetes.io/usage-cpu"
# Never pulled (simulated nodes); a closed loopback registry should a real node get it.
IMAGE = "127.0.0.1:1/busy:1.0"
# Upstream's 15 s sync period and scrape interval, shortened.
SERVER_ARGS = ["--horizontal-pod-autoscaler-sync-period", "3s", "--metric-resolution", "2s"]
# Several sync periods and scrapes, with room to spare on a loaded machine.
STEP = 180.0


@pytest.fixture(scope="module")
def nodes(server: Server, kubectl: Kubectl, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[None]:
    """Two simulated nodes, the only schedulable ones."""
    logs = tmp_path_factory.mktemp("hpa-logs")
    process = Process("nodes", ["sim", "nodes", "--count", "2", "--name-prefix", SIM_PREFIX,
                                "--cpu", "32", "--memory", "64Gi",
                                "--kubeconfig", str(server.kubeconfig)], logs / "nodes.log")
    try:
        wait_until(lambda: len({n for n in ready_nodes(kubectl) if n.startswith(SIM_PREFIX)})
                   >= 2, "two ready simulated nodes")
        for name in ready_nodes(kubectl):
            if not name.startswith(SIM_PREFIX):
                kubectl("cordon", name)
        yield
    finally:
        process.stop()


def deployment(ns: str, cpu_millicores: int) -> str:
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": {
            "metadata": {"labels": {"app": "web"},
                         "annotations": {CPU_ANNOTATION: f"{cpu_millicores}m"}},
            "spec": {"containers": [{"name": "busy", "image": IMAGE, "resources": {
                "requests": {"cpu": "100m"}}}]}}}})


def hpa(kubectl: Kubectl, ns: str) -> dict[str, Any]:
    found: dict[str, Any] = kubectl.json("get", "hpa", "web", "-n", ns)
    return found


def spec_replicas(kubectl: Kubectl, ns: str) -> int:
    return int(kubectl.json("get", "deployment", "web", "-n", ns)["spec"]["replicas"])


def rescales(kubectl: Kubectl, ns: str) -> list[str]:
    items = kubectl.json("get", "events", "-n", ns,
                         "--field-selector", "reason=SuccessfulRescale")["items"]
    return [e["message"] for e in sorted(items, key=lambda e: e.get("lastTimestamp") or "")]


def condition(found: dict[str, Any], kind: str) -> tuple[str, str]:
    for cond in found.get("status", {}).get("conditions", []):
        if cond["type"] == kind:
            return cond["status"], cond["reason"]
    return "", ""


def test_hpa_scales_out_and_back_in_by_the_formula(nodes: None, kubectl: Kubectl,
                                                   ns: str) -> None:
    kubectl("apply", "-f", "-", input=deployment(ns, 80))
    out = kubectl("autoscale", "deployment", "web", "-n", ns, "--cpu-percent=50", "--min=1",
                  "--max=5")
    assert "autoscaled" in out, out

    def utilization() -> int | None:
        metrics = hpa(kubectl, ns).get("status", {}).get("currentMetrics") or []
        current = (metrics[0].get("resource") or {}).get("current") or {} if metrics else {}
        value = current.get("averageUtilization")
        return value if isinstance(value, int) and value > 0 else None

    assert wait_until(utilization, "the HPA's first cpu reading", STEP) == 80
    wait_until(lambda: spec_replicas(kubectl, ns) == 4, "4 replicas", STEP)
    wait_until(lambda: spec_replicas(kubectl, ns) == 5, "5 replicas", STEP)

    def limited() -> dict[str, Any] | None:
        """A pass that found the 5 pods and would have more (its status counts the
        replicas it found, so the pass that scaled to 5 still says 4)."""
        found = hpa(kubectl, ns)
        return found if condition(found, "ScalingLimited") == ("True", "TooManyReplicas") \
            and found["status"].get("currentReplicas") == 5 else None

    found = wait_until(limited, "ScalingLimited", STEP)
    assert condition(found, "ScalingActive") == ("True", "ValidMetricFound")
    table = kubectl("get", "hpa", "web", "-n", ns).splitlines()
    assert table[0].split() == ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS",
                                "REPLICAS", "AGE"]
    assert table[1].split()[:7] == ["web", "Deployment/web", "cpu:", "80%/50%", "1", "5",
                                    "5"], table
    assert rescales(kubectl, ns)[:2] == [
        "New size: 4; reason: cpu resource utilization (percentage of request) above target",
        "New size: 5; reason: cpu resource utilization (percentage of request) above target"]

    kubectl("patch", "hpa", "web", "-n", ns, "--type=merge", "-p", json.dumps(
        {"spec": {"behavior": {"scaleDown": {"stabilizationWindowSeconds": 6}}}}))
    kubectl("annotate", "pods", "-n", ns, "-l", "app=web", "--overwrite",
            f"{CPU_ANNOTATION}=10m")
    wait_until(lambda: spec_replicas(kubectl, ns) == 1, "1 replica", STEP)
    assert rescales(kubectl, ns)[-1] == "New size: 1; reason: All metrics below target"
    wait_until(lambda: hpa(kubectl, ns).get("status", {}).get("currentReplicas") == 1,
               "the HPA's status at 1 replica", STEP)
