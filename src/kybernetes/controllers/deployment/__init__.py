"""The Deployment controller: upstream's `pkg/controller/deployment/deployment_controller.go`.

A Deployment runs its pods through ReplicaSets, one per pod template it has had: the *new*
ReplicaSet (template equal to the Deployment's) and *old* ones, kept scaled down as history
for `kubectl rollout undo` up to `revisionHistoryLimit`. The package splits by concern as
upstream does: `sync` (new/old ReplicaSets, revisions, scaling, cleanup, status), `rolling`
and `recreate` (the two strategies), `rollback` (the deprecated rollbackTo annotation),
`progress` (the Progressing condition and deadline), `util` (pure helpers: hashes,
annotations, fenceposts, conditions).

Keys are `namespace/name` of Deployments. Handlers only enqueue:

- Deployments: every add, update and delete.
- ReplicaSets: the Deployment named by the controller reference (the old and the new one
  when it changed); for an orphan, every Deployment whose selector matches its labels, so
  one of them can adopt it. The deletion of an orphan wakes nobody.
- Pods: the deletion of the last pod of a Recreate Deployment (the new ReplicaSet waits
  for it).

`sync(key)` is upstream's `syncDeployment`: claim the ReplicaSets (adopt matching orphans,
release owned ones that no longer match, through `refmanager`), then in order: a Deployment
being deleted only gets its status synced; pausing or resuming records a Progressing
condition; a paused Deployment is only scaled; a rollback annotation is served; a changed
spec.replicas (an active ReplicaSet's `desired-replicas` annotation differs) is a scaling
event, spread proportionally; anything else rolls out with the Deployment's strategy.

Rollback: apps/v1 has no `rollbackTo`; `kubectl rollout undo` copies the old ReplicaSet's
template into the Deployment, which then finds that ReplicaSet as its new one and bumps its
revision (recording the old one in `revision-history`). The old APIs' field survives as the
`deprecated.deployment.rollback.to` annotation, which `rollback` serves as upstream does.

Lookups use informer indices, never scans of all objects: ReplicaSets by controller uid and
orphan ReplicaSets by namespace (the candidates to claim), pods by controller uid (the
Recreate check), Deployments by namespace (orphan matching).
"""

from __future__ import annotations

import copy
import logging
from typing import Any, ClassVar

from kybernetes.api import objects
from kybernetes.api.selectors import LabelSelector, label_selector_from_dict
from kybernetes.client import EventRecorder, resource
from kybernetes.client.informer import NAMESPACE_INDEX
from kybernetes.client.rest import Obj
from kybernetes.controllers.base import ControllerContext, QueueController
from kybernetes.controllers.deployment import util
from kybernetes.controllers.deployment.recreate import rollout_recreate
from kybernetes.controllers.deployment.rollback import rollback
from kybernetes.controllers.deployment.rolling import rollout_rolling
from kybernetes.controllers.deployment.sync import DEPLOYMENTS, REPLICA_SETS, Syncer
from kybernetes.controllers.podutil import (
    POD_CONTROLLER_UID_INDEX,
    pod_controller_uid_index,
    pods_for_owner,
)
from kybernetes.controllers.refmanager import ControllerRefManager, recheck_deletion_timestamp

log = logging.getLogger(__name__)

PODS = resource("", "v1", "pods")
# Upstream's --concurrent-deployment-syncs.
DEFAULT_WORKERS = 5

CONTROLLER_UID_INDEX = "controller-uid"
ORPHAN_INDEX = "orphans-by-namespace"


def controller_uid_index(obj: Obj) -> list[str]:
    """An object's controller's uid (the owner reference with controller: true)."""
    ref = util.controller_ref(obj)
    return [str(ref["uid"])] if ref is not None and ref.get("uid") else []


def orphan_index(obj: Obj) -> list[str]:
    """The namespace of an object that has no controller."""
    if util.controller_ref(obj) is not None:
        return []
    namespace = objects.meta(obj).get("namespace")
    return [str(namespace)] if namespace else []


