"""kube-proxy's Prometheus metrics, under upstream's names (pkg/proxy/metrics/metrics.go),
in the text exposition format (the repo pins no Prometheus client library)."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field


@dataclass
class Histogram:
    name: str
    help: str
    buckets: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * len(self.buckets)

    def observe(self, value: float) -> None:
        index = bisect.bisect_left(self.buckets, value)
        if index < len(self.counts):
            self.counts[index] += 1
        self.total += value
        self.count += 1

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} [ALPHA] {self.help}", f"# TYPE {self.name} histogram"]
        cumulative = 0
        for bound, count in zip(self.buckets, self.counts, strict=True):
            cumulative += count
            lines.append(f'{self.name}_bucket{{le="{bound:g}"}} {cumulative}')
        lines += [f'{self.name}_bucket{{le="+Inf"}} {self.count}',
                  f"{self.name}_sum {self.total:.9g}", f"{self.name}_count {self.count}"]
        return lines


def _exponential(start: float, factor: float, count: int) -> tuple[float, ...]:
    return tuple(start * factor ** i for i in range(count))


def _linear(start: float, width: float, count: int) -> tuple[float, ...]:
    return tuple(start + width * i for i in range(count))


class ProxyMetrics:
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sync_duration = Histogram(
            "kubeproxy_sync_proxy_rules_duration_seconds", "SyncProxyRules latency in seconds",
            _exponential(0.001, 2, 15))
        self.full_sync_duration = Histogram(
            "kubeproxy_sync_full_proxy_rules_duration_seconds",
            "SyncProxyRules latency in seconds for full resyncs", _exponential(0.001, 2, 15))
        self.partial_sync_duration = Histogram(
            "kubeproxy_sync_partial_proxy_rules_duration_seconds",
            "SyncProxyRules latency in seconds for partial resyncs",
            _exponential(0.001, 2, 15))
        self.network_programming = Histogram(
            "kubeproxy_network_programming_duration_seconds",
            "In Cluster Network Programming Latency in seconds",
            (*_linear(0.25, 0.25, 2), *_linear(1, 1, 59), *_linear(60, 5, 12),
             *_linear(120, 30, 7)))
        self.last_sync_timestamp = math.nan
        self.sync_failures = 0

    def render(self) -> str:
        lines: list[str] = []
        for histogram in (self.sync_duration, self.full_sync_duration,
                          self.partial_sync_duration, self.network_programming):
            lines += histogram.render()
        name = "kubeproxy_sync_proxy_rules_last_timestamp_seconds"
        last = 0.0 if math.isnan(self.last_sync_timestamp) else self.last_sync_timestamp
        lines += [f"# HELP {name} [ALPHA] The last time proxy rules were successfully synced",
                  f"# TYPE {name} gauge", f"{name} {last:.9g}"]
        if self.mode == "iptables":
            name = "kubeproxy_sync_proxy_rules_iptables_restore_failures_total"
            text = "Cumulative proxy iptables restore failures"
        else:
            name = "kubeproxy_sync_proxy_rules_nftables_sync_failures_total"
            text = "Cumulative proxy nftables sync failures"
        lines += [f"# HELP {name} [ALPHA] {text}", f"# TYPE {name} counter",
                  f"{name} {self.sync_failures}"]
        return "\n".join(lines) + "\n"
