"""The taint eviction controller: pods leave nodes with NoExecute taints they do not
tolerate, upstream's `pkg/controller/tainteviction/taint_eviction.go`.

Keys in the one work queue say what to look at:

- `node/<name>`: a node was added, deleted, or its NoExecute taints changed: every pod
  bound to it (a `spec.nodeName` index on the pod cache) is processed.
- `pod/<namespace>/<name>`: a bound pod was added, or its node or tolerations changed.
- `evict/<namespace>/<name>`: a scheduled eviction may be due.

Processing a pod against its node's NoExecute taints is upstream's `processPodOnNode`:
no taints cancels any scheduled eviction; a taint no toleration tolerates schedules the
eviction now; otherwise the smallest `tolerationSeconds` of the tolerations used decides
(none set: tolerated forever, cancel; zero or negative: now), counted from when the pod
was first scheduled for eviction, so re-processing an already scheduled pod never
postpones it. Schedules live in `scheduled` (pod key -> created, due, on the event loop's
clock); the queue holds a delayed `evict/` key for each, and a due key whose schedule was
cancelled or moved later is a no-op, so a cancellation needs no timer of its own.

An eviction is upstream's `addConditionAndDeletePod`: an event `TaintManagerEviction`
("Marking for deletion Pod ns/name"), the `DisruptionTarget` condition (reason
`DeletionByTaintManager`, "Taint manager: deleting due to NoExecute taint") written
through `pods/status`, then a delete with the pod's own grace period. A cancelled schedule
records "Cancelling deletion of Pod ns/name".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from kybernetes.api import timeutil
from kybernetes.client import EventRecorder, NotFoundError, Preconditions, field_index, resource
from kybernetes.client.rest import Obj
from kybernetes.controllers.base import ControllerContext, QueueController

log = logging.getLogger(__name__)

NODES = resource("", "v1", "nodes")
PODS = resource("", "v1", "pods")
NODE_NAME_INDEX = "spec.nodeName"
# One function for the index, shared with the node lifecycle controller: a shared informer
# refuses the same index name with another function.
node_name_index = field_index("spec.nodeName")
DEFAULT_WORKERS = 8


@dataclass(frozen=True, slots=True)
class Scheduled:
    created: float
    due: float


def no_execute_taints(node: Obj | None) -> list[dict[str, Any]]:
    if node is None:
        return []
    return [t for t in (node.get("spec") or {}).get("taints") or []
            if isinstance(t, dict) and t.get("effect") == "NoExecute"]


def tolerates(toleration: dict[str, Any], taint: dict[str, Any]) -> bool:
    """Upstream's `Toleration.ToleratesTaint`."""
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    if toleration.get("key") and toleration["key"] != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Equal":
        return (toleration.get("value") or "") == (taint.get("value") or "")
    return operator == "Exists"


def matching_tolerations(taints: list[dict[str, Any]], tolerations: list[dict[str, Any]]
                         ) -> tuple[bool, list[dict[str, Any]]]:
    """Upstream's `GetMatchingTolerations`: whether every taint is tolerated, and the
    first toleration used for each."""
    used: list[dict[str, Any]] = []
    for taint in taints:
        match = next((t for t in tolerations if tolerates(t, taint)), None)
        if match is None:
            return False, []
        used.append(match)
    return True, used


def min_toleration_seconds(tolerations: list[dict[str, Any]]) -> float:
    """Upstream's `getMinTolerationTime`: 0 for none used, -1 for forever."""
    if not tolerations:
        return 0.0
    least: int | None = None
    for toleration in tolerations:
        seconds = toleration.get("tolerationSeconds")
        if seconds is None:
            continue
        if int(seconds) <= 0:
            return 0.0
        least = int(seconds) if least is None else min(least, int(seconds))
    return -1.0 if least is None else float(least)


def _pod_key(pod: Obj) -> str:
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


