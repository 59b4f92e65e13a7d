"""The HPA's replica calculator against upstream's table
(`pkg/controller/podautoscaler/replica_calculator_test.go`): the same pods, readiness, start
times, phases, requests and metric levels, the same expected replica counts, utilizations
and raw values. Upstream's test settings: tolerance 0.1, cpu initialization period 2 min,
initial readiness delay 10 s; "hot" pods started now, "cool" ones 3 min ago; unset times
are Go's zero time. Pods-metric cases run the plain-metric path (`calc_plain_metric_replicas`,
used for AverageValue targets)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kybernetes.api.timeutil import rfc3339
from kybernetes.client import Store, namespace_index
from kybernetes.client.informer import NAMESPACE_INDEX
from kybernetes.controllers.podautoscaler.metrics import (
    MetricsError,
    PodMetric,
    PodMetricsInfo,
    metrics_from_list,
)
from kybernetes.controllers.podautoscaler.replicas import (
    PodGroups,
    ReplicaCalculator,
    Tolerances,
    calculate_requests,
    group_pods,
)

NS = "test-namespace"
PREFIX = "test-pod"
CONTAINERS_PER_POD = 2
ZERO = "0001-01-01T00:00:00Z"
INIT_PERIOD = timedelta(minutes=2)
READINESS_DELAY = timedelta(seconds=10)


# Start times in the tables, made times when a test builds its pods (the tables are made at
# collection, maybe minutes before the test runs).
HOT, COOL = "hot", "cool"


def hot() -> str:
    return rfc3339(datetime.now(UTC))


def start_time(marker: str) -> str:
    """HOT: now; COOL: 3 min ago; anything else as it is."""
    if marker == HOT:
        return hot()
    if marker == COOL:
        return rfc3339(datetime.now(UTC) - timedelta(minutes=3))
    return marker


def levels(*per_pod: int) -> list[list[int]]:
    """Upstream's makePodMetricLevels: every container of a pod at the same level."""
    return [[level] * CONTAINERS_PER_POD for level in per_pod]


@dataclass
class Case:
    current: int
    expected: int = 0
    error: str = ""
    # resource
    requests: list[str] = field(default_factory=list)
    levels: list[list[int]] = field(default_factory=list)
    pod_names: list[str] = field(default_factory=list)
    target: int = 0
    utilization: int = 0
    value: int = 0
    container: str = ""
    resource: str = "cpu"
    readiness: list[str] = field(default_factory=list)
    start_times: list[str] = field(default_factory=list)
    phases: list[str] = field(default_factory=list)
    deleting: list[bool] = field(default_factory=list)


class FakeMetrics:
    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items

    async def get_resource_metric(self, resource: str, namespace: str, selector: str,
                                  container: str) -> tuple[PodMetricsInfo, datetime]:
        assert (namespace, selector) == (NS, f"name={PREFIX}")
        return metrics_from_list(self.items, resource, container)


def pods_for(case: Case) -> list[dict[str, Any]]:
    count = max(case.current, len(case.phases))
    pods = []
    for i in range(count):
        containers: list[dict[str, Any]] = [{"name": "container1"}, {"name": "container2"}]
        if i < len(case.requests):
            for container in containers:
                container["resources"] = {"requests": {case.resource: case.requests[i]}}
        meta: dict[str, Any] = {"name": f"{PREFIX}-{i}", "namespace": NS,
                                "labels": {"name": PREFIX}}
        if case.deleting and case.deleting[i]:
            meta["deletionTimestamp"] = hot()
        pods.append({"metadata": meta, "spec": {"containers": containers}, "status": {
            "phase": case.phases[i] if case.phases else "Running",
            "startTime": start_time(case.start_times[i]) if case.start_times else ZERO,
            "conditions": [{"type": "Ready", "status": case.readiness[i]
                            if i < len(case.readiness) else "True"}]}})
    return pods


