"""The Recreate strategy: upstream's `recreate.go`.

Old ReplicaSets are scaled to zero first; the new ReplicaSet is created (or scaled up)
only once no old pod is running: the old ReplicaSets report no replicas and no pod they
own is in a non-terminal phase. The controller is woken for that last condition by the
deletion of a Recreate Deployment's last pod (see the pod handler in the package).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kybernetes.api import objects
from kybernetes.client.rest import Obj
from kybernetes.controllers.deployment import util
from kybernetes.controllers.deployment.progress import sync_rollout_status
from kybernetes.controllers.deployment.sync import Syncer

# Pods by the uid of the ReplicaSet that controls them.
PodMap = Mapping[str, Sequence[Obj]]


async def rollout_recreate(s: Syncer, d: Obj, rs_list: list[Obj], pod_map: PodMap
                           ) -> None:
    # No new RS yet: creating it now would scale up before the old ones are down.
    new_rs, old_rss = await s.get_all_replica_sets_and_sync_revision(d, rs_list, False)
    all_rss: list[Obj | None] = [*old_rss, new_rs]
    if await scale_down_old_replica_sets(s, util.filter_active(old_rss), d):
        await sync_rollout_status(s, all_rss, new_rs, d)
        return
    if old_pods_running(new_rs, old_rss, pod_map):
        await sync_rollout_status(s, all_rss, new_rs, d)
        return
    if new_rs is None:
        new_rs, old_rss = await s.get_all_replica_sets_and_sync_revision(d, rs_list, True)
        all_rss = [*old_rss, new_rs]
    assert new_rs is not None
    await s.scale_replica_set_and_record_event(new_rs, util.replicas(d), d)
    if util.deployment_complete(d, objects.status(d)):
        await s.cleanup_deployment(old_rss, d)
    await sync_rollout_status(s, all_rss, new_rs, d)


async def scale_down_old_replica_sets(s: Syncer, old_rss: Sequence[Obj], d: Obj) -> bool:
    scaled = False
    for rs in old_rss:
        if util.replicas(rs) == 0:
            continue
        changed, _ = await s.scale_replica_set_and_record_event(rs, 0, d)
        scaled = scaled or changed
    return scaled


def old_pods_running(new_rs: Obj | None, old_rss: Sequence[Obj], pod_map: PodMap) -> bool:
    """Whether an old ReplicaSet reports replicas or owns a pod not yet Succeeded/Failed
    (an Unknown phase counts as running: it cannot be known not to run)."""
    if util.actual_replica_count(old_rss) > 0:
        return True
    new_uid = util.uid(new_rs) if new_rs is not None else None
    for rs_uid, pods in pod_map.items():
        if rs_uid == new_uid:
            continue
        for pod in pods:
            if objects.status(pod).get("phase") not in ("Failed", "Succeeded"):
                return True
    return False
