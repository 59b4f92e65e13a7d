"""The SQLite backend: the embedded default, in the manner of k3s's kine.

Two tables. `log` holds one row per revision (key, value, create revision, deleted flag),
the revision being the row id, so history and watches are plain range scans. `current` holds
the live value of each key, so gets and lists do not aggregate over history. Both change in
one transaction.

All writes go through one writer thread that drains a queue and commits whatever is pending
in a single transaction (group commit): each write is acknowledged only after that commit is
durable (WAL, synchronous=FULL), and concurrent writers share the fsync. Reads run on their
own connection in a reader thread; WAL lets them proceed during writes.

Watchers in this process are told of commits directly; a watch from an old revision first
reads the log, then follows live events, dropping any it already read. A progress request
reaches each watcher through the same queue as its events, after every commit already
published, so the revision it reports never runs ahead of an event still to come.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import os
import queue
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kybernetes.storage.interface import (
    CompactedError,
    ConflictError,
    Event,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    ListResult,
    StorageError,
    WatchBatch,
    prefix_end,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS log (
    revision INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    created INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    create_revision INTEGER NOT NULL,
    value BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS log_key_revision ON log (key, revision);
CREATE TABLE IF NOT EXISTS current (
    key TEXT PRIMARY KEY,
    create_revision INTEGER NOT NULL,
    mod_revision INTEGER NOT NULL,
    value BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

# Most writes one group commit takes; bounds a transaction's size and latency.
_MAX_BATCH = 256
# How many events a watcher may have queued before it is dropped as too slow.
_WATCHER_BUFFER = 100_000


@dataclass
class _Write:
    op: str  # "create" | "update" | "delete"
    key: str
    value: bytes
    expected_revision: int
    future: asyncio.Future[KeyValue]


class _Watcher:
    """One watch's queue: batches of its events, ints (progress: every commit up to that
    revision is published), None (the end)."""

    def __init__(self, prefix: str, progress: bool) -> None:
        self.prefix = prefix
        self.progress = progress
        self.queue: asyncio.Queue[list[Event] | int | None] = asyncio.Queue()
        self.overflowed = False

    def offer(self, events: list[Event]) -> None:
        mine = [e for e in events if e.kv.key.startswith(self.prefix)]
        if not mine:
            return
        if self.queue.qsize() >= _WATCHER_BUFFER:
            self.overflowed = True
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait(mine)


def _owner_only(path: Path) -> None:
    """The database (created empty when new) and its -wal and -shm files readable by their
    owner only: they hold every Secret. SQLite gives -wal and -shm the database's mode;
    files of an existing install are tightened too."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        with contextlib.suppress(FileNotFoundError):
            if file.stat().st_mode & 0o777 != 0o600:
                file.chmod(0o600)


