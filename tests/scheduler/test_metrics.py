"""The scheduler's Prometheus metrics: attempts and their durations by result and profile,
the end-to-end scheduling duration and the pending pods by queue, as prometheus-client's
parser reads the scheduler's registry."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from kybernetes.scheduler import Scheduler
from tests.scheduler.helpers import node, pod
from tests.scheduler.test_scheduler import FakeApi, schedule, scheduler


def _samples(s: Scheduler) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(s.metrics.registry).decode()
    return {(x.name, tuple(sorted(x.labels.items()))): x.value
            for family in text_string_to_metric_families(text) for x in family.samples}


async def test_attempts_durations_and_pending_pods() -> None:
    s = scheduler(FakeApi())
    s._on_node_add(node("n1", cpu="1"))
    await schedule(s, pod("web", cpu="500m"))
    await schedule(s, pod("big", cpu="2"))
    found = _samples(s)
    profile = ("profile", "default-scheduler")
    for result in ("scheduled", "unschedulable"):
        labels = tuple(sorted((profile, ("result", result))))
        assert found[("scheduler_schedule_attempts_total", labels)] == 1
        assert found[("scheduler_scheduling_attempt_duration_seconds_count", labels)] == 1
    assert found[("scheduler_pod_scheduling_sli_duration_seconds_count",
                  (("attempts", "1"),))] == 1
    assert found[("scheduler_pending_pods", (("queue", "unschedulable"),))] == 1
    assert found[("scheduler_pending_pods", (("queue", "active"),))] == 0
    assert found[("scheduler_pending_pods", (("queue", "gated"),))] == 0
    await s.shutdown()
