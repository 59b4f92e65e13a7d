"""The Deployment controller: its pure helpers (tables) and its sync against a real
in-process API server.

Intent: a Deployment runs its pods through ReplicaSets named `<name>-<pod-template-hash>`,
rolled out within maxSurge/maxUnavailable (RollingUpdate) or old-first (Recreate), with
upstream's revisions, annotations, conditions and status counts; a scaling event is spread
over the active ReplicaSets in proportion; pausing stops rollouts but not scaling; old
ReplicaSets are pruned to revisionHistoryLimit; a template change back to an old revision
reuses that ReplicaSet.

No ReplicaSet controller runs here: the tests play its part by writing ReplicaSet status
(`settle`), and play the informers by loading the caches from the server (`refresh`).
"""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest

from kybernetes.api import objects, timeutil
from kybernetes.client import ApiClient, resource
from kybernetes.client.rest import Obj
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.deployment import DeploymentController, util
from kybernetes.controllers.manager import CONTROLLERS, enabled_controllers

DEPLOYMENTS = resource("apps", "v1", "deployments")
REPLICA_SETS = resource("apps", "v1", "replicasets")
PODS = resource("", "v1", "pods")
NS = "default"


# ----------------------------------------------------------------------------- helpers


def deployment(name: str = "web", *, replicas: int = 3, image: str = "nginx:1",
               strategy: dict[str, Any] | None = None, **spec: Any) -> Obj:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS,
                     "annotations": {"kubernetes.io/change-cause": "first"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "strategy": strategy or {"type": "RollingUpdate", "rollingUpdate": {
                     "maxSurge": 1, "maxUnavailable": 0}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "c", "image": image}]}},
                 **spec},
    }


@pytest.fixture
def ctl(ctx: ControllerContext) -> DeploymentController:
    return DeploymentController(ctx)


async def refresh(ctl: DeploymentController, api: ApiClient) -> None:
    """Load the informer caches from the server, as the informers would."""
    ctl.deployments.store.replace((await api.list(DEPLOYMENTS, NS)).items)
    ctl.replica_sets.store.replace((await api.list(REPLICA_SETS, NS)).items)
    ctl.pods.store.replace((await api.list(PODS, NS)).items)


async def step(ctl: DeploymentController, api: ApiClient, name: str = "web") -> None:
    await refresh(ctl, api)
    await ctl.sync(f"{NS}/{name}")


async def get(api: ApiClient, name: str = "web") -> Obj:
    return await api.get(DEPLOYMENTS, name, NS)


async def replica_sets(api: ApiClient) -> list[Obj]:
    return util.by_creation_timestamp((await api.list(REPLICA_SETS, NS)).items)


async def sizes(api: ApiClient) -> dict[str, int]:
    return {rs["metadata"]["name"]: rs["spec"]["replicas"] for rs in await replica_sets(api)}


async def settle(api: ApiClient, *, available: bool = True, **extra: Any) -> None:
    """Play the ReplicaSet controller: every ReplicaSet runs (and, if `available`, has
    available) exactly spec.replicas pods, and has observed its spec."""
    for rs in await replica_sets(api):
        n = rs["spec"]["replicas"]
        rs["status"] = {"replicas": n, "readyReplicas": n if available else 0,
                        "availableReplicas": n if available else 0,
                        "fullyLabeledReplicas": n, "terminatingReplicas": 0,
                        "observedGeneration": rs["metadata"]["generation"], **extra}
        await api.update_status(REPLICA_SETS, rs)


async def set_image(api: ApiClient, image: str, name: str = "web") -> None:
    d = await get(api, name)
    d["spec"]["template"]["spec"]["containers"][0]["image"] = image
    await api.update(DEPLOYMENTS, d)


async def roll_to_completion(ctl: DeploymentController, api: ApiClient,
                             name: str = "web") -> list[dict[str, int]]:
    """Sync and settle until the rollout is complete; the sizes seen after each sync."""
    seen = []
    for _ in range(30):
        await step(ctl, api, name)
        seen.append(await sizes(api))
        await settle(api)
        d = await get(api, name)
        if util.deployment_complete(d, d.get("status") or {}) and \
                (objects.find_condition(d["status"], util.PROGRESSING) or {}).get("reason") in \
                (util.NEW_RS_AVAILABLE_REASON, None):
            await step(ctl, api, name)
            return seen
    raise AssertionError(f"rollout did not complete: {seen}")