class DeploymentController(QueueController):
    name: ClassVar[str] = "deployment-controller"

    def __init__(self, ctx: ControllerContext, *, workers: int = DEFAULT_WORKERS) -> None:
        super().__init__(workers=workers)
        self.client = ctx.client
        self.recorder = EventRecorder(ctx.client, "deployment-controller")
        self.deployments = ctx.informers.informer(DEPLOYMENTS)
        self.replica_sets = ctx.informers.informer(REPLICA_SETS, indexers={
            CONTROLLER_UID_INDEX: controller_uid_index, ORPHAN_INDEX: orphan_index})
        # The pod index the ReplicaSet controller shares (same function, one index).
        self.pods = ctx.informers.informer(PODS, indexers={
            POD_CONTROLLER_UID_INDEX: pod_controller_uid_index})
        self.syncer = Syncer(ctx.client, self.recorder, self._requeue)
        self.watch(self.deployments, on_add=self.enqueue_object,
                   on_update=lambda _old, new: self.enqueue_object(new),
                   on_delete=self.enqueue_object)
        self.watch(self.replica_sets, on_add=self._add_replica_set,
                   on_update=self._update_replica_set, on_delete=self._delete_replica_set)
        self.watch(self.pods, on_delete=self._delete_pod)

    async def run(self) -> None:
        try:
            await super().run()
        finally:
            await self.recorder.aclose()

    def _requeue(self, d: Obj, after: float | None) -> None:
        key = f"{objects.meta(d)['namespace']}/{objects.meta(d)['name']}"
        if after is None:
            self.queue.add_rate_limited(key)
        else:
            self.queue.add_after(key, after)

    # -- handlers -----------------------------------------------------------------------

    def _resolve_controller_ref(self, namespace: str, ref: dict[str, Any]) -> Obj | None:
        """The Deployment a controller reference names, if it is still that one."""
        if ref.get("kind") != "Deployment" or \
                not str(ref.get("apiVersion", "")).startswith("apps/"):
            return None
        d = self.deployments.store.get(f"{namespace}/{ref.get('name')}")
        if d is None or util.uid(d) != ref.get("uid"):
            return None
        return d

    def _deployments_for_replica_set(self, rs: Obj) -> list[Obj]:
        """Deployments whose selector matches an (orphan) ReplicaSet's labels."""
        labels = objects.meta(rs).get("labels")
        if not labels:
            return []
        found = []
        for d in self.deployments.store.by_index(NAMESPACE_INDEX,
                                                 str(objects.meta(rs).get("namespace"))):
            selector = _selector(d)
            if selector is None or selector.empty or not selector.matches(labels):
                continue
            found.append(d)
        return found

    def _add_replica_set(self, rs: Obj) -> None:
        if objects.meta(rs).get("deletionTimestamp"):
            # Seen for the first time while being deleted (a restarted controller).
            self._delete_replica_set(rs)
            return
        namespace = str(objects.meta(rs).get("namespace"))
        ref = util.controller_ref(rs)
        if ref is not None:
            d = self._resolve_controller_ref(namespace, ref)
            if d is not None:
                self.enqueue_object(d)
            return
        for d in self._deployments_for_replica_set(rs):
            self.enqueue_object(d)

    def _update_replica_set(self, old: Obj, cur: Obj) -> None:
        if objects.meta(old).get("resourceVersion") == objects.meta(cur).get("resourceVersion"):
            return  # a resync: nothing changed
        namespace = str(objects.meta(cur).get("namespace"))
        cur_ref, old_ref = util.controller_ref(cur), util.controller_ref(old)
        ref_changed = cur_ref != old_ref
        if ref_changed and old_ref is not None:
            d = self._resolve_controller_ref(namespace, old_ref)
            if d is not None:
                self.enqueue_object(d)
        if cur_ref is not None:
            d = self._resolve_controller_ref(namespace, cur_ref)
            if d is not None:
                self.enqueue_object(d)
            return
        if ref_changed or objects.meta(cur).get("labels") != objects.meta(old).get("labels"):
            for d in self._deployments_for_replica_set(cur):
                self.enqueue_object(d)

    def _delete_replica_set(self, rs: Obj) -> None:
        ref = util.controller_ref(rs)
        if ref is None:
            return  # nobody cares about a deleted orphan
        d = self._resolve_controller_ref(str(objects.meta(rs).get("namespace")), ref)
        if d is not None:
            self.enqueue_object(d)

    def _delete_pod(self, pod: Obj) -> None:
        """Wake a Recreate Deployment whose last pod is gone."""
        ref = util.controller_ref(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return
        namespace = str(objects.meta(pod).get("namespace"))
        rs = self.replica_sets.store.get(f"{namespace}/{ref.get('name')}")
        if rs is None or util.uid(rs) != ref.get("uid"):
            return
        rs_ref = util.controller_ref(rs)
        if rs_ref is None:
            return
        d = self._resolve_controller_ref(namespace, rs_ref)
        if d is None or (objects.spec(d).get("strategy") or {}).get("type") != util.RECREATE:
            return
        pod_map = self._pod_map(d, self._owned_replica_sets(d))
        if not any(pod_map.values()):
            self.enqueue_object(d)

    # -- reads --------------------------------------------------------------------------

    def _owned_replica_sets(self, d: Obj) -> list[Obj]:
        return self.replica_sets.store.by_index(CONTROLLER_UID_INDEX, util.uid(d))

    def _pod_map(self, d: Obj, rs_list: list[Obj]) -> dict[str, list[Obj]]:
        """The Deployment's pods (those its selector matches) by ReplicaSet uid; inactive
        pods included, as Recreate must see every old pod that still runs."""
        selector = _selector(d)
        pod_map: dict[str, list[Obj]] = {}
        for rs in rs_list:
            pods = pods_for_owner(self.pods.store, str(objects.meta(d)["namespace"]),
                                  util.uid(rs), include_orphans=False)
            pod_map[util.uid(rs)] = [
                p for p in pods if selector is not None and
                selector.matches(objects.meta(p).get("labels") or {})]
        return pod_map

    # -- sync ---------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        cached = self.deployments.store.get(key)
        if cached is None:
            return  # deleted: its ReplicaSets go with it through garbage collection
        d = copy.deepcopy(cached)
        dspec = objects.spec(d)
        selector = dspec.get("selector")
        if isinstance(selector, dict) and not selector.get("matchLabels") and \
                not selector.get("matchExpressions"):
            self.recorder.warning(d, "SelectingAll", "This deployment is selecting all "
                                  "pods. A non-empty selector is required.")
            generation = int(objects.meta(d).get("generation") or 0)
            if util.status_int(d, "observedGeneration") < generation:
                d.setdefault("status", {})["observedGeneration"] = generation
                await self.syncer.update_status(d)
            return
        rs_list = await self._claim_replica_sets(d)
        s = self.syncer
        if objects.meta(d).get("deletionTimestamp"):
            await s.sync_status_only(d, rs_list)
            return
        await s.check_paused_conditions(d)
        if dspec.get("paused"):
            await s.sync(d, rs_list)
            return
        # A rollback first: it changes the template the rollout then follows.
        if util.rollback_to(d) is not None:
            await rollback(s, d, rs_list)
            return
        if await s.is_scaling_event(d, rs_list):
            await s.sync(d, rs_list)
            return
        strategy = (dspec.get("strategy") or {}).get("type")
        if strategy == util.RECREATE:
            await rollout_recreate(s, d, rs_list, self._pod_map(d, rs_list))
        elif strategy == util.ROLLING_UPDATE:
            await rollout_rolling(s, d, rs_list)
        else:
            raise ValueError(f"unexpected deployment strategy type: {strategy}")

    async def _claim_replica_sets(self, d: Obj) -> list[Obj]:
        """The ReplicaSets this Deployment controls once adoption and release are done.
        The candidates are those it controls and the orphans of its namespace: the only
        ones a claim can keep (upstream lists every ReplicaSet of the namespace)."""
        try:
            selector = label_selector_from_dict(objects.spec(d).get("selector"))
        except ValueError as err:
            raise ValueError(f"deployment {objects.meta(d)['namespace']}/"
                             f"{objects.meta(d)['name']} has invalid label selector: {err}"
                             ) from err
        store = self.replica_sets.store
        candidates = [*store.by_index(CONTROLLER_UID_INDEX, util.uid(d)),
                      *store.by_index(ORPHAN_INDEX, str(objects.meta(d)["namespace"]))]
        manager = ControllerRefManager(
            self.client, owner=d, owner_api_version="apps/v1", owner_kind="Deployment",
            child_resource=REPLICA_SETS, selector=selector,
            can_adopt=recheck_deletion_timestamp(self.client, DEPLOYMENTS, d))
        return await manager.claim(candidates)


def _selector(d: Obj) -> LabelSelector | None:
    try:
        return label_selector_from_dict(objects.spec(d).get("selector"))
    except ValueError:
        return None
