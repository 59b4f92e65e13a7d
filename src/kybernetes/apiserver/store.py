"""The generic REST store: CRUD for any registered resource over `Storage`.

This is upstream's `registry/generic/registry.Store`: it fills system metadata on create
(uid, creationTimestamp, generation, generateName), enforces optimistic concurrency on
update, turns deletes of objects with finalizers (or pods on a node, with a grace period)
into setting `deletionTimestamp`, and deletes them for real once the last finalizer goes.
Reads are served from the watch cache. Every resource-specific rule comes from the
resource's strategy (apiserver/strategies), looked up by group and resource.

A built-in resource served in several versions is stored in one (`api/conversion`): every
method takes the `ResourceInfo` of the version the request named, works on the storage
version's object (defaulting, admission, validation, storage, all as that version), adds
the served version's own validation rules, and returns objects converted back to the served
version. A custom resource is worked on in the request's version, as upstream's CRD handler
does, and converted only at the storage boundary by its CRD's converter (`converters`,
apiserver/crdconversion.py), which may call a webhook: on its way into storage, and on its
way out (`as_version`, `cached_as_version`: a list page in one batch).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

import orjson

from kybernetes.api import conversion, errors, schema, timeutil
from kybernetes.api.conversion import Conversion
from kybernetes.api.managedfields import track_update
from kybernetes.api.registry import Registry, ResourceInfo
from kybernetes.apiserver import uuids
from kybernetes.apiserver.admission.chain import AdmissionChain, AdmissionRequest
from kybernetes.apiserver.strategies import StrategyRegistry, builtin_strategies
from kybernetes.apiserver.watchcache import CachedObject, WatchCache
from kybernetes.storage.encryption import is_stale
from kybernetes.storage.interface import (
    ConflictError,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    Storage,
)

# Upstream limits one object to what etcd accepts in a request (1.5 MiB).
MAX_OBJECT_BYTES = 1_572_864
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
# The field manager of writes whose client named none.
DEFAULT_MANAGER = "unknown"
# Patches and other read-modify-write cycles retry this often on a conflict.
_MAX_RETRIES = 8


def now_rfc3339(delta: timedelta = timedelta()) -> str:
    return timeutil.rfc3339(timeutil.now() + delta)


def _encode(obj: dict[str, Any]) -> bytes:
    meta = obj.get("metadata", {})
    if "resourceVersion" in meta:
        obj = {**obj, "metadata": {k: v for k, v in meta.items() if k != "resourceVersion"}}
    return orjson.dumps(obj)


def kind_schema(info: ResourceInfo) -> dict[str, Any] | None:
    """The kind's OpenAPI definition, or None for kinds without one (custom resources)."""
    name = schema.definition_for_kind(info.group, info.version, info.kind)
    return schema.definitions()[name] if name else None


def _with_revision(kv: KeyValue) -> dict[str, Any]:
    obj: dict[str, Any] = orjson.loads(kv.value)
    obj["metadata"]["resourceVersion"] = str(kv.mod_revision)
    return obj


@dataclass
class DeleteOptions:
    propagation_policy: str | None = None
    grace_period_seconds: int | None = None
    precondition_uid: str | None = None
    precondition_resource_version: str | None = None
    dry_run: bool = False


PROPAGATION_POLICIES = ("Foreground", "Background", "Orphan")


def check_propagation_policy(policy: Any) -> str | None:
    """A DeleteOptions `propagationPolicy` (None when unset); another value is a 422."""
    if policy not in (None, *PROPAGATION_POLICIES):
        raise errors.invalid("meta.k8s.io", "DeleteOptions", "", [
            errors.FieldError.not_supported("propagationPolicy", policy,
                                            list(PROPAGATION_POLICIES))])
    return None if policy is None else str(policy)


def parse_grace_period(grace: Any) -> int | None:
    """A DeleteOptions `gracePeriodSeconds` (None when unset); not a number is a 400."""
    try:
        return None if grace is None else int(grace)
    except (TypeError, ValueError):
        raise errors.bad_request(f"invalid gracePeriodSeconds: {grace!r}") from None


class VersionConverter(Protocol):
    """Converts the objects of one custom resource between its versions."""

    storage_api_version: str

    async def convert(self, objects: list[dict[str, Any]], api_version: str
                      ) -> list[dict[str, Any]]:
        """`objects` as `api_version`: those already of it unchanged, the others new."""
        ...


