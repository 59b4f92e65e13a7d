"""InterPodAffinity: required pod affinity and anti-affinity filter nodes; preferred terms
(the pod's own and those of pods already placed) score them.

Upstream `pkg/scheduler/framework/plugins/interpodaffinity/{filtering,scoring,plugin}.go`.
PreFilter computes three maps of topology pair (key, value) -> count, exactly as upstream:

- `existing_anti`: pods already placed whose *required anti-affinity* terms match the
  incoming pod, counted on their node's domain — the pod may not join those domains
  ("node(s) didn't satisfy existing pods anti-affinity rules");
- `affinity`: placed pods matching *all* the incoming pod's required affinity terms — every
  term's domain on a candidate node must hold one ("node(s) didn't match pod affinity
  rules"), except for the first pod of a group that matches its own terms;
- `anti`: placed pods matching each of the pod's required anti-affinity terms ("node(s)
  didn't match pod anti-affinity rules").

Upstream builds these by walking every pod of every node each cycle. Here the node table's
indices do it: a match counter per selector gives matching pods per node, and the term index
groups placed pods' terms, so each distinct term is matched against the incoming pod once;
per-node numbers are summed into domains with numpy. `existing_anti_affinity_counts` and
`incoming_counts` are the upstream walks, kept as the reference (tests compare both).

The incoming pod's namespaceSelectors are resolved into namespace names at PreFilter (so
matching placed pods needs no namespace lookups), as upstream does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kybernetes.api.selectors import LabelSelector
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
from kybernetes.scheduler.plugins.names import INTER_POD_AFFINITY
from kybernetes.scheduler.podinfo import AffinityTerm, PodInfo, WeightedAffinityTerm
from kybernetes.scheduler.status import SKIP, Status, unresolvable, unschedulable

ERR_REASON_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
ERR_REASON_AFFINITY = "node(s) didn't match pod affinity rules"
ERR_REASON_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"

_PRE_FILTER_KEY = "PreFilter" + INTER_POD_AFFINITY
_PRE_SCORE_KEY = "PreScore" + INTER_POD_AFFINITY

Obj = dict[str, Any]
Pair = tuple[str, str]
Counts = dict[Pair, int]


def _update(counts: Counts, labels: Mapping[str, str], key: str, value: int) -> None:
    found = labels.get(key)
    if found is None:
        return
    pair = (key, found)
    total = counts.get(pair, 0) + value
    if total == 0:
        counts.pop(pair, None)
    else:
        counts[pair] = total


def matches_all(terms: Iterable[AffinityTerm], pod: PodInfo) -> bool:
    """Upstream's `podMatchesAllAffinityTerms` (incoming terms: namespaces resolved)."""
    terms = tuple(terms)
    return bool(terms) and all(t.matches_pod(pod, None) for t in terms)


def merge_namespaces(term: AffinityTerm, handle: Handle) -> AffinityTerm:
    """Upstream's `mergeAffinityTermNamespacesIfNotEmpty`: a namespaceSelector other than
    "everything" becomes the namespace names it selects."""
    selector = term.namespace_selector
    if selector.empty:
        return term
    names = frozenset(handle.namespaces_matching(selector)) if not selector.matches_nothing \
        else frozenset()
    return replace(term, namespaces=term.namespaces | names,
                   namespace_selector=LabelSelector.nothing())


# ----------------------------------------------------------------------------- reference


def existing_anti_affinity_counts(pod: PodInfo, ns_labels: Mapping[str, str],
                                  nodes: Iterable[NodeInfo]) -> Counts:
    counts: Counts = {}
    for node in nodes:
        for existing in node.pods_with_required_anti_affinity.values():
            for term in existing.required_anti_affinity_terms:
                if term.matches_pod(pod, ns_labels):
                    _update(counts, node.labels, term.topology_key, 1)
    return counts


def incoming_counts(affinity_terms: tuple[AffinityTerm, ...],
                    anti_terms: tuple[AffinityTerm, ...], nodes: Iterable[NodeInfo]
                    ) -> tuple[Counts, Counts]:
    affinity: Counts = {}
    anti: Counts = {}
    if not affinity_terms and not anti_terms:
        return affinity, anti
    for node in nodes:
        for existing in node.pods.values():
            if matches_all(affinity_terms, existing):
                for term in affinity_terms:
                    _update(affinity, node.labels, term.topology_key, 1)
            for term in anti_terms:
                if term.matches_pod(existing, None):
                    _update(anti, node.labels, term.topology_key, 1)
    return affinity, anti


