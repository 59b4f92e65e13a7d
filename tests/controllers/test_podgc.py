"""PodGC against a real API server (stores seeded by the test).

Intent: terminated pods beyond the threshold are deleted oldest first (evicted ones
before the rest); pods bound to a node that is gone are marked Failed with the
DisruptionTarget condition and deleted, but only after the node has been missing for the
quarantine period and a live read confirms it; terminating pods that were never scheduled
are deleted; everything else is left alone.
"""

from __future__ import annotations

from typing import Any

import pytest

from kybernetes.client import ApiClient, NotFoundError, resource
from kybernetes.client.rest import Obj
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.podgc import PodGCController
from tests.controllers.clock import MonotonicClock

PODS = resource("", "v1", "pods")
NODES = resource("", "v1", "nodes")


@pytest.fixture
def clock() -> MonotonicClock:
    return MonotonicClock()


async def make_pod(api: ApiClient, name: str, *, node: str = "", phase: str = "Running",
                   reason: str = "", finalizer: bool = False) -> Obj:
    meta: dict[str, Any] = {"name": name}
    if finalizer:
        meta["finalizers"] = ["example.com/hold"]
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox"}]}
    if node:
        spec["nodeName"] = node
    await api.create(PODS, {"metadata": meta, "spec": spec}, "default")
    status: dict[str, Any] = {"phase": phase}
    if reason:
        status["reason"] = reason
    return await api.patch(PODS, name, {"status": status}, "default", subresource="status")


async def names(api: ApiClient) -> list[str]:
    return sorted(p["metadata"]["name"] for p in (await api.list(PODS, "default")).items)


async def seed(api: ApiClient, ctl: PodGCController) -> None:
    ctl.pods.store.replace((await api.list(PODS)).items)
    ctl.nodes.store.replace((await api.list(NODES)).items)


async def test_terminated_pods_beyond_the_threshold_go_evicted_and_oldest_first(
        api: ApiClient, ctx: ControllerContext, clock: MonotonicClock) -> None:
    ctl = PodGCController(ctx, terminated_pod_threshold=2, clock=clock)
    await make_pod(api, "old", phase="Succeeded")
    await make_pod(api, "middle", phase="Failed")
    await make_pod(api, "new", phase="Succeeded")
    await make_pod(api, "evicted", phase="Failed", reason="Evicted")
    await make_pod(api, "running")
    await seed(api, ctl)
    pods = ctl.pods.store.list()
    # Same-second creation times: the name breaks the tie, as upstream's sort does.
    for pod, when in zip(sorted(pods, key=lambda p: ["old", "middle", "new", "evicted",
                                                     "running"].index(
                                    p["metadata"]["name"])),
                         range(5), strict=True):
        pod["metadata"]["creationTimestamp"] = f"2026-11-23T12:00:0{when}Z"
    await ctl.gc()
    assert await names(api) == ["middle", "new", "running"]


async def test_pods_of_a_deleted_node_go_after_the_quarantine(
        api: ApiClient, ctx: ControllerContext, clock: MonotonicClock) -> None:
    ctl = PodGCController(ctx, clock=clock)
    await api.create(NODES, {"metadata": {"name": "alive"}})
    await make_pod(api, "on-alive", node="alive")
    await make_pod(api, "orphan", node="gone", finalizer=True)
    await seed(api, ctl)
    await ctl.gc()
    clock.now += 39
    await ctl.gc()
    assert await names(api) == ["on-alive", "orphan"]
    clock.now += 2
    await ctl.gc()
    orphan = await api.get(PODS, "orphan", "default")
    # Its finalizer holds it: marked Failed and deleted, with upstream's condition.
    assert orphan["metadata"]["deletionTimestamp"]
    assert orphan["status"]["phase"] == "Failed"
    [condition] = [c for c in orphan["status"]["conditions"]
                   if c["type"] == "DisruptionTarget"]
    assert (condition["status"], condition["reason"], condition["message"]) == (
        "True", "DeletionByPodGC", "PodGC: node no longer exists")
    assert (await api.get(PODS, "on-alive", "default"))["status"]["phase"] == "Running"


async def test_a_node_the_cache_lacks_but_the_server_has_is_not_orphaning(
        api: ApiClient, ctx: ControllerContext, clock: MonotonicClock) -> None:
    ctl = PodGCController(ctx, clock=clock)
    await make_pod(api, "bound", node="late")
    await seed(api, ctl)
    await api.create(NODES, {"metadata": {"name": "late"}})  # the cache has not seen it
    await ctl.gc()
    clock.now += 41
    await ctl.gc()
    assert await names(api) == ["bound"]


async def test_unscheduled_terminating_pods_are_deleted(
        api: ApiClient, ctx: ControllerContext, clock: MonotonicClock) -> None:
    ctl = PodGCController(ctx, clock=clock)
    await make_pod(api, "stuck", phase="Pending", finalizer=True)
    await make_pod(api, "waiting", phase="Pending")
    await api.delete(PODS, "stuck", "default")
    await seed(api, ctl)
    await ctl.gc()
    stuck = await api.get(PODS, "stuck", "default")
    assert stuck["status"]["phase"] == "Failed"
    assert stuck["metadata"]["deletionGracePeriodSeconds"] == 0
    await api.patch(PODS, "stuck", {"metadata": {"finalizers": None}}, "default")
    with pytest.raises(NotFoundError):
        await api.get(PODS, "stuck", "default")
    assert await names(api) == ["waiting"]
