"""The garbage collector's dependency graph, driven by informer-like events.

Intent: each event leaves the graph (nodes, owners, dependents, flags) as upstream's graph
builder would, and puts on the attempt-to-delete / attempt-to-orphan queues exactly the
uids that may have become collectable.
"""

from __future__ import annotations

from typing import Any

import pytest

from kybernetes.controllers.garbagecollector.graph import (
    DependencyGraph,
    ObjectReference,
    OwnerReference,
    ReferenceCache,
    deletion_starts_with_finalizer,
    references_diff,
)

Obj = dict[str, Any]
DEPLOY = ("apps/v1", "Deployment")
RS = ("apps/v1", "ReplicaSet")
POD = ("v1", "Pod")
NODE = ("v1", "Node")


def ref(kind: tuple[str, str], name: str, uid: str, *, block: bool = False,
        controller: bool = True) -> Obj:
    return {"apiVersion": kind[0], "kind": kind[1], "name": name, "uid": uid,
            "controller": controller, "blockOwnerDeletion": block}


def obj(name: str, uid: str, *owners: Obj, namespace: str = "ns",
        deleting: bool = False, finalizers: tuple[str, ...] = ()) -> Obj:
    meta: Obj = {"name": name, "uid": uid}
    if namespace:
        meta["namespace"] = namespace
    if owners:
        meta["ownerReferences"] = list(owners)
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    if finalizers:
        meta["finalizers"] = list(finalizers)
    return {"metadata": meta}


class Recorder:
    """The graph plus what it queued."""

    def __init__(self) -> None:
        self.deletes: list[str] = []
        self.orphans: list[str] = []
        self.graph = DependencyGraph(attempt_to_delete=self.deletes.append,
                                     attempt_to_orphan=self.orphans.append)

    def add(self, o: Obj, kind: tuple[str, str], old: Obj | None = None) -> None:
        self.graph.upsert(o, old, api_version=kind[0], kind=kind[1])

    def remove(self, o: Obj, kind: tuple[str, str]) -> None:
        self.graph.delete(o, api_version=kind[0], kind=kind[1])

    def drain(self) -> tuple[list[str], list[str]]:
        got = (sorted(set(self.deletes)), sorted(set(self.orphans)))
        self.deletes.clear()
        self.orphans.clear()
        return got


@pytest.fixture
def g() -> Recorder:
    return Recorder()


def test_owner_seen_first_then_dependent(g: Recorder) -> None:
    g.add(obj("web", "d1"), DEPLOY)
    g.add(obj("web-1", "r1", ref(DEPLOY, "web", "d1", block=True)), RS)
    deploy = g.graph.get("d1")
    assert deploy is not None and deploy.dependents == {"r1"}
    assert not deploy.virtual
    # A well-formed reference to an observed owner queues nothing.
    assert g.drain() == ([], [])


def test_dependent_first_makes_a_virtual_owner_to_verify(g: Recorder) -> None:
    g.add(obj("web-1", "r1", ref(DEPLOY, "web", "d1")), RS)
    owner = g.graph.get("d1")
    assert owner is not None and owner.virtual
    assert owner.identity == ObjectReference("apps/v1", "Deployment", "web", "d1", "ns")
    assert g.drain() == (["d1"], [])
    # The owner shows up: observed now, same node, dependents kept.
    g.add(obj("web", "d1"), DEPLOY)
    assert g.graph.get("d1") is owner and not owner.virtual
    assert owner.dependents == {"r1"}
    assert g.drain() == ([], [])


def test_observed_identity_replaces_the_guess_and_queues_disagreeing_dependents(
        g: Recorder) -> None:
    # The dependent names its owner with a wrong kind.
    g.add(obj("web-1", "r1", ref(("apps/v1", "StatefulSet"), "web", "d1")), RS)
    g.drain()
    g.add(obj("web", "d1"), DEPLOY)
    owner = g.graph.get("d1")
    assert owner is not None
    assert owner.identity.kind == "Deployment"
    assert g.drain() == (["r1"], [])


def test_owner_deleted_queues_its_dependents_and_remembers_it_absent(g: Recorder) -> None:
    g.add(obj("web", "d1"), DEPLOY)
    g.add(obj("web-1", "r1", ref(DEPLOY, "web", "d1")), RS)
    g.add(obj("web-2", "r2", ref(DEPLOY, "web", "d1")), RS)
    g.remove(obj("web", "d1"), DEPLOY)
    assert g.graph.get("d1") is None
    assert g.drain() == (["r1", "r2"], [])
    assert ObjectReference("apps/v1", "Deployment", "web", "d1", "ns") in g.graph.absent_owners


def test_deleting_a_leaf_queues_nothing(g: Recorder) -> None:
    g.add(obj("web", "d1"), DEPLOY)
    g.remove(obj("web", "d1"), DEPLOY)
    assert len(g.graph) == 0
    assert g.drain() == ([], [])


