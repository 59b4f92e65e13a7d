"""Finding a node for one pod: filter, score, select (upstream's `schedulePod`,
`findNodesThatFitPod`, `prioritizeNodes`, `selectHost` in `pkg/scheduler/schedule_one.go`).

**Filtering.** After PreFilter, a pod with a nominated node tries that node first. Otherwise
nodes are examined in the cache's node order (zones interleaved), starting where the previous
cycle stopped, until `num_feasible_nodes_to_find` nodes fit: all nodes below 100, else
`percentageOfNodesToScore` of them (adaptive by default: 50% minus 1% per 125 nodes, at least
5%, at least 100 nodes) — upstream's trade of placement quality for speed in big clusters.

Filter plugins that implement `filter_vector` answer for all nodes in one numpy pass; their
masks are ANDed, and only plugins that cannot vectorise this pod run per node, on the nodes
the masks let through, in order. Nodes with nominated pods of equal or higher priority are
always checked per node (the nominated pods are added to a copy first, as upstream's
RunFilterPluginsWithNominatedPods does).

When no node fits, every node is filtered again per node to build the diagnosis the
FailedScheduling event and preemption need (which plugin rejected which node, and why).

**Scoring.** If exactly one node fits, it is chosen without scoring. Otherwise PreScore runs,
then each Score plugin over the feasible nodes (vectorised where it can), its NormalizeScore,
and its weight; the node with the highest total wins, ties broken uniformly at random.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from typing import cast

import numpy as np
from numpy.typing import NDArray

from kybernetes.scheduler.cache import Cache
from kybernetes.scheduler.framework import Framework
from kybernetes.scheduler.interface import (
    MAX_NODE_SCORE,
    CycleState,
    FilterPlugin,
    NominatingInfo,
    NormalizeScorePlugin,
    Scores,
    VectorFilterPlugin,
    VectorScorePlugin,
)
from kybernetes.scheduler.nodeinfo import NodeInfo
from kybernetes.scheduler.podinfo import PodInfo
from kybernetes.scheduler.status import (
    NO_NODES,
    Code,
    Diagnosis,
    FitError,
    Status,
    is_success,
    unresolvable,
)

log = logging.getLogger(__name__)

MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5


class NoNodesAvailable(Exception):
    def __str__(self) -> str:
        return NO_NODES


class SchedulingError(Exception):
    """A plugin failed (not a rejection): the pod is retried after backoff."""

    def __init__(self, status: Status) -> None:
        super().__init__(status.message)
        self.status = status


@dataclass
class ScheduleResult:
    suggested_host: str
    evaluated_nodes: int
    feasible_nodes: int
    nominating_info: NominatingInfo | None = None


def num_feasible_nodes_to_find(percentage: int, num_all_nodes: int) -> int:
    """Upstream's `numFeasibleNodesToFind`."""
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND:
        return num_all_nodes
    if percentage <= 0:
        percentage = 50 - num_all_nodes // 125
        percentage = max(percentage, MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND)
    found = num_all_nodes * percentage // 100
    return max(found, MIN_FEASIBLE_NODES_TO_FIND)


