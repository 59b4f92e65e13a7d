"""Scraping a kubelet's `/metrics/resource` into points (upstream metrics-server's
pkg/scraper: `client/resource/decode.go`).

Where a node's kubelet listens: its first address by `ADDRESS_TYPES` (k3s runs
metrics-server with `--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname`) and
`status.daemonEndpoints.kubeletEndpoint.Port` (`--kubelet-use-node-status-port`); the path
is the node's `metrics.k8s.io/resource-metrics-path` annotation when it has one (metrics
server 0.7's, which simulated nodes use to share one endpoint, as kwok's), else
`/metrics/resource`. Calls are HTTPS with the metrics server's client certificate, the
kubelet's serving certificate checked against the cluster CA.

A point is (start time, timestamp, cumulative cpu in core-nanoseconds, memory working set in
bytes), from `*_cpu_usage_seconds_total`, `*_memory_working_set_bytes` and
`container_start_time_seconds`, stamped with the samples' own timestamps. Containers whose
cpu or memory is missing are left out, as upstream's decoder does. `from_usage` makes the
same points of a simulated node's synthetic usage (kubelet/stats_sim.py).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from kybernetes.kubelet.stats import NodeUsage, Usage

ADDRESS_TYPES = ("InternalIP", "ExternalIP", "Hostname")
DEFAULT_KUBELET_PORT = 10250
PATH_ANNOTATION = "metrics.k8s.io/resource-metrics-path"
RESOURCE_PATH = "/metrics/resource"


class ScrapeError(Exception):
    pass


@dataclass
class Point:
    start_time: float  # unix seconds (0: unknown)
    timestamp: float
    cpu_nanoseconds: int
    memory_bytes: int


@dataclass
class NodeBatch:
    """One scrape of one node: its point and those of its containers by (namespace, pod)
    and container name."""

    node: Point | None = None
    pods: dict[tuple[str, str], dict[str, Point]] = field(default_factory=dict)


@dataclass
class _Partial:
    start_time: float = 0.0
    timestamp: float = 0.0
    cpu: int | None = None
    memory: int | None = None

    def point(self) -> Point | None:
        if self.cpu is None or self.memory is None or not self.timestamp:
            return None
        return Point(self.start_time, self.timestamp, self.cpu, self.memory)


def decode(text: str, now: float | None = None) -> NodeBatch:
    """Parse a `/metrics/resource` answer; samples without a timestamp are taken as
    read `now`."""
    read_at = time.time() if now is None else now
    node = _Partial()
    containers: dict[tuple[str, str, str], _Partial] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            stamp = sample.timestamp if sample.timestamp is not None else read_at
            stamp = float(stamp)
            if sample.name.startswith("node_"):
                target = node
            elif sample.name.startswith("container_"):
                key = (sample.labels.get("namespace", ""), sample.labels.get("pod", ""),
                       sample.labels.get("container", ""))
                target = containers.setdefault(key, _Partial())
            else:
                continue
            if sample.name.endswith("_cpu_usage_seconds_total"):
                target.cpu = int(sample.value * 1e9)
                target.timestamp = stamp
            elif sample.name.endswith("_memory_working_set_bytes"):
                target.memory = int(sample.value)
                target.timestamp = target.timestamp or stamp
            elif sample.name == "container_start_time_seconds":
                target.start_time = float(sample.value)
    batch = NodeBatch(node.point())
    for (namespace, pod, container), partial in containers.items():
        point = partial.point()
        if point is not None:
            batch.pods.setdefault((namespace, pod), {})[container] = point
    return batch


def from_usage(node: NodeUsage) -> NodeBatch:
    """The batch of a `NodeUsage` read in this process (a simulated node's)."""
    def point(start: float, usage: Usage) -> Point | None:
        if usage.cpu is None or usage.memory is None:
            return None
        return Point(start, usage.time, usage.cpu.usage_core_nanoseconds,
                     usage.memory.working_set_bytes)

    batch = NodeBatch(point(node.start_time, node.usage))
    for pod in node.pods:
        for container in pod.containers:
            found = point(container.start_time, container.usage)
            if found is not None:
                batch.pods.setdefault((pod.namespace, pod.name), {})[container.name] = found
    return batch


def kubelet_url(node: Mapping[str, Any]) -> str | None:
    """Where the node's resource metrics are; None when it has no usable address."""
    status = node.get("status") or {}
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or ()}
    host = next((addresses[t] for t in ADDRESS_TYPES if addresses.get(t)), None)
    if host is None:
        return None
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port") \
        or DEFAULT_KUBELET_PORT
    annotations = (node.get("metadata") or {}).get("annotations") or {}
    path = str(annotations.get(PATH_ANNOTATION) or RESOURCE_PATH)
    if ":" in str(host):
        host = f"[{host}]"
    return f"https://{host}:{port}{path}"


async def scrape(http: httpx.AsyncClient, node: Mapping[str, Any]) -> NodeBatch:
    url = kubelet_url(node)
    if url is None:
        raise ScrapeError("the node has no address")
    try:
        answer = await http.get(url)
    except httpx.HTTPError as err:
        raise ScrapeError(f"request failed: {err!r}") from err
    if answer.status_code != 200:
        raise ScrapeError(f"request failed, status: {answer.status_code} "
                          f"{answer.text[:200]!r}")
    return decode(answer.text)