def test_foreground_deletion_starts(g: Recorder) -> None:
    g.add(obj("web", "d1"), DEPLOY)
    g.add(obj("web-1", "r1", ref(DEPLOY, "web", "d1", block=True)), RS)
    g.drain()
    before = obj("web", "d1")
    after = obj("web", "d1", deleting=True, finalizers=("foregroundDeletion",))
    g.add(after, DEPLOY, old=before)
    owner = g.graph.get("d1")
    assert owner is not None and owner.being_deleted and owner.deleting_dependents
    assert g.drain() == (["d1", "r1"], [])
    # A later update of the same state is not a new transition.
    g.add(after, DEPLOY, old=after)
    assert g.drain() == ([], [])


def test_orphan_deletion_starts(g: Recorder) -> None:
    g.add(obj("web", "d1"), DEPLOY)
    g.add(obj("web", "d1", deleting=True, finalizers=("orphan",)), DEPLOY,
          old=obj("web", "d1"))
    owner = g.graph.get("d1")
    assert owner is not None and owner.being_deleted and not owner.deleting_dependents
    assert g.drain() == ([], ["d1"])


def test_first_sight_of_an_object_already_in_deletion_fires_the_transition(
        g: Recorder) -> None:
    """After a restart (or relist) the old object is unknown: the transition fires."""
    g.add(obj("web", "d1", deleting=True, finalizers=("foregroundDeletion",)), DEPLOY)
    assert g.graph.get("d1").deleting_dependents  # type: ignore[union-attr]
    assert g.drain() == (["d1"], [])
    g.add(obj("db", "d2", deleting=True, finalizers=("orphan",)), DEPLOY)
    assert g.drain() == ([], ["d2"])


def test_last_dependent_gone_wakes_a_foreground_owner(g: Recorder) -> None:
    g.add(obj("web", "d1", deleting=True, finalizers=("foregroundDeletion",)), DEPLOY)
    g.add(obj("web-1", "r1", ref(DEPLOY, "web", "d1", block=True)), RS)
    g.drain()
    g.remove(obj("web-1", "r1", ref(DEPLOY, "web", "d1", block=True)), RS)
    owner = g.graph.get("d1")
    assert owner is not None and owner.dependents == set()
    assert g.drain() == (["d1"], [])


def test_blocking_dependents(g: Recorder) -> None:
    g.add(obj("web", "d1"), DEPLOY)
    g.add(obj("a", "r1", ref(DEPLOY, "web", "d1", block=True)), RS)
    g.add(obj("b", "r2", ref(DEPLOY, "web", "d1", block=False)), RS)
    owner = g.graph.get("d1")
    assert owner is not None
    assert sorted(n.uid for n in g.graph.dependents(owner)) == ["r1", "r2"]
    assert [n.uid for n in g.graph.blocking_dependents(owner)] == ["r1"]


@pytest.mark.parametrize(("before", "after", "queued"), [
    # A blocking reference removed: the owner may be waiting for exactly that.
    ([ref(DEPLOY, "web", "d1", block=True)], [], ["d1"]),
    # blockOwnerDeletion true -> false.
    ([ref(DEPLOY, "web", "d1", block=True)], [ref(DEPLOY, "web", "d1", block=False)], ["d1"]),
    # A non-blocking reference removed: nobody waits on it.
    ([ref(DEPLOY, "web", "d1", block=False)], [], []),
    # false -> true blocks more, frees nothing.
    ([ref(DEPLOY, "web", "d1", block=False)], [ref(DEPLOY, "web", "d1", block=True)], []),
])
def test_reference_changes_that_may_unblock_an_owner(
        g: Recorder, before: list[Obj], after: list[Obj], queued: list[str]) -> None:
    g.add(obj("web", "d1"), DEPLOY)
    old = obj("web-1", "r1", *before)
    g.add(old, RS)
    g.drain()
    g.add(obj("web-1", "r1", *after), RS, old=old)
    assert g.drain() == (queued, [])
    owner = g.graph.get("d1")
    assert owner is not None
    assert owner.dependents == ({"r1"} if after else set())


def test_new_owner_reference_links_the_dependent(g: Recorder) -> None:
    g.add(obj("web", "d1"), DEPLOY)
    g.add(obj("other", "d2"), DEPLOY)
    g.add(obj("web-1", "r1", ref(DEPLOY, "web", "d1")), RS)
    g.add(obj("web-1", "r1", ref(DEPLOY, "other", "d2")), RS)
    assert g.graph.get("d1").dependents == set()  # type: ignore[union-attr]
    assert g.graph.get("d2").dependents == {"r1"}  # type: ignore[union-attr]
    assert g.graph.get("r1").owners == (  # type: ignore[union-attr]
        OwnerReference("apps/v1", "Deployment", "other", "d2", True, False),)


def test_owner_in_another_namespace_is_suspicious(g: Recorder) -> None:
    g.add(obj("web", "d1", namespace="elsewhere"), DEPLOY)
    g.drain()
    g.add(obj("web-1", "r1", ref(DEPLOY, "web", "d1")), RS)
    assert g.drain() == (["r1"], [])