# ----------------------------------------------------------------------------- fast path


class DomainCounts:
    """Counts per topology pair (key, value), held as one array per key indexed by the node
    table's label value ids: filtering all nodes is then one array lookup per key."""

    __slots__ = ("by_key", "table")

    def __init__(self, table: NodeTable) -> None:
        self.table = table
        self.by_key: dict[str, Scores] = {}

    def _array(self, key: str, size: int) -> Scores:
        array = self.by_key.get(key)
        if array is None:
            array = self.by_key[key] = np.zeros(size, dtype=np.int64)
        elif len(array) < size:
            array = self.by_key[key] = np.concatenate(
                [array, np.zeros(size - len(array), dtype=np.int64)])
        return array

    def add_totals(self, key: str, totals: Scores, factor: int = 1) -> None:
        if not totals.any():
            return
        array = self._array(key, len(totals))
        array[:len(totals)] += totals * factor

    def add(self, key: str, value: str, amount: int) -> None:
        vid = self.table.column(key).intern(value)
        self._array(key, vid + 1)[vid] += amount

    def get(self, key: str, value: str | None) -> int:
        array = self.by_key.get(key)
        if array is None or value is None:
            return 0
        vid = self.table.column(key).index.get(value, -1)
        return int(array[vid]) if 0 <= vid < len(array) else 0

    def positive(self, key: str) -> Mask:
        """Slots whose value of `key` has a positive count."""
        ids = self.table.column(key).ids[:self.table.size]
        array = self.by_key.get(key)
        if array is None:
            return np.zeros(len(ids), dtype=np.bool_)
        padded = np.concatenate([array, np.zeros(
            max(0, len(self.table.column(key).values) - len(array)) + 1, dtype=np.int64)])
        out: Mask = padded[ids] > 0  # id -1 reads the trailing 0
        return out

    def __bool__(self) -> bool:
        return any(array.any() for array in self.by_key.values())

    def clone(self) -> DomainCounts:
        copy = DomainCounts(self.table)
        copy.by_key = {k: v.copy() for k, v in self.by_key.items()}
        return copy

    def pairs(self) -> Counts:
        """As upstream's map: {(key, value): count} without zeros."""
        out: Counts = {}
        for key, array in self.by_key.items():
            values = self.table.column(key).values
            for vid in np.flatnonzero(array):
                out[(key, values[vid])] = int(array[vid])
        return out


def _condition(term: AffinityTerm) -> tuple[frozenset[str] | None, LabelSelector]:
    return (None if term.namespace_selector.empty else term.namespaces, term.selector)


def existing_anti_affinity_counts_fast(table: NodeTable, pod: PodInfo,
                                       ns_labels: Mapping[str, str]) -> DomainCounts:
    counts = DomainCounts(table)
    for term, group in table.required_anti_affinity.groups.items():
        if group.total > 0 and term.matches_pod(pod, ns_labels):
            counts.add_totals(term.topology_key,
                              table.domain_totals(term.topology_key, group.counts))
    return counts


def incoming_counts_fast(table: NodeTable, affinity_terms: tuple[AffinityTerm, ...],
                         anti_terms: tuple[AffinityTerm, ...]
                         ) -> tuple[DomainCounts, DomainCounts]:
    affinity = DomainCounts(table)
    anti = DomainCounts(table)
    if affinity_terms:
        counter = table.counter(tuple(_condition(t) for t in affinity_terms),
                                skip_terminating=False)
        for term in affinity_terms:
            affinity.add_totals(term.topology_key,
                                table.domain_totals(term.topology_key, counter.counts))
    for term in anti_terms:
        counter = table.counter((_condition(term),), skip_terminating=False)
        anti.add_totals(term.topology_key, table.domain_totals(term.topology_key,
                                                                counter.counts))
    return affinity, anti


# ----------------------------------------------------------------------------- filtering


