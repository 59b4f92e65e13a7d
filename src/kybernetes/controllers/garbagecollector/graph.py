"""The garbage collector's dependency graph: upstream's `graph.go` and `graph_builder.go`.

Every object of every monitored resource is a `Node`, keyed by uid, holding its
ownerReferences (`owners`) and the uids of the objects that name it as an owner
(`dependents`). Informer events change the graph through `upsert` and `delete`; the garbage
collector's workers report "this object is not there" through `virtual_delete`. Changes
that may make an object collectable put uids on two queues, given as callbacks:

- **attempt to delete**: a dependent whose owner went away; a "virtual" owner (a uid some
  dependent names but no informer has shown, yet) to be verified with a live GET; an owner
  in foreground deletion, and each of its dependents; an owner whose blocking dependent
  went away or stopped blocking.
- **attempt to orphan**: an owner whose deletion started with the `orphan` finalizer.

Transitions fire when an object *starts* being deleted with a finalizer (or is first seen
that way: after a restart or relist the old object is unknown, so they fire again), as
upstream's `processTransitions` does. Upstream also runs its graph changes one at a time on
a single goroutine; here all of this is synchronous code on the event loop, so every
change is applied atomically without a queue of its own.

Identities and coordinates follow upstream: a virtual node takes the apiVersion/kind/name of
the first reference to it and its dependent's namespace; when the real object is observed
its identity replaces the guess, and dependents whose references disagree with it are
queued for verification (their references may be dangling). A virtual delete only removes
a node when the deleted identity is the one the dependents use; when some dependents refer
to the uid with other coordinates, the node stays under one of those identities to be
verified in turn. `absent_owners` remembers references verified absent, so the collector
does not GET them again.

This module is pure: no I/O, no asyncio; the collector and the unit tests drive it.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kybernetes.api.objects import meta as _meta

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Enqueue = Callable[[str], None]

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"


@dataclass(frozen=True, slots=True)
class OwnerReference:
    """One entry of `metadata.ownerReferences`."""

    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool = False
    block_owner_deletion: bool = False

    @classmethod
    def parse(cls, ref: Mapping[str, Any]) -> OwnerReference | None:
        uid = ref.get("uid")
        if not uid:
            return None
        return cls(str(ref.get("apiVersion") or ""), str(ref.get("kind") or ""),
                   str(ref.get("name") or ""), str(uid), bool(ref.get("controller")),
                   bool(ref.get("blockOwnerDeletion")))


@dataclass(frozen=True, slots=True)
class ObjectReference:
    """A node's identity: an owner reference's coordinates plus a namespace ("" for
    cluster-scoped objects, or for references verified against a cluster-scoped kind)."""

    api_version: str
    kind: str
    name: str
    uid: str
    namespace: str = ""

    @classmethod
    def of_owner(cls, ref: OwnerReference, namespace: str = "") -> ObjectReference:
        return cls(ref.api_version, ref.kind, ref.name, ref.uid, namespace)

    def coordinates_match(self, ref: OwnerReference) -> bool:
        """Upstream's ownerReferenceMatchesCoordinates."""
        return (self.uid, self.name, self.kind, self.api_version) == \
            (ref.uid, ref.name, ref.kind, ref.api_version)

    def with_namespace(self, namespace: str) -> ObjectReference:
        return ObjectReference(self.api_version, self.kind, self.name, self.uid, namespace)

    def __str__(self) -> str:
        return (f"[{self.api_version}/{self.kind}, namespace: {self.namespace}, "
                f"name: {self.name}, uid: {self.uid}]")


@dataclass(eq=False)
class Node:
    """One object in the graph. `virtual`: known only as somebody's owner."""

    identity: ObjectReference
    owners: tuple[OwnerReference, ...] = ()
    dependents: set[str] = field(default_factory=set)
    being_deleted: bool = False
    deleting_dependents: bool = False
    virtual: bool = False

    @property
    def uid(self) -> str:
        return self.identity.uid

    def owner(self, uid: str) -> OwnerReference | None:
        return next((o for o in self.owners if o.uid == uid), None)

    def __repr__(self) -> str:
        flags = "".join(f" {name}" for name, on in (
            ("virtual", self.virtual), ("beingDeleted", self.being_deleted),
            ("deletingDependents", self.deleting_dependents)) if on)
        return f"<Node {self.identity}{flags} owners={len(self.owners)} " \
               f"dependents={len(self.dependents)}>"


