"""`NodeTable`: the cluster's nodes as numpy columns, for filtering and scoring in bulk.

Upstream runs each Filter and Score plugin once per node, on 16 goroutines. In Python a call
per node and plugin costs about a microsecond, which at 5000 nodes and a dozen plugins is far
too slow; so the cache mirrors every `NodeInfo` into one row ("slot") of a column store, and
plugins that can answer for all nodes at once do so with a few numpy operations over these
columns (`filter_vector`, `score_vector`). The per-node plugin code stays the reference:
tests check that both agree, and a plugin that cannot vectorise a given pod (say, one with an
unusual toleration) just answers per node.

Columns:

- resources: allocatable and requested cpu, memory, ephemeral storage, pod count, the
  non-zero cpu/memory sums used for scoring, and one pair of columns per scalar resource;
- taints as a *signature id* per node (nodes with the same taints share one id), so a pod's
  tolerations are checked once per distinct set of taints, not once per node;
- labels, on demand: one int32 column per label key holding an interned value id (-1 when the
  node lacks the label), which turns node selectors and topology domains into array compares;
- images: image name -> slots having it.

Two indices over the pods on the nodes make InterPodAffinity and PodTopologySpread
independent of the number of pods:

- `MatchCounter`: for one selector (conditions ANDed: namespaces and a label selector), how
  many pods on each node match. Created on first use by a scan of all pods, then kept up to
  date as pods come and go; the least recently used are evicted beyond `MAX_COUNTERS`.
- `TermIndex`: the affinity terms that pods on the nodes carry (required anti-affinity, etc.),
  grouped by identical term, with per-node counts (or weight sums). Existing pods' terms are
  checked against an incoming pod once per distinct term instead of once per pod.

A slot whose node is deleted while pods are still counted on it stays reserved (`valid` is
False) until its last pod goes, as upstream keeps such a NodeInfo without its node.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kybernetes.api.selectors import LabelSelector
from kybernetes.scheduler.nodeinfo import NodeInfo, node_images
from kybernetes.scheduler.podinfo import (
    LABEL_REGION,
    LABEL_ZONE,
    AffinityTerm,
    PodInfo,
    Taint,
)

I64 = NDArray[np.int64]
I32 = NDArray[np.int32]
F64 = NDArray[np.float64]
Mask = NDArray[np.bool_]

MAX_COUNTERS = 256
_BETA_ZONE = "failure-domain.beta.kubernetes.io/zone"
_BETA_REGION = "failure-domain.beta.kubernetes.io/region"

Condition = tuple[frozenset[str] | None, LabelSelector]


def zone_key(labels: dict[str, str]) -> str:
    """Upstream's `GetZoneKey`: region and zone, "" when the node has neither."""
    region = labels.get(LABEL_REGION) or labels.get(_BETA_REGION) or ""
    zone = labels.get(LABEL_ZONE) or labels.get(_BETA_ZONE) or ""
    if not region and not zone:
        return ""
    return f"{region}:\x00:{zone}"


class LabelColumn:
    """Interned values of one label key, one id per slot (-1: label absent)."""

    __slots__ = ("ids", "index", "numbers", "values")

    def __init__(self, capacity: int) -> None:
        self.ids: I32 = np.full(capacity, -1, dtype=np.int32)
        self.index: dict[str, int] = {}
        self.values: list[str] = []
        self.numbers: F64 | None = None

    def intern(self, value: str) -> int:
        vid = self.index.get(value)
        if vid is None:
            vid = len(self.values)
            self.index[value] = vid
            self.values.append(value)
            self.numbers = None
        return vid

    def numeric(self) -> F64:
        """Each value id's integer value (NaN when the value is not an integer), for the
        Gt/Lt operators."""
        if self.numbers is None or len(self.numbers) != len(self.values):
            out = np.full(len(self.values) + 1, np.nan)
            for vid, text in enumerate(self.values):
                with contextlib.suppress(ValueError):
                    out[vid] = float(int(text))
            self.numbers = out
        return self.numbers