@dataclass
class FilterState:
    pod: PodInfo
    affinity_terms: tuple[AffinityTerm, ...]
    anti_terms: tuple[AffinityTerm, ...]
    namespace_labels: Mapping[str, str]
    existing_anti: DomainCounts
    affinity: DomainCounts
    anti: DomainCounts

    def clone(self) -> FilterState:
        return FilterState(self.pod, self.affinity_terms, self.anti_terms,
                           self.namespace_labels, self.existing_anti.clone(),
                           self.affinity.clone(), self.anti.clone())

    def update_with_pod(self, other: PodInfo, node: NodeInfo, multiplier: int) -> None:
        """Upstream's `preFilterState.updateWithPod`."""
        labels = node.labels
        for term in other.required_anti_affinity_terms:
            if term.matches_pod(self.pod, self.namespace_labels) and term.topology_key in labels:
                self.existing_anti.add(term.topology_key, labels[term.topology_key],
                                       multiplier)
        if matches_all(self.affinity_terms, other):
            for term in self.affinity_terms:
                if term.topology_key in labels:
                    self.affinity.add(term.topology_key, labels[term.topology_key], multiplier)
        for term in self.anti_terms:
            if term.matches_pod(other, None) and term.topology_key in labels:
                self.anti.add(term.topology_key, labels[term.topology_key], multiplier)


def satisfy_existing_anti_affinity(state: FilterState, node: NodeInfo) -> bool:
    for key in state.existing_anti.by_key:
        if state.existing_anti.get(key, node.labels.get(key)) > 0:
            return False
    return True


def satisfy_pod_anti_affinity(state: FilterState, node: NodeInfo) -> bool:
    for term in state.anti_terms:
        if state.anti.get(term.topology_key, node.labels.get(term.topology_key)) > 0:
            return False
    return True


def satisfy_pod_affinity(state: FilterState, node: NodeInfo) -> bool:
    pods_exist = True
    for term in state.affinity_terms:
        value = node.labels.get(term.topology_key)
        if value is None:
            return False
        if state.affinity.get(term.topology_key, value) <= 0:
            pods_exist = False
    if not pods_exist:
        # The first pod of a group with affinity to itself may go anywhere the topology
        # keys exist, when no other pod matches yet.
        return not state.affinity and matches_all(state.affinity_terms, state.pod)
    return True


def check_node(state: FilterState, node: NodeInfo) -> Status | None:
    if not satisfy_pod_affinity(state, node):
        return unresolvable(ERR_REASON_AFFINITY)
    if not satisfy_pod_anti_affinity(state, node):
        return unschedulable(ERR_REASON_ANTI_AFFINITY)
    if not satisfy_existing_anti_affinity(state, node):
        return unschedulable(ERR_REASON_EXISTING_ANTI_AFFINITY)
    return None


