"""The node's side of local-path volumes (controllers/localpath.py provisions them):
making a volume's directory and removing it once its PersistentVolume is gone.

k3s' provisioner runs helper pods on the node for both; here the kubelet does it, so the
provisioner stays an API client and needs no image:

- **Making**: the first mount of a volume provisioned by `rancher.io/local-path` makes its
  hostPath directory with mode 0777, as k3s' helper does (`mkdir -m 0777 -p`), so pods
  running as any user can write there.
- **Removing**: `LocalPathCleaner` looks at `<data-dir>/storage` every `period` seconds;
  when it holds volume directories (`<pv>_<namespace>_<claim>`) that were already there
  the previous round, it lists the PersistentVolumes (the `kybernetes:local-path-node`
  role lets nodes list them) and removes each of those whose volume is not among them.
  A directory is only made for a volume that exists, so one seen before the list began
  whose volume the list lacks belongs to a deleted volume; a directory new this round is
  left for the next one, as its volume may be newer than the list (no clocks compared).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kybernetes.client import ApiClient, ClientError

log = logging.getLogger(__name__)

PVS = ("", "v1", "persistentvolumes")
PROVISIONER = "rancher.io/local-path"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
DEFAULT_PERIOD = 5.0


def is_local_path(volume: Mapping[str, Any]) -> bool:
    annotations = (volume.get("metadata") or {}).get("annotations") or {}
    return annotations.get(PROVISIONED_BY) == PROVISIONER and \
        "hostPath" in (volume.get("spec") or {})


def make_dir(path: Path) -> None:
    """The volume's directory, mode 0777 (whatever the umask), parents as needed."""
    if path.is_dir():
        return
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o777)


def volume_dirs(root: Path) -> set[Path]:
    """The volume directories under `root`."""
    if not root.is_dir():
        return set()
    return {entry for entry in root.iterdir()
            if "_" in entry.name and entry.is_dir() and not entry.is_symlink()}


class LocalPathCleaner:
    def __init__(self, root: Path, client: ApiClient, *,
                 period: float = DEFAULT_PERIOD) -> None:
        self.root = root
        self.client = client
        self.period = period
        # The directories of the previous round.
        self._seen: set[Path] = set()

    async def run(self) -> None:
        while True:
            try:
                await self.sweep()
            except ClientError as err:
                log.warning("local-path volumes: listing PersistentVolumes failed: %s", err)
            except OSError as err:
                log.warning("local-path volumes: reading %s failed: %s", self.root, err)
            await asyncio.sleep(self.period)

    async def sweep(self) -> list[Path]:
        """Remove the directories of volumes that are gone; returns them."""
        entries = await asyncio.to_thread(volume_dirs, self.root)
        candidates, self._seen = entries & self._seen, entries
        if not candidates:
            return []
        existing = {str((pv.get("metadata") or {}).get("name"))
                    for pv in await self.client.list(PVS)}
        removed = []
        for path in sorted(candidates):
            if path.name.split("_", 1)[0] in existing:
                continue
            log.info("local-path volumes: removing %s (its volume is gone)", path)
            try:
                await asyncio.to_thread(shutil.rmtree, path)
            except OSError as err:
                log.warning("local-path volumes: removing %s failed: %s", path, err)
                continue
            removed.append(path)
        return removed
