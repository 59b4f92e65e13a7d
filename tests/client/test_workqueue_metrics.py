"""client-go's `workqueue_*` metrics of a named queue, read from the process's work-queue
registry with prometheus-client's parser."""

from __future__ import annotations

import asyncio

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from kybernetes.client.workqueue import METRICS_REGISTRY, RateLimitingQueue, WorkQueue


def _samples(name: str) -> dict[str, float]:
    text = generate_latest(METRICS_REGISTRY).decode()
    return {s.name: s.value for family in text_string_to_metric_families(text)
            for s in family.samples if s.labels.get("name") == name and "le" not in s.labels}


async def test_named_queue_records_depth_adds_latencies_and_retries() -> None:
    queue: RateLimitingQueue[str] = RateLimitingQueue(name="test-metrics-queue")
    queue.add("a")
    queue.add("a")  # deduplicated: not an add
    queue.add("b")
    assert _samples("test-metrics-queue")["workqueue_depth"] == 2
    item = await queue.get()
    await asyncio.sleep(0.01)
    during = _samples("test-metrics-queue")
    assert during["workqueue_longest_running_processor_seconds"] > 0
    queue.add_rate_limited(item)
    queue.done(item)
    found = _samples("test-metrics-queue")
    assert found["workqueue_adds_total"] == 2
    assert found["workqueue_depth"] == 1
    assert found["workqueue_queue_duration_seconds_count"] == 1
    assert found["workqueue_work_duration_seconds_count"] == 1
    assert found["workqueue_retries_total"] == 1
    assert found["workqueue_unfinished_work_seconds"] == 0
    queue.shutdown()


def test_unnamed_queue_records_nothing() -> None:
    before = generate_latest(METRICS_REGISTRY)
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    assert generate_latest(METRICS_REGISTRY).count(b'name=""') == before.count(b'name=""') == 0
