"""SchedulingGates: a pod with `spec.schedulingGates` stays out of the active queue until
the gates are removed.

Upstream `pkg/scheduler/framework/plugins/schedulinggates/scheduling_gates.go` (a PreEnqueue
plugin): the gated pod waits among the unschedulable pods, and the update removing its last
gate moves it to the active queue.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kybernetes.scheduler.interface import (
    QUEUE,
    QUEUE_SKIP,
    ActionType,
    ClusterEvent,
    ClusterEventWithHint,
    EventResource,
    Handle,
    QueueingHint,
)
from kybernetes.scheduler.plugins.names import SCHEDULING_GATES
from kybernetes.scheduler.podinfo import PodInfo
from kybernetes.scheduler.status import Status, unresolvable

Obj = dict[str, Any]


class SchedulingGates:
    name = SCHEDULING_GATES

    def pre_enqueue(self, pod: PodInfo) -> Status | None:
        gates = pod.spec.get("schedulingGates") or []
        if not gates:
            return None
        names = " ".join(str(g.get("name")) for g in gates if isinstance(g, dict))
        return unresolvable(f"waiting for scheduling gates: [{names}]")

    def events_to_register(self) -> list[ClusterEventWithHint]:
        return [ClusterEventWithHint(
            ClusterEvent(EventResource.POD, ActionType.UPDATE_POD_SCHEDULING_GATES_ELIMINATED),
            _after_gates_removed)]


def _after_gates_removed(pod: PodInfo, old: Obj | None, new: Obj | None) -> QueueingHint:
    if new is None or (new.get("metadata") or {}).get("uid") != pod.uid:
        return QUEUE_SKIP
    return QUEUE if not (new.get("spec") or {}).get("schedulingGates") else QUEUE_SKIP


def new(args: Mapping[str, Any], handle: Handle) -> SchedulingGates:
    return SchedulingGates()
