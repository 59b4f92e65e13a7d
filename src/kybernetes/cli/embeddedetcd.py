"""`kyb server`'s embedded etcd (k3s' managed etcd): its flags, and running the member
beside the API server.

- `--cluster-init`: the first server of an HA cluster; its etcd member starts a new cluster.
- `--server URL --token T`: a server joining the cluster of the server at URL: it reads the
  bootstrap data with the token (etcdserver/bootstrapdata.py), adds its member through the
  existing members (etcd's MemberAdd) and starts it with `--initial-cluster-state existing`.
- `--cluster-reset`: the member restarts as a single-member cluster keeping its data (etcd's
  `--force-new-cluster`), the way out when quorum is lost for good; with
  `--cluster-reset-restore-path FILE`, from an etcd snapshot instead (its data moved aside).
  Unlike k3s, which exits after a reset, the server then goes on serving.

A data dir whose member has run (`db/etcd`) restarts it without any of these flags. The API
server uses the local member (`https://127.0.0.1:<etcd client port>`) with the member's client
certificate; `--etcd-client-port` and `--etcd-peer-port` (2379, 2380) let several servers
share a machine. The member runs `Supervised` (restarted when it dies, named by `/livez`
meanwhile) and is stopped after the API server. Once the API server serves, the server
publishes the bootstrap data for the next server to join.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import socket
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kybernetes.cli import flags
from kybernetes.cli.supervise import Supervised

if TYPE_CHECKING:
    from kybernetes.apiserver.server import ApiServer
    from kybernetes.controllers.cronjob.schedule import Schedule
    from kybernetes.etcdserver.client import Member
    from kybernetes.etcdserver.config import EtcdConfig
    from kybernetes.etcdserver.process import Bootstrap

log = logging.getLogger("kyb")

# How long a member that bootstraps (first start, join, reset) may take to be healthy.
_BOOTSTRAP_TIMEOUT = 120.0
_PUBLISH_RETRY = 2.0
# k3s's defaults for scheduled snapshots.
DEFAULT_CRON = "0 */12 * * *"
DEFAULT_RETENTION = 5


def add_flags(parser: argparse.ArgumentParser) -> None:
    cluster = flags.group(parser, flags.CLUSTER)
    cluster.add_argument("--cluster-init", action="store_true",
                         help="start a new HA cluster on an embedded etcd member")
    cluster.add_argument("--server", default=None, metavar="URL",
                         help="join the HA cluster of the server at URL (with --token; "
                              "default: none)")
    cluster.add_argument("--cluster-reset", action="store_true",
                         help="restart the embedded etcd as a single-member cluster, "
                              "keeping its data")
    cluster.add_argument("--cluster-reset-restore-path", type=Path, default=None,
                         metavar="FILE",
                         help="with --cluster-reset: restore this etcd snapshot first "
                              "(default: none)")
    database = flags.group(parser, flags.DATABASE)
    database.add_argument("--etcd-client-port", type=int, default=None, metavar="PORT",
                          help="the embedded etcd's client port (default: the last one "
                               "used, else 2379)")
    database.add_argument("--etcd-peer-port", type=int, default=None, metavar="PORT",
                          help="the embedded etcd's peer port (default: the last one "
                               "used, else 2380)")
    database.add_argument("--etcd-snapshot-schedule-cron", default=DEFAULT_CRON,
                          metavar="SPEC", help="when to save a snapshot of the embedded etcd "
                          "(cron syntax, local time)")
    database.add_argument("--etcd-snapshot-retention", type=int, default=DEFAULT_RETENTION,
                          metavar="N", help="scheduled snapshots to keep")
    database.add_argument("--etcd-snapshot-dir", type=Path, default=None, metavar="DIR",
                          help="where snapshots are saved (default: <data-dir>/db/snapshots)")
    database.add_argument("--etcd-disable-snapshots", action="store_true",
                          help="save no scheduled snapshots")


@dataclass
class Embedded:
    """The member of a server, and how it starts this time."""

    config: EtcdConfig
    join_url: str = ""
    token: str = ""
    cluster_reset: bool = False
    restore_path: Path | None = None
    # The server's node name; whether the server runs that node (annotated as the member's).
    node_name: str = ""
    own_node: bool = False
    # Scheduled snapshots (None: none), their retention and directory.
    snapshot_schedule: Schedule | None = None
    snapshot_retention: int = DEFAULT_RETENTION
    snapshot_dir: Path | None = None


def configure(args: argparse.Namespace, data_dir: Path) -> Embedded | None:
    """The embedded member the flags (or the data dir) ask for, None for none; points the
    API server's storage flags at it."""
    from kybernetes.etcdserver import config as etcd_config

    wanted = (args.cluster_init or args.server or args.cluster_reset
              or etcd_config.etcd_dir(data_dir).exists())
    if not wanted:
        if args.cluster_reset_restore_path is not None:
            flags.fail(args.command, "--cluster-reset-restore-path needs --cluster-reset")
        return None
    if args.storage:
        flags.fail(args.command, "--storage and the embedded etcd (--cluster-init, --server, "
                                 "--cluster-reset, or a data dir with db/etcd) exclude each other")
    if args.cluster_init and args.server:
        flags.fail(args.command, "--cluster-init starts a cluster, --server joins one: not both")
    if args.server and not args.token:
        flags.fail(args.command, "--server needs --token")
    if args.cluster_reset_restore_path is not None and not args.cluster_reset:
        flags.fail(args.command, "--cluster-reset-restore-path needs --cluster-reset")
    if args.etcd_snapshot_retention < 1:
        flags.fail(args.command, "--etcd-snapshot-retention must be at least 1")
    from kybernetes.etcdserver.scheduledsnapshots import schedule as snapshot_schedule

    try:
        when = None if args.etcd_disable_snapshots else \
            snapshot_schedule(args.etcd_snapshot_schedule_cron)
    except ValueError as err:
        flags.fail(args.command, f"--etcd-snapshot-schedule-cron: {err}")
    config = etcd_config.configure(data_dir, args.advertise_address, args.etcd_client_port,
                                   args.etcd_peer_port)
    args.storage = f"etcd://{config.local_endpoint}"
    args.etcd_cafile = config.ca_cert
    args.etcd_certfile, args.etcd_keyfile = config.cert("client")
    return Embedded(config, join_url=args.server or "",
                    token=args.token or "", cluster_reset=args.cluster_reset,
                    restore_path=args.cluster_reset_restore_path,
                    node_name=getattr(args, "node_name", None) or socket.gethostname(),
                    own_node=not getattr(args, "disable_agent", True),
                    snapshot_schedule=when, snapshot_retention=args.etcd_snapshot_retention,
                    snapshot_dir=args.etcd_snapshot_dir)


