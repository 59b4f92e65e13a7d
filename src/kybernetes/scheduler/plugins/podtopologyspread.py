"""PodTopologySpread: keep matching pods evenly spread over topology domains.

Upstream `pkg/scheduler/framework/plugins/podtopologyspread/{filtering,scoring,common}.go`.

Filtering (`whenUnsatisfiable: DoNotSchedule`): for each constraint, count the pods in the
pod's namespace matching its selector (terminating pods left out) per domain (value of the
topology key) over the *eligible* nodes: nodes having every constraint's topology key and
passing the constraint's node inclusion policies (nodeAffinityPolicy Honor by default: the
pod's nodeSelector/required affinity; nodeTaintsPolicy Ignore by default). A node fails when
`count(its domain) + (1 if the pod matches the selector) - min(count over domains) >
maxSkew`; the minimum is 0 while there are fewer domains than `minDomains`. A node lacking a
topology key fails as unresolvable.

Scoring (`ScheduleAnyway` constraints, or the system defaults — hostname maxSkew 3 and zone
maxSkew 5 — for pods selected by a Service, ReplicaSet, StatefulSet or
ReplicationController): a node scores `sum(count(domain) * log(domains + 2) + maxSkew - 1)`
and the scores are inverted so fewer matching pods is better.

Per-domain counts come from the node table's match counters (pods matching the selector, per
node) summed per label value id with numpy, so a cycle costs O(nodes) array work, not a walk
over every pod. The state keeps counts per value id; `CriticalPaths` tracks the two smallest
domains exactly as upstream does (preemption's add/remove updates go through it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kybernetes.api.selectors import LabelSelector, label_selector_from_dict
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
from kybernetes.scheduler.nodetable import LabelColumn, NodeTable
from kybernetes.scheduler.plugins.helpers import NodeSelector
from kybernetes.scheduler.plugins.names import POD_TOPOLOGY_SPREAD
from kybernetes.scheduler.plugins.tainttoleration import untolerated_taint
from kybernetes.scheduler.podinfo import (
    LABEL_HOSTNAME,
    LABEL_ZONE,
    PodInfo,
    merge_label_keys,
)
from kybernetes.scheduler.status import SKIP, Status, unresolvable, unschedulable

ERR_REASON_CONSTRAINTS_NOT_MATCH = "node(s) didn't match pod topology spread constraints"
ERR_REASON_NODE_LABEL_NOT_MATCH = ERR_REASON_CONSTRAINTS_NOT_MATCH + " (missing required label)"

DO_NOT_SCHEDULE = "DoNotSchedule"
SCHEDULE_ANYWAY = "ScheduleAnyway"
HONOR = "Honor"
IGNORE = "Ignore"
MAX_INT32 = 2**31 - 1

_PRE_FILTER_KEY = "PreFilter" + POD_TOPOLOGY_SPREAD
_PRE_SCORE_KEY = "PreScore" + POD_TOPOLOGY_SPREAD

SYSTEM_DEFAULT_CONSTRAINTS: tuple[dict[str, Any], ...] = (
    {"topologyKey": LABEL_HOSTNAME, "whenUnsatisfiable": SCHEDULE_ANYWAY, "maxSkew": 3},
    {"topologyKey": LABEL_ZONE, "whenUnsatisfiable": SCHEDULE_ANYWAY, "maxSkew": 5},
)

Obj = dict[str, Any]


@dataclass(frozen=True)
class Constraint:
    max_skew: int
    topology_key: str
    selector: LabelSelector
    min_domains: int = 1
    node_affinity_policy: str = HONOR
    node_taints_policy: str = IGNORE


def filter_constraints(constraints: Sequence[Mapping[str, Any]], pod_labels: Mapping[str, str],
                       action: str) -> list[Constraint]:
    """Upstream's `filterTopologySpreadConstraints`."""
    out = []
    for c in constraints:
        if c.get("whenUnsatisfiable") != action:
            continue
        selector = label_selector_from_dict(c.get("labelSelector"))
        selector = merge_label_keys(selector, pod_labels, c.get("matchLabelKeys") or (), ())
        out.append(Constraint(
            int(c.get("maxSkew") or 1), str(c.get("topologyKey") or ""), selector,
            int(c["minDomains"]) if c.get("minDomains") is not None else 1,
            c.get("nodeAffinityPolicy") or HONOR, c.get("nodeTaintsPolicy") or IGNORE))
    return out