class InterPodAffinity:
    name = INTER_POD_AFFINITY

    def __init__(self, handle: Handle, hard_pod_affinity_weight: int = 1,
                 ignore_preferred_terms_of_existing_pods: bool = False) -> None:
        self.handle = handle
        self.hard_weight = hard_pod_affinity_weight
        self.ignore_existing_preferred = ignore_preferred_terms_of_existing_pods

    def pre_filter(self, state: CycleState, pod: PodInfo, snapshot: Snapshot
                   ) -> tuple[PreFilterResult | None, Status | None]:
        if pod.parse_error:
            return None, unresolvable(pod.parse_error)
        affinity = tuple(merge_namespaces(t, self.handle) for t in pod.required_affinity_terms)
        anti = tuple(merge_namespaces(t, self.handle)
                     for t in pod.required_anti_affinity_terms)
        ns_labels = self.handle.namespace_labels(pod.namespace)
        table = snapshot.table
        existing = existing_anti_affinity_counts_fast(table, pod, ns_labels)
        if not existing and not affinity and not anti:
            return None, SKIP
        affinity_counts, anti_counts = incoming_counts_fast(table, affinity, anti)
        state.write(_PRE_FILTER_KEY, FilterState(pod, affinity, anti, ns_labels, existing,
                                                 affinity_counts, anti_counts))
        return None, None

    def pre_filter_extensions(self) -> InterPodAffinity:
        return self

    def add_pod(self, state: CycleState, pod: PodInfo, pod_to_add: PodInfo, node: NodeInfo
                ) -> Status | None:
        s: FilterState | None = state.read(_PRE_FILTER_KEY)
        if s is not None:
            s.update_with_pod(pod_to_add, node, 1)
        return None

    def remove_pod(self, state: CycleState, pod: PodInfo, pod_to_remove: PodInfo,
                   node: NodeInfo) -> Status | None:
        s: FilterState | None = state.read(_PRE_FILTER_KEY)
        if s is not None:
            s.update_with_pod(pod_to_remove, node, -1)
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        s: FilterState | None = state.read(_PRE_FILTER_KEY)
        if s is None:
            return None
        return check_node(s, node)

    def filter_vector(self, state: CycleState, pod: PodInfo, table: NodeTable
                      ) -> Mask | bool:
        s: FilterState | None = state.read(_PRE_FILTER_KEY)
        if s is None:
            return True
        mask = np.ones(table.size, dtype=np.bool_)
        if s.affinity_terms:
            has_keys = np.ones(table.size, dtype=np.bool_)
            exist = np.ones(table.size, dtype=np.bool_)
            for term in s.affinity_terms:
                has_keys &= table.column(term.topology_key).ids[:table.size] >= 0
                exist &= s.affinity.positive(term.topology_key)
            if not s.affinity and matches_all(s.affinity_terms, pod):
                mask &= has_keys
            else:
                mask &= has_keys & exist
        for term in s.anti_terms:
            mask &= ~s.anti.positive(term.topology_key)
        for key in s.existing_anti.by_key:
            mask &= ~s.existing_anti.positive(key)
        return mask

    # -- scoring -------------------------------------------------------------------------

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
                  ) -> Status | None:
        if not nodes:
            return None
        has_constraints = bool(pod.preferred_affinity_terms or
                               pod.preferred_anti_affinity_terms)
        if self.ignore_existing_preferred and not has_constraints:
            return SKIP
        if pod.parse_error:
            return unresolvable(pod.parse_error)
        ns_labels = self.handle.namespace_labels(pod.namespace)
        scores = topology_scores_fast(
            self.handle.cache.table, pod, ns_labels, self.hard_weight,
            tuple(WeightedAffinityTerm(merge_namespaces(w.term, self.handle), w.weight)
                  for w in pod.preferred_affinity_terms),
            tuple(WeightedAffinityTerm(merge_namespaces(w.term, self.handle), w.weight)
                  for w in pod.preferred_anti_affinity_terms),
            include_existing=not self.ignore_existing_preferred)
        if not scores:
            return SKIP
        state.write(_PRE_SCORE_KEY, scores)
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        scores: DomainCounts | None = state.read(_PRE_SCORE_KEY)
        if scores is None:
            return 0
        return sum(scores.get(key, node.labels.get(key)) for key in scores.by_key)

    def score_vector(self, state: CycleState, pod: PodInfo, table: NodeTable,
                     slots: NDArray[np.intp]) -> Scores:
        scores: DomainCounts | None = state.read(_PRE_SCORE_KEY)
        out = np.zeros(len(slots), dtype=np.int64)
        for key, array in (scores.by_key if scores is not None else {}).items():
            column = table.column(key)
            lookup = np.zeros(len(column.values) + 1, dtype=np.int64)
            lookup[:len(array)] = array
            out += lookup[column.ids[slots]]
        return out

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: Scores,
                        nodes: list[NodeInfo]) -> Status | None:
        if not state.read(_PRE_SCORE_KEY) or not len(scores):
            return None
        low, high = int(scores.min()), int(scores.max())
        diff = high - low
        if diff > 0:
            scores[:] = (MAX_NODE_SCORE * ((scores - low) / diff)).astype(np.int64)
        else:
            scores[:] = 0
        return None

    def events_to_register(self) -> list[ClusterEventWithHint]:
        return [
            ClusterEventWithHint(ClusterEvent(
                EventResource.POD,
                ActionType.ADD | ActionType.UPDATE_POD_LABEL | ActionType.DELETE),
                self._after_pod_change),
            ClusterEventWithHint(ClusterEvent(
                EventResource.NODE, ActionType.ADD | ActionType.UPDATE_NODE_LABEL)),
        ]

    def _after_pod_change(self, pod: PodInfo, old: Obj | None, new: Obj | None
                          ) -> QueueingHint:
        for obj in (old, new):
            if obj is None:
                continue
            other = PodInfo(obj)
            if other.required_anti_affinity_terms or other.required_affinity_terms:
                return QUEUE
            for term in (*pod.required_affinity_terms, *pod.required_anti_affinity_terms):
                if term.matches_pod(other, None):
                    return QUEUE
        return QUEUE_SKIP


