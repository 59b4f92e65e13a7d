"""The version conversions of api/conversion against upstream's rules: events.k8s.io/v1 <->
core/v1 Event, autoscaling/v1 <-> autoscaling/v2 HorizontalPodAutoscaler (round trips and
the annotations upstream's conversion writes)."""

from __future__ import annotations

import json
from typing import Any

from kybernetes.api import conversion
from kybernetes.api.conversion import events
from kybernetes.api.conversion import horizontalpodautoscalers as hpas

CORE_EVENT: dict[str, Any] = {
    "kind": "Event", "apiVersion": "v1",
    "metadata": {"name": "web.1", "namespace": "default"},
    "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web"},
    "reason": "Pulled", "message": "pulled", "source": {"component": "kubelet", "host": "n1"},
    "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:01:00Z",
    "count": 2, "type": "Normal", "reportingComponent": "kubelet", "reportingInstance": "n1",
}


def test_lookup_by_served_version() -> None:
    assert conversion.lookup("events.k8s.io", "v1", "events") is events.CONVERSION
    assert conversion.lookup("", "v1", "events") is None
    assert conversion.lookup("autoscaling", "v2", "horizontalpodautoscalers") is None


def test_core_event_round_trips_through_events_v1() -> None:
    v1 = events.to_v1(CORE_EVENT)
    assert v1["apiVersion"] == "events.k8s.io/v1"
    assert v1["regarding"] == CORE_EVENT["involvedObject"]
    assert v1["note"] == "pulled" and v1["deprecatedCount"] == 2
    assert v1["deprecatedSource"] == {"component": "kubelet", "host": "n1"}
    assert v1["deprecatedFirstTimestamp"] == "2026-01-01T00:00:00Z"
    assert v1["reportingController"] == "kubelet"
    assert v1["eventTime"] is None  # a zero MicroTime, as Go encodes it
    assert events.to_core(v1) == CORE_EVENT
    assert CORE_EVENT["message"] == "pulled"  # the argument is left alone


def test_events_v1_strict_rules() -> None:
    core = events.to_core({"metadata": {"name": "x"}, "type": "Odd",
                           "series": {"count": 1}, "deprecatedCount": 3})
    fields = {e.field for e in events.validate_create(core)}
    assert fields == {"eventTime", "type", "count", "series.count", "series.lastObservedTime"}
    changed = dict(core, message="new")
    assert [e.field for e in events.validate_update(changed, core)] == ["message"]


V2: dict[str, Any] = {
    "kind": "HorizontalPodAutoscaler", "apiVersion": "autoscaling/v2",
    "metadata": {"name": "web", "namespace": "default", "annotations": {"keep": "me"}},
    "spec": {
        "scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
        "minReplicas": 2, "maxReplicas": 10,
        "metrics": [
            {"type": "Object", "object": {
                "describedObject": {"kind": "Service", "name": "web"},
                "target": {"type": "Value", "value": "100"},
                "metric": {"name": "rps"}}},
            {"type": "External", "external": {
                "metric": {"name": "queue"},
                "target": {"type": "AverageValue", "averageValue": "30"}}},
            {"type": "Resource", "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": 70}}},
        ],
        "behavior": {"scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                                 "policies": [{"type": "Pods", "value": 4,
                                               "periodSeconds": 15}]}},
    },
    "status": {
        "currentReplicas": 3, "desiredReplicas": 3,
        "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {
            "averageUtilization": 65, "averageValue": "130m"}}}],
        "conditions": [{"type": "AbleToScale", "status": "True",
                        "lastTransitionTime": "2026-01-01T00:00:00Z", "reason": "Ready"}],
    },
}


def test_hpa_v2_as_v1_keeps_the_rest_in_annotations() -> None:
    v1 = hpas.to_v1(V2)
    assert v1["spec"] == {"scaleTargetRef": V2["spec"]["scaleTargetRef"], "minReplicas": 2,
                          "maxReplicas": 10, "targetCPUUtilizationPercentage": 70}
    assert v1["status"] == {"currentReplicas": 3, "desiredReplicas": 3,
                            "currentCPUUtilizationPercentage": 65}
    annotations = v1["metadata"]["annotations"]
    assert annotations["keep"] == "me"
    assert json.loads(annotations[hpas.METRIC_SPECS]) == [
        {"type": "Object", "object": {"target": {"kind": "Service", "name": "web"},
                                      "metricName": "rps", "targetValue": "100"}},
        {"type": "External", "external": {"metricName": "queue",
                                          "targetAverageValue": "30"}}]
    assert json.loads(annotations[hpas.METRIC_STATUSES]) == [
        {"type": "Resource", "resource": {"name": "cpu", "currentAverageUtilization": 65,
                                          "currentAverageValue": "130m"}}]
    assert json.loads(annotations[hpas.CONDITIONS])[0]["reason"] == "Ready"
    assert json.loads(annotations[hpas.BEHAVIOR]) == {
        "ScaleUp": {"StabilizationWindowSeconds": 0, "SelectPolicy": "Max",
                    "Policies": [{"Type": "Pods", "Value": 4, "PeriodSeconds": 15}],
                    "Tolerance": None},
        "ScaleDown": None}


def test_hpa_round_trips_v2_v1_v2() -> None:
    back = hpas.to_v2(hpas.to_v1(V2))
    # The CPU target comes last: v1's own field follows the annotation's metrics.
    assert back["spec"]["metrics"] == [*V2["spec"]["metrics"][:2], V2["spec"]["metrics"][2]]
    assert back["spec"]["behavior"] == V2["spec"]["behavior"]
    assert back["status"]["currentMetrics"] == V2["status"]["currentMetrics"]
    assert back["status"]["conditions"] == V2["status"]["conditions"]
    assert back["metadata"]["annotations"] == {"keep": "me"}


def test_hpa_v1_without_target_gets_the_implied_cpu_default() -> None:
    v2 = hpas.to_v2({"metadata": {"name": "a"}, "spec": {
        "scaleTargetRef": {"kind": "Deployment", "name": "a"}, "maxReplicas": 3}})
    assert v2["spec"]["metrics"] == [{"type": "Resource", "resource": {"name": "cpu", "target": {
        "type": "Utilization", "averageUtilization": 80}}}]


def test_hpa_stale_round_trip_annotations_are_replaced() -> None:
    stale = dict(V2, metadata={"name": "web", "annotations": {hpas.METRIC_SPECS: "[]"}},
                 spec={"scaleTargetRef": {}, "maxReplicas": 1, "metrics": []},
                 status={"desiredReplicas": 0})
    assert "annotations" not in hpas.to_v1(stale)["metadata"]
