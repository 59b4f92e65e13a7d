"""The Deployment controller's shared machinery: upstream's `sync.go`.

`Syncer` holds what every strategy needs (the API client, the event recorder, the clock and
the way to requeue a Deployment) and the operations they share:

- `get_all_replica_sets_and_sync_revision` / `get_new_replica_set`: split the Deployment's
  ReplicaSets into the new one (template equal to the Deployment's, ignoring the hash
  label) and the old ones; bring the new one's annotations, revision (max old revision + 1)
  and minReadySeconds up to date and copy its revision to the Deployment; and, when asked,
  create it: named `<deployment>-<pod-template-hash>`, the hash label added to its labels,
  selector and template, owned by the Deployment, sized by `new_rs_new_replicas`. A name
  already taken by something that is not this Deployment's new RS is a hash collision:
  `status.collisionCount` is bumped and the sync retried, which changes the hash.
- `scale` (a scaling event or a paused Deployment): one active RS takes the whole size; a
  saturated new RS scales the old ones to zero; otherwise the change is spread over the
  active ReplicaSets in proportion to their size (`replica_set_proportion`), the leftover
  going to the largest.
- `scale_replica_set`: spec.replicas plus the desired/max replicas annotations, with the
  `ScalingReplicaSet` event upstream records ("Scaled up replica set x from 1 to 3").
- `cleanup_deployment`: delete the oldest fully scaled-down old ReplicaSets beyond
  `revisionHistoryLimit`.
- `calculate_status` / `sync_deployment_status`: the status counts and the `Available`
  condition, written through `/status` only when they changed.
- `check_paused_conditions`: `Progressing=Unknown` (DeploymentPaused / DeploymentResumed)
  so a pause never reads as lack of progress.

Objects from the informer caches are shared: everything here copies before it mutates, and
replaces cached objects in its local lists with what the API server returned.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from kybernetes.api import objects, timeutil
from kybernetes.client import (
    AlreadyExistsError,
    ApiClient,
    ApiError,
    EventRecorder,
    NotFoundError,
    resource,
)
from kybernetes.client.rest import Obj, namespace_terminating
from kybernetes.controllers.base import Requeue
from kybernetes.controllers.deployment import util

log = logging.getLogger(__name__)

DEPLOYMENTS = resource("apps", "v1", "deployments")
REPLICA_SETS = resource("apps", "v1", "replicasets")

# A function asking for the Deployment to be synced again: after `after` seconds, or rate
# limited when `after` is None.
RequeueFn = Callable[[Obj, float | None], None]


class Syncer:
    """The operations every rollout strategy shares, bound to one API client."""

    def __init__(self, client: ApiClient, recorder: EventRecorder, requeue: RequeueFn, *,
                 clock: Callable[[], datetime] = timeutil.now) -> None:
        self.client = client
        self.recorder = recorder
        self.requeue = requeue
        self.clock = clock

    # -- writes -------------------------------------------------------------------------

    async def update_status(self, d: Obj) -> Obj:
        """PUT `d` through /status; `d` takes the new resourceVersion so a later write in
        the same sync does not conflict with this one."""
        result = await self.client.update_status(DEPLOYMENTS, d)
        d["metadata"]["resourceVersion"] = result["metadata"]["resourceVersion"]
        return result

    async def update_replica_set(self, rs: Obj) -> Obj:
        return await self.client.update(REPLICA_SETS, rs)

    # -- new and old ReplicaSets -------------------------------------------------------

    async def get_all_replica_sets_and_sync_revision(
            self, d: Obj, rs_list: list[Obj], create_if_not_existed: bool
    ) -> tuple[Obj | None, list[Obj]]:
        """(new RS or None, all old RSs), the new RS's revision brought up to date.
        `rs_list` is updated with the new RS as written, so that a later call in the same
        sync does not write it again from a stale copy (a sure conflict)."""
        _, all_old = util.find_old_replica_sets(d, rs_list)
        new_rs = await self.get_new_replica_set(d, rs_list, all_old, create_if_not_existed)
        if new_rs is not None:
            new_uid = util.uid(new_rs)
            for i, rs in enumerate(rs_list):
                if util.uid(rs) == new_uid:
                    rs_list[i] = new_rs
                    break
            else:
                rs_list.append(new_rs)
        return new_rs, all_old

    async def get_new_replica_set(self, d: Obj, rs_list: Sequence[Obj],
                                  old_rss: Sequence[Obj], create_if_not_existed: bool
                                  ) -> Obj | None:
        existing = util.find_new_replica_set(d, rs_list)
        new_revision = str(util.max_revision(old_rss) + 1)
        if existing is not None:
            return await self._sync_existing_new_rs(d, existing, new_revision)
        if not create_if_not_existed:
            return None
        return await self._create_new_rs(d, old_rss, new_revision)

    async def _sync_existing_new_rs(self, d: Obj, existing: Obj, new_revision: str) -> Obj:
        # Copies of just what may change (annotations, spec.minReadySeconds): this runs on
        # every sync, and the cached object is shared.
        rs = {**existing, "metadata": {**objects.meta(existing),
                                       "annotations": dict(util.annotations_of(existing))},
              "spec": dict(objects.spec(existing))}
        annotations_updated = util.set_new_replica_set_annotations(
            d, rs, new_revision, exists=True)
        min_ready = objects.spec(d).get("minReadySeconds") or 0
        if annotations_updated or (objects.spec(rs).get("minReadySeconds") or 0) != min_ready:
            rs["spec"]["minReadySeconds"] = min_ready
            return await self.update_replica_set(rs)
        # The RS's own revision is the one set before: copy it to the Deployment.
        needs_update = util.set_deployment_revision(
            d, util.annotations_of(rs).get(util.REVISION_ANNOTATION, ""))
        st = d.setdefault("status", {})
        if util.has_progress_deadline(d) and objects.find_condition(st, util.PROGRESSING) is None:
            # A Deployment that starts caring about progress: count from now.
            util.set_condition(st, util.new_condition(
                util.PROGRESSING, "True", util.FOUND_NEW_RS_REASON,
                f'Found new replica set "{objects.meta(rs)["name"]}"', self.clock()))
            needs_update = True
        if needs_update:
            await self.update_status(d)
        return rs

    async def _create_new_rs(self, d: Obj, old_rss: Sequence[Obj], new_revision: str) -> Obj:
        dmeta, dspec = objects.meta(d), objects.spec(d)
        template = copy.deepcopy(dspec.get("template") or {})
        pod_hash = util.compute_hash(template, objects.status(d).get("collisionCount"))
        labels = {**(objects.meta(template).get("labels") or {}),
                  util.DEFAULT_UNIQUE_LABEL_KEY: pod_hash}
        template.setdefault("metadata", {})["labels"] = labels
        selector = copy.deepcopy(dspec.get("selector") or {})
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}),
                                   util.DEFAULT_UNIQUE_LABEL_KEY: pod_hash}
        name = f"{dmeta['name']}-{pod_hash}"
        new_rs: Obj = {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {
                # Deterministic, so a retried create finds its own RS.
                "name": name, "namespace": dmeta["namespace"], "labels": dict(labels),
                "ownerReferences": [controller_ref_to(d)],
            },
            "spec": {"replicas": 0, "minReadySeconds": dspec.get("minReadySeconds") or 0,
                     "selector": selector, "template": template},
        }
        count = util.new_rs_new_replicas(d, [*old_rss, new_rs], new_rs)
        new_rs["spec"]["replicas"] = count
        util.set_new_replica_set_annotations(d, new_rs, new_revision, exists=False)
        already_exists = False
        try:
            created = await self.client.create(REPLICA_SETS, new_rs)
        except AlreadyExistsError:
            already_exists = True
            created = await self._claim_existing(d, name)
        except ApiError as err:
            if namespace_terminating(err):
                raise
            msg = f'Failed to create new replica set "{name}": {err.message}'
            if util.has_progress_deadline(d):
                util.set_condition(d.setdefault("status", {}), util.new_condition(
                    util.PROGRESSING, "False", util.FAILED_RS_CREATE_REASON, msg,
                    self.clock()))
                # The create failure is the bigger issue to report.
                with contextlib.suppress(ApiError):
                    await self.update_status(d)
            self.recorder.warning(d, util.FAILED_RS_CREATE_REASON, msg)
            raise
        if not already_exists and count > 0:
            self.recorder.normal(d, "ScalingReplicaSet",
                                 f"Scaled up replica set {name} from 0 to {count}")
        needs_update = util.set_deployment_revision(d, new_revision)
        if not already_exists and util.has_progress_deadline(d):
            util.set_condition(d.setdefault("status", {}), util.new_condition(
                util.PROGRESSING, "True", util.NEW_REPLICA_SET_REASON,
                f'Created new replica set "{name}"', self.clock()))
            needs_update = True
        if needs_update:
            await self.update_status(d)
        return created

    async def _claim_existing(self, d: Obj, name: str) -> Obj:
        """The create found `name` taken: our new RS (a slow cache), or a hash collision,
        answered by bumping collisionCount and retrying (raising)."""
        rs = await self.client.get(REPLICA_SETS, name, objects.meta(d)["namespace"])
        ref = util.controller_ref(rs)
        if ref is not None and ref.get("uid") == util.uid(d) and util.equal_ignore_hash(
                objects.spec(d).get("template") or {}, objects.spec(rs).get("template") or {}):
            return rs
        st = d.setdefault("status", {})
        before = int(st.get("collisionCount") or 0)
        st["collisionCount"] = before + 1
        await self.update_status(d)
        log.info("deployment %s/%s: hash collision on replica set %s; collisionCount "
                 "%d -> %d", objects.meta(d)["namespace"], objects.meta(d)["name"], name, before,
                 before + 1)
        raise Requeue(f"replica set {name} exists and is not this deployment's")

    # -- scaling ------------------------------------------------------------------------

    async def scale(self, d: Obj, new_rs: Obj | None, old_rss: list[Obj]) -> None:
        """Spread a change of spec.replicas over the active ReplicaSets."""
        desired = util.replicas(d)
        active_or_latest = util.find_active_or_latest(new_rs, old_rss)
        if active_or_latest is not None:
            if util.replicas(active_or_latest) != desired:
                await self.scale_replica_set_and_record_event(active_or_latest, desired, d)
            return
        if util.is_saturated(d, new_rs):
            for old in util.filter_active(old_rss):
                await self.scale_replica_set_and_record_event(old, 0, d)
            return
        if not util.is_rolling_update(d):
            return
        all_rss = util.filter_active([*old_rss, new_rs])
        allowed = desired + util.max_surge(d) if desired > 0 else 0
        to_add = allowed - util.replica_count(all_rss)
        if to_add > 0:
            all_rss = util.by_size_newer(all_rss)
        elif to_add < 0:
            all_rss = util.by_size_older(all_rss)
        added = 0
        sizes: list[int] = []
        for rs in all_rss:
            if to_add != 0:
                proportion = util.replica_set_proportion(rs, d, to_add, added)
                sizes.append(util.replicas(rs) + proportion)
                added += proportion
            else:
                sizes.append(util.replicas(rs))
        for i, rs in enumerate(all_rss):
            if i == 0 and to_add != 0:
                # The leftover (rounding) goes to the largest ReplicaSet.
                sizes[0] = max(sizes[0] + to_add - added, 0)
            await self.scale_replica_set(rs, sizes[i], d)

    async def scale_replica_set_and_record_event(self, rs: Obj, new_scale: int, d: Obj
                                                 ) -> tuple[bool, Obj]:
        if util.replicas(rs) == new_scale:
            return False, rs
        return await self.scale_replica_set(rs, new_scale, d)

    async def scale_replica_set(self, rs: Obj, new_scale: int, d: Obj) -> tuple[bool, Obj]:
        """Set the RS's size and replicas annotations; (whether its size changed, the RS)."""
        desired = util.replicas(d)
        maximum = desired + util.max_surge(d)
        old_scale = util.replicas(rs)
        size_changed = old_scale != new_scale
        if not size_changed and not util.replicas_annotations_need_update(rs, desired, maximum):
            return False, rs
        updated = copy.deepcopy(rs)
        updated["spec"]["replicas"] = new_scale
        util.set_replicas_annotations(updated, desired, maximum)
        result = await self.update_replica_set(updated)
        if size_changed:
            direction = "up" if old_scale < new_scale else "down"
            self.recorder.normal(
                d, "ScalingReplicaSet", f"Scaled {direction} replica set "
                f"{objects.meta(result)['name']} from {old_scale} to {new_scale}")
        return size_changed, result

    # -- cleanup ------------------------------------------------------------------------

    async def cleanup_deployment(self, old_rss: Sequence[Obj], d: Obj) -> None:
        """Delete the oldest scaled-down old ReplicaSets beyond revisionHistoryLimit."""
        if not util.has_revision_history_limit(d):
            return
        alive = [rs for rs in old_rss if not objects.meta(rs).get("deletionTimestamp")]
        excess = len(alive) - int(objects.spec(d)["revisionHistoryLimit"])
        if excess <= 0:
            return
        for rs in util.by_revision(alive)[:excess]:
            # Only ReplicaSets that are scaled down and whose controller has seen that.
            if util.status_int(rs, "replicas") != 0 or util.replicas(rs) != 0 or \
                    int(objects.meta(rs).get("generation") or 0) > \
                    util.status_int(rs, "observedGeneration"):
                continue
            with contextlib.suppress(NotFoundError):
                await self.client.delete(REPLICA_SETS, objects.meta(rs)["name"],
                                         objects.meta(rs)["namespace"])

    # -- status -------------------------------------------------------------------------

    async def sync_deployment_status(self, all_rss: Sequence[Obj | None], new_rs: Obj | None,
                                     d: Obj) -> None:
        new_status = calculate_status(all_rss, new_rs, d, self.clock())
        if new_status == objects.status(d):
            return
        d["status"] = new_status
        await self.update_status(d)

    async def check_paused_conditions(self, d: Obj) -> None:
        if not util.has_progress_deadline(d):
            return
        st = d.setdefault("status", {})
        cond = objects.find_condition(st, util.PROGRESSING)
        if cond is not None and cond.get("reason") == util.TIMED_OUT_REASON:
            return  # a reported lack of progress is not overwritten by a pause
        paused_cond = cond is not None and cond.get("reason") == util.PAUSED_DEPLOY_REASON
        paused = bool(objects.spec(d).get("paused"))
        if paused and not paused_cond:
            util.set_condition(st, util.new_condition(
                util.PROGRESSING, "Unknown", util.PAUSED_DEPLOY_REASON, "Deployment is paused",
                self.clock()))
        elif not paused and paused_cond:
            util.set_condition(st, util.new_condition(
                util.PROGRESSING, "Unknown", util.RESUMED_DEPLOY_REASON,
                "Deployment is resumed", self.clock()))
        else:
            return
        await self.update_status(d)

    async def sync(self, d: Obj, rs_list: list[Obj]) -> None:
        """A scaling event or a paused Deployment: scale, no rollout."""
        new_rs, old_rss = await self.get_all_replica_sets_and_sync_revision(d, rs_list, False)
        await self.scale(d, new_rs, old_rss)
        if objects.spec(d).get("paused") and util.rollback_to(d) is None:
            await self.cleanup_deployment(old_rss, d)
        await self.sync_deployment_status([*old_rss, new_rs], new_rs, d)

    async def sync_status_only(self, d: Obj, rs_list: list[Obj]) -> None:
        new_rs, old_rss = await self.get_all_replica_sets_and_sync_revision(d, rs_list, False)
        await self.sync_deployment_status([*old_rss, new_rs], new_rs, d)

    async def is_scaling_event(self, d: Obj, rs_list: list[Obj]) -> bool:
        """Whether an active RS was last sized for another deployment size."""
        new_rs, old_rss = await self.get_all_replica_sets_and_sync_revision(d, rs_list, False)
        desired = util.replicas(d)
        for rs in util.filter_active([*old_rss, new_rs]):
            recorded = util.desired_replicas_annotation(rs)
            if recorded is not None and recorded != desired:
                return True
        return False


