"""The garbage collector's workers against a real API server (in this process).

Intent: with the graph fed from the server's objects (as the monitors would feed it) and
the queues drained by calling the worker bodies, background, foreground and orphan
deletion end as upstream's do, owners are verified live by uid before anything is deleted,
and the hard cases (dangling plus solid owners, recreated owners, cluster-scoped owners,
unknown kinds) are handled as upstream handles them.
"""

from __future__ import annotations

from typing import Any

import pytest

from kybernetes.client import ApiClient, NotFoundError, resource
from kybernetes.controllers.base import ControllerContext, Requeue
from kybernetes.controllers.garbagecollector import GarbageCollector

Obj = dict[str, Any]
CONFIGMAPS = resource("", "v1", "configmaps")
SECRETS = resource("", "v1", "secrets")
CLUSTERROLES = resource("rbac.authorization.k8s.io", "v1", "clusterroles")
NAMESPACES = resource("", "v1", "namespaces")
WATCHED = (CONFIGMAPS, SECRETS, CLUSTERROLES)
NS = "default"


def owner_ref(owner: Obj, *, block: bool = False, controller: bool = True) -> Obj:
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"],
            "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
            "controller": controller, "blockOwnerDeletion": block}


class Harness:
    """A garbage collector whose monitors are replaced by `observe` (list the server,
    replay the differences as informer events) and whose workers are `settle`."""

    def __init__(self, ctx: ControllerContext) -> None:
        self.api = ctx.client
        self.gc = GarbageCollector(ctx, workers=1)
        self.seen: dict[str, tuple[Obj, str, str]] = {}

    async def start(self) -> None:
        self.gc.mapper = await self.gc.discovery.mapper()

    async def observe(self) -> None:
        current: dict[str, tuple[Obj, str, str]] = {}
        for res in WATCHED:
            for item in (await self.api.list(res)).items:
                api_version = f"{res.group}/{res.version}" if res.group else res.version
                current[item["metadata"]["uid"]] = (item, api_version, res.kind)
        graph = self.gc.graph
        for uid, (old, api_version, kind) in self.seen.items():
            if uid not in current:
                graph.delete(old, api_version=api_version, kind=kind)
        for uid, (item, api_version, kind) in current.items():
            previous = self.seen.get(uid)
            if previous is None:
                graph.upsert(item, None, api_version=api_version, kind=kind)
            elif previous[0]["metadata"]["resourceVersion"] != \
                    item["metadata"]["resourceVersion"]:
                graph.upsert(item, previous[0], api_version=api_version, kind=kind)
        self.seen = current

    async def settle(self, rounds: int = 30) -> None:
        """Observe and drain both queues until nothing more happens."""
        for _ in range(rounds):
            await self.observe()
            worked = False
            for queue, work in ((self.gc.delete_queue, self.gc.attempt_to_delete),
                                (self.gc.orphan_queue, self.gc.attempt_to_orphan)):
                while len(queue):
                    uid = await queue.get()
                    worked = True
                    try:
                        await work(uid)
                    except Requeue:
                        pass
                    finally:
                        queue.done(uid)
            if not worked:
                return
        raise AssertionError("the garbage collector did not settle")


@pytest.fixture
async def h(ctx: ControllerContext) -> Harness:
    harness = Harness(ctx)
    await harness.start()
    return harness


async def configmap(api: ApiClient, name: str, *owners: Obj, block: bool = False,
                    finalizers: tuple[str, ...] = ()) -> Obj:
    meta: Obj = {"name": name}
    if owners:
        meta["ownerReferences"] = [owner_ref(o, block=block, controller=i == 0)
                                   for i, o in enumerate(owners)]
    if finalizers:
        meta["finalizers"] = list(finalizers)
    created = await api.create(CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap",
                                            "metadata": meta}, NS)
    created.setdefault("apiVersion", "v1")
    created.setdefault("kind", "ConfigMap")
    return created


async def exists(api: ApiClient, res: Any, name: str, namespace: str | None = NS) -> bool:
    try:
        await api.get(res, name, namespace)
    except NotFoundError:
        return False
    return True


async def test_background_owner_gone_dependents_go(h: Harness) -> None:
    api = h.api
    owner = await configmap(api, "owner")
    child = await configmap(api, "child", owner)
    await configmap(api, "grandchild", child)
    await h.settle()
    assert await exists(api, CONFIGMAPS, "child")
    await api.delete(CONFIGMAPS, "owner", NS, propagation_policy="Background")
    await h.settle()
    assert not await exists(api, CONFIGMAPS, "child")
    assert not await exists(api, CONFIGMAPS, "grandchild")


async def test_dependent_of_an_owner_that_never_existed(h: Harness) -> None:
    """A virtual owner is verified with a live GET; absent, its dependents go."""
    api = h.api
    ghost = {"apiVersion": "v1", "kind": "ConfigMap",
             "metadata": {"name": "ghost", "uid": "00000000-0000-0000-0000-000000000001"}}
    await configmap(api, "orphaned", ghost)
    await h.settle()
    assert not await exists(api, CONFIGMAPS, "orphaned")
    assert h.gc.graph.get("00000000-0000-0000-0000-000000000001") is None


async def test_owner_recreated_under_the_same_name_is_not_the_owner(h: Harness) -> None:
    """Owner absence is judged by uid, not by name."""
    api = h.api
    original = await configmap(api, "owner")
    await api.delete(CONFIGMAPS, "owner", NS)
    await configmap(api, "owner")
    await configmap(api, "child", original)
    await h.settle()
    assert not await exists(api, CONFIGMAPS, "child")
    assert await exists(api, CONFIGMAPS, "owner")


