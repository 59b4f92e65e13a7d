"""The scheduling queue: priority order, backoff, unschedulable pods moved by the events
their rejecting plugins registered (with queueing hints), gates, the nominator."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kybernetes.scheduler.interface import (
    ASSIGNED_POD_ADD,
    ASSIGNED_POD_DELETE,
    NODE_ADD,
    ActionType,
    ClusterEvent,
    EventResource,
    NominatingInfo,
    NominatingMode,
)
from kybernetes.scheduler.podinfo import PodInfo
from kybernetes.scheduler.queue import QueuedPodInfo, SchedulingQueue
from tests.scheduler.helpers import cache_of, framework, node, pod


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_queue(clock: Clock | None = None) -> SchedulingQueue:
    fw = framework(cache_of([]))
    return SchedulingQueue(sort_key=fw.queue_sort.sort_key,  # type: ignore[attr-defined]
                           pre_enqueue={"default-scheduler": fw.run_pre_enqueue},
                           events={"default-scheduler": fw.events_to_register()},
                           clock=clock or Clock())


async def pop(queue: SchedulingQueue) -> QueuedPodInfo:
    return await asyncio.wait_for(queue.pop(), 1)


async def fail(queue: SchedulingQueue, qpi: QueuedPodInfo, *plugins: str) -> str:
    qpi.unschedulable_plugins = set(plugins)
    return queue.add_unschedulable_if_not_present(qpi)


async def test_priority_then_fifo() -> None:
    clock = Clock()
    queue = make_queue(clock)
    for name, priority in (("low", 1), ("high", 10), ("low2", 1), ("high2", 10)):
        queue.add(PodInfo(pod(name, priority=priority)))
        clock.now += 1
    assert [(await pop(queue)).pod_info.name for _ in range(4)] == ["high", "high2", "low",
                                                                    "low2"]


async def test_backoff_doubles_up_to_the_cap() -> None:
    queue = make_queue()
    qpi = QueuedPodInfo(PodInfo(pod("p")), 0.0)
    durations = []
    for attempts in range(1, 7):
        qpi.attempts = attempts
        durations.append(queue.backoff_duration(qpi))
    assert durations == [1, 2, 4, 8, 10, 10]


async def test_errors_go_to_backoff_then_active() -> None:
    clock = Clock()
    queue = make_queue(clock)
    queue.add(PodInfo(pod("p")))
    qpi = await pop(queue)
    assert await fail(queue, qpi) == "backoff"
    assert queue.flush_backoff_completed() == pytest.approx(clock.now + 1)
    clock.now += 1.5
    queue.flush_backoff_completed()
    assert queue.active_count == 1


async def test_unschedulable_pods_wait_for_a_relevant_event() -> None:
    clock = Clock()
    queue = make_queue(clock)
    queue.add(PodInfo(pod("p", cpu="3")))
    qpi = await pop(queue)
    assert await fail(queue, qpi, "NodeResourcesFit") == "unschedulable"
    # A pod added elsewhere does not free resources; a small node does not help either.
    assert queue.move_all_on_event(ASSIGNED_POD_ADD, None, pod("x", node_name="n")) == 0
    assert queue.move_all_on_event(NODE_ADD, None, node("small", cpu="2")) == 0
    assert queue.unschedulable_count == 1
    clock.now += 5  # past the backoff: the move goes straight to activeQ
    assert queue.move_all_on_event(NODE_ADD, None, node("big", cpu="8")) == 1
    assert queue.active_count == 1


async def test_deleting_an_assigned_pod_helps_resource_failures() -> None:
    queue = make_queue()
    queue.add(PodInfo(pod("p", cpu="3")))
    await fail(queue, await pop(queue), "NodeResourcesFit")
    unassigned = pod("gone")
    assert queue.move_all_on_event(ASSIGNED_POD_DELETE, unassigned, None) == 0
    assert queue.move_all_on_event(ASSIGNED_POD_DELETE, pod("gone", node_name="n"), None) == 1
    assert queue.backoff_count == 1


async def test_taint_failures_ignore_resource_events() -> None:
    queue = make_queue()
    queue.add(PodInfo(pod("p")))
    await fail(queue, await pop(queue), "TaintToleration")
    assert queue.move_all_on_event(ASSIGNED_POD_DELETE, pod("x", node_name="n"), None) == 0
    update = ClusterEvent(EventResource.NODE, ActionType.UPDATE_NODE_TAINT)
    old = node("n", taints=[{"key": "k", "effect": "NoSchedule"}])
    assert queue.move_all_on_event(update, old, node("n")) == 1


async def test_pod_updates_that_may_help_requeue() -> None:
    queue = make_queue()
    original = PodInfo(pod("p"))
    queue.add(original)
    qpi = await pop(queue)
    await fail(queue, qpi, "TaintToleration")
    tolerant = PodInfo(pod("p", tolerations=[{"operator": "Exists"}]))
    queue.update(original, tolerant, ActionType.UPDATE_POD_TOLERATION)
    assert queue.unschedulable_count == 0 and queue.backoff_count == 1


async def test_unschedulable_leftovers_are_retried_after_five_minutes() -> None:
    clock = Clock()
    queue = make_queue(clock)
    queue.add(PodInfo(pod("p")))
    await fail(queue, await pop(queue), "NodeAffinity")
    clock.now += 301
    assert queue.flush_unschedulable_leftover() == 1
    assert queue.active_count == 1


async def test_scheduling_gates() -> None:
    clock = Clock()
    queue = make_queue(clock)
    gated = PodInfo(pod("p", schedulingGates=[{"name": "wait"}]))
    queue.add(gated)
    assert queue.active_count == 0 and queue.unschedulable_count == 1
    assert queue.get(gated.key).gated  # type: ignore[union-attr]
    opened = PodInfo(pod("p"))
    opened.uid = gated.uid
    opened.pod["metadata"]["uid"] = gated.uid
    queue.update(gated, opened, ActionType.UPDATE_POD_SCHEDULING_GATES_ELIMINATED)
    assert queue.active_count == 1


async def test_events_during_the_cycle_are_replayed() -> None:
    clock = Clock()
    queue = make_queue(clock)
    queue.add(PodInfo(pod("p", cpu="3")))
    qpi = await pop(queue)
    queue.move_all_on_event(NODE_ADD, None, node("big", cpu="8"))  # while in flight
    clock.now += 5
    assert await fail(queue, qpi, "NodeResourcesFit") in ("backoff", "active")


async def test_delete_and_nominator() -> None:
    queue = make_queue()
    pi = PodInfo(pod("p", priority=5))
    queue.add(pi)
    queue.nominator.add(pi, NominatingInfo("n1", NominatingMode.OVERRIDE))
    assert [p.name for p in queue.nominator.nominated_pods_for_node("n1")] == ["p"]
    queue.delete(pi)
    assert len(queue) == 0 and not queue.nominator.nominated_pods_for_node("n1")
    nominated: dict[str, Any] = pod("q")
    nominated["status"]["nominatedNodeName"] = "n2"
    queue.add(PodInfo(nominated))
    assert [p.name for p in queue.nominator.nominated_pods_for_node("n2")] == ["q"]
