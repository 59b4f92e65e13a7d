"""kubectl against resources served in two versions: events.k8s.io/v1 Events (stored as
core/v1) and autoscaling/v1 HorizontalPodAutoscalers (stored as autoscaling/v2)."""

from __future__ import annotations

import json

import httpx
import pytest
import yaml

from tests.e2e.cluster import Kubectl

pytestmark = pytest.mark.e2e


def test_events_through_events_k8s_io(kubectl: Kubectl, api: httpx.Client, ns: str) -> None:
    created = api.post(f"/apis/events.k8s.io/v1/namespaces/{ns}/events", json={
        "metadata": {"name": "e1"}, "eventTime": "2026-01-02T03:04:05.000000Z",
        "reportingController": "kyb/e2e", "reportingInstance": "e2e-1", "action": "Checking",
        "reason": "Checked", "type": "Normal", "note": "checked it",
        "regarding": {"kind": "Pod", "namespace": ns, "name": "web-1"}})
    assert created.status_code == 201, created.text
    got = json.loads(kubectl("get", "-n", ns, "events.v1.events.k8s.io", "e1", "-o", "json"))
    assert got["apiVersion"] == "events.k8s.io/v1" and got["note"] == "checked it"
    core = json.loads(kubectl("get", "-n", ns, "events.v1.", "e1", "-o", "json"))
    assert core["apiVersion"] == "v1" and core["message"] == "checked it"
    table = kubectl("get", "-n", ns, "events.v1.events.k8s.io",
                    "--field-selector", "regarding.name=web-1")
    assert "Checked" in table and "checked it" in table


def test_hpa_through_autoscaling_v1(kubectl: Kubectl, ns: str) -> None:
    kubectl("create", "-n", ns, "deployment", "web", "--image", "nginx")
    kubectl("autoscale", "-n", ns, "deployment", "web", "--max", "4", "--cpu-percent", "55")
    # The full name: kubectl expands a short name to group and resource only, so
    # `hpa.v1.autoscaling` reaches the preferred version (v2), as against upstream.
    v1 = yaml.safe_load(kubectl("get", "-n", ns, "horizontalpodautoscalers.v1.autoscaling",
                                "web", "-o", "yaml"))
    assert v1["apiVersion"] == "autoscaling/v1"
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 55
    assert v1["spec"]["maxReplicas"] == 4
    v2 = yaml.safe_load(kubectl("get", "-n", ns, "hpa.v2.autoscaling", "web", "-o", "yaml"))
    assert v2["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 55
    rows = kubectl("get", "-n", ns, "horizontalpodautoscalers.v1.autoscaling").splitlines()
    assert rows[0].split()[:3] == ["NAME", "REFERENCE", "TARGETS"]
