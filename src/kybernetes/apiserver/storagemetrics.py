"""Storage latency, as upstream's `etcd_request_duration_seconds` (staging/src/k8s.io/
apiserver/pkg/storage/etcd3/metrics): a `Storage` that times every request it passes to
the backend (SQLite or etcd alike), by operation (get, list, count, create, update,
delete) and type (the resource, read from the key's `/registry/...` prefix). Watches are
streams, not requests: passed through untimed."""

from __future__ import annotations

import functools
import time

from prometheus_client import Histogram

from kybernetes.storage.delegating import DelegatingStorage
from kybernetes.storage.interface import KeyValue, ListResult, Storage

# upstream's buckets for etcd_request_duration_seconds
_BUCKETS = (0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0,
            6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0)


@functools.lru_cache(maxsize=1024)
def resource_of(key: str) -> str:
    """The resource a key or prefix names: `pods` for /registry/pods/..., `widgets.example.com`
    for a custom resource's /registry/example.com/widgets/..."""
    parts = key.removeprefix("/registry/").split("/")
    if len(parts) > 2 and "." in parts[0]:
        return f"{parts[1]}.{parts[0]}"
    return parts[0]


class TimedStorage(DelegatingStorage):
    """`inner`, each request observed in `histogram`."""

    def __init__(self, inner: Storage) -> None:
        super().__init__(inner)
        self.histogram = Histogram(
            "etcd_request_duration_seconds", "[ALPHA] Etcd request latency in seconds for "
            "each operation and object type.", ("operation", "type"), buckets=_BUCKETS,
            registry=None)

    def _observe(self, operation: str, key: str, started: float) -> None:
        self.histogram.labels(operation, resource_of(key)).observe(
            time.perf_counter() - started)

    async def get(self, key: str) -> KeyValue | None:
        started = time.perf_counter()
        try:
            return await self.inner.get(key)
        finally:
            self._observe("get", key, started)

    async def list(self, prefix: str, *, revision: int = 0, limit: int = 0,
                   start_key: str = "") -> ListResult:
        started = time.perf_counter()
        try:
            return await self.inner.list(prefix, revision=revision, limit=limit,
                                         start_key=start_key)
        finally:
            self._observe("list", prefix, started)

    async def count(self, prefix: str) -> int:
        started = time.perf_counter()
        try:
            return await self.inner.count(prefix)
        finally:
            self._observe("count", prefix, started)

    async def create(self, key: str, value: bytes) -> KeyValue:
        started = time.perf_counter()
        try:
            return await self.inner.create(key, value)
        finally:
            self._observe("create", key, started)

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> KeyValue:
        started = time.perf_counter()
        try:
            return await self.inner.update(key, value, expected_revision=expected_revision)
        finally:
            self._observe("update", key, started)

    async def delete(self, key: str, *, expected_revision: int = 0) -> KeyValue:
        started = time.perf_counter()
        try:
            return await self.inner.delete(key, expected_revision=expected_revision)
        finally:
            self._observe("delete", key, started)
