"""The garbage collector's workers: upstream's `garbagecollector.go` and `operations.go`.

Monitors (one informer handler per deletable resource, found by discovery and refreshed
every `resync_period`) keep the `DependencyGraph`; two queues of uids feed two pools of
workers:

- **attempt to delete** (`attempt_to_delete`), for an object that may have lost its
  owners. It does nothing for an object already being deleted (unless it is waiting for its
  dependents). It reads the object with a live GET: absent (or another uid) means the node
  is stale, and a virtual delete removes it from the graph. An object waiting for its
  dependents (foreground) loses its `foregroundDeletion` finalizer once no dependent with
  `blockOwnerDeletion` is left; until then its blocking dependents are (re)queued. Otherwise
  each ownerReference is classified with a live GET of the owner (uid compared), as upstream
  verifies owner absence before acting: *solid* (exists), *dangling* (absent: 404 or another
  uid; remembered in `absent_owners`), *waiting* (exists, being deleted with
  `foregroundDeletion`). With a solid owner left, dangling and waiting references are
  removed from the object; with only waiting owners and dependents of its own, the object is
  deleted in the foreground (after unblocking its references if a dependent is itself
  waiting, to break cycles); with no owner left it is deleted — Orphan or Foreground if it
  already carries that finalizer, else Background — with the uid as a precondition.
- **attempt to orphan** (`attempt_to_orphan`), for an owner deleted with the `orphan`
  finalizer: its reference is removed from every dependent, then the finalizer.

Writes use upstream's patches: a strategic merge patch deleting the owner references by uid
(falling back to a JSON merge patch of the whole list, guarded by resourceVersion, for
kinds without strategic merge), and a JSON merge patch of `metadata.finalizers` guarded by
resourceVersion to remove a finalizer.

Monitors are full-object informers from the shared factory (the client has no metadata-only
list/watch), so the garbage collector shares each resource's cache with the other
controllers of the process. Workers start only once every monitor has synced.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from kybernetes.api.objects import meta as _meta
from kybernetes.client import (
    ApiError,
    Backoff,
    ClientError,
    ConflictError,
    NotFoundError,
    Preconditions,
    RateLimitingQueue,
    wait_for_cache_sync,
)
from kybernetes.client.informer import HandlerRegistration
from kybernetes.client.rest import Obj, PropagationPolicy
from kybernetes.controllers.base import Controller, ControllerContext, Requeue, run_workers
from kybernetes.controllers.discovery import ApiResource, RestMapper
from kybernetes.controllers.garbagecollector.graph import (
    FOREGROUND,
    ORPHAN,
    DependencyGraph,
    Node,
    ObjectReference,
    OwnerReference,
    ReferenceCache,
    has_finalizer,
    owner_references,
)

log = logging.getLogger(__name__)

# Upstream's defaults: --concurrent-gc-syncs, the discovery resync period, ignored kinds.
DEFAULT_WORKERS = 20
DEFAULT_RESYNC_PERIOD = 30.0
IGNORED_RESOURCES: frozenset[tuple[str, str]] = frozenset({
    ("", "events"), ("events.k8s.io", "events")})
ABSENT_OWNER_CACHE_SIZE = 500
# Optimistic-concurrency retries when removing a finalizer (client-go's DefaultBackoff).
_FINALIZER_ATTEMPTS = 4
_REQUIRED_VERBS = ("delete", "list", "watch")


class _VirtualDeleteEnqueued(Exception):
    """The item is gone; the graph was told, nothing to retry."""


class _NamespacedOwnerOfClusterScoped(Exception):
    """A cluster-scoped object names a namespaced owner: not resolvable by retrying."""


@dataclass
class _Monitor:
    resource: ApiResource
    registration: HandlerRegistration


class GarbageCollector(Controller):
    """Deletes objects whose owners are gone; runs foreground and orphan deletion."""

    name: ClassVar[str] = "garbage-collector-controller"

    def __init__(self, ctx: ControllerContext, *, workers: int = DEFAULT_WORKERS,
                 resync_period: float = DEFAULT_RESYNC_PERIOD,
                 ignored: Iterable[tuple[str, str]] = IGNORED_RESOURCES) -> None:
        self.client = ctx.client
        self.informers = ctx.informers
        self.discovery = ctx.discovery
        self.workers = workers
        self.resync_period = resync_period
        self.ignored = frozenset(ignored)
        self.delete_queue: RateLimitingQueue[str] = RateLimitingQueue(
            name="garbage_collector_attempt_to_delete")
        self.orphan_queue: RateLimitingQueue[str] = RateLimitingQueue(
            name="garbage_collector_attempt_to_orphan")
        self.absent_owners = ReferenceCache(ABSENT_OWNER_CACHE_SIZE)
        self.graph = DependencyGraph(attempt_to_delete=self.delete_queue.add,
                                     attempt_to_orphan=self.orphan_queue.add,
                                     absent_owners=self.absent_owners)
        self.mapper = RestMapper(())
        self._monitors: dict[tuple[str, str], _Monitor] = {}

    # -- running ------------------------------------------------------------------------

    async def run(self) -> None:
        await self.sync_monitors()
        await self._wait_for_monitors()
        log.info("garbage collector: all %d resource monitors have synced; proceeding to "
                 "collect garbage", len(self._monitors))
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(run_workers(self.delete_queue, self.attempt_to_delete,
                                          self.workers, name="garbage-collector:delete"))
            tasks.create_task(run_workers(self.orphan_queue, self.attempt_to_orphan,
                                          self.workers, name="garbage-collector:orphan"))
            tasks.create_task(self._resync_forever())

    @property
    def monitored(self) -> list[ApiResource]:
        return [m.resource for m in self._monitors.values()]

    def deletable(self, resources: Iterable[ApiResource]) -> list[ApiResource]:
        """Preferred versions of the resources that can be listed, watched and deleted,
        minus the ignored ones (upstream's GetDeletableResources)."""
        return [r for r in resources if r.preferred and r.supports(*_REQUIRED_VERBS)
                and (r.group, r.plural) not in self.ignored]

    async def sync_monitors(self, *, max_age: float | None = None) -> bool:
        """Discover resources, monitor new ones, stop monitoring vanished ones; start the
        new informers. True if the set changed."""
        try:
            self.mapper = await self.discovery.mapper(max_age=max_age)
        except ClientError as err:
            log.warning("garbage collector: discovery failed (%s); using built-in resources",
                        err)
            self.discovery.use_builtin()
            self.mapper = await self.discovery.mapper()
        wanted = {(r.group, r.plural): r for r in self.deletable(self.mapper.resources)}
        changed = False
        for key, res in wanted.items():
            if key not in self._monitors:
                self._monitors[key] = _Monitor(res, self._monitor(res))
                changed = True
        for key in [k for k in self._monitors if k not in wanted]:
            monitor = self._monitors.pop(key)
            informer = self.informers.informer(monitor.resource)
            await informer.remove_event_handler(monitor.registration)
            changed = True
        if changed:
            self.informers.start()
        return changed

    def _monitor(self, res: ApiResource) -> HandlerRegistration:
        graph = self.graph
        api_version, kind = res.group_version, res.kind

        def on_add(obj: Obj) -> None:
            graph.upsert(obj, None, api_version=api_version, kind=kind)

        def on_update(old: Obj, new: Obj) -> None:
            graph.upsert(new, old, api_version=api_version, kind=kind)

        def on_delete(obj: Obj) -> None:
            graph.delete(obj, api_version=api_version, kind=kind)

        informer = self.informers.informer(res)
        return informer.add_event_handler(on_add, on_update, on_delete,
                                          name=f"{self.name}:{res}")

    async def _wait_for_monitors(self) -> None:
        while not await wait_for_cache_sync(
                *(m.registration for m in self._monitors.values()),
                timeout=self.resync_period):
            waiting = [str(m.resource) for m in self._monitors.values()
                       if not m.registration.has_synced]
            log.info("garbage collector: waiting for monitors to sync: %s",
                     ", ".join(waiting))

    async def _resync_forever(self) -> None:
        """Every `resync_period`, follow the resources discovery lists. A failure of any
        kind is logged and the resync tried again after a backoff (at most a period): the
        collector never stops following new resources."""
        backoff = Backoff(min(1.0, self.resync_period), self.resync_period, jitter=0.0)
        delay = self.resync_period
        while True:
            await asyncio.sleep(delay)
            try:
                if await self.sync_monitors(max_age=self.resync_period):
                    log.info("garbage collector: now monitoring %d resources",
                             len(self._monitors))
            except asyncio.CancelledError:
                raise
            except ClientError as err:
                delay = backoff.next()
                log.warning("garbage collector: resource resync failed (retrying in %.1fs): "
                            "%s", delay, err)
            except Exception:
                delay = backoff.next()
                log.exception("garbage collector: resource resync failed (retrying in "
                              "%.1fs)", delay)
            else:
                backoff.reset()
                delay = self.resync_period

    async def release(self) -> None:
        monitors, self._monitors = self._monitors, {}
        for monitor in monitors.values():
            informer = self.informers.informer(monitor.resource)
            await informer.remove_event_handler(monitor.registration)

    # -- attempt to delete --------------------------------------------------------------

    async def attempt_to_delete(self, uid: str) -> None:
        """Worker body for the attempt-to-delete queue."""
        node = self.graph.get(uid)
        if node is None:
            return
        try:
            await self._attempt_to_delete_item(node)
        except (_VirtualDeleteEnqueued, _NamespacedOwnerOfClusterScoped):
            return
        if node.virtual and self.graph.get(uid) is node:
            # The owner exists but no informer has shown it yet: look again later, or a
            # node added and removed while a watch was down would stay forever.
            raise Requeue(f"{node.identity} has not been observed yet")

    async def _attempt_to_delete_item(self, item: Node) -> None:
        log.debug("garbage collector: processing %r", item)
        if item.being_deleted and not item.deleting_dependents:
            # Deletion is a one-way trip: wait for it, then handle the dependents.
            return
        latest = await self._get(item.identity)
        if latest is None or _uid(latest) != item.uid:
            self._virtual_delete(item.identity)
            raise _VirtualDeleteEnqueued()
        if item.deleting_dependents:
            await self._process_deleting_dependents(item)
            return
        references = owner_references(latest)
        if not references:
            return
        solid, dangling, waiting = await self._classify_references(item, references)
        if solid:
            if not dangling and not waiting:
                return
            # Waiting references must go too, or their owners wait for us forever.
            await self._remove_owner_references(item, [r.uid for r in dangling + waiting])
            return
        if waiting and self.graph.dependents(item):
            if any(dep.deleting_dependents for dep in self.graph.dependents(item)):
                # A dependent waits for us while our owner waits for us: a possible cycle.
                log.info("garbage collector: unblocking the owner references of %s to "
                         "prevent a deletion cycle", item.identity)
                await self._unblock_owner_references(item)
            await self._delete(item, "Foreground")
            return
        policy: PropagationPolicy = "Background"
        if has_finalizer(latest, ORPHAN):
            policy = "Orphan"
        elif has_finalizer(latest, FOREGROUND):
            policy = "Foreground"
        await self._delete(item, policy)

    async def _process_deleting_dependents(self, item: Node) -> None:
        blocking = self.graph.blocking_dependents(item)
        if not blocking:
            log.debug("garbage collector: removing the %s finalizer from %s", FOREGROUND,
                      item.identity)
            await self._remove_finalizer(item, FOREGROUND)
            return
        for dep in blocking:
            if not dep.deleting_dependents:
                self.delete_queue.add(dep.uid)

    async def _classify_references(self, item: Node, references: Iterable[OwnerReference]
                                   ) -> tuple[list[OwnerReference], list[OwnerReference],
                                              list[OwnerReference]]:
        """(solid, dangling, waiting for dependents' deletion), each owner verified live."""
        solid: list[OwnerReference] = []
        dangling: list[OwnerReference] = []
        waiting: list[OwnerReference] = []
        for ref in references:
            owner = await self._live_owner(ref, item)
            if owner is None:
                dangling.append(ref)
            elif _meta(owner).get("deletionTimestamp") and has_finalizer(owner, FOREGROUND):
                waiting.append(ref)
            else:
                solid.append(ref)
        return solid, dangling, waiting

    async def _live_owner(self, ref: OwnerReference, item: Node) -> Obj | None:
        """The owner `ref` names, read live; None if it is absent (404 or another uid)."""
        cluster_key = ObjectReference.of_owner(ref)
        if cluster_key in self.absent_owners:
            return None
        namespaced_key = cluster_key.with_namespace(item.identity.namespace)
        if namespaced_key in self.absent_owners:
            return None
        res = self._resource(ref.api_version, ref.kind)
        if res.namespaced and not item.identity.namespace:
            log.info("garbage collector: cluster-scoped %s refers to namespaced owner %s/%s "
                     "%s", item.identity, ref.api_version, ref.kind, ref.name)
            raise _NamespacedOwnerOfClusterScoped()
        key = namespaced_key if res.namespaced else cluster_key
        try:
            owner = await self.client.get(res, ref.name, item.identity.namespace
                                          if res.namespaced else None)
        except NotFoundError:
            self.absent_owners.add(key)
            return None
        if _uid(owner) != ref.uid:
            self.absent_owners.add(key)
            return None
        return owner

    # -- attempt to orphan --------------------------------------------------------------

    async def attempt_to_orphan(self, uid: str) -> None:
        """Worker body for the attempt-to-orphan queue."""
        owner = self.graph.get(uid)
        if owner is None:
            return
        dependents = self.graph.dependents(owner)
        results = await asyncio.gather(
            *(self._remove_owner_references(dep, [owner.uid]) for dep in dependents),
            return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        for failure in failures:
            if not isinstance(failure, Exception):
                raise failure
        if failures:
            raise failures[0]
        log.debug("garbage collector: orphaned %d dependents of %s", len(dependents),
                  owner.identity)
        await self._remove_finalizer(owner, ORPHAN)

    # -- API operations -----------------------------------------------------------------

    def _resource(self, api_version: str, kind: str) -> ApiResource:
        res = self.mapper.kind_for(api_version, kind)
        if res is None:
            # Maybe a kind served since the last discovery: look again at the next resync.
            self.discovery.invalidate()
            raise Requeue(f"no resource is known for {api_version}, Kind={kind}")
        return res

    def _locate(self, identity: ObjectReference) -> tuple[ApiResource, str | None]:
        res = self._resource(identity.api_version, identity.kind)
        if not res.namespaced:
            return res, None
        if not identity.namespace:
            # Only a cluster-scoped dependent can make us look for one without namespace.
            raise _NamespacedOwnerOfClusterScoped()
        return res, identity.namespace

    async def _get(self, identity: ObjectReference) -> Obj | None:
        res, namespace = self._locate(identity)
        try:
            return await self.client.get(res, identity.name, namespace)
        except NotFoundError:
            return None

    def _virtual_delete(self, identity: ObjectReference) -> None:
        res = self.mapper.kind_for(identity.api_version, identity.kind)
        if res is not None and not res.namespaced and identity.namespace:
            # A cluster-scoped kind: the namespace was only the dependent's.
            identity = identity.with_namespace("")
        self.graph.virtual_delete(identity)

    async def _delete(self, item: Node, policy: PropagationPolicy) -> None:
        res, namespace = self._locate(item.identity)
        log.debug("garbage collector: deleting %s with propagationPolicy %s", item.identity,
                  policy)
        try:
            await self.client.delete(res, item.identity.name, namespace,
                                     propagation_policy=policy,
                                     preconditions=Preconditions(uid=item.uid))
        except NotFoundError:
            pass
        except ConflictError:
            # The uid precondition failed: the name now belongs to another object.
            pass

    async def _patch_metadata(self, item: Node, strategic: Mapping[str, Any],
                              merge_from_latest: Any) -> None:
        """Apply a strategic merge patch; for kinds without strategic merge (415), a JSON
        merge patch computed from the latest object (guarded by its resourceVersion)."""
        res, namespace = self._locate(item.identity)
        try:
            await self.client.patch(res, item.identity.name, strategic, namespace,
                                    patch_type="strategic")
            return
        except NotFoundError:
            return
        except ApiError as err:
            if err.code != 415:
                raise
        latest = await self._get(item.identity)
        if latest is None or _uid(latest) != item.uid:
            return
        patch = merge_from_latest(latest)
        if patch is None:
            return
        with contextlib.suppress(NotFoundError):
            await self.client.patch(res, item.identity.name, patch, namespace,
                                    patch_type="merge")

    async def _remove_owner_references(self, item: Node, owner_uids: list[str]) -> None:
        """Delete the references to `owner_uids` from `item` (by uid)."""
        strategic = {"metadata": {"uid": item.uid, "ownerReferences": [
            {"$patch": "delete", "uid": uid} for uid in owner_uids]}}

        def merge(latest: Obj) -> Obj | None:
            refs = _meta(latest).get("ownerReferences") or []
            kept = [r for r in refs if r.get("uid") not in owner_uids]
            if len(kept) == len(refs):
                return None
            return {"metadata": {"resourceVersion": _meta(latest).get("resourceVersion"),
                                 "ownerReferences": kept or None}}

        await self._patch_metadata(item, strategic, merge)

    async def _unblock_owner_references(self, item: Node) -> None:
        """Set blockOwnerDeletion=false on every blocking reference of `item`."""
        blocking = [ref for ref in item.owners if ref.block_owner_deletion]
        if not blocking:
            return
        strategic = {"metadata": {"uid": item.uid, "ownerReferences": [
            {**_ref_json(ref), "blockOwnerDeletion": False} for ref in blocking]}}
        unblock = {ref.uid for ref in blocking}

        def merge(latest: Obj) -> Obj | None:
            refs = [dict(r) for r in _meta(latest).get("ownerReferences") or []]
            for ref_json in refs:
                if ref_json.get("uid") in unblock:
                    ref_json["blockOwnerDeletion"] = False
            return {"metadata": {"resourceVersion": _meta(latest).get("resourceVersion"),
                                 "ownerReferences": refs}}

        await self._patch_metadata(item, strategic, merge)

    async def _remove_finalizer(self, item: Node, finalizer: str) -> None:
        res, namespace = self._locate(item.identity)
        conflict: ConflictError | None = None
        for _ in range(_FINALIZER_ATTEMPTS):
            latest = await self._get(item.identity)
            if latest is None or _uid(latest) != item.uid:
                return
            finalizers = list(_meta(latest).get("finalizers") or ())
            if finalizer not in finalizers:
                return
            remaining = [f for f in finalizers if f != finalizer]
            patch = {"metadata": {"resourceVersion": _meta(latest).get("resourceVersion"),
                                  "finalizers": remaining or None}}
            try:
                await self.client.patch(res, item.identity.name, patch, namespace,
                                        patch_type="merge")
                return
            except NotFoundError:
                return
            except ConflictError as err:
                conflict = err
        assert conflict is not None
        raise conflict


def _uid(obj: Mapping[str, Any]) -> str:
    return str(_meta(obj).get("uid") or "")


def _ref_json(ref: OwnerReference) -> dict[str, Any]:
    ref_json: dict[str, Any] = {"apiVersion": ref.api_version, "kind": ref.kind,
                                "name": ref.name, "uid": ref.uid}
    if ref.controller:
        ref_json["controller"] = True
    return ref_json
