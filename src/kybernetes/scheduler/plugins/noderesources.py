"""NodeResourcesFit: the node must have room for the pod's requests (cpu, memory, ephemeral
storage, extended and other scalar resources, and one more pod); and a score for how full
the node would be, by one of three strategies.

Upstream `pkg/scheduler/framework/plugins/noderesources/{fit,least_allocated,most_allocated,
requested_to_capacity_ratio,resource_allocation}.go`, integer arithmetic included:

- Filter: each resource the pod requests must fit in allocatable minus what is requested on
  the node; "Too many pods" when the node's pod count is at its limit. The reasons are
  upstream's ("Insufficient cpu", "Insufficient example.com/gpu", ...). The status is
  UnschedulableAndUnresolvable when a request exceeds the node's whole allocatable (no
  preemption could help there), else Unschedulable.
- LeastAllocated (default): per resource `(capacity - requested) * 100 / capacity`,
  weighted mean; prefers emptier nodes.
- MostAllocated: `requested * 100 / capacity`; packs pods.
- RequestedToCapacityRatio: a piecewise-linear function of utilization given as shape
  points (utilization 0..100, score 0..10, scaled by 10).

Scoring counts request-less containers as 100m CPU / 200Mi memory (the "non-zero"
requests), so best-effort pods still spread; resources the node lacks are left out of the
mean, and so are extended resources the pod does not ask for.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

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
from kybernetes.scheduler.plugins.helpers import go_div
from kybernetes.scheduler.plugins.names import NODE_RESOURCES_FIT
from kybernetes.scheduler.podinfo import (
    CPU,
    EPHEMERAL_STORAGE,
    MEMORY,
    PodInfo,
    Resource,
    is_scalar_resource,
)
from kybernetes.scheduler.status import Code, Status

Obj = dict[str, Any]
F64 = NDArray[np.float64]

LEAST_ALLOCATED = "LeastAllocated"
MOST_ALLOCATED = "MostAllocated"
REQUESTED_TO_CAPACITY_RATIO = "RequestedToCapacityRatio"
MAX_UTILIZATION = 100
MAX_CUSTOM_PRIORITY_SCORE = 10


class ResourceSpec(NamedTuple):
    name: str
    weight: int


DEFAULT_RESOURCES = (ResourceSpec(CPU, 1), ResourceSpec(MEMORY, 1))


def is_extended_resource(name: str) -> bool:
    """Upstream's IsExtendedResourceName: a domain-prefixed name outside kubernetes.io."""
    return "/" in name and not name.startswith("kubernetes.io/") and \
        not name.startswith("requests.")


@dataclass(frozen=True)
class InsufficientResource:
    resource: str
    reason: str
    requested: int
    used: int
    capacity: int
    unresolvable: bool = False


def fits_request(req: Resource, node: NodeInfo, ignored: frozenset[str] = frozenset(),
                 ignored_groups: frozenset[str] = frozenset()) -> list[InsufficientResource]:
    """Upstream's `fitsRequest`: the resources the node is short of for this pod."""
    out: list[InsufficientResource] = []
    alloc, used = node.allocatable, node.requested
    if len(node.pods) + 1 > alloc.allowed_pod_number:
        out.append(InsufficientResource("pods", "Too many pods", 1, len(node.pods),
                                        alloc.allowed_pod_number))
    if req.milli_cpu == 0 and req.memory == 0 and req.ephemeral_storage == 0 and \
            not req.scalar:
        return out
    if req.milli_cpu > 0 and req.milli_cpu > alloc.milli_cpu - used.milli_cpu:
        out.append(InsufficientResource(CPU, "Insufficient cpu", req.milli_cpu, used.milli_cpu,
                                        alloc.milli_cpu, req.milli_cpu > alloc.milli_cpu))
    if req.memory > 0 and req.memory > alloc.memory - used.memory:
        out.append(InsufficientResource(MEMORY, "Insufficient memory", req.memory, used.memory,
                                        alloc.memory, req.memory > alloc.memory))
    if req.ephemeral_storage > 0 and \
            req.ephemeral_storage > alloc.ephemeral_storage - used.ephemeral_storage:
        out.append(InsufficientResource(
            EPHEMERAL_STORAGE, "Insufficient ephemeral-storage", req.ephemeral_storage,
            used.ephemeral_storage, alloc.ephemeral_storage,
            req.ephemeral_storage > alloc.ephemeral_storage))
    for name, amount in req.scalar.items():
        if amount == 0:
            continue
        if is_extended_resource(name) and (
                name in ignored or name.split("/", 1)[0] in ignored_groups):
            continue
        capacity = alloc.scalar.get(name, 0)
        in_use = used.scalar.get(name, 0)
        if amount > capacity - in_use:
            out.append(InsufficientResource(name, f"Insufficient {name}", amount, in_use,
                                            capacity, amount > capacity))
    return out


