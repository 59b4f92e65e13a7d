"""The pod garbage collector: upstream's `pkg/controller/podgc/gc_controller.go`.

Every `check_period` (20 s, upstream's gcCheckPeriod), over the informer caches:

- **Terminated pods** (phase neither Pending, Running nor Unknown) beyond
  `--terminated-pod-gc-threshold` (12500; 0 turns this off) are deleted, evicted ones
  first, then oldest first.
- **Terminating pods on out-of-service nodes** (not Ready and tainted
  `node.kubernetes.io/out-of-service`) are deleted.
- **Orphaned pods**, bound to a node that no longer exists: a missing node is quarantined
  for 40 s and confirmed gone with a live GET (the cache may lag a node's creation), then
  its pods get `DisruptionTarget` (reason `DeletionByPodGC`, "PodGC: node no longer
  exists") and are deleted.
- **Unscheduled terminating pods** (a deletionTimestamp but no node: no kubelet will ever
  finish deleting them) are deleted.

Deleting is upstream's markFailedAndDeletePod: a pod not yet terminal is first patched to
phase Failed (no kubelet is left to do it), then deleted with a 0 s grace period.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, ClassVar

from kybernetes.api import timeutil
from kybernetes.api.objects import meta as _meta
from kybernetes.client import NotFoundError, resource, wait_for_cache_sync
from kybernetes.client.rest import Obj
from kybernetes.controllers.base import Controller, ControllerContext

log = logging.getLogger(__name__)

PODS = resource("", "v1", "pods")
NODES = resource("", "v1", "nodes")
DEFAULT_TERMINATED_POD_THRESHOLD = 12500
GC_CHECK_PERIOD = 20.0
QUARANTINE_TIME = 40.0
OUT_OF_SERVICE_TAINT = "node.kubernetes.io/out-of-service"


def _phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


def _node_name(pod: Obj) -> str:
    return str((pod.get("spec") or {}).get("nodeName") or "")


def is_terminated(pod: Obj) -> bool:
    return _phase(pod) not in ("Pending", "Running", "Unknown")


def _is_evicted(pod: Obj) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Failed" and status.get("reason") == "Evicted"


def _node_ready(node: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or ())


def _out_of_service(node: Obj) -> bool:
    return any(t.get("key") == OUT_OF_SERVICE_TAINT
               for t in (node.get("spec") or {}).get("taints") or ())


def gc_order(pods: list[Obj]) -> list[Obj]:
    """Evicted first, then by creation time, then name (byEvictionAndCreationTimestamp)."""
    return sorted(pods, key=lambda p: (not _is_evicted(p),
                                       str(_meta(p).get("creationTimestamp") or ""),
                                       str(_meta(p).get("name") or "")))


class PodGCController(Controller):
    name: ClassVar[str] = "pod-garbage-collector"

    def __init__(self, ctx: ControllerContext, *,
                 terminated_pod_threshold: int = DEFAULT_TERMINATED_POD_THRESHOLD,
                 check_period: float = GC_CHECK_PERIOD, quarantine: float = QUARANTINE_TIME,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = ctx.client
        self.terminated_pod_threshold = terminated_pod_threshold
        self.check_period = check_period
        self.quarantine = quarantine
        self.clock = clock
        self.pods = ctx.informers.informer(PODS)
        self.nodes = ctx.informers.informer(NODES)
        # Nodes pods are bound to but the cache lacks: when each was first seen missing.
        self._missing: dict[str, float] = {}

    async def run(self) -> None:
        while not await wait_for_cache_sync(self.pods, self.nodes, timeout=30.0):
            log.info("%s: waiting for caches to sync", self.name)
        while True:
            try:
                await self.gc()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: garbage collection pass failed", self.name)
            await asyncio.sleep(self.check_period)

    async def gc(self) -> None:
        pods = self.pods.store.list()
        if self.terminated_pod_threshold > 0:
            await self.gc_terminated(pods)
        await self.gc_terminating(pods)
        await self.gc_orphaned(pods)
        await self.gc_unscheduled_terminating(pods)

    async def gc_terminated(self, pods: list[Obj]) -> None:
        terminated = [p for p in pods if is_terminated(p)]
        excess = len(terminated) - self.terminated_pod_threshold
        if excess <= 0:
            return
        log.info("%s: garbage collecting %d terminated pods", self.name, excess)
        await self._delete_all(gc_order(terminated)[:excess])

    async def gc_terminating(self, pods: list[Obj]) -> None:
        victims = []
        for pod in pods:
            if not _meta(pod).get("deletionTimestamp"):
                continue
            node = self.nodes.store.get(_node_name(pod))
            if node is not None and not _node_ready(node) and _out_of_service(node):
                victims.append(pod)
        await self._delete_all(gc_order(victims))

    async def gc_orphaned(self, pods: list[Obj]) -> None:
        now = self.clock()
        existing = set(self.nodes.store.keys())
        bound = {_node_name(p) for p in pods} - {""}
        for name in bound - existing:
            self._missing.setdefault(name, now)
        deleted: set[str] = set()
        for name, since in list(self._missing.items()):
            if name in existing or name not in bound:
                del self._missing[name]
                continue
            if now - since < self.quarantine:
                continue
            try:
                await self.client.get(NODES, name)
            except NotFoundError:
                deleted.add(name)
                del self._missing[name]
            else:
                del self._missing[name]
        condition = {"type": "DisruptionTarget", "status": "True",
                     "reason": "DeletionByPodGC", "message": "PodGC: node no longer exists"}
        for pod in pods:
            if _node_name(pod) in deleted:
                log.info("%s: deleting orphaned pod %s/%s of deleted node %s", self.name,
                         _meta(pod).get("namespace"), _meta(pod).get("name"), _node_name(pod))
                await self._delete_quietly(pod, condition)

    async def gc_unscheduled_terminating(self, pods: list[Obj]) -> None:
        await self._delete_all([p for p in pods if _meta(p).get("deletionTimestamp")
                                and not _node_name(p)])

    async def _delete_all(self, pods: list[Obj]) -> None:
        await asyncio.gather(*(self._delete_quietly(p) for p in pods))

    async def _delete_quietly(self, pod: Obj, condition: dict[str, Any] | None = None
                              ) -> None:
        try:
            await self.mark_failed_and_delete(pod, condition)
        except NotFoundError:
            pass
        except Exception as err:  # logged; the next pass tries again
            log.warning("%s: deleting pod %s/%s failed: %s", self.name,
                        _meta(pod).get("namespace"), _meta(pod).get("name"), err)

    async def mark_failed_and_delete(self, pod: Obj, condition: dict[str, Any] | None = None
                                     ) -> None:
        meta = _meta(pod)
        name, namespace = str(meta.get("name")), meta.get("namespace")
        if _phase(pod) not in ("Succeeded", "Failed"):
            status: dict[str, Any] = {"phase": "Failed"}
            if condition is not None:
                status["conditions"] = [{**condition, "lastTransitionTime": timeutil.now_rfc3339()}]
            await self.client.patch(PODS, name, {"metadata": {"uid": meta.get("uid")},
                                                 "status": status},
                                    namespace, patch_type="strategic", subresource="status")
        await self.client.delete(PODS, name, namespace, grace_period_seconds=0)


