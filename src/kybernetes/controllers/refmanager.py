"""Claiming objects for a controller: upstream's `ControllerRefManager`
(`pkg/controller/controller_ref_manager.go`), for any owner kind and child resource.

A controller (a ReplicaSet claiming pods, a Deployment claiming ReplicaSets, ...) decides
which objects it controls with `ControllerRefManager.claim(candidates)`. For each candidate:

- **owned by another controller** (a controller ownerReference with another uid): ignored;
- **owned by us and matching** the selector (and every filter): claimed;
- **owned by us but no longer matching**: *released*, unless the owner is being deleted
  (the garbage collector handles dependents then): a strategic merge patch deletes our
  ownerReference (`{"$patch": "delete", "uid": ...}`), with the child's uid as precondition.
  NotFound and Invalid answers (the object is gone, or was recreated under another uid)
  count as released;
- **an orphan that matches**, in the owner's namespace, while neither the owner nor the
  orphan is being deleted: *adopted* by a strategic merge patch adding a controller
  ownerReference (`controller: true`, `blockOwnerDeletion: true`), again with the child's
  uid as precondition, so a recreated namesake is never adopted by mistake. Before the first
  adoption the manager calls `can_adopt` once (cached for the manager's lifetime, as
  upstream's `sync.Once`): typically `recheck_deletion_timestamp`, a live GET of the owner
  refusing to adopt when the owner is gone, is another object now (uid), or is being
  deleted, since the informer's copy may not show a deletion that just began. An adopted
  object is claimed; a NotFound while adopting just skips it.

`claim` goes through every candidate and then raises the errors it met (one error as
itself, several as a `ClaimError`), so the caller's sync is retried; what it returns on
success is the claimed objects, the adopted ones as the server returned them after the
patch (carrying the new ownerReference).

Usage (a ReplicaSet claiming its pods; the Deployment controller does the same with
`REPLICA_SETS` as child resource and its Deployment as owner):

    manager = ControllerRefManager(
        client, owner=rs, owner_api_version="apps/v1", owner_kind="ReplicaSet",
        child_resource=PODS, selector=selector,
        can_adopt=recheck_deletion_timestamp(client, REPLICA_SETS, rs))
    pods = await manager.claim(candidates)

Objects are plain dicts and are never mutated.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from kybernetes.api.objects import meta as _meta
from kybernetes.api.selectors import LabelSelector
from kybernetes.client import ApiClient, NotFoundError
from kybernetes.client.rest import InvalidError, Obj, ResourceRef, _resolve

CanAdopt = Callable[[], Awaitable[None]]
ObjectFilter = Callable[[Obj], bool]


class ClaimError(Exception):
    """Several errors met while claiming (upstream's aggregate error)."""

    def __init__(self, errors: Sequence[Exception]) -> None:
        super().__init__("[" + ", ".join(str(e) for e in errors) + "]")
        self.errors = list(errors)


class CannotAdopt(Exception):
    """The owner may not adopt now (gone, replaced, or being deleted)."""


def controller_ref(obj: Obj) -> dict[str, Any] | None:
    """The ownerReference with `controller: true`, if any (upstream's GetControllerOf)."""
    for ref in _meta(obj).get("ownerReferences") or ():
        if isinstance(ref, dict) and ref.get("controller") is True:
            return ref
    return None


def owner_reference(owner: Obj, *, api_version: str, kind: str) -> dict[str, Any]:
    """A controller ownerReference to `owner` (upstream's NewControllerRef)."""
    meta = _meta(owner)
    return {"apiVersion": api_version, "kind": kind, "name": meta.get("name"),
            "uid": meta.get("uid"), "controller": True, "blockOwnerDeletion": True}


def adopt_patch(owner: Obj, child_uid: str, *, api_version: str, kind: str,
                finalizers: Sequence[str] = ()) -> Obj:
    """Upstream's `ownerRefControllerPatch`: add a controller ownerReference, with the
    child's uid as precondition (an immutable field: a mismatch is answered 422)."""
    metadata: dict[str, Any] = {
        "ownerReferences": [owner_reference(owner, api_version=api_version, kind=kind)],
        "uid": child_uid}
    if finalizers:
        metadata["finalizers"] = list(finalizers)
    return {"metadata": metadata}


def release_patch(child_uid: str, owner_uids: Iterable[str],
                  finalizers: Sequence[str] = ()) -> Obj:
    """Upstream's `GenerateDeleteOwnerRefStrategicMergeBytes`: delete the ownerReferences
    of these owners (and these finalizers), with the child's uid as precondition."""
    metadata: dict[str, Any] = {
        "ownerReferences": [{"$patch": "delete", "uid": uid} for uid in owner_uids],
        "uid": child_uid}
    if finalizers:
        metadata["$deleteFromPrimitiveList/finalizers"] = list(finalizers)
    return {"metadata": metadata}


def recheck_deletion_timestamp(client: ApiClient, owner_resource: ResourceRef,
                               owner: Obj) -> CanAdopt:
    """Upstream's `RecheckDeletionTimestamp` over a live GET of `owner`: raises
    `CannotAdopt` when the owner is gone, is another object (uid), or is being deleted."""
    meta = _meta(owner)
    name, namespace, uid = str(meta.get("name")), meta.get("namespace"), meta.get("uid")
    kind = str(owner.get("kind") or _resolve(owner_resource).kind)

    async def can_adopt() -> None:
        try:
            fresh = await client.get(owner_resource, name, namespace)
        except NotFoundError as err:
            raise CannotAdopt(f"can't recheck DeletionTimestamp: {err}") from err
        fmeta = _meta(fresh)
        if fmeta.get("uid") != uid:
            raise CannotAdopt(f"can't recheck DeletionTimestamp: original {kind} "
                              f"{namespace}/{name} is gone: got uid {fmeta.get('uid')}, "
                              f"wanted {uid}")
        if fmeta.get("deletionTimestamp"):
            raise CannotAdopt(f"{namespace}/{name} has just been deleted at "
                              f"{fmeta['deletionTimestamp']}")

    return can_adopt


class ControllerRefManager:
    """Claims objects of `child_resource` for `owner` (see the module docstring).

    `owner_api_version`/`owner_kind` go into the ownerReference (`apps/v1`/`ReplicaSet`,
    `v1`/`ReplicationController`, `apps/v1`/`Deployment`); `selector` is the owner's
    parsed selector; `can_adopt` is checked once before the first adoption; `finalizers`
    are added on adoption and removed on release (upstream uses this for Jobs).
    """

    def __init__(self, client: ApiClient, *, owner: Obj, owner_api_version: str,
                 owner_kind: str, child_resource: ResourceRef, selector: LabelSelector,
                 can_adopt: CanAdopt, finalizers: Sequence[str] = ()) -> None:
        self.client = client
        self.owner = owner
        self.owner_api_version = owner_api_version
        self.owner_kind = owner_kind
        self.child_resource = child_resource
        self.selector = selector
        self.finalizers = tuple(finalizers)
        self._can_adopt = can_adopt
        self._can_adopt_result: Exception | None = None
        self._can_adopt_checked = False

    @property
    def owner_uid(self) -> str:
        return str(_meta(self.owner).get("uid"))

    def _owner_deleting(self) -> bool:
        return bool(_meta(self.owner).get("deletionTimestamp"))

    async def can_adopt(self) -> None:
        """Raise `CannotAdopt` if the owner may not adopt (checked once, then cached)."""
        if not self._can_adopt_checked:
            self._can_adopt_checked = True
            try:
                await self._can_adopt()
            except Exception as err:  # remembered, re-raised below
                self._can_adopt_result = err
        if self._can_adopt_result is not None:
            raise self._can_adopt_result

    async def claim(self, objects: Iterable[Obj], *,
                    filters: Sequence[ObjectFilter] = ()) -> list[Obj]:
        """The objects this owner controls after adopting and releasing (module docstring).
        Raises the errors met, after trying every object."""
        selector = self.selector

        def match(obj: Obj) -> bool:
            # The selector first, so filters only run on objects that could match.
            if not selector.matches(_meta(obj).get("labels") or {}):
                return False
            return all(f(obj) for f in filters)

        claimed: list[Obj] = []
        errors: list[Exception] = []
        for obj in objects:
            try:
                result = await self._claim_one(obj, match)
            except NotFoundError:
                continue
            except Exception as err:  # aggregated, as upstream does
                errors.append(err)
                continue
            if result is not None:
                claimed.append(result)
        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise ClaimError(errors)
        return claimed

    async def _claim_one(self, obj: Obj, match: ObjectFilter) -> Obj | None:
        ref = controller_ref(obj)
        if ref is not None:
            if ref.get("uid") != self.owner_uid:
                return None  # another controller's
            if match(obj):
                return obj
            if not self._owner_deleting():
                await self.release(obj)
            return None
        if self._owner_deleting() or not match(obj):
            return None
        meta = _meta(obj)
        if meta.get("deletionTimestamp"):
            return None
        owner_ns = _meta(self.owner).get("namespace")
        if owner_ns and owner_ns != meta.get("namespace"):
            return None
        return await self.adopt(obj)

    async def adopt(self, obj: Obj) -> Obj:
        """Add our controller ownerReference to an orphan; returns the patched object."""
        meta = _meta(obj)
        try:
            await self.can_adopt()
        except Exception as err:
            kind = _resolve(self.child_resource).kind
            raise CannotAdopt(f"can't adopt {kind} {meta.get('namespace')}/"
                              f"{meta.get('name')} ({meta.get('uid')}): {err}") from err
        patch = adopt_patch(self.owner, str(meta.get("uid")),
                            api_version=self.owner_api_version, kind=self.owner_kind,
                            finalizers=self.finalizers)
        return await self.client.patch(self.child_resource, str(meta.get("name")), patch,
                                       meta.get("namespace"), patch_type="strategic")

    async def release(self, obj: Obj) -> None:
        """Remove our ownerReference from an object we no longer select."""
        meta = _meta(obj)
        patch = release_patch(str(meta.get("uid")), [self.owner_uid], self.finalizers)
        try:
            await self.client.patch(self.child_resource, str(meta.get("name")), patch,
                                    meta.get("namespace"), patch_type="strategic")
        except (NotFoundError, InvalidError):
            # Gone, or recreated under another uid (the uid precondition): released.
            return