async def first_step_rolling_ten(api: ApiClient, ctl: DeploymentController
                                 ) -> tuple[str, str]:
    """Ten replicas rolled out at maxSurge = maxUnavailable = 25%, then a new image and one
    sync: the names of the old and the new ReplicaSet."""
    await api.create(DEPLOYMENTS, deployment(replicas=10, strategy={
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%",
                                                   "maxUnavailable": "25%"}}))
    await roll_to_completion(ctl, api)
    [old] = await replica_sets(api)
    await set_image(api, "nginx:2")
    await step(ctl, api)
    old_name = old["metadata"]["name"]
    return old_name, next(n for n in await sizes(api) if n != old_name)


def condition(d: Obj, type_: str) -> dict[str, Any]:
    found = objects.find_condition(d.get("status") or {}, type_)
    assert found is not None, f"no {type_} condition in {d.get('status')}"
    return found


def condition_summary(d: Obj, type_: str) -> tuple[str, str, str]:
    """The (status, reason, message) of the condition `type_`, which must be there."""
    found = condition(d, type_)
    return found["status"], found["reason"], found["message"]


# ----------------------------------------------------------------------------- pure helpers


@pytest.mark.parametrize(("surge", "unavailable", "desired", "expected"), [
    # Upstream's TestResolveFenceposts, plus rounding cases.
    ("0%", "0%", 0, (0, 1)),
    ("39%", "39%", 10, (4, 3)),
    ("oops", "39%", 10, None),
    ("55%", "urg", 10, None),
    (None, "39%", 10, (0, 3)),
    ("39%", None, 10, (4, 0)),
    (None, None, 10, (0, 1)),
    ("25%", "25%", 10, (3, 2)),
    (1, 0, 3, (1, 0)),
    ("25%", "25%", 1, (1, 0)),
])
def test_fenceposts_round_surge_up_and_unavailability_down(
        surge: Any, unavailable: Any, desired: int, expected: tuple[int, int] | None) -> None:
    if expected is None:
        with pytest.raises(ValueError):
            util.resolve_fenceposts(surge, unavailable, desired)
    else:
        assert util.resolve_fenceposts(surge, unavailable, desired) == expected


def test_max_unavailable_is_capped_and_zero_for_recreate() -> None:
    d = deployment(replicas=2, strategy={"type": "RollingUpdate", "rollingUpdate": {
        "maxSurge": 0, "maxUnavailable": 5}})
    assert util.max_unavailable(d) == 2
    assert util.max_unavailable(deployment(strategy={"type": "Recreate"})) == 0
    assert util.max_surge(deployment(strategy={"type": "Recreate"})) == 0


def test_pod_template_hash_is_stable_safe_and_moved_by_collisions() -> None:
    template = deployment()["spec"]["template"]
    first = util.compute_hash(template, None)
    assert first == util.compute_hash(copy.deepcopy(template), None)
    assert set(first) <= set("bcdfghjklmnpqrstvwxz2456789") and 1 <= len(first) <= 10
    assert util.compute_hash(template, 1) != first
    assert util.compute_hash(template, 1) != util.compute_hash(template, 2)
    changed = copy.deepcopy(template)
    changed["spec"]["containers"][0]["image"] = "nginx:2"
    assert util.compute_hash(changed, None) != first


def test_templates_compare_without_the_hash_label_and_empty_fields() -> None:
    a = deployment()["spec"]["template"]
    b = copy.deepcopy(a)
    b["metadata"]["labels"]["pod-template-hash"] = "abc"
    b["metadata"]["annotations"] = {}
    assert util.equal_ignore_hash(a, b)
    b["metadata"]["labels"]["tier"] = "x"
    assert not util.equal_ignore_hash(a, b)


