"""Rollout progress: upstream's `progress.go`.

`sync_rollout_status` is `sync_deployment_status` plus the `Progressing` condition, for
syncs that roll out (not for pure scaling or paused ones):

- no `progressDeadlineSeconds`: no Progressing condition at all;
- a finished rollout (every replica updated and available): `True`/`NewReplicaSetAvailable`
  ("ReplicaSet "x" has successfully progressed."), after which resyncs estimate nothing
  until the next rollout;
- any progress (more updated, ready or available replicas, fewer old ones):
  `True`/`ReplicaSetUpdated` with a fresh `lastUpdateTime` (the deadline counts from it);
- no progress for longer than the deadline: `False`/`ProgressDeadlineExceeded`
  ("ReplicaSet "x" has timed out progressing.").

A `ReplicaFailure` condition of the new ReplicaSet (else of an old one) is copied onto the
Deployment and removed when none remains. When nothing changed but the rollout is still
running, the Deployment is requeued for the moment its deadline passes
(`requeue_stuck_deployment`), so a stuck rollout is noticed without any event.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from kybernetes.api import objects, timeutil
from kybernetes.client.rest import Obj
from kybernetes.controllers.deployment import util
from kybernetes.controllers.deployment.sync import Syncer, calculate_status


def rollout_status(all_rss: Sequence[Obj | None], new_rs: Obj | None, d: Obj,
                   when: datetime) -> dict[str, Any]:
    """The status a rolling-out Deployment should have now."""
    new_status = calculate_status(all_rss, new_rs, d, when)
    if not util.has_progress_deadline(d):
        util.remove_condition(new_status, util.PROGRESSING)
    current = objects.find_condition(objects.status(d), util.PROGRESSING)
    complete_before = current is not None and \
        current.get("reason") == util.NEW_RS_AVAILABLE_REASON and \
        new_status.get("replicas", 0) == new_status.get("updatedReplicas", 0)
    if util.has_progress_deadline(d) and not complete_before:
        subject = f'ReplicaSet "{objects.meta(new_rs)["name"]}"' if new_rs is not None \
            else f'Deployment "{objects.meta(d)["name"]}"'
        if util.deployment_complete(d, new_status):
            util.set_condition(new_status, util.new_condition(
                util.PROGRESSING, "True", util.NEW_RS_AVAILABLE_REASON,
                f"{subject} has successfully progressed.", when))
        elif util.deployment_progressing(d, new_status):
            condition = util.new_condition(
                util.PROGRESSING, "True", util.REPLICA_SET_UPDATED_REASON,
                f"{subject} is progressing.", when)
            # Unlike set_condition, the same reason still refreshes lastUpdateTime: that
            # is what moves the deadline. A True condition keeps its transition time.
            if current is not None:
                if current.get("status") == "True":
                    condition["lastTransitionTime"] = current.get("lastTransitionTime")
                util.remove_condition(new_status, util.PROGRESSING)
            util.set_condition(new_status, condition)
        elif util.deployment_timed_out(d, new_status, when):
            util.set_condition(new_status, util.new_condition(
                util.PROGRESSING, "False", util.TIMED_OUT_REASON,
                f"{subject} has timed out progressing.", when))
    failures = replica_failures(all_rss, new_rs)
    if failures:
        util.set_condition(new_status, failures[0])
    else:
        util.remove_condition(new_status, util.REPLICA_FAILURE)
    return new_status


def replica_failures(all_rss: Sequence[Obj | None], new_rs: Obj | None
                     ) -> list[dict[str, Any]]:
    """ReplicaFailure conditions: the new RS's, else those of any RS."""
    def of(rs: Obj) -> list[dict[str, Any]]:
        return [util.replica_set_to_deployment_condition(c)
                for c in objects.status(rs).get("conditions") or ()
                if isinstance(c, dict) and c.get("type") == util.REPLICA_FAILURE]

    if new_rs is not None:
        found = of(new_rs)
        if found:
            return found
    return [c for rs in all_rss if rs is not None for c in of(rs)]


def requeue_after(d: Obj, new_status: dict[str, Any], when: datetime) -> float | None:
    """Seconds until the Deployment's progress deadline passes (0: now), or None when it
    needs no progress check (no deadline, no condition, complete, or timed out)."""
    current = objects.find_condition(objects.status(d), util.PROGRESSING)
    if not util.has_progress_deadline(d) or current is None:
        return None
    if util.deployment_complete(d, new_status) or \
            current.get("reason") == util.TIMED_OUT_REASON:
        return None
    last = timeutil.parse_time(current.get("lastUpdateTime"))
    if last is None:
        return None
    after = last.timestamp() + float(objects.spec(d)["progressDeadlineSeconds"]) - \
        when.timestamp()
    return max(after, 0.0)


async def sync_rollout_status(s: Syncer, all_rss: Sequence[Obj | None],
                              new_rs: Obj | None, d: Obj) -> None:
    when = s.clock()
    new_status = rollout_status(all_rss, new_rs, d, when)
    if new_status == objects.status(d):
        after = requeue_after(d, new_status, when)
        if after is not None:
            # Under a second: check now (rate limited); otherwise a second past the
            # deadline, against clock skew in the delay.
            s.requeue(d, None if after < 1.0 else after + 1.0)
        return
    d["status"] = new_status
    await s.update_status(d)
