"""Synthetic usage of simulated nodes' pods, declared on the pods (as kwok's ResourceUsage
and ClusterResourceUsage declare it), as a `NodeUsage` like a real kubelet's.

Two pod annotations give each running container's usage (tests set them on a Deployment's
pod template, or patch them on the pods to step the load):

- `sim.kybernetes.io/usage-cpu`: a cpu quantity (`250m`), or a JSON object of them by
  container name (`{"app": "250m", "sidecar": "10m"}`);
- `sim.kybernetes.io/usage-memory`: a memory quantity (`64Mi`), or such an object.

A container without a declared figure uses none. Cumulative cpu is the declared rate
integrated over time since the container started (kwok's `CumulativeUsage`), kept per
container so a changed rate applies from the reading it is first seen at; the pod's usage is
the sum of its containers', the node's the sum of its pods'. Simulated nodes have no kubelet
endpoint: the metrics server reads their usage this way (metrics/server.py).
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from kybernetes.api.quantity import QuantityError, parse_quantity
from kybernetes.kubelet.stats import (
    ContainerUsage,
    NodeUsage,
    PodUsage,
    Usage,
    running_containers,
)
from kybernetes.kubelet.stats_cgroup import CpuSample, MemorySample

CPU_ANNOTATION = "sim.kybernetes.io/usage-cpu"
MEMORY_ANNOTATION = "sim.kybernetes.io/usage-memory"


def declared(pod: Mapping[str, Any], annotation: str, container: str) -> Decimal:
    """The container's declared usage (cores or bytes); 0 when none or unreadable."""
    text = ((pod.get("metadata") or {}).get("annotations") or {}).get(annotation)
    return _parse(str(text), container) if text else Decimal(0)


@functools.lru_cache(maxsize=4096)
def _parse(text: str, container: str) -> Decimal:
    value: Any = text
    if str(text).lstrip().startswith("{"):
        try:
            value = json.loads(text).get(container)
        except (ValueError, AttributeError):
            return Decimal(0)
    if value is None:
        return Decimal(0)
    try:
        return parse_quantity(value)
    except (QuantityError, ValueError):
        return Decimal(0)


def _sum(usages: list[Usage], when: float) -> Usage:
    cpu = sum(u.cpu.usage_core_nanoseconds for u in usages if u.cpu is not None)
    rate = sum(u.cpu_nano_cores or 0 for u in usages)
    memory = sum(u.memory.working_set_bytes for u in usages if u.memory is not None)
    return Usage(when, CpuSample(cpu), rate, MemorySample(memory, memory, memory, 0, 0))


class SyntheticStats:
    """The usage of one simulated node; `pods` lists the pods bound to it."""

    def __init__(self, node_name: str, pods: Callable[[], Iterable[Mapping[str, Any]]], *,
                 start_time: float = 0.0, clock: Callable[[], float] = time.time) -> None:
        self.node_name = node_name
        self.pods = pods
        self.clock = clock
        self.start_time = start_time or clock()
        # (pod uid, container, start) -> (time of the last reading, cumulative ns)
        self._cumulative: dict[tuple[str, str, float], tuple[float, int]] = {}

    def _cpu(self, key: tuple[str, str, float], rate: Decimal, now: float) -> int:
        last, total = self._cumulative.get(key, (key[2] or now, 0))
        total += int(rate * Decimal(1_000_000_000) * Decimal(max(0.0, now - last)))
        self._cumulative[key] = (now, total)
        return total

    async def collect(self) -> NodeUsage:
        return self.read()

    def read(self) -> NodeUsage:
        now = self.clock()
        seen: set[tuple[str, str, float]] = set()
        pods = []
        for pod in self.pods():
            meta = pod.get("metadata") or {}
            uid = str(meta.get("uid", ""))
            containers = []
            for name, _, started in running_containers(pod):
                key = (uid, name, started)
                seen.add(key)
                rate = declared(pod, CPU_ANNOTATION, name)
                memory = int(declared(pod, MEMORY_ANNOTATION, name))
                usage = Usage(now, CpuSample(self._cpu(key, rate, now)),
                              int(rate * 1_000_000_000),
                              MemorySample(memory, memory, memory, 0, 0))
                containers.append(ContainerUsage(name, started, usage))
            if not containers:
                continue
            started_at = min(c.start_time for c in containers)
            pods.append(PodUsage(str(meta.get("namespace", "")), str(meta.get("name", "")),
                                 uid, started_at, _sum([c.usage for c in containers], now),
                                 containers))
        for key in set(self._cumulative) - seen:
            del self._cumulative[key]
        return NodeUsage(self.node_name, self.start_time,
                         _sum([p.usage for p in pods], now), pods)
