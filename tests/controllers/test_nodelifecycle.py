"""The node lifecycle controller against a real API server in this process: the informer
stores are seeded by the tests (refreshed from the API after the controller's writes, as
its informers would be), and the clock is the test's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kybernetes.api.timeutil import rfc3339
from kybernetes.client import ApiClient
from kybernetes.client.rest import Obj
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.nodelifecycle import (
    LEASES,
    NODES,
    PODS,
    NodeLifecycleController,
    node_condition,
)
from kybernetes.controllers.nodezones import ZoneState, compute_zone_state, zone_key, zone_qps
from kybernetes.controllers.tainteviction import TaintEvictionController
from tests.controllers.clock import Clock

NS = "default"
START = datetime(2026, 1, 1, tzinfo=UTC)
GRACE = 40.0


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
async def ctl(ctx: ControllerContext, clock: Clock) -> AsyncIterator[NodeLifecycleController]:
    controller = NodeLifecycleController(ctx, node_monitor_grace_period=GRACE,
                                         node_startup_grace_period=60, clock=clock)
    try:
        yield controller
    finally:
        await controller.recorder.aclose()


async def make_node(api: ApiClient, ctl: NodeLifecycleController, *, name: str = "n1",
                    ready: str | None = "True", unschedulable: bool = False,
                    labels: dict[str, str] | None = None) -> Obj:
    node = await api.create(NODES, {"apiVersion": "v1", "kind": "Node",
                                    "metadata": {"name": name, "labels": labels or {}},
                                    "spec": {"unschedulable": unschedulable}})
    if ready is not None:
        node["status"] = {"conditions": [
            {"type": "Ready", "status": ready, "reason": "KubeletReady", "message": "ok",
             "lastHeartbeatTime": rfc3339(START), "lastTransitionTime": rfc3339(START)},
            {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory",
             "message": "ok", "lastHeartbeatTime": rfc3339(START),
             "lastTransitionTime": rfc3339(START)}]}
        node = await api.update_status(NODES, node)
    ctl.nodes.store.add(node)
    return node


async def renew_lease(api: ApiClient, ctl: NodeLifecycleController, when: datetime,
                      name: str = "n1") -> None:
    renew = when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    try:
        lease = await api.get(LEASES, name, "kube-node-lease")
        lease["spec"]["renewTime"] = renew
        lease = await api.update(LEASES, lease)
    except Exception:
        lease = await api.create(LEASES, {
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": 40,
                     "renewTime": renew}}, "kube-node-lease")
    ctl.leases.store.add(lease)


async def make_ready_pod(api: ApiClient, ctl: NodeLifecycleController, name: str) -> Obj:
    pod = await api.create(PODS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                                  "spec": {"nodeName": "n1",
                                           "containers": [{"name": "c", "image": "pause"}]}},
                           NS)
    pod["status"] = {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": rfc3339(START)}]}
    pod = await api.update_status(PODS, pod)
    ctl.pods.store.add(pod)
    return pod


async def refresh(api: ApiClient, ctl: NodeLifecycleController, name: str = "n1") -> Obj:
    """What the node informer would deliver after the controller's writes."""
    node = await api.get(NODES, name)
    ctl.nodes.store.add(node)
    return node


async def healthy_neighbour(api: ApiClient, ctl: NodeLifecycleController, clock: Clock,
                            name: str = "n2") -> None:
    """A Ready node renewing its Lease, so n1's zone is not fully disrupted."""
    if ctl.nodes.store.get(name) is None:
        await make_node(api, ctl, name=name)
    await renew_lease(api, ctl, clock.now, name)


async def monitor(api: ApiClient, ctl: NodeLifecycleController, clock: Clock) -> None:
    """One monitor pass (n2 alive), then the tainting pass, with fresh caches."""
    await healthy_neighbour(api, ctl, clock)
    await ctl.monitor_node_health()
    await refresh(api, ctl)
    await ctl.do_no_execute_tainting_pass()


def taints(node: Obj) -> set[tuple[str, str]]:
    return {(t["key"], t["effect"]) for t in node["spec"].get("taints", [])}


