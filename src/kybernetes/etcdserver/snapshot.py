"""etcd snapshots of the embedded member, as k3s' `etcd-snapshot`: saved from the running
member (etcd's Maintenance.Snapshot, the database with a sha256 trailer, what `etcdctl
snapshot save` writes) into `<data-dir>/db/snapshots/` by default, listed, and restored.

Restoring is what `etcdctl snapshot restore` does, for a new single-member cluster: the
member's data dir is moved aside (`db/etcd-old-<unix time>`, as k3s keeps it), the snapshot,
its trailer checked and removed, becomes the backend of an empty one, with its consistent
index reset (bbolt.py); the member then starts as the first of a new cluster with every key
and revision of the snapshot.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from kybernetes.etcdserver import bbolt
from kybernetes.etcdserver.config import db_dir, etcd_dir

_HASH_SIZE = 32


class SnapshotError(Exception):
    """A snapshot that cannot be restored."""


def default_dir(data_dir: Path) -> Path:
    return db_dir(data_dir) / "snapshots"


def snapshot_name(prefix: str, node: str, when: float) -> str:
    """`<prefix>-<node>-<unix time>`, as k3s names snapshots."""
    return f"{prefix}-{node}-{int(when)}"


@dataclass(frozen=True)
class SnapshotFile:
    name: str
    path: Path
    size: int
    created: float


def listing(directory: Path) -> list[SnapshotFile]:
    """The snapshots in `directory`, oldest first."""
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        if path.is_file() and not path.name.startswith("."):
            stat = path.stat()
            found.append(SnapshotFile(path.name, path, stat.st_size, stat.st_mtime))
    return sorted(found, key=lambda s: (s.created, s.name))


def _database(snapshot: bytes) -> bytes:
    """The bbolt file in a saved snapshot: its sha256 trailer checked and removed (a file
    copied from a data dir, with no trailer, as it is)."""
    if len(snapshot) % 512 != _HASH_SIZE:
        return snapshot
    body, digest = snapshot[:-_HASH_SIZE], snapshot[-_HASH_SIZE:]
    if hashlib.sha256(body).digest() != digest:
        raise SnapshotError("the snapshot's sha256 does not match its content")
    return body


def restore(data_dir: Path, snapshot: Path) -> Path | None:
    """Make the snapshot the data of the data dir's member (which must not be running);
    returns where the previous data went, if there was any."""
    try:
        database = _database(snapshot.read_bytes())
    except OSError as err:
        raise SnapshotError(f"cannot read {snapshot}: {err.strerror}") from None
    target = etcd_dir(data_dir)
    staging = target.with_name(f".etcd-restore-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    snap_dir = staging / "member" / "snap"
    snap_dir.mkdir(mode=0o700, parents=True)
    db = snap_dir / "db"
    db.write_bytes(database)
    try:
        bbolt.reset_consistent_index(db)
    except bbolt.BoltError as err:
        shutil.rmtree(staging, ignore_errors=True)
        raise SnapshotError(f"{snapshot} is not an etcd snapshot: {err}") from None
    moved = None
    if target.exists():
        moved = target.with_name(f"etcd-old-{int(time.time())}")
        target.rename(moved)
    staging.chmod(0o700)
    staging.rename(target)
    return moved