def node_has_keys(labels: Mapping[str, str], constraints: Sequence[Constraint]) -> bool:
    return all(c.topology_key in labels for c in constraints)


def count_pods_matching(node: NodeInfo, selector: LabelSelector, namespace: str) -> int:
    """Upstream's `countPodsMatchSelector` (terminating pods are not counted)."""
    if selector.empty:
        return 0
    return sum(1 for p in node.pods.values()
               if not p.terminating and p.namespace == namespace and selector.matches(p.labels))


class CriticalPaths:
    """The two domains with the fewest matching pods (upstream's `criticalPaths`)."""

    __slots__ = ("paths",)

    def __init__(self) -> None:
        self.paths: list[list[Any]] = [[None, MAX_INT32], [None, MAX_INT32]]

    def update(self, value: Any, num: int) -> None:
        p = self.paths
        i = 0 if value == p[0][0] else 1 if value == p[1][0] else -1
        if i >= 0:
            p[i][1] = num
            if p[0][1] > p[1][1]:
                p[0], p[1] = p[1], p[0]
        elif num < p[0][1]:
            p[1] = p[0]
            p[0] = [value, num]
        elif num < p[1][1]:
            p[1] = [value, num]

    @property
    def min(self) -> int:
        return int(self.paths[0][1])

    def clone(self) -> CriticalPaths:
        copy = CriticalPaths()
        copy.paths = [list(self.paths[0]), list(self.paths[1])]
        return copy


@dataclass
class FilterState:
    """Per constraint: match counts per topology value id, which domains exist, the
    critical paths."""

    constraints: list[Constraint] = field(default_factory=list)
    columns: list[LabelColumn] = field(default_factory=list)
    counts: list[Scores] = field(default_factory=list)
    present: list[Mask] = field(default_factory=list)
    paths: list[CriticalPaths] = field(default_factory=list)
    node_selector: NodeSelector | None = None
    pod: PodInfo | None = None

    def clone(self) -> FilterState:
        return FilterState(list(self.constraints), list(self.columns),
                           [c.copy() for c in self.counts], [p.copy() for p in self.present],
                           [p.clone() for p in self.paths], self.node_selector, self.pod)

    def min_match(self, i: int) -> int:
        if int(self.present[i].sum()) < self.constraints[i].min_domains:
            return 0
        return self.paths[i].min

    def _ensure(self, i: int, vid: int) -> None:
        if vid >= len(self.counts[i]):
            size = max(vid + 1, len(self.columns[i].values))
            self.counts[i] = np.concatenate(
                [self.counts[i], np.zeros(size - len(self.counts[i]), dtype=np.int64)])
            self.present[i] = np.concatenate(
                [self.present[i], np.zeros(size - len(self.present[i]), dtype=np.bool_)])

    def match_num(self, i: int, vid: int) -> int:
        return int(self.counts[i][vid]) if 0 <= vid < len(self.counts[i]) else 0


def _inclusion_mask(table: NodeTable, pod: PodInfo, c: Constraint, selector_mask: Mask,
                    taints_mask: Mask | None) -> Mask:
    mask = table.valid[:table.size].copy()
    if c.node_affinity_policy == HONOR:
        mask &= selector_mask
    if c.node_taints_policy == HONOR and taints_mask is not None:
        mask &= taints_mask
    return mask


def _taints_mask(table: NodeTable, pod: PodInfo) -> Mask:
    ok = np.fromiter((untolerated_taint(pod, sig) is None for sig in table.signatures),
                     dtype=np.bool_, count=len(table.signatures))
    mask: Mask = ok[table.taint_sig[:table.size]]
    return mask


def _keys_mask(table: NodeTable, constraints: Sequence[Constraint]) -> Mask:
    mask = np.ones(table.size, dtype=np.bool_)
    for c in constraints:
        mask &= table.column(c.topology_key).ids[:table.size] >= 0
    return mask


def _counts_per_slot(table: NodeTable, pod: PodInfo, selector: LabelSelector) -> Scores:
    if selector.empty:
        return np.zeros(table.size, dtype=np.int64)
    counter = table.counter(((frozenset((pod.namespace,)), selector),), skip_terminating=True)
    counts: Scores = counter.counts[:table.size]
    return counts


