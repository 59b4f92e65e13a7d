"""The scheduler's cache of nodes and the pods placed on them, and the snapshot plugins read.

As upstream's `internal/cache`: nodes and *assigned* pods come from informers; a pod the
scheduler has just chosen a node for is **assumed** onto that node at once (before the
binding request is even sent), so the next pod is scheduled against the cluster as it will
be. When the informer later reports the pod bound, the assumption is confirmed. If binding
fails the pod is **forgotten**; if binding succeeded but the informer never reports it
within `assumed_ttl` after the binding finished, the assumption **expires** (a safety net;
`cleanup_expired` is called every second).

Pods may arrive before their node (informers are independent): such pods go on a NodeInfo
without a node, which is not offered to filters until the node appears. A node deleted while
pods are still on it stays the same way until they are gone.

**Snapshot.** Upstream copies the cache into a snapshot at the start of each cycle so that
the cycle sees a consistent cluster while informers keep writing. Here the whole scheduling
cycle (filter, score, assume, reserve, permit) runs without yielding to the event loop, so
nothing can change underneath it, and `Snapshot` is simply a read view of the live cache;
assumptions made by a cycle are visible to the next one, exactly as with upstream's
incremental snapshot.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from kybernetes.scheduler.nodeinfo import ImageStateSummary, NodeInfo, node_images
from kybernetes.scheduler.nodetable import NodeTable
from kybernetes.scheduler.podinfo import PodInfo

log = logging.getLogger(__name__)

Obj = dict[str, Any]

# Upstream expired assumed pods 15 minutes after their binding finished, for years.
DEFAULT_ASSUMED_TTL = 15 * 60.0


@dataclass
class _PodState:
    info: PodInfo
    deadline: float | None = None
    binding_finished: bool = False


class Cache:
    def __init__(self, *, assumed_ttl: float = DEFAULT_ASSUMED_TTL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.assumed_ttl = assumed_ttl
        self._clock = clock
        self.table = NodeTable()
        self.nodes: dict[str, NodeInfo] = {}
        self.image_states: dict[str, ImageStateSummary] = {}
        self._pods: dict[str, _PodState] = {}
        self._assumed: set[str] = set()
        self.num_nodes = 0
        self._infos: list[NodeInfo] | None = None

    @classmethod
    def of(cls, nodes: Iterable[Obj], pods: Iterable[Obj | PodInfo] = ()) -> Cache:
        """A cache holding these nodes and (assigned) pods: for tests and tools."""
        cache = cls()
        for node in nodes:
            cache.add_node(node)
        for pod in pods:
            cache.add_pod(pod if isinstance(pod, PodInfo) else PodInfo(pod))
        return cache

    # -- nodes ---------------------------------------------------------------------------

    def _node_info(self, name: str) -> NodeInfo:
        info = self.nodes.get(name)
        if info is None:
            info = NodeInfo()
            info.name = name
            self.nodes[name] = info
            self.table.add_node(info)
        return info

    def add_node(self, node: Obj) -> NodeInfo:
        name = (node.get("metadata") or {}).get("name") or ""
        info = self._node_info(name)
        if info.node is None:
            self.num_nodes += 1
            self._infos = None
        self._set_images(info, node)
        info.set_node(node)
        self.table.update_node(info)
        self._infos = None
        return info

    update_node = add_node

    def remove_node(self, node: Obj) -> None:
        name = (node.get("metadata") or {}).get("name") or ""
        info = self.nodes.get(name)
        if info is None or info.node is None:
            return
        self._set_images(info, None)
        info.node = None
        self.num_nodes -= 1
        self._infos = None
        self.table.remove_node(info)
        if not info.pods:
            del self.nodes[name]

    def _set_images(self, info: NodeInfo, node: Obj | None) -> None:
        old = node_images(info.node) if info.node is not None else {}
        new = node_images(node) if node is not None else {}
        if old == new and info.image_states.keys() == new.keys():
            return
        for name in old.keys() - new.keys():
            state = self.image_states.get(name)
            if state is not None:
                state.num_nodes -= 1
                if state.num_nodes <= 0:
                    del self.image_states[name]
        states: dict[str, ImageStateSummary] = {}
        for name, size in new.items():
            state = self.image_states.get(name)
            if state is None:
                state = self.image_states[name] = ImageStateSummary(size)
            if name not in old:
                state.num_nodes += 1
            state.size = size
            states[name] = state
        info.image_states = states

    # -- pods ----------------------------------------------------------------------------

    def _place(self, pi: PodInfo) -> None:
        info = self._node_info(pi.node_name)
        info.add_pod(pi)
        self.table.add_pod(info.index, pi)

    def _unplace(self, pi: PodInfo) -> None:
        info = self.nodes.get(pi.node_name)
        if info is None:
            return
        if info.remove_pod(pi):
            self.table.remove_pod(info.index, pi)
        if info.node is None and not info.pods:
            self.table.release_if_empty(info)
            del self.nodes[pi.node_name]

    def assume_pod(self, pi: PodInfo) -> None:
        """Count the pod on `pi.node_name` before it is bound."""
        if pi.key in self._pods:
            raise ValueError(f"pod {pi.key} is in the cache, so can't be assumed")
        self._pods[pi.key] = _PodState(pi)
        self._assumed.add(pi.key)
        self._place(pi)

    def finish_binding(self, pi: PodInfo) -> None:
        state = self._pods.get(pi.key)
        if state is not None and pi.key in self._assumed:
            state.binding_finished = True
            state.deadline = self._clock() + self.assumed_ttl

    def forget_pod(self, pi: PodInfo) -> None:
        state = self._pods.get(pi.key)
        if state is None or pi.key not in self._assumed:
            return
        self._unplace(state.info)
        del self._pods[pi.key]
        self._assumed.discard(pi.key)

    def is_assumed(self, key: str) -> bool:
        return key in self._assumed

    def get_pod(self, key: str) -> PodInfo | None:
        state = self._pods.get(key)
        return state.info if state is not None else None

    def add_pod(self, pi: PodInfo) -> None:
        """An assigned pod reported by the informer (confirms an assumption)."""
        state = self._pods.get(pi.key)
        if state is not None:
            self._assumed.discard(pi.key)
            self._replace(state, pi)
            return
        self._pods[pi.key] = _PodState(pi)
        self._place(pi)

    def update_pod(self, pi: PodInfo) -> None:
        state = self._pods.get(pi.key)
        if state is None:
            self.add_pod(pi)
            return
        self._assumed.discard(pi.key)
        self._replace(state, pi)

    def _replace(self, state: _PodState, pi: PodInfo) -> None:
        old = state.info
        state.info = pi
        state.deadline = None
        if old is pi:
            return
        self._unplace(old)
        self._place(pi)

    def replace_pod_object(self, pi: PodInfo) -> None:
        """A newer copy of a pod that looks the same to scheduling: swap it in place."""
        state = self._pods.get(pi.key)
        if state is None:
            self.add_pod(pi)
            return
        self._assumed.discard(pi.key)
        state.deadline = None
        node = self.nodes.get(pi.node_name)
        if node is not None and pi.key in node.pods:
            node.pods[pi.key] = pi
            if pi.key in node.pods_with_affinity:
                node.pods_with_affinity[pi.key] = pi
            if pi.key in node.pods_with_required_anti_affinity:
                node.pods_with_required_anti_affinity[pi.key] = pi
        state.info = pi

    def remove_pod(self, key: str) -> PodInfo | None:
        state = self._pods.pop(key, None)
        if state is None:
            return None
        self._assumed.discard(key)
        self._unplace(state.info)
        return state.info

    def cleanup_expired(self) -> list[PodInfo]:
        """Drop assumptions whose binding finished `assumed_ttl` ago without the informer
        confirming them."""
        now = self._clock()
        expired = []
        for key in list(self._assumed):
            state = self._pods[key]
            if state.binding_finished and state.deadline is not None and state.deadline < now:
                log.warning("assumed pod %s expired", key)
                expired.append(state.info)
                self.remove_pod(key)
        return expired

    @property
    def pod_count(self) -> int:
        return len(self._pods)

    @property
    def assumed_count(self) -> int:
        return len(self._assumed)

    # -- the view ------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        return Snapshot(self)

    def node_infos(self) -> list[NodeInfo]:
        if self._infos is None or len(self._infos) != self.num_nodes:
            self._infos = self.table.node_infos()
        return self._infos


class Snapshot:
    """What plugins read during a cycle: the live cache (see the module notes)."""

    __slots__ = ("cache", "table")

    def __init__(self, cache: Cache) -> None:
        self.cache = cache
        self.table = cache.table

    def node_infos(self) -> list[NodeInfo]:
        """Nodes in upstream's order (round-robin across zones)."""
        return self.cache.node_infos()

    def get(self, name: str) -> NodeInfo | None:
        info = self.cache.nodes.get(name)
        return info if info is not None and info.node is not None else None

    @property
    def num_nodes(self) -> int:
        return self.cache.num_nodes

    def have_pods_with_affinity(self) -> list[NodeInfo]:
        return [n for n in self.node_infos() if n.pods_with_affinity]

    def have_pods_with_required_anti_affinity(self) -> list[NodeInfo]:
        return [n for n in self.node_infos() if n.pods_with_required_anti_affinity]