@pytest.mark.parametrize(("desired", "rs_sizes", "new_size", "expected"), [
    (10, [10, 0], 0, 3),  # surge 3 (25% rounded up)
    (10, [10, 3], 3, 3),  # at desired + surge: no more
    (10, [5, 3], 3, 8),  # room for 5, bounded by desired - new
    (1, [0, 0], 0, 1),
])
def test_new_replica_set_grows_within_surge(desired: int, rs_sizes: list[int], new_size: int,
                                            expected: int) -> None:
    d = deployment(replicas=desired, strategy={"type": "RollingUpdate", "rollingUpdate": {
        "maxSurge": "25%", "maxUnavailable": "25%"}})
    rss = [{"spec": {"replicas": n}} for n in rs_sizes]
    assert util.new_rs_new_replicas(d, rss, {"spec": {"replicas": new_size}}) == expected
    assert util.new_rs_new_replicas(
        deployment(replicas=desired, strategy={"type": "Recreate"}), rss,
        {"spec": {"replicas": new_size}}) == desired


def test_a_rollback_records_the_old_revision_in_history() -> None:
    d = deployment()
    rs: Obj = {"metadata": {"annotations": {util.REVISION_ANNOTATION: "1"}}, "spec": {}}
    assert util.set_new_replica_set_annotations(d, rs, "3", exists=True)
    notes = rs["metadata"]["annotations"]
    assert notes[util.REVISION_ANNOTATION] == "3"
    assert notes[util.REVISION_HISTORY_ANNOTATION] == "1"
    assert notes["kubernetes.io/change-cause"] == "first"
    assert util.set_new_replica_set_annotations(d, rs, "5", exists=True)
    assert notes[util.REVISION_HISTORY_ANNOTATION] == "1,3"
    # A revision that is not higher changes nothing.
    assert not util.set_new_replica_set_annotations(d, rs, "4", exists=True)
    # The history is capped by length, dropping the oldest entries.
    notes[util.REVISION_HISTORY_ANNOTATION] = ",".join(str(i) for i in range(100, 110))
    util.set_new_replica_set_annotations(d, rs, "6", exists=True, history_limit=20)
    assert notes[util.REVISION_HISTORY_ANNOTATION] == "106,107,108,109,5"


def test_conditions_keep_transition_time_while_status_holds() -> None:
    st: dict[str, Any] = {}
    t0 = timeutil.now()
    util.set_condition(st, util.new_condition("Available", "True", "A", "m", t0))
    later = t0 + timedelta(seconds=30)
    util.set_condition(st, util.new_condition("Available", "True", "B", "m", later))
    cond = objects.find_condition(st, "Available")
    assert cond is not None
    assert cond["reason"] == "B" and cond["lastTransitionTime"] == timeutil.rfc3339(t0)
    assert cond["lastUpdateTime"] == timeutil.rfc3339(later)
    util.set_condition(st, util.new_condition("Available", "False", "C", "m", later))
    assert condition({"status": st}, "Available")["lastTransitionTime"] == timeutil.rfc3339(later)


def test_the_manager_knows_the_controller_by_name_and_alias() -> None:
    assert "deployment-controller" in CONTROLLERS
    assert enabled_controllers(["deployment"]) == ["deployment-controller"]
    assert "deployment-controller" not in enabled_controllers(["*", "-deployment"])


async def test_deployment_status_writes_annotations_but_not_labels_or_spec(
        api: ApiClient) -> None:
    """Upstream's deployment status strategy resets only spec and labels: the controller
    records the revision annotation through /status."""
    d = await api.create(DEPLOYMENTS, deployment())
    d["metadata"]["annotations"][util.REVISION_ANNOTATION] = "4"
    d["metadata"]["labels"] = {"changed": "yes"}
    d["spec"]["replicas"] = 9
    d["status"] = {"observedGeneration": 1}
    written = await api.update_status(DEPLOYMENTS, d)
    assert written["metadata"]["annotations"][util.REVISION_ANNOTATION] == "4"
    assert "labels" not in written["metadata"]
    assert (written["spec"]["replicas"], written["status"]) == (3, {"observedGeneration": 1})


# ----------------------------------------------------------------------------- creating