class ObjectStore:
    """CRUD over all resources of a registry, on one storage and its watch cache."""

    def __init__(self, registry: Registry, storage: Storage, cache: WatchCache, *,
                 strategies: StrategyRegistry | None = None) -> None:
        self.registry = registry
        self.storage = storage
        self.cache = cache
        # Every served resource's strategy (custom resources are added at run time).
        self.strategies = strategies if strategies is not None else builtin_strategies()
        # The version converters of custom resources (apiserver/crds.py), by group and
        # resource.
        self.converters: dict[tuple[str, str], VersionConverter] = {}
        # Hooks run after mutating admission, before validation (upstream's BeginCreate
        # and BeginUpdate), keyed by group-resource: the Service IP and port allocator.
        self.create_hooks: dict[str, Callable[[dict[str, Any]], None]] = {}
        self.update_hooks: dict[str, Callable[[dict[str, Any], dict[str, Any]], None]] = {}
        self._allocation_lock = asyncio.Lock()
        self.admission = AdmissionChain()

    # -- reads -------------------------------------------------------------------------

    def stored(self, info: ResourceInfo) -> tuple[ResourceInfo, Conversion | None]:
        """The storage version of a served one, and the conversion between them (None when
        `info` is the storage version)."""
        converted = conversion.lookup(info.group, info.version, info.plural)
        if converted is None:
            return info, None
        storage = self.registry.get(converted.storage_group, converted.storage_version,
                                    info.plural)
        if storage is None:
            raise errors.internal(f"{info.group_resource} {info.version} is stored as "
                                  f"{converted.storage_group_version}, which is not served")
        return storage, converted

    async def get(self, info: ResourceInfo, namespace: str, name: str) -> CachedObject:
        info, converted = self.stored(info)
        await self.cache.wait_fresh()
        found = self.cache.get(info.key(namespace, name))
        if found is None:
            raise errors.not_found(info.group, info.plural, name)
        if converted is None:
            return (await self.cached_as_version(info, [found]))[0]
        obj = converted.from_storage(found.obj)
        return CachedObject(found.key, obj, orjson.dumps(obj), found.revision)

    async def as_version(self, info: ResourceInfo, objects: list[dict[str, Any]]
                         ) -> list[dict[str, Any]]:
        """Stored custom resources as `info`'s version, converted in one batch (other
        objects are returned as they are)."""
        converter = self.converters.get((info.group, info.plural))
        if converter is None or not objects:
            return objects
        return await converter.convert(objects, info.group_version)

    async def cached_as_version(self, info: ResourceInfo, cached: list[CachedObject]
                                ) -> list[CachedObject]:
        """`as_version` of objects of the watch cache (a list page, watch events)."""
        if (info.group, info.plural) not in self.converters:
            return cached
        objects = await self.as_version(info, [c.obj for c in cached])
        return [c if o is c.obj else CachedObject(c.key, o, orjson.dumps(o), c.revision)
                for c, o in zip(cached, objects, strict=True)]

    async def _encode_stored(self, info: ResourceInfo, obj: dict[str, Any]) -> bytes:
        """An object as stored: a custom resource converted to its storage version."""
        converter = self.converters.get((info.group, info.plural))
        if converter is not None:
            obj = (await converter.convert([obj], converter.storage_api_version))[0]
        return _encode(obj)

    def _cached_current(self, info: ResourceInfo, namespace: str, name: str
                        ) -> KeyValue | None:
        """The watch cache's copy of an object as a stored value (None when the cache does
        not hold it): the first guess of a read-modify-write, as upstream's GuaranteedUpdate
        takes the cached object. It may be behind the storage; a write guarded on its
        revision then conflicts and the write is retried on a fresh read."""
        found = self.cache.get(info.key(namespace, name))
        return None if found is None else KeyValue(found.key, found.raw, 0, found.revision)

    async def _read_current(self, info: ResourceInfo, namespace: str, name: str) -> KeyValue:
        kv = await self.storage.get(info.key(namespace, name))
        if kv is None:
            raise errors.not_found(info.group, info.plural, name)
        return kv

    # -- create ------------------------------------------------------------------------

    async def create(self, info: ResourceInfo, namespace: str, obj: dict[str, Any], *,
                     dry_run: bool = False, manager: str = DEFAULT_MANAGER,
                     tracked: bool = True) -> dict[str, Any]:
        info, converted = self.stored(info)
        if converted is not None:
            obj = converted.to_storage(obj)
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata: must be an object")
        if info.namespaced:
            given = meta.get("namespace")
            if given and given != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent "
                    "on the request")
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + "".join(
                secrets.choice(_NAME_ALPHABET) for _ in range(5))
        meta.pop("resourceVersion", None)
        for name in ("deletionTimestamp", "deletionGracePeriodSeconds"):
            meta.pop(name, None)
        meta["uid"] = uuids.uuid4()
        meta["creationTimestamp"] = now_rfc3339()
        strategy = self.strategies.of(info)
        strategy.prepare_for_create(obj)
        if tracked:
            track_update(None, obj, manager=manager, schema=kind_schema(info),
                         api_version=info.group_version, now=meta["creationTimestamp"])
        review = AdmissionRequest("CREATE", info, namespace, str(meta.get("name", "")), obj,
                                  dry_run=dry_run)
        await self.admission.admit(review)
        hook = self.create_hooks.get(info.group_resource)
        async with self._allocating(hook is not None):
            if hook is not None:
                hook(obj)
            failures = strategy.validate_create(obj)
            if converted is not None:
                failures += converted.validate_create(obj)
            if failures:
                raise errors.invalid(info.group, info.kind, str(meta.get("name", "")),
                                     failures)
            await self.admission.validate(review)
            value = await self._encode_stored(info, obj)
            self._check_size(value)
            name = meta["name"]
            if dry_run:
                if await self.storage.get(info.key(namespace, name)) is not None:
                    raise errors.already_exists(info.group, info.plural, name)
                return _served(converted, obj)
            try:
                kv = await self.storage.create(info.key(namespace, name), value)
            except KeyExistsError:
                raise errors.already_exists(info.group, info.plural, name) from None
        meta["resourceVersion"] = str(kv.mod_revision)
        return _served(converted, obj)

    @contextlib.asynccontextmanager
    async def _allocating(self, allocates: bool) -> AsyncIterator[None]:
        """For a write whose hook allocates from what is stored (Service addresses and
        ports): one such write at a time, each seeing every earlier one (the cache is
        brought up to the storage's revision first), so two creates never get the same
        port. Within one API server; several on one etcd could still race, where upstream
        keeps its allocation bitmaps in etcd."""
        if not allocates:
            yield
            return
        async with self._allocation_lock:
            await self.cache.wait_fresh()
            yield

    @staticmethod
    def _check_size(value: bytes) -> None:
        if len(value) > MAX_OBJECT_BYTES:
            raise errors.too_large("etcdserver: request is too large")

    # -- update ------------------------------------------------------------------------

    async def update(self, info: ResourceInfo, namespace: str, name: str,
                     obj: dict[str, Any], *, subresource: str = "",
                     dry_run: bool = False, manager: str = DEFAULT_MANAGER) -> dict[str, Any]:
        """PUT: replace the object, guarded on the resourceVersion the client sent (if any)."""
        info, converted = self.stored(info)
        if converted is not None and isinstance(obj.get("metadata"), dict):
            obj = converted.to_storage(obj)
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata: must be an object")
        if meta.get("name") and meta["name"] != name:
            raise errors.bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL "
                f"({name})")
        if info.namespaced and meta.get("namespace") and meta["namespace"] != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on "
                "the request")
        wanted_rv = meta.get("resourceVersion")
        current = await self._read_current(info, namespace, name)
        # Without a resourceVersion the update is unconditional, as upstream allows.
        if wanted_rv and wanted_rv != str(current.mod_revision):
            raise errors.stale_conflict(info.group, info.plural, name)
        meta["resourceVersion"] = str(current.mod_revision)
        try:
            return _served(converted, await self._write_update(
                info, namespace, name, current, lambda _old: obj, subresource=subresource,
                dry_run=dry_run, manager=manager, converted=converted))
        except ConflictError:
            raise errors.stale_conflict(info.group, info.plural, name) from None

    async def modify(self, info: ResourceInfo, namespace: str, name: str,
                     mutate: Callable[[dict[str, Any]], dict[str, Any]], *,
                     subresource: str = "", dry_run: bool = False,
                     manager: str = DEFAULT_MANAGER, tracked: bool = True) -> dict[str, Any]:
        """Read-modify-write (patches, scale): retried on conflicts unless the mutation
        itself pins a resourceVersion that went stale. `mutate` sees and returns the object
        in the served version."""
        info, converted = self.stored(info)
        if converted is not None:
            mutate = _mutating_served(converted, mutate)
        # The first try works on the cached object (never for a dry run, whose answer is
        # not checked by a write); anything it runs into is tried again on a fresh read, as
        # upstream: a conflict, an error (the cached state may be what was wrong), or no
        # change (which the cached state alone cannot vouch for).
        cached = None if dry_run else self._cached_current(info, namespace, name)
        for _ in range(_MAX_RETRIES):
            current = cached or await self._read_current(info, namespace, name)
            try:
                return _served(converted, await self._write_update(
                    info, namespace, name, current, mutate, subresource=subresource,
                    dry_run=dry_run, manager=manager, tracked=tracked, converted=converted,
                    confirmed=cached is None))
            except (ConflictError, _Unconfirmed):
                pass
            except errors.StatusError:
                if cached is None:
                    raise
            cached = None
        raise errors.stale_conflict(info.group, info.plural, name)

    async def _write_update(self, info: ResourceInfo, namespace: str, name: str,
                            current: KeyValue, mutate: Callable[[dict[str, Any]], dict[str, Any]],
                            *, subresource: str, dry_run: bool, manager: str,
                            tracked: bool = True, converted: Conversion | None = None,
                            confirmed: bool = True) -> dict[str, Any]:
        """`tracked`: record the change in managedFields as an Update by `manager` (an
        apply records its own). `converted`: the request's version, when not the storage
        version, whose own rules apply too. `confirmed`: `current` was read from storage,
        not the cache; an unchanged object from the cache raises _Unconfirmed."""
        old = _with_revision(current)
        served = (await self.as_version(info, [old]))[0]
        if served is old:
            # Decoded twice rather than deep-copied: orjson builds a fresh copy faster.
            new = mutate(_with_revision(current))
        else:
            old = served
            new = mutate(copy.deepcopy(served))
        if not isinstance(new, dict) or not isinstance(new.get("metadata"), dict):
            raise errors.bad_request("the patched object must have metadata")
        pinned = new["metadata"].get("resourceVersion")
        if pinned and pinned != old["metadata"]["resourceVersion"]:
            raise errors.stale_conflict(info.group, info.plural, name)
        new["metadata"]["name"] = name
        if info.namespaced:
            new["metadata"]["namespace"] = namespace
        strategy = self.strategies.of(info)
        if subresource == "status":
            new = strategy.prepare_for_status_update(new, old)
        else:
            strategy.prepare_for_update(new, old, subresource=subresource)
        if tracked:
            track_update(old, new, manager=manager, schema=kind_schema(info),
                         api_version=info.group_version, now=now_rfc3339(),
                         subresource=subresource)
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        review = AdmissionRequest("UPDATE", info, namespace, name, new, old,
                                  subresource=subresource, dry_run=dry_run)
        await self.admission.admit(review)
        update_hook = self.update_hooks.get(info.group_resource)
        allocates = update_hook is not None and not subresource
        async with self._allocating(allocates):
            if update_hook is not None and allocates:
                update_hook(new, old)
            failures = strategy.validate_update(new, old, subresource=subresource)
            if converted is not None:
                failures += converted.validate_update(new, old)
            if failures:
                raise errors.invalid(info.group, info.kind, name, failures)
            await self.admission.validate(review)
            # An unchanged object is not written again, unless it is stored under an old
            # encryption key: rewriting it is how a key rotation takes effect (upstream's stale).
            if new == old and not is_stale(current):
                if not confirmed:
                    raise _Unconfirmed
                return old
            if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers") \
                    and not strategy.spec_finalizers(new):
                if dry_run:
                    return new
                gone = await self._delete_now(info, namespace, name, current.mod_revision)
                return (await self.as_version(info, [gone]))[0]
            value = await self._encode_stored(info, new)
            self._check_size(value)
            if dry_run:
                return new
            try:
                kv = await self.storage.update(info.key(namespace, name), value,
                                               expected_revision=current.mod_revision)
            except KeyNotFoundError:
                raise errors.not_found(info.group, info.plural, name) from None
            new["metadata"]["resourceVersion"] = str(kv.mod_revision)
            return new

    # -- delete ------------------------------------------------------------------------

    async def delete(self, info: ResourceInfo, namespace: str, name: str,
                     options: DeleteOptions) -> tuple[dict[str, Any], bool]:
        """Returns the object and whether it is gone (False: deletion is pending)."""
        info, converted = self.stored(info)
        obj, gone = await self._delete(info, namespace, name, options)
        if converted is None:
            return (await self.as_version(info, [obj]))[0], gone
        return _served(converted, obj), gone

    async def _delete(self, info: ResourceInfo, namespace: str, name: str,
                      options: DeleteOptions) -> tuple[dict[str, Any], bool]:
        for _ in range(_MAX_RETRIES):
            current = await self._read_current(info, namespace, name)
            obj = _with_revision(current)
            meta = obj["metadata"]
            if options.precondition_uid and options.precondition_uid != meta.get("uid"):
                raise errors.conflict(
                    info.group, info.plural, name,
                    f"Precondition failed: UID in precondition: {options.precondition_uid}, "
                    f"UID in object meta: {meta.get('uid')}")
            if options.precondition_resource_version and \
                    options.precondition_resource_version != meta["resourceVersion"]:
                raise errors.conflict(
                    info.group, info.plural, name,
                    "Precondition failed: ResourceVersion in precondition: "
                    f"{options.precondition_resource_version}, ResourceVersion in object meta: "
                    f"{meta['resourceVersion']}")
            review = AdmissionRequest("DELETE", info, namespace, name, None, obj,
                                      dry_run=options.dry_run)
            await self.admission.admit(review)
            await self.admission.validate(review)
            pending = self._pending_deletion(info, obj, options)
            if pending is None:
                if options.dry_run:
                    return obj, True
                try:
                    return await self._delete_now(info, namespace, name,
                                                  current.mod_revision), True
                except ConflictError:
                    continue
            if pending == obj or options.dry_run:
                return pending, False
            try:
                kv = await self.storage.update(info.key(namespace, name), _encode(pending),
                                               expected_revision=current.mod_revision)
            except ConflictError:
                continue
            pending["metadata"]["resourceVersion"] = str(kv.mod_revision)
            return pending, False
        raise errors.stale_conflict(info.group, info.plural, name)

    def _pending_deletion(self, info: ResourceInfo, obj: dict[str, Any],
                          options: DeleteOptions) -> dict[str, Any] | None:
        """The object marked for deletion, or None when it can go now."""
        strategy = self.strategies.of(info)
        meta = obj["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        policy = options.propagation_policy
        if policy == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
        elif policy == "Orphan" and "orphan" not in finalizers:
            finalizers.append("orphan")
        grace = strategy.grace_period(obj, options.grace_period_seconds)
        if not finalizers and not grace and not strategy.spec_finalizers(obj):
            return None
        marked = copy.deepcopy(obj)
        mmeta = marked["metadata"]
        if finalizers:
            mmeta["finalizers"] = finalizers
        if not mmeta.get("deletionTimestamp"):
            mmeta["deletionTimestamp"] = now_rfc3339(timedelta(seconds=grace))
            mmeta["deletionGracePeriodSeconds"] = grace
        elif grace < (mmeta.get("deletionGracePeriodSeconds") or 0):
            # A shorter grace period may replace a longer one, never the reverse.
            mmeta["deletionTimestamp"] = now_rfc3339(timedelta(seconds=grace))
            mmeta["deletionGracePeriodSeconds"] = grace
        strategy.mark_terminating(marked)
        return marked

    async def _delete_now(self, info: ResourceInfo, namespace: str, name: str,
                          expected_revision: int) -> dict[str, Any]:
        try:
            kv = await self.storage.delete(info.key(namespace, name),
                                           expected_revision=expected_revision)
        except KeyNotFoundError:
            raise errors.not_found(info.group, info.plural, name) from None
        return _with_revision(kv)


class _Unconfirmed(Exception):
    """A write found nothing to change in the cached object: read the storage to be sure."""


def _served(converted: Conversion | None, obj: dict[str, Any]) -> dict[str, Any]:
    """A stored object in the served version."""
    return obj if converted is None else converted.from_storage(obj)


def _mutating_served(converted: Conversion, mutate: Callable[[dict[str, Any]], dict[str, Any]]
                     ) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A mutation of the served version's object, as one of the stored object."""
    def stored(current: dict[str, Any]) -> dict[str, Any]:
        changed = mutate(converted.from_storage(current))
        if not isinstance(changed, dict) or not isinstance(changed.get("metadata"), dict):
            raise errors.bad_request("the patched object must have metadata")
        return converted.to_storage(changed)
    return stored
