"""Scheduled snapshots: the schedule is robfig's standard syntax (k3s's default every 12
hours), and retention keeps the newest scheduled snapshots of this node, never on-demand
ones nor another node's."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kybernetes.etcdserver import scheduledsnapshots
from kybernetes.etcdserver.snapshot import snapshot_name


def test_the_default_schedule_is_every_twelve_hours() -> None:
    when = scheduledsnapshots.schedule("0 */12 * * *")
    start = datetime(2026, 1, 1, 1, 0, tzinfo=UTC).astimezone()
    first = when.next(start)
    assert first is not None
    second = when.next(first)
    assert second is not None and (second - first).total_seconds() == 12 * 3600
    every = scheduledsnapshots.schedule("@every 5s").next(start)
    assert every is not None and (every - start).total_seconds() == 5


def test_a_bad_schedule_is_refused() -> None:
    with pytest.raises(ValueError, match="expected exactly 5 fields"):
        scheduledsnapshots.schedule("*/5 * *")


def test_retention_keeps_the_newest_scheduled_snapshots_of_this_node(tmp_path: Path) -> None:
    def touch(prefix: str, node: str, when: int) -> Path:
        path = tmp_path / snapshot_name(prefix, node, when)
        path.write_bytes(b"x")
        os.utime(path, (when, when))
        return path

    scheduled = [touch("etcd-snapshot", "s1", 1000 + i) for i in range(5)]
    on_demand = touch("on-demand", "s1", 900)
    other = touch("etcd-snapshot", "s2", 800)
    gone = scheduledsnapshots.prune(tmp_path, "s1", 2)
    assert gone == scheduled[:3]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in [*scheduled[3:], on_demand, other])
