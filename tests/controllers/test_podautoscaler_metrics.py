"""The HPA's resource metrics client (upstream's metrics/client.go and utilization.go):
PodMetrics items into per-pod usage, and the utilization arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kybernetes.client import ApiClient
from kybernetes.controllers.podautoscaler.metrics import (
    MetricsError,
    PodMetric,
    RestResourceMetrics,
    metric_usage_ratio,
    metrics_from_list,
    resource_utilization_ratio,
)


def item(name: str, *containers: tuple[str, dict[str, str]], window: str = "15s"
         ) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns"}, "timestamp": "2026-11-23T12:00:00Z",
            "window": window,
            "containers": [{"name": c, "usage": usage} for c, usage in containers]}


ITEMS = [
    item("a", ("app", {"cpu": "250m", "memory": "64Mi"}), ("side", {"cpu": "1"})),
    item("b", ("app", {"cpu": "100m"}), ("side", {"memory": "1Mi"})),  # side lacks cpu
    item("c"),  # no containers
    item("d", ("other", {"cpu": "5m"}), window="1m30s"),
]


def test_pod_metrics_sum_containers_and_leave_out_incomplete_pods() -> None:
    found, stamp = metrics_from_list(ITEMS, "cpu", "")
    assert stamp == datetime(2026, 11, 23, 12, tzinfo=UTC)
    assert found == {
        "a": PodMetric(1250, stamp, timedelta(seconds=15)),
        "d": PodMetric(5, stamp, timedelta(seconds=90))}


def test_container_metrics_pick_one_container() -> None:
    found, _ = metrics_from_list(ITEMS, "cpu", "app")
    assert {name: m.value for name, m in found.items()} == {"a": 250, "b": 100}
    memory, _ = metrics_from_list(ITEMS, "memory", "side")
    assert {name: m.value for name, m in memory.items()} == {"b": 1048576000}


def test_no_items_is_an_error() -> None:
    with pytest.raises(MetricsError, match="no metrics returned from resource metrics API"):
        metrics_from_list([], "cpu", "")


def test_utilization_is_truncated_percent_of_the_requests_of_pods_with_metrics() -> None:
    metrics = {"a": PodMetric(500), "b": PodMetric(333), "stray": PodMetric(9000)}
    assert resource_utilization_ratio(metrics, {"a": 1000, "b": 1000, "c": 1000}, 50) == \
        (0.82, 41, 416)
    with pytest.raises(MetricsError, match="no metrics returned matched known pods"):
        resource_utilization_ratio({"x": PodMetric(1)}, {"a": 1000}, 50)
    assert metric_usage_ratio({"a": PodMetric(3), "b": PodMetric(4)}, 2) == (1.5, 3)


async def test_an_unserved_metrics_api_is_reported(api: ApiClient) -> None:
    with pytest.raises(MetricsError, match="unable to fetch metrics from resource metrics API"):
        await RestResourceMetrics(api).get_resource_metric("cpu", "default", "app=web", "")
