"""The ConfigMaps and Secrets the node's pods refer to, each kept current by a watch of its
own (upstream's pkg/kubelet/util/manager: `watch_based_manager.go`'s object cache under
`cache_based_manager.go`'s pod registration).

Why: a container's environment (`envFrom`, `valueFrom`) and a pod's configMap, secret and
projected volumes read these objects at every container start and every pod sync. Read
from the API server, that is a round trip per object on the pod start path; upstream's
kubelet reads them from a local copy fed by one list+watch per referenced object (field
selector `metadata.name=<name>` in its namespace, which the Node authorizer grants for the
objects of the node's pods), and so does this.

- `register_pod(pod)` (called at each sync of the pod: idempotent) references every object
  the pod names, starting an object's watch at its first reference; references the pod no
  longer makes are dropped after the new ones are taken, so an object still named keeps
  its watch. `unregister_pod(uid)` drops all of the pod's. An object no registered pod
  references stops being watched.
- `get(namespace, name)` waits (at most `sync_timeout`, upstream's second) for the object's
  first list and answers from the copy: the object, or None when it does not exist. An
  object no registered pod references is an error, as upstream's.
- An object read as immutable (`immutable: true`) stops being watched: it cannot change.

Upstream also stops the watches of objects not read for five resync periods and restarts
them on the next read; here a watch lasts as long as a pod refers to its object.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kybernetes.client import ApiClient, Informer, resource

Obj = dict[str, Any]

# Upstream's objectCache.Get polls the reflector for this long before giving up.
SYNC_TIMEOUT = 1.0


class ObjectCacheError(Exception):
    """An object cannot be read from the cache (upstream's messages)."""


@dataclass
class _Item:
    informer: Informer
    references: int = 0
    immutable: bool = False


@dataclass
class _Registration:
    namespace: str
    names: frozenset[str] = field(default_factory=frozenset)


class ObjectCache:
    """One resource's objects referenced by the registered pods (ConfigMaps or Secrets)."""

    def __init__(self, client: ApiClient, plural: str,
                 referenced: Callable[[Mapping[str, Any]], Iterable[str]], *,
                 sync_timeout: float = SYNC_TIMEOUT) -> None:
        self.client = client
        self.resource = resource("", "v1", plural)
        self.referenced = referenced
        self.sync_timeout = sync_timeout
        self._items: dict[tuple[str, str], _Item] = {}
        self._pods: dict[str, _Registration] = {}

    @property
    def watched(self) -> list[tuple[str, str]]:
        """(namespace, name) of the objects being watched."""
        return [key for key, item in self._items.items() if item.informer.started]

    # -- pods ---------------------------------------------------------------------------

    async def register_pod(self, pod: Mapping[str, Any]) -> None:
        meta = pod.get("metadata") or {}
        uid = str(meta.get("uid") or "")
        namespace = str(meta.get("namespace") or "default")
        names = frozenset(name for name in self.referenced(pod) if name)
        previous = self._pods.get(uid)
        if previous is not None and previous.names == names:
            return
        for name in names:
            self._add_reference(namespace, name)
        self._pods[uid] = _Registration(namespace, names)
        if previous is not None:
            for name in previous.names:
                await self._delete_reference(previous.namespace, name)

    async def unregister_pod(self, uid: str) -> None:
        registration = self._pods.pop(uid, None)
        if registration is not None:
            for name in registration.names:
                await self._delete_reference(registration.namespace, name)

    def _add_reference(self, namespace: str, name: str) -> None:
        item = self._items.get((namespace, name))
        if item is None:
            informer = Informer(self.client, self.resource, namespace=namespace,
                                field_selector=f"metadata.name={name}")
            item = self._items[(namespace, name)] = _Item(informer)
            informer.start()
        item.references += 1

    async def _delete_reference(self, namespace: str, name: str) -> None:
        item = self._items.get((namespace, name))
        if item is None:
            return
        item.references -= 1
        if item.references <= 0:
            del self._items[(namespace, name)]
            await item.informer.stop()

    # -- reads --------------------------------------------------------------------------

    async def get(self, namespace: str, name: str) -> Obj | None:
        item = self._items.get((namespace, name))
        if item is None:
            raise ObjectCacheError(f'object "{namespace}"/"{name}" not registered')
        if not item.informer.has_synced and \
                not await item.informer.wait_for_sync(self.sync_timeout):
            raise ObjectCacheError(f"failed to sync {self.resource.plural} cache: timed out "
                                   "waiting for the condition")
        obj = item.informer.store.get(f"{namespace}/{name}")
        if obj is not None and obj.get("immutable") and not item.immutable:
            item.immutable = True
            await item.informer.stop()
        return obj

    async def aclose(self) -> None:
        """Stop every watch (the kubelet is stopping)."""
        items, self._items = list(self._items.values()), {}
        self._pods.clear()
        for item in items:
            await item.informer.stop()


# -- what a pod refers to (upstream's podutil.VisitPodConfigmapNames/VisitPodSecretNames) --


def _containers(spec: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        yield from spec.get(key) or ()


def configmap_names(pod: Mapping[str, Any]) -> set[str]:
    """The ConfigMaps a pod's containers (env, envFrom) and volumes (configMap, projected)
    name."""
    spec = pod.get("spec") or {}
    names: set[str] = set()
    for container in _containers(spec):
        for source in container.get("envFrom") or ():
            names.add(str((source.get("configMapRef") or {}).get("name") or ""))
        for var in container.get("env") or ():
            ref = (var.get("valueFrom") or {}).get("configMapKeyRef") or {}
            names.add(str(ref.get("name") or ""))
    for volume in spec.get("volumes") or ():
        names.add(str((volume.get("configMap") or {}).get("name") or ""))
        for projection in (volume.get("projected") or {}).get("sources") or ():
            names.add(str((projection.get("configMap") or {}).get("name") or ""))
    names.discard("")
    return names


def secret_names(pod: Mapping[str, Any]) -> set[str]:
    """The Secrets a pod names: image pull secrets, containers' env and envFrom, secret and
    projected volumes."""
    spec = pod.get("spec") or {}
    names = {str(ref.get("name") or "") for ref in spec.get("imagePullSecrets") or ()}
    for container in _containers(spec):
        for source in container.get("envFrom") or ():
            names.add(str((source.get("secretRef") or {}).get("name") or ""))
        for var in container.get("env") or ():
            ref = (var.get("valueFrom") or {}).get("secretKeyRef") or {}
            names.add(str(ref.get("name") or ""))
    for volume in spec.get("volumes") or ():
        names.add(str((volume.get("secret") or {}).get("secretName") or ""))
        for projection in (volume.get("projected") or {}).get("sources") or ():
            names.add(str((projection.get("secret") or {}).get("name") or ""))
    names.discard("")
    return names