def metric_items(case: Case) -> list[dict[str, Any]]:
    items = []
    for i, per_container in enumerate(case.levels):
        name = case.pod_names[i] if i < len(case.pod_names) else f"{PREFIX}-{i}"
        containers: list[dict[str, Any]] = [{"name": "", "usage": {}}
                                            for _ in range(CONTAINERS_PER_POD)]
        for j, level in enumerate(per_container):
            containers[j] = {"name": f"container{j + 1}",
                             "usage": {case.resource: f"{level}m"}}
        items.append({"metadata": {"name": name, "namespace": NS, "labels": {"name": PREFIX}},
                      "timestamp": ZERO, "window": "1m0s", "containers": containers})
    return items


def calculator(case: Case) -> ReplicaCalculator:
    store = Store({NAMESPACE_INDEX: namespace_index})
    for pod in pods_for(case):
        store.add(pod)
    return ReplicaCalculator(FakeMetrics(metric_items(case)), store,
                             cpu_initialization_period=INIT_PERIOD,
                             delay_of_initial_readiness_status=READINESS_DELAY)


ONE = "1.0"
RESOURCE_CASES: dict[str, Case] = {
    "DisjointResourcesMetrics": Case(
        1, error="no metrics returned matched known pods", requests=[ONE],
        levels=levels(100), pod_names=["an-older-pod-name"], target=100),
    "ScaleUp": Case(3, 5, requests=[ONE] * 3, levels=levels(300, 500, 700), target=30,
                    utilization=50, value=CONTAINERS_PER_POD * 500),
    "ContainerScaleUp": Case(3, 5, requests=[ONE] * 3,
                             levels=[[1000, 300], [1000, 500], [1000, 700]], target=30,
                             utilization=50, value=500, container="container2"),
    "ScaleUpUnreadyLessScale": Case(
        3, 4, readiness=["False", "True", "True"], requests=[ONE] * 3,
        levels=levels(300, 500, 700), target=30, utilization=60,
        value=CONTAINERS_PER_POD * 600),
    "ScaleUpContainerHotCpuLessScale": Case(
        3, 4, start_times=[HOT, COOL, COOL], requests=[ONE] * 3,
        levels=[[0, 300], [0, 500], [0, 700]], target=30, utilization=60, value=600,
        container="container2"),
    "ScaleUpHotCpuLessScale": Case(
        3, 4, start_times=[HOT, COOL, COOL], requests=[ONE] * 3,
        levels=levels(300, 500, 700), target=30, utilization=60,
        value=CONTAINERS_PER_POD * 600),
    "ScaleUpUnreadyNoScale": Case(
        3, 3, readiness=["True", "False", "False"], requests=[ONE] * 3,
        levels=levels(400, 500, 700), target=30, utilization=40,
        value=CONTAINERS_PER_POD * 400),
    "ScaleHotCpuNoScale": Case(
        3, 3, readiness=["True", "False", "False"], start_times=[COOL, HOT, HOT],
        requests=[ONE] * 3, levels=levels(400, 500, 700), target=30, utilization=40,
        value=CONTAINERS_PER_POD * 400),
    "ScaleUpIgnoresFailedPods": Case(
        2, 4, readiness=["True", "True", "False", "False"],
        phases=["Running", "Running", "Failed", "Failed"], requests=[ONE] * 4,
        levels=levels(500, 700), target=30, utilization=60, value=CONTAINERS_PER_POD * 600),
    "MissingContainerMetricScaleUpIgnoresFailedPods": Case(
        2, 4, readiness=["True", "True", "False", "False"],
        phases=["Running", "Running", "Failed", "Failed"], requests=[ONE] * 4,
        levels=[[1000, 500], [9000, 700], [1000], [9000]], target=30, utilization=60,
        value=600, container="container2"),
    "ScaleUpContainerIgnoresFailedPods": Case(
        2, 4, readiness=["True", "True", "False", "False"],
        phases=["Running", "Running", "Failed", "Failed"], requests=[ONE] * 4,
        levels=[[1000, 500], [9000, 700]], target=30, utilization=60, value=600,
        container="container2"),
    "ScaleUpIgnoresDeletionPods": Case(
        2, 4, readiness=["True", "True", "False", "False"], phases=["Running"] * 4,
        deleting=[False, False, True, True], requests=[ONE] * 4, levels=levels(500, 700),
        target=30, utilization=60, value=CONTAINERS_PER_POD * 600),
    "ScaleUpContainerIgnoresDeletionPods": Case(
        2, 4, readiness=["True", "True", "False", "False"], phases=["Running"] * 4,
        deleting=[False, False, True, True], requests=[ONE] * 4, levels=levels(500, 700),
        target=30, utilization=60, value=600, container="container1"),
    "ScaleDown": Case(5, 3, requests=[ONE] * 5, levels=levels(100, 300, 500, 250, 250),
                      target=50, utilization=28, value=CONTAINERS_PER_POD * 280),
    "ContainerScaleDown": Case(
        5, 3, requests=[ONE] * 5,
        levels=[[1000, 100], [1000, 300], [1000, 500], [1000, 250], [1000, 250]], target=50,
        utilization=28, value=280, container="container2"),
    "ScaleDownExcludeUnreadyPods": Case(
        5, 2, readiness=["True", "True", "True", "False", "False"], requests=[ONE] * 5,
        levels=levels(100, 300, 500, 250, 250), target=50, utilization=30,
        value=CONTAINERS_PER_POD * 300),
    "ScaleDownContainerExcludeUnreadyPods": Case(
        5, 2, readiness=["True", "True", "True", "False", "False"], requests=[ONE] * 5,
        levels=[[1000, 100], [1000, 300], [1000, 500], [1000, 250], [1000, 250]], target=50,
        utilization=30, value=300, container="container2"),
    "ScaleDownExcludeUnscheduledPods": Case(
        5, 1, readiness=["True", "False", "False", "False", "False"],
        phases=["Running", "Pending", "Pending", "Pending", "Pending"], requests=[ONE] * 5,
        levels=levels(100), target=50, utilization=10, value=CONTAINERS_PER_POD * 100),
    "ScaleDownContainerExcludeUnscheduledPods": Case(
        5, 1, readiness=["True", "False", "False", "False", "False"],
        phases=["Running", "Pending", "Pending", "Pending", "Pending"], requests=[ONE] * 5,
        levels=[[1000, 100], [1000, 300], [1000, 500], [1000, 250], [1000, 250]], target=50,
        utilization=10, value=100, container="container2"),
    "ScaleDownIgnoreHotCpuPods": Case(
        5, 2, start_times=[COOL, COOL, COOL, HOT, HOT], requests=[ONE] * 5,
        levels=levels(100, 300, 500, 250, 250), target=50, utilization=30,
        value=CONTAINERS_PER_POD * 300),
    "ScaleDownContainerIgnoreHotCpuPods": Case(
        5, 2, start_times=[COOL, COOL, COOL, HOT, HOT], requests=[ONE] * 5,
        levels=[[1000, 100], [1000, 300], [1000, 500], [1000, 1000], [1000, 1000]],
        target=50, utilization=30, value=300, container="container2"),
    "ScaleDownIgnoresFailedPods": Case(
        5, 3, readiness=["True"] * 5 + ["False"] * 2,
        phases=["Running"] * 5 + ["Failed"] * 2, requests=[ONE] * 7,
        levels=levels(100, 300, 500, 250, 250), target=50, utilization=28,
        value=CONTAINERS_PER_POD * 280),
    "ScaleDownContainerIgnoresFailedPods": Case(
        5, 3, readiness=["True"] * 5 + ["False"] * 2,
        phases=["Running"] * 5 + ["Failed"] * 2, requests=[ONE] * 7,
        levels=[[1000, 100], [1000, 300], [1000, 500], [1000, 250], [1000, 250]], target=50,
        utilization=28, value=280, container="container2"),
    "ScaleDownIgnoresDeletionPods": Case(
        5, 3, readiness=["True"] * 5 + ["False"] * 2, phases=["Running"] * 7,
        deleting=[False] * 5 + [True] * 2, requests=[ONE] * 7,
        levels=levels(100, 300, 500, 250, 250), target=50, utilization=28,
        value=CONTAINERS_PER_POD * 280),
    "ScaleDownIgnoresDeletionPods_StillRunning": Case(
        5, 3, readiness=["True"] * 5 + ["False"] * 2, phases=["Running"] * 7,
        deleting=[False] * 5 + [True] * 2, requests=[ONE] * 7,
        levels=[[1000, 100], [1000, 300], [1000, 500], [1000, 250], [1000, 250]], target=50,
        utilization=28, value=280, container="container2"),
    "Tolerance": Case(3, 3, requests=["0.9", "1.0", "1.1"], levels=levels(1010, 1030, 1020),
                      target=100, utilization=102, value=CONTAINERS_PER_POD * 1020),
    "SuperfluousMetrics": Case(
        4, 24, requests=[ONE] * 4, levels=levels(4000, 9500, 3000, 7000, 3200, 2000),
        target=100, utilization=587, value=CONTAINERS_PER_POD * 5875),
    "MissingMetrics": Case(4, 3, requests=[ONE] * 4, levels=levels(400, 95), target=100,
                           utilization=24, value=495),
    "EmptyMetrics": Case(
        4, error="unable to get metrics for resource cpu: no metrics returned from resource "
                 "metrics API", requests=[ONE] * 3, levels=levels(), target=100),
    "EmptyCPURequest": Case(1, error="missing request for", levels=levels(200), target=100),
    "MissingMetricsNoChangeEq": Case(2, 2, requests=[ONE] * 2, levels=levels(1000),
                                     target=100, utilization=100,
                                     value=CONTAINERS_PER_POD * 1000),
    "MissingMetricsNoChangeGt": Case(2, 2, requests=[ONE] * 2, levels=levels(1900),
                                     target=100, utilization=190,
                                     value=CONTAINERS_PER_POD * 1900),
    "MissingMetricsNoChangeLt": Case(2, 2, requests=[ONE] * 2, levels=levels(600),
                                     target=100, utilization=60,
                                     value=CONTAINERS_PER_POD * 600),
    "MissingMetricsUnreadyChange": Case(
        3, 3, readiness=["False", "True", "True"], requests=[ONE] * 3,
        levels=levels(100, 450), target=50, utilization=45, value=CONTAINERS_PER_POD * 450),
    "MissingMetricsHotCpuNoChange": Case(
        3, 3, start_times=[HOT, COOL, COOL], requests=[ONE] * 3,
        levels=levels(100, 450), target=50, utilization=45, value=CONTAINERS_PER_POD * 450),
    "MissingMetricsUnreadyScaleUp": Case(
        3, 4, readiness=["False", "True", "True"], requests=[ONE] * 3,
        levels=levels(100, 2000), target=50, utilization=200,
        value=CONTAINERS_PER_POD * 2000),
    "MissingMetricsHotCpuScaleUp": Case(
        3, 4, readiness=["False", "True", "True"], start_times=[HOT, COOL, COOL],
        requests=[ONE] * 3, levels=levels(100, 2000), target=50, utilization=200,
        value=CONTAINERS_PER_POD * 2000),
    "MissingMetricsUnreadyScaleDown": Case(
        4, 3, readiness=["False", "True", "True", "True"], requests=[ONE] * 4,
        levels=levels(100, 100, 100), target=50, utilization=10,
        value=CONTAINERS_PER_POD * 100),
    "MissingMetricsScaleDownTargetOver100": Case(
        4, 2, readiness=["False", "True", "True", "True"],
        requests=[ONE, ONE, "2.0", "2.0"], levels=levels(200, 100, 100), target=300,
        utilization=6, value=CONTAINERS_PER_POD * 100),
    "DuringRollingUpdateWithMaxSurge": Case(
        2, 2, phases=["Running"] * 3, requests=[ONE] * 3, levels=levels(100, 100), target=50,
        utilization=10, value=CONTAINERS_PER_POD * 100),
}


