"""A pod's network usage, read as cadvisor reads it: `/proc/<pid>/net/dev` of a process of
the pod shows the counters of the interfaces of that process's network namespace (the
pod's), with no `setns` and nothing spawned.

The process is any one listed in a cgroup's `cgroup.procs` (a running container's: they all
share the sandbox's namespace). Interfaces whose names cadvisor ignores (`lo`, `veth*`,
`docker*`, `nerdctl*`) are left out; the pod's figure is its `eth0`, the kubelet's default
interface, as upstream's `NetworkStats` carries it next to the list of all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

IGNORED_PREFIXES = ("lo", "veth", "docker", "nerdctl")
DEFAULT_INTERFACE = "eth0"


@dataclass(frozen=True)
class InterfaceSample:
    name: str
    rx_bytes: int
    rx_errors: int
    tx_bytes: int
    tx_errors: int


@dataclass(frozen=True)
class NetworkSample:
    interfaces: list[InterfaceSample] = field(default_factory=list)
    default_name: str = DEFAULT_INTERFACE


def parse_net_dev(text: str) -> list[InterfaceSample]:
    """The interfaces of a `/proc/<pid>/net/dev` (two header lines, then `name: 16 numbers`:
    rx bytes, packets, errs, ... then tx bytes, packets, errs, ...)."""
    out = []
    for line in text.splitlines()[2:]:
        name, sep, rest = line.partition(":")
        name = name.strip()
        fields = rest.split()
        if not sep or len(fields) < 11 or name.startswith(IGNORED_PREFIXES):
            continue
        out.append(InterfaceSample(name, int(fields[0]), int(fields[2]), int(fields[8]),
                                   int(fields[10])))
    return out


def network(pids: list[int], proc: Path = Path("/proc")) -> NetworkSample | None:
    """The counters seen by the first of `pids` still alive; None when none is."""
    for pid in pids:
        try:
            return NetworkSample(parse_net_dev((proc / str(pid) / "net" / "dev").read_text()))
        except (OSError, ValueError):
            continue
    return None
