"""The kubelet's resource usage figures: what `/stats/summary` and `/metrics/resource` serve.

A `StatsProvider` collects a `NodeUsage`: the node's cpu and memory and those of each pod
running on it and of its running containers. `CgroupStats` reads them from the cgroups the
runtime made (`stats_cgroup`): a pod's cgroup is its cgroup parent
(`containers.cgroup_parent`: `<root>/<qos>/pod<uid>`), a container's is
`<pod cgroup>/<runtime id>` (runc's `cgroupsPath`), as cadvisor finds them. Which pods and
containers run is the pod status the kubelet last computed (running containers' ids and
`startedAt`); the mirror pods of add-ons the kubelet's process runs itself have no cgroups
and no stats.
A pod's network counters come from /proc of a process of one of its containers
(`stats_net`), a container's `rootfs` and `logs` usage from its writable layer and its log
directory (`stats_fs`; logs when the kubelet's log root is given).

`summary` renders a `NodeUsage` as upstream's `statsapi.Summary` JSON (pkg/kubelet/apis/
stats/v1alpha1: node, its `pods` system container, pods with their containers; cpu as
`usageCoreNanoSeconds` and `usageNanoCores`, memory as usage, working set, rss and page
faults; a pod's `network`, a container's `rootfs` and `logs`). `usageNanoCores` is a
rate: the change of the cumulative figure since an earlier reading (`RateTracker`, at least
a second before, as cadvisor's housekeeping samples), absent on the first reading.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from kybernetes.api import timeutil
from kybernetes.kubelet.containers import cgroup_parent, pod_log_dir
from kybernetes.kubelet.mirrorpods import is_in_process
from kybernetes.kubelet.stats_cgroup import (
    CpuSample,
    Hierarchies,
    MemorySample,
    node_cpu,
    node_memory,
)
from kybernetes.kubelet.stats_fs import DiskUsage, FsSample, logs_usage, upperdir
from kybernetes.kubelet.stats_net import NetworkSample, network

Obj = dict[str, Any]

MIN_RATE_INTERVAL = 1.0  # seconds between the two readings of a cpu rate


@dataclass(frozen=True)
class Usage:
    time: float  # unix seconds of the reading
    cpu: CpuSample | None
    cpu_nano_cores: int | None
    memory: MemorySample | None


@dataclass(frozen=True)
class ContainerUsage:
    name: str
    start_time: float
    usage: Usage
    runtime_id: str = ""
    cgroup: str = ""
    image: str = ""
    rootfs: FsSample | None = None
    logs: FsSample | None = None


@dataclass(frozen=True)
class PodUsage:
    namespace: str
    name: str
    uid: str
    start_time: float
    usage: Usage
    containers: list[ContainerUsage] = field(default_factory=list)
    cgroup: str = ""
    network: NetworkSample | None = None


@dataclass(frozen=True)
class NodeUsage:
    name: str
    start_time: float
    usage: Usage
    pods: list[PodUsage] = field(default_factory=list)
    system: list[ContainerUsage] = field(default_factory=list)  # e.g. "pods"
    error: bool = False  # some figure could not be read (upstream's scrape_error)


class StatsProvider(Protocol):
    async def collect(self) -> NodeUsage: ...


class RateTracker:
    """Cpu rates from cumulative readings, per key (a cgroup)."""

    def __init__(self, min_interval: float = MIN_RATE_INTERVAL) -> None:
        self.min_interval = min_interval
        self._base: dict[str, tuple[float, int]] = {}
        self._seen: set[str] = set()

    def rate(self, key: str, when: float, cpu: CpuSample | None) -> int | None:
        if cpu is None:
            return None
        self._seen.add(key)
        base = self._base.get(key)
        if base is None or base[1] > cpu.usage_core_nanoseconds:
            self._base[key] = (when, cpu.usage_core_nanoseconds)
            return None
        elapsed = when - base[0]
        if elapsed < self.min_interval:
            return None
        rate = int((cpu.usage_core_nanoseconds - base[1]) / elapsed)
        self._base[key] = (when, cpu.usage_core_nanoseconds)
        return rate

    def forget_unseen(self) -> None:
        """Drop the keys not read since the last call (gone cgroups)."""
        for key in set(self._base) - self._seen:
            del self._base[key]
        self._seen.clear()


def _start(value: Any) -> float:
    parsed = timeutil.parse_time(value)
    return parsed.timestamp() if parsed is not None else 0.0


def boot_time(proc: Path = Path("/proc")) -> float:
    for line in (proc / "stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    return 0.0


def running_containers(pod: Mapping[str, Any]) -> list[tuple[str, str, float]]:
    """(name, runtime id, start time) of the pod's running containers, as last computed."""
    out = []
    for status in (pod.get("status") or {}).get("containerStatuses") or ():
        running = (status.get("state") or {}).get("running")
        container_id = str(status.get("containerID") or "")
        if running is None or not container_id:
            continue
        out.append((str(status.get("name", "")), container_id.partition("://")[2]
                    or container_id, _start(running.get("startedAt"))))
    return out


def _images(pod: Mapping[str, Any]) -> dict[str, str]:
    return {str(s.get("name", "")): str(s.get("image", ""))
            for s in (pod.get("status") or {}).get("containerStatuses") or ()}


