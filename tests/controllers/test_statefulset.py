"""The StatefulSet controller's sync against a real API server. The informer stores are
refreshed from the server between syncs (as the informers would), and pods are made
running and ready by the test (as a kubelet would).

Intent: pods get stable identities `<set>-<ordinal>` (from `ordinals.start`) with their
labels, hostname and subdomain, and their claims `<template>-<set>-<ordinal>` are created
before them; OrderedReady creates one pod at a time, each only when its predecessors are
running and ready, and scales down from the highest ordinal, one at a time; Parallel does
everything at once; claims survive scale down under Retain and are handed to their pod
under `whenScaled: Delete`; a rolling update replaces pods from the highest ordinal down to
the partition, at most `maxUnavailable` at a time; reverting the template reuses the old
revision (a rollback); OnDelete waits for pods to be deleted; failed pods are replaced;
revision history is truncated; status counts as upstream.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from kybernetes.api.timeutil import rfc3339
from kybernetes.client import AlreadyExistsError, ApiClient, NotFoundError, resource
from kybernetes.client.rest import Obj
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.manager import CONTROLLERS, enabled_controllers
from kybernetes.controllers.refmanager import controller_ref
from kybernetes.controllers.statefulset import StatefulSetController
from tests.controllers.clock import NOW, Clock

PODS = resource("", "v1", "pods")
CLAIMS = resource("", "v1", "persistentvolumeclaims")
SETS = resource("apps", "v1", "statefulsets")
REVISIONS = resource("apps", "v1", "controllerrevisions")
EVENTS = resource("", "v1", "events")
KEY = "default/web"


@pytest.fixture
async def ctl(ctx: ControllerContext, clock: Clock) -> AsyncIterator[StatefulSetController]:
    controller = StatefulSetController(ctx, clock=clock)
    yield controller
    await controller.recorder.aclose()


def manifest(replicas: int = 3, *, image: str = "nginx:1", **spec: Any) -> Obj:
    return {"metadata": {"name": "web"},
            "spec": {"replicas": replicas, "serviceName": "web-svc",
                     "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}},
                     **spec}}


CLAIM_TEMPLATE = {"metadata": {"name": "www", "labels": {"tier": "data"}},
                  "spec": {"accessModes": ["ReadWriteOnce"],
                           "resources": {"requests": {"storage": "1Gi"}}}}


async def refresh(api: ApiClient, ctl: StatefulSetController) -> None:
    """The informers' view: everything the server holds now."""
    for informer, res in ((ctl.sets, SETS), (ctl.pods, PODS), (ctl.claims, CLAIMS),
                          (ctl.revisions, REVISIONS)):
        informer.store.replace((await api.list(res, "default")).items)


async def sync(api: ApiClient, ctl: StatefulSetController) -> None:
    await refresh(api, ctl)
    await ctl.sync(KEY)
    await refresh(api, ctl)


async def create_set(api: ApiClient, ctl: StatefulSetController, body: Obj) -> Obj:
    sts = await api.create(SETS, body, "default")
    await refresh(api, ctl)
    return sts


async def pods(api: ApiClient) -> dict[str, Obj]:
    items = (await api.list(PODS, "default")).items
    return {p["metadata"]["name"]: p for p in items}


