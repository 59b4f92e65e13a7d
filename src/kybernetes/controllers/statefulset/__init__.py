"""The StatefulSet controller: upstream's `pkg/controller/statefulset/stateful_set.go`.

Keys are `namespace/name` of StatefulSets. Handlers only enqueue:

- StatefulSets: every add, update and delete.
- Pods: a pod with a controller reference wakes that StatefulSet (while it still exists
  with that uid); an orphan that is added, or whose labels or controller reference change,
  wakes every StatefulSet of its namespace whose selector matches (one may adopt it). A pod
  turning ready under a set with `minReadySeconds` requeues the set for when it becomes
  available.
- ControllerRevisions and PersistentVolumeClaims are only read (from their informers,
  which must have synced before the first sync).

`sync(key)`: read the set from the cache; adopt orphaned revisions matching its selector;
claim its pods (`refmanager`: members only, i.e. pods named `<set>-<ordinal>`; adopt
matching orphans, release owned pods that no longer match); then one reconciliation
(`control.StatefulSetControl`). A set with `minReadySeconds` whose pods are not all
available yet is looked at again after that delay.

The package: `identity` (names, ordinals, labels, storage, revisions' data), `claims` (the
claim retention policy), `podcontrol` (pod and claim writes, events), `status`, `control`
(the reconciliation).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar

from kybernetes.api import objects, timeutil
from kybernetes.api.selectors import LabelSelector, label_selector_from_dict
from kybernetes.client import EventRecorder, split_key
from kybernetes.client.informer import NAMESPACE_INDEX, meta_namespace_key
from kybernetes.client.rest import Obj
from kybernetes.controllers import podutil
from kybernetes.controllers.base import ControllerContext, QueueController
from kybernetes.controllers.history import CONTROLLER_REVISIONS, ControllerHistory
from kybernetes.controllers.refmanager import (
    CannotAdopt,
    ControllerRefManager,
    controller_ref,
    recheck_deletion_timestamp,
)
from kybernetes.controllers.statefulset import identity as ident
from kybernetes.controllers.statefulset.control import StatefulSetControl, orphan_revisions
from kybernetes.controllers.statefulset.podcontrol import CLAIMS, PODS, StatefulPodControl
from kybernetes.controllers.statefulset.status import STATEFUL_SETS

log = logging.getLogger(__name__)

# Upstream's --concurrent-statefulset-syncs.
DEFAULT_WORKERS = 5

__all__ = ["DEFAULT_WORKERS", "StatefulSetController"]


class StatefulSetController(QueueController):
    name: ClassVar[str] = "statefulset-controller"

    def __init__(self, ctx: ControllerContext, *, workers: int = DEFAULT_WORKERS,
                 clock: Callable[[], datetime] = timeutil.now) -> None:
        super().__init__(workers=workers)
        self.client = ctx.client
        self.recorder = EventRecorder(ctx.client, self.name)
        self.sets = ctx.informers.informer(STATEFUL_SETS)
        self.pods = ctx.informers.informer(PODS, indexers={
            podutil.POD_CONTROLLER_UID_INDEX: podutil.pod_controller_uid_index})
        self.claims = ctx.informers.informer(CLAIMS)
        self.revisions = ctx.informers.informer(CONTROLLER_REVISIONS)
        self.control = StatefulSetControl(
            ctx.client, ControllerHistory(ctx.client, self.revisions),
            StatefulPodControl(ctx.client, self.pods.store, self.claims.store,
                               self.recorder), clock)
        self.watch(self.sets, on_add=self.enqueue_object,
                   on_update=lambda _old, new: self.enqueue_object(new),
                   on_delete=self.enqueue_object)
        self.watch(self.pods, on_add=self._add_pod, on_update=self._update_pod,
                   on_delete=self._delete_pod)
        self.watch(self.claims)
        self.watch(self.revisions)

    async def run(self) -> None:
        try:
            await super().run()
        finally:
            await self.recorder.aclose()

    # -- handlers -----------------------------------------------------------------------

    def _resolve(self, namespace: str, ref: dict[str, Any]) -> Obj | None:
        if ref.get("kind") != ident.SET_KIND[1]:
            return None
        sts = self.sets.store.get(f"{namespace}/{ref.get('name')}")
        if sts is None or objects.meta(sts).get("uid") != ref.get("uid"):
            return None
        return sts

    def _sets_selecting(self, pod: Obj) -> list[Obj]:
        """The sets of the pod's namespace whose (non-empty) selector matches it."""
        meta = objects.meta(pod)
        labels = meta.get("labels") or {}
        found = []
        for sts in self.sets.store.by_index(NAMESPACE_INDEX, str(meta.get("namespace"))):
            try:
                selector = label_selector_from_dict(objects.spec(sts).get("selector"))
            except ValueError:
                continue
            if not selector.empty and selector.matches(labels):
                found.append(sts)
        if len(found) > 1:
            log.warning("user error! more than one StatefulSet is selecting pods with "
                        "labels: %s", labels)
        return found

    def _add_pod(self, pod: Obj) -> None:
        meta = objects.meta(pod)
        if meta.get("deletionTimestamp"):
            self._delete_pod(pod)
            return
        ref = controller_ref(pod)
        if ref is not None:
            sts = self._resolve(str(meta.get("namespace")), ref)
            if sts is not None:
                self.enqueue_object(sts)
            return
        for sts in self._sets_selecting(pod):
            self.enqueue_object(sts)

    def _update_pod(self, old: Obj, cur: Obj) -> None:
        old_meta, cur_meta = objects.meta(old), objects.meta(cur)
        if old_meta.get("resourceVersion") == cur_meta.get("resourceVersion"):
            return
        label_changed = (old_meta.get("labels") or {}) != (cur_meta.get("labels") or {})
        cur_ref, old_ref = controller_ref(cur), controller_ref(old)
        namespace = str(cur_meta.get("namespace"))
        if cur_ref != old_ref and old_ref is not None:
            previous = self._resolve(namespace, old_ref)
            if previous is not None:
                self.enqueue_object(previous)
        if cur_ref is not None:
            sts = self._resolve(namespace, cur_ref)
            if sts is None:
                return
            self.enqueue_object(sts)
            min_ready = ident.min_ready_seconds(sts)
            if min_ready > 0 and not podutil.is_pod_ready(old) and podutil.is_pod_ready(cur):
                # Again once the pod counts as available (a second later, against skew).
                self.queue.add_after(meta_namespace_key(sts), min_ready + 1.0)
            return
        if label_changed or cur_ref != old_ref:
            for sts in self._sets_selecting(cur):
                self.enqueue_object(sts)

    def _delete_pod(self, pod: Obj) -> None:
        ref = controller_ref(pod)
        if ref is None:
            return
        sts = self._resolve(str(objects.meta(pod).get("namespace")), ref)
        if sts is not None:
            self.enqueue_object(sts)

    # -- sync ---------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        sts = self.sets.store.get(key)
        if sts is None:
            return
        try:
            selector = label_selector_from_dict(objects.spec(sts).get("selector"))
        except ValueError as err:
            # Not transient: retrying cannot help until the set changes.
            log.error("%s: invalid selector of StatefulSet %s: %s", self.name, key, err)
            return
        await self._adopt_orphan_revisions(sts)
        pods = await self._claim_pods(sts, selector)
        status = await self.control.update_stateful_set(sts, pods)
        min_ready = ident.min_ready_seconds(sts)
        if min_ready > 0 and status.available_replicas != ident.replicas(sts):
            self.queue.add_after(key, float(min_ready))

    async def _adopt_orphan_revisions(self, sts: Obj) -> None:
        orphans = orphan_revisions(self.control.list_revisions(sts))
        if not orphans:
            return
        try:
            await recheck_deletion_timestamp(self.client, STATEFUL_SETS, sts)()
        except CannotAdopt as err:
            raise CannotAdopt(f"can't adopt ControllerRevisions: {err}") from err
        await self.control.adopt_orphan_revisions(sts, orphans)

    async def _claim_pods(self, sts: Obj, selector: LabelSelector) -> list[Obj]:
        namespace, _ = split_key(meta_namespace_key(sts))
        candidates = podutil.pods_for_owner(self.pods.store, namespace,
                                            str(objects.meta(sts).get("uid")),
                                            include_orphans=True)
        manager = ControllerRefManager(
            self.client, owner=sts, owner_api_version=ident.SET_KIND[0],
            owner_kind=ident.SET_KIND[1], child_resource=PODS, selector=selector,
            can_adopt=recheck_deletion_timestamp(self.client, STATEFUL_SETS, sts))
        return await manager.claim(candidates, filters=[lambda p: ident.is_member_of(sts, p)])
