"""Job and pod facts the Job controller's modules share: upstream's
`pkg/controller/job/util/utils.go`, the condition helpers of `job_controller.go` and the
pod predicates (`isPodFailed`, `getFinishedTime`) the counting rests on.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from kybernetes.api import objects, timeutil
from kybernetes.api.objects import meta, spec, status
from kybernetes.client.rest import Obj
from kybernetes.controllers import podutil

# The finalizer every Job pod carries until the controller has counted it.
JOB_TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
JOB_COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
JOB_COMPLETION_INDEX_ENV = "JOB_COMPLETION_INDEX"
JOB_INDEX_FAILURE_COUNT = "batch.kubernetes.io/job-index-failure-count"
JOB_INDEX_IGNORED_FAILURE_COUNT = "batch.kubernetes.io/job-index-ignored-failure-count"

# Condition types and reasons (k8s.io/api/batch/v1).
COMPLETE = "Complete"
FAILED = "Failed"
SUSPENDED = "Suspended"
FAILURE_TARGET = "FailureTarget"
SUCCESS_CRITERIA_MET = "SuccessCriteriaMet"
REASON_BACKOFF_LIMIT_EXCEEDED = "BackoffLimitExceeded"
REASON_DEADLINE_EXCEEDED = "DeadlineExceeded"
REASON_POD_FAILURE_POLICY = "PodFailurePolicy"
REASON_MAX_FAILED_INDEXES_EXCEEDED = "MaxFailedIndexesExceeded"
REASON_FAILED_INDEXES = "FailedIndexes"
REASON_SUCCESS_POLICY = "SuccessPolicy"
REASON_COMPLETIONS_REACHED = "CompletionsReached"


# ----------------------------------------------------------------------------- jobs


def conditions(job: Obj) -> list[dict[str, Any]]:
    return [c for c in status(job).get("conditions") or () if isinstance(c, dict)]


def find_condition(job: Obj, type_: str) -> dict[str, Any] | None:
    return objects.find_condition(status(job), type_)


def has_true_condition(job: Obj, type_: str) -> bool:
    cond = find_condition(job, type_)
    return cond is not None and cond.get("status") == "True"


def finished_condition(job: Obj) -> str | None:
    """`Complete` or `Failed` when the Job has that condition true (upstream's
    FinishedCondition), else None."""
    return next((str(c["type"]) for c in conditions(job)
                 if c.get("type") in (COMPLETE, FAILED) and c.get("status") == "True"), None)


def is_job_finished(job: Obj) -> bool:
    """Complete or Failed (upstream's IsJobFinished)."""
    return finished_condition(job) is not None


def new_condition(type_: str, reason: str, message: str, now: datetime,
                  status_: str = "True") -> dict[str, Any]:
    stamp = timeutil.rfc3339(now)
    return {"type": type_, "status": status_, "lastProbeTime": stamp,
            "lastTransitionTime": stamp, "reason": reason, "message": message}


def ensure_condition(conds: list[dict[str, Any]], type_: str, status_: str, reason: str,
                     message: str, now: datetime) -> bool:
    """Upstream's ensureJobConditionStatus: set (or add, when True) the condition in
    place; returns whether anything changed. Absent and False: nothing to add."""
    for cond in conds:
        if cond.get("type") != type_:
            continue
        if cond.get("status") == status_ and cond.get("reason") == reason and \
                cond.get("message") == message:
            return False
        cond.clear()
        cond.update(new_condition(type_, reason, message, now, status_))
        return True
    if status_ != "False":
        conds.append(new_condition(type_, reason, message, now, status_))
        return True
    return False


def is_suspended(job: Obj) -> bool:
    return spec(job).get("suspend") is True


def is_indexed(job: Obj) -> bool:
    return spec(job).get("completionMode") == "Indexed"


def has_backoff_limit_per_index(job: Obj) -> bool:
    return spec(job).get("backoffLimitPerIndex") is not None


def completions(job: Obj) -> int | None:
    value = spec(job).get("completions")
    return None if value is None else int(value)


def only_replace_failed_pods(job: Obj) -> bool:
    """Replacement pods wait for their predecessors to be Failed (not just deleted)."""
    job_spec = spec(job)
    return job_spec.get("podReplacementPolicy") == "Failed" or \
        job_spec.get("podFailurePolicy") is not None


# ----------------------------------------------------------------------------- pods


def has_tracking_finalizer(pod: Obj) -> bool:
    return JOB_TRACKING_FINALIZER in (meta(pod).get("finalizers") or ())


def phase(pod: Obj) -> str:
    return str(status(pod).get("phase") or "")


def is_pod_failed(pod: Obj, job: Obj) -> bool:
    """Failed, or (unless only failed pods are replaced) deleted before succeeding:
    orphans may never reach the Failed phase."""
    if phase(pod) == "Failed":
        return True
    if only_replace_failed_pods(job):
        return False
    return bool(meta(pod).get("deletionTimestamp")) and phase(pod) != "Succeeded"


def finished_time(pod: Obj) -> datetime:
    """When a pod finished (upstream's getFinishedTime): the last container's finish, the
    Ready=False transition, its deletion (less the grace period), or its creation."""
    st = status(pod)
    finish: datetime | None = None
    statuses = [c for c in st.get("containerStatuses") or () if isinstance(c, dict)]
    for cs in statuses:
        terminated = (cs.get("state") or {}).get("terminated") or {}
        at = timeutil.parse_time(terminated.get("finishedAt"))
        if at is None:
            finish = None
            break
        finish = at if finish is None or at > finish else finish
    if finish is not None:
        return finish
    ready = podutil.ready_condition(pod)
    if ready is not None and ready.get("status") == "False":
        at = timeutil.parse_time(ready.get("lastTransitionTime"))
        if at is not None:
            return at
    pmeta = meta(pod)
    deleted = timeutil.parse_time(pmeta.get("deletionTimestamp"))
    if deleted is not None:
        return deleted - timedelta(seconds=int(pmeta.get("deletionGracePeriodSeconds") or 0))
    return timeutil.parse_time(pmeta.get("creationTimestamp")) or timeutil.now()


def completion_index(pod: Obj) -> int | None:
    """The pod's completion index annotation, or None when absent or malformed."""
    value = (meta(pod).get("annotations") or {}).get(JOB_COMPLETION_INDEX)
    if not isinstance(value, str) or not value.isdigit():
        return None
    return int(value)