@pytest.mark.parametrize("name", list(RESOURCE_CASES))
async def test_resource_replicas(name: str) -> None:
    case = RESOURCE_CASES[name]
    calc = calculator(case)
    if case.error:
        with pytest.raises(MetricsError, match=case.error):
            await calc.get_resource_replicas(case.current, case.target, case.resource,
                                             Tolerances(), NS, f"name={PREFIX}",
                                             case.container)
        return
    got = await calc.get_resource_replicas(case.current, case.target, case.resource,
                                           Tolerances(), NS, f"name={PREFIX}", case.container)
    assert (got.replicas, got.utilization, got.raw_value) == \
        (case.expected, case.utilization, case.value)
    assert got.timestamp == datetime(1, 1, 1, tzinfo=UTC)


async def test_computed_tolerance_alg_implementation() -> None:
    """Upstream's TestReplicaCalcComputedToleranceAlgImplementation: just past the
    tolerance scales down; just inside it does not."""
    start_pods = 10
    used = start_pods * 150
    requested = 2 * used
    requested_to_used = float(requested // used)
    per_pod = requested // start_pods
    target = abs(1 / (requested_to_used * (1 - 0.1))) + .01
    percent = int(target * 100)
    ratio = used / (requested * target)
    final_pods = math.ceil(ratio * start_pods)
    offsets = [100, -100, 10, -10, 2, -2, 1, -1, 0, 0]
    case = Case(start_pods, final_pods, requests=[f"{per_pod + o}m" for o in offsets],
                levels=levels(*[used // 10] * 10), target=percent,
                utilization=used * 100 // requested, value=CONTAINERS_PER_POD * used // 10)
    got = await calculator(case).get_resource_replicas(
        case.current, case.target, "cpu", Tolerances(), NS, f"name={PREFIX}")
    assert (got.replicas, got.utilization, got.raw_value) == \
        (final_pods, case.utilization, case.value)
    case.target = int((abs(1 / (requested_to_used * (1 - 0.1))) + .004) * 100)
    got = await calculator(case).get_resource_replicas(
        case.current, case.target, "cpu", Tolerances(), NS, f"name={PREFIX}")
    assert got.replicas == start_pods


# Upstream's pods-metric (custom metric) cases, on the plain-metric path: (current,
# expected, levels, target, expected usage, readiness, start times, phases).
PLAIN_CASES: dict[str, tuple[int, int, list[int], int, int, list[str], list[str], list[str]]] = {
    "ScaleUpCM": (3, 4, [20000, 10000, 30000], 15000, 20000, [], [], []),
    "ScaleUpCMUnreadyHotCpuNoLessScale": (
        3, 6, [50000, 10000, 30000], 15000, 30000, ["True", "True", "False"],
        [COOL, COOL, HOT], []),
    "ScaleUpCMUnreadyHotCpuScaleWouldScaleDown": (
        3, 7, [50000, 15000, 30000], 15000, 31666, ["False", "True", "False"],
        [HOT, COOL, HOT], []),
    "ScaleUpCMExternal": (1, 2, [8600], 4400, 8600, [], [], []),
    "ScaleDownCM": (5, 3, [12000] * 5, 20000, 12000, [], [], []),
    "ToleranceCM": (3, 3, [20000, 21000, 21000], 20000, 20666, [], [], []),
    "PlainMetricMissingMetricsNoChangeEq": (5, 5, [20000, 19000, 21000], 20000, 20000,
                                            [], [], []),
    "DuringRollingUpdateWithMaxSurgeCM": (2, 2, [10000, 10000], 17000, 10000, [], [],
                                          ["Running"] * 3),
}


@pytest.mark.parametrize("name", list(PLAIN_CASES))
def test_plain_metric_replicas(name: str) -> None:
    current, expected, values, target, usage, readiness, starts, phases = PLAIN_CASES[name]
    case = Case(current, readiness=readiness, start_times=starts, phases=phases)
    calc = calculator(case)
    metrics = {f"{PREFIX}-{i}": PodMetric(v) for i, v in enumerate(values)}
    got = calc.calc_plain_metric_replicas(metrics, current, target, Tolerances(), NS,
                                          f"name={PREFIX}", "")
    assert got == (expected, usage)


NOW = datetime.now(UTC)


def _pod(name: str, phase: str, start: datetime | None = None,
         ready: tuple[str, datetime] | None = None, deleting: bool = False
         ) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase}
    if start is not None:
        status["startTime"] = rfc3339(start)
    if ready is not None:
        status["conditions"] = [{"type": "Ready", "status": ready[0],
                                 "lastTransitionTime": rfc3339(ready[1])}]
    meta: dict[str, Any] = {"name": name}
    if deleting:
        meta["deletionTimestamp"] = rfc3339(NOW)
    return {"metadata": meta, "status": status}


def _m(value: int = 1, stamp: datetime | None = None, window: float = 0) -> PodMetric:
    return PodMetric(value, stamp or datetime(1, 1, 1, tzinfo=UTC), timedelta(seconds=window))


M = timedelta(minutes=1)
S = timedelta(seconds=1)
# Upstream's TestGroupPods: (pods, metrics, resource, ready, unready, missing, ignored).
GROUP_CASES: dict[str, tuple[list[dict[str, Any]], PodMetricsInfo, str, int, set[str],
                             set[str], set[str]]] = {
    "void": ([], {}, "cpu", 0, set(), set(), set()),
    "count in a ready pod - memory": (
        [_pod("bentham", "Succeeded")], {"bentham": _m(1, NOW, 60)}, "memory", 1, set(),
        set(), set()),
    "unready a pod without ready condition - CPU": (
        [_pod("lucretius", "Succeeded", NOW)], {"lucretius": _m()}, "cpu", 0, {"lucretius"},
        set(), set()),
    "count in a ready pod with fresh metrics during initialization period - CPU": (
        [_pod("bentham", "Succeeded", NOW - M, ("True", NOW - 30 * S))],
        {"bentham": _m(1, NOW, 30)}, "cpu", 1, set(), set(), set()),
    "unready a ready pod without fresh metrics during initialization period - CPU": (
        [_pod("bentham", "Succeeded", NOW - M, ("True", NOW - 30 * S))],
        {"bentham": _m(1, NOW, 60)}, "cpu", 0, {"bentham"}, set(), set()),
    "unready an unready pod during initialization period - CPU": (
        [_pod("lucretius", "Succeeded", NOW - 10 * M, ("False", NOW - 9 * M - 54 * S))],
        {"lucretius": _m()}, "cpu", 0, {"lucretius"}, set(), set()),
    "count in a ready pod without fresh metrics after initialization period - CPU": (
        [_pod("bentham", "Succeeded", NOW - 3 * M, ("True", NOW - 3 * M))],
        {"bentham": _m(1, NOW - 2 * M, 60)}, "cpu", 1, set(), set(), set()),
    "count in an unready pod that was ready after initialization period - CPU": (
        [_pod("lucretius", "Succeeded", NOW - 10 * M, ("False", NOW - 9 * M))],
        {"lucretius": _m()}, "cpu", 1, set(), set(), set()),
    "unready pod that has never been ready after initialization period - CPU": (
        [_pod("lucretius", "Succeeded", NOW - 10 * M, ("False", NOW - 9 * M - 50 * S))],
        {"lucretius": _m()}, "cpu", 1, set(), set(), set()),
    "a missing pod": ([_pod("epicurus", "Succeeded", NOW - 3 * M)], {}, "cpu", 0, set(),
                      {"epicurus"}, set()),
    "several pods": (
        [_pod("lucretius", "Succeeded", NOW),
         _pod("niccolo", "Succeeded", NOW - 3 * M, ("True", NOW - 3 * M)),
         _pod("epicurus", "Succeeded", NOW - 3 * M)],
        {"lucretius": _m(), "niccolo": _m()}, "cpu", 1, {"lucretius"}, {"epicurus"}, set()),
    "pending pods are unreadied": ([_pod("unscheduled", "Pending")], {}, "cpu", 0,
                                   {"unscheduled"}, set(), set()),
    "ignore pods with deletion timestamps": (
        [_pod("deleted", "Pending", deleting=True)], {"deleted": _m()}, "cpu", 0, set(),
        set(), {"deleted"}),
    "ignore pods in a failed state": ([_pod("failed", "Failed")], {"failed": _m()}, "cpu", 0,
                                      set(), set(), {"failed"}),
}


@pytest.mark.parametrize("name", list(GROUP_CASES))
def test_group_pods(name: str) -> None:
    pods, metrics, resource, ready, unready, missing, ignored = GROUP_CASES[name]
    got = group_pods(pods, metrics, resource, INIT_PERIOD, READINESS_DELAY, NOW)
    assert got == PodGroups(ready, frozenset(unready), frozenset(missing), frozenset(ignored))


def _cpu(milli: int) -> dict[str, Any]:
    return {"requests": {"cpu": f"{milli}m"}}


@pytest.mark.parametrize(("name", "spec", "container", "expected"), [
    ("regular containers", {"containers": [{"name": "container1", "resources": _cpu(100)},
                                           {"name": "container2", "resources": _cpu(50)}]},
     "", 150),
    ("special container", {"containers": [{"name": "container1", "resources": _cpu(100)},
                                          {"name": "container2", "resources": _cpu(50)}]},
     "container1", 100),
    ("restartable init containers", {
        "containers": [{"name": "container1", "resources": _cpu(100)}],
        "initContainers": [{"name": "init-container1", "resources": _cpu(20)},
                           {"name": "restartable-container1", "restartPolicy": "Always",
                            "resources": _cpu(50)}]}, "", 150),
    ("pod-level requests", {"resources": _cpu(300),
                            "containers": [{"name": "container1", "resources": _cpu(100)}]},
     "", 300),
    ("container over pod-level requests", {
        "resources": _cpu(300), "containers": [{"name": "container1", "resources": _cpu(100)}]},
     "container1", 100),
])
def test_calculate_requests(name: str, spec: dict[str, Any], container: str,
                            expected: int) -> None:
    pod = {"metadata": {"name": "test-pod"}, "spec": spec}
    assert calculate_requests([pod], container, "cpu") == {"test-pod": expected}


def test_calculate_requests_missing() -> None:
    pod = {"metadata": {"name": "test-pod"}, "spec": {"containers": [{"name": "container1"}]}}
    with pytest.raises(MetricsError,
                       match="missing request for cpu in container container1 of Pod test-pod"):
        calculate_requests([pod], "", "cpu")


@pytest.mark.parametrize(("usage", "tolerances", "expected"), [
    (1200, Tolerances(scale_down=0.1, scale_up=0.25), 3),  # 120%: within 25% up
    (1200, Tolerances(scale_down=0.1, scale_up=0.1), 4),
    (600, Tolerances(scale_down=0.5, scale_up=0.1), 3),  # 60%: within 50% down
    (600, Tolerances(scale_down=0.1, scale_up=0.5), 2),  # outside 10% down: ceil(1.8)
])
async def test_scale_up_and_down_tolerances_apply_apart(usage: int, tolerances: Tolerances,
                                                         expected: int) -> None:
    """The HPA's own `behavior.scale{Up,Down}.tolerance` (upstream's Tolerances)."""
    case = Case(3, requests=[ONE] * 3, levels=levels(usage, usage, usage), target=100)
    got = await calculator(case).get_resource_replicas(3, 100, "cpu", tolerances, NS,
                                                       f"name={PREFIX}")
    assert got.replicas == expected