async def test_silent_node_goes_unknown_then_unreachable(
        api: ApiClient, ctl: NodeLifecycleController, clock: Clock) -> None:
    await make_node(api, ctl)
    await renew_lease(api, ctl, START)
    await make_ready_pod(api, ctl, "p1")
    await monitor(api, ctl, clock)
    assert node_condition(await refresh(api, ctl), "Ready")["status"] == "True"  # type: ignore[index]

    clock.advance(GRACE + 1)
    await monitor(api, ctl, clock)
    node = await refresh(api, ctl)
    ready = node_condition(node, "Ready")
    assert ready is not None
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.")
    assert ready["lastTransitionTime"] == rfc3339(clock.now)
    assert ready["lastHeartbeatTime"] == rfc3339(START)
    memory = node_condition(node, "MemoryPressure")
    assert memory is not None and memory["status"] == "Unknown"
    never = node_condition(node, "DiskPressure")
    assert never is not None and (never["reason"], never["message"]) == (
        "NodeStatusNeverUpdated", "Kubelet never posted node status.")
    pod = await api.get(PODS, "p1", NS)
    assert next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")["status"] \
        == "False"
    assert taints(node) == set()  # tainted on the next pass, as upstream

    clock.advance(5)
    await monitor(api, ctl, clock)
    node = await refresh(api, ctl)
    assert taints(node) == {("node.kubernetes.io/unreachable", "NoExecute")}
    assert node["spec"]["taints"][0]["timeAdded"] == rfc3339(clock.now)

    # The NoSchedule pass follows the condition.
    await ctl.sync("node/n1")
    assert taints(await refresh(api, ctl)) == {
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoSchedule")}


async def test_renewed_lease_keeps_the_node_healthy(
        api: ApiClient, ctl: NodeLifecycleController, clock: Clock) -> None:
    await make_node(api, ctl)
    await renew_lease(api, ctl, START)
    await ctl.monitor_node_health()
    for _ in range(3):
        clock.advance(GRACE / 2)
        await renew_lease(api, ctl, clock.now)
        await ctl.monitor_node_health()
    node = await refresh(api, ctl)
    assert node_condition(node, "Ready")["status"] == "True"  # type: ignore[index]
    assert taints(node) == set()


async def test_node_that_never_posted_status_gets_the_startup_grace(
        api: ApiClient, ctl: NodeLifecycleController, clock: Clock) -> None:
    node = await make_node(api, ctl, ready=None)
    clock.now = datetime.fromisoformat(
        node["metadata"]["creationTimestamp"].replace("Z", "+00:00"))
    await ctl.monitor_node_health()
    clock.advance(GRACE + 1)  # past the monitor grace, within the startup grace
    await ctl.monitor_node_health()
    assert node_condition(await refresh(api, ctl), "Ready") is None
    clock.advance(30)
    await ctl.monitor_node_health()
    ready = node_condition(await refresh(api, ctl), "Ready")
    assert ready is not None
    assert (ready["status"], ready["reason"]) == ("Unknown", "NodeStatusNeverUpdated")


async def test_not_ready_node_is_tainted_and_untainted_when_ready(
        api: ApiClient, ctl: NodeLifecycleController, clock: Clock) -> None:
    node = await make_node(api, ctl, ready="False")
    await renew_lease(api, ctl, START)
    await monitor(api, ctl, clock)
    node = await refresh(api, ctl)
    assert taints(node) == {("node.kubernetes.io/not-ready", "NoExecute")}
    ready = node_condition(node, "Ready")
    assert ready is not None
    ready.update(status="True", lastHeartbeatTime=rfc3339(START + timedelta(seconds=10)))
    ctl.nodes.store.add(await api.update_status(NODES, node))
    await monitor(api, ctl, clock)
    assert taints(await refresh(api, ctl)) == set()


async def test_no_schedule_taints_follow_conditions_and_cordon(
        api: ApiClient, ctl: NodeLifecycleController) -> None:
    node = await make_node(api, ctl, ready="False", unschedulable=True)
    await ctl.sync("node/n1")
    node = await refresh(api, ctl)
    assert taints(node) == {("node.kubernetes.io/not-ready", "NoSchedule"),
                            ("node.kubernetes.io/unschedulable", "NoSchedule")}
    node["spec"]["unschedulable"] = False
    node["spec"]["taints"].append({"key": "user", "effect": "NoSchedule"})
    node = await api.update(NODES, node)
    ready = node_condition(node, "Ready")
    assert ready is not None
    ready["status"] = "True"
    ctl.nodes.store.add(await api.update_status(NODES, node))
    await ctl.sync("node/n1")
    assert taints(await refresh(api, ctl)) == {("user", "NoSchedule")}


async def test_pod_added_on_unready_node_is_marked(
        api: ApiClient, ctl: NodeLifecycleController) -> None:
    await make_node(api, ctl, ready="False")
    await ctl.monitor_node_health()
    pod: dict[str, Any] = await make_ready_pod(api, ctl, "late")
    await ctl.sync(f"pod/{NS}/late")
    pod = await api.get(PODS, "late", NS)
    assert next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")["status"] \
        == "False"


async def test_a_pod_on_a_node_ready_again_since_the_last_pass_is_left_ready(
        api: ApiClient, ctl: NodeLifecycleController) -> None:
    """The last health pass saw the node NotReady; the informer has it Ready since (a
    starting node): its pods' updates are not answered with NotReady until the next pass."""
    node = await make_node(api, ctl, ready="False")
    await ctl.monitor_node_health()
    ready = node_condition(node, "Ready")
    assert ready is not None
    ready["status"] = "True"
    ctl.nodes.store.add(await api.update_status(NODES, node))
    await make_ready_pod(api, ctl, "started")
    await ctl.sync(f"pod/{NS}/started")
    pod = await api.get(PODS, "started", NS)
    assert next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")["status"] \
        == "True"


def test_shares_the_pod_informer_with_taint_eviction(ctx: ControllerContext) -> None:
    """Both controllers index pods by node on the one shared informer of a manager."""
    lifecycle = NodeLifecycleController(ctx)
    eviction = TaintEvictionController(ctx)
    assert lifecycle.pods is eviction.pods


async def test_all_nodes_down_is_a_control_plane_problem(
        api: ApiClient, ctl: NodeLifecycleController, clock: Clock) -> None:
    """With every zone fully disrupted nothing is tainted, and NoExecute taints go."""
    node = await make_node(api, ctl)
    node["spec"]["taints"] = [{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]
    ctl.nodes.store.add(await api.update(NODES, node))
    await renew_lease(api, ctl, START)
    await ctl.monitor_node_health()
    await refresh(api, ctl)
    clock.advance(GRACE + 1)
    for _ in range(2):
        await ctl.monitor_node_health()
        await refresh(api, ctl)
        await ctl.do_no_execute_tainting_pass()
    node = await refresh(api, ctl)
    assert node_condition(node, "Ready")["status"] == "Unknown"  # type: ignore[index]
    assert taints(node) == set()
    assert set(ctl.zone_states.values()) == {ZoneState.FULL_DISRUPTION}


async def test_tainting_is_rate_limited_per_zone(
        api: ApiClient, ctl: NodeLifecycleController, clock: Clock) -> None:
    zone = {"topology.kubernetes.io/zone": "a"}
    for name in ("n1", "n3"):
        await make_node(api, ctl, name=name, ready="False", labels=zone)
    await make_node(api, ctl, name="n2", labels=zone)
    await ctl.monitor_node_health()
    await ctl.do_no_execute_tainting_pass()
    tainted = {name for name in ("n1", "n3")
               if taints(await refresh(api, ctl, name))}
    assert len(tainted) == 1  # node-eviction-rate 0.1/s, burst 1
    clock.advance(10)
    await ctl.do_no_execute_tainting_pass()
    for name in ("n1", "n3"):
        assert taints(await refresh(api, ctl, name)) == {
            ("node.kubernetes.io/not-ready", "NoExecute")}


def test_zone_states() -> None:
    ready, down = {"status": "True"}, {"status": "Unknown"}
    assert compute_zone_state([down, None]) == (2, ZoneState.FULL_DISRUPTION)
    assert compute_zone_state([ready, down, down]) == (2, ZoneState.NORMAL)
    assert compute_zone_state([ready, down, down, down]) == (3, ZoneState.PARTIAL_DISRUPTION)
    assert zone_qps(ZoneState.PARTIAL_DISRUPTION, 10) == 0
    assert zone_qps(ZoneState.PARTIAL_DISRUPTION, 51) == 0.01
    assert zone_qps(ZoneState.NORMAL, 10) == 0.1
    assert zone_key({"metadata": {"labels": {"topology.kubernetes.io/region": "r",
                                             "topology.kubernetes.io/zone": "z"}}}) \
        == "r:\x00:z"