def fits(pod: PodInfo, node: NodeInfo) -> list[InsufficientResource]:
    return fits_request(pod.requests, node)


def status_for(insufficient: list[InsufficientResource]) -> Status | None:
    if not insufficient:
        return None
    code = Code.UNSCHEDULABLE_AND_UNRESOLVABLE if any(r.unresolvable for r in insufficient) \
        else Code.UNSCHEDULABLE
    return Status(code, tuple(r.reason for r in insufficient))


# ----------------------------------------------------------------------------- scoring

Scorer = Callable[[Sequence[int], Sequence[int]], int]
VectorScorer = Callable[[list[NDArray[np.int64]], list[NDArray[np.int64]]], Scores]


def pod_score_requests(pod: PodInfo, resources: Sequence[ResourceSpec], use_requested: bool
                       ) -> list[int]:
    """The pod's request per scored resource (non-zero cpu/memory unless `use_requested`)."""
    out = []
    for spec in resources:
        if spec.name == CPU:
            out.append(pod.requests.milli_cpu if use_requested else pod.nz_cpu)
        elif spec.name == MEMORY:
            out.append(pod.requests.memory if use_requested else pod.nz_memory)
        else:
            out.append(pod.requests.get(spec.name))
    return out


def allocatable_and_requested(node: NodeInfo, name: str, pod_request: int,
                              use_requested: bool) -> tuple[int, int]:
    """Upstream's `calculateResourceAllocatableRequest`; (0, 0) leaves the resource out."""
    if pod_request == 0 and is_scalar_resource(name):
        return 0, 0
    if name == CPU:
        used = node.requested.milli_cpu if use_requested else node.nz_cpu
        return node.allocatable.milli_cpu, used + pod_request
    if name == MEMORY:
        used = node.requested.memory if use_requested else node.nz_memory
        return node.allocatable.memory, used + pod_request
    if name == EPHEMERAL_STORAGE:
        return node.allocatable.ephemeral_storage, \
            node.requested.ephemeral_storage + pod_request
    if name in node.allocatable.scalar:
        return node.allocatable.scalar[name], node.requested.scalar.get(name, 0) + pod_request
    return 0, 0


