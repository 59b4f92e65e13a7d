"""The DaemonSet controller's sync and handlers, against a real API server; the informer
stores are seeded by the tests (nodes only live there), as upstream's controller tests do.

Intent: a DaemonSet gets one pod per node it fits (nodeSelector, node affinity, taints
against its tolerations and the ones upstream adds), each created with a required node
affinity naming its node for the scheduler to bind; nodes it stops fitting lose their pod;
failed pods are replaced, with backoff; expectations keep repeated syncs from creating
twice; a RollingUpdate stays within maxUnavailable, or surges within maxSurge and deletes
old pods only once their replacement is available; OnDelete replaces nothing by itself;
its ControllerRevisions follow the template (a rollback renumbers the old revision) and are
pruned to revisionHistoryLimit; the status counts as upstream's.
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
from kybernetes.controllers.daemonset import DaemonSetController
from kybernetes.controllers.daemonset.controller import should_ignore_node_update
from kybernetes.controllers.daemonset.util import target_node_name
from kybernetes.controllers.refmanager import controller_ref
from tests.controllers.clock import NOW, Clock

PODS = resource("", "v1", "pods")
DAEMON_SETS = resource("apps", "v1", "daemonsets")
REVISIONS = resource("apps", "v1", "controllerrevisions")
EVENTS = resource("", "v1", "events")
KEY = "default/agent"


@pytest.fixture
async def ctl(ctx: ControllerContext, clock: Clock) -> AsyncIterator[DaemonSetController]:
    controller = DaemonSetController(ctx, clock=clock)
    yield controller
    await controller.recorder.aclose()


def node(name: str, labels: dict[str, str] | None = None,
         taints: list[Obj] | None = None) -> Obj:
    obj: Obj = {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "labels": labels or {}, "resourceVersion": "1"},
                "spec": {}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    if taints:
        obj["spec"]["taints"] = taints
    return obj


def add_nodes(ctl: DaemonSetController, *nodes: Obj) -> None:
    for n in nodes:
        ctl.nodes.store.add(n)


async def make_ds(api: ApiClient, ctl: DaemonSetController, *, image: str = "agent:1",
                  strategy: Obj | None = None, history_limit: int | None = None,
                  min_ready: int = 0, **pod_spec: Any) -> Obj:
    spec: Obj = {"selector": {"matchLabels": {"app": "agent"}}, "minReadySeconds": min_ready,
                 "template": {"metadata": {"labels": {"app": "agent"}},
                              "spec": {"containers": [{"name": "a", "image": image}],
                                       **pod_spec}}}
    if strategy is not None:
        spec["updateStrategy"] = strategy
    if history_limit is not None:
        spec["revisionHistoryLimit"] = history_limit
    ds = await api.create(DAEMON_SETS, {"metadata": {"name": "agent"}, "spec": spec},
                          "default")
    ctl.daemon_sets.store.add(ds)
    return ds


async def set_image(api: ApiClient, ctl: DaemonSetController, image: str) -> Obj:
    ds = await api.get(DAEMON_SETS, "agent", "default")
    ds["spec"]["template"]["spec"]["containers"][0]["image"] = image
    ds = await api.update(DAEMON_SETS, ds, "default")
    ctl.daemon_sets.store.add(ds)
    return ds


async def catch_up(api: ApiClient, ctl: DaemonSetController, *, ready: bool = True,
                   since: datetime = NOW - timedelta(hours=1)) -> list[Obj]:
    """The informers catch up with the server; pods show as bound to their node and
    running (Ready since `since` when `ready`), as a scheduler and kubelet would have
    them. Pods already in the store keep their status."""
    known = {p["metadata"]["uid"]: p for p in ctl.pods.store.list()}
    pods = []
    for pod in (await api.list(PODS, "default")).items:
        old = known.get(pod["metadata"]["uid"])
        if old is not None and old.get("status", {}).get("phase"):
            pod["status"] = old["status"]
        else:
            conditions = [{"type": "Ready", "status": "True",
                           "lastTransitionTime": rfc3339(since)}] if ready else []
            pod["status"] = {"phase": "Running", "conditions": conditions}
        pod["spec"]["nodeName"] = target_node_name(pod)
        pods.append(pod)
    ctl.pods.store.replace(pods)
    # The handlers see what the informer would deliver: new and vanished pods.
    for pod in pods:
        if pod["metadata"]["uid"] not in known:
            ctl._add_pod(pod)
    uids = {p["metadata"]["uid"] for p in pods}
    for uid, pod in known.items():
        if uid not in uids:
            ctl._delete_pod(pod)
    ctl.revisions.store.replace((await api.list(REVISIONS, "default")).items)
    ctl.daemon_sets.store.replace((await api.list(DAEMON_SETS, "default")).items)
    return pods


def set_pod(ctl: DaemonSetController, pod: Obj, **status: Any) -> Obj:
    pod = copy.deepcopy(pod)
    pod["status"].update(status)
    ctl.pods.store.add(pod)
    return pod


async def server_pods(api: ApiClient) -> list[Obj]:
    return list((await api.list(PODS, "default")).items)


def by_node(pods: list[Obj]) -> dict[str, list[Obj]]:
    out: dict[str, list[Obj]] = {}
    for pod in pods:
        out.setdefault(str(target_node_name(pod)), []).append(pod)
    return out


async def ds_status(api: ApiClient) -> dict[str, Any]:
    return dict((await api.get(DAEMON_SETS, "agent", "default")).get("status") or {})


async def settle(api: ApiClient, ctl: DaemonSetController, *, rounds: int = 10) -> None:
    """Sync and catch up until a sync writes nothing."""
    for _ in range(rounds):
        before = sorted(p["metadata"]["uid"] for p in await server_pods(api))
        await ctl.sync(KEY)
        await catch_up(api, ctl)
        if sorted(p["metadata"]["uid"] for p in ctl.pods.store.list()) == before:
            return
    raise AssertionError("the DaemonSet did not settle")


def image_of(pod: Obj) -> str:
    return str(pod["spec"]["containers"][0]["image"])


# ----------------------------------------------------------------------------- placement


async def test_one_pod_per_eligible_node_bound_by_affinity(
        api: ApiClient, ctl: DaemonSetController) -> None:
    add_nodes(ctl, node("n1", {"role": "edge"}), node("n2", {"role": "edge"}),
              node("n3", {"role": "core"}),
              node("n4", {"role": "edge"}, [{"key": "dedicated", "value": "db",
                                             "effect": "NoSchedule"}]),
              # Cordoned: the daemon pods' automatic toleration lets them in.
              node("n5", {"role": "edge"}, [{"key": "node.kubernetes.io/unschedulable",
                                             "effect": "NoSchedule"}]))
    await make_ds(api, ctl, nodeSelector={"role": "edge"}, hostNetwork=True)
    await ctl.sync(KEY)

    pods = await server_pods(api)
    assert sorted(by_node(pods)) == ["n1", "n2", "n5"]
    for pod in pods:
        assert pod["metadata"]["generateName"] == "agent-"
        assert controller_ref(pod)["kind"] == "DaemonSet"  # type: ignore[index]
        assert "nodeName" not in pod["spec"]
        terms = pod["spec"]["affinity"]["nodeAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        assert terms == [{"matchFields": [{"key": "metadata.name", "operator": "In",
                                           "values": [target_node_name(pod)]}]}]
        tolerated = {(t["key"], t["effect"]) for t in pod["spec"]["tolerations"]}
        assert tolerated == {
            ("node.kubernetes.io/not-ready", "NoExecute"),
            ("node.kubernetes.io/unreachable", "NoExecute"),
            ("node.kubernetes.io/disk-pressure", "NoSchedule"),
            ("node.kubernetes.io/memory-pressure", "NoSchedule"),
            ("node.kubernetes.io/pid-pressure", "NoSchedule"),
            ("node.kubernetes.io/unschedulable", "NoSchedule"),
            ("node.kubernetes.io/network-unavailable", "NoSchedule")}
        labels = pod["metadata"]["labels"]
        assert labels["app"] == "agent" and labels["controller-revision-hash"]


async def test_node_affinity_terms_and_tolerations_decide(
        api: ApiClient, ctl: DaemonSetController) -> None:
    add_nodes(ctl, node("a", {"tier": "3"}), node("b", {"tier": "1"}),
              node("c", {"tier": "5"}, [{"key": "gpu", "effect": "NoSchedule"}]),
              node("d", {"tier": "9"}, [{"key": "gpu", "effect": "NoExecute"}]))
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [
            {"key": "tier", "operator": "Gt", "values": ["2"]}]}]}}}
    await make_ds(api, ctl, affinity=affinity,
                  tolerations=[{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}])
    await ctl.sync(KEY)
    assert sorted(by_node(await server_pods(api))) == ["a", "c"]
    status = await ds_status(api)
    assert status["desiredNumberScheduled"] == 2


async def test_expectations_keep_a_second_sync_from_creating_again(
        api: ApiClient, ctl: DaemonSetController) -> None:
    add_nodes(ctl, node("n1"), node("n2"))
    await make_ds(api, ctl)
    await ctl.sync(KEY)
    await ctl.sync(KEY)  # the informer has not shown the pods yet
    assert len(await server_pods(api)) == 2
    assert (await ds_status(api)).get("observedGeneration") == 1
    for pod in await server_pods(api):
        ctl._add_pod(pod)
    assert ctl.expectations.satisfied(KEY)


async def test_new_node_gets_a_pod_and_a_node_it_stops_fitting_loses_it(
        api: ApiClient, ctl: DaemonSetController) -> None:
    add_nodes(ctl, node("n1", {"run": "yes"}))
    await make_ds(api, ctl, nodeSelector={"run": "yes"})
    await settle(api, ctl)
    assert sorted(by_node(await server_pods(api))) == ["n1"]

    ds = ctl.daemon_sets.store.get(KEY)
    assert ds is not None
    new = node("n2", {"run": "yes"})
    ctl._add_node(new)
    assert len(ctl.queue) == 1
    add_nodes(ctl, new)
    await settle(api, ctl)
    assert sorted(by_node(await server_pods(api))) == ["n1", "n2"]

    relabelled = node("n1", {"run": "no"})
    relabelled["metadata"]["resourceVersion"] = "2"
    add_nodes(ctl, relabelled)
    await settle(api, ctl)
    assert sorted(by_node(await server_pods(api))) == ["n2"]
    status = await ds_status(api)
    assert (status["desiredNumberScheduled"], status["currentNumberScheduled"],
            status["numberMisscheduled"]) == (1, 1, 0)


async def test_taints_evict_only_on_no_execute(
        api: ApiClient, ctl: DaemonSetController) -> None:
    add_nodes(ctl, node("n1"), node("n2"))
    await make_ds(api, ctl)
    await settle(api, ctl)
    add_nodes(ctl, node("n1", taints=[{"key": "maint", "effect": "NoSchedule"}]),
              node("n2", taints=[{"key": "maint", "effect": "NoExecute"}]))
    await settle(api, ctl)
    # n1's pod continues running (it was there first); n2's is evicted.
    assert sorted(by_node(await server_pods(api))) == ["n1"]
    status = await ds_status(api)
    assert (status["desiredNumberScheduled"], status["numberMisscheduled"]) == (0, 1)


async def test_failed_pod_is_replaced_with_backoff(
        api: ApiClient, ctl: DaemonSetController, clock: Clock) -> None:
    add_nodes(ctl, node("n1"))
    await make_ds(api, ctl)
    await settle(api, ctl)
    [pod] = ctl.pods.store.list()
    set_pod(ctl, pod, phase="Failed")
    await ctl.sync(KEY)
    assert await server_pods(api) == []
    await ctl.recorder.flush()
    events = (await api.list(EVENTS, "default")).items
    assert any(e["reason"] == "FailedDaemonPod" and e["type"] == "Warning" for e in events)
    await catch_up(api, ctl)
    await ctl.sync(KEY)
    await catch_up(api, ctl)
    [second] = ctl.pods.store.list()
    assert second["metadata"]["uid"] != pod["metadata"]["uid"]

    # It fails too, within the 1 s backoff: kept (a sync is asked for later).
    set_pod(ctl, second, phase="Failed")
    await ctl.sync(KEY)
    assert [p["metadata"]["name"] for p in await server_pods(api)] == \
        [second["metadata"]["name"]]
    clock.now += timedelta(seconds=2)
    await ctl.sync(KEY)
    assert await server_pods(api) == []


async def test_extra_pods_on_a_node_are_pruned_to_the_oldest(
        api: ApiClient, ctl: DaemonSetController) -> None:
    add_nodes(ctl, node("n1"))
    ds = await make_ds(api, ctl)
    await settle(api, ctl)
    [first] = ctl.pods.store.list()
    extra = copy.deepcopy(first)
    for key in ("name", "uid", "resourceVersion", "creationTimestamp"):
        extra["metadata"].pop(key, None)
    extra["spec"].pop("nodeName")
    extra.pop("status")
    extra = await api.create(PODS, extra, "default")
    await catch_up(api, ctl)
    later = ctl.pods.store.get(f"default/{extra['metadata']['name']}")
    assert later is not None
    later = copy.deepcopy(later)
    later["metadata"]["creationTimestamp"] = "2099-01-01T00:00:00Z"
    ctl.pods.store.add(later)
    assert controller_ref(extra)["uid"] == ds["metadata"]["uid"]  # type: ignore[index]
    await ctl.sync(KEY)
    names = [p["metadata"]["name"] for p in await server_pods(api)]
    assert names == [first["metadata"]["name"]]


# ----------------------------------------------------------------------------- updates


async def test_rolling_update_stays_within_max_unavailable(
        api: ApiClient, ctl: DaemonSetController) -> None:
    add_nodes(ctl, *(node(f"n{i}") for i in range(5)))
    await make_ds(api, ctl, strategy={"type": "RollingUpdate",
                                      "rollingUpdate": {"maxUnavailable": 2}})
    await settle(api, ctl)
    await set_image(api, ctl, "agent:2")

    for _ in range(10):
        await ctl.sync(KEY)
        pods = await server_pods(api)
        assert len(pods) >= 3  # at most 2 of 5 nodes without an available pod
        await catch_up(api, ctl)
        if all(image_of(p) == "agent:2" for p in pods) and len(pods) == 5:
            break
    else:
        raise AssertionError("the update did not finish")
    await ctl.sync(KEY)
    status = await ds_status(api)
    assert status["updatedNumberScheduled"] == 5 and status["numberAvailable"] == 5
    assert status["observedGeneration"] == 2


async def test_rolling_update_never_deletes_more_than_max_unavailable(
        api: ApiClient, ctl: DaemonSetController) -> None:
    add_nodes(ctl, *(node(f"n{i}") for i in range(4)))
    await make_ds(api, ctl)  # defaulted: maxUnavailable 1, maxSurge 0
    await settle(api, ctl)
    await set_image(api, ctl, "agent:2")
    await ctl.sync(KEY)
    assert len(await server_pods(api)) == 3
    await catch_up(api, ctl)
    await ctl.sync(KEY)  # the replacement is created
    pods = await catch_up(api, ctl, ready=False)
    new = [p for p in pods if image_of(p) == "agent:2"]
    assert len(new) == 1 and len(pods) == 4
    set_pod(ctl, new[0], conditions=[])
    await ctl.sync(KEY)  # the new pod is not available: nothing more goes
    assert len(await server_pods(api)) == 4


async def test_surge_creates_beside_and_deletes_once_available(
        api: ApiClient, ctl: DaemonSetController, clock: Clock) -> None:
    add_nodes(ctl, *(node(f"n{i}") for i in range(3)))
    await make_ds(api, ctl, min_ready=10, strategy={
        "type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}})
    await settle(api, ctl)
    await set_image(api, ctl, "agent:2")
    await ctl.sync(KEY)
    pods = await catch_up(api, ctl, ready=True, since=clock.now)
    assert len(pods) == 4
    [new] = [p for p in pods if image_of(p) == "agent:2"]
    surged = str(target_node_name(new))
    assert len(by_node(pods)[surged]) == 2
    await ctl.sync(KEY)  # ready but not yet available for 10 s: both stay
    assert len(await server_pods(api)) == 4
    clock.now += timedelta(seconds=11)
    await ctl.sync(KEY)
    pods = await server_pods(api)
    assert len(pods) == 3
    assert [image_of(p) for p in by_node(pods)[surged]] == ["agent:2"]


async def test_on_delete_replaces_only_deleted_pods(
        api: ApiClient, ctl: DaemonSetController) -> None:
    add_nodes(ctl, node("n1"), node("n2"))
    await make_ds(api, ctl, strategy={"type": "OnDelete"})
    await settle(api, ctl)
    await set_image(api, ctl, "agent:2")
    await settle(api, ctl)
    pods = await server_pods(api)
    assert [image_of(p) for p in pods] == ["agent:1", "agent:1"]
    assert (await ds_status(api)).get("updatedNumberScheduled") is None
    await api.delete(PODS, pods[0]["metadata"]["name"], "default")
    await catch_up(api, ctl)
    await settle(api, ctl)
    assert sorted(image_of(p) for p in await server_pods(api)) == ["agent:1", "agent:2"]
    assert (await ds_status(api))["updatedNumberScheduled"] == 1


# ----------------------------------------------------------------------------- history


async def test_revisions_follow_the_template_and_a_rollback_renumbers(
        api: ApiClient, ctl: DaemonSetController) -> None:
    add_nodes(ctl, node("n1"))
    await make_ds(api, ctl, strategy={"type": "OnDelete"})
    await settle(api, ctl)
    [first] = (await api.list(REVISIONS, "default")).items
    assert first["revision"] == 1
    assert first["metadata"]["name"] == \
        f"agent-{first['metadata']['labels']['controller-revision-hash']}"
    assert first["data"]["spec"]["template"]["$patch"] == "replace"
    [pod] = await server_pods(api)
    assert pod["metadata"]["labels"]["controller-revision-hash"] == \
        first["metadata"]["labels"]["controller-revision-hash"]

    await set_image(api, ctl, "agent:2")
    await settle(api, ctl)
    revisions = {r["metadata"]["name"]: r["revision"]
                 for r in (await api.list(REVISIONS, "default")).items}
    assert sorted(revisions.values()) == [1, 2]
    await set_image(api, ctl, "agent:1")  # back to the first template
    await settle(api, ctl)
    revisions = {r["metadata"]["name"]: r["revision"]
                 for r in (await api.list(REVISIONS, "default")).items}
    assert revisions[first["metadata"]["name"]] == 3
    assert sorted(revisions.values()) == [2, 3]


async def test_old_revisions_pruned_to_the_limit_but_not_while_pods_use_them(
        api: ApiClient, ctl: DaemonSetController) -> None:
    add_nodes(ctl, node("n1"))
    await make_ds(api, ctl, strategy={"type": "OnDelete"}, history_limit=1)
    await settle(api, ctl)
    for image in ("agent:2", "agent:3", "agent:4"):
        await set_image(api, ctl, image)
        await settle(api, ctl)
    # OnDelete: the pod still runs revision 1, kept beside the current one; the limit of
    # one old revision is counted with it.
    [pod] = await server_pods(api)
    kept = {r["metadata"]["labels"]["controller-revision-hash"]: r["revision"]
            for r in (await api.list(REVISIONS, "default")).items}
    assert sorted(kept.values()) == [1, 4]
    assert kept[pod["metadata"]["labels"]["controller-revision-hash"]] == 1


async def test_status_counts(api: ApiClient, ctl: DaemonSetController, clock: Clock) -> None:
    add_nodes(ctl, node("n1"), node("n2"), node("n3"))
    await make_ds(api, ctl, min_ready=30)
    await settle(api, ctl)
    pods = sorted(ctl.pods.store.list(), key=lambda p: str(target_node_name(p)))
    set_pod(ctl, pods[0], conditions=[{"type": "Ready", "status": "True",
                                       "lastTransitionTime": rfc3339(clock.now)}])
    set_pod(ctl, pods[1], conditions=[])
    await ctl.sync(KEY)
    status = await ds_status(api)
    assert {k: status.get(k) for k in (
        "desiredNumberScheduled", "currentNumberScheduled", "numberReady",
        "numberAvailable", "updatedNumberScheduled", "numberUnavailable",
        "numberMisscheduled", "observedGeneration")} == {
        "desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2,
        "numberAvailable": 1, "updatedNumberScheduled": 3, "numberUnavailable": 2,
        "numberMisscheduled": 0, "observedGeneration": 1}


async def test_selecting_everything_is_refused_with_an_event(
        api: ApiClient, ctl: DaemonSetController) -> None:
    add_nodes(ctl, node("n1"))
    ds = await make_ds(api, ctl)
    everything = copy.deepcopy(ds)
    everything["spec"]["selector"] = {}
    ctl.daemon_sets.store.add(everything)
    await ctl.sync(KEY)
    await ctl.recorder.flush()
    assert await server_pods(api) == []
    events = (await api.list(EVENTS, "default")).items
    assert [e["reason"] for e in events] == ["SelectingAll"]


# ----------------------------------------------------------------------------- handlers


def test_heartbeats_do_not_wake_daemon_sets() -> None:
    old = node("n1")
    beat = copy.deepcopy(old)
    beat["metadata"]["resourceVersion"] = "2"
    beat["status"]["conditions"][0]["lastHeartbeatTime"] = rfc3339(NOW)
    assert should_ignore_node_update(old, beat)
    not_ready = copy.deepcopy(beat)
    not_ready["status"]["conditions"][0]["status"] = "False"
    assert not should_ignore_node_update(old, not_ready)
    relabelled = copy.deepcopy(beat)
    relabelled["metadata"]["labels"] = {"x": "y"}
    assert not should_ignore_node_update(old, relabelled)


async def test_orphan_pods_are_adopted_and_stray_ones_released(
        api: ApiClient, ctl: DaemonSetController) -> None:
    add_nodes(ctl, node("n1"))
    # OnDelete: a RollingUpdate would replace the adopted pod (not of the current revision).
    ds = await make_ds(api, ctl, strategy={"type": "OnDelete"})
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchFields": [
            {"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]}}}
    orphan = await api.create(PODS, {
        "metadata": {"name": "orphan", "labels": {"app": "agent"}},
        "spec": {"affinity": affinity, "containers": [{"name": "a", "image": "agent:1"}]}},
        "default")
    await catch_up(api, ctl)
    await ctl.sync(KEY)
    [adopted] = await server_pods(api)
    assert adopted["metadata"]["name"] == "orphan"
    assert controller_ref(adopted)["uid"] == ds["metadata"]["uid"]  # type: ignore[index]

    relabelled = await api.patch(PODS, "orphan", {"metadata": {"labels": {"app": "other"}}},
                                 "default", patch_type="merge")
    assert relabelled["metadata"]["uid"] == orphan["metadata"]["uid"]
    await catch_up(api, ctl)
    await ctl.sync(KEY)
    pods = {p["metadata"]["name"]: p for p in await server_pods(api)}
    assert controller_ref(pods.pop("orphan")) is None
    assert len(pods) == 1  # n1 gets a pod of the DaemonSet again


async def test_node_events_wake_only_the_daemon_sets_they_concern(
        api: ApiClient, ctl: DaemonSetController) -> None:
    await make_ds(api, ctl, nodeSelector={"run": "yes"})
    old = node("n1", {"run": "no"})
    ctl._add_node(old)
    assert len(ctl.queue) == 0
    beat = copy.deepcopy(old)
    beat["metadata"]["resourceVersion"] = "2"
    ctl._update_node(old, beat)
    assert len(ctl.queue) == 0
    selected = copy.deepcopy(beat)
    selected["metadata"]["labels"] = {"run": "yes"}
    ctl._update_node(beat, selected)
    assert len(ctl.queue) == 1
