"""`PodInfo`: a pod as the scheduler needs it, parsed once.

A pod dict is read many times per scheduling cycle (its requests by NodeResourcesFit, its
affinity terms by InterPodAffinity for every node, its tolerations by TaintToleration), so
everything the plugins look at is parsed once into a `PodInfo` (upstream's
`framework.PodInfo`): resource requests as integers (milli-CPU, bytes), host ports, taint
tolerations, affinity terms with their selectors compiled, the resolved priority. Existing
pods on nodes get a `PodInfo` too, kept by the cache, so matching them against selectors
costs one dict lookup per label.

Requests follow upstream's `resource.PodRequests`: containers add up; each init container is
a peak taken with the sidecars (restartable init containers) started before it; the pod's
overhead is added; pod-level `spec.resources.requests` replace the containers' sum for the
resources they name. Scoring uses the "non-zero" variant, in which a container asking for no
CPU or memory counts as 100m / 200Mi (upstream's `NonMissingContainerRequests`), so that
best-effort pods still spread.

Quantity strings are parsed through an LRU cache: a cluster has few distinct request values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from kybernetes.api.quantity import milli_value, value
from kybernetes.api.selectors import (
    IN,
    NOT_IN,
    LabelSelector,
    Requirement,
    label_selector_from_dict,
)

Obj = dict[str, Any]

CPU = "cpu"
MEMORY = "memory"
EPHEMERAL_STORAGE = "ephemeral-storage"
PODS = "pods"
# Upstream's defaults for containers that request nothing, when scoring.
DEFAULT_MILLI_CPU_REQUEST = 100
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024

LABEL_HOSTNAME = "kubernetes.io/hostname"
LABEL_ZONE = "topology.kubernetes.io/zone"
LABEL_REGION = "topology.kubernetes.io/region"

TAINT_NODE_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
NO_SCHEDULE = "NoSchedule"
NO_EXECUTE = "NoExecute"
PREFER_NO_SCHEDULE = "PreferNoSchedule"


@lru_cache(maxsize=16384)
def _milli(q: Any) -> int:
    return milli_value(q)


@lru_cache(maxsize=16384)
def _whole(q: Any) -> int:
    return value(q)


def quantity(name: str, q: Any) -> int:
    """A resource quantity as the scheduler counts it: milli-units for CPU, else units."""
    try:
        return _milli(q) if name == CPU else _whole(q)
    except (ValueError, TypeError):
        return 0


def is_scalar_resource(name: str) -> bool:
    return name not in (CPU, MEMORY, EPHEMERAL_STORAGE, PODS)


class Resource:
    """Amounts of cpu (milli), memory, ephemeral storage, pods, and scalar resources."""

    __slots__ = ("allowed_pod_number", "ephemeral_storage", "memory", "milli_cpu", "scalar")

    def __init__(self, milli_cpu: int = 0, memory: int = 0, ephemeral_storage: int = 0,
                 allowed_pod_number: int = 0, scalar: dict[str, int] | None = None) -> None:
        self.milli_cpu = milli_cpu
        self.memory = memory
        self.ephemeral_storage = ephemeral_storage
        self.allowed_pod_number = allowed_pod_number
        self.scalar: dict[str, int] = scalar if scalar is not None else {}

    @classmethod
    def from_amounts(cls, amounts: Mapping[str, int]) -> Resource:
        r = cls()
        for name, amount in amounts.items():
            r.set(name, amount)
        return r

    @classmethod
    def from_list(cls, resources: Mapping[str, Any] | None) -> Resource:
        """From a ResourceList of quantity strings (a node's allocatable)."""
        r = cls()
        for name, q in (resources or {}).items():
            r.set(name, quantity(name, q))
        return r

    def get(self, name: str) -> int:
        if name == CPU:
            return self.milli_cpu
        if name == MEMORY:
            return self.memory
        if name == EPHEMERAL_STORAGE:
            return self.ephemeral_storage
        if name == PODS:
            return self.allowed_pod_number
        return self.scalar.get(name, 0)

    def set(self, name: str, amount: int) -> None:
        if name == CPU:
            self.milli_cpu = amount
        elif name == MEMORY:
            self.memory = amount
        elif name == EPHEMERAL_STORAGE:
            self.ephemeral_storage = amount
        elif name == PODS:
            self.allowed_pod_number = amount
        else:
            self.scalar[name] = amount

    def add(self, other: Resource, sign: int = 1) -> None:
        self.milli_cpu += sign * other.milli_cpu
        self.memory += sign * other.memory
        self.ephemeral_storage += sign * other.ephemeral_storage
        self.allowed_pod_number += sign * other.allowed_pod_number
        for name, amount in other.scalar.items():
            self.scalar[name] = self.scalar.get(name, 0) + sign * amount

    def clone(self) -> Resource:
        return Resource(self.milli_cpu, self.memory, self.ephemeral_storage,
                        self.allowed_pod_number, dict(self.scalar))

    @property
    def is_zero(self) -> bool:
        return not (self.milli_cpu or self.memory or self.ephemeral_storage or
                    any(self.scalar.values()))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Resource):
            return NotImplemented
        return (self.milli_cpu, self.memory, self.ephemeral_storage,
                self.allowed_pod_number) == (other.milli_cpu, other.memory,
                                             other.ephemeral_storage,
                                             other.allowed_pod_number) and \
            {k: v for k, v in self.scalar.items() if v} == \
            {k: v for k, v in other.scalar.items() if v}

    def __repr__(self) -> str:
        return (f"Resource(cpu={self.milli_cpu}m, memory={self.memory}, "
                f"ephemeral={self.ephemeral_storage}, pods={self.allowed_pod_number}, "
                f"scalar={self.scalar})")


