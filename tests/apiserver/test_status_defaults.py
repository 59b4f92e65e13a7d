"""Status fields upstream always writes (Go fields without `omitempty`, `required` in its
OpenAPI): a new object carries them at zero, and every write that stores status keeps them,
whatever the writer left out."""

from __future__ import annotations

from typing import Any

import httpx
from tests.apiserver import inprocess
from tests.apiserver.inprocess import controller_apiserver, controller_http

from kybernetes.api.statusdefaults import status_zero_values

__all__ = ["controller_apiserver", "controller_http"]  # the fixtures apiserver, http

LABELS = {"app": "web"}
TEMPLATE = {"metadata": {"labels": LABELS},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def workload(kind: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "web"},
            "spec": {"selector": {"matchLabels": LABELS}, "template": TEMPLATE, **spec}}


def test_the_zero_values_come_from_upstreams_required_status_fields() -> None:
    assert status_zero_values("apps", "v1", "DaemonSet") == {
        "currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0,
        "numberReady": 0}
    assert status_zero_values("apps", "v1", "ReplicaSet") == {"replicas": 0}
    assert status_zero_values("apps", "v1", "StatefulSet") == {
        "replicas": 0, "availableReplicas": 0}
    assert status_zero_values("autoscaling", "v2", "HorizontalPodAutoscaler") == {
        "desiredReplicas": 0}
    assert status_zero_values("storage.k8s.io", "v1", "VolumeAttachment") == {
        "attached": False}
    assert status_zero_values("apps", "v1", "Deployment") == {}
    assert status_zero_values("", "v1", "Pod") == {}


async def test_new_objects_carry_the_zero_status(http: httpx.AsyncClient) -> None:
    base = "/apis/apps/v1/namespaces/default"
    ds = inprocess.ok(await http.post(f"{base}/daemonsets", json=workload("DaemonSet")))
    assert ds["status"] == {"currentNumberScheduled": 0, "numberMisscheduled": 0,
                            "desiredNumberScheduled": 0, "numberReady": 0}
    rs = inprocess.ok(await http.post(f"{base}/replicasets", json=workload("ReplicaSet")))
    assert rs["status"] == {"replicas": 0}
    sts = inprocess.ok(await http.post(f"{base}/statefulsets",
                                       json=workload("StatefulSet", serviceName="web")))
    assert sts["status"] == {"replicas": 0, "availableReplicas": 0}
    hpa = inprocess.ok(await http.post(
        "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers", json={
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                        "name": "web"}, "maxReplicas": 3}}))
    assert hpa["status"] == {"desiredReplicas": 0}
    pod = inprocess.ok(await http.post("/api/v1/namespaces/default/pods", json={
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": TEMPLATE["spec"]}))
    assert pod["status"] == {"phase": "Pending", "qosClass": "BestEffort"}


async def test_status_writes_that_omit_them_still_store_them(
        http: httpx.AsyncClient) -> None:
    url = "/apis/apps/v1/namespaces/default/replicasets"
    created = inprocess.ok(await http.post(url, json=workload("ReplicaSet")))
    created["status"] = {"observedGeneration": 1}
    put = inprocess.ok(await http.put(f"{url}/web/status", json=created))
    assert put["status"] == {"replicas": 0, "observedGeneration": 1}
    patched = inprocess.ok(await http.patch(
        f"{url}/web/status", headers={"Content-Type": "application/json-patch+json"},
        json=[{"op": "remove", "path": "/status/replicas"}]))
    assert patched["status"] == {"replicas": 0, "observedGeneration": 1}
    scaled = inprocess.ok(await http.patch(
        f"{url}/web", headers={"Content-Type": "application/merge-patch+json"},
        json={"spec": {"replicas": 2}}))
    assert scaled["status"]["replicas"] == 0
    stored = inprocess.ok(await http.get(f"{url}/web"))
    assert stored["status"] == {"replicas": 0, "observedGeneration": 1}
