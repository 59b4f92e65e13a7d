"""The replica calculator: how many pods a metric asks for, upstream's
`pkg/controller/podautoscaler/replica_calculator.go` line for line.

For a Utilization target (`get_resource_replicas`) and an AverageValue target
(`get_raw_resource_replicas`, upstream's plain-metric path):

- The pods the scale's selector picks (from the pod informer) are grouped
  (`group_pods`): pods being deleted or Failed are *ignored*; Pending pods are *unready*;
  pods without a metric are *missing*; for cpu, a pod is also unready when it has no Ready
  condition or start time, or, within `cpu_initialization_period` (5 min) of its start,
  when it is not Ready or its metric window began before it last became Ready, or, after
  that period, when it is not Ready and never was (its Ready condition last changed within
  `delay_of_initial_readiness_status`, 30 s, of its start). The rest are *ready*.
- Ignored and unready pods' metrics are dropped; with none left it is an error. The usage
  ratio is computed (utilization: truncated percent of requests / target). Without
  missing pods, and unready pods unless scaling up, the answer is
  `ceil(ratio * ready pods)`, or the current count within the tolerance.
- Otherwise the missing pods count as using 0 (scale up) or their full request (the
  target, when that is above 100%) on a scale down, unready pods count as 0 on a scale up,
  the ratio is recomputed, and the current count is kept if the new ratio is within the
  tolerance, flips direction, or the new count would move the other way; else
  `ceil(new ratio * pods counted)`.

Requests (`calculate_requests`) are the sum over containers and restartable init
containers, or one named container's; a container without a request for the resource is
an error. The tolerances are upstream's `--horizontal-pod-autoscaler-tolerance` (0.1) or
the HPA's own `behavior.scale{Up,Down}.tolerance`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from kybernetes.api.quantity import Quantity, QuantityError
from kybernetes.api.selectors import parse_label_selector
from kybernetes.api.timeutil import now as _now
from kybernetes.api.timeutil import parse_time
from kybernetes.client import Store
from kybernetes.client.informer import NAMESPACE_INDEX
from kybernetes.client.rest import Obj
from kybernetes.controllers.podautoscaler.metrics import (
    ZERO_TIME,
    MetricsError,
    PodMetric,
    PodMetricsInfo,
    ResourceMetricsClient,
    metric_usage_ratio,
    resource_utilization_ratio,
)
from kybernetes.controllers.podutil import ready_condition

# Upstream's defaults (--horizontal-pod-autoscaler-*).
DEFAULT_TOLERANCE = 0.1
DEFAULT_CPU_INITIALIZATION_PERIOD = timedelta(minutes=5)
DEFAULT_INITIAL_READINESS_DELAY = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class Tolerances:
    scale_down: float = DEFAULT_TOLERANCE
    scale_up: float = DEFAULT_TOLERANCE

    def is_within(self, ratio: float) -> bool:
        return 1.0 - self.scale_down <= ratio <= 1.0 + self.scale_up


@dataclass(frozen=True, slots=True)
class PodGroups:
    ready_count: int
    unready: frozenset[str]
    missing: frozenset[str]
    ignored: frozenset[str]


def _name(pod: Obj) -> str:
    return str((pod.get("metadata") or {}).get("name") or "")


def group_pods(pods: Iterable[Obj], metrics: PodMetricsInfo, resource: str,
               cpu_initialization_period: timedelta,
               delay_of_initial_readiness_status: timedelta, now: datetime) -> PodGroups:
    """Upstream's `groupPods`."""
    ready = 0
    unready: set[str] = set()
    missing: set[str] = set()
    ignored: set[str] = set()
    for pod in pods:
        name = _name(pod)
        status = pod.get("status") or {}
        phase = status.get("phase")
        if (pod.get("metadata") or {}).get("deletionTimestamp") or phase == "Failed":
            ignored.add(name)
            continue
        if phase == "Pending":
            unready.add(name)
            continue
        metric = metrics.get(name)
        if metric is None:
            missing.add(name)
            continue
        if resource == "cpu" and _cpu_unready(pod, metric, cpu_initialization_period,
                                              delay_of_initial_readiness_status, now):
            unready.add(name)
            continue
        ready += 1
    return PodGroups(ready, frozenset(unready), frozenset(missing), frozenset(ignored))


