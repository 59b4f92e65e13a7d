"""ControllerRefManager against a real API server.

Intent: a controller claims what it owns and matches, adopts matching orphans (with a
controller ownerReference, only when a live read says it is not being deleted), releases
what it owns but no longer matches, never touches another controller's objects, and never
adopts a recreated namesake (the uid precondition).
"""

from __future__ import annotations

import pytest

from kybernetes.api.selectors import label_selector_from_dict
from kybernetes.client import ApiClient, resource
from kybernetes.client.rest import Obj
from kybernetes.controllers.refmanager import (
    CannotAdopt,
    ControllerRefManager,
    controller_ref,
    recheck_deletion_timestamp,
)

PODS = resource("", "v1", "pods")
REPLICA_SETS = resource("apps", "v1", "replicasets")
TEMPLATE = {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}}


async def make_rs(api: ApiClient, name: str = "web") -> Obj:
    return await api.create(REPLICA_SETS, {
        "metadata": {"name": name},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": TEMPLATE}}, "default")


async def make_pod(api: ApiClient, name: str, labels: dict[str, str],
                   owner: Obj | None = None) -> Obj:
    meta: Obj = {"name": name, "labels": labels}
    if owner is not None:
        meta["ownerReferences"] = [{
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "controller": True}]
    return await api.create(PODS, {"metadata": meta, "spec": TEMPLATE["spec"]}, "default")


def manager(api: ApiClient, rs: Obj) -> ControllerRefManager:
    return ControllerRefManager(
        api, owner=rs, owner_api_version="apps/v1", owner_kind="ReplicaSet",
        child_resource=PODS, selector=label_selector_from_dict(rs["spec"]["selector"]),
        can_adopt=recheck_deletion_timestamp(api, REPLICA_SETS, rs))


async def test_claim_adopts_keeps_releases_and_ignores(api: ApiClient) -> None:
    rs = await make_rs(api)
    other = await make_rs(api, "other")
    orphan = await make_pod(api, "orphan", {"app": "web"})
    mine = await make_pod(api, "mine", {"app": "web"}, rs)
    strayed = await make_pod(api, "strayed", {"app": "db"}, rs)
    foreign = await make_pod(api, "foreign", {"app": "web"}, other)
    unrelated = await make_pod(api, "unrelated", {"app": "db"})

    claimed = await manager(api, rs).claim([orphan, mine, strayed, foreign, unrelated])

    assert sorted(p["metadata"]["name"] for p in claimed) == ["mine", "orphan"]
    adopted = await api.get(PODS, "orphan", "default")
    ref = controller_ref(adopted)
    assert ref == {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
                   "uid": rs["metadata"]["uid"], "controller": True,
                   "blockOwnerDeletion": True}
    assert controller_ref(await api.get(PODS, "strayed", "default")) is None
    foreign_ref = controller_ref(await api.get(PODS, "foreign", "default"))
    assert foreign_ref is not None and foreign_ref["uid"] == other["metadata"]["uid"]
    assert controller_ref(await api.get(PODS, "unrelated", "default")) is None


async def test_filters_limit_what_is_claimed(api: ApiClient) -> None:
    rs = await make_rs(api)
    orphan = await make_pod(api, "orphan", {"app": "web"})
    claimed = await manager(api, rs).claim([orphan], filters=[lambda _p: False])
    assert claimed == []
    assert controller_ref(await api.get(PODS, "orphan", "default")) is None


async def test_an_owner_being_deleted_neither_adopts_nor_releases(api: ApiClient) -> None:
    rs = await make_rs(api)
    orphan = await make_pod(api, "orphan", {"app": "web"})
    strayed = await make_pod(api, "strayed", {"app": "db"}, rs)
    deleting = {**rs, "metadata": {**rs["metadata"],
                                   "deletionTimestamp": "2026-01-01T00:00:00Z"}}
    assert await manager(api, deleting).claim([orphan, strayed]) == []
    assert controller_ref(await api.get(PODS, "orphan", "default")) is None
    assert controller_ref(await api.get(PODS, "strayed", "default")) is not None


async def test_the_live_recheck_refuses_adoption_when_the_owner_is_gone(
        api: ApiClient) -> None:
    rs = await make_rs(api)
    orphan = await make_pod(api, "orphan", {"app": "web"})
    await api.delete(REPLICA_SETS, "web", "default")
    with pytest.raises(CannotAdopt, match="can't adopt Pod default/orphan"):
        await manager(api, rs).claim([orphan])
    assert controller_ref(await api.get(PODS, "orphan", "default")) is None


async def test_a_recreated_namesake_is_not_adopted(api: ApiClient) -> None:
    rs = await make_rs(api)
    stale = await make_pod(api, "orphan", {"app": "web"})
    await api.delete(PODS, "orphan", "default", grace_period_seconds=0)
    await make_pod(api, "orphan", {"app": "web"})
    with pytest.raises(Exception, match="uid"):
        await manager(api, rs).claim([stale])
    assert controller_ref(await api.get(PODS, "orphan", "default")) is None