class ReferenceCache:
    """An LRU set of references verified absent (upstream's ReferenceCache, 500)."""

    def __init__(self, size: int = 500) -> None:
        self.size = size
        self._items: OrderedDict[ObjectReference, None] = OrderedDict()

    def add(self, ref: ObjectReference) -> None:
        self._items[ref] = None
        self._items.move_to_end(ref)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def __contains__(self, ref: object) -> bool:
        if ref in self._items:
            assert isinstance(ref, ObjectReference)
            self._items.move_to_end(ref)
            return True
        return False

    def __len__(self) -> int:
        return len(self._items)


# ----------------------------------------------------------------------------- object helpers


def owner_references(obj: Mapping[str, Any]) -> tuple[OwnerReference, ...]:
    refs = (OwnerReference.parse(r) for r in _meta(obj).get("ownerReferences") or ()
            if isinstance(r, dict))
    return tuple(r for r in refs if r is not None)


def being_deleted(obj: Mapping[str, Any]) -> bool:
    return bool(_meta(obj).get("deletionTimestamp"))


def has_finalizer(obj: Mapping[str, Any], finalizer: str) -> bool:
    return finalizer in (_meta(obj).get("finalizers") or ())


def identity_of(obj: Mapping[str, Any], api_version: str, kind: str) -> ObjectReference:
    meta = _meta(obj)
    return ObjectReference(api_version, kind, str(meta.get("name") or ""),
                           str(meta.get("uid") or ""), str(meta.get("namespace") or ""))


def deletion_starts_with_finalizer(old: Mapping[str, Any] | None, new: Mapping[str, Any],
                                   finalizer: str) -> bool:
    """The new object is being deleted with `finalizer`, and the old one was not (or is
    unknown)."""
    if not being_deleted(new) or not has_finalizer(new, finalizer):
        return False
    if old is None:
        return True
    return not being_deleted(old) or not has_finalizer(old, finalizer)


def references_diff(old: Iterable[OwnerReference], new: Iterable[OwnerReference]
                    ) -> tuple[list[OwnerReference], list[OwnerReference],
                               list[tuple[OwnerReference, OwnerReference]]]:
    """(added, removed, changed pairs (old, new)) between two reference lists, by uid."""
    before = {r.uid: r for r in old}
    added: list[OwnerReference] = []
    changed: list[tuple[OwnerReference, OwnerReference]] = []
    for ref in new:
        previous = before.pop(ref.uid, None)
        if previous is None:
            added.append(ref)
        elif previous != ref:
            changed.append((previous, ref))
    return added, list(before.values()), changed


# ----------------------------------------------------------------------------- the graph


