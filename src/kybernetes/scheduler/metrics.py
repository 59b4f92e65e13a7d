"""The scheduler's Prometheus metrics (upstream's pkg/scheduler/metrics), on a registry of
the scheduler's own, served on its `/metrics` port.

`scheduler_schedule_attempts_total` and `scheduler_scheduling_attempt_duration_seconds` by
result (scheduled, unschedulable, error) and profile, recorded where a cycle ends (binding
done, or the failure handler, as upstream); `scheduler_pod_scheduling_sli_duration_seconds`
from a pod's first attempt to its binding, by the number of attempts; and
`scheduler_pending_pods` by queue (active, backoff, unschedulable, gated), read from the
scheduling queue at scrape time.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.utils import INF

SCHEDULED, UNSCHEDULABLE, ERROR = "scheduled", "unschedulable", "error"


def _exponential(start: float, factor: float, count: int) -> tuple[float, ...]:
    return (*(start * factor ** i for i in range(count)), INF)


class SchedulerMetrics:
    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self._attempts = Counter(
            "scheduler_schedule_attempts", "[STABLE] Number of attempts to schedule pods, by "
            "the result. 'unschedulable' means a pod could not be scheduled, while 'error' "
            "means an internal scheduler problem.", ("result", "profile"), registry=registry)
        self._attempt_duration = Histogram(
            "scheduler_scheduling_attempt_duration_seconds", "[STABLE] Scheduling attempt "
            "latency in seconds (scheduling algorithm + binding)", ("result", "profile"),
            buckets=_exponential(0.001, 2, 15), registry=registry)
        self._sli_duration = Histogram(
            "scheduler_pod_scheduling_sli_duration_seconds", "[BETA] E2e latency for a pod "
            "being scheduled, from the time the pod enters the scheduling queue and might "
            "involve multiple scheduling attempts.", ("attempts",),
            buckets=_exponential(0.01, 2, 20), registry=registry)
        self._pending = Gauge(
            "scheduler_pending_pods", "[STABLE] Number of pending pods, by the queue type. "
            "'active' means number of pods in activeQ; 'backoff' means number of pods in "
            "backoffQ; 'unschedulable' means number of pods in unschedulablePods that the "
            "scheduler attempted to schedule and failed; 'gated' is the number of "
            "unschedulable pods that the scheduler never attempted to schedule because they "
            "are gated.", ("queue",), registry=registry)

    def pending_from(self, counts: dict[str, Callable[[], float]]) -> None:
        """Read `scheduler_pending_pods{queue}` from these counters at scrape time."""
        for queue, count in counts.items():
            self._pending.labels(queue).set_function(count)

    def attempt(self, result: str, profile: str, seconds: float) -> None:
        self._attempts.labels(result, profile).inc()
        self._attempt_duration.labels(result, profile).observe(seconds)

    def scheduled(self, attempts: int, since_first_attempt: float) -> None:
        self._sli_duration.labels(str(attempts)).observe(since_first_attempt)