class MatchCounter:
    """Pods on each node matching every condition (namespaces, selector)."""

    __slots__ = ("conditions", "counts", "skip_terminating", "used")

    def __init__(self, conditions: tuple[Condition, ...], skip_terminating: bool,
                 capacity: int) -> None:
        self.conditions = conditions
        self.skip_terminating = skip_terminating
        self.counts: I64 = np.zeros(capacity, dtype=np.int64)
        self.used = 0

    def matches(self, pi: PodInfo) -> bool:
        if self.skip_terminating and pi.terminating:
            return False
        for namespaces, selector in self.conditions:
            if namespaces is not None and pi.namespace not in namespaces:
                return False
            if not selector.matches(pi.labels):
                return False
        return True


class TermGroup:
    __slots__ = ("counts", "term", "total")

    def __init__(self, term: AffinityTerm, capacity: int) -> None:
        self.term = term
        self.counts: I64 = np.zeros(capacity, dtype=np.int64)
        self.total = 0


class TermIndex:
    """Existing pods' affinity terms of one kind, grouped by identical term."""

    __slots__ = ("groups",)

    def __init__(self) -> None:
        self.groups: dict[AffinityTerm, TermGroup] = {}

    def add(self, slot: int, term: AffinityTerm, amount: int, capacity: int) -> None:
        group = self.groups.get(term)
        if group is None:
            if amount <= 0:
                return
            group = self.groups[term] = TermGroup(term, capacity)
        group.counts[slot] += amount
        group.total += amount
        if group.total <= 0 and not group.counts.any():
            del self.groups[term]

    def grow(self, capacity: int) -> None:
        for group in self.groups.values():
            group.counts = _grown(group.counts, capacity, 0)


def _grown(array: Any, capacity: int, fill: Any) -> Any:
    out = np.full(capacity, fill, dtype=array.dtype)
    out[:len(array)] = array
    return out