# ----------------------------------------------------------------------------- requests


def _amounts(resources: Mapping[str, Any] | None) -> dict[str, int]:
    return {name: quantity(name, q) for name, q in (resources or {}).items()}


def _container_requests(container: Mapping[str, Any], non_missing: bool) -> dict[str, int]:
    reqs = _amounts((container.get("resources") or {}).get("requests"))
    if non_missing:
        reqs.setdefault(CPU, DEFAULT_MILLI_CPU_REQUEST)
        reqs.setdefault(MEMORY, DEFAULT_MEMORY_REQUEST)
    return reqs


def _add_into(total: dict[str, int], more: Mapping[str, int]) -> None:
    for name, amount in more.items():
        total[name] = total.get(name, 0) + amount


def _max_into(total: dict[str, int], more: Mapping[str, int]) -> None:
    for name, amount in more.items():
        if amount > total.get(name, 0):
            total[name] = amount


def pod_requests(spec: Mapping[str, Any], *, non_missing: bool = False) -> dict[str, int]:
    """Upstream's `resource.PodRequests` (with `NonMissingContainerRequests` of 100m CPU and
    200Mi memory when `non_missing`)."""
    reqs: dict[str, int] = {}
    for container in spec.get("containers") or ():
        _add_into(reqs, _container_requests(container, non_missing))
    restartable: dict[str, int] = {}
    init_peak: dict[str, int] = {}
    for container in spec.get("initContainers") or ():
        creqs = _container_requests(container, non_missing)
        if container.get("restartPolicy") == "Always":
            # A sidecar runs for the pod's whole life: it adds to the regular containers.
            _add_into(reqs, creqs)
            _add_into(restartable, creqs)
            peak = dict(restartable)
        else:
            peak = dict(creqs)
            _add_into(peak, restartable)
        _max_into(init_peak, peak)
    _max_into(reqs, init_peak)
    pod_level = (spec.get("resources") or {}).get("requests")
    if pod_level:
        for name, amount in _amounts(pod_level).items():
            if name in (CPU, MEMORY) or name.startswith("hugepages-"):
                reqs[name] = amount
    overhead = spec.get("overhead")
    if overhead:
        _add_into(reqs, _amounts(overhead))
    return reqs


# ----------------------------------------------------------------------------- taints


@dataclass(frozen=True, slots=True)
class Taint:
    key: str
    value: str
    effect: str


@dataclass(frozen=True, slots=True)
class Toleration:
    key: str = ""
    operator: str = ""
    value: str = ""
    effect: str = ""

    def tolerates(self, taint: Taint) -> bool:
        """Upstream's `Toleration.ToleratesTaint`."""
        if self.effect and self.effect != taint.effect:
            return False
        if self.key and self.key != taint.key:
            return False
        if self.operator in ("", "Equal"):
            return self.value == taint.value
        return self.operator == "Exists"


def parse_taints(taints: Iterable[Any] | None) -> tuple[Taint, ...]:
    out = []
    for t in taints or ():
        if isinstance(t, dict):
            out.append(Taint(str(t.get("key") or ""), str(t.get("value") or ""),
                             str(t.get("effect") or "")))
    return tuple(out)


def parse_tolerations(tolerations: Iterable[Any] | None) -> tuple[Toleration, ...]:
    out = []
    for t in tolerations or ():
        if isinstance(t, dict):
            out.append(Toleration(str(t.get("key") or ""), str(t.get("operator") or ""),
                                  str(t.get("value") or ""), str(t.get("effect") or "")))
    return tuple(out)


def tolerations_tolerate(tolerations: Iterable[Toleration], taint: Taint) -> bool:
    return any(t.tolerates(taint) for t in tolerations)


