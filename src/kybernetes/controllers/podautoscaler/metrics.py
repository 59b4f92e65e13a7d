"""The HPA's resource metrics client: pod usage from `metrics.k8s.io/v1beta1` PodMetrics.

Upstream's `pkg/controller/podautoscaler/metrics/client.go` (`resourceMetricsClient`) and
`utilization.go`:

- `RestResourceMetrics.get_resource_metric` lists
  `/apis/metrics.k8s.io/v1beta1/namespaces/<ns>/pods?labelSelector=<selector>` through the
  API server and turns each PodMetrics into a `PodMetric` (usage in milli-units, its
  timestamp and window). Without `container` a pod's value is the sum over its containers,
  and a pod any of whose containers lacks the resource (or that has no containers) is left
  out; with `container` it is that container's usage, and a pod without it is left out (a
  missing metric, decided later by the replica calculator). The timestamp returned is the
  first item's, as upstream's.
- `resource_utilization_ratio` and `metric_usage_ratio`: upstream's integer arithmetic for
  utilization (percent of requests, truncated) and for plain averages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from kybernetes.api.quantity import Quantity, QuantityError
from kybernetes.api.timeutil import parse_time
from kybernetes.client import ApiClient, ClientError
from kybernetes.controllers.cronjob.schedule import parse_go_duration

# Go's zero time.Time: what an unset timestamp compares as.
ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)
# metrics-server's default window, for an item that does not say.
DEFAULT_WINDOW = timedelta(minutes=1)


class MetricsError(Exception):
    """Metrics could not be had; the message is upstream's."""


@dataclass(frozen=True, slots=True)
class PodMetric:
    """One pod's usage: `value` in milli-units (upstream's `PodMetric`)."""

    value: int
    timestamp: datetime = ZERO_TIME
    window: timedelta = timedelta(0)


PodMetricsInfo = dict[str, PodMetric]


class ResourceMetricsClient(Protocol):
    async def get_resource_metric(self, resource: str, namespace: str, selector: str,
                                  container: str) -> tuple[PodMetricsInfo, datetime]:
        """Usage of `resource` by the pods `selector` picks, and the metrics' timestamp.
        Raises MetricsError."""


def _milli(value: Any) -> int | None:
    try:
        return Quantity.parse(value).milli_value()
    except (QuantityError, TypeError, ValueError):
        return None


def _window(item: Mapping[str, Any]) -> timedelta:
    text = item.get("window")
    if not isinstance(text, str) or not text:
        return DEFAULT_WINDOW
    try:
        return parse_go_duration(text)
    except ValueError:
        return DEFAULT_WINDOW


def _stamp(item: Mapping[str, Any]) -> datetime:
    return parse_time(item.get("timestamp")) or ZERO_TIME


def _name(item: Mapping[str, Any]) -> str:
    return str((item.get("metadata") or {}).get("name") or "")


def pod_metrics(items: Sequence[Mapping[str, Any]], resource: str) -> PodMetricsInfo:
    """Upstream's `getPodMetrics`: the sum over a pod's containers."""
    found: PodMetricsInfo = {}
    for item in items:
        containers = item.get("containers") or []
        total, missing = 0, not containers
        for container in containers:
            value = _milli(((container or {}).get("usage") or {}).get(resource))
            if value is None:
                missing = True
                break
            total += value
        if not missing:
            found[_name(item)] = PodMetric(total, _stamp(item), _window(item))
    return found


def container_metrics(items: Sequence[Mapping[str, Any]], resource: str, container: str
                      ) -> PodMetricsInfo:
    """Upstream's `getContainerMetrics`: one named container's usage per pod."""
    found: PodMetricsInfo = {}
    for item in items:
        for entry in item.get("containers") or []:
            if (entry or {}).get("name") == container:
                value = _milli((entry.get("usage") or {}).get(resource))
                if value is not None:
                    found[_name(item)] = PodMetric(value, _stamp(item), _window(item))
                break
    return found


def metrics_from_list(items: Sequence[Mapping[str, Any]], resource: str, container: str
                      ) -> tuple[PodMetricsInfo, datetime]:
    if not items:
        raise MetricsError("no metrics returned from resource metrics API")
    found = container_metrics(items, resource, container) if container \
        else pod_metrics(items, resource)
    return found, _stamp(items[0])


class RestResourceMetrics:
    """The resource metrics API through the API server (an aggregated API upstream)."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client

    async def get_resource_metric(self, resource: str, namespace: str, selector: str,
                                  container: str) -> tuple[PodMetricsInfo, datetime]:
        path = f"/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods"
        try:
            answer = await self.client.request(
                "GET", path, params={"labelSelector": selector} if selector else None)
        except ClientError as err:
            raise MetricsError(
                f"unable to fetch metrics from resource metrics API: {err}") from err
        items = (answer or {}).get("items") or []
        return metrics_from_list(items, resource, container)


def resource_utilization_ratio(metrics: Mapping[str, PodMetric], requests: Mapping[str, int],
                               target_utilization: int) -> tuple[float, int, int]:
    """Upstream's `GetResourceUtilizationRatio`: (usage ratio, utilization percent, raw
    average value in milli-units) over the pods that have both a metric and a request."""
    metrics_total = requests_total = entries = 0
    for pod, metric in metrics.items():
        request = requests.get(pod)
        if request is None:  # an extraneous metric (missing requests are caught earlier)
            continue
        metrics_total += metric.value
        requests_total += request
        entries += 1
    if requests_total == 0:
        raise MetricsError("no metrics returned matched known pods")
    utilization = metrics_total * 100 // requests_total
    return utilization / target_utilization, utilization, metrics_total // entries


def metric_usage_ratio(metrics: Mapping[str, PodMetric], target_usage: int
                       ) -> tuple[float, int]:
    """Upstream's `GetMetricUsageRatio`: (usage ratio, average usage in milli-units)."""
    total = sum(metric.value for metric in metrics.values())
    usage = total // len(metrics)
    return usage / target_usage, usage
