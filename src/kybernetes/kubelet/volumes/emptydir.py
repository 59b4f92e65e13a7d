"""emptyDir volumes (upstream pkg/volume/emptydir): a directory under the pod, mode 0777,
or for `medium: Memory` a tmpfs mounted there. Secret, downwardAPI and projected volumes
wrap a Memory emptyDir (their contents never touch the disk), configMap volumes a plain one,
as upstream's `wrappedVolumeSpec`s do.

The tmpfs size is upstream's `calculateEmptyDirMemorySize` (SizeMemoryBackedVolumes, GA):
the node's allocatable memory, lowered to the pod's memory limit when every container has
one, lowered again to `sizeLimit` when that is smaller. Mounting needs root, which the
kubelet is. A volume that is already a mount point is left as it is, so setup is
idempotent across kubelet restarts; teardown unmounts before the directory is removed.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from kybernetes.api.goquote import go_quote
from kybernetes.api.quantity import Quantity

EMPTY_DIR_MODE = 0o777


class MountError(OSError):
    """mount(8) or umount(8) failed; the message carries their output, as upstream's."""


def memory_size_limit(size_limit: Any, pod: Mapping[str, Any],
                      allocatable_memory: str | None) -> int | None:
    """The tmpfs size in bytes, or None for the kernel's default (half the RAM)."""
    size: int | None = Quantity.parse(allocatable_memory).int_value() \
        if allocatable_memory else None
    pod_limit = _pod_memory_limit(pod)
    if pod_limit and (size is None or pod_limit <= size):
        size = pod_limit
    if size_limit is not None:
        limit = Quantity.parse(size_limit).int_value()
        if limit > 0 and (size is None or limit <= size):
            size = limit
    return size


def _pod_memory_limit(pod: Mapping[str, Any]) -> int:
    """The pod cgroup's memory limit (cm.ResourceConfigForPod): the sum over containers,
    at least the largest init container's, and 0 (none) unless every container has one."""
    spec = pod.get("spec") or {}
    total = 0
    for container in spec.get("containers") or ():
        limit = ((container.get("resources") or {}).get("limits") or {}).get("memory")
        if limit is None:
            return 0
        total += Quantity.parse(limit).int_value()
    for container in spec.get("initContainers") or ():
        limit = ((container.get("resources") or {}).get("limits") or {}).get("memory")
        if limit is None:
            return 0
        value = Quantity.parse(limit).int_value()
        if container.get("restartPolicy") == "Always":
            total += value  # a sidecar runs alongside the containers
        else:
            total = max(total, value)
    return total


def is_mount_point(path: Path) -> bool:
    """Whether `path` is listed as a mount point in /proc/self/mountinfo."""
    target = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as info:
            for line in info:
                fields = line.split()
                if len(fields) > 4 and _unescape(fields[4]) == target:
                    return True
    except OSError:
        return False
    return False


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as octal.
    return field.replace("\\040", " ").replace("\\011", "\t").replace(
        "\\012", "\n").replace("\\134", "\\")


async def _run(*argv: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await proc.communicate()
    if proc.returncode != 0:
        raise MountError(f"mount failed: exit status {proc.returncode}\n"
                         f"Mounting command: {argv[0]}\nMounting arguments: "
                         f"{' '.join(argv[1:])}\nOutput: {output.decode(errors='replace')}")


async def setup(path: Path, medium: str, size_limit: Any,
                pod: Mapping[str, Any],
                allocatable_memory: Callable[[], Awaitable[str | None]]) -> None:
    """Create the volume directory; for medium Memory, mount a tmpfs on it (sized from the
    node's allocatable memory, asked for only when a mount is needed)."""
    await asyncio.to_thread(path.mkdir, parents=True, exist_ok=True)
    if medium == "Memory":
        if not await asyncio.to_thread(is_mount_point, path):
            size = memory_size_limit(size_limit, pod, await allocatable_memory())
            options = f"size={size}" if size else "defaults"
            await _run("mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path))
    elif medium != "":
        # HugePages media (a hugetlbfs mount) are not supported on this node.
        raise MountError(f"unknown storage medium {go_quote(medium)}")
    await asyncio.to_thread(_ensure_mode, path)


def _ensure_mode(path: Path) -> None:
    # Only the permission bits: a fresh tmpfs root is 1777 and keeps its sticky bit.
    if stat.S_IMODE(path.stat().st_mode) & 0o777 != EMPTY_DIR_MODE:
        path.chmod(EMPTY_DIR_MODE)


async def unmount(path: Path) -> None:
    """Unmount whatever is mounted on `path` (a Memory emptyDir's tmpfs)."""
    while await asyncio.to_thread(is_mount_point, path):
        await _run("umount", str(path))
