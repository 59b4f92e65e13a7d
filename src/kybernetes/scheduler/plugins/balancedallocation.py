"""NodeResourcesBalancedAllocation: prefer nodes where, with the pod, the requested fraction
of each resource is similar (balanced cpu and memory use).

Upstream `pkg/scheduler/framework/plugins/noderesources/balanced_allocation.go`: per node
the fractions requested/allocatable (capped at 1) of the configured resources (cpu and
memory by default), score `(1 - std) * 100` where std is their standard deviation (for two
resources `|f1 - f2| / 2`). It uses real requests (not the 100m/200Mi defaults), and skips
best-effort pods, which would otherwise all pile onto one node.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kybernetes.scheduler.interface import CycleState, Handle, Scores
from kybernetes.scheduler.nodeinfo import NodeInfo
from kybernetes.scheduler.nodetable import NodeTable
from kybernetes.scheduler.plugins.names import NODE_RESOURCES_BALANCED_ALLOCATION
from kybernetes.scheduler.plugins.noderesources import (
    ResourceScorer,
    parse_resources,
    pod_score_requests,
)
from kybernetes.scheduler.podinfo import PodInfo
from kybernetes.scheduler.status import SKIP, Status

_PRE_SCORE_KEY = "PreScore" + NODE_RESOURCES_BALANCED_ALLOCATION


def balanced_score(requested: Sequence[int], allocatable: Sequence[int]) -> int:
    fractions = []
    for req, alloc in zip(requested, allocatable, strict=True):
        if alloc == 0:
            continue
        fractions.append(min(req / alloc, 1.0))
    std = 0.0
    if len(fractions) == 2:
        std = abs((fractions[0] - fractions[1]) / 2)
    elif len(fractions) > 2:
        mean = sum(fractions) / len(fractions)
        std = math.sqrt(sum((f - mean) ** 2 for f in fractions) / len(fractions))
    return int((1 - std) * 100)


def _balanced_vector(requested: list[NDArray[np.int64]], allocatable: list[NDArray[np.int64]]
                     ) -> Scores:
    n = len(requested[0])
    fractions = []
    valid = []
    for req, alloc in zip(requested, allocatable, strict=True):
        has = alloc != 0
        fractions.append(np.where(has, np.minimum(req / np.where(has, alloc, 1), 1.0), 0.0))
        valid.append(has)
    count = np.sum(valid, axis=0) if valid else np.zeros(n, dtype=np.int64)
    if len(fractions) == 2:
        std = np.where(count == 2, np.abs((fractions[0] - fractions[1]) / 2), 0.0)
    else:
        f = np.asarray(fractions)
        v = np.asarray(valid)
        safe = np.where(count > 0, count, 1)
        mean = (f * v).sum(axis=0) / safe
        std = np.where(count > 2, np.sqrt((((f - mean) * v) ** 2).sum(axis=0) / safe), 0.0)
        if (count == 2).any():
            # Upstream's two-resource formula, for nodes with exactly two of them.
            for i in np.flatnonzero(count == 2):
                pair = [fractions[k][i] for k in range(len(fractions)) if valid[k][i]]
                std[i] = abs((pair[0] - pair[1]) / 2)
    out: Scores = np.trunc((1 - std) * 100).astype(np.int64)
    return out


class BalancedAllocation:
    name = NODE_RESOURCES_BALANCED_ALLOCATION

    def __init__(self, scorer: ResourceScorer) -> None:
        self.scorer = scorer

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
                  ) -> Status | None:
        requests = pod_score_requests(pod, self.scorer.resources, True)
        if not any(requests):
            return SKIP
        state.write(_PRE_SCORE_KEY, requests)
        return None

    def _requests(self, state: CycleState, pod: PodInfo) -> list[int]:
        found = state.read(_PRE_SCORE_KEY)
        return list(found) if found is not None else pod_score_requests(
            pod, self.scorer.resources, True)

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        return self.scorer.score(self._requests(state, pod), node)

    def score_vector(self, state: CycleState, pod: PodInfo, table: NodeTable,
                     slots: NDArray[np.intp]) -> Scores:
        return self.scorer.score_vector(self._requests(state, pod), table, slots)


def new(args: Mapping[str, Any], handle: Handle) -> BalancedAllocation:
    resources = parse_resources(args.get("resources"))
    scorer = ResourceScorer(NODE_RESOURCES_BALANCED_ALLOCATION, resources, balanced_score,
                            _balanced_vector, use_requested=True)
    return BalancedAllocation(scorer)
