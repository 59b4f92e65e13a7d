"""What a real node reports about itself: capacity, allocatable, nodeInfo, conditions.

Upstream's pkg/kubelet/nodestatus setters, read from this host:

- **capacity**: `cpu` (online CPUs), `memory` (MemTotal of /proc/meminfo), `ephemeral-storage`
  (the size of the filesystem holding the kubelet's root dir), `pods` (maxPods, 110),
  `hugepages-1Gi`/`hugepages-2Mi` (0: not offered).
- **allocatable**: capacity minus the reservations and the hard eviction thresholds, as
  upstream's defaults compute it: memory less 100Mi (`memory.available<100Mi`),
  ephemeral-storage less 10% (`nodefs.available<10%`).
- **conditions** in upstream's order with its reasons and messages: MemoryPressure,
  DiskPressure, PIDPressure (from the same thresholds, measured now) and Ready (False with
  the runtime's or the network's complaint when either is not ready).
- **nodeInfo**: machine and boot ids, kernel, OS image, `runc://<version>`, kubelet version.

`lastTransitionTime` of a condition moves only when its status changes; `lastHeartbeatTime`
is the time of the report.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kybernetes.api.quantity import parse_quantity
from kybernetes.api.version import KUBERNETES_VERSION

Obj = dict[str, Any]

KUBELET_VERSION = KUBERNETES_VERSION
EVICTION_MEMORY_AVAILABLE = 100 * 1024 * 1024  # memory.available<100Mi
EVICTION_NODEFS_AVAILABLE = 0.10  # nodefs.available<10%
EVICTION_PIDS_AVAILABLE = 0.05  # a kybernetes choice: PIDPressure under 5% free pids


@dataclass(frozen=True)
class HostResources:
    cpus: int
    memory_bytes: int
    storage_bytes: int
    max_pods: int


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def meminfo() -> dict[str, int]:
    """/proc/meminfo in bytes."""
    values: dict[str, int] = {}
    for line in _read("/proc/meminfo").splitlines():
        match = re.match(r"(\w+):\s+(\d+)(?:\s+kB)?", line)
        if match:
            values[match[1]] = int(match[2]) * (1024 if line.endswith("kB") else 1)
    return values


def host_resources(root: Path, max_pods: int) -> HostResources:
    usage = shutil.disk_usage(root)
    return HostResources(cpus=len(os.sched_getaffinity(0)) or os.cpu_count() or 1,
                         memory_bytes=meminfo().get("MemTotal", 0),
                         storage_bytes=usage.total, max_pods=max_pods)


def capacity(host: HostResources) -> dict[str, str]:
    return {"cpu": str(host.cpus), "memory": f"{host.memory_bytes // 1024}Ki",
            "ephemeral-storage": f"{host.storage_bytes // 1024}Ki",
            "hugepages-1Gi": "0", "hugepages-2Mi": "0", "pods": str(host.max_pods)}


def allocatable(host: HostResources, reserved: Mapping[str, str] | None = None
                ) -> dict[str, str]:
    """Capacity less `reserved` (system + kube reserved) and the eviction thresholds."""
    reserved = reserved or {}

    def less(name: str, total: int) -> int:
        return max(0, total - int(parse_quantity(reserved.get(name, "0"))))

    cpu_millis = max(0, host.cpus * 1000 - int(parse_quantity(reserved.get("cpu", "0"))
                                                * 1000))
    memory = less("memory", host.memory_bytes) - EVICTION_MEMORY_AVAILABLE
    storage = less("ephemeral-storage", host.storage_bytes) - \
        int(host.storage_bytes * EVICTION_NODEFS_AVAILABLE)
    cpu = str(cpu_millis // 1000) if cpu_millis % 1000 == 0 else f"{cpu_millis}m"
    return {"cpu": cpu, "memory": f"{max(0, memory) // 1024}Ki",
            "ephemeral-storage": str(max(0, storage)),
            "hugepages-1Gi": "0", "hugepages-2Mi": "0", "pods": str(host.max_pods)}


def _os_image() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return "Linux"


def node_info(runtime_version: str) -> Obj:
    machine = _read("/etc/machine-id") or platform.node()
    return {
        "machineID": machine, "systemUUID": _read("/sys/class/dmi/id/product_uuid") or machine,
        "bootID": _read("/proc/sys/kernel/random/boot_id"),
        "kernelVersion": platform.release(), "osImage": _os_image(),
        "containerRuntimeVersion": runtime_version, "kubeletVersion": KUBELET_VERSION,
        "kubeProxyVersion": "", "operatingSystem": "linux",
        "architecture": {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(),
                                                                     platform.machine()),
    }


@dataclass(frozen=True)
class Pressure:
    memory: bool = False
    disk: bool = False
    pids: bool = False


def measure_pressure(root: Path) -> Pressure:
    info = meminfo()
    usage = shutil.disk_usage(root)
    pid_max = int(_read("/proc/sys/kernel/pid_max") or 32768)
    pids = sum(1 for entry in os.scandir("/proc") if entry.name.isdigit())
    return Pressure(
        memory=info.get("MemAvailable", EVICTION_MEMORY_AVAILABLE) < EVICTION_MEMORY_AVAILABLE,
        disk=usage.free < usage.total * EVICTION_NODEFS_AVAILABLE,
        pids=pid_max - pids < pid_max * EVICTION_PIDS_AVAILABLE)


def node_conditions(old: Sequence[Mapping[str, Any]], *, pressure: Pressure,
                    not_ready: Sequence[str], now: str) -> list[Obj]:
    """Upstream's four kubelet conditions; `not_ready` lists why the node is not Ready."""
    fresh = [
        ("MemoryPressure", pressure.memory,
         ("KubeletHasInsufficientMemory", "kubelet has insufficient memory available")
         if pressure.memory else
         ("KubeletHasSufficientMemory", "kubelet has sufficient memory available")),
        ("DiskPressure", pressure.disk,
         ("KubeletHasDiskPressure", "kubelet has disk pressure") if pressure.disk else
         ("KubeletHasNoDiskPressure", "kubelet has no disk pressure")),
        ("PIDPressure", pressure.pids,
         ("KubeletHasInsufficientPID", "kubelet has insufficient PID available")
         if pressure.pids else
         ("KubeletHasSufficientPID", "kubelet has sufficient PID available")),
        ("Ready", not not_ready,
         ("KubeletReady", "kubelet is posting ready status") if not not_ready else
         ("KubeletNotReady", ", ".join(not_ready))),
    ]
    previous = {c.get("type"): c for c in old}
    conditions: list[Obj] = []
    for kind, flag, (reason, message) in fresh:
        status = "True" if flag else "False"
        before = previous.get(kind)
        transition = before.get("lastTransitionTime") if before is not None and \
            before.get("status") == status else None
        conditions.append({"type": kind, "status": status, "reason": reason,
                           "message": message, "lastHeartbeatTime": now,
                           "lastTransitionTime": transition or now})
    return conditions


def node_labels(name: str, extra: Mapping[str, str]) -> dict[str, str]:
    arch = node_info("")["architecture"]
    return {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
            "kubernetes.io/arch": arch, "beta.kubernetes.io/os": "linux",
            "beta.kubernetes.io/arch": arch, **extra}