def test_cluster_scoped_owner_of_namespaced_dependents(g: Recorder) -> None:
    g.add(obj("n1", "node1", namespace=""), NODE)
    g.add(obj("p", "p1", ref(NODE, "n1", "node1")), POD)
    assert g.drain() == ([], [])
    assert g.graph.get("node1").dependents == {"p1"}  # type: ignore[union-attr]


def test_virtual_delete_removes_a_virtual_owner(g: Recorder) -> None:
    g.add(obj("a", "p1", ref(RS, "web-1", "r1")), POD)
    g.add(obj("b", "p2", ref(RS, "web-1", "r1")), POD)
    g.drain()
    g.graph.virtual_delete(ObjectReference("apps/v1", "ReplicaSet", "web-1", "r1", "ns"))
    assert g.graph.get("r1") is None
    assert g.drain() == (["p1", "p2"], [])


def test_virtual_delete_with_other_coordinates_keeps_the_node(g: Recorder) -> None:
    """Two dependents name uid r1 differently: proving one identity absent only condemns
    the dependent that used it; the node stays, to verify the other identity next."""
    g.add(obj("a", "p1", ref(RS, "web-1", "r1")), POD)
    g.add(obj("b", "p2", ref(RS, "web-2", "r1")), POD)
    g.drain()
    absent = ObjectReference("apps/v1", "ReplicaSet", "web-1", "r1", "ns")
    g.graph.virtual_delete(absent)
    node = g.graph.get("r1")
    assert node is not None and node.virtual
    assert node.identity.name == "web-2"
    assert absent in g.graph.absent_owners
    # p1 (matching) is condemned; the node itself is queued under its new identity.
    assert g.drain() == (["p1", "r1"], [])


def test_virtual_delete_disagreeing_with_an_observed_node(g: Recorder) -> None:
    g.add(obj("web-1", "r1"), RS)
    g.add(obj("a", "p1", ref(RS, "web-1", "r1")), POD)
    g.add(obj("b", "p2", ref(("apps/v1", "Deployment"), "web-1", "r1")), POD)
    g.drain()
    g.graph.virtual_delete(ObjectReference("apps/v1", "Deployment", "web-1", "r1", "ns"))
    assert g.graph.get("r1") is not None
    assert g.drain() == (["p2"], [])


def test_virtual_delete_of_an_unknown_uid_is_a_no_op(g: Recorder) -> None:
    g.graph.virtual_delete(ObjectReference("v1", "Pod", "x", "nope", "ns"))
    assert g.drain() == ([], [])


def test_objects_without_uid_are_ignored(g: Recorder) -> None:
    g.add({"metadata": {"name": "x", "namespace": "ns"}}, POD)
    assert len(g.graph) == 0


@pytest.mark.parametrize(("old", "new", "expected"), [
    (None, obj("a", "1", deleting=True, finalizers=("orphan",)), True),
    (obj("a", "1"), obj("a", "1", deleting=True, finalizers=("orphan",)), True),
    (obj("a", "1", deleting=True), obj("a", "1", deleting=True, finalizers=("orphan",)),
     True),
    (obj("a", "1", deleting=True, finalizers=("orphan",)),
     obj("a", "1", deleting=True, finalizers=("orphan",)), False),
    (None, obj("a", "1", finalizers=("orphan",)), False),
    (None, obj("a", "1", deleting=True, finalizers=("foregroundDeletion",)), False),
])
def test_deletion_starts_with_finalizer(old: Obj | None, new: Obj, expected: bool) -> None:
    assert deletion_starts_with_finalizer(old, new, "orphan") is expected


def test_references_diff() -> None:
    a = OwnerReference("v1", "A", "a", "1")
    b = OwnerReference("v1", "B", "b", "2", block_owner_deletion=True)
    b2 = OwnerReference("v1", "B", "b", "2", block_owner_deletion=False)
    c = OwnerReference("v1", "C", "c", "3")
    added, removed, changed = references_diff([a, b], [b2, c])
    assert added == [c]
    assert removed == [a]
    assert changed == [(b, b2)]
    assert references_diff([a], [a]) == ([], [], [])


def test_reference_cache_is_a_bounded_lru() -> None:
    cache = ReferenceCache(2)
    refs = [ObjectReference("v1", "Pod", str(i), str(i)) for i in range(3)]
    cache.add(refs[0])
    cache.add(refs[1])
    assert refs[0] in cache  # touches 0: 1 is now the oldest
    cache.add(refs[2])
    assert refs[1] not in cache
    assert refs[0] in cache and refs[2] in cache
    assert len(cache) == 2


def test_owner_reference_parsing() -> None:
    assert OwnerReference.parse({"apiVersion": "v1", "kind": "A", "name": "a"}) is None
    parsed = OwnerReference.parse(ref(DEPLOY, "web", "d1", block=True))
    assert parsed == OwnerReference("apps/v1", "Deployment", "web", "d1", True, True)
