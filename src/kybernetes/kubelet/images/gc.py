"""Image garbage collection by disk usage: upstream's ImageGCManager policy.

    usage = 100 - available*100/capacity            (integer percent, as Go computes it)
    if usage >= high: free capacity*(100-low)/100 - available bytes

by removing images no container uses, least recently used first (never-used images first,
in the order they arrived), and none that arrived less than imageMinimumGCAge ago. Defaults
are the kubelet's: imageGCHighThresholdPercent 85, imageGCLowThresholdPercent 80,
imageMinimumGCAge 2m; a high threshold of 100 turns GC off. What the store holds
is measured on the filesystem under its root, as cadvisor's image filesystem stats are.
Freed space is counted as what deletion really gave back (shared layers free nothing
until their last image goes), where upstream counts each image's reported size.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HIGH_THRESHOLD_PERCENT = 85
DEFAULT_LOW_THRESHOLD_PERCENT = 80
# imageMinimumGCAge: an image younger than this is not collected, so one just pulled
# for a container about to start is not taken from under it.
DEFAULT_MINIMUM_AGE = 120.0


@dataclass(frozen=True)
class FsStats:
    capacity: int
    available: int


@dataclass(frozen=True)
class Candidate:
    id: str
    last_used: float  # 0 for never used
    detected: float  # when the image arrived in the store


def fs_stats(path: Path) -> FsStats:
    st = os.statvfs(path)
    return FsStats(capacity=st.f_blocks * st.f_frsize, available=st.f_bavail * st.f_frsize)


def check_thresholds(high: int, low: int) -> None:
    """Upstream's validation of the kubelet's image GC thresholds."""
    if not 0 <= high <= 100:
        raise ValueError(f"invalid HighThresholdPercent {high}, must be in range [0-100]")
    if not 0 <= low <= 100:
        raise ValueError(f"invalid LowThresholdPercent {low}, must be in range [0-100]")
    if low > high:
        raise ValueError(f"LowThresholdPercent {low} can not be higher than "
                         f"HighThresholdPercent {high}")


def bytes_to_free(stats: FsStats, high: int, low: int) -> int:
    """How much to free to get from over `high` percent down to `low` (0: nothing)."""
    if high >= 100:
        return 0
    if stats.capacity <= 0:
        raise ValueError("invalid capacity 0 on image filesystem")
    available = min(stats.available, stats.capacity)
    usage = 100 - available * 100 // stats.capacity
    if usage < high:
        return 0
    return stats.capacity * (100 - low) // 100 - available


def eviction_order(candidates: Iterable[Candidate]) -> list[str]:
    """Upstream's byLastUsedAndDetected: least recently used first, then first detected."""
    return [c.id for c in sorted(candidates, key=lambda c: (c.last_used, c.detected))]


def disk_usage(path: Path) -> int:
    """Bytes of disk the tree at `path` occupies (hard-linked files counted once)."""
    total = 0
    seen: set[tuple[int, int]] = set()
    for directory, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            st = os.lstat(os.path.join(directory, name))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total + os.lstat(path).st_blocks * 512
