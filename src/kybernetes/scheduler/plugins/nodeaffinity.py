"""NodeAffinity: `spec.nodeSelector` and required node affinity filter nodes; preferred node
affinity terms add their weights to a node's score.

Upstream `pkg/scheduler/framework/plugins/nodeaffinity/node_affinity.go`: PreFilter skips
pods with neither a node selector nor required affinity (when the profile adds none), and
when every required term pins `metadata.name` it returns those node names as a
PreFilterResult, so only they are examined (how DaemonSet pods are placed). The profile's
`addedAffinity` argument is enforced on every pod ("node(s) didn't match scheduler-enforced
node affinity").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kybernetes.scheduler.cache import Snapshot
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
    Mask,
    PreFilterResult,
    QueueingHint,
    Scores,
)
from kybernetes.scheduler.nodeinfo import NodeInfo
from kybernetes.scheduler.nodetable import NodeTable
from kybernetes.scheduler.plugins.helpers import (
    NodeSelector,
    NodeSelectorTerm,
    default_normalize_score,
    parse_terms,
)
from kybernetes.scheduler.plugins.names import NODE_AFFINITY
from kybernetes.scheduler.podinfo import PodInfo
from kybernetes.scheduler.status import SKIP, Status, unresolvable

ERR_REASON_POD = "node(s) didn't match Pod's node affinity/selector"
ERR_REASON_ENFORCED = "node(s) didn't match scheduler-enforced node affinity"
ERR_REASON_CONFLICT = "pod affinity terms conflict"

_PRE_FILTER_KEY = "PreFilter" + NODE_AFFINITY
_PRE_SCORE_KEY = "PreScore" + NODE_AFFINITY

Obj = dict[str, Any]
PreferredTerms = list[tuple[NodeSelectorTerm, int]]


def required_node_names(spec: Mapping[str, Any]) -> frozenset[str] | None:
    """The node names the required terms allow when each term pins metadata.name with In
    (None when some term does not)."""
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution") or {}
    terms = required.get("nodeSelectorTerms") or []
    if not terms:
        return None
    names: set[str] = set()
    for term in terms:
        term_names: set[str] | None = None
        for field in term.get("matchFields") or ():
            if field.get("key") == "metadata.name" and field.get("operator") == "In":
                values = set(field.get("values") or ())
                term_names = values if term_names is None else term_names & values
        if term_names is None:
            return None
        names |= term_names
    return frozenset(names)


def preferred_terms(spec: Mapping[str, Any]) -> PreferredTerms:
    preferred = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "preferredDuringSchedulingIgnoredDuringExecution") or []
    out: PreferredTerms = []
    for item in preferred:
        weight = int(item.get("weight") or 0)
        if weight:
            out.append((NodeSelectorTerm(item.get("preference") or {}), weight))
    return out


def preferred_score(terms: PreferredTerms, node: NodeInfo) -> int:
    return sum(weight for term, weight in terms if term.matches(node))


class NodeAffinity:
    name = NODE_AFFINITY

    def __init__(self, added: NodeSelector | None) -> None:
        self.added = added

    def _selector(self, state: CycleState, pod: PodInfo) -> NodeSelector:
        found = state.read(_PRE_FILTER_KEY)
        return found if found is not None else NodeSelector.of_pod(pod.spec)

    def pre_filter(self, state: CycleState, pod: PodInfo, snapshot: Snapshot
                   ) -> tuple[PreFilterResult | None, Status | None]:
        selector = NodeSelector.of_pod(pod.spec)
        if selector.empty and self.added is None:
            return None, SKIP
        state.write(_PRE_FILTER_KEY, selector)
        names = required_node_names(pod.spec)
        if names is None:
            return None, None
        if not names:
            return None, unresolvable(ERR_REASON_CONFLICT)
        return PreFilterResult(names), None

    def pre_filter_extensions(self) -> None:
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if self.added is not None and not self.added.matches(node):
            return unresolvable(ERR_REASON_ENFORCED)
        if not self._selector(state, pod).matches(node):
            return unresolvable(ERR_REASON_POD)
        return None

    def filter_vector(self, state: CycleState, pod: PodInfo, table: NodeTable) -> Mask:
        mask = self._selector(state, pod).mask(table)
        if self.added is not None:
            mask &= self.added.mask(table)
        return mask

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
                  ) -> Status | None:
        terms = preferred_terms(pod.spec)
        if not terms:
            return SKIP
        state.write(_PRE_SCORE_KEY, terms)
        return None

    def _terms(self, state: CycleState, pod: PodInfo) -> PreferredTerms:
        found = state.read(_PRE_SCORE_KEY)
        return found if found is not None else preferred_terms(pod.spec)

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        return preferred_score(self._terms(state, pod), node)

    def score_vector(self, state: CycleState, pod: PodInfo, table: NodeTable,
                     slots: NDArray[np.intp]) -> Scores:
        total = np.zeros(table.size, dtype=np.int64)
        for term, weight in self._terms(state, pod):
            total += term.mask(table).astype(np.int64) * weight
        scores: Scores = total[slots]
        return scores

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: Scores,
                        nodes: list[NodeInfo]) -> Status | None:
        default_normalize_score(MAX_NODE_SCORE, False, scores)
        return None

    def events_to_register(self) -> list[ClusterEventWithHint]:
        return [ClusterEventWithHint(ClusterEvent(
            EventResource.NODE, ActionType.ADD | ActionType.UPDATE_NODE_LABEL),
            self._after_node_change)]

    def _after_node_change(self, pod: PodInfo, old: Obj | None, new: Obj | None
                           ) -> QueueingHint:
        if new is None:
            return QUEUE_SKIP
        info = NodeInfo(new)
        if self.added is not None and not self.added.matches(info):
            return QUEUE_SKIP
        return QUEUE if NodeSelector.of_pod(pod.spec).matches(info) else QUEUE_SKIP


def new(args: Mapping[str, Any], handle: Handle) -> NodeAffinity:
    added = None
    added_affinity = args.get("addedAffinity") or {}
    required = added_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    if isinstance(required, dict):
        added = NodeSelector(None, parse_terms(required.get("nodeSelectorTerms")))
    return NodeAffinity(added)
