"""emptyDir volumes (upstream pkg/volume/emptydir): a directory under the pod, mode 0777,
or for `medium: Memory` a tmpfs mounted there. Secret, downwardAPI and projected volumes
wrap a Memory emptyDir (their contents never touch the disk), configMap volumes a plain one,
as upstream's `wrappedVolumeSpec`s do.

The tmpfs size is upstream's `calculateEmptyDirMemorySize` (SizeMemoryBackedVolumes, GA):
the node's allocatable memory, lowered to the pod's memory limit when every container has
one, lowered again to `sizeLimit` when that is smaller. Mounting needs root, which the
kubelet is; it is mount(2) and umount2(2), not a process (`kubelet.syscalls`). A volume that
is already a mount point is left as it is, so setup is idempotent across kubelet restarts
(and cheap on every sync: a tmpfs is a device of its own, so two stat calls tell, without
reading the node's mount table); teardown unmounts before the directory is removed.
`setup` is blocking file-system work, for a worker thread (with whatever else the volume
needs, in one hop).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kybernetes.api.goquote import go_quote
from kybernetes.api.quantity import Quantity
from kybernetes.kubelet import syscalls

EMPTY_DIR_MODE = 0o777


class MountError(OSError):
    """mount(2) or umount(2) failed; the message says what was asked, as upstream's."""


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
    """Whether something other than `path`'s parent's filesystem is mounted on it (a
    tmpfs always is a device of its own)."""
    return os.path.ismount(path)


def _mount_tmpfs(options: str, path: Path) -> None:
    try:
        syscalls.mount("tmpfs", str(path), "tmpfs", data=options)
    except OSError as err:
        raise MountError(f"mount failed: {err.strerror}\nMounting command: mount\n"
                         f"Mounting arguments: -t tmpfs -o {options or 'defaults'} tmpfs "
                         f"{path}") from None


def _unmount(path: Path) -> None:
    while is_mount_point(path):
        try:
            syscalls.umount(str(path))
        except OSError as err:
            if err.errno == errno.EINVAL:  # gone meanwhile
                return
            raise MountError(f"unmount failed: {err.strerror}\nUnmounting arguments: "
                             f"{path}") from None


def setup(path: Path, medium: str, size_limit: Any, pod: Mapping[str, Any],
          allocatable_memory: str | None) -> None:
    """Create the volume directory; for medium Memory, mount a tmpfs on it (sized from the
    node's allocatable memory) unless one is there."""
    path.mkdir(parents=True, exist_ok=True)
    if medium == "Memory":
        if not is_mount_point(path):
            size = memory_size_limit(size_limit, pod, allocatable_memory)
            _mount_tmpfs(f"size={size}" if size else "", path)
    elif medium != "":
        # HugePages media (a hugetlbfs mount) are not supported on this node.
        raise MountError(f"unknown storage medium {go_quote(medium)}")
    _ensure_mode(path)


def _ensure_mode(path: Path) -> None:
    # Only the permission bits: a fresh tmpfs root is 1777 and keeps its sticky bit.
    if stat.S_IMODE(path.stat().st_mode) & 0o777 != EMPTY_DIR_MODE:
        path.chmod(EMPTY_DIR_MODE)


async def unmount(path: Path) -> None:
    """Unmount whatever is mounted on `path` (a Memory emptyDir's tmpfs)."""
    _unmount(path)