# ----------------------------------------------------------------------------- scoring


def _add_score(scores: dict[str, dict[str, int]], key: str, value: str, amount: int) -> None:
    by_value = scores.setdefault(key, {})
    by_value[value] = by_value.get(value, 0) + amount


def topology_scores(pod: PodInfo, ns_labels: Mapping[str, str], hard_weight: int,
                    preferred: tuple[WeightedAffinityTerm, ...],
                    preferred_anti: tuple[WeightedAffinityTerm, ...],
                    nodes: Iterable[NodeInfo], include_existing: bool = True
                    ) -> dict[str, dict[str, int]]:
    """Upstream's PreScore walk (`processExistingPod` for every placed pod)."""
    scores: dict[str, dict[str, int]] = {}
    for node in nodes:
        labels = node.labels
        if not labels:
            continue
        for existing in node.pods.values():
            for sign, pods_terms in ((1, preferred), (-1, preferred_anti)):
                for wt in pods_terms:
                    if wt.term.matches_pod(existing, None) and wt.term.topology_key in labels:
                        _add_score(scores, wt.term.topology_key, labels[wt.term.topology_key],
                                   wt.weight * sign)
            if not include_existing:
                continue
            if hard_weight > 0:
                for term in existing.required_affinity_terms:
                    if term.matches_pod(pod, ns_labels) and term.topology_key in labels:
                        _add_score(scores, term.topology_key, labels[term.topology_key],
                                   hard_weight)
            for wt, sign in [(t, 1) for t in existing.preferred_affinity_terms] + \
                    [(t, -1) for t in existing.preferred_anti_affinity_terms]:
                if wt.term.matches_pod(pod, ns_labels) and wt.term.topology_key in labels:
                    _add_score(scores, wt.term.topology_key, labels[wt.term.topology_key],
                               wt.weight * sign)
    return scores


def topology_scores_fast(table: NodeTable, pod: PodInfo, ns_labels: Mapping[str, str],
                         hard_weight: int, preferred: tuple[WeightedAffinityTerm, ...],
                         preferred_anti: tuple[WeightedAffinityTerm, ...],
                         include_existing: bool = True) -> DomainCounts:
    """`topology_scores` from the table's indices (score per topology value id)."""
    scores = DomainCounts(table)
    for wt, sign in [(t, 1) for t in preferred] + [(t, -1) for t in preferred_anti]:
        counter = table.counter((_condition(wt.term),), skip_terminating=False)
        key = wt.term.topology_key
        scores.add_totals(key, table.domain_totals(key, counter.counts), wt.weight * sign)
    if include_existing:
        if hard_weight > 0:
            for term, group in table.required_affinity.groups.items():
                if group.total > 0 and term.matches_pod(pod, ns_labels):
                    key = term.topology_key
                    scores.add_totals(key, table.domain_totals(key, group.counts), hard_weight)
        for index, sign in ((table.preferred_affinity, 1), (table.preferred_anti_affinity, -1)):
            for term, group in index.groups.items():
                if group.total != 0 and term.matches_pod(pod, ns_labels):
                    key = term.topology_key
                    scores.add_totals(key, table.domain_totals(key, group.counts), sign)
    return scores


def new(args: Mapping[str, Any], handle: Handle) -> InterPodAffinity:
    weight = args.get("hardPodAffinityWeight")
    weight = 1 if weight is None else int(weight)
    if not 0 <= weight <= 100:
        raise ValueError("hardPodAffinityWeight: Invalid value: not in valid range [0-100]")
    return InterPodAffinity(handle, weight,
                            bool(args.get("ignorePreferredTermsOfExistingPods")))
