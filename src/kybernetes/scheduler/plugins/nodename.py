"""NodeName: a pod that names a node (`spec.nodeName`) fits only that node.

Upstream `pkg/scheduler/framework/plugins/nodename/node_name.go`. Pods with `spec.nodeName`
set are not scheduled at all (they are already assigned), so in practice this only matters
to other schedulers' pods and to simulations, but the default profile has it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kybernetes.scheduler.interface import (
    ActionType,
    ClusterEvent,
    ClusterEventWithHint,
    CycleState,
    EventResource,
    Handle,
)
from kybernetes.scheduler.nodeinfo import NodeInfo
from kybernetes.scheduler.nodetable import NodeTable
from kybernetes.scheduler.plugins.names import NODE_NAME
from kybernetes.scheduler.podinfo import PodInfo
from kybernetes.scheduler.status import Status, unresolvable

ERR_REASON = "node(s) didn't match the requested node name"


def fits(pod: PodInfo, node: NodeInfo) -> bool:
    return not pod.node_name or pod.node_name == node.name


class NodeName:
    name = NODE_NAME

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        return None if fits(pod, node) else unresolvable(ERR_REASON)

    def filter_vector(self, state: CycleState, pod: PodInfo, table: NodeTable) -> bool | None:
        return True if not pod.node_name else None

    def events_to_register(self) -> list[ClusterEventWithHint]:
        return [ClusterEventWithHint(ClusterEvent(EventResource.NODE, ActionType.ADD))]


def new(args: Mapping[str, Any], handle: Handle) -> NodeName:
    return NodeName()