async def _add_member(channel: Any, peer_url: str) -> tuple[Member, list[Member]]:
    """etcd's MemberAdd, again while etcd refuses it as unsafe: a member added less than
    5 s ago (etcd's health interval) does not count towards the quorum yet, as when
    servers join one right after another."""
    from kybernetes.etcdserver import client

    loop = asyncio.get_running_loop()
    deadline = loop.time() + _BOOTSTRAP_TIMEOUT
    while True:
        try:
            return await client.add_member(channel, peer_url)
        except client.EtcdClientError as err:
            if "unhealthy cluster" not in str(err) or loop.time() > deadline:
                raise
            log.info("etcd refuses a new member for now (%s); trying again", err)
        await asyncio.sleep(1)


async def _join(embedded: Embedded) -> Bootstrap:
    """Add this member through the cluster's members; how it starts then."""
    from kybernetes.api import jointoken
    from kybernetes.etcdserver import client
    from kybernetes.etcdserver.bootstrapdata import fetch, install
    from kybernetes.etcdserver.certs import issue
    from kybernetes.etcdserver.process import Bootstrap

    config = embedded.config
    data = await fetch(embedded.join_url, jointoken.parse(embedded.token))
    install(config.data_dir, data)
    await asyncio.to_thread(issue, config)
    async with client.connect(config, data.etcd_endpoints) as channel:
        for member in await client.members(channel):
            if config.peer_url in member.peer_urls:  # left over from a join that failed
                log.warning("removing member %x at %s to add it again", member.id,
                            config.peer_url)
                await client.remove_member(channel, member.id)
        added, members = await _add_member(channel, config.peer_url)
    initial = ",".join(f"{config.name if m.id == added.id else m.name}={url}"
                       for m in members for url in m.peer_urls
                       if m.name or m.id == added.id)
    log.info("added etcd member %s (%x); cluster %s", config.name, added.id, initial)
    return Bootstrap(initial_cluster=initial, existing=True)


