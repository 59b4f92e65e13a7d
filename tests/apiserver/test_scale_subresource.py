"""The `/scale` subresource's Scale: its selector as upstream prints it, a LabelSelector's
for Deployments and ReplicaSets, the plain label map's (sorted) for ReplicationControllers,
which the HorizontalPodAutoscaler reads to find the pods."""

from __future__ import annotations

import httpx
from tests.apiserver.inprocess import controller_apiserver, controller_http

__all__ = ["controller_apiserver", "controller_http"]  # the fixtures apiserver, http

LABELS = {"tier": "web", "app": "shop"}
TEMPLATE = {"metadata": {"labels": LABELS},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


async def test_a_replication_controllers_scale_selects_its_labels(
        http: httpx.AsyncClient) -> None:
    path = "/api/v1/namespaces/default/replicationcontrollers"
    created = await http.post(path, json={
        "apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "rc"},
        "spec": {"replicas": 2, "selector": LABELS, "template": TEMPLATE}})
    assert created.status_code == 201, created.text
    scale = (await http.get(f"{path}/rc/scale")).json()
    assert scale["status"]["selector"] == "app=shop,tier=web"
    assert scale["spec"]["replicas"] == 2


async def test_a_deployments_scale_selects_its_label_selector(http: httpx.AsyncClient) -> None:
    path = "/apis/apps/v1/namespaces/default/deployments"
    created = await http.post(path, json={
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"replicas": 3, "template": TEMPLATE, "selector": {
            "matchLabels": {"app": "shop"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["web"]}]}}})
    assert created.status_code == 201, created.text
    scale = (await http.get(f"{path}/d/scale")).json()
    assert scale["status"]["selector"] == "app=shop,tier in (web)"