def controller_ref_to(d: Obj) -> dict[str, Any]:
    """An owner reference making the Deployment the controller (metav1.NewControllerRef)."""
    return {"apiVersion": "apps/v1", "kind": "Deployment", "name": objects.meta(d)["name"],
            "uid": util.uid(d), "controller": True, "blockOwnerDeletion": True}




def calculate_status(all_rss: Sequence[Obj | None], new_rs: Obj | None, d: Obj,
                     when: datetime) -> dict[str, Any]:
    """The Deployment's status from its ReplicaSets, with upstream's JSON (zero counts
    omitted) and the Available condition; other conditions are carried over."""
    available = util.available_replica_count(all_rss)
    unavailable = max(util.replica_count(all_rss) - available, 0)
    old = objects.status(d)
    counts = {
        "observedGeneration": int(objects.meta(d).get("generation") or 0),
        "replicas": util.actual_replica_count(all_rss),
        "updatedReplicas": util.actual_replica_count([new_rs]),
        "readyReplicas": util.ready_replica_count(all_rss),
        "availableReplicas": available,
        "unavailableReplicas": unavailable,
    }
    st: dict[str, Any] = {k: v for k, v in counts.items() if v}
    terminating = util.terminating_replica_count(all_rss)
    if terminating is not None:
        st["terminatingReplicas"] = terminating
    if old.get("collisionCount") is not None:
        st["collisionCount"] = old["collisionCount"]
    if old.get("conditions"):
        st["conditions"] = [dict(c) for c in old["conditions"]]
    if available >= util.replicas(d) - util.max_unavailable(d):
        util.set_condition(st, util.new_condition(
            util.AVAILABLE, "True", util.MINIMUM_REPLICAS_AVAILABLE,
            "Deployment has minimum availability.", when))
    else:
        util.set_condition(st, util.new_condition(
            util.AVAILABLE, "False", util.MINIMUM_REPLICAS_UNAVAILABLE,
            "Deployment does not have minimum availability.", when))
    return st