def find_untolerated_taint(taints: Iterable[Taint], tolerations: tuple[Toleration, ...],
                           effects: tuple[str, ...]) -> Taint | None:
    """The first taint with one of `effects` that no toleration tolerates."""
    for taint in taints:
        if taint.effect in effects and not tolerations_tolerate(tolerations, taint):
            return taint
    return None


# ----------------------------------------------------------------------------- affinity


def merge_label_keys(selector: LabelSelector, labels: Mapping[str, str],
                     match_keys: Iterable[str], mismatch_keys: Iterable[str]
                     ) -> LabelSelector:
    """Add `key in (value)` for matchLabelKeys and `key notin (value)` for
    mismatchLabelKeys present in the pod's labels (as upstream merges them)."""
    extra = [Requirement(k, IN, (labels[k],)) for k in match_keys if k in labels]
    extra += [Requirement(k, NOT_IN, (labels[k],)) for k in mismatch_keys if k in labels]
    if not extra or selector.matches_nothing:
        return selector
    return LabelSelector([*selector.requirements, *extra])


@dataclass(frozen=True, slots=True)
class AffinityTerm:
    """One pod (anti-)affinity term with its namespaces resolved: `namespaces` listed,
    `namespace_selector` (labels.Nothing() when the term has none), the label selector
    and the topology key. Hashable: equal terms of many pods share one cache entry."""

    namespaces: frozenset[str]
    namespace_selector: LabelSelector
    selector: LabelSelector
    topology_key: str

    def matches(self, namespace: str, labels: Mapping[str, str],
                namespace_labels: Mapping[str, str] | None) -> bool:
        """Upstream's `AffinityTerm.Matches`."""
        if namespace in self.namespaces or self.namespace_selector.matches(namespace_labels):
            return self.selector.matches(labels)
        return False

    def matches_pod(self, pod: PodInfo, namespace_labels: Mapping[str, str] | None) -> bool:
        return self.matches(pod.namespace, pod.labels, namespace_labels)


@dataclass(frozen=True, slots=True)
class WeightedAffinityTerm:
    term: AffinityTerm
    weight: int


def _affinity_term(term: Mapping[str, Any], namespace: str, labels: Mapping[str, str]
                   ) -> AffinityTerm:
    namespaces = frozenset(term.get("namespaces") or ())
    ns_selector_dict = term.get("namespaceSelector")
    if not namespaces and ns_selector_dict is None:
        namespaces = frozenset((namespace,))
    ns_selector = label_selector_from_dict(ns_selector_dict)
    selector = label_selector_from_dict(term.get("labelSelector"))
    selector = merge_label_keys(selector, labels, term.get("matchLabelKeys") or (),
                                term.get("mismatchLabelKeys") or ())
    return AffinityTerm(namespaces, ns_selector, selector, str(term.get("topologyKey") or ""))


def _terms(terms: Iterable[Any] | None, namespace: str, labels: Mapping[str, str]
           ) -> tuple[AffinityTerm, ...]:
    return tuple(_affinity_term(t, namespace, labels) for t in terms or ()
                 if isinstance(t, dict))


def _weighted(terms: Iterable[Any] | None, namespace: str, labels: Mapping[str, str]
              ) -> tuple[WeightedAffinityTerm, ...]:
    out = []
    for t in terms or ():
        if isinstance(t, dict) and isinstance(t.get("podAffinityTerm"), dict):
            out.append(WeightedAffinityTerm(
                _affinity_term(t["podAffinityTerm"], namespace, labels), int(t.get("weight") or 0)))
    return tuple(out)


# ----------------------------------------------------------------------------- pod info


def normalized_image_name(name: str) -> str:
    """Upstream's ImageLocality normalization: a name without a tag gets ':latest'."""
    if name.rfind(":") <= name.rfind("/"):
        return name + ":latest"
    return name


HostPort = tuple[str, str, int]  # (ip, protocol, port)


def pod_host_ports(spec: Mapping[str, Any]) -> tuple[HostPort, ...]:
    ports: list[HostPort] = []
    for kind in ("initContainers", "containers"):
        for container in spec.get(kind) or ():
            if kind == "initContainers" and container.get("restartPolicy") != "Always":
                continue
            for port in container.get("ports") or ():
                host_port = port.get("hostPort") or 0
                if host_port <= 0:
                    continue
                ports.append((str(port.get("hostIP") or "0.0.0.0"),
                              str(port.get("protocol") or "TCP"), int(host_port)))
    return tuple(ports)


def resolve_priority(spec: Mapping[str, Any]) -> int:
    """The pod's priority: `spec.priority`, which the Priority admission plugin resolves
    from its PriorityClass, else 0 (upstream's `PodPriority`)."""
    priority = spec.get("priority")
    if isinstance(priority, int) and not isinstance(priority, bool):
        return priority
    return 0


