"""`/metrics/cadvisor`: a `NodeUsage` as cadvisor's container metrics (cadvisor's
metrics/prometheus.go, as the kubelet serves them), in the Prometheus text format written by
`prometheus-client`.

Every series carries cadvisor's container labels: `container`, `pod`, `namespace`, `id`
(the cgroup), `image` and `name` (the runtime's container id); a pod's own cgroup is a
series with `container=""`, `image=""` and `name=""`, the node's pods cgroup one with only
`id`. Series: `container_cpu_usage_seconds_total`, `container_memory_working_set_bytes`,
`container_memory_usage_bytes`, `container_memory_rss`, `container_start_time_seconds`,
`container_fs_usage_bytes` (the writable layer), and per pod and interface
`container_network_receive_bytes_total` and `container_network_transmit_bytes_total`
(and their `_errors_total`). Samples are stamped with the time of their reading.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from kybernetes.kubelet.stats import NodeUsage, Usage

LABELS = ["container", "id", "image", "name", "namespace", "pod"]


class _CadvisorCollector:
    def __init__(self, node: NodeUsage) -> None:
        self.node = node

    def collect(self) -> Iterator[Metric]:
        cpu = CounterMetricFamily(
            "container_cpu_usage_seconds", "Cumulative cpu time consumed in seconds.",
            labels=LABELS)
        working_set = GaugeMetricFamily(
            "container_memory_working_set_bytes", "Current working set in bytes.",
            labels=LABELS)
        memory_usage = GaugeMetricFamily(
            "container_memory_usage_bytes", "Current memory usage in bytes, including all "
            "memory regardless of when it was accessed", labels=LABELS)
        rss = GaugeMetricFamily("container_memory_rss", "Size of RSS in bytes.", labels=LABELS)
        start = GaugeMetricFamily("container_start_time_seconds",
                                  "Start time of the container since unix epoch in seconds.",
                                  labels=LABELS)
        fs_usage = GaugeMetricFamily(
            "container_fs_usage_bytes", "Number of bytes that are consumed by the container "
            "on this filesystem.", labels=LABELS)
        net_labels = [*LABELS, "interface"]
        net = {key: CounterMetricFamily(f"container_network_{key}", help_text,
                                        labels=net_labels)
               for key, help_text in (
                   ("receive_bytes", "Cumulative count of bytes received"),
                   ("receive_errors", "Cumulative count of errors encountered while receiving"),
                   ("transmit_bytes", "Cumulative count of bytes transmitted"),
                   ("transmit_errors",
                    "Cumulative count of errors encountered while transmitting"))}

        def usage(values: list[str], u: Usage) -> None:
            if u.cpu is not None:
                cpu.add_metric(values, u.cpu.usage_core_nanoseconds / 1e9, timestamp=u.time)
            if u.memory is not None:
                working_set.add_metric(values, u.memory.working_set_bytes, timestamp=u.time)
                memory_usage.add_metric(values, u.memory.usage_bytes, timestamp=u.time)
                rss.add_metric(values, u.memory.rss_bytes, timestamp=u.time)

        for system in self.node.system:
            values = ["", system.cgroup, "", "", "", ""]
            usage(values, system.usage)
            start.add_metric(values, system.start_time, timestamp=system.usage.time)
        for pod in self.node.pods:
            values = ["", pod.cgroup, "", "", pod.namespace, pod.name]
            usage(values, pod.usage)
            start.add_metric(values, pod.start_time, timestamp=pod.usage.time)
            for i in pod.network.interfaces if pod.network is not None else ():
                for key, value in (("receive_bytes", i.rx_bytes),
                                   ("receive_errors", i.rx_errors),
                                   ("transmit_bytes", i.tx_bytes),
                                   ("transmit_errors", i.tx_errors)):
                    net[key].add_metric([*values, i.name], value, timestamp=pod.usage.time)
            for c in pod.containers:
                values = [c.name, c.cgroup, c.image, c.runtime_id, pod.namespace, pod.name]
                usage(values, c.usage)
                start.add_metric(values, c.start_time, timestamp=c.usage.time)
                if c.rootfs is not None:
                    fs_usage.add_metric(values, c.rootfs.used_bytes, timestamp=c.rootfs.time)
        yield from (cpu, fs_usage, memory_usage, rss, working_set, *net.values(), start)


def cadvisor_metrics(node: NodeUsage) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_CadvisorCollector(node))
    return generate_latest(registry)
