"""The taint eviction controller against a real API server in this process: the informer
stores are seeded by the tests, the clock is the test's, and due evictions are run by
calling `sync` with the key the controller queued."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from kybernetes.client import ApiClient, NotFoundError
from kybernetes.client.rest import Obj
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.tainteviction import (
    NODES,
    PODS,
    TaintEvictionController,
    matching_tolerations,
    min_toleration_seconds,
)
from tests.controllers.clock import MonotonicClock

NS = "default"
UNREACHABLE = {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}


@pytest.fixture
def clock() -> MonotonicClock:
    return MonotonicClock()


@pytest.fixture
async def ctl(ctx: ControllerContext,
              clock: MonotonicClock) -> AsyncIterator[TaintEvictionController]:
    controller = TaintEvictionController(ctx, clock=clock)
    try:
        yield controller
    finally:
        await controller.recorder.aclose()


async def make_node(api: ApiClient, ctl: TaintEvictionController, taints: list[Obj]) -> Obj:
    node = await api.create(NODES, {"apiVersion": "v1", "kind": "Node",
                                    "metadata": {"name": "n1"}, "spec": {"taints": taints}})
    ctl.nodes.store.add(node)
    return node


async def make_pod(api: ApiClient, ctl: TaintEvictionController, name: str,
                   tolerations: list[Obj] | None = None) -> Obj:
    spec: dict[str, Any] = {"nodeName": "n1", "containers": [{"name": "c", "image": "pause"}]}
    if tolerations is not None:
        spec["tolerations"] = tolerations
    pod = await api.create(PODS, {"apiVersion": "v1", "kind": "Pod",
                                  "metadata": {"name": name}, "spec": spec}, NS)
    ctl.pods.store.add(pod)
    return pod


def toleration(seconds: int | None, key: str = UNREACHABLE["key"]) -> Obj:
    tol: Obj = {"key": key, "operator": "Exists", "effect": "NoExecute"}
    if seconds is not None:
        tol["tolerationSeconds"] = seconds
    return tol


async def evicted(api: ApiClient, name: str) -> Obj | None:
    """The pod if it is being deleted, None if it is gone; fails if it is untouched."""
    try:
        pod = await api.get(PODS, name, NS)
    except NotFoundError:
        return None
    assert pod["metadata"].get("deletionTimestamp"), f"{name} was not evicted"
    return pod


def test_toleration_matching() -> None:
    taints = [UNREACHABLE, {"key": "k", "value": "v", "effect": "NoExecute"}]
    ok, used = matching_tolerations(taints, [
        toleration(30), {"key": "k", "operator": "Equal", "value": "v"}])
    assert ok and len(used) == 2
    assert min_toleration_seconds(used) == 30
    assert matching_tolerations(taints, [toleration(30)]) == (False, [])
    assert min_toleration_seconds([toleration(None)]) == -1
    assert min_toleration_seconds([toleration(0), toleration(None)]) == 0


async def test_untolerated_taint_evicts_now_with_disruption_target(
        api: ApiClient, ctl: TaintEvictionController) -> None:
    await make_node(api, ctl, [{"key": "dedicated", "value": "x", "effect": "NoExecute"}])
    await make_pod(api, ctl, "p1", tolerations=[])
    ctl.sync_node("n1")
    assert "default/p1" in ctl.scheduled
    await ctl.sync("evict/default/p1")
    pod = await evicted(api, "p1")
    assert pod is not None  # bound to a node: terminating for its grace period
    target = next(c for c in pod["status"]["conditions"] if c["type"] == "DisruptionTarget")
    assert (target["status"], target["reason"], target["message"]) == (
        "True", "DeletionByTaintManager", "Taint manager: deleting due to NoExecute taint")
    assert ctl.scheduled == {}


async def test_toleration_seconds_delay_the_eviction(
        api: ApiClient, ctl: TaintEvictionController, clock: MonotonicClock) -> None:
    await make_node(api, ctl, [UNREACHABLE])
    await make_pod(api, ctl, "p1", tolerations=[toleration(30)])
    await make_pod(api, ctl, "forever", tolerations=[toleration(None)])
    ctl.sync_node("n1")
    assert set(ctl.scheduled) == {"default/p1"}
    clock.now += 10
    await ctl.sync("evict/default/p1")  # not due yet: nothing happens
    assert "deletionTimestamp" not in (await api.get(PODS, "p1", NS))["metadata"]
    # Processing the pod again does not postpone its eviction.
    ctl.sync_pod("default/p1")
    assert ctl.scheduled["default/p1"].due == 1030.0
    clock.now += 20
    await ctl.sync("evict/default/p1")
    assert await evicted(api, "p1") is not None
    assert "deletionTimestamp" not in (await api.get(PODS, "forever", NS))["metadata"]


async def test_taint_removed_cancels_the_eviction(
        api: ApiClient, ctl: TaintEvictionController, clock: MonotonicClock) -> None:
    node = await make_node(api, ctl, [UNREACHABLE])
    await make_pod(api, ctl, "p1", tolerations=[toleration(30)])
    ctl.sync_node("n1")
    assert "default/p1" in ctl.scheduled
    node["spec"]["taints"] = []
    ctl.nodes.store.add(node)
    ctl.sync_node("n1")
    assert ctl.scheduled == {}
    clock.now += 60
    await ctl.sync("evict/default/p1")
    assert "deletionTimestamp" not in (await api.get(PODS, "p1", NS))["metadata"]


async def test_default_tolerations_from_admission(
        api: ApiClient, ctl: TaintEvictionController) -> None:
    """Pods created through the API server tolerate unreachable for 300 s by default."""
    await make_node(api, ctl, [UNREACHABLE])
    await make_pod(api, ctl, "p1")
    ctl.sync_node("n1")
    entry = ctl.scheduled["default/p1"]
    assert entry.due - entry.created == 300


def test_handlers_enqueue_what_changed(ctx: ControllerContext, clock: MonotonicClock) -> None:
    ctl = TaintEvictionController(ctx, clock=clock)
    node = {"metadata": {"name": "n1"}, "spec": {"taints": [UNREACHABLE]}}
    ctl._node_updated(node, {**node, "status": {"phase": "x"}})
    assert len(ctl.queue) == 0
    ctl._node_updated(node, {"metadata": {"name": "n1"}, "spec": {}})
    assert len(ctl.queue) == 1
    ctl._pod_added({"metadata": {"name": "p", "namespace": NS}, "spec": {}})
    assert len(ctl.queue) == 1  # unbound pods are not this controller's business
