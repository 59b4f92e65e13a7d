"""kube-proxy's Prometheus metrics, under upstream's names and buckets
(pkg/proxy/metrics/metrics.go), on a registry of its own written by `prometheus-client`:
rule sync latencies (all, full, partial), network programming latency, the last successful
sync and the backend's sync failures."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.utils import INF


def _exponential(start: float, factor: float, count: int) -> tuple[float, ...]:
    return tuple(start * factor ** i for i in range(count))


def _linear(start: float, width: float, count: int) -> tuple[float, ...]:
    return tuple(start + width * i for i in range(count))


_SYNC_BUCKETS = (*_exponential(0.001, 2, 15), INF)


class ProxyMetrics:
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.sync_duration = Histogram(
            "kubeproxy_sync_proxy_rules_duration_seconds",
            "[ALPHA] SyncProxyRules latency in seconds", buckets=_SYNC_BUCKETS,
            registry=registry)
        self.full_sync_duration = Histogram(
            "kubeproxy_sync_full_proxy_rules_duration_seconds",
            "[ALPHA] SyncProxyRules latency in seconds for full resyncs",
            buckets=_SYNC_BUCKETS, registry=registry)
        self.partial_sync_duration = Histogram(
            "kubeproxy_sync_partial_proxy_rules_duration_seconds",
            "[ALPHA] SyncProxyRules latency in seconds for partial resyncs",
            buckets=_SYNC_BUCKETS, registry=registry)
        self.network_programming = Histogram(
            "kubeproxy_network_programming_duration_seconds",
            "[ALPHA] In Cluster Network Programming Latency in seconds",
            buckets=(*_linear(0.25, 0.25, 2), *_linear(1, 1, 59), *_linear(60, 5, 12),
                     *_linear(120, 30, 7), INF), registry=registry)
        self.last_sync_timestamp = Gauge(
            "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
            "[ALPHA] The last time proxy rules were successfully synced", registry=registry)
        if mode == "iptables":
            self.sync_failures = Counter(
                "kubeproxy_sync_proxy_rules_iptables_restore_failures",
                "[ALPHA] Cumulative proxy iptables restore failures", registry=registry)
        else:
            self.sync_failures = Counter(
                "kubeproxy_sync_proxy_rules_nftables_sync_failures",
                "[ALPHA] Cumulative proxy nftables sync failures", registry=registry)

    def render(self) -> str:
        return generate_latest(self.registry).decode()