def _cpu_unready(pod: Obj, metric: PodMetric, initialization: timedelta,
                 readiness_delay: timedelta, now: datetime) -> bool:
    condition = ready_condition(pod)
    start_text = (pod.get("status") or {}).get("startTime")
    start = parse_time(start_text)
    if condition is None or start is None:
        return True
    transition = parse_time(condition.get("lastTransitionTime")) or ZERO_TIME
    if start + initialization > now:
        # Still initialising: unready, or no whole metric window since it became Ready.
        return condition.get("status") == "False" or \
            metric.timestamp < transition + metric.window
    # Unready and never ready since it started.
    return condition.get("status") == "False" and start + readiness_delay > transition


def _request_milli(container: Obj, resource: str) -> int | None:
    value = ((container.get("resources") or {}).get("requests") or {}).get(resource)
    if value is None:
        return None
    try:
        return Quantity.parse(value).milli_value()
    except (QuantityError, TypeError, ValueError):
        return None


def calculate_requests(pods: Iterable[Obj], container: str, resource: str) -> dict[str, int]:
    """Upstream's `calculateRequests` (pod-level requests when set and no container is
    named, else containers' and restartable init containers'); raises MetricsError."""
    requests: dict[str, int] = {}
    for pod in pods:
        spec = pod.get("spec") or {}
        pod_level = ((spec.get("resources") or {}).get("requests") or {})
        if not container and pod_level:
            value = _request_milli(spec, resource)
            if value is None:
                raise MetricsError(
                    f"missing pod-level request for {resource} in Pod {_name(pod)}")
            requests[_name(pod)] = value
            continue
        requests[_name(pod)] = _container_requests(pod, container, resource)
    return requests


def _container_requests(pod: Obj, container: str, resource: str) -> int:
    spec = pod.get("spec") or {}
    containers = list(spec.get("containers") or [])
    containers += [c for c in spec.get("initContainers") or []
                   if c.get("restartPolicy") == "Always"]
    total = 0
    for entry in containers:
        if container in ("", entry.get("name")):
            value = _request_milli(entry, resource)
            if value is None:
                raise MetricsError(f"missing request for {resource} in container "
                                   f"{entry.get('name')} of Pod {_name(pod)}")
            total += value
        if container == entry.get("name"):
            return total
    if container:
        raise MetricsError(f"container {container} not found in Pod {_name(pod)}")
    return total


def _without(metrics: PodMetricsInfo, pods: Iterable[str]) -> None:
    for pod in pods:
        metrics.pop(pod, None)


@dataclass(frozen=True, slots=True)
class ResourceReplicas:
    replicas: int
    utilization: int  # percent of requests
    raw_value: int  # average, milli-units
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class RawReplicas:
    replicas: int
    usage: int  # average, milli-units
    timestamp: datetime


