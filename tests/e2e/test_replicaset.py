"""The ReplicaSet and ReplicationController controllers inside `kyb server`, driven by the
real kubectl 1.35.

No kubelet runs here, so pods stay unscheduled and Pending: the tests watch what only the
controllers do (create pods, replace deleted ones, follow `kubectl scale`, adopt a matching
orphan) and play the kubelet themselves where status matters, writing a pod's Ready
condition through `pods/status`. Waits are bounded to catch hangs, not to measure speed.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.e2e.cluster import Kubectl, wait_until

pytestmark = pytest.mark.e2e
ANY_BACKEND = True  # controllers' logic, whatever the storage (conftest.py)


def replica_set(name: str, replicas: int, *, min_ready: int = 0) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name},
            "spec": {"replicas": replicas, "minReadySeconds": min_ready,
                     "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c",
                                                           "image": "busybox"}]}}}}


def pods(kubectl: Kubectl, ns: str, app: str) -> list[dict[str, Any]]:
    """The live pods (not being deleted) labelled `app=<app>`."""
    items = kubectl.json("get", "-n", ns, "pods", "-l", f"app={app}")["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def owners(pod: dict[str, Any]) -> list[tuple[str, str, bool]]:
    return [(r["kind"], r["name"], r.get("controller", False))
            for r in pod["metadata"].get("ownerReferences") or ()]


def status_of(kubectl: Kubectl, ns: str, kind: str, name: str) -> dict[str, Any]:
    return dict(kubectl.json("get", "-n", ns, kind, name).get("status") or {})


def test_replica_set_creates_replaces_and_scales(kubectl: Kubectl, ns: str) -> None:
    kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(replica_set("web", 3)))
    wait_until(lambda: len(pods(kubectl, ns, "web")) == 3, "three pods")
    first = pods(kubectl, ns, "web")
    assert all(owners(p) == [("ReplicaSet", "web", True)] for p in first)
    assert all(p["metadata"]["name"].startswith("web-") for p in first)
    wait_until(lambda: status_of(kubectl, ns, "rs", "web").get("replicas") == 3,
               "status.replicas 3")

    # A deleted pod is replaced.
    victim = first[0]["metadata"]["name"]
    kubectl("delete", "-n", ns, "pod", victim, "--wait=false")

    def replaced() -> bool:
        names = {p["metadata"]["name"] for p in pods(kubectl, ns, "web")}
        return len(names) == 3 and victim not in names

    wait_until(replaced, f"{victim} replaced")

    out = kubectl("scale", "-n", ns, "rs", "web", "--replicas=5")
    assert out.strip() == "replicaset.apps/web scaled"
    wait_until(lambda: len(pods(kubectl, ns, "web")) == 5, "five pods")
    kubectl("scale", "-n", ns, "rs", "web", "--replicas=1")
    wait_until(lambda: len(pods(kubectl, ns, "web")) == 1, "one pod")

    def settled() -> bool:
        status = status_of(kubectl, ns, "rs", "web")
        return status.get("replicas") == 1 and status.get("observedGeneration") == 3

    wait_until(settled, "status of the last scale observed")


def test_replica_set_adopts_an_orphan(kubectl: Kubectl, ns: str) -> None:
    orphan = {"apiVersion": "v1", "kind": "Pod",
              "metadata": {"name": "early", "labels": {"app": "adopter"}},
              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(orphan))
    kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(replica_set("adopter", 2)))
    wait_until(lambda: len(pods(kubectl, ns, "adopter")) == 2, "two pods")
    wait_until(lambda: owners(kubectl.json("get", "-n", ns, "pod", "early")) ==
               [("ReplicaSet", "adopter", True)], "the orphan adopted")
    time.sleep(1.0)  # nothing more comes: the adopted pod counts as one of the two
    assert len(pods(kubectl, ns, "adopter")) == 2


def test_ready_pods_are_counted_ready_and_available(kubectl: Kubectl, api: httpx.Client,
                                                    ns: str) -> None:
    kubectl("apply", "-n", ns, "-f", "-",
            input=json.dumps(replica_set("ready", 2, min_ready=1)))
    wait_until(lambda: len(pods(kubectl, ns, "ready")) == 2, "two pods")
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for pod in pods(kubectl, ns, "ready"):
        # What a kubelet reports once the containers run and pass readiness.
        response = api.patch(
            f"/api/v1/namespaces/{ns}/pods/{pod['metadata']['name']}/status",
            headers={"Content-Type": "application/merge-patch+json"},
            content=json.dumps({"status": {"phase": "Running", "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": now}]}}))
        assert response.status_code == 200, response.text

    def counted() -> bool:
        status = status_of(kubectl, ns, "rs", "ready")
        return status.get("readyReplicas") == 2 and status.get("availableReplicas") == 2

    # Available only after minReadySeconds: the controller requeues itself for that.
    wait_until(counted, "two ready and available replicas")
    table = kubectl("get", "-n", ns, "rs", "ready", "--no-headers").split()
    assert table[:4] == ["ready", "2", "2", "2"]  # NAME DESIRED CURRENT READY


def test_replication_controller_creates_and_scales(kubectl: Kubectl, ns: str) -> None:
    rc = {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "legacy"},
          "spec": {"replicas": 2, "selector": {"app": "legacy"},
                   "template": {"metadata": {"labels": {"app": "legacy"}},
                                "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
    kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(rc))
    wait_until(lambda: len(pods(kubectl, ns, "legacy")) == 2, "two pods")
    assert all(owners(p) == [("ReplicationController", "legacy", True)]
               for p in pods(kubectl, ns, "legacy"))
    out = kubectl("scale", "-n", ns, "rc", "legacy", "--replicas=3")
    assert out.strip() == "replicationcontroller/legacy scaled"
    wait_until(lambda: len(pods(kubectl, ns, "legacy")) == 3, "three pods")
    wait_until(lambda: status_of(kubectl, ns, "rc", "legacy").get("replicas") == 3,
               "status.replicas 3")
