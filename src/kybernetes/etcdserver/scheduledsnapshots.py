"""Snapshots of the embedded member on a schedule, as k3s's etcd snapshot cron: at each time
of `--etcd-snapshot-schedule-cron` (default `0 */12 * * *`, robfig's standard syntax with
its macros and `@every`, in local time, the CronJob controller's parser) the server saves
`etcd-snapshot-<node>-<unix time>` into the snapshot directory, then deletes the oldest
scheduled snapshots of this node beyond `--etcd-snapshot-retention` (default 5). On-demand
snapshots (`kyb etcd-snapshot save`) are never pruned. `--etcd-disable-snapshots` turns the
schedule off.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from pathlib import Path

from kybernetes.controllers.cronjob.schedule import Schedule, parse_schedule
from kybernetes.etcdserver import client
from kybernetes.etcdserver.config import EtcdConfig
from kybernetes.etcdserver.snapshot import listing, snapshot_name

log = logging.getLogger(__name__)

PREFIX = "etcd-snapshot"


def schedule(spec: str) -> Schedule:
    """The schedule of a cron spec, in local time; raises ValueError with robfig's text."""
    local = datetime.now().astimezone().tzinfo
    assert local is not None
    return parse_schedule(spec, local)


def prune(directory: Path, node: str, retention: int) -> list[Path]:
    """Delete this node's scheduled snapshots but the newest `retention`; the deleted."""
    mine = [s for s in listing(directory) if s.name.startswith(f"{PREFIX}-{node}-")]
    gone = [s.path for s in mine[:max(0, len(mine) - retention)]]
    for path in gone:
        path.unlink(missing_ok=True)
    return gone


async def save(config: EtcdConfig, directory: Path, node: str) -> Path:
    await asyncio.to_thread(directory.mkdir, mode=0o700, parents=True, exist_ok=True)
    path = directory / snapshot_name(PREFIX, node, time.time())
    async with client.connect(config, [config.local_endpoint]) as channel:
        await client.save_snapshot(channel, path)
    return path


async def run(config: EtcdConfig, when: Schedule, retention: int, directory: Path,
              node: str) -> None:
    """Save and prune at each time of `when` until cancelled; a failed save is logged."""
    while True:
        now = datetime.now().astimezone()
        due = when.next(now)
        if due is None:
            log.warning("the etcd snapshot schedule never falls due")
            return
        await asyncio.sleep(max(0.0, (due - now).total_seconds()))
        try:
            path = await save(config, directory, node)
        except (client.EtcdClientError, OSError) as err:
            log.warning("scheduled etcd snapshot failed: %s", err)
            continue
        log.info("saved etcd snapshot %s", path)
        for gone in await asyncio.to_thread(prune, directory, node, retention):
            log.info("removed etcd snapshot %s (retention %d)", gone.name, retention)
