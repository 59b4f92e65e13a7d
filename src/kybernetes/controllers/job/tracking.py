"""Counting finished pods exactly once: upstream's `pkg/controller/job/tracking_utils.go`
and the bookkeeping half of `trackJobStatusAndRemoveFinalizers`.

Every Job pod is created with the `batch.kubernetes.io/job-tracking` finalizer, so it
cannot vanish before the controller has counted it. Counting is a two-step protocol that
survives a controller restart at any point:

1. a finished pod's uid is written into `status.uncountedTerminatedPods` (succeeded or
   failed; Indexed Jobs record succeeded indexes in `completedIndexes` directly);
2. its finalizer is removed; then uids whose pod no longer has the finalizer (or is gone)
   move from the uncounted lists into `status.succeeded` / `status.failed`
   (`clean_uncounted`).

A pod without the finalizer was counted already; a pod with it is counted once, since its
uid is in the uncounted lists until the counter includes it. Between removing a finalizer
and the informer showing the pod without it, `FinalizerExpectations` remembers the uid, so
a sync in between does not count it again. All writes of the Job status carry its
resourceVersion: a sync working from a stale copy fails with a conflict and retries.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kybernetes.controllers.job.util import JOB_TRACKING_FINALIZER


class FinalizerExpectations:
    """Per Job key: pod uids whose finalizer removal the informer has yet to show."""

    def __init__(self) -> None:
        self._expected: dict[str, set[str]] = {}

    def expect_removals(self, key: str, uids: Iterable[str]) -> None:
        expected = self._expected.setdefault(key, set())
        expected.update(uids)

    def removal_observed(self, key: str, uid: str) -> bool:
        """Forget `uid`; returns whether it was expected (the Job should sync again)."""
        expected = self._expected.get(key)
        if expected is None or uid not in expected:
            return False
        expected.discard(uid)
        if not expected:
            del self._expected[key]
        return True

    def expected(self, key: str) -> frozenset[str]:
        return frozenset(self._expected.get(key, ()))

    def delete(self, key: str) -> None:
        self._expected.pop(key, None)


def remove_finalizer_patch(uid: str) -> dict[str, Any]:
    """A strategic merge patch removing the tracking finalizer (uid as precondition)."""
    return {"metadata": {"uid": uid,
                         "$deleteFromPrimitiveList/finalizers": [JOB_TRACKING_FINALIZER]}}


def uncounted(job_status: dict[str, Any]) -> dict[str, list[str]]:
    """`status.uncountedTerminatedPods`, always with both lists (a working copy)."""
    raw = job_status.get("uncountedTerminatedPods") or {}
    return {"succeeded": [str(u) for u in raw.get("succeeded") or ()],
            "failed": [str(u) for u in raw.get("failed") or ()]}


def clean_uncounted(job_status: dict[str, Any], with_finalizer: set[str]) -> bool:
    """Move uncounted uids whose pod lost its finalizer into the counters (upstream's
    cleanUncountedPodsWithoutFinalizers); returns whether the status changed."""
    lists = uncounted(job_status)
    updated = False
    for field, counter in (("succeeded", "succeeded"), ("failed", "failed")):
        keep = [uid for uid in lists[field] if uid in with_finalizer]
        if len(keep) != len(lists[field]):
            updated = True
            job_status[counter] = int(job_status.get(counter) or 0) + \
                len(lists[field]) - len(keep)
            lists[field] = keep
    job_status["uncountedTerminatedPods"] = {k: v for k, v in lists.items() if v}
    return updated