class Algorithm:
    def __init__(self, cache: Cache, percentage_of_nodes_to_score: int = 0,
                 rng: random.Random | None = None) -> None:
        self.cache = cache
        self.percentage_of_nodes_to_score = percentage_of_nodes_to_score
        self.next_start_node_index = 0
        self.rng = rng or random.Random()

    # -- the whole thing -----------------------------------------------------------------

    def schedule_pod(self, fw: Framework, state: CycleState, pod: PodInfo) -> ScheduleResult:
        """Raises FitError (no node fits), NoNodesAvailable or SchedulingError."""
        if self.cache.num_nodes == 0:
            raise NoNodesAvailable()
        feasible, diagnosis = self.find_nodes_that_fit(fw, state, pod)
        if not feasible:
            raise FitError(pod.key, self.cache.num_nodes, diagnosis)
        if len(feasible) == 1:
            return ScheduleResult(feasible[0].name, 1 + len(diagnosis.node_to_status), 1)
        scores = self.prioritize(fw, state, pod, feasible)
        host = self.select_host(feasible, scores)
        return ScheduleResult(host, len(feasible) + len(diagnosis.node_to_status),
                              len(feasible))

    # -- filtering -----------------------------------------------------------------------

    def find_nodes_that_fit(self, fw: Framework, state: CycleState, pod: PodInfo
                            ) -> tuple[list[NodeInfo], Diagnosis]:
        diagnosis = Diagnosis()
        snapshot = self.cache.snapshot()
        result, status, plugins = fw.run_pre_filter(state, pod)
        diagnosis.unschedulable_plugins = set(plugins)
        if not is_success(status):
            assert status is not None
            if not status.is_rejected:
                raise SchedulingError(status)
            diagnosis.node_to_status.absent = status
            diagnosis.pre_filter_msg = status.message
            if status.plugin:
                diagnosis.unschedulable_plugins.add(status.plugin)
            return [], diagnosis
        nominated = (pod.pod.get("status") or {}).get("nominatedNodeName") or ""
        if nominated:
            node = snapshot.get(nominated)
            if node is not None:
                status = fw.run_filter_plugins_with_nominated_pods(state, pod, node)
                if is_success(status):
                    return [node], diagnosis
                if status is not None and not status.is_rejected:
                    raise SchedulingError(status)
        if result is not None and result.node_names is not None:
            nodes = [n for n in (snapshot.get(name) for name in sorted(result.node_names))
                     if n is not None]
            diagnosis.node_to_status.absent = unresolvable(
                f"node(s) didn't satisfy plugin(s) [{' '.join(sorted(plugins))}]")
            order = np.asarray([n.index for n in nodes], dtype=np.intp)
        else:
            order = self.cache.table.order
        feasible = self._filter(fw, state, pod, order)
        if not feasible:
            feasible = self._diagnose(fw, state, pod, order, diagnosis)
            if feasible:
                # The bulk and the per-node answers disagree: a plugin bug; trust the
                # per-node reference.
                log.error("pod %s: vectorised filters rejected nodes that fit (%s)", pod.key,
                          ", ".join(n.name for n in feasible[:5]))
        return feasible, diagnosis

    def _filter(self, fw: Framework, state: CycleState, pod: PodInfo,
                order: NDArray[np.intp]) -> list[NodeInfo]:
        table = self.cache.table
        total = len(order)
        if total == 0:
            return []
        wanted = num_feasible_nodes_to_find(self._percentage(fw), total)
        start = self.next_start_node_index % total
        rotated = np.concatenate((order[start:], order[:start])) if start else order
        skip = state.skip_filter_plugins
        mask = table.valid[:table.size].copy()
        per_node: list[FilterPlugin] = []
        for plugin in fw.filter:
            if plugin.name in skip:
                continue
            answer = cast(VectorFilterPlugin, plugin).filter_vector(state, pod, table) \
                if plugin.name in fw.vector_filters else None
            if answer is None:
                per_node.append(plugin)
            elif answer is not True:
                mask &= answer
        nominated_slots = self._nominated_slots(fw, pod)
        passed = mask[rotated]
        infos = table.infos
        if not per_node and not nominated_slots:
            positions = np.flatnonzero(passed)[:wanted]
            processed = int(positions[-1]) + 1 if len(positions) == wanted else total
            self.next_start_node_index = (start + processed) % total
            chosen = [infos[s] for s in rotated[positions].tolist()]
            return [info for info in chosen if info is not None]
        feasible: list[NodeInfo] = []
        processed = total
        for position in np.flatnonzero(passed | np.isin(rotated, list(nominated_slots))):
            slot = int(rotated[position])
            info = infos[slot]
            if info is None:
                continue
            if slot in nominated_slots:
                ok = is_success(fw.run_filter_plugins_with_nominated_pods(state, pod, info))
            else:
                ok = all(is_success(plugin.filter(state, pod, info)) for plugin in per_node)
            if ok:
                feasible.append(info)
                if len(feasible) >= wanted:
                    processed = int(position) + 1
                    break
        self.next_start_node_index = (start + processed) % total
        return feasible

    def _nominated_slots(self, fw: Framework, pod: PodInfo) -> set[int]:
        nominator = fw.handle.nominator
        if nominator is None:
            return set()
        slots = set()
        for node_name in nominator.nodes():
            if fw.nominated_for(pod, node_name):
                info = self.cache.nodes.get(node_name)
                if info is not None and info.index >= 0:
                    slots.add(info.index)
        return slots

    def _diagnose(self, fw: Framework, state: CycleState, pod: PodInfo,
                  order: NDArray[np.intp], diagnosis: Diagnosis) -> list[NodeInfo]:
        """Every node's status, per node; returns the nodes that pass (normally none)."""
        infos = self.cache.table.infos
        passing = []
        for slot in order:
            info = infos[slot]
            if info is None or info.node is None:
                continue
            status = fw.run_filter_plugins_with_nominated_pods(state, pod, info)
            if is_success(status):
                passing.append(info)
                continue
            assert status is not None
            if not status.is_rejected:
                raise SchedulingError(status)
            diagnosis.node_to_status.set(info.name, status)
            if status.plugin:
                (diagnosis.pending_plugins if status.code == Code.PENDING
                 else diagnosis.unschedulable_plugins).add(status.plugin)
        return passing

    def _percentage(self, fw: Framework) -> int:
        own = fw.percentage_of_nodes_to_score
        return own if own is not None else self.percentage_of_nodes_to_score

    # -- scoring -------------------------------------------------------------------------

    def prioritize(self, fw: Framework, state: CycleState, pod: PodInfo,
                   nodes: list[NodeInfo]) -> Scores:
        """Weighted sum of every Score plugin's normalized scores, per node."""
        if not fw.score:
            return np.ones(len(nodes), dtype=np.int64)
        status = fw.run_pre_score(state, pod, nodes)
        if not is_success(status):
            assert status is not None
            raise SchedulingError(status)
        table = self.cache.table
        slots = np.asarray([n.index for n in nodes], dtype=np.intp)
        total = np.zeros(len(nodes), dtype=np.int64)
        for plugin in fw.score:
            if plugin.name in state.skip_score_plugins:
                continue
            scores = cast(VectorScorePlugin, plugin).score_vector(state, pod, table, slots) \
                if plugin.name in fw.vector_scores else None
            if scores is None:
                scores = np.fromiter((plugin.score(state, pod, n) for n in nodes),
                                     dtype=np.int64, count=len(nodes))
            else:
                scores = np.array(scores, dtype=np.int64)
            if plugin.name in fw.normalizers:
                status = cast(NormalizeScorePlugin, plugin).normalize_score(
                    state, pod, scores, nodes)
                if not is_success(status):
                    assert status is not None
                    raise SchedulingError(status)
            if len(scores) and (scores.max() > MAX_NODE_SCORE or scores.min() < 0):
                raise SchedulingError(Status(
                    Code.ERROR, (f"plugin {plugin.name} returns an invalid score "
                                 f"{int(scores.max())}, it should in the range of [0, "
                                 f"{MAX_NODE_SCORE}] after normalizing",), plugin.name))
            total += scores * fw.weights.get(plugin.name, 1)
        return total

    def select_host(self, nodes: list[NodeInfo], scores: Scores) -> str:
        best = np.flatnonzero(scores == scores.max())
        return nodes[int(best[self.rng.randrange(len(best))])].name