async def test_a_new_deployment_gets_a_hashed_replica_set(
        api: ApiClient, ctl: DeploymentController) -> None:
    created = await api.create(DEPLOYMENTS, deployment())
    await step(ctl, api)
    [rs] = await replica_sets(api)
    pod_hash = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"web-{pod_hash}"
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": pod_hash}
    assert rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] == pod_hash
    assert rs["spec"]["replicas"] == 3
    [owner] = rs["metadata"]["ownerReferences"]
    assert owner == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                     "uid": created["metadata"]["uid"], "controller": True,
                     "blockOwnerDeletion": True}
    notes = rs["metadata"]["annotations"]
    assert notes[util.REVISION_ANNOTATION] == "1"
    assert notes[util.DESIRED_REPLICAS_ANNOTATION] == "3"
    assert notes[util.MAX_REPLICAS_ANNOTATION] == "4"
    assert notes["kubernetes.io/change-cause"] == "first"
    d = await get(api)
    assert d["metadata"]["annotations"][util.REVISION_ANNOTATION] == "1"
    assert condition_summary(d, "Progressing") == (
        "True", "NewReplicaSetCreated", f'Created new replica set "{rs["metadata"]["name"]}"')


async def test_status_follows_the_replica_sets_until_available(
        api: ApiClient, ctl: DeploymentController) -> None:
    await api.create(DEPLOYMENTS, deployment())
    await step(ctl, api)
    await settle(api, available=False)
    await step(ctl, api)
    d = await get(api)
    assert {k: d["status"].get(k) for k in (
        "replicas", "updatedReplicas", "availableReplicas", "unavailableReplicas",
        "terminatingReplicas", "observedGeneration")} == {
        "replicas": 3, "updatedReplicas": 3, "availableReplicas": None,
        "unavailableReplicas": 3, "terminatingReplicas": 0, "observedGeneration": 1}
    assert condition(d, "Available")["reason"] == "MinimumReplicasUnavailable"
    assert condition(d, "Available")["status"] == "False"
    await settle(api)
    await step(ctl, api)
    d = await get(api)
    assert (d["status"]["availableReplicas"], d["status"]["readyReplicas"]) == (3, 3)
    assert "unavailableReplicas" not in d["status"]
    assert condition_summary(d, "Available") == (
        "True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
    rs_name = (await replica_sets(api))[0]["metadata"]["name"]
    assert condition_summary(d, "Progressing") == (
        "True", "NewReplicaSetAvailable", f'ReplicaSet "{rs_name}" has successfully progressed.')
    # A further sync with nothing new writes nothing.
    rv = d["metadata"]["resourceVersion"]
    await step(ctl, api)
    assert (await get(api))["metadata"]["resourceVersion"] == rv


# ----------------------------------------------------------------------------- rolling


async def test_a_rolling_update_keeps_within_surge_and_availability(
        api: ApiClient, ctl: DeploymentController) -> None:
    await api.create(DEPLOYMENTS, deployment())
    await roll_to_completion(ctl, api)
    [old] = await replica_sets(api)
    await set_image(api, "nginx:2")
    seen = await roll_to_completion(ctl, api)
    assert all(sum(s.values()) <= 4 for s in seen), seen  # maxSurge 1
    by_name = await sizes(api)
    new_name = next(n for n in by_name if n != old["metadata"]["name"])
    assert by_name == {old["metadata"]["name"]: 0, new_name: 3}
    assert seen[0] == {old["metadata"]["name"]: 3, new_name: 1}
    rss = {rs["metadata"]["name"]: rs for rs in await replica_sets(api)}
    assert rss[new_name]["metadata"]["annotations"][util.REVISION_ANNOTATION] == "2"
    assert rss[old["metadata"]["name"]]["metadata"]["annotations"][
        util.REVISION_ANNOTATION] == "1"
    d = await get(api)
    assert d["metadata"]["annotations"][util.REVISION_ANNOTATION] == "2"
    assert (d["status"]["replicas"], d["status"]["updatedReplicas"]) == (3, 3)


async def test_percentages_round_as_upstream(api: ApiClient,
                                             ctl: DeploymentController) -> None:
    old_name, new_name = await first_step_rolling_ten(api, ctl)
    # Surge ceil(2.5) = 3 new replicas; unavailability floor(2.5) = 2 fewer old ones.
    assert await sizes(api) == {old_name: 8, new_name: 3}


async def test_unavailable_old_replicas_are_removed_first(
        api: ApiClient, ctl: DeploymentController) -> None:
    await api.create(DEPLOYMENTS, deployment(strategy={
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}))
    await roll_to_completion(ctl, api)
    [old] = await replica_sets(api)
    old["status"]["availableReplicas"] = 1  # two old replicas broke
    await api.update_status(REPLICA_SETS, old)
    await set_image(api, "nginx:2")
    await step(ctl, api)  # no surge: the new RS is created empty
    await step(ctl, api)
    # Only 1 of the minimum 2 is available, so no available replica may go; but one of the
    # unhealthy ones may (3 pods - 2 minimum available).
    assert (await sizes(api))[old["metadata"]["name"]] == 2


async def test_back_to_an_old_template_reuses_its_replica_set(
        api: ApiClient, ctl: DeploymentController) -> None:
    await api.create(DEPLOYMENTS, deployment())
    await roll_to_completion(ctl, api)
    [first] = await replica_sets(api)
    await set_image(api, "nginx:2")
    await roll_to_completion(ctl, api)
    await set_image(api, "nginx:1")  # what `kubectl rollout undo` does
    await roll_to_completion(ctl, api)
    rss = await replica_sets(api)
    assert len(rss) == 2
    reused = next(rs for rs in rss if rs["metadata"]["name"] == first["metadata"]["name"])
    assert reused["spec"]["replicas"] == 3
    assert reused["metadata"]["annotations"][util.REVISION_ANNOTATION] == "3"
    assert reused["metadata"]["annotations"][util.REVISION_HISTORY_ANNOTATION] == "1"
    assert (await get(api))["metadata"]["annotations"][util.REVISION_ANNOTATION] == "3"


async def test_the_deprecated_rollback_annotation_restores_a_revision(
        api: ApiClient, ctl: DeploymentController) -> None:
    await api.create(DEPLOYMENTS, deployment())
    await roll_to_completion(ctl, api)
    await set_image(api, "nginx:2")
    d = await get(api)
    d["metadata"]["annotations"]["kubernetes.io/change-cause"] = "second"
    await api.update(DEPLOYMENTS, d)
    await roll_to_completion(ctl, api)
    for target, image, cause in (("0", "nginx:1", "first"), ("7", "nginx:1", "first"),
                                 ("2", "nginx:2", "second")):
        d = await get(api)
        d["metadata"]["annotations"][util.DEPRECATED_ROLLBACK_TO] = target
        await api.update(DEPLOYMENTS, d)
        await step(ctl, api)
        d = await get(api)
        assert util.DEPRECATED_ROLLBACK_TO not in d["metadata"]["annotations"]
        assert d["spec"]["template"]["spec"]["containers"][0]["image"] == image, target
        assert d["metadata"]["annotations"]["kubernetes.io/change-cause"] == cause
        assert "pod-template-hash" not in d["spec"]["template"]["metadata"]["labels"]
    await roll_to_completion(ctl, api)
    assert sorted(int(rs["metadata"]["annotations"][util.REVISION_ANNOTATION])
                  for rs in await replica_sets(api)) == [3, 4]


async def test_old_replica_sets_beyond_the_history_limit_are_deleted(
        api: ApiClient, ctl: DeploymentController) -> None:
    await api.create(DEPLOYMENTS, deployment(revisionHistoryLimit=1))
    await roll_to_completion(ctl, api)
    for image in ("nginx:2", "nginx:3", "nginx:4"):
        await set_image(api, image)
        await roll_to_completion(ctl, api)
    revisions = sorted(int(rs["metadata"]["annotations"][util.REVISION_ANNOTATION])
                       for rs in await replica_sets(api))
    assert revisions == [3, 4]


async def test_a_hash_collision_bumps_collision_count(
        api: ApiClient, ctl: DeploymentController) -> None:
    d = await api.create(DEPLOYMENTS, deployment())
    pod_hash = util.compute_hash(d["spec"]["template"], None)
    squatter = deployment()["spec"]
    squatter["template"]["metadata"]["labels"] = {"app": "other"}
    squatter["selector"] = {"matchLabels": {"app": "other"}}
    await api.create(REPLICA_SETS, {"metadata": {"name": f"web-{pod_hash}", "namespace": NS},
                                    "spec": {k: squatter[k] for k in (
                                        "replicas", "selector", "template")}})
    with pytest.raises(Exception, match="exists"):
        await step(ctl, api)
    assert (await get(api))["status"]["collisionCount"] == 1
    await step(ctl, api)
    names = {rs["metadata"]["name"] for rs in await replica_sets(api)}
    assert names == {f"web-{pod_hash}", f"web-{util.compute_hash(d['spec']['template'], 1)}"}


# ----------------------------------------------------------------------------- scaling


async def test_scaling_mid_rollout_is_proportional(api: ApiClient,
                                                   ctl: DeploymentController) -> None:
    old_name, new_name = await first_step_rolling_ten(api, ctl)
    assert await sizes(api) == {old_name: 8, new_name: 3}  # 3 new (surge), 2 old fewer
    d = await get(api)
    d["spec"]["replicas"] = 20
    await api.update(DEPLOYMENTS, d)
    await step(ctl, api)
    # 14 more within 20 + 5 surge: old 8*25/13 -> 15, new 3*25/13 -> 6, leftover 4 to the
    # largest.
    assert await sizes(api) == {old_name: 19, new_name: 6}
    for rs in await replica_sets(api):
        assert rs["metadata"]["annotations"][util.DESIRED_REPLICAS_ANNOTATION] == "20"
        assert rs["metadata"]["annotations"][util.MAX_REPLICAS_ANNOTATION] == "25"
    d = await get(api)
    d["spec"]["replicas"] = 5
    await api.update(DEPLOYMENTS, d)
    await step(ctl, api)
    # 18 fewer, down to 5 + 2 surge: old 19*7/25 -> 5, new 6*7/25 -> 2.
    assert await sizes(api) == {old_name: 5, new_name: 2}


async def test_scaling_a_settled_deployment_scales_its_replica_set(
        api: ApiClient, ctl: DeploymentController) -> None:
    await api.create(DEPLOYMENTS, deployment())
    await roll_to_completion(ctl, api)
    d = await get(api)
    d["spec"]["replicas"] = 7
    await api.update(DEPLOYMENTS, d)
    await step(ctl, api)
    assert list((await sizes(api)).values()) == [7]


# ----------------------------------------------------------------------------- pausing


async def test_a_paused_deployment_scales_but_does_not_roll_out(
        api: ApiClient, ctl: DeploymentController) -> None:
    await api.create(DEPLOYMENTS, deployment())
    await roll_to_completion(ctl, api)
    d = await get(api)
    d["spec"]["paused"] = True
    d["spec"]["replicas"] = 5
    d["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
    await api.update(DEPLOYMENTS, d)
    await step(ctl, api)
    assert list((await sizes(api)).values()) == [5]
    assert condition_summary(await get(api), "Progressing") == (
        "Unknown", "DeploymentPaused", "Deployment is paused")
    d = await get(api)
    d["spec"]["paused"] = False
    await api.update(DEPLOYMENTS, d)
    await refresh(ctl, api)
    await ctl.syncer.check_paused_conditions(copy.deepcopy(
        ctl.deployments.store.get(f"{NS}/web") or {}))
    assert condition(await get(api), "Progressing")["reason"] == "DeploymentResumed"
    await roll_to_completion(ctl, api)
    assert len(await sizes(api)) == 2


# ----------------------------------------------------------------------------- recreate


async def test_recreate_removes_every_old_pod_before_the_new_replica_set(
        api: ApiClient, ctl: DeploymentController) -> None:
    await api.create(DEPLOYMENTS, deployment(strategy={"type": "Recreate"}))
    await roll_to_completion(ctl, api)
    [old] = await replica_sets(api)
    pod = await api.create(PODS, {
        "metadata": {"name": "web-old", "namespace": NS,
                     "labels": old["spec"]["template"]["metadata"]["labels"],
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                          "name": old["metadata"]["name"],
                                          "uid": old["metadata"]["uid"],
                                          "controller": True}]},
        "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}})
    await set_image(api, "nginx:2")
    await step(ctl, api)
    assert await sizes(api) == {old["metadata"]["name"]: 0}
    await settle(api)  # the old RS reports no replicas, but its pod still runs
    await step(ctl, api)
    assert len(await sizes(api)) == 1
    await api.delete(PODS, pod["metadata"]["name"], NS, grace_period_seconds=0)
    await refresh(ctl, api)
    ctl._delete_pod(pod)
    assert len(ctl.queue) == 1
    await step(ctl, api)
    by_name = await sizes(api)
    assert len(by_name) == 2 and sorted(by_name.values()) == [0, 3]


# ----------------------------------------------------------------------------- progress


async def test_no_progress_past_the_deadline_is_reported(
        api: ApiClient, ctl: DeploymentController) -> None:
    await api.create(DEPLOYMENTS, deployment(progressDeadlineSeconds=60))
    await step(ctl, api)
    await settle(api, available=False)
    await step(ctl, api)
    requeued: list[float | None] = []
    ctl.syncer.requeue = lambda _d, after: requeued.append(after)
    await step(ctl, api)  # nothing changed: a progress check is scheduled
    assert requeued and requeued[0] is not None and 0 < requeued[0] <= 61
    ctl.syncer.clock = lambda: timeutil.now() + timedelta(seconds=120)
    await step(ctl, api)
    rs_name = (await replica_sets(api))[0]["metadata"]["name"]
    assert condition_summary(await get(api), "Progressing") == (
        "False", "ProgressDeadlineExceeded", f'ReplicaSet "{rs_name}" has timed out progressing.')


async def test_replica_failures_are_propagated_and_cleared(
        api: ApiClient, ctl: DeploymentController) -> None:
    await api.create(DEPLOYMENTS, deployment())
    await step(ctl, api)
    failure = {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
               "message": "pods \"x\" is forbidden: exceeded quota",
               "lastTransitionTime": "2026-01-01T00:00:00Z"}
    await settle(api, available=False, conditions=[failure])
    await step(ctl, api)
    assert condition_summary(await get(api), "ReplicaFailure") == (
        "True", "FailedCreate", failure["message"])
    await settle(api)
    await step(ctl, api)
    assert objects.find_condition((await get(api))["status"], "ReplicaFailure") is None


# ----------------------------------------------------------------------------- ownership


async def test_matching_orphans_are_adopted_and_strays_released(
        api: ApiClient, ctl: DeploymentController) -> None:
    d = await api.create(DEPLOYMENTS, deployment())
    template = copy.deepcopy(d["spec"]["template"])
    template["metadata"]["labels"]["pod-template-hash"] = "orphan"
    await api.create(REPLICA_SETS, {
        "metadata": {"name": "web-orphan", "namespace": NS,
                     "labels": template["metadata"]["labels"]},
        "spec": {"replicas": 3, "template": template,
                 "selector": {"matchLabels": template["metadata"]["labels"]}}})
    await step(ctl, api)
    [rs] = await replica_sets(api)  # adopted, and it is the new RS: nothing created
    assert rs["metadata"]["name"] == "web-orphan"
    assert rs["metadata"]["ownerReferences"][0]["uid"] == d["metadata"]["uid"]
    rs["metadata"]["labels"] = {"app": "elsewhere"}
    await api.update(REPLICA_SETS, rs)
    await step(ctl, api)
    stray = next(r for r in await replica_sets(api) if r["metadata"]["name"] == "web-orphan")
    assert not stray["metadata"].get("ownerReferences")


def test_handlers_enqueue_the_owning_or_matching_deployment(
        ctl: DeploymentController) -> None:
    d = deployment()
    d["metadata"]["uid"] = "u1"
    ctl.deployments.store.add(d)
    owned: Obj = {"metadata": {"name": "web-1", "namespace": NS, "labels": {"app": "web"},
                          "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                               "name": "web", "uid": "u1",
                                               "controller": True}]}}
    ctl._add_replica_set(owned)
    assert len(ctl.queue) == 1
    stranger = copy.deepcopy(owned)
    stranger["metadata"]["ownerReferences"][0]["uid"] = "u2"
    orphan = {"metadata": {"name": "x", "namespace": NS, "labels": {"app": "web"}}}
    unrelated = {"metadata": {"name": "y", "namespace": NS, "labels": {"app": "db"}}}
    for obj in (stranger, orphan, unrelated):
        ctl.queue = type(ctl.queue)(name="t")
        ctl._add_replica_set(obj)
        assert len(ctl.queue) == (1 if obj is orphan else 0), obj["metadata"]["name"]
    ctl.queue = type(ctl.queue)(name="t")
    ctl._delete_replica_set(orphan)
    assert len(ctl.queue) == 0
