"""The disruption controller's PDB status against a real API server in this process; the
informer stores are seeded by the tests (as upstream's controller tests do) and writes go
to the API server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kybernetes.api.timeutil import rfc3339
from kybernetes.client import ApiClient
from kybernetes.client.rest import Obj
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.disruption import PDBS, PODS, DisruptionController

NS = "default"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def ctl(ctx: ControllerContext) -> AsyncIterator[DisruptionController]:
    controller = DisruptionController(ctx, clock=lambda: NOW)
    try:
        yield controller
    finally:
        await controller.recorder.aclose()


async def make_pdb(api: ApiClient, ctl: DisruptionController, **spec: Any) -> Obj:
    pdb = await api.create(PDBS, {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "pdb"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec}}, NS)
    ctl.pdbs.store.add(pdb)
    return pdb


def make_pod(ctl: DisruptionController, name: str, *, ready: bool = True,
             owner: Obj | None = None, deleting: bool = False,
             labels: dict[str, str] | None = None) -> Obj:
    meta: dict[str, Any] = {"name": name, "namespace": NS, "uid": f"uid-{name}",
                            "labels": labels if labels is not None else {"app": "web"}}
    if owner is not None:
        meta["ownerReferences"] = [owner]
    if deleting:
        meta["deletionTimestamp"] = rfc3339(NOW)
    pod = {"metadata": meta, "status": {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True" if ready else "False"}]}}
    ctl.pods.store.add(pod)
    return pod


async def synced_status(api: ApiClient, ctl: DisruptionController) -> dict[str, Any]:
    await ctl.sync(f"{NS}/pdb")
    pdb = await api.get(PDBS, "pdb", NS)
    status: dict[str, Any] = pdb["status"]
    return status


def allowed_condition(status: dict[str, Any]) -> tuple[str, str]:
    cond = next(c for c in status["conditions"] if c["type"] == "DisruptionAllowed")
    return cond["status"], cond["reason"]


async def test_min_available_int_counts_matching_ready_pods(
        api: ApiClient, ctl: DisruptionController) -> None:
    pdb = await make_pdb(api, ctl, minAvailable=2)
    for i in range(3):
        make_pod(ctl, f"p{i}")
    make_pod(ctl, "unready", ready=False)
    make_pod(ctl, "going", deleting=True)
    make_pod(ctl, "other", labels={"app": "db"})
    status = await synced_status(api, ctl)
    assert (status["currentHealthy"], status["desiredHealthy"], status["expectedPods"],
            status["disruptionsAllowed"]) == (3, 2, 5, 1)
    assert status["observedGeneration"] == pdb["metadata"]["generation"]
    assert allowed_condition(status) == ("True", "SufficientPods")


async def test_insufficient_pods(api: ApiClient, ctl: DisruptionController) -> None:
    await make_pdb(api, ctl, minAvailable=3)
    make_pod(ctl, "p0")
    make_pod(ctl, "p1")
    status = await synced_status(api, ctl)
    assert status["disruptionsAllowed"] == 0
    assert allowed_condition(status) == ("False", "InsufficientPods")


async def test_no_pods_allows_no_disruption(api: ApiClient, ctl: DisruptionController) -> None:
    await make_pdb(api, ctl, minAvailable=0)
    status = await synced_status(api, ctl)
    assert (status["expectedPods"], status["disruptionsAllowed"]) == (0, 0)


async def test_max_unavailable_percent_uses_the_deployment_scale(
        api: ApiClient, ctl: DisruptionController) -> None:
    deployment = await api.create(("apps", "v1", "deployments"), {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "pause"}]}}}},
        NS)
    dmeta = deployment["metadata"]
    rs = await api.create(("apps", "v1", "replicasets"), {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "web-1", "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": dmeta["uid"],
             "controller": True}]},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "pause"}]}}}},
        NS)
    owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1",
             "uid": rs["metadata"]["uid"], "controller": True}
    for i in range(4):
        make_pod(ctl, f"p{i}", owner=owner)
    # 25% of the Deployment's 4 replicas, rounded up: 1 may be unavailable.
    await make_pdb(api, ctl, maxUnavailable="25%")
    status = await synced_status(api, ctl)
    assert (status["expectedPods"], status["desiredHealthy"], status["currentHealthy"],
            status["disruptionsAllowed"]) == (4, 3, 4, 1)


async def test_min_available_percent_with_unmanaged_pods(
        api: ApiClient, ctl: DisruptionController) -> None:
    await make_pdb(api, ctl, minAvailable="50%")
    make_pod(ctl, "bare")
    status = await synced_status(api, ctl)
    # Unmanaged pods add nothing to the expected count.
    assert (status["expectedPods"], status["desiredHealthy"], status["disruptionsAllowed"]) \
        == (0, 0, 0)


async def test_missing_controller_fails_safe(api: ApiClient, ctl: DisruptionController) -> None:
    await make_pdb(api, ctl, maxUnavailable=1)
    make_pod(ctl, "p0", owner={"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "gone",
                               "uid": "nope", "controller": True})
    status = await synced_status(api, ctl)
    cond = next(c for c in status["conditions"] if c["type"] == "DisruptionAllowed")
    assert (cond["status"], cond["reason"], cond["message"]) == (
        "False", "SyncFailed", 'found no controllers for pod "p0"')
    assert status["disruptionsAllowed"] == 0


async def test_disrupted_pods_are_not_healthy_until_they_expire(
        api: ApiClient, ctl: DisruptionController) -> None:
    pdb = await make_pdb(api, ctl, minAvailable=1)
    for i in range(3):
        make_pod(ctl, f"p{i}")
    pdb["status"] = {"disruptedPods": {"p0": rfc3339(NOW - timedelta(seconds=30)),
                                       "p1": rfc3339(NOW - timedelta(minutes=5)),
                                       "gone": rfc3339(NOW)}}
    ctl.pdbs.store.add(await api.update_status(PDBS, pdb))
    status = await synced_status(api, ctl)
    # p0's eviction is recent: not counted; p1's expired: counted again and dropped.
    assert status["disruptedPods"] == {"p0": rfc3339(NOW - timedelta(seconds=30))}
    assert (status["currentHealthy"], status["disruptionsAllowed"]) == (2, 1)
    assert ctl.queue.waiting == 1  # rechecked when p0's entry expires


async def test_pod_events_enqueue_matching_budgets(
        api: ApiClient, ctl: DisruptionController) -> None:
    await make_pdb(api, ctl, minAvailable=1)
    ctl._pod_changed(make_pod(ctl, "other", labels={"app": "db"}))
    assert len(ctl.queue) == 0
    ctl._pod_changed(make_pod(ctl, "p0"))
    assert len(ctl.queue) == 1


async def test_unchanged_status_is_not_written(api: ApiClient,
                                               ctl: DisruptionController) -> None:
    await make_pdb(api, ctl, minAvailable=1)
    make_pod(ctl, "p0")
    await ctl.sync(f"{NS}/pdb")
    written = await api.get(PDBS, "pdb", NS)
    ctl.pdbs.store.add(written)
    await ctl.sync(f"{NS}/pdb")
    again = await api.get(PDBS, "pdb", NS)
    assert again["metadata"]["resourceVersion"] == written["metadata"]["resourceVersion"]



async def test_stale_disruption_target_is_reset(api: ApiClient, ctl: DisruptionController,
                                                ctx: ControllerContext) -> None:
    pod = await api.create(PODS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                                  "spec": {"containers": [{"name": "c", "image": "pause"}]}},
                           NS)
    pod["status"] = {"phase": "Running", "conditions": [
        {"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI",
         "message": "Eviction API: evicting",
         "lastTransitionTime": rfc3339(NOW - timedelta(seconds=30))}]}
    pod = await api.update_status(PODS, pod)
    assert ctl.stale_disruption_condition(pod, NOW) == (True, 90.0)
    ctl._pod_changed(pod)
    assert ctl.queue.waiting == 1  # looked at again when it goes stale
    await ctl.sync(f"pod:{NS}/p")  # not stale yet: untouched
    current = await api.get(PODS, "p", NS)
    assert current["status"]["conditions"][0]["status"] == "True"

    late = DisruptionController(ctx, clock=lambda: NOW + timedelta(minutes=2))
    try:
        await late.sync(f"pod:{NS}/p")
    finally:
        await late.recorder.aclose()
    condition = (await api.get(PODS, "p", NS))["status"]["conditions"][0]
    assert (condition["type"], condition["status"]) == ("DisruptionTarget", "False")
    assert "reason" not in condition


def test_disruption_by_the_kubelet_or_of_terminating_pods_is_never_stale() -> None:
    old = rfc3339(NOW - timedelta(hours=1))
    kubelet = {"metadata": {}, "status": {"conditions": [
        {"type": "DisruptionTarget", "status": "True", "reason": "TerminationByKubelet",
         "lastTransitionTime": old}]}}
    deleting = {"metadata": {"deletionTimestamp": old}, "status": {"conditions": [
        {"type": "DisruptionTarget", "status": "True", "lastTransitionTime": old}]}}
    for pod in (kubelet, deleting):
        assert DisruptionController.stale_disruption_condition(pod, NOW) == (False, 0.0)
