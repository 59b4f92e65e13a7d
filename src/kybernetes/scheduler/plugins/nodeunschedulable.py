"""NodeUnschedulable: cordoned nodes (`spec.unschedulable`) take only pods that tolerate
the `node.kubernetes.io/unschedulable:NoSchedule` taint.

Upstream `pkg/scheduler/framework/plugins/nodeunschedulable/node_unschedulable.go`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kybernetes.scheduler.interface import (
    QUEUE,
    QUEUE_SKIP,
    ClusterEventWithHint,
    CycleState,
    Handle,
    Mask,
    QueueingHint,
)
from kybernetes.scheduler.nodeinfo import NodeInfo
from kybernetes.scheduler.nodetable import NodeTable
from kybernetes.scheduler.plugins.names import NODE_UNSCHEDULABLE
from kybernetes.scheduler.plugins.tainttoleration import taint_events
from kybernetes.scheduler.podinfo import (
    NO_SCHEDULE,
    TAINT_NODE_UNSCHEDULABLE,
    PodInfo,
    Taint,
    tolerations_tolerate,
)
from kybernetes.scheduler.status import Status, unresolvable

ERR_REASON_UNSCHEDULABLE = "node(s) were unschedulable"
UNSCHEDULABLE_TAINT = Taint(TAINT_NODE_UNSCHEDULABLE, "", NO_SCHEDULE)

Obj = dict[str, Any]


def tolerates_unschedulable(pod: PodInfo) -> bool:
    return tolerations_tolerate(pod.tolerations, UNSCHEDULABLE_TAINT)


def fits(pod: PodInfo, node: NodeInfo) -> bool:
    return not node.unschedulable or tolerates_unschedulable(pod)


class NodeUnschedulable:
    name = NODE_UNSCHEDULABLE

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        return None if fits(pod, node) else unresolvable(ERR_REASON_UNSCHEDULABLE)

    def filter_vector(self, state: CycleState, pod: PodInfo, table: NodeTable
                      ) -> Mask | bool:
        if tolerates_unschedulable(pod):
            return True
        mask: Mask = ~table.unschedulable[:table.size]
        return mask

    def events_to_register(self) -> list[ClusterEventWithHint]:
        return taint_events(_after_node_change)


def _after_node_change(pod: PodInfo, old: Obj | None, new: Obj | None) -> QueueingHint:
    if new is None:
        return QUEUE_SKIP
    if not (new.get("spec") or {}).get("unschedulable"):
        return QUEUE
    return QUEUE if tolerates_unschedulable(pod) else QUEUE_SKIP


def new(args: Mapping[str, Any], handle: Handle) -> NodeUnschedulable:
    return NodeUnschedulable()