async def make_ready(api: ApiClient, name: str, when: datetime = NOW) -> None:
    pod = await api.get(PODS, name, "default")
    pod["status"] = {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": rfc3339(when)}]}
    await api.update_status(PODS, pod, "default")


async def set_phase(api: ApiClient, name: str, phase: str) -> None:
    pod = await api.get(PODS, name, "default")
    pod["status"] = {"phase": phase}
    await api.update_status(PODS, pod, "default")


async def patch_set(api: ApiClient, patch: Obj) -> None:
    await api.patch(SETS, "web", patch, "default")


async def roll_out(api: ApiClient, ctl: StatefulSetController, rounds: int = 20) -> None:
    """Sync, making every existing pod ready, until nothing changes."""
    for _ in range(rounds):
        before = {n: p["metadata"]["resourceVersion"] for n, p in (await pods(api)).items()}
        await sync(api, ctl)
        for name, pod in (await pods(api)).items():
            if pod.get("status", {}).get("phase") != "Running" and \
                    not pod["metadata"].get("deletionTimestamp"):
                await make_ready(api, name)
        after = {n: p["metadata"]["resourceVersion"] for n, p in (await pods(api)).items()}
        if before == after:
            return
    raise AssertionError("the set did not settle")


async def status_of(api: ApiClient) -> Obj:
    return dict((await api.get(SETS, "web", "default")).get("status") or {})


def revision_of(pod: Obj) -> str:
    return str(pod["metadata"]["labels"]["controller-revision-hash"])


# ----------------------------------------------------------------------------- identity


async def test_ordered_ready_creates_one_pod_at_a_time_with_identity_and_claims(
        api: ApiClient, ctl: StatefulSetController) -> None:
    sts = await create_set(api, ctl, manifest(volumeClaimTemplates=[CLAIM_TEMPLATE]))

    await sync(api, ctl)
    current = await pods(api)
    assert list(current) == ["web-0"]
    pod = current["web-0"]
    labels = pod["metadata"]["labels"]
    assert labels["app"] == "web"
    assert labels["statefulset.kubernetes.io/pod-name"] == "web-0"
    assert labels["apps.kubernetes.io/pod-index"] == "0"
    assert pod["spec"]["hostname"] == "web-0" and pod["spec"]["subdomain"] == "web-svc"
    assert {"name": "www", "persistentVolumeClaim": {"claimName": "www-web-0"}} in \
        pod["spec"]["volumes"]
    ref = controller_ref(pod)
    assert ref is not None and ref["uid"] == sts["metadata"]["uid"]
    assert ref["kind"] == "StatefulSet"
    claim = await api.get(CLAIMS, "www-web-0", "default")
    assert claim["metadata"]["labels"] == {"tier": "data", "app": "web"}
    assert not claim["metadata"].get("ownerReferences")  # Retain/Retain

    revisions = (await api.list(REVISIONS, "default")).items
    assert len(revisions) == 1
    assert revisions[0]["revision"] == 1
    assert revision_of(pod) == revisions[0]["metadata"]["name"]
    assert revisions[0]["data"]["spec"]["template"]["$patch"] == "replace"

    # web-0 is not ready: nothing more.
    await sync(api, ctl)
    assert list(await pods(api)) == ["web-0"]
    status = await status_of(api)
    assert status["replicas"] == 1 and status.get("readyReplicas", 0) == 0
    assert status["currentRevision"] == status["updateRevision"] == \
        revisions[0]["metadata"]["name"]
    assert status["observedGeneration"] == 1 and status["collisionCount"] == 0

    await make_ready(api, "web-0")
    await sync(api, ctl)
    assert sorted(await pods(api)) == ["web-0", "web-1"]

    await roll_out(api, ctl)
    assert sorted(await pods(api)) == ["web-0", "web-1", "web-2"]
    claims = sorted(c["metadata"]["name"] for c in (await api.list(CLAIMS, "default")).items)
    assert claims == ["www-web-0", "www-web-1", "www-web-2"]
    status = await status_of(api)
    assert (status["replicas"], status["readyReplicas"], status["availableReplicas"],
            status["currentReplicas"], status["updatedReplicas"]) == (3, 3, 3, 3, 3)

    await ctl.recorder.flush()
    events = [(e["reason"], e["message"]) for e in (await api.list(EVENTS, "default")).items]
    assert ("SuccessfulCreate", "create Pod web-0 in StatefulSet web successful") in events
    assert ("SuccessfulCreate",
            "create Claim www-web-0 Pod web-0 in StatefulSet web success") in events


async def test_parallel_creates_all_and_ordinals_start(
        api: ApiClient, ctl: StatefulSetController) -> None:
    await create_set(api, ctl, manifest(podManagementPolicy="Parallel",
                                        ordinals={"start": 5}))
    await sync(api, ctl)
    current = await pods(api)
    assert sorted(current) == ["web-5", "web-6", "web-7"]
    assert current["web-6"]["metadata"]["labels"]["apps.kubernetes.io/pod-index"] == "6"


async def test_scale_down_in_reverse_order_keeps_retained_claims(
        api: ApiClient, ctl: StatefulSetController) -> None:
    await create_set(api, ctl, manifest(volumeClaimTemplates=[CLAIM_TEMPLATE]))
    await roll_out(api, ctl)
    await patch_set(api, {"spec": {"replicas": 1}})

    await sync(api, ctl)
    assert sorted(await pods(api)) == ["web-0", "web-1"]  # web-2 first, alone
    await sync(api, ctl)
    assert sorted(await pods(api)) == ["web-0"]
    claims = sorted(c["metadata"]["name"] for c in (await api.list(CLAIMS, "default")).items)
    assert claims == ["www-web-0", "www-web-1", "www-web-2"]

    # Scaling up again reuses the claims.
    await patch_set(api, {"spec": {"replicas": 3}})
    await roll_out(api, ctl)
    assert sorted(await pods(api)) == ["web-0", "web-1", "web-2"]
    assert len((await api.list(CLAIMS, "default")).items) == 3


async def test_scale_down_waits_for_unhealthy_pods(
        api: ApiClient, ctl: StatefulSetController) -> None:
    await create_set(api, ctl, manifest())
    await roll_out(api, ctl)
    await set_phase(api, "web-0", "Pending")  # no longer ready
    await patch_set(api, {"spec": {"replicas": 1}})
    await sync(api, ctl)
    # Halted on the unhealthy web-0: no replica processing past it, no deletion.
    assert sorted(await pods(api)) == ["web-0", "web-1", "web-2"]


async def test_when_scaled_delete_hands_claims_to_condemned_pods(
        api: ApiClient, ctl: StatefulSetController) -> None:
    sts = await create_set(api, ctl, manifest(
        2, volumeClaimTemplates=[CLAIM_TEMPLATE],
        persistentVolumeClaimRetentionPolicy={"whenScaled": "Delete",
                                              "whenDeleted": "Delete"}))
    await roll_out(api, ctl)
    claim = await api.get(CLAIMS, "www-web-1", "default")
    ref = controller_ref(claim)
    assert ref is not None and ref["kind"] == "StatefulSet" and \
        ref["uid"] == sts["metadata"]["uid"]

    await patch_set(api, {"spec": {"replicas": 1}})
    web1 = (await pods(api))["web-1"]
    await sync(api, ctl)
    claim = await api.get(CLAIMS, "www-web-1", "default")
    assert [(r["kind"], r["uid"], r.get("controller")) for r in
            claim["metadata"]["ownerReferences"]] == [("Pod", web1["metadata"]["uid"], True)]
    assert "web-1" not in await pods(api)
    kept = controller_ref(await api.get(CLAIMS, "www-web-0", "default"))
    assert kept is not None and kept["kind"] == "StatefulSet"


async def test_a_claim_of_an_earlier_pod_blocks_creation(
        api: ApiClient, ctl: StatefulSetController) -> None:
    """Under whenScaled: Delete, a claim still owned by a previous web-0 is waited for (the
    garbage collector removes it) rather than reused."""
    await api.create(CLAIMS, {**copy.deepcopy(CLAIM_TEMPLATE), "metadata": {
        "name": "www-web-0", "ownerReferences": [
            {"apiVersion": "v1", "kind": "Pod", "name": "web-0", "uid": "earlier",
             "controller": True}]}}, "default")
    await create_set(api, ctl, manifest(
        1, volumeClaimTemplates=[CLAIM_TEMPLATE],
        persistentVolumeClaimRetentionPolicy={"whenScaled": "Delete",
                                              "whenDeleted": "Retain"}))
    await sync(api, ctl)
    assert await pods(api) == {}
    await api.delete(CLAIMS, "www-web-0", "default")
    # Gone for good (the protection finalizer, if any, is lifted as its controller would).
    with contextlib.suppress(NotFoundError):
        await api.patch(CLAIMS, "www-web-0", {"metadata": {"finalizers": None}}, "default")
    await sync(api, ctl)
    assert list(await pods(api)) == ["web-0"]


# ----------------------------------------------------------------------------- updates


async def test_rolling_update_with_partition_then_rollback(
        api: ApiClient, ctl: StatefulSetController) -> None:
    await create_set(api, ctl, manifest(
        updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}))
    await roll_out(api, ctl)
    first = revision_of((await pods(api))["web-0"])

    await patch_set(api, {"spec": {"template": {"spec": {"containers": [
        {"name": "c", "image": "nginx:2"}]}}}})
    await sync(api, ctl)
    assert sorted(await pods(api)) == ["web-0", "web-1"]  # web-2 deleted for update
    await roll_out(api, ctl)
    current = await pods(api)
    second = revision_of(current["web-2"])
    assert second != first
    assert current["web-2"]["spec"]["containers"][0]["image"] == "nginx:2"
    assert [revision_of(current[n]) for n in ("web-0", "web-1")] == [first, first]
    status = await status_of(api)
    assert status["currentRevision"] == first and status["updateRevision"] == second
    assert (status["currentReplicas"], status["updatedReplicas"]) == (2, 1)

    # Partition 0: the rest is updated, highest ordinal first; the update completes.
    await patch_set(api, {"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}})
    await sync(api, ctl)
    assert sorted(await pods(api)) == ["web-0", "web-2"]
    await roll_out(api, ctl)
    current = await pods(api)
    assert {revision_of(p) for p in current.values()} == {second}
    status = await status_of(api)
    assert status["currentRevision"] == status["updateRevision"] == second
    assert status["currentReplicas"] == status["updatedReplicas"] == 3

    # Back to the first template: the first revision is reused with a new number.
    await patch_set(api, {"spec": {"template": {"spec": {"containers": [
        {"name": "c", "image": "nginx:1"}]}}}})
    await roll_out(api, ctl)
    revisions = {r["metadata"]["name"]: r["revision"]
                 for r in (await api.list(REVISIONS, "default")).items}
    assert revisions == {first: 3, second: 2}
    assert {revision_of(p) for p in (await pods(api)).values()} == {first}


async def test_max_unavailable_deletes_several_at_once(
        api: ApiClient, ctl: StatefulSetController) -> None:
    await create_set(api, ctl, manifest(
        4, podManagementPolicy="Parallel",
        updateStrategy={"type": "RollingUpdate",
                        "rollingUpdate": {"partition": 0, "maxUnavailable": 2}}))
    await roll_out(api, ctl)
    await patch_set(api, {"spec": {"template": {"metadata": {"annotations": {"v": "2"}}}}})
    await sync(api, ctl)
    assert sorted(await pods(api)) == ["web-0", "web-1"]


async def test_on_delete_waits_for_deletion(api: ApiClient,
                                            ctl: StatefulSetController) -> None:
    await create_set(api, ctl, manifest(2, updateStrategy={"type": "OnDelete"}))
    await roll_out(api, ctl)
    old = revision_of((await pods(api))["web-1"])
    await patch_set(api, {"spec": {"template": {"metadata": {"annotations": {"v": "2"}}}}})
    await roll_out(api, ctl)
    assert {revision_of(p) for p in (await pods(api)).values()} == {old}
    await api.delete(PODS, "web-1", "default")
    await roll_out(api, ctl)
    current = await pods(api)
    assert revision_of(current["web-1"]) != old and revision_of(current["web-0"]) == old


async def test_failed_pods_are_replaced(api: ApiClient, ctl: StatefulSetController) -> None:
    await create_set(api, ctl, manifest(1))
    await roll_out(api, ctl)
    uid = (await pods(api))["web-0"]["metadata"]["uid"]
    await set_phase(api, "web-0", "Failed")
    await roll_out(api, ctl)
    pod = (await pods(api))["web-0"]
    assert pod["metadata"]["uid"] != uid


async def test_history_is_truncated(api: ApiClient, ctl: StatefulSetController) -> None:
    await create_set(api, ctl, manifest(1, revisionHistoryLimit=1))
    await roll_out(api, ctl)
    for version in range(2, 5):
        await patch_set(api, {"spec": {"template": {"metadata": {
            "annotations": {"v": str(version)}}}}})
        await roll_out(api, ctl)
    # The sync after the update completed no longer counts revision 3 as live.
    await sync(api, ctl)
    revisions = sorted(r["revision"] for r in (await api.list(REVISIONS, "default")).items)
    assert revisions == [3, 4]  # the live one and one more


async def test_min_ready_seconds_gates_the_next_pod(
        api: ApiClient, ctl: StatefulSetController, clock: Clock) -> None:
    await create_set(api, ctl, manifest(2, minReadySeconds=10))
    await sync(api, ctl)
    await make_ready(api, "web-0", NOW)
    await sync(api, ctl)
    assert list(await pods(api)) == ["web-0"]
    status = await status_of(api)
    assert status["readyReplicas"] == 1 and status["availableReplicas"] == 0
    clock.now = NOW + timedelta(seconds=11)
    await sync(api, ctl)
    assert sorted(await pods(api)) == ["web-0", "web-1"]


async def test_adopts_orphans_and_releases_strays(
        api: ApiClient, ctl: StatefulSetController) -> None:
    await create_set(api, ctl, manifest(1))
    await roll_out(api, ctl)
    pod = (await pods(api))["web-0"]
    # An orphaned member is adopted; a pod that no longer matches is released.
    stray = copy.deepcopy(pod)
    await api.patch(PODS, "web-0", {"metadata": {"labels": {"app": "other"}}}, "default")
    # Released; its replacement cannot be created while the namesake is there.
    with pytest.raises(AlreadyExistsError):
        await sync(api, ctl)
    released = await api.get(PODS, "web-0", "default")
    assert controller_ref(released) is None
    assert stray["metadata"]["uid"] == released["metadata"]["uid"]
    await api.patch(PODS, "web-0", {"metadata": {"labels": {"app": "web"}}}, "default")
    await sync(api, ctl)
    adopted = await api.get(PODS, "web-0", "default")
    ref = controller_ref(adopted)
    assert ref is not None and ref["kind"] == "StatefulSet"


def test_the_manager_knows_the_controller_by_name_and_alias() -> None:
    spec = CONTROLLERS["statefulset-controller"]
    assert spec.service_account == "statefulset-controller"
    assert enabled_controllers(["statefulset"]) == ["statefulset-controller"]
    assert "statefulset-controller" not in enabled_controllers(["*", "-statefulset"])