class SQLiteStorage:
    """`Storage` on one SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._writes: queue.SimpleQueue[_Write | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._readers = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-read")
        self._reader_local = threading.local()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watchers: set[_Watcher] = set()
        self._revision = 0
        # The last revision whose commit watchers have been told of (on the event loop).
        self._published = 0
        self._compacted = 0

    # -- lifecycle ---------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=10000")
        return conn

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            _owner_only(Path(self.path))
        conn = self._connect()
        conn.executescript(_SCHEMA)
        row = conn.execute("SELECT MAX(revision) FROM log").fetchone()
        stored = dict(conn.execute("SELECT name, value FROM meta").fetchall())
        self._revision = max(row[0] or 0, stored.get("revision", 0))
        self._published = self._revision
        self._compacted = stored.get("compacted", 0)
        self._writer = threading.Thread(target=self._write_loop, args=(conn,),
                                        name="sqlite-write", daemon=True)
        self._writer.start()

    async def close(self) -> None:
        if self._writer is not None:
            self._writes.put(None)
            await asyncio.to_thread(self._writer.join)
            self._writer = None
        self._readers.shutdown(wait=True)
        for watcher in list(self._watchers):
            watcher.queue.put_nowait(None)

    # -- reads -------------------------------------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._reader_local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._reader_local.conn = conn
        return conn

    async def _read(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, lambda: fn(self._reader()))

    async def current_revision(self) -> int:
        return self._revision

    async def compacted_revision(self) -> int:
        return self._compacted

    async def get(self, key: str) -> KeyValue | None:
        def run(conn: sqlite3.Connection) -> KeyValue | None:
            row = conn.execute(
                "SELECT key, value, create_revision, mod_revision FROM current WHERE key = ?",
                (key,)).fetchone()
            return KeyValue(row[0], row[1], row[2], row[3]) if row else None
        result: KeyValue | None = await self._read(run)
        return result

    async def list(self, prefix: str, *, revision: int = 0, limit: int = 0,
                   start_key: str = "") -> ListResult:
        if revision and revision < self._compacted:
            raise CompactedError(revision, self._compacted)
        start = max(prefix, start_key)
        end = prefix_end(prefix)

        def run(conn: sqlite3.Connection) -> ListResult:
            conn.execute("BEGIN")
            try:
                head = conn.execute("SELECT value FROM meta WHERE name = 'revision'").fetchone()
                now = head[0] if head else 0
                at = revision or now
                if at >= now:
                    rows = conn.execute(
                        "SELECT key, value, create_revision, mod_revision FROM current "
                        "WHERE key >= ? AND key < ? ORDER BY key"
                        + (" LIMIT ?" if limit else ""),
                        (start, end, limit + 1) if limit else (start, end)).fetchall()
                else:
                    rows = conn.execute(
                        "SELECT l.key, l.value, l.create_revision, l.revision FROM log l "
                        "JOIN (SELECT key, MAX(revision) AS r FROM log "
                        "      WHERE key >= ? AND key < ? AND revision <= ? GROUP BY key) m "
                        "ON l.revision = m.r WHERE l.deleted = 0 ORDER BY l.key"
                        + (" LIMIT ?" if limit else ""),
                        (start, end, at, limit + 1) if limit else (start, end, at)).fetchall()
                remaining = 0
                if limit and len(rows) > limit:
                    rows = rows[:limit]
                    remaining = max(1, conn.execute(
                        "SELECT COUNT(*) FROM current WHERE key > ? AND key < ?",
                        (rows[-1][0], end)).fetchone()[0])
                return ListResult([KeyValue(r[0], r[1], r[2], r[3]) for r in rows], at, remaining)
            finally:
                conn.execute("COMMIT")
        result: ListResult = await self._read(run)
        return result

    async def count(self, prefix: str) -> int:
        def run(conn: sqlite3.Connection) -> int:
            return int(conn.execute("SELECT COUNT(*) FROM current WHERE key >= ? AND key < ?",
                                    (prefix, prefix_end(prefix))).fetchone()[0])
        result: int = await self._read(run)
        return result

    # -- writes ------------------------------------------------------------------------

    async def _submit(self, op: str, key: str, value: bytes, expected_revision: int
                      ) -> KeyValue:
        if self._writer is None:
            raise StorageError("storage is closed")
        future: asyncio.Future[KeyValue] = asyncio.get_running_loop().create_future()
        self._writes.put(_Write(op, key, value, expected_revision, future))
        return await future

    async def create(self, key: str, value: bytes) -> KeyValue:
        return await self._submit("create", key, value, 0)

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> KeyValue:
        return await self._submit("update", key, value, expected_revision)

    async def delete(self, key: str, *, expected_revision: int = 0) -> KeyValue:
        return await self._submit("delete", key, b"", expected_revision)

    def _write_loop(self, conn: sqlite3.Connection) -> None:
        running = True
        while running:
            first = self._writes.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < _MAX_BATCH:
                try:
                    nxt = self._writes.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    running = False
                    break
                batch.append(nxt)
            self._commit(conn, batch)
        conn.close()

    def _commit(self, conn: sqlite3.Connection, batch: builtins.list[_Write]) -> None:
        outcomes: builtins.list[tuple[_Write, KeyValue | BaseException]] = []
        events: builtins.list[Event] = []
        revision = self._revision
        try:
            conn.execute("BEGIN IMMEDIATE")
            for write in batch:
                try:
                    event = self._apply(conn, write, revision + 1)
                except StorageError as err:
                    outcomes.append((write, err))
                    continue
                revision += 1
                events.append(event)
                outcomes.append((write, event.kv))
            if events:
                conn.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('revision', ?)",
                             (revision,))
            conn.execute("COMMIT")
        except sqlite3.Error as err:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            failure = StorageError(f"sqlite: {err}")
            outcomes = [(write, failure) for write in batch]
            events = []
        else:
            self._revision = revision
        # One hand-off to the event loop per transaction, not one per write.
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._finish, outcomes, events)

    def _finish(self, outcomes: builtins.list[tuple[_Write, KeyValue | BaseException]],
                events: builtins.list[Event]) -> None:
        for write, outcome in outcomes:
            if write.future.done():
                continue
            if isinstance(outcome, BaseException):
                write.future.set_exception(outcome)
            else:
                write.future.set_result(outcome)
        if events:
            self._publish(events)
            self._published = max(self._published, events[-1].kv.mod_revision)

    def _apply(self, conn: sqlite3.Connection, write: _Write, revision: int) -> Event:
        row = conn.execute(
            "SELECT value, create_revision, mod_revision FROM current WHERE key = ?",
            (write.key,)).fetchone()
        existing = KeyValue(write.key, row[0], row[1], row[2]) if row else None
        if write.op == "create":
            if existing is not None:
                raise KeyExistsError(write.key)
            kv = KeyValue(write.key, write.value, revision, revision)
            self._insert(conn, kv, created=True, deleted=False)
            conn.execute("INSERT INTO current (key, create_revision, mod_revision, value) "
                         "VALUES (?, ?, ?, ?)", (kv.key, revision, revision, kv.value))
            return Event("PUT", kv, created=True)
        if existing is None:
            raise KeyNotFoundError(write.key)
        if write.expected_revision and existing.mod_revision != write.expected_revision:
            raise ConflictError(write.key, existing)
        if write.op == "update":
            kv = KeyValue(write.key, write.value, existing.create_revision, revision)
            self._insert(conn, kv, created=False, deleted=False)
            conn.execute("UPDATE current SET mod_revision = ?, value = ? WHERE key = ?",
                         (revision, kv.value, kv.key))
            return Event("PUT", kv)
        kv = KeyValue(write.key, existing.value, existing.create_revision, revision)
        self._insert(conn, kv, created=False, deleted=True)
        conn.execute("DELETE FROM current WHERE key = ?", (kv.key,))
        return Event("DELETE", kv)

    @staticmethod
    def _insert(conn: sqlite3.Connection, kv: KeyValue, *, created: bool, deleted: bool) -> None:
        conn.execute(
            "INSERT INTO log (revision, key, created, deleted, create_revision, value) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (kv.mod_revision, kv.key, int(created), int(deleted), kv.create_revision, kv.value))

    # -- watch -------------------------------------------------------------------------

    def _publish(self, events: builtins.list[Event]) -> None:
        for watcher in list(self._watchers):
            watcher.offer(events)

    async def request_progress(self) -> None:
        for watcher in list(self._watchers):
            if watcher.progress:
                watcher.queue.put_nowait(self._published)

    async def watch(self, prefix: str, revision: int, *, progress: bool = False
                    ) -> AsyncIterator[WatchBatch]:
        if revision < self._compacted:
            raise CompactedError(revision, self._compacted)
        watcher = _Watcher(prefix, progress)
        self._watchers.add(watcher)
        try:
            seen = revision
            if revision < self._revision:
                for events in await self._history(prefix, revision):
                    batch = WatchBatch(events)
                    seen = batch.revision
                    yield batch
            while True:
                item = await watcher.queue.get()
                if item is None:
                    if watcher.overflowed:
                        raise StorageError("watcher fell too far behind")
                    return
                if isinstance(item, int):
                    if item > seen:
                        seen = item
                        yield WatchBatch((), item)
                    continue
                fresh = WatchBatch(e for e in item if e.kv.mod_revision > seen)
                if fresh:
                    seen = fresh.revision
                    yield fresh
        finally:
            self._watchers.discard(watcher)

    async def _history(self, prefix: str, revision: int) -> builtins.list[builtins.list[Event]]:
        end = prefix_end(prefix)

        def run(conn: sqlite3.Connection) -> builtins.list[builtins.list[Event]]:
            rows = conn.execute(
                "SELECT revision, key, created, deleted, create_revision, value FROM log "
                "WHERE revision > ? AND key >= ? AND key < ? ORDER BY revision",
                (revision, prefix, end)).fetchall()
            events = [Event("DELETE" if r[3] else "PUT", KeyValue(r[1], r[5], r[4], r[0]),
                            created=bool(r[2])) for r in rows]
            return [events[i:i + 1000] for i in range(0, len(events), 1000)]
        if revision < self._compacted:
            raise CompactedError(revision, self._compacted)
        batches: builtins.list[builtins.list[Event]] = await self._read(run)
        return batches

    # -- compaction --------------------------------------------------------------------

    async def compact(self, revision: int) -> None:
        """Forget history at and before `revision`, keeping each key's live row."""
        revision = min(revision, self._revision)
        if revision <= self._compacted:
            return

        def run() -> None:
            conn = self._connect()
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(
                    "DELETE FROM log WHERE revision <= ? AND (deleted = 1 OR revision < "
                    "(SELECT MAX(l2.revision) FROM log l2 WHERE l2.key = log.key "
                    " AND l2.revision <= ?))", (revision, revision))
                conn.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('compacted', ?)",
                             (revision,))
                conn.execute("COMMIT")
            finally:
                conn.close()
        await asyncio.to_thread(run)
        self._compacted = revision
