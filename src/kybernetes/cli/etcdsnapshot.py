"""`kyb etcd-snapshot save|ls|restore`: snapshots of a server's embedded etcd, as k3s'
`etcd-snapshot` command.

- `save [--name NAME]`: a snapshot of the running member into the snapshot directory
  (`<data-dir>/db/snapshots`, or `--etcd-snapshot-dir`), named `NAME-<node>-<unix time>`
  (`on-demand` by default, as k3s names them).
- `ls` (`list`): the snapshots there, with their location, size and time.
- `restore NAME|FILE`: with the server stopped, make the snapshot the member's data (the
  old data moved aside); the next `kyb server` starts a single-member cluster from it. It
  is the offline half of `kyb server --cluster-reset --cluster-reset-restore-path FILE`,
  which restores and then serves.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import socket
import time
from pathlib import Path
from typing import Any

from kybernetes.cli import flags


def _add_data_flags(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    data = flags.group(parser, flags.DATA)
    data.add_argument("--data-dir", type=Path, default=None, metavar="DIR",
                      help="the server's data dir (default: /var/lib/kybernetes as root, "
                           "else ~/.local/share/kybernetes)")
    data.add_argument("--etcd-snapshot-dir", type=Path, default=None, metavar="DIR",
                      help="where snapshots are (default: <data-dir>/db/snapshots)")
    return parser


def add_parser(commands: Any) -> None:
    snapshot = flags.command(commands, "etcd-snapshot",
                             help="save, list and restore snapshots of the embedded etcd")
    actions = snapshot.add_subparsers(dest="snapshot_command", required=True,
                                      metavar="ACTION")
    save = _add_data_flags(flags.command(actions, "save",
                                         help="save a snapshot of the running member"))
    flags.group(save, flags.DATA).add_argument(
        "--name", default="on-demand", metavar="NAME", help="the snapshot's name prefix")
    save.set_defaults(run=_save)
    for name in ("ls", "list"):
        _add_data_flags(flags.command(actions, name, help="list the snapshots")
                        ).set_defaults(run=_ls)
    restore = _add_data_flags(flags.command(
        actions, "restore", help="with the server stopped, make a snapshot its etcd data"))
    restore.add_argument("snapshot", metavar="NAME|FILE",
                         help="a snapshot's name in the snapshot directory, or its path")
    restore.set_defaults(run=_restore)


def _data_dir(args: argparse.Namespace) -> Path:
    from kybernetes.cli.main import default_data_dir

    data_dir: Path = args.data_dir or default_data_dir()
    return data_dir


def _snapshot_dir(args: argparse.Namespace) -> Path:
    from kybernetes.etcdserver.snapshot import default_dir

    directory: Path = args.etcd_snapshot_dir or default_dir(_data_dir(args))
    return directory


def _member(args: argparse.Namespace) -> Any:
    from kybernetes.etcdserver import config

    member = config.load(_data_dir(args))
    if member is None:
        raise SystemExit(f"kyb etcd-snapshot: {_data_dir(args)} has no embedded etcd (start "
                         "`kyb server --cluster-init` first)")
    return member


def _save(args: argparse.Namespace) -> int:
    from kybernetes.etcdserver import client
    from kybernetes.etcdserver.snapshot import snapshot_name

    member = _member(args)
    directory = _snapshot_dir(args)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / snapshot_name(args.name, socket.gethostname(), time.time())

    async def save() -> int:
        async with client.connect(member, [member.local_endpoint]) as channel:
            return await client.save_snapshot(channel, path)

    try:
        size = asyncio.run(save())
    except client.EtcdClientError as err:
        raise SystemExit(f"kyb etcd-snapshot save: {err}") from None
    print(f"Snapshot {path.name} saved to {path} ({size} bytes)")
    return 0


def _ls(args: argparse.Namespace) -> int:
    from kybernetes.etcdserver.snapshot import listing

    rows = [("Name", "Location", "Size", "Created")]
    for found in listing(_snapshot_dir(args)):
        created = dt.datetime.fromtimestamp(found.created, dt.UTC)
        rows.append((found.name, f"file://{found.path.resolve()}", str(found.size),
                     created.strftime("%Y-%m-%dT%H:%M:%SZ")))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print(" ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
              + " " + row[3])
    return 0


def _running(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _restore(args: argparse.Namespace) -> int:
    from kybernetes.etcdserver.snapshot import SnapshotError, restore

    member = _member(args)
    if _running(member.client_port):
        raise SystemExit("kyb etcd-snapshot restore: the member is running (port "
                         f"{member.client_port}): stop kyb server first")
    named = _snapshot_dir(args) / args.snapshot
    path = named if named.is_file() else Path(args.snapshot)
    try:
        moved = restore(member.data_dir, path)
    except SnapshotError as err:
        raise SystemExit(f"kyb etcd-snapshot restore: {err}") from None
    print(f"Restored {path} into {member.etcd_dir}"
          + (f" (previous data in {moved})" if moved else "")
          + "; start kyb server to serve it as a single-member cluster")
    return 0