def table_columns(table: NodeTable, name: str, pod_request: int, use_requested: bool,
                  slots: NDArray[np.intp]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Vector `allocatable_and_requested` over `slots`."""
    zeros = np.zeros(len(slots), dtype=np.int64)
    if pod_request == 0 and is_scalar_resource(name):
        return zeros, zeros
    if name == CPU:
        used = table.req_cpu if use_requested else table.nz_cpu
        return table.alloc_cpu[slots], used[slots] + pod_request
    if name == MEMORY:
        used = table.req_mem if use_requested else table.nz_mem
        return table.alloc_mem[slots], used[slots] + pod_request
    if name == EPHEMERAL_STORAGE:
        return table.alloc_eph[slots], table.req_eph[slots] + pod_request
    if name in table.scalar_alloc:
        alloc = table.scalar_alloc[name][slots]
        req = table.scalar_req[name][slots] + pod_request
        return alloc, np.where(alloc != 0, req, 0)
    return zeros, zeros


def least_requested_score(requested: int, capacity: int) -> int:
    if capacity == 0 or requested > capacity:
        return 0
    return (capacity - requested) * MAX_NODE_SCORE // capacity


def most_requested_score(requested: int, capacity: int) -> int:
    if capacity == 0:
        return 0
    requested = min(requested, capacity)
    return requested * MAX_NODE_SCORE // capacity


def _weighted_mean(resources: Sequence[ResourceSpec], per: Callable[[int, int], int]) -> Scorer:
    def scorer(requested: Sequence[int], allocatable: Sequence[int]) -> int:
        node_score = weight_sum = 0
        for spec, req, alloc in zip(resources, requested, allocatable, strict=True):
            if alloc == 0:
                continue
            node_score += per(req, alloc) * spec.weight
            weight_sum += spec.weight
        return node_score // weight_sum if weight_sum else 0
    return scorer


def _safe(alloc: NDArray[np.int64]) -> NDArray[np.int64]:
    return np.where(alloc == 0, 1, alloc)


def _vector_mean(resources: Sequence[ResourceSpec],
                 per: Callable[[NDArray[np.int64], NDArray[np.int64]], NDArray[np.int64]]
                 ) -> VectorScorer:
    def scorer(requested: list[NDArray[np.int64]], allocatable: list[NDArray[np.int64]]
               ) -> Scores:
        node_score = np.zeros(len(requested[0]), dtype=np.int64)
        weight_sum = np.zeros(len(requested[0]), dtype=np.int64)
        for spec, req, alloc in zip(resources, requested, allocatable, strict=True):
            has = alloc != 0
            node_score += np.where(has, per(req, alloc) * spec.weight, 0)
            weight_sum += has * spec.weight
        out: Scores = np.where(weight_sum > 0, node_score // np.where(weight_sum > 0,
                                                                        weight_sum, 1), 0)
        return out
    return scorer


def _least_vector(req: NDArray[np.int64], alloc: NDArray[np.int64]) -> NDArray[np.int64]:
    score = (alloc - req) * MAX_NODE_SCORE // _safe(alloc)
    out: NDArray[np.int64] = np.where((alloc == 0) | (req > alloc), 0, score)
    return out


def _most_vector(req: NDArray[np.int64], alloc: NDArray[np.int64]) -> NDArray[np.int64]:
    clamped = np.minimum(req, alloc)
    out: NDArray[np.int64] = np.where(alloc == 0, 0, clamped * MAX_NODE_SCORE // _safe(alloc))
    return out


@dataclass(frozen=True)
class ShapePoint:
    utilization: int
    score: int


def broken_linear(shape: Sequence[ShapePoint]) -> Callable[[int], int]:
    """Upstream's `BuildBrokenLinearFunction` (Go integer division)."""
    def f(p: int) -> int:
        for i, point in enumerate(shape):
            if p <= point.utilization:
                if i == 0:
                    return shape[0].score
                prev = shape[i - 1]
                return prev.score + go_div((point.score - prev.score) * (p - prev.utilization),
                                           point.utilization - prev.utilization)
        return shape[-1].score
    return f


def _rtcr(resources: Sequence[ResourceSpec], shape: Sequence[ShapePoint]
          ) -> tuple[Scorer, VectorScorer]:
    scaled = [ShapePoint(p.utilization, p.score * (MAX_NODE_SCORE // MAX_CUSTOM_PRIORITY_SCORE))
              for p in shape]
    raw = broken_linear(scaled)

    def per(requested: int, capacity: int) -> int:
        if capacity == 0 or requested > capacity:
            return raw(MAX_UTILIZATION)
        return raw(requested * MAX_UTILIZATION // capacity)

    def scorer(requested: Sequence[int], allocatable: Sequence[int]) -> int:
        node_score = weight_sum = 0
        for spec, req, alloc in zip(resources, requested, allocatable, strict=True):
            if alloc == 0:
                continue
            score = per(req, alloc)
            if score > 0:
                node_score += score * spec.weight
                weight_sum += spec.weight
        if weight_sum == 0:
            return 0
        return int(_round_half_away(node_score / weight_sum))

    table = np.asarray([raw(u) for u in range(MAX_UTILIZATION + 1)], dtype=np.int64)

    def vector(requested: list[NDArray[np.int64]], allocatable: list[NDArray[np.int64]]
               ) -> Scores:
        node_score = np.zeros(len(requested[0]), dtype=np.int64)
        weight_sum = np.zeros(len(requested[0]), dtype=np.int64)
        for spec, req, alloc in zip(resources, requested, allocatable, strict=True):
            has = alloc != 0
            over = req > alloc
            utilization = np.clip(req * MAX_UTILIZATION // _safe(alloc), 0, MAX_UTILIZATION)
            score = np.where(over, table[MAX_UTILIZATION], table[utilization])
            counted = has & (score > 0)
            node_score += np.where(counted, score * spec.weight, 0)
            weight_sum += counted * spec.weight
        mean = node_score / np.where(weight_sum > 0, weight_sum, 1)
        out: Scores = np.where(weight_sum > 0, np.floor(mean + 0.5), 0).astype(np.int64)
        return out

    return scorer, vector


def _round_half_away(x: float) -> float:
    return float(np.floor(x + 0.5)) if x >= 0 else -float(np.floor(-x + 0.5))


@dataclass
class ResourceScorer:
    """One scoring strategy over some resources (upstream's `resourceAllocationScorer`)."""

    name: str
    resources: tuple[ResourceSpec, ...]
    scorer: Scorer
    vector: VectorScorer
    use_requested: bool = False

    def score(self, pod_requests: Sequence[int], node: NodeInfo) -> int:
        requested, allocatable = [], []
        for spec, pod_request in zip(self.resources, pod_requests, strict=True):
            alloc, req = allocatable_and_requested(node, spec.name, pod_request,
                                                   self.use_requested)
            allocatable.append(alloc)
            requested.append(req if alloc else 0)
        return self.scorer(requested, allocatable)

    def score_vector(self, pod_requests: Sequence[int], table: NodeTable,
                     slots: NDArray[np.intp]) -> Scores:
        requested, allocatable = [], []
        for spec, pod_request in zip(self.resources, pod_requests, strict=True):
            alloc, req = table_columns(table, spec.name, pod_request, self.use_requested, slots)
            allocatable.append(alloc)
            requested.append(req)
        return self.vector(requested, allocatable)


def parse_resources(specs: Any, default: tuple[ResourceSpec, ...] = DEFAULT_RESOURCES
                    ) -> tuple[ResourceSpec, ...]:
    if not specs:
        return default
    out = []
    for spec in specs:
        weight = int(spec.get("weight") or 1)
        if not 1 <= weight <= 100:
            raise ValueError(f"resource weight of {spec.get('name')} not in range [1, 100]")
        out.append(ResourceSpec(str(spec["name"]), weight))
    return tuple(out)


def build_scorer(strategy: Mapping[str, Any]) -> ResourceScorer:
    kind = strategy.get("type") or LEAST_ALLOCATED
    resources = parse_resources(strategy.get("resources"))
    if kind == LEAST_ALLOCATED:
        return ResourceScorer(kind, resources, _weighted_mean(resources, least_requested_score),
                              _vector_mean(resources, _least_vector))
    if kind == MOST_ALLOCATED:
        return ResourceScorer(kind, resources, _weighted_mean(resources, most_requested_score),
                              _vector_mean(resources, _most_vector))
    if kind == REQUESTED_TO_CAPACITY_RATIO:
        shape_args = (strategy.get("requestedToCapacityRatio") or {}).get("shape") or []
        if not shape_args:
            raise ValueError("scoringStrategy.requestedToCapacityRatio.shape: Required value")
        shape = [ShapePoint(int(p.get("utilization") or 0), int(p.get("score") or 0))
                 for p in shape_args]
        for a, b in itertools.pairwise(shape):
            if b.utilization <= a.utilization:
                raise ValueError("utilization values must be sorted in increasing order")
        scorer, vector = _rtcr(resources, shape)
        return ResourceScorer(kind, resources, scorer, vector)
    raise ValueError(f"scoring strategy {kind} is not supported")


# ----------------------------------------------------------------------------- the plugin

_PRE_FILTER_KEY = "PreFilter" + NODE_RESOURCES_FIT
_PRE_SCORE_KEY = "PreScore" + NODE_RESOURCES_FIT


class Fit:
    name = NODE_RESOURCES_FIT

    def __init__(self, scorer: ResourceScorer, ignored: frozenset[str] = frozenset(),
                 ignored_groups: frozenset[str] = frozenset()) -> None:
        self.scorer = scorer
        self.ignored = ignored
        self.ignored_groups = ignored_groups

    def pre_filter(self, state: CycleState, pod: PodInfo, snapshot: Snapshot
                   ) -> tuple[PreFilterResult | None, Status | None]:
        state.write(_PRE_FILTER_KEY, pod.requests)
        return None, None

    def pre_filter_extensions(self) -> None:
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        return status_for(fits_request(pod.requests, node, self.ignored, self.ignored_groups))

    def filter_vector(self, state: CycleState, pod: PodInfo, table: NodeTable) -> Mask:
        n = table.size
        req = pod.requests
        ok: Mask = table.pod_count[:n] + 1 <= table.alloc_pods[:n]
        if req.milli_cpu > 0:
            ok &= req.milli_cpu <= table.alloc_cpu[:n] - table.req_cpu[:n]
        if req.memory > 0:
            ok &= req.memory <= table.alloc_mem[:n] - table.req_mem[:n]
        if req.ephemeral_storage > 0:
            ok &= req.ephemeral_storage <= table.alloc_eph[:n] - table.req_eph[:n]
        for name, amount in req.scalar.items():
            if amount == 0 or (is_extended_resource(name) and (
                    name in self.ignored or name.split("/", 1)[0] in self.ignored_groups)):
                continue
            if name not in table.scalar_alloc:
                return np.zeros(n, dtype=np.bool_)
            ok &= amount <= table.scalar_alloc[name][:n] - table.scalar_req[name][:n]
        return ok

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
                  ) -> Status | None:
        state.write(_PRE_SCORE_KEY, pod_score_requests(pod, self.scorer.resources,
                                                        self.scorer.use_requested))
        return None

    def _requests(self, state: CycleState, pod: PodInfo) -> list[int]:
        found = state.read(_PRE_SCORE_KEY)
        if found is None:
            found = pod_score_requests(pod, self.scorer.resources, self.scorer.use_requested)
        return list(found)

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        return self.scorer.score(self._requests(state, pod), node)

    def score_vector(self, state: CycleState, pod: PodInfo, table: NodeTable,
                     slots: NDArray[np.intp]) -> Scores:
        return self.scorer.score_vector(self._requests(state, pod), table, slots)

    def events_to_register(self) -> list[ClusterEventWithHint]:
        return [
            ClusterEventWithHint(ClusterEvent(
                EventResource.POD, ActionType.DELETE | ActionType.UPDATE_POD_SCALE_DOWN),
                _after_pod_change),
            ClusterEventWithHint(ClusterEvent(
                EventResource.NODE, ActionType.ADD | ActionType.UPDATE_NODE_ALLOCATABLE),
                _after_node_change),
        ]


def _after_pod_change(pod: PodInfo, old: Obj | None, new: Obj | None) -> QueueingHint:
    if new is None:  # deleted: only a pod that was on a node frees anything
        return QUEUE if old is not None and (old.get("spec") or {}).get("nodeName") \
            else QUEUE_SKIP
    return QUEUE


def _after_node_change(pod: PodInfo, old: Obj | None, new: Obj | None) -> QueueingHint:
    if new is None:
        return QUEUE_SKIP
    if fits(pod, NodeInfo(new)):
        return QUEUE_SKIP  # even empty, the node is short of something the pod requests
    if old is None:
        return QUEUE
    return QUEUE if _increased(pod, NodeInfo(old), NodeInfo(new)) else QUEUE_SKIP


def _increased(pod: PodInfo, old: NodeInfo, new: NodeInfo) -> bool:
    """Upstream's haveAnyRequestedResourcesIncreased."""
    a, b, req = old.allocatable, new.allocatable, pod.requests
    if b.allowed_pod_number > a.allowed_pod_number:
        return True
    if (req.milli_cpu and b.milli_cpu > a.milli_cpu) or \
            (req.memory and b.memory > a.memory) or \
            (req.ephemeral_storage and b.ephemeral_storage > a.ephemeral_storage):
        return True
    return any(amount and b.scalar.get(name, 0) > a.scalar.get(name, 0)
               for name, amount in req.scalar.items())


def new(args: Mapping[str, Any], handle: Handle) -> Fit:
    scorer = build_scorer(args.get("scoringStrategy") or {})
    return Fit(scorer, frozenset(args.get("ignoredResources") or ()),
               frozenset(args.get("ignoredResourceGroups") or ()))
