"""The HPA controller's passes against a real API server in this process: a Deployment's
`/scale`, the HPA's `/status`, Events. The pod store is seeded by the tests and the
resource metrics come from a fake client (the metrics API is another component's), as
upstream's horizontal_test.go does with its fake clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from kybernetes.api.timeutil import rfc3339
from kybernetes.client import ApiClient, resource
from kybernetes.client.rest import Obj
from kybernetes.controllers.base import ControllerContext, Requeue
from kybernetes.controllers.podautoscaler import HorizontalController
from kybernetes.controllers.podautoscaler.controller import HPAS
from kybernetes.controllers.podautoscaler.metrics import (
    MetricsError,
    PodMetricsInfo,
    metrics_from_list,
)
from tests.controllers.clock import Clock

NS = "default"
KEY = f"{NS}/web"
DEPLOYMENTS = resource("apps", "v1", "deployments")
EVENTS = resource("", "v1", "events")


class FakeMetrics:
    """PodMetrics items per pod name: cpu millicores for its one container."""

    def __init__(self) -> None:
        self.usage: dict[str, int] = {}
        self.error = ""
        self.clock: Clock | None = None

    async def get_resource_metric(self, resource: str, namespace: str, selector: str,
                                  container: str) -> tuple[PodMetricsInfo, datetime]:
        if self.error:
            raise MetricsError(self.error)
        assert selector == "app=web"
        stamp = rfc3339(self.clock.now) if self.clock else "0001-01-01T00:00:00Z"
        items = [{"metadata": {"name": name, "namespace": namespace}, "timestamp": stamp,
                  "window": "15s", "containers": [{"name": "app", "usage": {
                      "cpu": f"{milli}m", "memory": "10Mi"}}]}
                 for name, milli in self.usage.items()]
        return metrics_from_list(items, resource, container)


@pytest.fixture
def metrics() -> FakeMetrics:
    return FakeMetrics()


@pytest.fixture
async def ctl(ctx: ControllerContext, clock: Clock, metrics: FakeMetrics
              ) -> AsyncIterator[HorizontalController]:
    metrics.clock = clock
    controller = HorizontalController(ctx, metrics=metrics, clock=clock)
    try:
        yield controller
    finally:
        await controller.recorder.aclose()


async def make_deployment(api: ApiClient, replicas: int) -> Obj:
    return await api.create(DEPLOYMENTS, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                     "containers": [{"name": "app", "image": "nginx"}]}}}}, NS)


async def make_hpa(api: ApiClient, ctl: HorizontalController, *, min_replicas: int = 1,
                   max_replicas: int = 10, metrics: list[Obj] | None = None,
                   behavior: Obj | None = None, kind: str = "Deployment") -> Obj:
    spec: Obj = {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": kind, "name": "web"},
                 "minReplicas": min_replicas, "maxReplicas": max_replicas,
                 "metrics": metrics or [{"type": "Resource", "resource": {
                     "name": "cpu", "target": {"type": "Utilization",
                                               "averageUtilization": 30}}}]}
    if behavior is not None:
        spec["behavior"] = behavior
    hpa = await api.create(HPAS, {"apiVersion": "autoscaling/v2",
                                  "kind": "HorizontalPodAutoscaler",
                                  "metadata": {"name": "web"}, "spec": spec}, NS)
    ctl.hpas.store.add(hpa)
    return hpa


def add_pods(ctl: HorizontalController, metrics: FakeMetrics, clock: Clock,
             usage: list[int], *, request: str = "1") -> None:
    for i, milli in enumerate(usage):
        name = f"web-{i}"
        started = rfc3339(clock.now - timedelta(minutes=10))
        ctl.pods.store.add({"metadata": {"name": name, "namespace": NS,
                                         "labels": {"app": "web"}},
                            "spec": {"containers": [{"name": "app", "resources": {
                                "requests": {"cpu": request}}}]},
                            "status": {"phase": "Running", "startTime": started,
                                       "conditions": [{"type": "Ready", "status": "True",
                                                       "lastTransitionTime": started}]}})
        metrics.usage[name] = milli


async def sync(api: ApiClient, ctl: HorizontalController) -> Obj:
    """One pass (the key is put back for the next period), then the HPA as stored."""
    with pytest.raises(Requeue):
        await ctl.sync(KEY)
    hpa = await api.get(HPAS, "web", NS)
    ctl.hpas.store.add(hpa)
    return hpa


async def replicas(api: ApiClient) -> int:
    return int((await api.get(DEPLOYMENTS, "web", NS))["spec"]["replicas"])


def conditions(hpa: Obj) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in hpa["status"]["conditions"]}


async def events(api: ApiClient, ctl: HorizontalController) -> list[tuple[str, str, str]]:
    await ctl.recorder.flush()
    found = await api.list(EVENTS, NS)
    return [(e["type"], e["reason"], e["message"]) for e in found]


async def test_scales_up_by_the_formula_and_reports_status(
        api: ApiClient, ctl: HorizontalController, metrics: FakeMetrics, clock: Clock) -> None:
    await make_deployment(api, 3)
    await make_hpa(api, ctl)
    add_pods(ctl, metrics, clock, [300, 500, 700])
    hpa = await sync(api, ctl)
    assert await replicas(api) == 5  # ceil(50/30 * 3)
    status = hpa["status"]
    assert (status["currentReplicas"], status["desiredReplicas"]) == (3, 5)
    assert status["lastScaleTime"] == rfc3339(clock.now)
    assert status["currentMetrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "current": {"averageUtilization": 50, "averageValue": "500m"}}}]
    assert conditions(hpa) == {"AbleToScale": ("True", "SucceededRescale"),
                               "ScalingActive": ("True", "ValidMetricFound"),
                               "ScalingLimited": ("False", "DesiredWithinRange")}
    assert ("Normal", "SuccessfulRescale", "New size: 5; reason: cpu resource utilization "
            "(percentage of request) above target") in await events(api, ctl)


async def test_within_tolerance_nothing_changes(
        api: ApiClient, ctl: HorizontalController, metrics: FakeMetrics, clock: Clock) -> None:
    await make_deployment(api, 3)
    await make_hpa(api, ctl)
    add_pods(ctl, metrics, clock, [310, 320, 300])  # 31%: within 10% of 30%
    hpa = await sync(api, ctl)
    assert await replicas(api) == 3
    assert (hpa["status"]["desiredReplicas"], "lastScaleTime" in hpa["status"]) == (3, False)
    assert conditions(hpa)["AbleToScale"] == ("True", "ReadyForNewScale")


async def test_scale_down_waits_for_the_stabilization_window(
        api: ApiClient, ctl: HorizontalController, metrics: FakeMetrics, clock: Clock) -> None:
    await make_deployment(api, 5)
    await make_hpa(api, ctl)
    add_pods(ctl, metrics, clock, [100, 100, 100, 100, 100])  # 10%: 2 pods would do
    hpa = await sync(api, ctl)
    assert await replicas(api) == 5
    assert conditions(hpa)["AbleToScale"] == ("True", "ScaleDownStabilized")
    assert hpa["status"]["desiredReplicas"] == 5
    clock.advance(200)
    await sync(api, ctl)
    assert await replicas(api) == 5
    clock.advance(101)  # the initial recommendation (5) has left the 5 min window
    await sync(api, ctl)
    assert await replicas(api) == 2
    assert ("Normal", "SuccessfulRescale", "New size: 2; reason: All metrics below target") \
        in await events(api, ctl)


async def test_behavior_limits_the_scale_up_rate_and_stabilizes_down(
        api: ApiClient, ctl: HorizontalController, metrics: FakeMetrics, clock: Clock) -> None:
    await make_deployment(api, 2)
    await make_hpa(api, ctl, max_replicas=20, behavior={
        "scaleUp": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]},
        "scaleDown": {"stabilizationWindowSeconds": 30}})
    add_pods(ctl, metrics, clock, [900, 900])  # 90%: 6 pods wanted
    hpa = await sync(api, ctl)
    assert await replicas(api) == 3
    assert conditions(hpa)["ScalingLimited"] == ("True", "ScaleUpLimit")
    clock.advance(15)
    hpa = await sync(api, ctl)  # one pod a minute: still 3
    assert await replicas(api) == 3
    clock.advance(50)
    await sync(api, ctl)
    assert await replicas(api) == 4
    metrics.usage = {name: 30 for name in metrics.usage}  # 3%: 1 pod
    clock.advance(15)
    hpa = await sync(api, ctl)
    assert await replicas(api) == 4
    assert conditions(hpa)["AbleToScale"] == ("True", "ScaleDownStabilized")
    clock.advance(31)
    await sync(api, ctl)
    assert await replicas(api) == 1


async def test_replicas_are_brought_within_min_and_max(
        api: ApiClient, ctl: HorizontalController, metrics: FakeMetrics, clock: Clock) -> None:
    await make_deployment(api, 12)
    await make_hpa(api, ctl, min_replicas=2, max_replicas=10)
    await sync(api, ctl)
    assert await replicas(api) == 10
    assert ("Normal", "SuccessfulRescale", "New size: 10; reason: Current number of replicas "
            "above Spec.MaxReplicas") in await events(api, ctl)


async def test_average_value_target(api: ApiClient, ctl: HorizontalController,
                                    metrics: FakeMetrics, clock: Clock) -> None:
    await make_deployment(api, 2)
    await make_hpa(api, ctl, metrics=[{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "AverageValue", "averageValue": "200m"}}}])
    add_pods(ctl, metrics, clock, [500, 700])  # average 600m: 3 x 200m per pod
    hpa = await sync(api, ctl)
    assert await replicas(api) == 4  # 6, but at most max(2 x current, 4) without a behavior
    assert conditions(hpa)["ScalingLimited"] == ("True", "ScaleUpLimit")
    assert hpa["status"]["currentMetrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "current": {"averageValue": "600m"}}}]


async def test_container_resource_metric(api: ApiClient, ctl: HorizontalController,
                                         metrics: FakeMetrics, clock: Clock) -> None:
    await make_deployment(api, 3)
    await make_hpa(api, ctl, metrics=[{"type": "ContainerResource", "containerResource": {
        "name": "cpu", "container": "app",
        "target": {"type": "Utilization", "averageUtilization": 50}}}])
    add_pods(ctl, metrics, clock, [900, 900, 900], request="500m")
    hpa = await sync(api, ctl)
    assert await replicas(api) == 6  # 180% / 50% x 3 pods = 10.8, at most 2 x 3
    assert hpa["status"]["currentMetrics"] == [{
        "type": "ContainerResource", "containerResource": {
            "name": "cpu", "container": "app",
            "current": {"averageUtilization": 180, "averageValue": "900m"}}}]


async def test_missing_metrics_stop_scaling(api: ApiClient, ctl: HorizontalController,
                                            metrics: FakeMetrics, clock: Clock) -> None:
    await make_deployment(api, 3)
    await make_hpa(api, ctl)
    add_pods(ctl, metrics, clock, [300, 500, 700])
    metrics.error = "no metrics returned from resource metrics API"
    hpa = await sync(api, ctl)
    assert await replicas(api) == 3
    assert conditions(hpa)["ScalingActive"] == ("False", "FailedGetResourceMetric")
    message = next(c["message"] for c in hpa["status"]["conditions"]
                   if c["type"] == "ScalingActive")
    assert message == ("the HPA was unable to compute the replica count: failed to get cpu "
                       "utilization: unable to get metrics for resource cpu: no metrics "
                       "returned from resource metrics API")
    found = await events(api, ctl)
    assert ("Warning", "FailedGetResourceMetric", "failed to get cpu utilization: unable to "
            "get metrics for resource cpu: no metrics returned from resource metrics API"
            ) in found
    assert ("Warning", "FailedComputeMetricsReplicas", "invalid metrics (1 invalid out of 1), "
            "first error is: failed to get cpu resource metric value: failed to get cpu "
            "utilization: unable to get metrics for resource cpu: no metrics returned from "
            "resource metrics API") in found


async def test_a_target_at_zero_is_not_scaled(api: ApiClient, ctl: HorizontalController,
                                              metrics: FakeMetrics, clock: Clock) -> None:
    await make_deployment(api, 0)
    await make_hpa(api, ctl)
    hpa = await sync(api, ctl)
    assert await replicas(api) == 0
    assert conditions(hpa)["ScalingActive"] == ("False", "ScalingDisabled")


async def test_an_unknown_target_fails_to_get_scale(
        api: ApiClient, ctl: HorizontalController, metrics: FakeMetrics, clock: Clock) -> None:
    await make_hpa(api, ctl)
    hpa = await sync(api, ctl)
    assert conditions(hpa) == {"AbleToScale": ("False", "FailedGetScale")}
    assert any(reason == "FailedGetScale" for _, reason, _ in await events(api, ctl))


async def test_pods_metrics_fail_without_a_custom_metrics_api(
        api: ApiClient, ctl: HorizontalController, metrics: FakeMetrics, clock: Clock) -> None:
    await make_deployment(api, 2)
    await make_hpa(api, ctl, metrics=[{"type": "Pods", "pods": {
        "metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "10"}}}])
    add_pods(ctl, metrics, clock, [100, 100])
    hpa = await sync(api, ctl)
    assert conditions(hpa)["ScalingActive"] == ("False", "FailedGetPodsMetric")
    assert await replicas(api) == 2
    assert ("Warning", "FailedGetPodsMetric", "unable to get metric qps: unable to fetch "
            "metrics from custom metrics API: no custom metrics API (custom.metrics.k8s.io) "
            "registered") in await events(api, ctl)


async def test_a_deleted_hpa_is_forgotten(api: ApiClient, ctl: HorizontalController,
                                          metrics: FakeMetrics, clock: Clock) -> None:
    await make_deployment(api, 3)
    hpa = await make_hpa(api, ctl)
    add_pods(ctl, metrics, clock, [300, 300, 300])
    await sync(api, ctl)
    assert KEY in ctl.histories
    ctl.hpas.store.delete(hpa)
    await ctl.sync(KEY)
    assert KEY not in ctl.histories


def test_an_hpa_is_first_looked_at_one_period_after_it_appears(
        ctl: HorizontalController) -> None:
    assert ctl.queue.rate_limiter.when(KEY) == 15.0


TARGETS: dict[str, tuple[Any, str, dict[str, Any]]] = {
    "ReplicaSet": (resource("apps", "v1", "replicasets"), "apps/v1", {
        "selector": {"matchLabels": {"app": "web"}}}),
    "StatefulSet": (resource("apps", "v1", "statefulsets"), "apps/v1", {
        "selector": {"matchLabels": {"app": "web"}}, "serviceName": "web"}),
}


@pytest.mark.parametrize("kind", list(TARGETS))
async def test_any_kind_serving_scale_is_a_target(
        api: ApiClient, ctl: HorizontalController, metrics: FakeMetrics, clock: Clock,
        kind: str) -> None:
    res, api_version, spec = TARGETS[kind]
    await api.create(res, {"apiVersion": api_version, "kind": kind, "metadata": {"name": "web"},
                           "spec": {"replicas": 2, **spec, "template": {
                               "metadata": {"labels": {"app": "web"}},
                               "spec": {"containers": [{"name": "app", "image": "nginx"}]}}}},
                     NS)
    hpa = await make_hpa(api, ctl, kind=kind)
    hpa["spec"]["scaleTargetRef"]["apiVersion"] = api_version
    ctl.hpas.store.add(await api.update(HPAS, hpa, NS))
    add_pods(ctl, metrics, clock, [600, 600])
    await sync(api, ctl)
    assert (await api.get(res, "web", NS))["spec"]["replicas"] == 4  # 60% / 30% x 2


async def test_pods_of_two_hpas_are_ambiguous(api: ApiClient, ctl: HorizontalController,
                                               metrics: FakeMetrics, clock: Clock) -> None:
    await make_deployment(api, 2)
    await make_hpa(api, ctl)
    add_pods(ctl, metrics, clock, [300, 300])
    other = await api.create(HPAS, {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "other"}, "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "maxReplicas": 5}}, NS)
    ctl.hpas.store.add(other)
    with pytest.raises(Requeue):
        await ctl.sync(f"{NS}/other")
    hpa = await sync(api, ctl)
    assert conditions(hpa)["ScalingActive"] == ("False", "AmbiguousSelector")
    message = next(c["message"] for c in hpa["status"]["conditions"]
                   if c["type"] == "ScalingActive")
    assert message == "pods by selector app=web are controlled by multiple HPAs: " \
                      "[default/other default/web]"


async def test_the_behavior_tolerance_replaces_the_default(
        api: ApiClient, ctl: HorizontalController, metrics: FakeMetrics, clock: Clock) -> None:
    await make_deployment(api, 4)
    await make_hpa(api, ctl, behavior={"scaleUp": {"tolerance": "0.5"}})
    add_pods(ctl, metrics, clock, [400, 400, 400, 400])  # 40%: 1.33, within 50% up
    hpa = await sync(api, ctl)
    assert await replicas(api) == 4
    assert conditions(hpa)["AbleToScale"] == ("True", "ReadyForNewScale")
