"""A `Storage` that hands every request to another one: the base of the wrappers that
change a few requests on the way to a backend (encryption at rest, latency metrics), so
each overrides only what it changes and the rest of the protocol is said once."""

from __future__ import annotations

from collections.abc import AsyncIterator

from kybernetes.storage.interface import KeyValue, ListResult, Storage, WatchBatch


class DelegatingStorage:
    """Every `Storage` method, forwarded unchanged to `inner`."""

    def __init__(self, inner: Storage) -> None:
        self.inner = inner

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    async def current_revision(self) -> int:
        return await self.inner.current_revision()

    async def get(self, key: str) -> KeyValue | None:
        return await self.inner.get(key)

    async def list(self, prefix: str, *, revision: int = 0, limit: int = 0,
                   start_key: str = "") -> ListResult:
        return await self.inner.list(prefix, revision=revision, limit=limit,
                                     start_key=start_key)

    async def count(self, prefix: str) -> int:
        return await self.inner.count(prefix)

    async def create(self, key: str, value: bytes) -> KeyValue:
        return await self.inner.create(key, value)

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> KeyValue:
        return await self.inner.update(key, value, expected_revision=expected_revision)

    async def delete(self, key: str, *, expected_revision: int = 0) -> KeyValue:
        return await self.inner.delete(key, expected_revision=expected_revision)

    def watch(self, prefix: str, revision: int, *, progress: bool = False
              ) -> AsyncIterator[WatchBatch]:
        return self.inner.watch(prefix, revision, progress=progress)

    async def request_progress(self) -> None:
        await self.inner.request_progress()

    async def compact(self, revision: int) -> None:
        await self.inner.compact(revision)

    async def compacted_revision(self) -> int:
        return await self.inner.compacted_revision()
