"""Pod helpers the workload controllers share: upstream's `pkg/api/v1/pod/util.go` and the
pod half of `pkg/controller/controller_utils.go`, over plain dicts.

- **Readiness and availability**: `is_pod_ready` (the `Ready` condition is `True`),
  `is_pod_available` (ready for more than `minReadySeconds`, by the condition's
  `lastTransitionTime`), `next_availability_check` (how long until a ready pod becomes
  available, so a controller can requeue then).
- **Activity**: `is_pod_active` (not Succeeded or Failed, no deletionTimestamp; what a
  ReplicaSet counts), `is_pod_terminating` (deletionTimestamp set, not yet terminal; the
  `terminatingReplicas` of apps/v1 status).
- **Deletion order**: `active_pods_order` (upstream's `ActivePods`) and
  `deletion_order` (`ActivePodsWithRanks`, the ReplicaSet's choice of pods to delete):
  unassigned before assigned, Pending < Unknown < Running, not ready before ready, lower
  `controller.kubernetes.io/pod-deletion-cost` first, higher rank (more colocated pods)
  first, more recently ready first, more restarts first, newer first. Both feature gates
  that shape it are on in 1.35 (PodDeletionCost, LogarithmicScaleDown): ready and creation
  times are compared by the power-of-two bucket of their age, ties within a bucket broken
  by uid. The sort precomputes each pod's fields once, then compares tuples of numbers,
  because a Deployment of thousands of pods sorts thousands of pods.
- **Pods from templates**: `pod_from_template` (upstream's `GetPodFromTemplate`: the
  template's labels, annotations and finalizers, `generateName: <owner>-`, the controller
  ownerReference, the template's spec).
- **The pod index** controllers list pods with (upstream's `PodControllerUIDIndex`):
  `pod_controller_uid_index` files every pod under its controller's uid, or, for an orphan,
  under `_ORPHAN_POD/<namespace>`, so a sync reads its own pods plus its namespace's orphans
  (the candidates for adoption) without scanning every pod of the cluster
  (`pods_for_owner`, upstream's `FilterPodsByOwner`).
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from kybernetes.api.objects import find_condition
from kybernetes.api.objects import meta as _meta
from kybernetes.api.objects import spec as _spec
from kybernetes.api.objects import status as _status
from kybernetes.api.timeutil import parse_time
from kybernetes.client.informer import Store
from kybernetes.client.rest import Obj
from kybernetes.controllers.refmanager import controller_ref

POD_DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
POD_CONTROLLER_UID_INDEX = "podControllerUID"
ORPHAN_POD_INDEX_KEY = "_ORPHAN_POD"
# DNS-1123 subdomain length, the limit on generateName prefixes.
_MAX_NAME_LENGTH = 253

_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}


# ----------------------------------------------------------------------------- fields


def pod_key(pod: Obj) -> str:
    """`namespace/name` (upstream's PodKey)."""
    meta = _meta(pod)
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


# ----------------------------------------------------------------------------- readiness


def ready_condition(pod: Obj) -> dict[str, Any] | None:
    return find_condition(_status(pod), "Ready")


def is_pod_ready(pod: Obj) -> bool:
    cond = ready_condition(pod)
    return cond is not None and cond.get("status") == "True"


def _ready_since(pod: Obj) -> datetime | None:
    cond = ready_condition(pod)
    if cond is None or cond.get("status") != "True":
        return None
    return parse_time(cond.get("lastTransitionTime"))


def is_pod_available(pod: Obj, min_ready_seconds: int, now: datetime) -> bool:
    """Ready, and (with `min_ready_seconds`) ready since more than that long ago."""
    if not is_pod_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = _ready_since(pod)
    return since is not None and (now - since).total_seconds() > min_ready_seconds


def next_availability_check(pod: Obj, min_ready_seconds: int, now: datetime
                            ) -> float | None:
    """Seconds until a ready but not yet available pod becomes available (None if it is
    not ready, already available, or its ready time is unknown)."""
    if min_ready_seconds <= 0 or not is_pod_ready(pod) or \
            is_pod_available(pod, min_ready_seconds, now):
        return None
    since = _ready_since(pod)
    if since is None:
        return None
    return max(0.0, min_ready_seconds - (now - since).total_seconds())


# ----------------------------------------------------------------------------- activity


def is_pod_terminal(pod: Obj) -> bool:
    return _status(pod).get("phase") in ("Succeeded", "Failed")


def is_pod_active(pod: Obj) -> bool:
    """Counted by its controller: not terminal and not being deleted."""
    return not is_pod_terminal(pod) and not _meta(pod).get("deletionTimestamp")


def is_pod_terminating(pod: Obj) -> bool:
    """Being deleted but not yet terminal (upstream's IsPodTerminating)."""
    return not is_pod_terminal(pod) and bool(_meta(pod).get("deletionTimestamp"))


def filter_active_pods(pods: Iterable[Obj]) -> list[Obj]:
    return [p for p in pods if is_pod_active(p)]


def filter_terminating_pods(pods: Iterable[Obj]) -> list[Obj]:
    return [p for p in pods if is_pod_terminating(p)]


# ----------------------------------------------------------------------------- ordering


def deletion_cost(pod: Obj) -> int:
    """The pod-deletion-cost annotation (an int32); 0 when unset or invalid."""
    raw = (_meta(pod).get("annotations") or {}).get(POD_DELETION_COST)
    if not isinstance(raw, str):
        return 0
    try:
        value = int(raw.strip(), 10)
    except ValueError:
        return 0
    return value if -(2 ** 31) <= value < 2 ** 31 else 0


def _max_restarts(pod: Obj) -> tuple[int, int]:
    """(max restarts of regular containers, max restarts of sidecar init containers)."""
    status = _status(pod)
    regular = max((int(c.get("restartCount") or 0)
                   for c in status.get("containerStatuses") or ()), default=0)
    sidecars = {c.get("name") for c in _spec(pod).get("initContainers") or ()
                if c.get("restartPolicy") == "Always"}
    sidecar = max((int(c.get("restartCount") or 0)
                   for c in status.get("initContainerStatuses") or ()
                   if c.get("name") in sidecars), default=0)
    return regular, sidecar


class _Facts:
    """What the orderings compare, computed once per pod."""

    __slots__ = ("assigned", "cost", "created", "phase", "rank", "ready", "ready_time",
                 "restarts", "uid")

    def __init__(self, pod: Obj, rank: int) -> None:
        meta = _meta(pod)
        self.assigned = bool(_spec(pod).get("nodeName"))
        self.phase = _PHASE_ORDINAL.get(str(_status(pod).get("phase")), 0)
        self.ready = is_pod_ready(pod)
        self.cost = deletion_cost(pod)
        self.rank = rank
        since = _ready_since(pod) if self.ready else None
        self.ready_time = since.timestamp() if since is not None else None
        self.restarts = _max_restarts(pod)
        created = parse_time(meta.get("creationTimestamp"))
        self.created = created.timestamp() if created is not None else None
        self.uid = str(meta.get("uid") or "")


def _after_or_zero(t1: float | None, t2: float | None) -> bool:
    """Upstream's afterOrZero: an unset time sorts first, then the later one."""
    if t1 is None or t2 is None:
        return t1 is None
    return t1 > t2


def _log_rank(t: float, now: float) -> int:
    age = (now - t) * 1e9  # Go durations are nanoseconds
    return int(math.log2(age)) if age > 0 else -1


def _by_age_bucket(t1: float | None, t2: float | None, a: _Facts, b: _Facts,
                   now: float | None) -> int:
    """LogarithmicScaleDown: compare times by the power-of-two bucket of their age."""
    if now is None or t1 is None or t2 is None:
        return -1 if _after_or_zero(t1, t2) else 1
    diff = _log_rank(t1, now) - _log_rank(t2, now)
    if diff == 0:
        return -1 if a.uid < b.uid else (1 if a.uid > b.uid else 0)
    return -1 if diff < 0 else 1


def _cmp_state(a: _Facts, b: _Facts) -> int:
    """The keys both orders start with: unassigned, then pending, then not ready first."""
    if a.assigned != b.assigned:
        return -1 if not a.assigned else 1
    if a.phase != b.phase:
        return -1 if a.phase < b.phase else 1
    if a.ready != b.ready:
        return -1 if not a.ready else 1
    return 0


def _cmp_times(a: _Facts, b: _Facts, by_time: Callable[[float | None, float | None], int]
               ) -> int:
    """The keys both orders end with: ready for less time, more restarts, then newer
    first, the times compared by `by_time`."""
    if a.ready and b.ready and a.ready_time != b.ready_time:
        return by_time(a.ready_time, b.ready_time)
    if a.restarts != b.restarts:
        return -1 if a.restarts > b.restarts else 1
    if a.created != b.created:
        return by_time(a.created, b.created)
    return 0


def _cmp_ranked(a: _Facts, b: _Facts, now: float | None) -> int:
    """Upstream's ActivePodsWithRanks.Less as a three-way comparison."""
    state = _cmp_state(a, b)
    if state:
        return state
    if a.cost != b.cost:
        return -1 if a.cost < b.cost else 1
    if a.rank != b.rank:
        return -1 if a.rank > b.rank else 1
    return _cmp_times(a, b, lambda t1, t2: _by_age_bucket(t1, t2, a, b, now))


def _cmp_active(a: _Facts, b: _Facts) -> int:
    """Upstream's ActivePods.Less (no cost, no ranks, exact times)."""
    return _cmp_state(a, b) or _cmp_times(
        a, b, lambda t1, t2: -1 if _after_or_zero(t1, t2) else 1)


def active_pods_order(pods: Sequence[Obj]) -> list[Obj]:
    """`pods` sorted as upstream's `sort.Sort(ActivePods(pods))`: the pods to delete
    first come first."""
    facts = [(_Facts(p, 0), p) for p in pods]

    def cmp(x: tuple[_Facts, Obj], y: tuple[_Facts, Obj]) -> int:
        return _cmp_active(x[0], y[0])

    facts.sort(key=functools.cmp_to_key(cmp))
    return [p for _, p in facts]


def deletion_order(pods: Sequence[Obj], ranks: Sequence[int], now: datetime | None
                   ) -> list[Obj]:
    """`pods` sorted as upstream's `ActivePodsWithRanks{pods, ranks, now}`: the pods to
    delete first come first. `ranks[i]` is the rank of `pods[i]`."""
    stamp = now.timestamp() if now is not None else None
    facts = [(_Facts(p, r), p) for p, r in zip(pods, ranks, strict=True)]

    def cmp(x: tuple[_Facts, Obj], y: tuple[_Facts, Obj]) -> int:
        return _cmp_ranked(x[0], y[0], stamp)

    facts.sort(key=functools.cmp_to_key(cmp))
    return [p for _, p in facts]


# ----------------------------------------------------------------------------- templates


def pods_prefix(owner_name: str) -> str:
    """`generateName` for an owner's pods: `<name>-` unless that is too long a name."""
    prefix = f"{owner_name}-"
    return prefix if len(prefix) <= _MAX_NAME_LENGTH else owner_name


def pod_from_template(template: Obj, owner_name: str,
                      controller: dict[str, Any] | None) -> Obj:
    """A pod to create from a pod template (upstream's GetPodFromTemplate)."""
    tmeta = template.get("metadata") or {}
    meta: dict[str, Any] = {"generateName": pods_prefix(owner_name)}
    if tmeta.get("labels"):
        meta["labels"] = dict(tmeta["labels"])
    if tmeta.get("annotations"):
        meta["annotations"] = dict(tmeta["annotations"])
    if tmeta.get("finalizers"):
        meta["finalizers"] = list(tmeta["finalizers"])
    if controller is not None:
        meta["ownerReferences"] = [dict(controller)]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": copy.deepcopy(template.get("spec") or {})}


# ----------------------------------------------------------------------------- the index


def orphan_pod_index_key(namespace: str) -> str:
    return f"{ORPHAN_POD_INDEX_KEY}/{namespace}"


def pod_controller_uid_index(pod: Obj) -> list[str]:
    """Index a pod by its controller's uid, or as an orphan of its namespace."""
    ref = controller_ref(pod)
    if ref is not None and ref.get("uid"):
        return [str(ref["uid"])]
    namespace = _meta(pod).get("namespace")
    return [orphan_pod_index_key(str(namespace))] if namespace else []


def pods_for_owner(store: Store, namespace: str, owner_uid: str, *,
                   include_orphans: bool) -> list[Obj]:
    """The pods `owner_uid` controls (and its namespace's orphans), from a store indexed
    by `pod_controller_uid_index` under `POD_CONTROLLER_UID_INDEX`."""
    pods = store.by_index(POD_CONTROLLER_UID_INDEX, owner_uid)
    if include_orphans:
        pods += store.by_index(POD_CONTROLLER_UID_INDEX, orphan_pod_index_key(namespace))
    return pods
