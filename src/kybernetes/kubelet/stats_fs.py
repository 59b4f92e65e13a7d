"""A container's filesystem usage: its writable layer (`rootfs`) and its log files (`logs`),
as upstream's `FsStats` carries them.

The writable layer is the overlay `upperdir` of the container's root mount, read from
`/proc/<pid>/mountinfo` of one of its processes (the runc runtime mounts every rootfs so,
kubelet/runtime/runc/rootfs.py); its usage is the disk blocks of every file under it,
counted once per inode, as cadvisor's `du`. Walking a layer costs, so `DiskUsage` keeps each
container's figure for an interval (a scrape's); the logs are the files of the container's
log directory (`<log root>/<namespace>_<pod>_<uid>/<container>/`), summed at each reading.
Capacity and available bytes are those of the filesystem holding the directory (statvfs).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

DEFAULT_INTERVAL = 10.0  # seconds a rootfs figure is reused


@dataclass(frozen=True)
class FsSample:
    time: float
    used_bytes: int
    inodes_used: int
    capacity_bytes: int
    available_bytes: int
    inodes: int
    inodes_free: int


def upperdir(pids: list[int], proc: Path = Path("/proc")) -> Path | None:
    """The overlay upperdir of the root mount seen by the first readable of `pids`."""
    for pid in pids:
        try:
            text = (proc / str(pid) / "mountinfo").read_text()
        except OSError:
            continue
        found = None
        for line in text.splitlines():
            pre, _, post = line.partition(" - ")
            fields, post_fields = pre.split(), post.split()
            if len(fields) < 5 or len(post_fields) < 3 or fields[4] != "/":
                continue
            if post_fields[0] == "overlay":
                opts = dict(o.partition("=")[::2] for o in post_fields[2].split(","))
                found = Path(opts["upperdir"]) if opts.get("upperdir") else None
        return found
    return None


def disk_usage(root: Path) -> tuple[int, int]:
    """(bytes of disk blocks, inodes) under `root`, each inode counted once; files vanishing
    meanwhile are skipped."""
    seen: set[tuple[int, int]] = set()
    used = inodes = 0
    stack = [str(root)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            used += st.st_blocks * 512
            inodes += 1
    return used, inodes


def _sample(directory: Path, when: float, used: int, inodes_used: int) -> FsSample | None:
    try:
        vfs = os.statvfs(directory)
    except OSError:
        return None
    return FsSample(when, used, inodes_used, vfs.f_blocks * vfs.f_frsize,
                    vfs.f_bavail * vfs.f_frsize, vfs.f_files, vfs.f_ffree)


def logs_usage(directory: Path, when: float) -> FsSample | None:
    """The container's log files (every restart's); None when it has no log directory."""
    if not directory.is_dir():
        return None
    used, inodes = disk_usage(directory)
    return _sample(directory, when, used, inodes)


class DiskUsage:
    """Rootfs usage per container, walked at most once per `interval`."""

    def __init__(self, interval: float = DEFAULT_INTERVAL,
                 clock: Callable[[], float] = time.time) -> None:
        self.interval = interval
        self.clock = clock
        self._cache: dict[str, FsSample] = {}
        self._seen: set[str] = set()

    def rootfs(self, key: str, directory: Path | None) -> FsSample | None:
        if directory is None:
            return None
        self._seen.add(key)
        now = self.clock()
        cached = self._cache.get(key)
        if cached is not None and now - cached.time < self.interval:
            return cached
        sample = _sample(directory, now, *disk_usage(directory))
        if sample is None:
            self._cache.pop(key, None)
        else:
            self._cache[key] = sample
        return sample

    def forget_unseen(self) -> None:
        for key in set(self._cache) - self._seen:
            del self._cache[key]
        self._seen.clear()