class PodInfo:
    """A pod and everything parsed from it that scheduling looks at."""

    __slots__ = (
        "creation",
        "host_ports",
        "images",
        "key",
        "labels",
        "name",
        "namespace",
        "node_name",
        "nz_cpu",
        "nz_memory",
        "parse_error",
        "pod",
        "preemption_policy",
        "preferred_affinity_terms",
        "preferred_anti_affinity_terms",
        "priority",
        "requests",
        "required_affinity_terms",
        "required_anti_affinity_terms",
        "scheduler_name",
        "start_time",
        "terminating",
        "tolerations",
        "uid",
    )

    def __init__(self, pod: Obj, priority: int | None = None) -> None:
        self.pod = pod
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        self.namespace: str = meta.get("namespace") or ""
        self.name: str = meta.get("name") or ""
        self.key = f"{self.namespace}/{self.name}"
        self.uid: str = meta.get("uid") or ""
        self.labels: dict[str, str] = meta.get("labels") or {}
        self.node_name: str = spec.get("nodeName") or ""
        self.scheduler_name: str = spec.get("schedulerName") or "default-scheduler"
        self.terminating = bool(meta.get("deletionTimestamp"))
        self.creation: str = meta.get("creationTimestamp") or ""
        self.start_time: str = (pod.get("status") or {}).get("startTime") or ""
        self.priority = resolve_priority(spec) if priority is None else priority
        self.preemption_policy: str = spec.get("preemptionPolicy") or "PreemptLowerPriority"
        self.requests = Resource.from_amounts(pod_requests(spec))
        nz = pod_requests(spec, non_missing=True)
        self.nz_cpu = nz.get(CPU, 0)
        self.nz_memory = nz.get(MEMORY, 0)
        self.host_ports = pod_host_ports(spec)
        self.tolerations = parse_tolerations(spec.get("tolerations"))
        self.images = tuple(normalized_image_name(str(c.get("image") or ""))
                            for kind in ("initContainers", "containers")
                            for c in spec.get(kind) or () if c.get("image"))
        self.parse_error: str = ""
        affinity = spec.get("affinity") or {}
        pod_affinity = affinity.get("podAffinity") or {}
        anti = affinity.get("podAntiAffinity") or {}
        empty: tuple[AffinityTerm, ...] = ()
        wempty: tuple[WeightedAffinityTerm, ...] = ()
        self.required_affinity_terms = empty
        self.required_anti_affinity_terms = empty
        self.preferred_affinity_terms = wempty
        self.preferred_anti_affinity_terms = wempty
        if pod_affinity or anti:
            try:
                ns, labels = self.namespace, self.labels
                self.required_affinity_terms = _terms(
                    pod_affinity.get("requiredDuringSchedulingIgnoredDuringExecution"), ns,
                    labels)
                self.required_anti_affinity_terms = _terms(
                    anti.get("requiredDuringSchedulingIgnoredDuringExecution"), ns, labels)
                self.preferred_affinity_terms = _weighted(
                    pod_affinity.get("preferredDuringSchedulingIgnoredDuringExecution"), ns,
                    labels)
                self.preferred_anti_affinity_terms = _weighted(
                    anti.get("preferredDuringSchedulingIgnoredDuringExecution"), ns, labels)
            except ValueError as err:
                self.parse_error = f"parsing pod: {err}"

    @property
    def has_affinity(self) -> bool:
        """Any pod (anti-)affinity term, required or preferred (upstream's
        `PodsWithAffinity` membership)."""
        return bool(self.required_affinity_terms or self.required_anti_affinity_terms or
                    self.preferred_affinity_terms or self.preferred_anti_affinity_terms)

    @property
    def has_required_anti_affinity(self) -> bool:
        return bool(self.required_anti_affinity_terms)

    @property
    def spec(self) -> Obj:
        spec: Obj = self.pod.get("spec") or {}
        return spec

    def with_pod(self, pod: Obj) -> PodInfo:
        """The same parse for a newer copy of the pod whose scheduling-relevant fields did
        not change (a status update)."""
        clone = PodInfo.__new__(PodInfo)
        for slot in PodInfo.__slots__:
            object.__setattr__(clone, slot, getattr(self, slot))
        clone.pod = pod
        clone.start_time = (pod.get("status") or {}).get("startTime") or ""
        return clone

    def __repr__(self) -> str:
        return f"<PodInfo {self.key} on {self.node_name or '-'} prio {self.priority}>"


def same_scheduling_fields(old: Obj, new: Obj) -> bool:
    """Whether two versions of a pod look the same to scheduling (only status or
    bookkeeping metadata differ)."""
    om, nm = old.get("metadata") or {}, new.get("metadata") or {}
    return (om.get("labels") == nm.get("labels") and
            bool(om.get("deletionTimestamp")) == bool(nm.get("deletionTimestamp")) and
            old.get("spec") == new.get("spec"))