class NodeTable:
    def __init__(self, capacity: int = 64) -> None:
        self.capacity = capacity
        self.size = 0
        self._free: list[int] = []
        self.infos: list[NodeInfo | None] = []
        self.valid: Mask = np.zeros(capacity, dtype=np.bool_)
        self.alloc_cpu: I64 = np.zeros(capacity, dtype=np.int64)
        self.alloc_mem: I64 = np.zeros(capacity, dtype=np.int64)
        self.alloc_eph: I64 = np.zeros(capacity, dtype=np.int64)
        self.alloc_pods: I64 = np.zeros(capacity, dtype=np.int64)
        self.req_cpu: I64 = np.zeros(capacity, dtype=np.int64)
        self.req_mem: I64 = np.zeros(capacity, dtype=np.int64)
        self.req_eph: I64 = np.zeros(capacity, dtype=np.int64)
        self.nz_cpu: I64 = np.zeros(capacity, dtype=np.int64)
        self.nz_mem: I64 = np.zeros(capacity, dtype=np.int64)
        self.pod_count: I64 = np.zeros(capacity, dtype=np.int64)
        self.ports_in_use: I64 = np.zeros(capacity, dtype=np.int64)
        self.unschedulable: Mask = np.zeros(capacity, dtype=np.bool_)
        self.taint_sig: I32 = np.zeros(capacity, dtype=np.int32)
        self.signatures: list[tuple[Taint, ...]] = [()]
        self._signature_ids: dict[tuple[Taint, ...], int] = {(): 0}
        self.scalar_alloc: dict[str, I64] = {}
        self.scalar_req: dict[str, I64] = {}
        self._labels: dict[str, LabelColumn] = {}
        self.images: dict[str, set[int]] = {}
        self.image_sizes: dict[str, int] = {}
        self._counters: dict[tuple[tuple[Condition, ...], bool], MatchCounter] = {}
        self._tick = 0
        self.required_affinity = TermIndex()
        self.required_anti_affinity = TermIndex()
        self.preferred_affinity = TermIndex()
        self.preferred_anti_affinity = TermIndex()
        self._zones: dict[str, list[int]] = {}
        self._zone_of: dict[int, str] = {}
        self._order: NDArray[np.intp] | None = None

    # -- slots ---------------------------------------------------------------------------

    def _grow(self) -> None:
        capacity = self.capacity * 2
        for name in ("valid", "alloc_cpu", "alloc_mem", "alloc_eph", "alloc_pods", "req_cpu",
                     "req_mem", "req_eph", "nz_cpu", "nz_mem", "pod_count", "ports_in_use",
                     "unschedulable", "taint_sig"):
            setattr(self, name, _grown(getattr(self, name), capacity, 0))
        for table in (self.scalar_alloc, self.scalar_req):
            for key in table:
                table[key] = _grown(table[key], capacity, 0)
        for column in self._labels.values():
            column.ids = _grown(column.ids, capacity, -1)
        for counter in self._counters.values():
            counter.counts = _grown(counter.counts, capacity, 0)
        for index in self._term_indices():
            index.grow(capacity)
        self.capacity = capacity

    def _term_indices(self) -> tuple[TermIndex, ...]:
        return (self.required_affinity, self.required_anti_affinity, self.preferred_affinity,
                self.preferred_anti_affinity)

    def add_node(self, info: NodeInfo) -> int:
        """Give the node a slot and fill its row (its pods, if any, are counted too)."""
        if self._free:
            slot = self._free.pop()
        else:
            if self.size == self.capacity:
                self._grow()
            slot = self.size
            self.size += 1
            self.infos.append(None)
        self.infos[slot] = info
        info.index = slot
        self.update_node(info)
        for pi in info.pods.values():
            self.add_pod(slot, pi)
        return slot

    def update_node(self, info: NodeInfo) -> None:
        slot = info.index
        self.valid[slot] = info.node is not None
        alloc = info.allocatable
        self.alloc_cpu[slot] = alloc.milli_cpu
        self.alloc_mem[slot] = alloc.memory
        self.alloc_eph[slot] = alloc.ephemeral_storage
        self.alloc_pods[slot] = alloc.allowed_pod_number
        for name in set(self.scalar_alloc) | set(alloc.scalar):
            self._scalar(name)[0][slot] = alloc.scalar.get(name, 0)
        self.unschedulable[slot] = info.unschedulable
        self.taint_sig[slot] = self.signature_id(info.taints)
        labels = info.labels
        for key, column in self._labels.items():
            value = labels.get(key)
            column.ids[slot] = -1 if value is None else column.intern(value)
        self._set_images(slot, info)
        zone = zone_key(labels) if info.node is not None else None
        old_zone = self._zone_of.get(slot)
        if zone != old_zone:
            if old_zone is not None:
                members = self._zones[old_zone]
                members.remove(slot)
                if not members:
                    del self._zones[old_zone]
                del self._zone_of[slot]
            if zone is not None:
                self._zones.setdefault(zone, []).append(slot)
                self._zone_of[slot] = zone
            self._order = None

    def _set_images(self, slot: int, info: NodeInfo) -> None:
        wanted = node_images(info.node) if info.node is not None else {}
        for name, slots in list(self.images.items()):
            if slot in slots and name not in wanted:
                slots.discard(slot)
                if not slots:
                    del self.images[name]
                    self.image_sizes.pop(name, None)
        for name, size in wanted.items():
            self.images.setdefault(name, set()).add(slot)
            self.image_sizes[name] = size

    def remove_node(self, info: NodeInfo) -> None:
        """The node is gone (`info.node` is None by now); its slot is freed once no pod is
        counted on it."""
        if info.index < 0:
            return
        self.update_node(info)
        if not info.pods:
            self._release(info.index)

    def release_if_empty(self, info: NodeInfo) -> None:
        if info.node is None and not info.pods and info.index >= 0:
            self._release(info.index)

    def _release(self, slot: int) -> None:
        info = self.infos[slot]
        if info is not None:
            info.index = -1
        self.infos[slot] = None
        for column in (self.alloc_cpu, self.alloc_mem, self.alloc_eph, self.alloc_pods,
                       self.req_cpu, self.req_mem, self.req_eph, self.nz_cpu, self.nz_mem,
                       self.pod_count, self.ports_in_use):
            column[slot] = 0
        for table in (self.scalar_alloc, self.scalar_req):
            for array in table.values():
                array[slot] = 0
        for label in self._labels.values():
            label.ids[slot] = -1
        self.unschedulable[slot] = False
        self.taint_sig[slot] = 0
        self._free.append(slot)

    def signature_id(self, taints: tuple[Taint, ...]) -> int:
        sid = self._signature_ids.get(taints)
        if sid is None:
            sid = self._signature_ids[taints] = len(self.signatures)
            self.signatures.append(taints)
        return sid

    def _scalar(self, name: str) -> tuple[I64, I64]:
        if name not in self.scalar_alloc:
            self.scalar_alloc[name] = np.zeros(self.capacity, dtype=np.int64)
            self.scalar_req[name] = np.zeros(self.capacity, dtype=np.int64)
        return self.scalar_alloc[name], self.scalar_req[name]

    # -- pods ----------------------------------------------------------------------------

    def add_pod(self, slot: int, pi: PodInfo, sign: int = 1) -> None:
        r = pi.requests
        self.req_cpu[slot] += sign * r.milli_cpu
        self.req_mem[slot] += sign * r.memory
        self.req_eph[slot] += sign * r.ephemeral_storage
        self.nz_cpu[slot] += sign * pi.nz_cpu
        self.nz_mem[slot] += sign * pi.nz_memory
        self.pod_count[slot] += sign
        if pi.host_ports:
            self.ports_in_use[slot] += sign * len(pi.host_ports)
        for name, amount in r.scalar.items():
            self._scalar(name)[1][slot] += sign * amount
        for counter in self._counters.values():
            if counter.matches(pi):
                counter.counts[slot] += sign
        if pi.has_affinity:
            capacity = self.capacity
            for term in pi.required_affinity_terms:
                self.required_affinity.add(slot, term, sign, capacity)
            for term in pi.required_anti_affinity_terms:
                self.required_anti_affinity.add(slot, term, sign, capacity)
            for wterm in pi.preferred_affinity_terms:
                self.preferred_affinity.add(slot, wterm.term, sign * wterm.weight, capacity)
            for wterm in pi.preferred_anti_affinity_terms:
                self.preferred_anti_affinity.add(slot, wterm.term, sign * wterm.weight,
                                                 capacity)

    def remove_pod(self, slot: int, pi: PodInfo) -> None:
        self.add_pod(slot, pi, -1)

    # -- views ---------------------------------------------------------------------------

    def column(self, key: str) -> LabelColumn:
        """The label column for `key`, built on first use."""
        column = self._labels.get(key)
        if column is None:
            column = LabelColumn(self.capacity)
            for slot, info in enumerate(self.infos):
                if info is not None:
                    value = info.labels.get(key)
                    if value is not None:
                        column.ids[slot] = column.intern(value)
            self._labels[key] = column
        return column

    def counter(self, conditions: tuple[Condition, ...], *, skip_terminating: bool
                ) -> MatchCounter:
        """Per-node counts of pods matching all `conditions`."""
        key = (conditions, skip_terminating)
        self._tick += 1
        counter = self._counters.get(key)
        if counter is None:
            counter = MatchCounter(conditions, skip_terminating, self.capacity)
            counts = counter.counts
            for slot, info in enumerate(self.infos):
                if info is not None and info.pods:
                    counts[slot] = sum(1 for pi in info.pods.values() if counter.matches(pi))
            self._counters[key] = counter
            if len(self._counters) > MAX_COUNTERS:
                oldest = min(self._counters, key=lambda k: self._counters[k].used)
                del self._counters[oldest]
        counter.used = self._tick
        return counter

    @property
    def order(self) -> NDArray[np.intp]:
        """Valid slots in upstream's node-tree order: round-robin across zones."""
        if self._order is None:
            zones = [slots for slots in self._zones.values() if slots]
            ordered: list[int] = []
            depth = max((len(z) for z in zones), default=0)
            for i in range(depth):
                for members in zones:
                    if i < len(members):
                        ordered.append(members[i])
            self._order = np.asarray(ordered, dtype=np.intp)
        return self._order

    def node_infos(self) -> list[NodeInfo]:
        infos = self.infos
        out = []
        for slot in self.order:
            info = infos[slot]
            if info is not None:
                out.append(info)
        return out

    def domain_totals(self, key: str, counts: I64) -> I64:
        """Per label value id of `key`, the sum of `counts` over valid nodes having it."""
        n = self.size
        column = self.column(key)
        ids = column.ids[:n]
        keep = self.valid[:n] & (ids >= 0)
        out: I64 = np.zeros(len(column.values), dtype=np.int64)
        if keep.any():
            np.add.at(out, ids[keep], counts[:n][keep])
        return out
