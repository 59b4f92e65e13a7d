"""The `Storage` protocol every backend implements (SQLite, etcd).

It is etcd's model, as upstream's apiserver sees it: a flat ordered keyspace, one global
monotonic revision bumped by every write, each key carrying the revision that created it and
the one that last modified it (the object's `resourceVersion`), guarded writes, range reads at
a revision, watches from a revision, and compaction of old revisions. Values are opaque bytes.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Literal, Protocol


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: str
    value: bytes
    create_revision: int
    mod_revision: int


@dataclass(frozen=True, slots=True)
class Event:
    """One change: PUT (create or update) or DELETE. For DELETE, `kv.value` is the last value
    and `kv.mod_revision` is the revision of the deletion."""

    type: Literal["PUT", "DELETE"]
    kv: KeyValue
    created: bool = False


@dataclass(frozen=True, slots=True)
class ListResult:
    items: list[KeyValue]
    revision: int
    # Keys left after `items` when a limit cut the list short.
    remaining: int


class WatchBatch(builtins.list[Event]):
    """What a watch yields: events in revision order, and `revision`, how far the watcher is
    now: every change under its prefix up to `revision` has been delivered. For a batch of
    events that is the last event's revision. An empty batch is a progress notification
    (only from a watch opened with `progress=True`): nothing more under the prefix up to
    `revision`, though the storage's revision may have moved on through other keys."""

    __slots__ = ("revision",)

    def __init__(self, events: Iterable[Event] = (), revision: int = 0) -> None:
        super().__init__(events)
        self.revision = revision or (self[-1].kv.mod_revision if self else 0)

    def __repr__(self) -> str:
        return f"WatchBatch({builtins.list.__repr__(self)}, revision={self.revision})"


class StorageError(Exception):
    """Base of the errors a backend raises for a request it could not carry out."""


class KeyExistsError(StorageError):
    pass


class KeyNotFoundError(StorageError):
    pass


class ConflictError(StorageError):
    """The key's mod revision is not the expected one. `current` is what is stored now."""

    def __init__(self, key: str, current: KeyValue | None) -> None:
        super().__init__(key)
        self.current = current


class CompactedError(StorageError):
    """The requested revision is older than the compacted revision."""

    def __init__(self, requested: int, compacted: int) -> None:
        super().__init__(
            f"required revision {requested} has been compacted (compacted={compacted})")
        self.requested = requested
        self.compacted = compacted


class UnavailableError(StorageError):
    """The backend cannot be reached."""


def prefix_end(prefix: str) -> str:
    """The first key after every key starting with `prefix` (etcd's range end)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


class Storage(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def current_revision(self) -> int: ...

    async def get(self, key: str) -> KeyValue | None: ...

    async def list(self, prefix: str, *, revision: int = 0, limit: int = 0,
                   start_key: str = "") -> ListResult:
        """Keys under `prefix` in key order, from `start_key` (inclusive) on, as of
        `revision` (0: now). Raises CompactedError for a compacted revision."""
        ...

    async def count(self, prefix: str) -> int: ...

    async def create(self, key: str, value: bytes) -> KeyValue:
        """Raises KeyExistsError."""
        ...

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> KeyValue:
        """Replace the value when the key's mod revision is `expected_revision`.
        Raises KeyNotFoundError or ConflictError."""
        ...

    async def delete(self, key: str, *, expected_revision: int = 0) -> KeyValue:
        """Delete, guarded on mod revision when `expected_revision` is set. Returns the
        deleted value with the revision of the deletion as `mod_revision`."""
        ...

    def watch(self, prefix: str, revision: int, *, progress: bool = False
              ) -> AsyncIterator[WatchBatch]:
        """Events under `prefix` with revision > `revision`, in revision order, batched.
        Raises CompactedError when `revision` < the compacted revision.

        With `progress`, the watch also yields progress notifications (empty batches, see
        `WatchBatch`), when the backend has one to give and when `request_progress` asks:
        how a watcher of one prefix learns that writes elsewhere moved the revision on."""
        ...

    async def request_progress(self) -> None:
        """Ask every watch opened with `progress=True` to report its progress soon (an empty
        batch, unless events come first). Returns at once; each watch yields its
        notification when it knows it to be true, with the revision that its backend had
        reached (at least the revision of every write acknowledged before this call, on a
        single node; a lagging etcd member may report less, and a later request more)."""
        ...

    async def compact(self, revision: int) -> None: ...

    async def compacted_revision(self) -> int: ...