def build_filter_state(table: NodeTable, pod: PodInfo, constraints: list[Constraint]
                       ) -> FilterState:
    """Upstream's `calPreFilterState`, over the table."""
    state = FilterState(constraints=constraints, pod=pod)
    selector = NodeSelector.of_pod(pod.spec)
    state.node_selector = selector
    selector_mask = selector.mask(table)
    taints = _taints_mask(table, pod) if any(c.node_taints_policy == HONOR
                                             for c in constraints) else None
    has_keys = _keys_mask(table, constraints)
    for c in constraints:
        column = table.column(c.topology_key)
        eligible = has_keys & _inclusion_mask(table, pod, c, selector_mask, taints)
        ids = column.ids[:table.size][eligible]
        per_slot = _counts_per_slot(table, pod, c.selector)[eligible]
        size = len(column.values)
        counts = np.bincount(ids, weights=per_slot.astype(np.float64), minlength=size
                             ).astype(np.int64) if len(ids) else np.zeros(size, dtype=np.int64)
        present = np.bincount(ids, minlength=size) > 0 if len(ids) else \
            np.zeros(size, dtype=np.bool_)
        paths = CriticalPaths()
        domains = np.flatnonzero(present)
        if len(domains):
            order = np.argsort(counts[domains], kind="stable")[:2]
            for k in order:
                paths.update(int(domains[k]), int(counts[domains[k]]))
        state.columns.append(column)
        state.counts.append(counts)
        state.present.append(present)
        state.paths.append(paths)
    return state


def check_node(state: FilterState, pod: PodInfo, node: NodeInfo) -> Status | None:
    """The filter for one node, from the PreFilter state."""
    for i, c in enumerate(state.constraints):
        value = node.labels.get(c.topology_key)
        if value is None:
            return unresolvable(ERR_REASON_NODE_LABEL_NOT_MATCH)
        vid = state.columns[i].index.get(value, -1)
        self_match = 1 if c.selector.matches(pod.labels) else 0
        skew = state.match_num(i, vid) + self_match - state.min_match(i)
        if skew > c.max_skew:
            return unschedulable(ERR_REASON_CONSTRAINTS_NOT_MATCH)
    return None