class ReplicaCalculator:
    def __init__(self, metrics: ResourceMetricsClient, pods: Store, *,
                 cpu_initialization_period: timedelta = DEFAULT_CPU_INITIALIZATION_PERIOD,
                 delay_of_initial_readiness_status: timedelta = DEFAULT_INITIAL_READINESS_DELAY,
                 clock: Callable[[], datetime] = _now) -> None:
        self.metrics = metrics
        self.pods = pods
        self.cpu_initialization_period = cpu_initialization_period
        self.delay_of_initial_readiness_status = delay_of_initial_readiness_status
        self.clock = clock

    def _pods(self, namespace: str, selector: str) -> list[Obj]:
        parsed = parse_label_selector(selector)
        pods = [pod for pod in self.pods.by_index(NAMESPACE_INDEX, namespace)
                if parsed.matches((pod.get("metadata") or {}).get("labels") or {})]
        if not pods:
            raise MetricsError("no pods returned by selector while calculating replica count")
        return pods

    def _groups(self, pods: list[Obj], metrics: PodMetricsInfo, resource: str) -> PodGroups:
        groups = group_pods(pods, metrics, resource, self.cpu_initialization_period,
                            self.delay_of_initial_readiness_status, self.clock())
        _without(metrics, groups.ignored)
        _without(metrics, groups.unready)
        if not metrics:
            raise MetricsError(
                "did not receive metrics for targeted pods (pods might be unready)")
        return groups

    async def _fetch(self, resource: str, namespace: str, selector: str, container: str
                     ) -> tuple[PodMetricsInfo, datetime]:
        try:
            return await self.metrics.get_resource_metric(resource, namespace, selector,
                                                          container)
        except MetricsError as err:
            raise MetricsError(f"unable to get metrics for resource {resource}: {err}") \
                from err

    async def get_resource_replicas(self, current_replicas: int, target_utilization: int,
                                    resource: str, tolerances: Tolerances, namespace: str,
                                    selector: str, container: str = "") -> ResourceReplicas:
        """Replicas for a Utilization target (percent of the pods' requests)."""
        metrics, timestamp = await self._fetch(resource, namespace, selector, container)
        pods = self._pods(namespace, selector)
        groups = self._groups(pods, metrics, resource)
        requests = calculate_requests(pods, container, resource)
        ratio, utilization, raw = resource_utilization_ratio(metrics, requests,
                                                             target_utilization)

        def answer(replicas: int) -> ResourceReplicas:
            return ResourceReplicas(replicas, utilization, raw, timestamp)

        scale_up_with_unready = bool(groups.unready) and ratio > 1.0
        if not scale_up_with_unready and not groups.missing:
            if tolerances.is_within(ratio):
                return answer(current_replicas)
            return answer(math.ceil(ratio * groups.ready_count))
        # Scale down: missing pods use all their request (or the target, above 100%).
        fallback = max(100, target_utilization)
        _assume(metrics, groups, ratio, scale_up_with_unready,
                lambda pod: requests[pod] * fallback // 100)
        new_ratio, _, _ = resource_utilization_ratio(metrics, requests, target_utilization)
        return answer(_rebalanced(current_replicas, ratio, new_ratio, len(metrics),
                                  tolerances))

    async def get_raw_resource_replicas(self, current_replicas: int, target_usage: int,
                                        resource: str, tolerances: Tolerances,
                                        namespace: str, selector: str, container: str = ""
                                        ) -> RawReplicas:
        """Replicas for an AverageValue target (milli-units per pod)."""
        metrics, timestamp = await self._fetch(resource, namespace, selector, container)
        replicas, usage = self.calc_plain_metric_replicas(
            metrics, current_replicas, target_usage, tolerances, namespace, selector, resource)
        return RawReplicas(replicas, usage, timestamp)

    def calc_plain_metric_replicas(self, metrics: PodMetricsInfo, current_replicas: int,
                                   target_usage: int, tolerances: Tolerances, namespace: str,
                                   selector: str, resource: str) -> tuple[int, int]:
        """Upstream's `calcPlainMetricReplicas`: (replicas, average usage)."""
        pods = self._pods(namespace, selector)
        groups = self._groups(pods, metrics, resource)
        ratio, usage = metric_usage_ratio(metrics, target_usage)
        scale_up_with_unready = bool(groups.unready) and ratio > 1.0
        if not scale_up_with_unready and not groups.missing:
            if tolerances.is_within(ratio):
                return current_replicas, usage
            return math.ceil(ratio * groups.ready_count), usage
        # Scale down: missing pods use the target.
        _assume(metrics, groups, ratio, scale_up_with_unready, lambda _pod: target_usage)
        new_ratio, _ = metric_usage_ratio(metrics, target_usage)
        return _rebalanced(current_replicas, ratio, new_ratio, len(metrics),
                           tolerances), usage


def _assume(metrics: PodMetricsInfo, groups: PodGroups, ratio: float,
            scale_up_with_unready: bool,
            scale_down_usage: Callable[[str], int]) -> None:
    """Upstream's assumptions for pods without a usable sample: missing pods use
    `scale_down_usage` when scaling down and nothing when scaling up; not-yet-ready pods
    nothing when they would make the autoscaler scale up."""
    for pod in groups.missing:
        if ratio < 1.0:
            metrics[pod] = PodMetric(scale_down_usage(pod))
        elif ratio > 1.0:
            metrics[pod] = PodMetric(0)
    if scale_up_with_unready:
        for pod in groups.unready:
            metrics[pod] = PodMetric(0)


def _rebalanced(current: int, ratio: float, new_ratio: float, counted: int,
                tolerances: Tolerances) -> int:
    """The count after missing/unready pods were filled in: the current one when the
    change is small or the direction flipped."""
    if tolerances.is_within(new_ratio) or (ratio < 1.0 < new_ratio) or \
            (ratio > 1.0 > new_ratio):
        return current
    replicas = math.ceil(new_ratio * counted)
    if (new_ratio < 1.0 and replicas > current) or (new_ratio > 1.0 and replicas < current):
        return current
    return replicas