async def test_live_owner_keeps_its_dependents(h: Harness) -> None:
    api = h.api
    owner = await configmap(api, "owner")
    await configmap(api, "child", owner)
    await h.settle()
    h.gc.delete_queue.add((await api.get(CONFIGMAPS, "child", NS))["metadata"]["uid"])
    await h.settle()
    assert await exists(api, CONFIGMAPS, "child")


async def test_solid_and_dangling_owners_only_the_dangling_reference_goes(
        h: Harness) -> None:
    api = h.api
    alive = await configmap(api, "alive")
    doomed = await configmap(api, "doomed")
    await configmap(api, "child", alive, doomed)
    await h.settle()
    await api.delete(CONFIGMAPS, "doomed", NS)
    await h.settle()
    child = await api.get(CONFIGMAPS, "child", NS)
    assert [r["name"] for r in child["metadata"]["ownerReferences"]] == ["alive"]


async def test_foreground_waits_for_blocking_dependents(h: Harness) -> None:
    api = h.api
    owner = await configmap(api, "owner")
    child = await configmap(api, "child", owner, block=True)
    await configmap(api, "grandchild", child, block=True)
    await configmap(api, "loose", owner, block=False)
    await h.settle()
    pending = await api.delete(CONFIGMAPS, "owner", NS, propagation_policy="Foreground")
    assert pending["metadata"]["finalizers"] == ["foregroundDeletion"]
    await h.settle()
    for name in ("owner", "child", "grandchild", "loose"):
        assert not await exists(api, CONFIGMAPS, name), name


async def test_foreground_owner_stays_while_a_blocking_dependent_is_held(
        h: Harness) -> None:
    """A dependent held by somebody else's finalizer keeps the owner waiting."""
    api = h.api
    owner = await configmap(api, "owner")
    await configmap(api, "held", owner, block=True, finalizers=("example.com/hold",))
    await h.settle()
    await api.delete(CONFIGMAPS, "owner", NS, propagation_policy="Foreground")
    await h.settle()
    held = await api.get(CONFIGMAPS, "held", NS)
    assert held["metadata"].get("deletionTimestamp")
    assert (await api.get(CONFIGMAPS, "owner", NS))["metadata"]["finalizers"] == \
        ["foregroundDeletion"]
    await api.patch(CONFIGMAPS, "held", {"metadata": {"finalizers": None}}, NS)
    await h.settle()
    assert not await exists(api, CONFIGMAPS, "owner")


async def test_orphan_removes_the_reference_then_the_finalizer(h: Harness) -> None:
    api = h.api
    owner = await configmap(api, "owner")
    other = await configmap(api, "other")
    await configmap(api, "child", owner, other, block=True)
    await configmap(api, "only", owner)
    await h.settle()
    pending = await api.delete(CONFIGMAPS, "owner", NS, propagation_policy="Orphan")
    assert pending["metadata"]["finalizers"] == ["orphan"]
    await h.settle()
    assert not await exists(api, CONFIGMAPS, "owner")
    child = await api.get(CONFIGMAPS, "child", NS)
    assert [r["name"] for r in child["metadata"]["ownerReferences"]] == ["other"]
    only = await api.get(CONFIGMAPS, "only", NS)
    assert not only["metadata"].get("ownerReferences")


async def test_dependent_with_orphan_finalizer_is_deleted_with_orphan(h: Harness) -> None:
    """An object that already carries the orphan finalizer is deleted honouring it."""
    api = h.api
    owner = await configmap(api, "owner")
    child = await configmap(api, "child", owner, finalizers=("orphan",))
    await configmap(api, "grandchild", child)
    await h.settle()
    await api.delete(CONFIGMAPS, "owner", NS)
    await h.settle()
    assert not await exists(api, CONFIGMAPS, "child")
    grandchild = await api.get(CONFIGMAPS, "grandchild", NS)
    assert not grandchild["metadata"].get("ownerReferences")


async def test_cluster_scoped_owner(h: Harness) -> None:
    api = h.api
    role = await api.create(CLUSTERROLES, {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "owner-role"}, "rules": []})
    role.setdefault("apiVersion", "rbac.authorization.k8s.io/v1")
    role.setdefault("kind", "ClusterRole")
    await configmap(api, "child", role)
    await h.settle()
    assert await exists(api, CONFIGMAPS, "child")
    await api.delete(CLUSTERROLES, "owner-role")
    await h.settle()
    assert not await exists(api, CONFIGMAPS, "child")


async def test_cluster_scoped_object_naming_a_namespaced_owner_is_left_alone(
        h: Harness) -> None:
    api = h.api
    owner = await configmap(api, "owner")
    await api.create(CLUSTERROLES, {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "confused", "ownerReferences": [owner_ref(owner)]},
        "rules": []})
    await h.settle()
    await api.delete(CONFIGMAPS, "owner", NS)
    await h.settle()
    assert await exists(api, CLUSTERROLES, "confused", None)


async def test_unknown_owner_kind_is_retried(h: Harness) -> None:
    api = h.api
    widget = {"apiVersion": "example.com/v1", "kind": "Widget",
              "metadata": {"name": "w", "uid": "00000000-0000-0000-0000-0000000000aa"}}
    await configmap(api, "child", widget)
    await h.observe()
    with pytest.raises(Requeue):
        await h.gc.attempt_to_delete("00000000-0000-0000-0000-0000000000aa")
    assert await exists(api, CONFIGMAPS, "child")


async def test_monitors_cover_every_deletable_builtin_resource(h: Harness) -> None:
    deletable = {(r.group, r.plural) for r in h.gc.deletable(h.gc.mapper.resources)}
    assert ("", "pods") in deletable
    assert ("apps", "replicasets") in deletable
    assert ("", "namespaces") in deletable
    assert ("rbac.authorization.k8s.io", "clusterroles") in deletable
    assert ("", "events") not in deletable
