"""The RollingUpdate strategy: upstream's `rolling.go`.

Each sync makes one step and stops as soon as it wrote something (the ReplicaSet events
bring the next sync):

1. Scale the new ReplicaSet up, as far as maxSurge allows above spec.replicas
   (`new_rs_new_replicas`), or down if it is larger than the Deployment.
2. Otherwise scale old ReplicaSets down, as far as maxUnavailable allows below
   spec.replicas, counting the new RS's not-yet-available replicas as unavailable:
   first the old replicas that are not available anyway (oldest RS first), then available
   ones while more than spec.replicas - maxUnavailable remain available.
3. Otherwise, once the rollout is complete, delete ReplicaSets beyond the history limit.

Then the status and Progressing condition are synced (`progress.sync_rollout_status`).
"""

from __future__ import annotations

from collections.abc import Sequence

from kybernetes.api import objects
from kybernetes.client.rest import Obj
from kybernetes.controllers.base import Requeue
from kybernetes.controllers.deployment import util
from kybernetes.controllers.deployment.progress import sync_rollout_status
from kybernetes.controllers.deployment.sync import Syncer


async def rollout_rolling(s: Syncer, d: Obj, rs_list: list[Obj]) -> None:
    new_rs, old_rss = await s.get_all_replica_sets_and_sync_revision(d, rs_list, True)
    assert new_rs is not None  # created when missing
    all_rss: list[Obj | None] = [*old_rss, new_rs]
    if await reconcile_new_replica_set(s, all_rss, new_rs, d):
        await sync_rollout_status(s, all_rss, new_rs, d)
        return
    if await reconcile_old_replica_sets(s, all_rss, util.filter_active(old_rss), new_rs, d):
        await sync_rollout_status(s, all_rss, new_rs, d)
        return
    if util.deployment_complete(d, objects.status(d)):
        await s.cleanup_deployment(old_rss, d)
    await sync_rollout_status(s, all_rss, new_rs, d)


async def reconcile_new_replica_set(s: Syncer, all_rss: Sequence[Obj | None], new_rs: Obj,
                                    d: Obj) -> bool:
    desired = util.replicas(d)
    size = util.replicas(new_rs)
    if size == desired:
        return False
    if size > desired:
        scaled, _ = await s.scale_replica_set_and_record_event(new_rs, desired, d)
        return scaled
    count = util.new_rs_new_replicas(d, all_rss, new_rs)
    scaled, _ = await s.scale_replica_set_and_record_event(new_rs, count, d)
    return scaled


async def reconcile_old_replica_sets(s: Syncer, all_rss: Sequence[Obj | None],
                                     old_rss: list[Obj], new_rs: Obj, d: Obj) -> bool:
    if util.replica_count(old_rss) == 0:
        return False  # nothing left to scale down
    all_pods = util.replica_count(all_rss)
    min_available = util.replicas(d) - util.max_unavailable(d)
    new_unavailable = util.replicas(new_rs) - util.status_int(new_rs, "availableReplicas")
    max_scaled_down = all_pods - min_available - new_unavailable
    if max_scaled_down <= 0:
        return False
    # Unhealthy old replicas first: removing them costs no availability, and leaving them
    # would block the rollout (kubernetes#16737).
    old_rss, cleaned = await cleanup_unhealthy_replicas(s, old_rss, d, max_scaled_down)
    scaled = await scale_down_old_replica_sets(s, [*old_rss, new_rs], old_rss, d)
    return cleaned + scaled > 0


async def cleanup_unhealthy_replicas(s: Syncer, old_rss: list[Obj], d: Obj,
                                     max_cleanup: int) -> tuple[list[Obj], int]:
    old_rss = util.by_creation_timestamp(old_rss)
    total = 0
    for i, rs in enumerate(old_rss):
        if total >= max_cleanup:
            break
        size = util.replicas(rs)
        available = util.status_int(rs, "availableReplicas")
        if size == 0 or size == available:
            continue
        count = min(max_cleanup - total, size - available)
        if count < 0:
            # The RS's status still counts pods of a larger size (it was just scaled
            # down): "cleaning up" would scale it back up, past maxSurge. Upstream fails
            # the sync; the retry sees the status caught up.
            raise Requeue("when cleaning up unhealthy replicas, got invalid request to "
                          f"scale down {objects.meta(rs)['namespace']}/{objects.meta(rs)['name']} "
                          f"{size} -> {size - count}")
        _, old_rss[i] = await s.scale_replica_set_and_record_event(rs, size - count, d)
        total += count
    return old_rss, total


async def scale_down_old_replica_sets(s: Syncer, all_rss: Sequence[Obj | None],
                                      old_rss: list[Obj], d: Obj) -> int:
    min_available = util.replicas(d) - util.max_unavailable(d)
    available = util.available_replica_count(all_rss)
    if available <= min_available:
        return 0
    budget = available - min_available
    total = 0
    for rs in util.by_creation_timestamp(old_rss):
        if total >= budget:
            break
        size = util.replicas(rs)
        if size == 0:
            continue
        count = min(size, budget - total)
        await s.scale_replica_set_and_record_event(rs, size - count, d)
        total += count
    return total
