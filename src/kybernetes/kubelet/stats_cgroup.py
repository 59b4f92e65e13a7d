"""Reading cpu and memory usage from cgroups (v1 and v2) and the node's totals from /proc,
as cadvisor does for the kubelet's stats.

A cgroup path is resolved as runc resolves a container's `cgroupsPath`: absolute from a
hierarchy's root, relative under this process's own cgroup in that hierarchy. Each figure
comes from the hierarchy holding its controller: a v1 `cpuacct` (or `cpu,cpuacct`) and
`memory` mount when there is one (a v1+v2 hybrid host keeps them there), else the v2
(unified) mount, whose `cpu.stat` and `memory.*` files every non-root cgroup has once the
controllers are enabled for it.

- cpu: cumulative core-nanoseconds (v1 `cpuacct.usage`; v2 `cpu.stat` `usage_usec`).
- memory: usage (v1 `memory.usage_in_bytes`; v2 `memory.current`), working set = usage -
  inactive file pages (v1 `total_inactive_file`, v2 `inactive_file`, never below 0, as
  cadvisor), rss (v1 `total_rss`; v2 `anon`), page faults (`pgfault`, `pgmajfault`).
- processes: `cgroup.procs`, whose pids lead to the cgroup's network and mounts in /proc.

The node's figures are the machine's (cadvisor reads them from the root cgroup): cpu from
/proc/stat's first line (every jiffy but idle and iowait, in nanoseconds), memory from
/proc/meminfo (usage = MemTotal - MemFree, working set = usage - Inactive(file)).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_USER_HZ = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuSample:
    usage_core_nanoseconds: int


@dataclass(frozen=True)
class MemorySample:
    usage_bytes: int
    working_set_bytes: int
    rss_bytes: int
    page_faults: int
    major_page_faults: int
    available_bytes: int | None = None  # a limit's room left (None: no limit)


@dataclass(frozen=True)
class Mount:
    mountpoint: str
    own: str  # this process's cgroup in the hierarchy


class Hierarchies:
    """The mounted cgroup hierarchies, read once from /proc/self/mountinfo."""

    def __init__(self, v1: dict[str, Mount], v2: Mount | None) -> None:
        self.v1 = v1  # controller -> mount
        self.v2 = v2

    @classmethod
    def discover(cls, proc: Path = Path("/proc/self")) -> Hierarchies:
        own: dict[str, str] = {}
        for line in (proc / "cgroup").read_text().splitlines():
            _, controllers, cgroup = line.split(":", 2)
            own[controllers] = cgroup
        v1: dict[str, Mount] = {}
        v2: Mount | None = None
        for line in (proc / "mountinfo").read_text().splitlines():
            pre, post = line.split(" - ", 1)
            fstype, _, super_opts = post.split()[:3]
            mountpoint = pre.split()[4]
            if fstype == "cgroup2" and v2 is None:
                v2 = Mount(mountpoint, own.get("", "/"))
            elif fstype == "cgroup":
                opts = [o for o in super_opts.split(",") if o not in ("rw", "ro")]
                mount = Mount(mountpoint, own.get(",".join(opts), "/"))
                for opt in opts:
                    v1.setdefault(opt, mount)
        return cls(v1, v2)

    @staticmethod
    def directory(mount: Mount, path: str) -> Path:
        base = "" if path.startswith("/") else mount.own.strip("/")
        rel = (base + "/" + path.strip("/")).strip("/")
        return Path(mount.mountpoint) / rel if rel else Path(mount.mountpoint)

    def cpu(self, path: str) -> CpuSample | None:
        """None when the cgroup does not exist (gone, or not yet made)."""
        try:
            mount = self.v1.get("cpuacct")
            if mount is not None:
                usage = (self.directory(mount, path) / "cpuacct.usage").read_text()
                return CpuSample(int(usage))
            if self.v2 is not None:
                stat = _flat_keyed(self.directory(self.v2, path) / "cpu.stat")
                return CpuSample(stat.get("usage_usec", 0) * 1000)
        except (OSError, ValueError):
            return None
        return None

    def procs(self, path: str) -> list[int]:
        """The processes in the cgroup itself (`cgroup.procs`, of the v1 memory hierarchy
        or the unified one); [] when it is gone."""
        mount = self.v1.get("memory") or self.v2
        if mount is None:
            return []
        try:
            text = (self.directory(mount, path) / "cgroup.procs").read_text()
            return [int(pid) for pid in text.split()]
        except (OSError, ValueError):
            return []

    def memory(self, path: str) -> MemorySample | None:
        try:
            mount = self.v1.get("memory")
            if mount is not None:
                d = self.directory(mount, path)
                usage = int((d / "memory.usage_in_bytes").read_text())
                stat = _flat_keyed(d / "memory.stat")
                limit = int((d / "memory.limit_in_bytes").read_text())
                return _memory(usage, stat.get("total_inactive_file", 0),
                               stat.get("total_rss", 0), stat.get("total_pgfault", 0),
                               stat.get("total_pgmajfault", 0), limit)
            if self.v2 is not None:
                d = self.directory(self.v2, path)
                usage = int((d / "memory.current").read_text())
                stat = _flat_keyed(d / "memory.stat")
                text = (d / "memory.max").read_text().strip()
                return _memory(usage, stat.get("inactive_file", 0), stat.get("anon", 0),
                               stat.get("pgfault", 0), stat.get("pgmajfault", 0),
                               None if text == "max" else int(text))
        except (OSError, ValueError):
            return None
        return None


# v1's "no limit" is the largest page-aligned int64; anything near it means none.
_NO_LIMIT = 1 << 62


def _memory(usage: int, inactive_file: int, rss: int, faults: int, major: int,
            limit: int | None) -> MemorySample:
    working_set = max(0, usage - inactive_file)
    available = None if limit is None or limit >= _NO_LIMIT else max(0, limit - working_set)
    return MemorySample(usage, working_set, rss, faults, major, available)


def _flat_keyed(path: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            out[key] = int(value)
    return out


def node_cpu(proc: Path = Path("/proc")) -> CpuSample:
    """The machine's cumulative cpu time: every /proc/stat jiffy but idle and iowait
    (guest time is counted in user already)."""
    first = (proc / "stat").read_text().split("\n", 1)[0].split()
    values = [int(v) for v in first[1:]]
    busy = sum(values[:8]) - values[3] - (values[4] if len(values) > 4 else 0)
    return CpuSample(busy * 1_000_000_000 // _USER_HZ)


def node_memory(proc: Path = Path("/proc")) -> MemorySample:
    info: dict[str, int] = {}
    for line in (proc / "meminfo").read_text().splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts:
            info[key] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    total = info.get("MemTotal", 0)
    usage = total - info.get("MemFree", 0)
    working_set = max(0, usage - info.get("Inactive(file)", 0))
    rss = info.get("AnonPages", 0)
    faults = major = 0
    try:
        vm = _flat_keyed(proc / "vmstat")
        faults, major = vm.get("pgfault", 0), vm.get("pgmajfault", 0)
    except OSError:
        pass
    return MemorySample(usage, working_set, rss, faults, major,
                        max(0, total - working_set))
