"""NodePorts: a pod's host ports must be free on the node.

Upstream `pkg/scheduler/framework/plugins/nodeports/node_ports.go`. 0.0.0.0 (or no hostIP)
conflicts with every address on the same protocol and port. Pods without host ports skip the
plugin at PreFilter, so it costs nothing for them. The vector path checks only the nodes that
have host ports in use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from kybernetes.scheduler.cache import Snapshot
from kybernetes.scheduler.interface import (
    QUEUE,
    QUEUE_SKIP,
    ActionType,
    ClusterEvent,
    ClusterEventWithHint,
    CycleState,
    EventResource,
    Handle,
    Mask,
    PreFilterResult,
    QueueingHint,
)
from kybernetes.scheduler.nodeinfo import HostPortInfo, NodeInfo
from kybernetes.scheduler.nodetable import NodeTable
from kybernetes.scheduler.plugins.names import NODE_PORTS
from kybernetes.scheduler.podinfo import HostPort, PodInfo, pod_host_ports
from kybernetes.scheduler.status import SKIP, Status, unschedulable

ERR_REASON = "node(s) didn't have free ports for the requested pod ports"

Obj = dict[str, Any]


def fits_ports(wanted: tuple[HostPort, ...], used: HostPortInfo) -> bool:
    return not any(used.conflicts(ip, protocol, port) for ip, protocol, port in wanted)


def fits(pod: PodInfo, node: NodeInfo) -> bool:
    return fits_ports(pod.host_ports, node.used_ports)


class NodePorts:
    name = NODE_PORTS

    def pre_filter(self, state: CycleState, pod: PodInfo, snapshot: Snapshot
                   ) -> tuple[PreFilterResult | None, Status | None]:
        if not pod.host_ports:
            return None, SKIP
        return None, None

    def pre_filter_extensions(self) -> None:
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        return None if fits(pod, node) else unschedulable(ERR_REASON)

    def filter_vector(self, state: CycleState, pod: PodInfo, table: NodeTable
                      ) -> Mask | bool:
        busy = np.flatnonzero(table.ports_in_use[:table.size] > 0)
        if not len(busy):
            return True
        mask = np.ones(table.size, dtype=np.bool_)
        for slot in busy:
            info = table.infos[slot]
            if info is not None and not fits(pod, info):
                mask[slot] = False
        return mask

    def events_to_register(self) -> list[ClusterEventWithHint]:
        return [
            ClusterEventWithHint(ClusterEvent(EventResource.POD, ActionType.DELETE),
                                 _after_pod_deleted),
            ClusterEventWithHint(ClusterEvent(EventResource.NODE, ActionType.ADD)),
        ]


def _after_pod_deleted(pod: PodInfo, old: Obj | None, new: Obj | None) -> QueueingHint:
    if old is None or not (old.get("spec") or {}).get("nodeName"):
        return QUEUE_SKIP
    freed = pod_host_ports(old.get("spec") or {})
    for ip, protocol, port in pod.host_ports:
        for fip, fprotocol, fport in freed:
            if port == fport and protocol == fprotocol and \
                    (ip == fip or "0.0.0.0" in (ip, fip)):
                return QUEUE
    return QUEUE_SKIP


def new(args: Mapping[str, Any], handle: Handle) -> NodePorts:
    return NodePorts()