class PodTopologySpread:
    name = POD_TOPOLOGY_SPREAD

    def __init__(self, handle: Handle, default_constraints: Sequence[Mapping[str, Any]],
                 system_defaulted: bool) -> None:
        self.handle = handle
        self.default_constraints = list(default_constraints)
        self.system_defaulted = system_defaulted

    def constraints(self, pod: PodInfo, action: str) -> list[Constraint]:
        own = pod.spec.get("topologySpreadConstraints") or []
        if own:
            return filter_constraints(own, pod.labels, action)
        defaults = filter_constraints(self.default_constraints, pod.labels, action)
        if not defaults:
            return []
        selector = self.handle.default_selector(pod)
        if selector.empty or selector.matches_nothing:
            return []
        return [Constraint(c.max_skew, c.topology_key, selector, c.min_domains,
                           c.node_affinity_policy, c.node_taints_policy) for c in defaults]

    # -- filtering -----------------------------------------------------------------------

    def pre_filter(self, state: CycleState, pod: PodInfo, snapshot: Snapshot
                   ) -> tuple[PreFilterResult | None, Status | None]:
        try:
            constraints = self.constraints(pod, DO_NOT_SCHEDULE)
        except ValueError as err:
            return None, unresolvable(str(err))
        if not constraints:
            return None, SKIP
        state.write(_PRE_FILTER_KEY, build_filter_state(snapshot.table, pod, constraints))
        return None, None

    def pre_filter_extensions(self) -> PodTopologySpread:
        return self

    def _update(self, state: CycleState, pod: PodInfo, other: PodInfo, node: NodeInfo,
                delta: int) -> Status | None:
        s: FilterState | None = state.read(_PRE_FILTER_KEY)
        if s is None or other.namespace != pod.namespace or node.node is None:
            return None
        if not node_has_keys(node.labels, s.constraints):
            return None
        selector = s.node_selector or NodeSelector.of_pod(pod.spec)
        for i, c in enumerate(s.constraints):
            if not c.selector.matches(other.labels):
                continue
            if c.node_affinity_policy == HONOR and not selector.matches(node):
                continue
            if c.node_taints_policy == HONOR and untolerated_taint(pod, node.taints) is not None:
                continue
            vid = s.columns[i].intern(node.labels[c.topology_key])
            s._ensure(i, vid)
            s.counts[i][vid] += delta
            s.present[i][vid] = True
            s.paths[i].update(vid, int(s.counts[i][vid]))
        return None

    def add_pod(self, state: CycleState, pod: PodInfo, pod_to_add: PodInfo, node: NodeInfo
                ) -> Status | None:
        return self._update(state, pod, pod_to_add, node, 1)

    def remove_pod(self, state: CycleState, pod: PodInfo, pod_to_remove: PodInfo,
                   node: NodeInfo) -> Status | None:
        return self._update(state, pod, pod_to_remove, node, -1)

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        s: FilterState | None = state.read(_PRE_FILTER_KEY)
        if s is None or not s.constraints:
            return None
        return check_node(s, pod, node)

    def filter_vector(self, state: CycleState, pod: PodInfo, table: NodeTable
                      ) -> Mask | bool:
        s: FilterState | None = state.read(_PRE_FILTER_KEY)
        if s is None or not s.constraints:
            return True
        mask = np.ones(table.size, dtype=np.bool_)
        for i, c in enumerate(s.constraints):
            ids = s.columns[i].ids[:table.size]
            counts = np.concatenate([s.counts[i], np.zeros(
                max(0, len(s.columns[i].values) - len(s.counts[i])) + 1, dtype=np.int64)])
            match = counts[ids]  # id -1 reads the trailing 0
            self_match = 1 if c.selector.matches(pod.labels) else 0
            mask &= (ids >= 0) & (match + self_match - s.min_match(i) <= c.max_skew)
        return mask

    # -- scoring -------------------------------------------------------------------------

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
                  ) -> Status | None:
        table = self.handle.cache.table
        if not nodes or self.handle.cache.num_nodes == 0:
            return SKIP
        own = bool(pod.spec.get("topologySpreadConstraints"))
        try:
            constraints = self.constraints(pod, SCHEDULE_ANYWAY)
        except ValueError as err:
            return unresolvable(str(err))
        if not constraints:
            return SKIP
        require_all = own or not self.system_defaulted
        state.write(_PRE_SCORE_KEY, build_score_state(table, pod, constraints, nodes,
                                                      require_all))
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        s: ScoreState | None = state.read(_PRE_SCORE_KEY)
        if s is None or node.index in s.ignored:
            return 0
        total = 0.0
        for i, c in enumerate(s.constraints):
            value = node.labels.get(c.topology_key)
            if value is None:
                continue
            if c.topology_key == LABEL_HOSTNAME:
                cnt = int(s.per_slot[i][node.index])
            else:
                cnt = s.pair_counts[i].get(s.columns[i].index.get(value, -1), 0)
            total += cnt * s.weights[i] + (c.max_skew - 1)
        return _round(total)

    def score_vector(self, state: CycleState, pod: PodInfo, table: NodeTable,
                     slots: NDArray[np.intp]) -> Scores:
        s: ScoreState | None = state.read(_PRE_SCORE_KEY)
        if s is None:
            return np.zeros(len(slots), dtype=np.int64)
        total = np.zeros(len(slots), dtype=np.float64)
        for i, c in enumerate(s.constraints):
            ids = s.columns[i].ids[slots]
            has = ids >= 0
            if c.topology_key == LABEL_HOSTNAME:
                cnt = s.per_slot[i][slots].astype(np.float64)
            else:
                lookup = np.zeros(len(s.columns[i].values) + 1, dtype=np.float64)
                for vid, n in s.pair_counts[i].items():
                    lookup[vid] = n
                cnt = lookup[ids]
            total += np.where(has, cnt * s.weights[i] + (c.max_skew - 1), 0.0)
        out: Scores = np.floor(total + 0.5).astype(np.int64)
        if s.ignored:
            out[np.isin(slots, list(s.ignored))] = 0
        return out

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: Scores,
                        nodes: list[NodeInfo]) -> Status | None:
        s: ScoreState | None = state.read(_PRE_SCORE_KEY)
        if s is None:
            return None
        ignored = np.fromiter((n.index in s.ignored for n in nodes), dtype=np.bool_,
                              count=len(nodes)) if s.ignored else \
            np.zeros(len(nodes), dtype=np.bool_)
        considered = scores[~ignored]
        if not len(considered):
            scores[:] = 0
            return None
        min_score, max_score = int(considered.min()), int(considered.max())
        if max_score == 0:
            normalized = np.full(len(scores), MAX_NODE_SCORE, dtype=np.int64)
        else:
            normalized = MAX_NODE_SCORE * (max_score + min_score - scores) // max_score
        normalized[ignored] = 0
        scores[:] = normalized
        return None

    def events_to_register(self) -> list[ClusterEventWithHint]:
        return [
            ClusterEventWithHint(ClusterEvent(
                EventResource.POD,
                ActionType.ADD | ActionType.UPDATE_POD_LABEL | ActionType.DELETE),
                self._after_pod_change),
            ClusterEventWithHint(ClusterEvent(
                EventResource.NODE, ActionType.ADD | ActionType.DELETE |
                ActionType.UPDATE_NODE_LABEL | ActionType.UPDATE_NODE_TAINT)),
        ]

    def _after_pod_change(self, pod: PodInfo, old: Obj | None, new: Obj | None
                          ) -> QueueingHint:
        changed = new if new is not None else old
        if changed is None:
            return QUEUE
        meta = changed.get("metadata") or {}
        if meta.get("namespace") != pod.namespace:
            return QUEUE_SKIP
        labels = [meta.get("labels") or {}]
        if old is not None and new is not None:
            labels.append((old.get("metadata") or {}).get("labels") or {})
        try:
            constraints = self.constraints(pod, DO_NOT_SCHEDULE)
        except ValueError:
            return QUEUE
        for c in constraints:
            if any(c.selector.matches(lbl) for lbl in labels):
                return QUEUE
        return QUEUE_SKIP


