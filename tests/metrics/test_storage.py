"""The metrics server's storage and scrape decoding: rates between two points, restarts,
fresh containers, and the objects' shapes, as upstream metrics-server computes them."""

from __future__ import annotations

from kybernetes.metrics.scrape import NodeBatch, Point, decode, kubelet_url
from kybernetes.metrics.storage import (
    MetricsStorage,
    go_duration,
    node_metrics,
    pod_metrics,
)

KEY = ("ns", "web")


def batch(t: float, node_cpu: int, pods: dict[str, Point] | None = None) -> NodeBatch:
    return NodeBatch(Point(0, t, node_cpu, 1 << 30), {KEY: pods} if pods else {})


def test_node_metrics_need_two_points() -> None:
    storage = MetricsStorage(15)
    storage.store({"n1": batch(100, 10_000_000_000)})
    assert storage.node_usage("n1") is None
    storage.store({"n1": batch(115, 25_000_000_000)})
    found = storage.node_usage("n1")
    assert found is not None
    assert (found.cpu_nanocores, found.memory_bytes, found.timestamp, found.window) == \
        (1_000_000_000, 1 << 30, 115, 15)
    # The same point again (a kubelet's cached figures) keeps the earlier prev.
    storage.store({"n1": batch(115, 25_000_000_000)})
    assert storage.node_usage("n1") == found
    # A node that did not answer drops out.
    storage.store({})
    assert storage.node_usage("n1") is None


def test_pod_metrics_follow_container_restarts() -> None:
    storage = MetricsStorage(15)
    storage.store({"n1": batch(100, 1, {"app": Point(10, 100, 1_000_000_000, 5)})})
    storage.store({"n1": batch(115, 2, {"app": Point(10, 115, 4_000_000_000, 6)})})
    [(name, found)] = storage.pod_usage(*KEY) or []
    assert (name, found.cpu_nanocores, found.memory_bytes) == ("app", 200_000_000, 6)
    # A restart (another start time) starts over; the pod has no metrics until then.
    storage.store({"n1": batch(130, 3, {"app": Point(120, 130, 1_000, 7)})})
    usage = storage.pod_usage(*KEY)
    # Started within the resolution: a zero point at its start stands in for prev.
    assert usage is not None and usage[0][1].cpu_nanocores == 100 and usage[0][1].window == 10


def test_a_pod_needs_every_container() -> None:
    storage = MetricsStorage(15)
    storage.store({"n1": batch(100, 1, {"a": Point(0, 100, 1, 1)})})
    storage.store({"n1": batch(115, 2, {"a": Point(0, 115, 2, 1), "b": Point(0, 115, 2, 1)})})
    assert storage.pod_usage(*KEY) is None


def test_objects() -> None:
    storage = MetricsStorage(15)
    storage.store({"n1": batch(1796640000, 0, {"app": Point(1796639995, 1796640000,
                                                           50_000_000, 3 << 20)})})
    node = {"metadata": {"name": "n1", "labels": {"role": "x"}}}
    storage.store({"n1": batch(1796640015, 15_000_000_000)})
    found = storage.node_usage("n1")
    assert found is not None
    obj = node_metrics(node, found)
    assert obj["kind"] == "NodeMetrics" and obj["apiVersion"] == "metrics.k8s.io/v1beta1"
    assert obj["metadata"]["name"] == "n1" and obj["metadata"]["labels"] == {"role": "x"}
    assert obj["timestamp"] == "2026-12-07T10:40:15Z" and obj["window"] == "15s"
    assert obj["usage"] == {"cpu": "1", "memory": "1Gi"}
    fresh = MetricsStorage(15)
    fresh.store({"n1": batch(1796640000, 0, {"app": Point(1796639995, 1796640000,
                                                         50_000_000, 3 << 20)})})
    containers = fresh.pod_usage(*KEY)
    assert containers is not None
    pod = pod_metrics({"metadata": {"name": "web", "namespace": "ns"}}, containers)
    assert pod["kind"] == "PodMetrics" and pod["metadata"]["namespace"] == "ns"
    assert pod["window"] == "5s"
    assert pod["containers"] == [{"name": "app", "usage": {"cpu": "10m", "memory": "3Mi"}}]


def test_go_durations() -> None:
    assert go_duration(15) == "15s"
    assert go_duration(14.998) == "14.998s"
    assert go_duration(60.5) == "1m0.5s"
    assert go_duration(3725) == "1h2m5s"


def test_decode() -> None:
    text = """# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{container="app",namespace="ns",pod="web"} 1.5 1796640000000
container_memory_working_set_bytes{container="app",namespace="ns",pod="web"} 4096 1796640000000
container_start_time_seconds{container="app",namespace="ns",pod="web"} 1796639990 1796640000000
container_cpu_usage_seconds_total{container="nomem",namespace="ns",pod="web"} 1 1796640000000
# TYPE node_cpu_usage_seconds_total counter
node_cpu_usage_seconds_total 100.25 1796640001000
node_memory_working_set_bytes 8192 1796640001000
scrape_error 0
"""
    got = decode(text)
    assert got.node == Point(0, 1796640001.0, 100_250_000_000, 8192)
    assert got.pods == {("ns", "web"): {"app": Point(1796639990.0, 1796640000.0,
                                                     1_500_000_000, 4096)}}


def test_kubelet_url() -> None:
    node = {"metadata": {"name": "n"}, "status": {
        "addresses": [{"type": "Hostname", "address": "n"},
                      {"type": "InternalIP", "address": "10.0.0.5"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10255}}}}
    assert kubelet_url(node) == "https://10.0.0.5:10255/metrics/resource"
    node["metadata"]["annotations"] = {
        "metrics.k8s.io/resource-metrics-path": "/metrics/nodes/n/metrics/resource"}
    assert kubelet_url(node) == "https://10.0.0.5:10255/metrics/nodes/n/metrics/resource"
    assert kubelet_url({"metadata": {"name": "x"}, "status": {}}) is None
