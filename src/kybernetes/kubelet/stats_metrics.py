"""`/metrics/resource`: a `NodeUsage` as upstream's resource metrics (pkg/kubelet/metrics/
collectors/resource_metrics.go), in the Prometheus text format written by
`prometheus-client`.

Series, each sample stamped with the time of its reading as upstream's: the node's
`node_cpu_usage_seconds_total` and `node_memory_working_set_bytes`; per running container
(`container`, `pod`, `namespace`) `container_cpu_usage_seconds_total`,
`container_memory_working_set_bytes` and `container_start_time_seconds`; per pod (`pod`,
`namespace`) `pod_cpu_usage_seconds_total` and `pod_memory_working_set_bytes`; and
`scrape_error`, 1 when some figure could not be read. The metrics server reads these.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from kybernetes.kubelet.stats import NodeUsage

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _ResourceCollector:
    def __init__(self, node: NodeUsage) -> None:
        self.node = node

    def collect(self) -> Iterator[Metric]:
        node = self.node
        node_cpu = CounterMetricFamily(
            "node_cpu_usage_seconds", "[STABLE] Cumulative cpu time consumed by the node in "
            "core-seconds")
        node_memory = GaugeMetricFamily(
            "node_memory_working_set_bytes", "[STABLE] Current working set of the node in bytes")
        if node.usage.cpu is not None:
            node_cpu.add_metric([], node.usage.cpu.usage_core_nanoseconds / 1e9,
                                timestamp=node.usage.time)
        if node.usage.memory is not None:
            node_memory.add_metric([], node.usage.memory.working_set_bytes,
                                   timestamp=node.usage.time)
        labels = ["container", "pod", "namespace"]
        container_cpu = CounterMetricFamily(
            "container_cpu_usage_seconds", "[STABLE] Cumulative cpu time consumed by the "
            "container in core-seconds", labels=labels)
        container_memory = GaugeMetricFamily(
            "container_memory_working_set_bytes", "[STABLE] Current working set of the "
            "container in bytes", labels=labels)
        container_start = GaugeMetricFamily(
            "container_start_time_seconds", "[STABLE] Start time of the container since unix "
            "epoch in seconds", labels=labels)
        pod_cpu = CounterMetricFamily(
            "pod_cpu_usage_seconds", "[STABLE] Cumulative cpu time consumed by the pod in "
            "core-seconds", labels=["pod", "namespace"])
        pod_memory = GaugeMetricFamily(
            "pod_memory_working_set_bytes", "[STABLE] Current working set of the pod in bytes",
            labels=["pod", "namespace"])
        for pod in node.pods:
            for c in pod.containers:
                values = [c.name, pod.name, pod.namespace]
                container_start.add_metric(values, c.start_time, timestamp=c.usage.time)
                if c.usage.cpu is not None:
                    container_cpu.add_metric(values, c.usage.cpu.usage_core_nanoseconds / 1e9,
                                             timestamp=c.usage.time)
                if c.usage.memory is not None:
                    container_memory.add_metric(values, c.usage.memory.working_set_bytes,
                                                timestamp=c.usage.time)
            if pod.usage.cpu is not None:
                pod_cpu.add_metric([pod.name, pod.namespace],
                                   pod.usage.cpu.usage_core_nanoseconds / 1e9,
                                   timestamp=pod.usage.time)
            if pod.usage.memory is not None:
                pod_memory.add_metric([pod.name, pod.namespace],
                                      pod.usage.memory.working_set_bytes,
                                      timestamp=pod.usage.time)
        scrape_error = GaugeMetricFamily(
            "scrape_error", "[ALPHA] 1 if there was an error while getting container "
            "metrics, 0 otherwise")
        scrape_error.add_metric([], 1 if node.error else 0)
        yield from (container_cpu, container_memory, container_start, node_cpu, node_memory,
                    pod_cpu, pod_memory, scrape_error)


def resource_metrics(node: NodeUsage) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ResourceCollector(node))
    return generate_latest(registry)