@dataclass
class ScoreState:
    constraints: list[Constraint]
    columns: list[LabelColumn]
    weights: list[float]
    # Per constraint: {value id: matching pods in that domain} for domains of the
    # feasible nodes (not used for hostname, which reads per_slot).
    pair_counts: list[dict[int, int]]
    per_slot: list[Scores]
    ignored: set[int]

    def clone(self) -> ScoreState:
        return self


def build_score_state(table: NodeTable, pod: PodInfo, constraints: list[Constraint],
                      nodes: list[NodeInfo], require_all: bool) -> ScoreState:
    """Upstream's `initPreScoreState` and PreScore counting, over the table."""
    has_keys = _keys_mask(table, constraints)
    filtered = np.asarray([n.index for n in nodes], dtype=np.intp)
    ignored: set[int] = set()
    if require_all:
        ignored = {int(s) for s in filtered[~has_keys[filtered]]}
    kept = filtered[has_keys[filtered]] if require_all else filtered
    selector = NodeSelector.of_pod(pod.spec)
    selector_mask = selector.mask(table)
    taints = _taints_mask(table, pod) if any(c.node_taints_policy == HONOR
                                             for c in constraints) else None
    columns, weights, pairs, per_slots = [], [], [], []
    base = table.valid[:table.size] & (has_keys if require_all else True)
    for c in constraints:
        column = table.column(c.topology_key)
        per_slot = _counts_per_slot(table, pod, c.selector)
        if c.topology_key == LABEL_HOSTNAME:
            size = len(filtered) - len(ignored)
            pair_counts: dict[int, int] = {}
        else:
            kept_ids = column.ids[kept]
            domain_ids = np.unique(kept_ids[kept_ids >= 0])
            # Upstream counts the empty value of nodes lacking the label as a domain too.
            size = len(domain_ids) + int(not require_all and bool((kept_ids < 0).any()))
            eligible = base & _inclusion_mask(table, pod, c, selector_mask, taints)
            ids = column.ids[:table.size]
            take = eligible & np.isin(ids, domain_ids)
            sums = np.bincount(ids[take], weights=per_slot[take].astype(np.float64),
                               minlength=len(column.values)) if take.any() else \
                np.zeros(len(column.values))
            pair_counts = {int(v): int(sums[v]) for v in domain_ids}
        columns.append(column)
        weights.append(math.log(size + 2))
        pairs.append(pair_counts)
        per_slots.append(per_slot)
    return ScoreState(constraints, columns, weights, pairs, per_slots, ignored)


def _round(x: float) -> int:
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


def new(args: Mapping[str, Any], handle: Handle) -> PodTopologySpread:
    defaulting = args.get("defaultingType") or "System"
    if defaulting == "System":
        if args.get("defaultConstraints"):
            raise ValueError("defaultConstraints: must be empty when defaultingType is System")
        return PodTopologySpread(handle, SYSTEM_DEFAULT_CONSTRAINTS, True)
    if defaulting != "List":
        raise ValueError(f'defaultingType: Unsupported value: "{defaulting}"')
    return PodTopologySpread(handle, args.get("defaultConstraints") or [], False)
