"""One resource served in two versions: events (core/v1 stored, events.k8s.io/v1 converted)
and horizontalpodautoscalers (autoscaling/v2 stored, autoscaling/v1 converted): written
through one version, read, listed, watched and patched through the other."""

from __future__ import annotations

import json
from typing import Any

import httpx
from tests.apiserver import inprocess
from tests.apiserver.inprocess import controller_apiserver, controller_http

__all__ = ["controller_apiserver", "controller_http"]  # the fixtures apiserver, http

CORE = "/api/v1/namespaces/default/events"
EVENTS = "/apis/events.k8s.io/v1/namespaces/default/events"
HPA_V1 = "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers"
HPA_V2 = "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


def v1_event(name: str, **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": name},
            "eventTime": "2026-01-02T03:04:05.000000Z", "reportingController": "kyb/test",
            "reportingInstance": "test-1", "action": "Testing", "reason": "Tested",
            "type": "Normal", "note": "a note",
            "regarding": {"kind": "Pod", "namespace": "default", "name": "web-1"}, **extra}


async def test_event_created_in_events_v1_reads_as_core(http: httpx.AsyncClient) -> None:
    created = inprocess.ok(await http.post(EVENTS, json=v1_event("e1")))
    assert created["apiVersion"] == "events.k8s.io/v1"
    assert created["note"] == "a note" and created["regarding"]["name"] == "web-1"
    core = inprocess.ok(await http.get(f"{CORE}/e1"))
    assert core["apiVersion"] == "v1"
    assert core["message"] == "a note"
    assert core["involvedObject"]["name"] == "web-1"
    assert core["reportingComponent"] == "kyb/test"
    assert "note" not in core and "regarding" not in core
    listed = inprocess.ok(await http.get(EVENTS))
    assert listed["kind"] == "EventList" and listed["apiVersion"] == "events.k8s.io/v1"
    assert [i["note"] for i in listed["items"]] == ["a note"]
    assert listed["items"][0]["apiVersion"] == "events.k8s.io/v1"


async def test_core_event_reads_as_events_v1_with_field_selectors(
        http: httpx.AsyncClient) -> None:
    inprocess.ok(await http.post(CORE, json={
        "metadata": {"name": "old"}, "involvedObject": {"kind": "Pod", "name": "db-0",
                                                        "namespace": "default"},
        "reason": "Started", "message": "started", "type": "Normal", "count": 3,
        "source": {"component": "kubelet"}}))
    got = inprocess.ok(await http.get(f"{EVENTS}/old"))
    assert got["deprecatedCount"] == 3
    assert got["deprecatedSource"] == {"component": "kubelet"}
    assert got["regarding"]["name"] == "db-0" and got["note"] == "started"
    selected = inprocess.ok(await http.get(EVENTS, params={
        "fieldSelector": "regarding.name=db-0"}))
    assert [i["metadata"]["name"] for i in selected["items"]] == ["old"]
    none = inprocess.ok(await http.get(EVENTS, params={"fieldSelector": "regarding.name=x"}))
    assert none["items"] == []
    bad = await http.get(EVENTS, params={"fieldSelector": "involvedObject.name=db-0"})
    assert bad.status_code == 400


async def test_events_v1_creates_are_validated_strictly(http: httpx.AsyncClient) -> None:
    event = v1_event("strict")
    del event["eventTime"]
    event["deprecatedCount"] = 2
    response = await http.post(EVENTS, json=event)
    assert response.status_code == 422, response.text
    fields = {c["field"] for c in response.json()["details"]["causes"]}
    assert {"eventTime", "count"} <= fields
    # The same object through core/v1 gets only the legacy checks.
    core = {"metadata": {"name": "lenient"}, "involvedObject": {"namespace": "default"},
            "count": 2, "reason": "R"}
    assert (await http.post(CORE, json=core)).status_code == 201


async def test_events_v1_update_may_not_change_the_occurrence(
        http: httpx.AsyncClient) -> None:
    inprocess.ok(await http.post(EVENTS, json=v1_event("fixed")))
    response = await http.patch(f"{EVENTS}/fixed", json={"note": "other"},
                                headers={"content-type": "application/merge-patch+json"})
    assert response.status_code == 422, response.text
    assert response.json()["details"]["causes"][0]["field"] == "message"
    # core/v1 may.
    patched = await http.patch(f"{CORE}/fixed", json={"message": "other"},
                               headers={"content-type": "application/merge-patch+json"})
    assert patched.status_code == 200, patched.text