class DependencyGraph:
    """uid -> `Node`, kept from informer events; see the module notes."""

    def __init__(self, *, attempt_to_delete: Enqueue, attempt_to_orphan: Enqueue,
                 absent_owners: ReferenceCache | None = None) -> None:
        self.nodes: dict[str, Node] = {}
        self.attempt_to_delete = attempt_to_delete
        self.attempt_to_orphan = attempt_to_orphan
        self.absent_owners = absent_owners if absent_owners is not None else ReferenceCache()

    def __len__(self) -> int:
        return len(self.nodes)

    def get(self, uid: str) -> Node | None:
        return self.nodes.get(uid)

    def dependents(self, node: Node) -> list[Node]:
        nodes = self.nodes
        return [nodes[uid] for uid in node.dependents if uid in nodes]

    def blocking_dependents(self, node: Node) -> list[Node]:
        """Dependents whose reference to `node` has blockOwnerDeletion."""
        found: list[Node] = []
        for dep in self.dependents(node):
            ref = dep.owner(node.uid)
            if ref is not None and ref.block_owner_deletion:
                found.append(dep)
        return found

    # -- informer events ----------------------------------------------------------------

    def upsert(self, obj: Mapping[str, Any], old: Mapping[str, Any] | None, *,
               api_version: str, kind: str) -> None:
        """An add or update event from the monitor of (api_version, kind)."""
        identity = identity_of(obj, api_version, kind)
        if not identity.uid:
            return
        owners = owner_references(obj)
        deleting = being_deleted(obj)
        existing = self.nodes.get(identity.uid)
        if existing is not None and existing.virtual:
            self._observe(existing, identity)
        if existing is None:
            node = Node(identity, owners, being_deleted=deleting,
                        deleting_dependents=deleting and has_finalizer(obj, FOREGROUND))
            self.nodes[identity.uid] = node
            self._add_dependent_to_owners(node, owners)
            self._process_transitions(old, obj, node)
            return
        added, removed, changed = references_diff(existing.owners, owners)
        if added or removed or changed:
            self._add_unblocked_owners_to_delete_queue(removed, changed)
            existing.owners = owners
            self._add_dependent_to_owners(existing, added)
            self._remove_dependent_from_owners(existing, removed)
        if deleting:
            existing.being_deleted = True
        self._process_transitions(old, obj, existing)

    def delete(self, obj: Mapping[str, Any], *, api_version: str, kind: str) -> None:
        """A delete event from the monitor of (api_version, kind)."""
        identity = identity_of(obj, api_version, kind)
        existing = self.nodes.get(identity.uid)
        if existing is None:
            return
        if existing.virtual:
            # An informer only deletes what it added: this uid was observed after all.
            existing.virtual = False
        self._remove(existing, identity)

    def virtual_delete(self, identity: ObjectReference) -> None:
        """The collector verified (live GET) that `identity` does not exist."""
        existing = self.nodes.get(identity.uid)
        if existing is None:
            return
        if existing.virtual:
            # Not sure of our coordinates: do dependents refer to us otherwise?
            matching, nonmatching = self._partition(self.dependents(existing), identity)
            if nonmatching:
                if matching:
                    self.absent_owners.add(identity)
                    for dep in matching:
                        self.attempt_to_delete(dep.uid)
                if existing.identity == identity:
                    replacement = _alternate_identity(nonmatching, identity)
                    if replacement is not None:
                        # Verify the identity other dependents use next.
                        existing.identity = replacement
                        self.attempt_to_delete(existing.uid)
                return
        elif existing.identity != identity:
            # The observed object disagrees with the coordinates verified absent: only the
            # dependents that use those coordinates are dangling.
            matching, _ = self._partition(self.dependents(existing), identity)
            if matching:
                self.absent_owners.add(identity)
                for dep in matching:
                    self.attempt_to_delete(dep.uid)
            return
        self._remove(existing, identity)

    # -- internals ----------------------------------------------------------------------

    def _observe(self, node: Node, identity: ObjectReference) -> None:
        """A virtual node's object shows up in an informer."""
        if node.identity != identity:
            _, invalid = self._partition(self.dependents(node), identity)
            for dep in invalid:
                if identity.namespace and dep.identity.namespace != identity.namespace:
                    log.info("%s references owner %s from another namespace",
                             dep.identity, identity)
                self.attempt_to_delete(dep.uid)
            log.debug("replacing virtual item %s with observed %s", node.identity, identity)
            node.identity = identity
        node.virtual = False

    def _remove(self, node: Node, identity: ObjectReference) -> None:
        del self.nodes[node.uid]
        self._remove_dependent_from_owners(node, node.owners)
        if node.dependents:
            self.absent_owners.add(identity)
        for dep_uid in node.dependents:
            self.attempt_to_delete(dep_uid)
        for ref in node.owners:
            owner = self.nodes.get(ref.uid)
            if owner is not None and owner.deleting_dependents:
                # Maybe that was its last blocking dependent.
                self.attempt_to_delete(owner.uid)

    def _add_dependent_to_owners(self, node: Node, owners: Iterable[OwnerReference]) -> None:
        suspicious = False
        for ref in owners:
            owner = self.nodes.get(ref.uid)
            if owner is None:
                # Somebody's owner we have not seen: a virtual node, verified by the
                # collector (and removed by a virtual delete if it does not exist).
                owner = Node(ObjectReference.of_owner(ref, node.identity.namespace),
                             virtual=True)
                self.nodes[ref.uid] = owner
                owner.dependents.add(node.uid)
                self.attempt_to_delete(owner.uid)
                continue
            owner.dependents.add(node.uid)
            if suspicious:
                continue
            owner_namespaced = bool(owner.identity.namespace)
            if owner_namespaced and owner.identity.namespace != node.identity.namespace:
                if not owner.virtual:
                    log.info("%s references owner %s in another namespace", node.identity,
                             owner.identity)
                suspicious = True
            elif not owner.identity.coordinates_match(ref):
                suspicious = True
            elif not owner_namespaced and owner.identity.namespace != \
                    node.identity.namespace and owner.virtual:
                # A virtual cluster-scoped owner of a namespaced object: it may be a
                # namespaced kind wrongly referenced from a cluster-scoped child.
                suspicious = True
        if suspicious:
            self.attempt_to_delete(node.uid)

    def _remove_dependent_from_owners(self, node: Node,
                                      owners: Iterable[OwnerReference]) -> None:
        for ref in owners:
            owner = self.nodes.get(ref.uid)
            if owner is not None:
                owner.dependents.discard(node.uid)

    def _add_unblocked_owners_to_delete_queue(
            self, removed: Iterable[OwnerReference],
            changed: Iterable[tuple[OwnerReference, OwnerReference]]) -> None:
        """An owner waiting on blocking dependents may be free now."""
        for ref in removed:
            if ref.block_owner_deletion and ref.uid in self.nodes:
                self.attempt_to_delete(ref.uid)
        for before, after in changed:
            if before.block_owner_deletion and not after.block_owner_deletion and \
                    after.uid in self.nodes:
                self.attempt_to_delete(after.uid)

    def _process_transitions(self, old: Mapping[str, Any] | None, new: Mapping[str, Any],
                             node: Node) -> None:
        if deletion_starts_with_finalizer(old, new, ORPHAN):
            self.attempt_to_orphan(node.uid)
            return
        if deletion_starts_with_finalizer(old, new, FOREGROUND):
            node.deleting_dependents = True
            for dep_uid in node.dependents:
                self.attempt_to_delete(dep_uid)
            self.attempt_to_delete(node.uid)

    @staticmethod
    def _partition(dependents: Iterable[Node], owner: ObjectReference
                   ) -> tuple[list[Node], list[Node]]:
        """Dependents whose reference to `owner.uid` matches its coordinates (and
        namespace), and those with one that does not (a node can be in both)."""
        matching: list[Node] = []
        nonmatching: list[Node] = []
        owner_namespaced = bool(owner.namespace)
        for dep in dependents:
            match = mismatch = False
            if owner_namespaced and owner.namespace != dep.identity.namespace:
                mismatch = True
            else:
                for ref in dep.owners:
                    if ref.uid == owner.uid:
                        if owner.coordinates_match(ref):
                            match = True
                        else:
                            mismatch = True
            if match:
                matching.append(dep)
            if mismatch:
                nonmatching.append(dep)
        return matching, nonmatching


