"""The objects token authentication checks (upstream's `ServiceAccountTokenGetter`):
service accounts, pods, secrets and nodes, by name, from the API server's watch cache, so
that checking them on every request costs a dict lookup. An object the cache does not hold
is looked for again once the cache has caught up with storage (upstream falls back to a live
read when its informer misses), so a token used right after its object was made is good.
"""

from __future__ import annotations

from typing import Any

from kybernetes.api import errors
from kybernetes.api.registry import Registry, ResourceInfo
from kybernetes.apiserver.watchcache import WatchCache


def _core(registry: Registry, plural: str) -> ResourceInfo:
    info = registry.get("", "v1", plural)
    assert info is not None, plural
    return info


class ObjectGetter:
    def __init__(self, cache: WatchCache, registry: Registry) -> None:
        self.cache = cache
        self.serviceaccounts = _core(registry, "serviceaccounts")
        self.pods = _core(registry, "pods")
        self.secrets = _core(registry, "secrets")
        self.nodes = _core(registry, "nodes")

    async def get(self, info: ResourceInfo, namespace: str, name: str
                  ) -> dict[str, Any] | None:
        key = info.key(namespace, name)
        found = self.cache.get(key)
        if found is None:
            try:
                await self.cache.wait_fresh()
            except errors.StatusError:
                return None
            found = self.cache.get(key)
        return None if found is None else found.obj