def hpa_v2(name: str) -> dict[str, Any]:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web",
                                        "apiVersion": "apps/v1"},
                     "minReplicas": 1, "maxReplicas": 5,
                     "metrics": [
                         {"type": "Resource", "resource": {"name": "cpu", "target": {
                             "type": "Utilization", "averageUtilization": 60}}},
                         {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {
                             "type": "AverageValue", "averageValue": "10"}}}],
                     "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}}}


async def test_hpa_v2_reads_as_v1_with_annotations(http: httpx.AsyncClient) -> None:
    inprocess.ok(await http.post(HPA_V2, json=hpa_v2("web")))
    got = inprocess.ok(await http.get(f"{HPA_V1}/web"))
    assert got["apiVersion"] == "autoscaling/v1"
    assert got["spec"]["targetCPUUtilizationPercentage"] == 60
    annotations = got["metadata"]["annotations"]
    assert json.loads(annotations["autoscaling.alpha.kubernetes.io/metrics"]) == [
        {"type": "Pods", "pods": {"metricName": "qps", "targetAverageValue": "10"}}]
    behavior = json.loads(annotations["autoscaling.alpha.kubernetes.io/behavior"])
    assert behavior["ScaleDown"]["StabilizationWindowSeconds"] == 60
    # An update through v1 keeps what v1 cannot say.
    got["spec"]["maxReplicas"] = 7
    inprocess.ok(await http.put(f"{HPA_V1}/web", json=got))
    stored = inprocess.ok(await http.get(f"{HPA_V2}/web"))
    assert stored["spec"]["maxReplicas"] == 7
    assert stored["spec"]["metrics"] == hpa_v2("web")["spec"]["metrics"][::-1]
    assert stored["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 60
    assert "annotations" not in stored["metadata"]


async def test_hpa_v1_create_patch_and_table(http: httpx.AsyncClient) -> None:
    created = inprocess.ok(await http.post(HPA_V1, json={
        "metadata": {"name": "api"},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "api"}, "maxReplicas": 3}}))
    assert created["spec"].get("targetCPUUtilizationPercentage") == 80
    v2 = inprocess.ok(await http.get(f"{HPA_V2}/api"))
    assert v2["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 80
    patched = inprocess.ok(await http.patch(
        f"{HPA_V1}/api", json={"spec": {"targetCPUUtilizationPercentage": 50}},
        headers={"content-type": "application/strategic-merge-patch+json"}))
    assert patched["spec"]["targetCPUUtilizationPercentage"] == 50
    v2 = inprocess.ok(await http.get(f"{HPA_V2}/api"))
    assert v2["spec"]["metrics"] == [{"type": "Resource", "resource": {"name": "cpu", "target": {
        "type": "Utilization", "averageUtilization": 50}}}]
    table = inprocess.ok(await http.get(HPA_V1, params={"includeObject": "Object"},
                                        headers={"accept": TABLE}))
    assert table["rows"][0]["object"]["apiVersion"] == "autoscaling/v1"
    applied = inprocess.ok(await http.patch(
        f"{HPA_V1}/api", params={"fieldManager": "test", "force": "true"},
        content=json.dumps({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
                            "metadata": {"name": "api"},
                            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "api"},
                                     "maxReplicas": 4}}),
        headers={"content-type": "application/apply-patch+yaml"}))
    assert applied["spec"]["maxReplicas"] == 4
    deleted = inprocess.ok(await http.delete(f"{HPA_V1}/api"))
    assert deleted["kind"] in ("Status", "HorizontalPodAutoscaler")


async def test_watch_through_the_other_version(http: httpx.AsyncClient) -> None:
    listed = inprocess.ok(await http.get(HPA_V1))
    rv = listed["metadata"]["resourceVersion"]
    inprocess.ok(await http.post(HPA_V2, json=hpa_v2("watched")))
    async with http.stream("GET", HPA_V1, params={"watch": "1", "resourceVersion": rv,
                                                  "timeoutSeconds": "1"}) as response:
        lines = [json.loads(line) async for line in response.aiter_lines() if line]
    assert lines[0]["type"] == "ADDED"
    assert lines[0]["object"]["apiVersion"] == "autoscaling/v1"
    assert lines[0]["object"]["spec"]["targetCPUUtilizationPercentage"] == 60


async def test_discovery_prefers_v2_and_lists_both(http: httpx.AsyncClient) -> None:
    group = inprocess.ok(await http.get("/apis/autoscaling"))
    assert group["preferredVersion"]["version"] == "v2"
    assert [v["version"] for v in group["versions"]] == ["v2", "v1"]
    events = inprocess.ok(await http.get("/apis/events.k8s.io/v1"))
    assert [r["name"] for r in events["resources"]] == ["events"]
