"""`Status`: what every extension point returns, and the diagnosis of a failed pod.

Upstream (`staging/src/k8s.io/kube-scheduler/framework/interface.go`) returns a `*Status`
from every plugin call, nil meaning Success. We do the same: `None` is Success, so the hot
paths (a Filter passing on thousands of nodes) allocate nothing. A non-None `Status` carries
a `Code`, the reasons (the strings that end up, counted, in `FailedScheduling` events), the
name of the plugin that produced it and, for `ERROR`, the exception.

`FitError` renders upstream's message exactly: `0/3 nodes are available: 1 node(s) had
untolerated taint(s), 2 Insufficient cpu. preemption: 0/3 nodes are available: 3 Preemption
is not helpful for scheduling.` — the reasons of every node's status counted, each as
"<count> <reason>", sorted as strings (Go's `sort.Strings`), joined with ", ".
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from enum import IntEnum


class Code(IntEnum):
    """Upstream's status codes, with their numeric values."""

    SUCCESS = 0
    # An internal error: the pod is retried after backoff, not marked unschedulable.
    ERROR = 1
    # The node does not fit now; preemption (or a cluster change) might help.
    UNSCHEDULABLE = 2
    # The node can never fit this pod as it is: preemption will not try it.
    UNSCHEDULABLE_AND_UNRESOLVABLE = 3
    # A Permit plugin wants the pod to wait before binding.
    WAIT = 4
    # The plugin has nothing to do for this pod (PreFilter, PreScore, Bind).
    SKIP = 5
    # The pod waits for something outside the scheduler (PreEnqueue, Permit).
    PENDING = 6


@dataclass(frozen=True, slots=True)
class Status:
    code: Code
    reasons: tuple[str, ...] = ()
    plugin: str = ""
    error: BaseException | None = None

    @property
    def message(self) -> str:
        return ", ".join(self.reasons)

    @property
    def is_rejected(self) -> bool:
        return self.code in (Code.UNSCHEDULABLE, Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
                             Code.PENDING)

    @property
    def is_skip(self) -> bool:
        return self.code == Code.SKIP

    @property
    def is_wait(self) -> bool:
        return self.code == Code.WAIT

    def with_plugin(self, plugin: str) -> Status:
        return self if self.plugin == plugin else replace(self, plugin=plugin)

    def __str__(self) -> str:
        text = self.message or (str(self.error) if self.error else "")
        return f"{self.code.name}: {text}" if text else self.code.name


def new_status(code: Code, *reasons: str) -> Status:
    return Status(code, tuple(reasons))


def unschedulable(*reasons: str) -> Status:
    return Status(Code.UNSCHEDULABLE, reasons)


def unresolvable(*reasons: str) -> Status:
    return Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, reasons)


def as_status(err: BaseException) -> Status:
    return Status(Code.ERROR, (str(err),), error=err)


SKIP = Status(Code.SKIP)
WAIT = Status(Code.WAIT)


def is_success(status: Status | None) -> bool:
    return status is None or status.code == Code.SUCCESS


# ----------------------------------------------------------------------------- diagnosis

NO_NODE_AVAILABLE = "0/{} nodes are available"
NO_NODES = "no nodes available to schedule pods"


_ABSENT = Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE)


@dataclass
class NodeToStatus:
    """The status of each node that did not pass, and one for nodes not listed
    (upstream's `NodeToStatus` with its `absentNodesStatus`)."""

    statuses: dict[str, Status] = field(default_factory=dict)
    absent: Status = _ABSENT

    def get(self, node_name: str) -> Status:
        return self.statuses.get(node_name, self.absent)

    def set(self, node_name: str, status: Status) -> None:
        self.statuses[node_name] = status

    def __len__(self) -> int:
        return len(self.statuses)

    def items(self) -> Iterator[tuple[str, Status]]:
        return iter(self.statuses.items())


@dataclass
class Diagnosis:
    node_to_status: NodeToStatus = field(default_factory=NodeToStatus)
    # Plugins that rejected the pod somewhere: the events that may help are theirs.
    unschedulable_plugins: set[str] = field(default_factory=set)
    pending_plugins: set[str] = field(default_factory=set)
    pre_filter_msg: str = ""
    post_filter_msg: str = ""


def reasons_histogram(counts: Iterable[tuple[str, int]]) -> str:
    """"<n> <reason>" for each reason, sorted as strings, joined with ", "."""
    return ", ".join(sorted(f"{n} {reason}" for reason, n in counts))


class FitError(Exception):
    """No node fits the pod; `str()` is upstream's `FitError.Error()`."""

    def __init__(self, pod_key: str, num_all_nodes: int, diagnosis: Diagnosis) -> None:
        super().__init__(pod_key)
        self.pod_key = pod_key
        self.num_all_nodes = num_all_nodes
        self.diagnosis = diagnosis

    def __str__(self) -> str:
        d = self.diagnosis
        message = NO_NODE_AVAILABLE.format(self.num_all_nodes) + ":"
        if d.pre_filter_msg:
            message += f" {d.pre_filter_msg}."
        else:
            counts: dict[str, int] = {}
            for _, status in d.node_to_status.items():
                for reason in status.reasons:
                    counts[reason] = counts.get(reason, 0) + 1
            absent = self.num_all_nodes - len(d.node_to_status)
            if absent > 0:
                for reason in d.node_to_status.absent.reasons:
                    counts[reason] = counts.get(reason, 0) + absent
            histogram = reasons_histogram(counts.items())
            if histogram:
                message += f" {histogram}."
        if d.post_filter_msg:
            # No period added: PostFilter messages end with their own (upstream since 1.29).
            message += f" {d.post_filter_msg}"
        return message


def truncate_message(message: str, limit: int = 1024) -> str:
    """Upstream's `truncateMessage` for event and condition messages."""
    if len(message) <= limit:
        return message
    return message[:limit - 3] + "..."
