"""The ReplicaSet (and ReplicationController) controller's sync and handlers, against a real
API server; the informer stores are seeded by the tests, as upstream's controller tests do.

Intent: a ReplicaSet gets exactly `spec.replicas` pods — created from its template, or the
surplus deleted in upstream's order (not ready and newer first); it adopts matching
orphans, releases pods that stopped matching, leaves other controllers' pods alone; its
expectations keep repeated syncs from creating twice before the informer catches up; its
status counts pods as upstream does, availability included once `minReadySeconds` have
passed; creation failures show as the ReplicaFailure condition; a ReplicaSet being deleted
gets no new pods; a ReplicationController behaves the same.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from kybernetes.api.timeutil import rfc3339
from kybernetes.client import ApiClient, resource
from kybernetes.client.rest import Obj
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.podutil import pod_key
from kybernetes.controllers.refmanager import controller_ref
from kybernetes.controllers.replicaset import ReplicaSetController
from kybernetes.controllers.replication import ReplicationManager
from tests.controllers.clock import NOW, Clock

PODS = resource("", "v1", "pods")
REPLICA_SETS = resource("apps", "v1", "replicasets")
RCS = resource("", "v1", "replicationcontrollers")
EVENTS = resource("", "v1", "events")
NAMESPACES = resource("", "v1", "namespaces")
CONTAINERS = [{"name": "c", "image": "nginx"}]


@pytest.fixture
async def ctl(ctx: ControllerContext, clock: Clock) -> AsyncIterator[ReplicaSetController]:
    controller = ReplicaSetController(ctx, clock=clock)
    yield controller
    await controller.recorder.aclose()


async def make_rs(api: ApiClient, ctl: ReplicaSetController, replicas: int, *,
                  name: str = "web", min_ready: int = 0,
                  template_labels: dict[str, str] | None = None) -> Obj:
    rs = await api.create(REPLICA_SETS, {
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "minReadySeconds": min_ready,
                 "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": template_labels or {"app": "web"},
                                           "annotations": {"note": "kept"}},
                              "spec": {"containers": CONTAINERS}}}}, "default")
    ctl.owners.store.add(rs)
    return rs


def owner_ref(owner: Obj, kind: str = "ReplicaSet", api_version: str = "apps/v1") -> Obj:
    return {"apiVersion": api_version, "kind": kind, "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


async def make_pod(api: ApiClient, name: str, *, owner: Obj | None = None,
                   labels: dict[str, str] | None = None) -> Obj:
    meta: Obj = {"name": name, "labels": labels or {"app": "web"}}
    if owner is not None:
        meta["ownerReferences"] = [owner_ref(owner)]
    return await api.create(PODS, {"metadata": meta, "spec": {"containers": CONTAINERS}},
                            "default")


def with_status(pod: Obj, *, phase: str = "Running", ready_since: datetime | None = None,
                node: str = "", created: datetime | None = None,
                deleting: bool = False) -> Obj:
    """A copy of `pod` as an informer would show it once a kubelet reported on it."""
    pod = copy.deepcopy(pod)
    conditions = []
    if ready_since is not None:
        conditions.append({"type": "Ready", "status": "True",
                           "lastTransitionTime": rfc3339(ready_since)})
    pod["status"] = {"phase": phase, "conditions": conditions}
    if node:
        pod["spec"]["nodeName"] = node
    if created is not None:
        pod["metadata"]["creationTimestamp"] = rfc3339(created)
    if deleting:
        pod["metadata"]["deletionTimestamp"] = rfc3339(NOW)
    return pod


async def server_pods(api: ApiClient) -> list[Obj]:
    return list((await api.list(PODS, "default")).items)


async def catch_up(api: ApiClient, ctl: ReplicaSetController) -> list[Obj]:
    """The informer catches up: the pod store becomes what the server holds."""
    pods = await server_pods(api)
    ctl.pods.store.replace(pods)
    return pods


async def rs_status(api: ApiClient, name: str = "web") -> dict[str, Any]:
    return dict((await api.get(REPLICA_SETS, name, "default")).get("status") or {})


# ----------------------------------------------------------------------------- creation


async def test_creates_the_missing_pods_from_the_template(
        api: ApiClient, ctl: ReplicaSetController) -> None:
    rs = await make_rs(api, ctl, 3)
    await ctl.sync("default/web")

    pods = await server_pods(api)
    assert len(pods) == 3
    for pod in pods:
        meta = pod["metadata"]
        assert meta["name"].startswith("web-")
        assert meta["generateName"] == "web-"
        assert meta["labels"] == {"app": "web"}
        assert meta["annotations"] == {"note": "kept"}
        assert meta["ownerReferences"] == [owner_ref(rs)]
        assert pod["spec"]["containers"][0]["image"] == "nginx"
    # The cache saw none of them yet: status counts what the cache holds.
    assert (await rs_status(api))["replicas"] == 0

    await catch_up(api, ctl)
    await ctl.sync("default/web")
    status = await rs_status(api)
    assert status["replicas"] == 3
    assert status["fullyLabeledReplicas"] == 3
    assert status["observedGeneration"] == 1
    assert status["terminatingReplicas"] == 0


async def test_expectations_stop_a_second_creation_before_the_informer_catches_up(
        api: ApiClient, ctl: ReplicaSetController) -> None:
    await make_rs(api, ctl, 3)
    await ctl.sync("default/web")
    await ctl.sync("default/web")  # the cache still shows no pods
    await ctl.sync("default/web")
    pods = await server_pods(api)
    assert len(pods) == 3
    assert not ctl.expectations.satisfied("default/web")

    # The informer delivers the creations: expectations are met, nothing more is needed.
    for pod in pods:
        ctl.pods.store.add(pod)
        ctl._add_pod(pod)
    assert ctl.expectations.satisfied("default/web")
    await ctl.sync("default/web")
    assert len(await server_pods(api)) == 3


async def test_creation_failure_sets_replica_failure_and_slow_start_stops_early(
        api: ApiClient, ctl: ReplicaSetController) -> None:
    rs = await make_rs(api, ctl, 5)
    broken = copy.deepcopy(rs)
    del broken["spec"]["template"]["spec"]["containers"][0]["image"]  # pods are invalid
    ctl.owners.store.add(broken)

    with pytest.raises(Exception, match="image"):
        await ctl.sync("default/web")

    status = await rs_status(api)
    [failure] = status["conditions"]
    assert failure["type"] == "ReplicaFailure"
    assert failure["status"] == "True"
    assert failure["reason"] == "FailedCreate"
    assert "spec.containers[0].image" in failure["message"]
    assert await server_pods(api) == []
    # Slow start: the first batch (one pod) failed, so no other creation was attempted,
    # and the four never tried are not waited for.
    await ctl.recorder.flush()
    failed = [e for e in (await api.list(EVENTS, "default")).items
              if e["reason"] == "FailedCreate"]
    assert [(e["count"], e["involvedObject"]["kind"]) for e in failed] == [(1, "ReplicaSet")]
    assert ctl.expectations.satisfied("default/web")

    # Fixed: the pods are created and the condition goes away.
    ctl.owners.store.add(await api.get(REPLICA_SETS, "web", "default"))
    await ctl.sync("default/web")
    assert len(await server_pods(api)) == 5
    assert "conditions" not in await rs_status(api)


async def test_a_terminating_namespace_is_no_creation_failure(
        api: ApiClient, ctl: ReplicaSetController) -> None:
    await api.create(NAMESPACES, {"metadata": {"name": "doomed"}})
    rs = await api.create(REPLICA_SETS, {
        "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": CONTAINERS}}}}, "doomed")
    ctl.owners.store.add(rs)
    await api.delete(NAMESPACES, "doomed")  # stays Terminating: no namespace controller
    await ctl.sync("doomed/web")  # no error, no ReplicaFailure
    status = (await api.get(REPLICA_SETS, "web", "doomed"))["status"]
    assert "conditions" not in status
    assert (await api.list(PODS, "doomed")).items == []


async def test_a_replica_set_being_deleted_gets_no_pods(
        api: ApiClient, ctl: ReplicaSetController) -> None:
    rs = await make_rs(api, ctl, 2)
    ctl.owners.store.add({**rs, "metadata": {**rs["metadata"],
                                             "deletionTimestamp": rfc3339(NOW)}})
    await ctl.sync("default/web")
    assert await server_pods(api) == []
    assert (await rs_status(api))["observedGeneration"] == 1


async def test_a_vanished_replica_set_forgets_its_expectations(
        ctl: ReplicaSetController) -> None:
    ctl.expectations.expect_creations("default/gone", 3)
    await ctl.sync("default/gone")
    assert ctl.expectations.get("default/gone") is None


# ----------------------------------------------------------------------------- deletion


async def test_deletes_the_surplus_not_ready_and_newer_first(
        api: ApiClient, ctl: ReplicaSetController) -> None:
    rs = await make_rs(api, ctl, 2)
    old = NOW - timedelta(hours=2)
    seeded = {
        "pending": with_status(await make_pod(api, "pending", owner=rs), phase="Pending",
                               node="n1", created=old),
        "not-ready": with_status(await make_pod(api, "not-ready", owner=rs), node="n1",
                                 created=old),
        "ready-old": with_status(await make_pod(api, "ready-old", owner=rs), node="n1",
                                 created=old, ready_since=old),
        "ready-new": with_status(await make_pod(api, "ready-new", owner=rs), node="n1",
                                 created=NOW - timedelta(seconds=5),
                                 ready_since=NOW - timedelta(seconds=1)),
        "ready-mid": with_status(await make_pod(api, "ready-mid", owner=rs), node="n1",
                                 created=old, ready_since=NOW - timedelta(minutes=30)),
    }
    for pod in seeded.values():
        ctl.pods.store.add(pod)

    await ctl.sync("default/web")

    left = sorted(p["metadata"]["name"] for p in await server_pods(api))
    assert left == ["ready-mid", "ready-old"]
    assert ctl.expectations.deleting("default/web") == {
        "default/pending", "default/not-ready", "default/ready-new"}
    # The informer shows the deletions (once each, however often): expectations are met.
    for name in ("pending", "not-ready", "ready-new", "ready-new"):
        ctl._delete_pod(seeded[name])
    assert ctl.expectations.satisfied("default/web")


async def test_a_deletion_that_fails_is_not_waited_for(
        api: ApiClient, ctl: ReplicaSetController) -> None:
    rs = await make_rs(api, ctl, 0)
    ghost = with_status(await make_pod(api, "ghost", owner=rs))
    await api.delete(PODS, "ghost", "default", grace_period_seconds=0)
    ctl.pods.store.add(ghost)  # the cache still has it
    await ctl.sync("default/web")  # NotFound is not an error
    assert ctl.expectations.satisfied("default/web")


# ----------------------------------------------------------------------------- claiming


async def test_adopts_a_matching_orphan_instead_of_creating(
        api: ApiClient, ctl: ReplicaSetController) -> None:
    rs = await make_rs(api, ctl, 1)
    await make_pod(api, "orphan")
    await catch_up(api, ctl)
    await ctl.sync("default/web")
    [pod] = await server_pods(api)
    assert pod["metadata"]["name"] == "orphan"
    assert controller_ref(pod) == owner_ref(rs)
    assert (await rs_status(api))["replicas"] == 1


async def test_releases_a_pod_whose_labels_no_longer_match(
        api: ApiClient, ctl: ReplicaSetController) -> None:
    rs = await make_rs(api, ctl, 1)
    await make_pod(api, "strayed", owner=rs, labels={"app": "debug"})
    await catch_up(api, ctl)
    await ctl.sync("default/web")
    pods = {p["metadata"]["name"]: p for p in await server_pods(api)}
    assert controller_ref(pods.pop("strayed")) is None
    [replacement] = pods.values()  # released, so replaced
    assert controller_ref(replacement) == owner_ref(rs)


async def test_leaves_pods_of_another_controller_alone(
        api: ApiClient, ctl: ReplicaSetController) -> None:
    other = await make_rs(api, ctl, 1, name="other")
    rs = await make_rs(api, ctl, 1)
    await make_pod(api, "theirs", owner=other)
    await catch_up(api, ctl)
    await ctl.sync("default/web")
    pods = {p["metadata"]["name"]: p for p in await server_pods(api)}
    assert controller_ref(pods.pop("theirs")) == owner_ref(other)
    [mine] = pods.values()
    assert controller_ref(mine) == owner_ref(rs)


# ----------------------------------------------------------------------------- status


async def test_status_counts_and_availability_after_min_ready_seconds(
        api: ApiClient, ctl: ReplicaSetController, clock: Clock) -> None:
    rs = await make_rs(api, ctl, 3, min_ready=10,
                       template_labels={"app": "web", "tier": "front"})
    long_ready = with_status(await make_pod(api, "a", owner=rs,
                                            labels={"app": "web", "tier": "front"}),
                             ready_since=NOW - timedelta(minutes=5))
    just_ready = with_status(await make_pod(api, "b", owner=rs),
                             ready_since=NOW - timedelta(seconds=4))
    not_ready = with_status(await make_pod(api, "c", owner=rs))
    leaving = with_status(await make_pod(api, "d", owner=rs), deleting=True)
    for pod in (long_ready, just_ready, not_ready, leaving):
        ctl.pods.store.add(pod)

    await ctl.sync("default/web")
    status = await rs_status(api)
    assert {k: status.get(k) for k in (
        "replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas",
        "terminatingReplicas", "observedGeneration")} == {
        "replicas": 3, "fullyLabeledReplicas": 1, "readyReplicas": 2,
        "availableReplicas": 1, "terminatingReplicas": 1, "observedGeneration": 1}
    # Requeued for when "b" becomes available.
    assert ctl.queue.waiting == 1

    clock.now = NOW + timedelta(seconds=7)
    ctl.owners.store.add(await api.get(REPLICA_SETS, "web", "default"))
    await ctl.sync("default/web")
    assert (await rs_status(api))["availableReplicas"] == 2


async def test_an_unchanged_status_is_not_written(
        api: ApiClient, ctl: ReplicaSetController) -> None:
    await make_rs(api, ctl, 0)
    await ctl.sync("default/web")
    written = await api.get(REPLICA_SETS, "web", "default")
    ctl.owners.store.add(written)
    await ctl.sync("default/web")
    again = await api.get(REPLICA_SETS, "web", "default")
    assert again["metadata"]["resourceVersion"] == written["metadata"]["resourceVersion"]


async def test_a_stale_cache_still_gets_its_status_written(
        api: ApiClient, ctl: ReplicaSetController) -> None:
    await make_rs(api, ctl, 0)  # the cache keeps this version
    await api.patch(REPLICA_SETS, "web", {"metadata": {"labels": {"touched": "yes"}}},
                    "default")
    await ctl.sync("default/web")  # 409 on the cached version, then a fresh GET
    assert (await rs_status(api))["observedGeneration"] == 1


# ----------------------------------------------------------------------------- handlers


async def test_pod_events_reach_their_owner(
        api: ApiClient, ctl: ReplicaSetController) -> None:
    rs = await make_rs(api, ctl, 1, min_ready=30)
    await make_rs(api, ctl, 1, name="elsewhere")  # selects the same labels
    owned = with_status(await make_pod(api, "owned", owner=rs))
    ctl.expectations.expect_creations("default/web", 1)
    ctl._add_pod(owned)
    assert ctl.expectations.satisfied("default/web")
    assert len(ctl.queue) == 1

    ready = with_status(owned, ready_since=NOW)
    ready["metadata"]["resourceVersion"] = "999999"
    ctl._update_pod(owned, ready)
    assert ctl.queue.waiting == 1  # looked at again once available

    orphan = await make_pod(api, "orphan")
    ctl._add_pod(orphan)  # both ReplicaSets may want it
    assert len(ctl.queue) == 2

    stranger = {**owned, "metadata": {**owned["metadata"], "ownerReferences": [
        {**owner_ref(rs), "uid": "not-the-same"}]}}
    ctl._delete_pod(stranger)  # a namesake's pod: nobody here
    assert len(ctl.queue) == 2


# ----------------------------------------------------------------------------- RC


async def test_a_replication_controller_is_run_the_same_way(
        api: ApiClient, ctx: ControllerContext) -> None:
    rcm = ReplicationManager(ctx)
    try:
        rc = await api.create(RCS, {
            "metadata": {"name": "legacy"},
            "spec": {"replicas": 2, "selector": {"app": "legacy"},
                     "template": {"metadata": {"labels": {"app": "legacy"}},
                                  "spec": {"containers": CONTAINERS}}}}, "default")
        rcm.owners.store.add(rc)
        orphan = await api.create(PODS, {"metadata": {"name": "old", "labels": {
            "app": "legacy"}}, "spec": {"containers": CONTAINERS}}, "default")
        rcm.pods.store.add(orphan)
        await rcm.sync("default/legacy")

        pods = await server_pods(api)
        assert len(pods) == 2
        ref = owner_ref(rc, "ReplicationController", "v1")
        assert all(controller_ref(p) == ref for p in pods)
        assert "old" in {p["metadata"]["name"] for p in pods}

        rcm.pods.store.replace(pods)
        await rcm.sync("default/legacy")
        status = (await api.get(RCS, "legacy", "default"))["status"]
        assert status["replicas"] == 2
        assert status["observedGeneration"] == 1
        assert "terminatingReplicas" not in status
        assert {pod_key(p) for p in pods} >= {"default/old"}
    finally:
        await rcm.recorder.aclose()
