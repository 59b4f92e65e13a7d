"""State storage: the `Storage` protocol and its backends (SQLite default, etcd v3)."""

from __future__ import annotations

from pathlib import Path

from kybernetes.storage.interface import Storage


def open_storage(url: str) -> Storage:
    """A backend for `sqlite:///path/state.db` (or a bare path)."""
    if url.startswith("sqlite://"):
        path = url.removeprefix("sqlite://")
    elif "://" in url:
        raise ValueError(f"unsupported storage URL {url!r}: expected sqlite://PATH")
    else:
        path = url
    from kybernetes.storage.sqlite import SQLiteStorage

    return SQLiteStorage(Path(path))
