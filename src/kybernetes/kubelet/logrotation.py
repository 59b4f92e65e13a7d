"""Container log rotation (upstream's pkg/kubelet/logs/container_log_manager.go).

Every `period` the kubelet looks at the log of each running container; one larger than
`max_size` (containerLogMaxSize, 10Mi) is rotated: renamed to `<log>.<YYYYmmdd-HHMMSS>`, and
the runtime is asked to reopen the log so the container writes a fresh file at the old
path (a reader following the log notices the new inode and carries on). Rotated files
beyond `max_files - 1` (containerLogMaxFiles, 5, counting the live one) are removed, oldest
first, and every rotated file but the newest is compressed to `.gz`, as upstream keeps them.
If the runtime cannot reopen the log, the rename is undone.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import os
import shutil
import time
from pathlib import Path

from kybernetes.kubelet.runtime.cri import (
    ContainerFilter,
    ContainerId,
    ContainerRuntime,
    ContainerState,
    CRIError,
)

log = logging.getLogger(__name__)

DEFAULT_MAX_SIZE = 10 * 1024 * 1024
DEFAULT_MAX_FILES = 5
DEFAULT_PERIOD = 10.0
_STAMP = "%Y%m%d-%H%M%S"


def rotated_logs(path: Path) -> list[Path]:
    """The rotated files of the log at `path`, oldest first."""
    return sorted(p for p in path.parent.glob(f"{path.name}.*") if not p.name.endswith(".tmp"))


class ContainerLogManager:
    def __init__(self, runtime: ContainerRuntime, *, max_size: int = DEFAULT_MAX_SIZE,
                 max_files: int = DEFAULT_MAX_FILES, period: float = DEFAULT_PERIOD) -> None:
        if max_files < 2:
            raise ValueError("max_files must be at least 2 (the live log and one rotated)")
        self.runtime = runtime
        self.max_size = max_size
        self.max_files = max_files
        self.period = period

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.period)
            try:
                await self.rotate_all()
            except Exception:  # a rotation failure must never stop the node
                log.exception("container log rotation failed")

    async def rotate_all(self) -> None:
        running = await self.runtime.list_containers(
            ContainerFilter(state=ContainerState.CONTAINER_RUNNING))
        for container in running:
            try:
                status = await self.runtime.container_status(container.id)
            except CRIError:
                continue
            path = Path(status.log_path)
            with contextlib.suppress(FileNotFoundError):
                if await asyncio.to_thread(os.path.getsize, path) > self.max_size:
                    await self.rotate(container.id, path)

    async def rotate(self, container_id: ContainerId, path: Path) -> None:
        await asyncio.to_thread(self._prune, path)
        target = path.with_name(f"{path.name}.{time.strftime(_STAMP, time.gmtime())}")
        await asyncio.to_thread(os.rename, path, target)
        try:
            await self.runtime.reopen_container_log(container_id)
        except CRIError:
            await asyncio.to_thread(os.rename, target, path)
            raise
        await asyncio.to_thread(self._compress, path)

    def _prune(self, path: Path) -> None:
        """Make room for one more rotated file."""
        rotated = rotated_logs(path)
        for old in rotated[:max(0, len(rotated) - (self.max_files - 2))]:
            old.unlink(missing_ok=True)

    @staticmethod
    def _compress(path: Path) -> None:
        """gzip every rotated file but the newest (which a reader may still follow)."""
        for old in rotated_logs(path)[:-1]:
            if old.suffix == ".gz":
                continue
            packed = old.with_name(old.name + ".gz")
            partial = old.with_name(packed.name + ".tmp")
            with old.open("rb") as source, gzip.open(partial, "wb") as sink:
                shutil.copyfileobj(source, sink)
            partial.rename(packed)
            old.unlink()