async def _prepare(embedded: Embedded) -> tuple[Bootstrap, bool]:
    """Join, restore or reset as asked; the member's certificates. Returns how the member
    starts, and whether it bootstraps (waited for until healthy)."""
    from kybernetes.apiserver.pki import ensure_pki
    from kybernetes.etcdserver import snapshot
    from kybernetes.etcdserver.certs import issue
    from kybernetes.etcdserver.config import has_member
    from kybernetes.etcdserver.process import Bootstrap

    config = embedded.config
    data_dir = config.data_dir
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if embedded.join_url and not has_member(data_dir):
        return await _join(embedded), True
    await asyncio.to_thread(ensure_pki, data_dir)
    await asyncio.to_thread(issue, config)
    if embedded.restore_path is not None:
        moved = snapshot.restore(data_dir, embedded.restore_path)
        log.info("restored etcd from %s%s", embedded.restore_path,
                 f" (previous data moved to {moved})" if moved else "")
        return Bootstrap(), True
    if embedded.cluster_reset and has_member(data_dir):
        log.info("resetting etcd to a single-member cluster (--cluster-reset)")
        return Bootstrap(force_new_cluster=True), True
    return Bootstrap(), not has_member(data_dir)


async def _publish(server: ApiServer, embedded: Embedded) -> None:
    """Once the API server serves, publish the bootstrap data (retrying until it is)."""
    from kybernetes.api import jointoken
    from kybernetes.apiserver.nodetoken import TOKEN_FILE
    from kybernetes.client import ApiClient, ClientError, load_config
    from kybernetes.etcdserver import bootstrapdata, client

    await server.serving.wait()
    config = embedded.config
    while True:
        try:
            async with client.connect(config, [config.local_endpoint]) as channel:
                endpoints = [url for m in await client.members(channel) for url in m.client_urls]
            token = jointoken.parse((config.data_dir / TOKEN_FILE).read_text())
            data = bootstrapdata.read_local(config.data_dir, endpoints)
            async with ApiClient(load_config(str(server.config.kubeconfig))) as api:
                await bootstrapdata.publish(api, token, data)
            return
        except (ClientError, client.EtcdClientError, OSError, jointoken.TokenError) as err:
            log.warning("cannot publish the server bootstrap data yet: %s", err)
        await asyncio.sleep(_PUBLISH_RETRY)


async def around(embedded: Embedded | None, server: ApiServer,
                 serving: Coroutine[Any, Any, None]) -> None:
    """Run `serving` (the API server and its components) on the embedded member: started
    first, stopped last."""
    if embedded is None:
        await serving
        return
    from kybernetes.api.jointoken import TokenError
    from kybernetes.etcdserver import bootstrapdata, client, process, snapshot

    try:
        bootstrap, bootstrapping = await _prepare(embedded)
    except (bootstrapdata.BootstrapError, client.EtcdClientError, snapshot.SnapshotError,
            TokenError, OSError) as err:
        serving.close()
        raise SystemExit(f"kyb server: embedded etcd: {err}") from None
    embedded.config.save()
    first_run = [bootstrap]

    def start() -> Coroutine[Any, Any, None]:
        # Only the first run bootstraps: a restarted member has its data and membership.
        how = first_run.pop() if first_run else process.Bootstrap()
        return process.run(embedded.config, how)

    member = Supervised("etcd", start)
    running = asyncio.create_task(member.run(), name="etcd")
    server.app.liveness[member.name] = member.check
    publishing = asyncio.create_task(_publish(server, embedded), name="bootstrap-data")
    housekeeping = [asyncio.create_task(_housekeeping(server, embedded), name="etcd-upkeep")]
    try:
        if bootstrapping:
            try:
                await process.wait_healthy(embedded.config, running, _BOOTSTRAP_TIMEOUT)
            except (process.EtcdExited, TimeoutError) as err:
                serving.close()
                raise SystemExit(f"kyb server: embedded etcd: {err}") from None
        served = asyncio.create_task(serving, name="control-plane")
        await asyncio.wait({served, running}, return_when=asyncio.FIRST_COMPLETED)
        if not served.done():  # the member kept dying (ComponentFailed): stop serving
            server.stop()
            await served
            raise SystemExit(f"kyb server: {running.exception()}")
        await served
    finally:
        for task in (*housekeeping, publishing, running):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task



async def _housekeeping(server: ApiServer, embedded: Embedded) -> None:
    """Once the API server serves: the member controller (and this server's node marked as
    the member's), and the scheduled snapshots."""
    from kybernetes.etcdserver import scheduledsnapshots, snapshot
    from kybernetes.etcdserver.membercontroller import MemberController

    await server.serving.wait()
    controller = MemberController(server, embedded.config)
    async with asyncio.TaskGroup() as group:
        group.create_task(controller.run())
        if embedded.own_node:
            group.create_task(controller.annotate_own_node(embedded.node_name))
        if embedded.snapshot_schedule is not None:
            group.create_task(scheduledsnapshots.run(
                embedded.config, embedded.snapshot_schedule, embedded.snapshot_retention,
                embedded.snapshot_dir or snapshot.default_dir(embedded.config.data_dir),
                embedded.node_name))
