"""The plugin interfaces, one small protocol per extension point, as upstream's
`staging/src/k8s.io/kube-scheduler/framework/interface.go`.

A scheduling cycle for one pod walks these points in order:

    QueueSort      orders the active queue (one plugin per profile).
    PreEnqueue     may keep a pod out of the active queue (scheduling gates).
    PreFilter      computes per-pod state once (CycleState); may return a PreFilterResult
                   restricting the candidate nodes, Skip (its Filter is then not called),
                   or reject the pod outright.
    Filter         per node: can the pod run there? The first rejection decides the
                   node's status; statuses are what FailedScheduling events count.
    PostFilter     when no node fits: try to make room (DefaultPreemption).
    PreScore       per-pod state for scoring; Skip disables the plugin's Score.
    Score          per feasible node, 0..100 after NormalizeScore, times the plugin weight.
    Reserve        the node is chosen and the pod assumed; Unreserve undoes on failure.
    Permit         approve, deny, or make the pod Wait (with a timeout) before binding.
    PreBind/Bind/PostBind   the binding cycle, run asynchronously per pod.

Results are `Status | None` (None is Success). Pods are passed as `PodInfo`, nodes as
`NodeInfo`.

Beyond upstream, a Filter (Score) plugin may also implement `filter_vector` (`score_vector`):
answer for every node slot of the cache's `NodeTable` at once with numpy, or return None to
say "not for this pod", in which case the framework calls the per-node method. Both must
agree; the per-node method is the reference.

`EnqueueExtensions.events_to_register` lists the cluster events that may make a pod this
plugin rejected schedulable again, each with an optional queueing hint that looks at the
change and answers Queue or QueueSkip (upstream's QueueingHint). The scheduling queue wakes
unschedulable pods only for events their rejecting plugins registered.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from kybernetes.api.selectors import LabelSelector
from kybernetes.scheduler.nodeinfo import NodeInfo
from kybernetes.scheduler.podinfo import PodInfo
from kybernetes.scheduler.status import NodeToStatus, Status

if TYPE_CHECKING:
    from kybernetes.scheduler.cache import Cache, Snapshot
    from kybernetes.scheduler.nodetable import NodeTable

Obj = dict[str, Any]
Mask = NDArray[np.bool_]
Scores = NDArray[np.int64]

MAX_NODE_SCORE = 100
MIN_NODE_SCORE = 0
MAX_TOTAL_SCORE = 2**63 - 1


# ----------------------------------------------------------------------------- cycle state


class StateData(Protocol):
    def clone(self) -> StateData: ...


class CycleState:
    """Per-pod scratch space shared by the plugins of one scheduling cycle."""

    __slots__ = ("_data", "skip_filter_plugins", "skip_score_plugins")

    def __init__(self) -> None:
        self._data: dict[str, Any] = {}
        self.skip_filter_plugins: set[str] = set()
        self.skip_score_plugins: set[str] = set()

    def read(self, key: str) -> Any:
        return self._data.get(key)

    def write(self, key: str, value: Any) -> None:
        self._data[key] = value

    def clone(self) -> CycleState:
        copy = CycleState()
        for key, value in self._data.items():
            cloner = getattr(value, "clone", None)
            copy._data[key] = cloner() if callable(cloner) else value
        copy.skip_filter_plugins = set(self.skip_filter_plugins)
        copy.skip_score_plugins = set(self.skip_score_plugins)
        return copy


@dataclass(frozen=True)
class PreFilterResult:
    """The nodes a PreFilter allows (None: all nodes)."""

    node_names: frozenset[str] | None = None

    def merge(self, other: PreFilterResult | None) -> PreFilterResult:
        if other is None or other.node_names is None:
            return self
        if self.node_names is None:
            return other
        return PreFilterResult(self.node_names & other.node_names)


class NominatingMode(enum.Enum):
    NOOP = 0
    OVERRIDE = 1


@dataclass(frozen=True)
class NominatingInfo:
    nominated_node_name: str = ""
    mode: NominatingMode = NominatingMode.NOOP


@dataclass(frozen=True)
class PostFilterResult:
    nominating_info: NominatingInfo | None = None


# ----------------------------------------------------------------------------- events


class ActionType(enum.IntFlag):
    ADD = 1
    DELETE = 2
    UPDATE_NODE_ALLOCATABLE = 4
    UPDATE_NODE_LABEL = 8
    UPDATE_NODE_TAINT = 16
    UPDATE_NODE_CONDITION = 32
    UPDATE_NODE_ANNOTATION = 64
    UPDATE_POD_LABEL = 128
    UPDATE_POD_SCALE_DOWN = 256
    UPDATE_POD_TOLERATION = 512
    UPDATE_POD_SCHEDULING_GATES_ELIMINATED = 1024
    UPDATE_POD_OTHER = 2048
    UPDATE = (UPDATE_NODE_ALLOCATABLE | UPDATE_NODE_LABEL | UPDATE_NODE_TAINT |
              UPDATE_NODE_CONDITION | UPDATE_NODE_ANNOTATION | UPDATE_POD_LABEL |
              UPDATE_POD_SCALE_DOWN | UPDATE_POD_TOLERATION |
              UPDATE_POD_SCHEDULING_GATES_ELIMINATED | UPDATE_POD_OTHER)
    ALL = ADD | DELETE | UPDATE


class EventResource(enum.Enum):
    POD = "Pod"
    NODE = "Node"
    NAMESPACE = "Namespace"
    PRIORITY_CLASS = "PriorityClass"
    PVC = "PersistentVolumeClaim"
    PV = "PersistentVolume"
    STORAGE_CLASS = "StorageClass"
    WILDCARD = "*"


@dataclass(frozen=True)
class ClusterEvent:
    resource: EventResource
    action: ActionType
    label: str = ""

    def matches(self, incoming: ClusterEvent) -> bool:
        if self.resource is EventResource.WILDCARD:
            return True
        return self.resource is incoming.resource and bool(self.action & incoming.action)


class QueueingHint(enum.Enum):
    QUEUE_SKIP = 0
    QUEUE = 1


QUEUE = QueueingHint.QUEUE
QUEUE_SKIP = QueueingHint.QUEUE_SKIP

# (the unschedulable pod, old object or None, new object or None) -> hint
HintFn = Callable[[PodInfo, Obj | None, Obj | None], QueueingHint]


@dataclass(frozen=True)
class ClusterEventWithHint:
    event: ClusterEvent
    hint: HintFn | None = None


# Events the queue raises (upstream's framework.EventXxx), with their labels.
NODE_ADD = ClusterEvent(EventResource.NODE, ActionType.ADD, "NodeAdd")
NODE_DELETE = ClusterEvent(EventResource.NODE, ActionType.DELETE, "NodeDelete")
ASSIGNED_POD_ADD = ClusterEvent(EventResource.POD, ActionType.ADD, "AssignedPodAdd")
ASSIGNED_POD_DELETE = ClusterEvent(EventResource.POD, ActionType.DELETE, "AssignedPodDelete")
UNSCHEDULABLE_TIMEOUT = ClusterEvent(EventResource.WILDCARD, ActionType.ALL,
                                     "UnschedulableTimeout")
FORCE_ACTIVATE = ClusterEvent(EventResource.WILDCARD, ActionType.ALL, "ForceActivate")


# ----------------------------------------------------------------------------- plugins


class Plugin(Protocol):
    name: str


@runtime_checkable
class QueueSortPlugin(Protocol):
    name: str

    def less(self, a: Any, b: Any) -> bool: ...


@runtime_checkable
class PreEnqueuePlugin(Protocol):
    name: str

    def pre_enqueue(self, pod: PodInfo) -> Status | None: ...


class PreFilterExtensions(Protocol):
    def add_pod(self, state: CycleState, pod: PodInfo, pod_to_add: PodInfo,
                node: NodeInfo) -> Status | None: ...

    def remove_pod(self, state: CycleState, pod: PodInfo, pod_to_remove: PodInfo,
                   node: NodeInfo) -> Status | None: ...


@runtime_checkable
class PreFilterPlugin(Protocol):
    name: str

    def pre_filter(self, state: CycleState, pod: PodInfo, snapshot: Snapshot
                   ) -> tuple[PreFilterResult | None, Status | None]: ...

    def pre_filter_extensions(self) -> PreFilterExtensions | None: ...


@runtime_checkable
class FilterPlugin(Protocol):
    name: str

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None: ...


@runtime_checkable
class VectorFilterPlugin(Protocol):
    """`filter_vector` answers for every slot of the table: a mask of the nodes that pass,
    True when all pass, or None to have the framework call `filter` per node."""

    def filter_vector(self, state: CycleState, pod: PodInfo, table: NodeTable
                      ) -> Mask | bool | None: ...


@runtime_checkable
class PostFilterPlugin(Protocol):
    name: str

    def post_filter(self, state: CycleState, pod: PodInfo, statuses: NodeToStatus
                    ) -> tuple[PostFilterResult | None, Status | None]: ...


@runtime_checkable
class PreScorePlugin(Protocol):
    name: str

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
                  ) -> Status | None: ...


@runtime_checkable
class ScorePlugin(Protocol):
    name: str

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int: ...


@runtime_checkable
class VectorScorePlugin(Protocol):
    def score_vector(self, state: CycleState, pod: PodInfo, table: NodeTable,
                     slots: NDArray[np.intp]) -> Scores | None: ...


@runtime_checkable
class NormalizeScorePlugin(Protocol):
    def normalize_score(self, state: CycleState, pod: PodInfo, scores: Scores,
                        nodes: list[NodeInfo]) -> Status | None: ...


@runtime_checkable
class ReservePlugin(Protocol):
    name: str

    def reserve(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None: ...

    def unreserve(self, state: CycleState, pod: PodInfo, node_name: str) -> None: ...


@runtime_checkable
class PermitPlugin(Protocol):
    name: str

    def permit(self, state: CycleState, pod: PodInfo, node_name: str
               ) -> tuple[Status | None, float]: ...


@runtime_checkable
class PreBindPlugin(Protocol):
    name: str

    async def pre_bind(self, state: CycleState, pod: PodInfo, node_name: str
                       ) -> Status | None: ...


@runtime_checkable
class BindPlugin(Protocol):
    name: str

    async def bind(self, state: CycleState, pod: PodInfo, node_name: str
                   ) -> Status | None: ...


@runtime_checkable
class PostBindPlugin(Protocol):
    name: str

    def post_bind(self, state: CycleState, pod: PodInfo, node_name: str) -> None: ...


@runtime_checkable
class EnqueueExtensions(Protocol):
    def events_to_register(self) -> list[ClusterEventWithHint]: ...


# ----------------------------------------------------------------------------- handle


class EventSink(Protocol):
    def event(self, obj: Obj, type: Any, reason: str, message: str) -> None: ...


def _no_labels(namespace: str) -> Mapping[str, str]:
    return {}


def _no_namespaces(selector: LabelSelector) -> list[str]:
    return []


def _no_default_selector(pod: PodInfo) -> LabelSelector:
    return LabelSelector.nothing()


@dataclass
class Handle:
    """What plugins may use beyond their arguments (upstream's `framework.Handle`): the
    cache view, the API client, listers the scheduler keeps, the framework itself (for
    preemption's "would the pod fit without these victims" runs) and the nominator."""

    cache: Cache
    client: Any = None
    recorder: EventSink | None = None
    namespace_labels: Callable[[str], Mapping[str, str]] = _no_labels
    namespaces_matching: Callable[[LabelSelector], list[str]] = _no_namespaces
    default_selector: Callable[[PodInfo], LabelSelector] = _no_default_selector
    framework: Any = None
    nominator: Any = None
    # The scheduler's SharedInformerFactory (plugins' own listers: VolumeBinding's claims)
    # and how a plugin reports a cluster event of those to the scheduling queue.
    informers: Any = None
    on_cluster_event: Callable[[ClusterEvent, Obj | None, Obj | None], Any] | None = None
    # Tasks the plugins start (API calls) are kept here so they are not garbage collected.
    background: set[Any] = field(default_factory=set)

    @property
    def snapshot(self) -> Snapshot:
        return self.cache.snapshot()


PluginFactory = Callable[[Mapping[str, Any], Handle], Any]
