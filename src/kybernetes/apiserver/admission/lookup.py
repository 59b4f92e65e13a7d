"""How admission plugins read other objects: from the API server's watch cache, as
upstream's plugins read their informers, falling back to storage (upstream's "live lookup")
where the cache may not have seen an object written an instant ago. A plugin that finds a
namespace empty in the cache asks storage once per `LIVE_TTL` (upstream's liveLookupCache),
so namespaces without such objects do not cost a storage read per request."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

import orjson

from kybernetes.api.registry import ResourceInfo
from kybernetes.apiserver.store import ObjectStore

# Upstream's liveTTL and the size of its LRU.
LIVE_TTL = 30.0
LIVE_ENTRIES = 10_000


def cached(store: ObjectStore, info: ResourceInfo, namespace: str, name: str
           ) -> dict[str, Any] | None:
    """The cached object (shared: never mutate it), or None."""
    found = store.cache.get(info.key(namespace, name))
    return found.obj if found is not None else None


async def live(store: ObjectStore, info: ResourceInfo, namespace: str, name: str
               ) -> dict[str, Any] | None:
    """The stored object, read from storage, with its resourceVersion."""
    kv = await store.storage.get(info.key(namespace, name))
    if kv is None:
        return None
    obj: dict[str, Any] = orjson.loads(kv.value)
    obj.setdefault("metadata", {})["resourceVersion"] = str(kv.mod_revision)
    return obj


def cached_list(store: ObjectStore, info: ResourceInfo, namespace: str
                ) -> list[dict[str, Any]]:
    """The cached objects of a namespace (shared: never mutate them)."""
    return [c.obj for c in store.cache.scan(info.namespace_prefix(namespace))]


class LiveLists:
    """Per-namespace storage lists of one resource, reused for `ttl` seconds: what a
    plugin consults when the cache holds nothing for a namespace."""

    def __init__(self, store: ObjectStore, info: ResourceInfo, *, ttl: float = LIVE_TTL,
                 size: int = LIVE_ENTRIES) -> None:
        self.store = store
        self.info = info
        self.ttl = ttl
        self.size = size
        self._entries: OrderedDict[str, tuple[float, list[dict[str, Any]]]] = OrderedDict()

    async def objects(self, namespace: str) -> list[dict[str, Any]]:
        """The cached objects of the namespace, else its (recent) storage list."""
        found = cached_list(self.store, self.info, namespace)
        if found:
            return found
        now = time.monotonic()
        entry = self._entries.get(namespace)
        if entry is None or entry[0] < now:
            result = await self.store.storage.list(self.info.namespace_prefix(namespace))
            items = []
            for kv in result.items:
                obj = orjson.loads(kv.value)
                obj.setdefault("metadata", {})["resourceVersion"] = str(kv.mod_revision)
                items.append(obj)
            entry = (now + self.ttl, items)
            self._entries[namespace] = entry
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        self._entries.move_to_end(namespace)
        return entry[1]