def _sort_key(ref: ObjectReference) -> tuple[str, str, str, str, str]:
    # Upstream's referenceLessThan: kind and apiVersion first, so that kinds order
    # coherently whether cluster-scoped or namespaced.
    return ref.kind, ref.api_version, ref.namespace, ref.name, ref.uid


def _alternate_identity(dependents: Iterable[Node], verified_absent: ObjectReference
                        ) -> ObjectReference | None:
    """Another identity under which some dependent refers to the same uid (upstream's
    getAlternateOwnerIdentity): the first one sorting after `verified_absent`, else the
    first one; None when there is no other."""
    cluster_scoped = not verified_absent.namespace
    seen = {verified_absent}
    first: ObjectReference | None = None
    following: ObjectReference | None = None
    for dep in dependents:
        for ref in dep.owners:
            if ref.uid != verified_absent.uid:
                continue
            if verified_absent.coordinates_match(ref) and (
                    cluster_scoped or verified_absent.namespace == dep.identity.namespace):
                continue
            candidate = ObjectReference.of_owner(ref, dep.identity.namespace)
            if cluster_scoped and (candidate.api_version, candidate.kind) == \
                    (verified_absent.api_version, verified_absent.kind):
                # That apiVersion/kind is known cluster-scoped: no namespace.
                candidate = candidate.with_namespace("")
            if candidate in seen:
                continue
            seen.add(candidate)
            key = _sort_key(candidate)
            if first is None or key < _sort_key(first):
                first = candidate
            if _sort_key(verified_absent) < key and (
                    following is None or key < _sort_key(following)):
                following = candidate
    return following or first