class CgroupStats:
    """Usage of the node's pods from their cgroups; `pods` lists the kubelet's pods with
    the status it last computed; `log_root` is where the kubelet writes container logs."""

    def __init__(self, node_name: str, pods: Callable[[], Iterable[Mapping[str, Any]]],
                 cgroup_root: str, *, hierarchies: Hierarchies | None = None,
                 proc: Path = Path("/proc"), clock: Callable[[], float] = time.time,
                 log_root: Path | None = None, disk: DiskUsage | None = None) -> None:
        self.node_name = node_name
        self.pods = pods
        self.cgroup_root = cgroup_root
        self.hierarchies = hierarchies or Hierarchies.discover()
        self.proc = proc
        self.clock = clock
        self.rates = RateTracker()
        self.log_root = log_root
        self.disk = disk or DiskUsage(clock=clock)
        self._boot = boot_time(proc)

    def _cgroup(self, path: str) -> Usage:
        now = self.clock()
        cpu = self.hierarchies.cpu(path)
        return Usage(now, cpu, self.rates.rate(path, now, cpu), self.hierarchies.memory(path))

    async def collect(self) -> NodeUsage:
        """The pods are listed here, on the event loop; the files are read in a thread."""
        return await asyncio.to_thread(self._read, list(self.pods()))

    def _read(self, pod_list: list[Mapping[str, Any]]) -> NodeUsage:
        now = self.clock()
        cpu = node_cpu(self.proc)
        node = Usage(now, cpu, self.rates.rate("", now, cpu), node_memory(self.proc))
        error = False
        pods = []
        for pod in pod_list:
            running = running_containers(pod)
            if not running or is_in_process(pod):  # add-ons in the kubelet's process
                continue
            meta = pod.get("metadata") or {}
            parent = cgroup_parent(self.cgroup_root, pod)
            containers = []
            pids: list[int] = []
            images = _images(pod)
            for name, runtime_id, started in running:
                cgroup = f"{parent}/{runtime_id}"
                usage = self._cgroup(cgroup)
                if usage.cpu is None or usage.memory is None:
                    error = True  # gone since the status, or unreadable
                    continue
                procs = self.hierarchies.procs(cgroup)
                pids += procs
                logs = (logs_usage(pod_log_dir(self.log_root, pod) / name, now)
                        if self.log_root is not None else None)
                containers.append(ContainerUsage(
                    name, started, usage, runtime_id, cgroup, images.get(name, ""),
                    self.disk.rootfs(runtime_id, upperdir(procs, self.proc)), logs))
            pods.append(PodUsage(
                str(meta.get("namespace", "")), str(meta.get("name", "")),
                str(meta.get("uid", "")), _start((pod.get("status") or {}).get("startTime")),
                self._cgroup(parent), containers, parent, network(pids, self.proc)))
        system = [ContainerUsage("pods", self._boot, self._cgroup(self.cgroup_root),
                                 cgroup=self.cgroup_root)]
        self.rates.forget_unseen()
        self.disk.forget_unseen()
        return NodeUsage(self.node_name, self._boot, node, pods, system, error)


# -- statsapi.Summary ----------------------------------------------------------------------

def _time(seconds: float) -> str:
    return timeutil.rfc3339(datetime.fromtimestamp(seconds, UTC))


def _cpu(usage: Usage) -> Obj | None:
    if usage.cpu is None:
        return None
    out: Obj = {"time": _time(usage.time),
                "usageCoreNanoSeconds": usage.cpu.usage_core_nanoseconds}
    if usage.cpu_nano_cores is not None:
        out["usageNanoCores"] = usage.cpu_nano_cores
    return out


def _memory(usage: Usage) -> Obj | None:
    memory = usage.memory
    if memory is None:
        return None
    out: Obj = {"time": _time(usage.time), "usageBytes": memory.usage_bytes,
                "workingSetBytes": memory.working_set_bytes, "rssBytes": memory.rss_bytes,
                "pageFaults": memory.page_faults, "majorPageFaults": memory.major_page_faults}
    if memory.available_bytes is not None:
        out["availableBytes"] = memory.available_bytes
    return out


def _with_usage(out: Obj, usage: Usage) -> Obj:
    cpu, memory = _cpu(usage), _memory(usage)
    if cpu is not None:
        out["cpu"] = cpu
    if memory is not None:
        out["memory"] = memory
    return out


def _fs(sample: FsSample) -> Obj:
    return {"time": _time(sample.time), "availableBytes": sample.available_bytes,
            "capacityBytes": sample.capacity_bytes, "usedBytes": sample.used_bytes,
            "inodesFree": sample.inodes_free, "inodes": sample.inodes,
            "inodesUsed": sample.inodes_used}


def _network(when: float, sample: NetworkSample) -> Obj:
    interfaces = [{"name": i.name, "rxBytes": i.rx_bytes, "rxErrors": i.rx_errors,
                   "txBytes": i.tx_bytes, "txErrors": i.tx_errors}
                  for i in sample.interfaces]
    default = next((i for i in interfaces if i["name"] == sample.default_name), {})
    return {"time": _time(when), **default, "interfaces": interfaces}


def _container(container: ContainerUsage) -> Obj:
    out = _with_usage({"name": container.name, "startTime": _time(container.start_time)},
                      container.usage)
    if container.rootfs is not None:
        out["rootfs"] = _fs(container.rootfs)
    if container.logs is not None:
        out["logs"] = _fs(container.logs)
    return out


def _pod(pod: PodUsage) -> Obj:
    out = _with_usage({
        "podRef": {"name": pod.name, "namespace": pod.namespace, "uid": pod.uid},
        "startTime": _time(pod.start_time),
        "containers": [_container(c) for c in pod.containers]}, pod.usage)
    if pod.network is not None:
        out["network"] = _network(pod.usage.time, pod.network)
    return out


def summary(node: NodeUsage) -> Obj:
    """Upstream's `Summary` (only the fields measured here)."""
    return {
        "node": _with_usage({
            "nodeName": node.name,
            "systemContainers": [_container(c) for c in node.system],
            "startTime": _time(node.start_time)}, node.usage),
        "pods": [_pod(pod) for pod in node.pods],
    }
