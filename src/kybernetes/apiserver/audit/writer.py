"""Where audit events go: JSON lines appended to `--audit-log-path` ("-": standard output),
rotated as upstream's log backend (lumberjack) rotates them.

A file about to grow past `max_size` MiB is renamed to `<name>-<UTC time>.<ext>`
(`audit-2026-01-02T15-04-05.000.log`) and a new one started; then backups beyond
`max_backups` (0: all kept) and older than `max_age` days (0: kept forever) are removed.
Files are 0600: an audit log at the Request levels holds request bodies.

Writing happens in a thread of its own: `write` only queues the line, so the event loop
never waits on the disk; the thread writes whatever has queued up and flushes it at once.
`close` writes out what is queued and stops the thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import queue
import sys
import threading
from pathlib import Path
from typing import BinaryIO

_MIB = 1024 * 1024
# lumberjack's default when no size is given.
_DEFAULT_MAX_SIZE = 100
_BACKUP_TIME = "%Y-%m-%dT%H-%M-%S"
_FILE_MODE = 0o600


class AuditLog:
    def __init__(self, path: str, *, max_size: int = _DEFAULT_MAX_SIZE, max_backups: int = 0,
                 max_age: int = 0) -> None:
        self.path = path
        self.max_bytes = (max_size or _DEFAULT_MAX_SIZE) * _MIB
        self.max_backups = max_backups
        self.max_age = max_age
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._file: BinaryIO = sys.stdout.buffer if path == "-" else self._open()
        self._size = 0 if path == "-" else os.fstat(self._file.fileno()).st_size
        self._thread = threading.Thread(target=self._run, name="audit-log", daemon=True)
        self._thread.start()

    def write(self, line: bytes) -> None:
        """Queue one line (ending in a newline); returns at once."""
        self._queue.put(line)

    async def close(self) -> None:
        self._queue.put(None)
        await asyncio.to_thread(self._thread.join)

    def _open(self) -> BinaryIO:
        path = Path(self.path)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, _FILE_MODE)
        os.fchmod(fd, _FILE_MODE)
        return os.fdopen(fd, "ab")

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            with contextlib.suppress(queue.Empty):
                while len(batch) < 1024:
                    batch.append(self._queue.get_nowait())
            for line in batch:
                if line is None:
                    self._file.flush()
                    if self.path != "-":
                        self._file.close()
                    return
                self._append(line)
            self._file.flush()

    def _append(self, line: bytes) -> None:
        if self.path != "-" and self._size and self._size + len(line) > self.max_bytes:
            self._rotate()
        self._file.write(line)
        self._size += len(line)

    def _rotate(self) -> None:
        self._file.close()
        path = Path(self.path)
        now = dt.datetime.now(dt.UTC)
        stamp = f"{now.strftime(_BACKUP_TIME)}.{now.microsecond // 1000:03d}"
        os.replace(path, path.with_name(f"{path.stem}-{stamp}{path.suffix}"))
        self._file = self._open()
        self._size = 0
        self._prune(now)

    def _prune(self, now: dt.datetime) -> None:
        path = Path(self.path)
        backups: list[tuple[dt.datetime, Path]] = []
        for candidate in path.parent.glob(f"{path.stem}-*{path.suffix}"):
            stamp = candidate.name[len(path.stem) + 1:len(candidate.name) - len(path.suffix)]
            try:
                taken = dt.datetime.strptime(stamp, _BACKUP_TIME + ".%f").replace(tzinfo=dt.UTC)
            except ValueError:
                continue
            backups.append((taken, candidate))
        backups.sort(reverse=True)
        doomed = backups[self.max_backups:] if self.max_backups else []
        if self.max_age:
            cutoff = now - dt.timedelta(days=self.max_age)
            doomed += [b for b in backups if b[0] < cutoff and b not in doomed]
        for _, old in doomed:
            with contextlib.suppress(FileNotFoundError):
                old.unlink()
