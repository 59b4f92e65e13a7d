"""TaintToleration: a node's NoSchedule/NoExecute taints keep out pods that do not tolerate
them; PreferNoSchedule taints lower the node's score.

Upstream `pkg/scheduler/framework/plugins/tainttoleration/taint_toleration.go`. Since
1.34 (kubernetes#134740) the filter's reason no longer names the taint, as taints may be
sensitive: "node(s) had untolerated taint(s)".

Vectorised through the table's taint signatures: nodes with identical taints share an id,
so the pod's tolerations are evaluated once per distinct set of taints.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kybernetes.scheduler.interface import (
    MAX_NODE_SCORE,
    QUEUE,
    QUEUE_SKIP,
    ActionType,
    ClusterEvent,
    ClusterEventWithHint,
    CycleState,
    EventResource,
    Handle,
    HintFn,
    Mask,
    QueueingHint,
    Scores,
)
from kybernetes.scheduler.nodeinfo import NodeInfo
from kybernetes.scheduler.nodetable import NodeTable
from kybernetes.scheduler.plugins.helpers import default_normalize_score
from kybernetes.scheduler.plugins.names import TAINT_TOLERATION
from kybernetes.scheduler.podinfo import (
    NO_EXECUTE,
    NO_SCHEDULE,
    PREFER_NO_SCHEDULE,
    PodInfo,
    Taint,
    Toleration,
    find_untolerated_taint,
    parse_taints,
    tolerations_tolerate,
)
from kybernetes.scheduler.status import Status, unresolvable

ERR_REASON_NOT_MATCH = "node(s) had untolerated taint(s)"
_DO_NOT_SCHEDULE = (NO_SCHEDULE, NO_EXECUTE)

Obj = dict[str, Any]


def untolerated_taint(pod: PodInfo, taints: tuple[Taint, ...]) -> Taint | None:
    return find_untolerated_taint(taints, pod.tolerations, _DO_NOT_SCHEDULE)


def prefer_no_schedule_tolerations(pod: PodInfo) -> tuple[Toleration, ...]:
    return tuple(t for t in pod.tolerations if not t.effect or t.effect == PREFER_NO_SCHEDULE)


def count_intolerable_prefer_no_schedule(taints: tuple[Taint, ...],
                                         tolerations: tuple[Toleration, ...]) -> int:
    return sum(1 for t in taints
               if t.effect == PREFER_NO_SCHEDULE and not tolerations_tolerate(tolerations, t))


def taint_events(after_node_change: HintFn) -> list[ClusterEventWithHint]:
    """What can make a pod that a taint kept off schedulable: a node added or its taints
    changed (`after_node_change` judges which), or the pod's tolerations changed. Shared
    with NodeUnschedulable, whose cordon is a taint too."""
    return [
        ClusterEventWithHint(ClusterEvent(
            EventResource.NODE, ActionType.ADD | ActionType.UPDATE_NODE_TAINT),
            after_node_change),
        ClusterEventWithHint(ClusterEvent(EventResource.POD, ActionType.UPDATE_POD_TOLERATION)),
    ]


class TaintToleration:
    name = TAINT_TOLERATION

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if untolerated_taint(pod, node.taints) is None:
            return None
        return unresolvable(ERR_REASON_NOT_MATCH)

    def filter_vector(self, state: CycleState, pod: PodInfo, table: NodeTable
                      ) -> Mask | bool:
        ok = np.fromiter((untolerated_taint(pod, sig) is None for sig in table.signatures),
                         dtype=np.bool_, count=len(table.signatures))
        if ok.all():
            return True
        mask: Mask = ok[table.taint_sig[:table.size]]
        return mask

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
                  ) -> Status | None:
        state.write("PreScore" + self.name, prefer_no_schedule_tolerations(pod))
        return None

    def _tolerations(self, state: CycleState, pod: PodInfo) -> tuple[Toleration, ...]:
        found = state.read("PreScore" + self.name)
        return found if found is not None else prefer_no_schedule_tolerations(pod)

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        return count_intolerable_prefer_no_schedule(node.taints, self._tolerations(state, pod))

    def score_vector(self, state: CycleState, pod: PodInfo, table: NodeTable,
                     slots: NDArray[np.intp]) -> Scores:
        tolerations = self._tolerations(state, pod)
        per_sig = np.fromiter(
            (count_intolerable_prefer_no_schedule(sig, tolerations) for sig in table.signatures),
            dtype=np.int64, count=len(table.signatures))
        scores: Scores = per_sig[table.taint_sig[slots]]
        return scores

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: Scores,
                        nodes: list[NodeInfo]) -> Status | None:
        default_normalize_score(MAX_NODE_SCORE, True, scores)
        return None

    def events_to_register(self) -> list[ClusterEventWithHint]:
        return taint_events(_after_node_change)


def _after_node_change(pod: PodInfo, old: Obj | None, new: Obj | None) -> QueueingHint:
    if new is None:
        return QUEUE_SKIP
    taints = parse_taints((new.get("spec") or {}).get("taints"))
    return QUEUE if untolerated_taint(pod, taints) is None else QUEUE_SKIP


def new(args: Mapping[str, Any], handle: Handle) -> TaintToleration:
    return TaintToleration()