class TaintEvictionController(QueueController):
    name: ClassVar[str] = "taint-eviction-controller"

    def __init__(self, ctx: ControllerContext, *, workers: int = DEFAULT_WORKERS,
                 clock: Callable[[], float] | None = None) -> None:
        super().__init__(workers=workers)
        self.client = ctx.client
        self.clock = clock or (lambda: asyncio.get_running_loop().time())
        self.recorder = EventRecorder(ctx.client, self.name)
        self.scheduled: dict[str, Scheduled] = {}
        self.nodes = ctx.informers.informer(NODES)
        self.pods = ctx.informers.informer(PODS, indexers={NODE_NAME_INDEX: node_name_index})
        self.watch(self.nodes, on_add=self._node_changed, on_update=self._node_updated,
                   on_delete=self._node_changed)
        self.watch(self.pods, on_add=self._pod_added, on_update=self._pod_updated,
                   on_delete=self._pod_deleted)

    async def run(self) -> None:
        try:
            await super().run()
        finally:
            await self.recorder.aclose()

    # -- handlers -----------------------------------------------------------------------

    def _node_changed(self, node: Obj) -> None:
        self.enqueue(f"node/{(node.get('metadata') or {}).get('name', '')}")

    def _node_updated(self, old: Obj, new: Obj) -> None:
        if no_execute_taints(old) != no_execute_taints(new):
            self._node_changed(new)

    def _pod_added(self, pod: Obj) -> None:
        if (pod.get("spec") or {}).get("nodeName"):
            self.enqueue(f"pod/{_pod_key(pod)}")

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
        if old_spec.get("nodeName") != new_spec.get("nodeName") or \
                old_spec.get("tolerations") != new_spec.get("tolerations"):
            self.enqueue(f"pod/{_pod_key(new)}")

    def _pod_deleted(self, pod: Obj) -> None:
        self.enqueue(f"pod/{_pod_key(pod)}")

    # -- sync ---------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        kind, _, rest = key.partition("/")
        if kind == "node":
            self.sync_node(rest)
        elif kind == "pod":
            self.sync_pod(rest)
        elif kind == "evict":
            await self.evict_if_due(rest)

    def sync_node(self, name: str) -> None:
        taints = no_execute_taints(self.nodes.store.get(name))
        for pod in self.pods.store.by_index(NODE_NAME_INDEX, name):
            self.process_pod(pod, taints)

    def sync_pod(self, key: str) -> None:
        pod = self.pods.store.get(key)
        node_name = (pod.get("spec") or {}).get("nodeName") if pod is not None else None
        if pod is None or not node_name:
            self.cancel(key, event=False)
            return
        self.process_pod(pod, no_execute_taints(self.nodes.store.get(str(node_name))))

    def process_pod(self, pod: Obj, taints: list[dict[str, Any]]) -> None:
        """Upstream's `processPodOnNode`."""
        key = _pod_key(pod)
        if not taints:
            self.cancel(key, pod)
            return
        tolerations = [t for t in (pod.get("spec") or {}).get("tolerations") or []
                       if isinstance(t, dict)]
        all_tolerated, used = matching_tolerations(taints, tolerations)
        now = self.clock()
        if not all_tolerated:
            log.info("not all taints are tolerated by pod %s on node %s", key,
                     (pod.get("spec") or {}).get("nodeName"))
            self.cancel(key, pod)
            self.schedule(key, now, now)
            return
        seconds = min_toleration_seconds(used)
        if seconds < 0:
            self.cancel(key, pod)
            return
        start, due = now, now + seconds
        existing = self.scheduled.get(key)
        if existing is not None:
            start = existing.created
            if start + seconds < due:
                return
            self.cancel(key, pod)
        self.schedule(key, start, due)

    def schedule(self, key: str, created: float, due: float) -> None:
        self.scheduled[key] = Scheduled(created, due)
        self.queue.add_after(f"evict/{key}", max(0.0, due - self.clock()))

    def cancel(self, key: str, pod: Obj | None = None, *, event: bool = True) -> None:
        if self.scheduled.pop(key, None) is not None and event and pod is not None:
            self.recorder.normal(pod, "TaintManagerEviction",
                                 f"Cancelling deletion of Pod {key}")

    async def evict_if_due(self, key: str) -> None:
        entry = self.scheduled.get(key)
        if entry is None:
            return
        remaining = entry.due - self.clock()
        if remaining > 0:
            self.queue.add_after(f"evict/{key}", remaining)
            return
        namespace, _, name = key.partition("/")
        log.info("deleting pod %s (NoExecute taint)", key)
        try:
            pod = await self.client.get(PODS, name, namespace)
        except NotFoundError:
            self.scheduled.pop(key, None)
            return
        self.recorder.normal(pod, "TaintManagerEviction", f"Marking for deletion Pod {key}")
        await self.delete_pod(pod)
        if self.scheduled.get(key) is entry:
            del self.scheduled[key]

    async def delete_pod(self, pod: Obj) -> None:
        """Upstream's `addConditionAndDeletePod`."""
        meta = pod["metadata"]
        status = pod.setdefault("status", {})
        if _set_disruption_target(status.setdefault("conditions", []), timeutil.now_rfc3339()):
            try:
                pod = await self.client.update_status(PODS, pod)
            except NotFoundError:
                return
        try:
            await self.client.delete(PODS, meta["name"], meta["namespace"],
                                     preconditions=Preconditions(uid=meta.get("uid")))
        except NotFoundError:
            return


def _set_disruption_target(conditions: list[Any], now: str) -> bool:
    """Upstream's `UpdatePodCondition` with the taint manager's condition; whether it
    changed anything."""
    wanted = {"type": "DisruptionTarget", "status": "True",
              "reason": "DeletionByTaintManager",
              "message": "Taint manager: deleting due to NoExecute taint"}
    for i, existing in enumerate(conditions):
        if isinstance(existing, dict) and existing.get("type") == "DisruptionTarget":
            if all(existing.get(k) == v for k, v in wanted.items()):
                return False
            transition = existing.get("lastTransitionTime") \
                if existing.get("status") == "True" else now
            conditions[i] = {**wanted, "lastProbeTime": None,
                             "lastTransitionTime": transition or now}
            return True
    conditions.append({**wanted, "lastProbeTime": None, "lastTransitionTime": now})
    return True

