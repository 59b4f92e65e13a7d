"""The HorizontalPodAutoscaler on real pods: the kubelet's cgroup stats, the metrics server
and the HPA controller of `kyb server`, and kubectl 1.35 doing what users do.

`kyb server` runs with its node in a network namespace (tests/e2e/nodens.py), the metrics
server scraping every 2 s and the HPA controller syncing every 3 s. A Deployment's busybox
pod requests 100m of cpu and is held to 250m; its container busy-loops while /tmp/load
exists (every new pod starts loaded), then sleeps. At 50% cpu the loop's ~250% asks for
ceil(1 * 2.5) = 3 replicas, the most allowed. `kubectl exec` removes the file in every pod;
their usage falls to nothing, and once the scale-down stabilisation window (shortened to
10 s by `kubectl patch hpa`) has passed the Deployment is back at 1 replica. The waits are
bounded polls, generous for a loaded two-core machine.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.cluster import Kubectl, wait_until
from tests.e2e.nodens import REAL_NODE, import_busybox, new_namespace, real_node

pytestmark = [pytest.mark.e2e, REAL_NODE]

NODE = "node-hpa"
IMAGE = "busybox:1.36"
CGROUP_ROOT = "/kyb-e2e-hpa"
LOAD = "/tmp/load"
SYNC_PERIOD = 3.0
WINDOW = 10
# Pod starts, scrapes and sync periods, on a shared machine.
STEP = 240.0


@pytest.fixture(scope="module")
def kubectl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kubectl]:
    data = tmp_path_factory.mktemp("kyb-hpa")
    import_busybox(data, IMAGE)
    with real_node(data, "kyb-e2e-hpa", NODE, [
            "--metric-resolution", "2s", "--cgroup-root", CGROUP_ROOT,
            "--horizontal-pod-autoscaler-sync-period", f"{SYNC_PERIOD:g}s"]) as (_, kubectl):
        yield kubectl


def deployment(ns: str) -> str:
    script = f"touch {LOAD}; while [ -e {LOAD} ]; do :; done; exec sleep 3600"
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "busy", "namespace": ns},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "busy"}}, "template": {
            "metadata": {"labels": {"app": "busy"}},
            "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
                "name": "loop", "image": IMAGE, "command": ["sh", "-c", script],
                "resources": {"requests": {"cpu": "100m"}, "limits": {"cpu": "250m"}}}]}}}})


def spec_replicas(kubectl: Kubectl, ns: str) -> int:
    return int(kubectl.json("get", "deployment", "busy", "-n", ns)["spec"]["replicas"])


def hpa_status(kubectl: Kubectl, ns: str) -> dict[str, Any]:
    status: dict[str, Any] = kubectl.json("get", "hpa", "busy", "-n", ns).get("status", {})
    return status


def rescales(kubectl: Kubectl, ns: str) -> list[str]:
    items = kubectl.json("get", "events", "-n", ns,
                         "--field-selector", "reason=SuccessfulRescale")["items"]
    return [e["message"] for e in sorted(items, key=lambda e: e.get("lastTimestamp") or "")]


def running_pods(kubectl: Kubectl, ns: str) -> list[str]:
    pods = kubectl.json("get", "pods", "-n", ns, "-l", "app=busy")["items"]
    return [p["metadata"]["name"] for p in pods
            if p["metadata"].get("deletionTimestamp") is None
            and any("running" in s["state"]
                    for s in p.get("status", {}).get("containerStatuses") or [])]


def test_hpa_scales_real_pods_out_and_back_in(kubectl: Kubectl) -> None:
    ns = new_namespace(kubectl, "hpa")
    kubectl("apply", "-f", "-", input=deployment(ns))
    wait_until(lambda: running_pods(kubectl, ns), "the first pod running", STEP)
    out = kubectl("autoscale", "deployment", "busy", "-n", ns, "--cpu-percent=50",
                  "--min=1", "--max=3")
    assert "autoscaled" in out, out

    def loaded() -> int | None:
        metrics = hpa_status(kubectl, ns).get("currentMetrics") or []
        current = (metrics[0].get("resource") or {}).get("current") or {} if metrics else {}
        value = current.get("averageUtilization")
        return value if isinstance(value, int) and value > 55 else None

    # Held to 250m, the loop reads well above the 50% target (less when the machine is
    # busy; the tolerance is 10%).
    wait_until(loaded, "the HPA reading the busy loop's cpu", STEP)
    wait_until(lambda: spec_replicas(kubectl, ns) > 1, "a scale out", STEP)
    assert any(m.endswith("cpu resource utilization (percentage of request) above target")
               for m in rescales(kubectl, ns)), rescales(kubectl, ns)
    scaled = spec_replicas(kubectl, ns)
    assert 1 < scaled <= 3

    kubectl("patch", "hpa", "busy", "-n", ns, "--type=merge", "-p", json.dumps(
        {"spec": {"behavior": {"scaleDown": {"stabilizationWindowSeconds": WINDOW}}}}))

    # Stop the load in every pod the HPA asked for, as each comes up (the loop removes
    # nothing itself, and a pod still starting would begin loaded).
    stopped: set[str] = set()

    def unloaded() -> bool:
        for pod in running_pods(kubectl, ns):
            if pod not in stopped and kubectl.run("exec", "-n", ns, pod, "--", "rm", "-f",
                                                  LOAD, check=False).returncode == 0:
                stopped.add(pod)
        return len(stopped) >= spec_replicas(kubectl, ns) or spec_replicas(kubectl, ns) == 1

    wait_until(unloaded, "the load stopped in every pod", STEP)
    stopped_at = time.monotonic()
    wait_until(lambda: spec_replicas(kubectl, ns) == 1, "the scale back to 1", STEP)
    # Not before the window has passed since the last high recommendation: the pass
    # just after the load stopped still saw it (the metrics lag a scrape), so at worst
    # one sync period before `stopped_at`.
    assert time.monotonic() - stopped_at >= WINDOW - SYNC_PERIOD
    assert rescales(kubectl, ns)[-1] == "New size: 1; reason: All metrics below target"
    wait_until(lambda: hpa_status(kubectl, ns).get("currentReplicas") == 1,
               "the HPA's status at 1 replica", STEP)
