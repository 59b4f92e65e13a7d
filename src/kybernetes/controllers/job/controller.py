"""The Job controller: upstream's `pkg/controller/job/job_controller.go` (syncJob,
manageJob, trackJobStatusAndRemoveFinalizers), in kybernetes' controller shape.

Keys are `namespace/name` of Jobs. Job events sync at once; pod events sync the pod's Job
after `sync_batch_period` (1 s, upstream's syncJobBatchPeriod), so a burst of pod
updates costs one sync. Pods still carrying the tracking finalizer whose Job is gone or
finished go to a second queue that only removes that finalizer (upstream's orphan queue).

One sync (`sync`):

1. Skip Jobs that are gone (forget their expectations and backoff), finished, managed by
   another controller, or of an unknown completion mode.
2. Claim the Job's pods (adoption adds the tracking finalizer); count active, ready and
   terminating pods and the finished pods not yet counted (`tracking`).
3. Decide whether the Job is done: an existing `SuccessCriteriaMet` or `FailureTarget`
   condition leads to `Complete` / `Failed`; otherwise a `FailJob` rule of the pod failure
   policy, failures past `backoffLimit` (reason `BackoffLimitExceeded`), restarts past it
   for `restartPolicy: OnFailure`, `activeDeadlineSeconds` passed (`DeadlineExceeded`,
   else a sync is scheduled for the deadline), a met success policy (Indexed), or
   completions reached (`CompletionsReached`). Failure and success are first recorded as
   the interim `FailureTarget` / `SuccessCriteriaMet` conditions; the terminal condition
   follows once no pod is uncounted or terminating (upstream 1.31+).
4. A Job being finished has its active pods deleted; otherwise `manage` creates pods up
   to `min(parallelism, completions - succeeded)` (less terminating pods when only failed
   pods are replaced), in slow-start batches, after the pod-failure backoff (`backoff`),
   with indexes for Indexed Jobs (`indexed`); or deletes surplus pods, all of them when
   suspended (condition `Suspended`, reasons `JobSuspended` / `JobResumed`; resuming resets
   `startTime`).
5. Count finished pods through `status.uncountedTerminatedPods` and finalizer removal
   (`tracking`), at most `MAX_UNCOUNTED_PODS` per sync, and write the status.

With `backoffLimitPerIndex` each index backs off and fails on its own (`indexed`); more
failed indexes than `maxFailedIndexes` fail the Job (`MaxFailedIndexesExceeded`), as do
failed indexes once every other index succeeded (`FailedIndexes`).

Syncs wait for the informer to show the Job's status as this controller last wrote it:
counts read from an older copy would be stale (a counted pod would look missing and be
replaced).

Left out: upstream's metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from kybernetes.api import timeutil
from kybernetes.api.objects import meta, spec, status
from kybernetes.api.selectors import LabelSelector, label_selector_from_dict
from kybernetes.client import EventRecorder, NotFoundError, RateLimitingQueue, resource
from kybernetes.client.informer import NAMESPACE_INDEX, meta_namespace_key
from kybernetes.client.rest import ApiError, Obj, namespace_terminating
from kybernetes.controllers import podutil
from kybernetes.controllers.base import ControllerContext, QueueController, run_workers
from kybernetes.controllers.expectations import ControllerExpectations
from kybernetes.controllers.job import indexed, podfailurepolicy, successpolicy, tracking
from kybernetes.controllers.job.backoff import (
    DEFAULT_BACKOFF,
    MAX_BACKOFF,
    BackoffRecord,
    BackoffStore,
)
from kybernetes.controllers.job.indexed import Intervals
from kybernetes.controllers.job.util import (
    COMPLETE,
    FAILED,
    FAILURE_TARGET,
    JOB_TRACKING_FINALIZER,
    REASON_BACKOFF_LIMIT_EXCEEDED,
    REASON_COMPLETIONS_REACHED,
    REASON_DEADLINE_EXCEEDED,
    REASON_FAILED_INDEXES,
    REASON_MAX_FAILED_INDEXES_EXCEEDED,
    REASON_POD_FAILURE_POLICY,
    REASON_SUCCESS_POLICY,
    SUCCESS_CRITERIA_MET,
    SUSPENDED,
    completion_index,
    completions,
    ensure_condition,
    find_condition,
    has_backoff_limit_per_index,
    has_tracking_finalizer,
    is_indexed,
    is_job_finished,
    is_pod_failed,
    is_suspended,
    new_condition,
    only_replace_failed_pods,
    phase,
)
from kybernetes.controllers.refmanager import (
    ControllerRefManager,
    controller_ref,
    owner_reference,
    recheck_deletion_timestamp,
)
from kybernetes.controllers.replicaset import error_text, slow_start_batch

log = logging.getLogger(__name__)

PODS = resource("", "v1", "pods")
JOBS = resource("batch", "v1", "jobs")
# Upstream's --concurrent-job-syncs default, syncJobBatchPeriod, MaxPodCreateDeletePerSync
# and MaxUncountedPods.
DEFAULT_WORKERS = 5
SYNC_BATCH_PERIOD = 1.0
MAX_POD_CREATE_DELETE_PER_SYNC = 500
MAX_UNCOUNTED_PODS = 500
CONTROLLER_NAME = "kubernetes.io/job-controller"


@dataclass
class SyncContext:
    """What one sync of one Job works with (upstream's syncJobCtx)."""

    job: Obj
    pods: list[Obj]
    active: list[Obj]
    ready: int
    terminating: int
    uncounted_succeeded: set[str]
    uncounted_failed: set[str]
    expected_removals: frozenset[str]
    succeeded: int = 0
    failed: int = 0
    backoff: BackoffRecord | None = None
    finished: dict[str, Any] | None = None
    previous_indexes: Intervals = field(default_factory=Intervals)
    succeeded_indexes: Intervals = field(default_factory=Intervals)
    # With backoffLimitPerIndex: the failed indexes, and each retried index's last
    # failed pod (its finalizer stays until the replacement exists).
    failed_indexes: Intervals | None = None
    delayed: dict[int, Obj] = field(default_factory=dict)


class JobController(QueueController):
    name: ClassVar[str] = "job-controller"

    def __init__(self, ctx: ControllerContext, *, workers: int = DEFAULT_WORKERS,
                 sync_batch_period: float = SYNC_BATCH_PERIOD,
                 backoff_default: float = DEFAULT_BACKOFF, backoff_max: float = MAX_BACKOFF,
                 clock: Callable[[], datetime] = timeutil.now) -> None:
        super().__init__(workers=workers)
        self.client = ctx.client
        self.sync_batch_period = sync_batch_period
        self.backoff_default = backoff_default
        self.backoff_max = backoff_max
        self.clock = clock
        self.expectations = ControllerExpectations()
        self.finalizer_expectations = tracking.FinalizerExpectations()
        self.backoff = BackoffStore()
        # Per Job key: resourceVersions our own status writes replaced. A cached Job at
        # one of them is older than what we wrote (the informer lags): its counts would
        # be stale, so the sync waits for the newer version's event.
        self._superseded: dict[str, set[str]] = {}
        self.orphans: RateLimitingQueue[str] = RateLimitingQueue(name=f"{self.name}-orphan-pod")
        self.recorder = EventRecorder(ctx.client, "job-controller")
        self.jobs = ctx.informers.informer(JOBS)
        self.pods = ctx.informers.informer(PODS, indexers={
            podutil.POD_CONTROLLER_UID_INDEX: podutil.pod_controller_uid_index})
        self.watch(self.jobs, on_add=self.enqueue_object, on_update=self._update_job,
                   on_delete=self._delete_job)
        self.watch(self.pods, on_add=self._add_pod, on_update=self._update_pod,
                   on_delete=self._delete_pod)

    async def run(self) -> None:
        await self.wait_for_sync()
        log.info("%s: caches synced, starting %d worker(s)", self.name, self.workers)
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(run_workers(self.queue, self.sync, self.workers,
                                              name=self.name))
                tasks.create_task(run_workers(self.orphans, self.sync_orphan_pod, 1,
                                              name=f"{self.name}-orphan-pod"))
        finally:
            self.orphans.shutdown()
            await self.recorder.aclose()

    # -- handlers -----------------------------------------------------------------------

    def _batched(self, job: Obj) -> None:
        self.queue.add_after(meta_namespace_key(job), self.sync_batch_period)

    def _update_job(self, old: Obj, new: Obj) -> None:
        if meta(old).get("uid") != meta(new).get("uid"):
            self._delete_job(old)
        self.enqueue_object(new)

    def _delete_job(self, job: Obj) -> None:
        self._superseded.pop(meta_namespace_key(job), None)
        self.enqueue_object(job)
        uid = str(meta(job).get("uid"))
        for pod in self.pods.store.by_index(podutil.POD_CONTROLLER_UID_INDEX, uid):
            if has_tracking_finalizer(pod):
                self.orphans.add(podutil.pod_key(pod))

    def _resolve(self, namespace: str, ref: dict[str, Any]) -> Obj | None:
        if ref.get("kind") != "Job" or ref.get("apiVersion") != "batch/v1":
            return None
        job = self.jobs.store.get(f"{namespace}/{ref.get('name')}")
        if job is None or meta(job).get("uid") != ref.get("uid"):
            return None
        return job

    def _jobs_selecting(self, pod: Obj) -> list[Obj]:
        pmeta = meta(pod)
        labels = pmeta.get("labels") or {}
        found = []
        for job in self.jobs.store.by_index(NAMESPACE_INDEX, str(pmeta.get("namespace"))):
            try:
                selector = label_selector_from_dict(spec(job).get("selector"))
            except ValueError:
                continue
            if not selector.empty and selector.matches(labels):
                found.append(job)
        return found

    def _own_job(self, pod: Obj) -> Obj | None:
        """The live, unfinished Job controlling `pod`; a pod with the finalizer whose Job
        is gone or finished is queued for finalizer removal instead."""
        ref = controller_ref(pod)
        if ref is None:
            return None
        job = self._resolve(str(meta(pod).get("namespace")), ref)
        if job is None or is_job_finished(job):
            if has_tracking_finalizer(pod):
                self.orphans.add(podutil.pod_key(pod))
            return None
        return job

    def _add_pod(self, pod: Obj) -> None:
        if meta(pod).get("deletionTimestamp"):
            self._delete_pod(pod, final=False)
            return
        if controller_ref(pod) is not None:
            job = self._own_job(pod)
            if job is not None:
                self.expectations.creation_observed(meta_namespace_key(job))
                self._batched(job)
            return
        if has_tracking_finalizer(pod):
            self.orphans.add(podutil.pod_key(pod))
        for job in self._jobs_selecting(pod):
            self._batched(job)

    def _update_pod(self, old: Obj, cur: Obj) -> None:
        if meta(old).get("resourceVersion") == meta(cur).get("resourceVersion"):
            return
        if meta(cur).get("deletionTimestamp"):
            self._delete_pod(cur, final=False)
            return
        finalizer_removed = not has_tracking_finalizer(cur)
        cur_ref, old_ref = controller_ref(cur), controller_ref(old)
        namespace = str(meta(cur).get("namespace"))
        uid = str(meta(cur).get("uid"))
        if cur_ref != old_ref and old_ref is not None:
            job = self._resolve(namespace, old_ref)
            if job is not None:
                if finalizer_removed:
                    self.finalizer_expectations.removal_observed(meta_namespace_key(job), uid)
                self._batched(job)
        if cur_ref is not None:
            job = self._own_job(cur)
            if job is None:
                return
            if finalizer_removed:
                self.finalizer_expectations.removal_observed(meta_namespace_key(job), uid)
            self._batched(job)
            return
        if has_tracking_finalizer(cur):
            self.orphans.add(podutil.pod_key(cur))
        if (meta(cur).get("labels") or {}) != (meta(old).get("labels") or {}) or \
                cur_ref != old_ref:
            for job in self._jobs_selecting(cur):
                self._batched(job)

    def _delete_pod(self, pod: Obj, final: bool = True) -> None:
        if controller_ref(pod) is None:
            if has_tracking_finalizer(pod):
                self.orphans.add(podutil.pod_key(pod))
            return
        job = self._own_job(pod)
        if job is None:
            return
        key = meta_namespace_key(job)
        self.expectations.deletion_observed(key, podutil.pod_key(pod))
        if final or not has_tracking_finalizer(pod):
            self.finalizer_expectations.removal_observed(key, str(meta(pod).get("uid")))
        self._batched(job)

    # -- orphan pods --------------------------------------------------------------------

    async def sync_orphan_pod(self, key: str) -> None:
        """Remove the tracking finalizer of a pod no unfinished Job controls."""
        pod = self.pods.store.get(key)
        if pod is None or not has_tracking_finalizer(pod):
            return
        ref = controller_ref(pod)
        if ref is not None:
            if ref.get("kind") != "Job" or ref.get("apiVersion") != "batch/v1":
                return  # not a Job's: not ours to touch
            job = self._resolve(str(meta(pod).get("namespace")), ref)
            if job is not None and (_managed_elsewhere(job) or not is_job_finished(job)):
                return
        with contextlib.suppress(NotFoundError):
            await self._remove_finalizer(pod)

    # -- sync ---------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        cached = self.jobs.store.get(key)
        if cached is None:
            self.expectations.delete(key)
            self.finalizer_expectations.delete(key)
            self.backoff.remove(key)
            return
        if _managed_elsewhere(cached):
            return
        superseded = self._superseded.get(key)
        if superseded is not None:
            if str(meta(cached).get("resourceVersion")) in superseded:
                log.debug("%s: %s: the cache has yet to show our last write", self.name, key)
                return
            del self._superseded[key]
        if is_job_finished(cached):
            self.backoff.remove(key)
            return
        job = copy.deepcopy(cached)
        job.setdefault("apiVersion", "batch/v1")
        job.setdefault("kind", "Job")
        if spec(job).get("completionMode") not in (None, "NonIndexed", "Indexed"):
            self.recorder.warning(job, "UnknownCompletionMode",
                                  "Skipped Job sync because completion mode is unknown")
            return
        job_status = job.setdefault("status", {})
        satisfied = self.expectations.satisfied(key)
        pods = await self._pods_for_job(job)
        active = podutil.filter_active_pods(pods)
        unc = tracking.uncounted(job_status)
        ctx = SyncContext(
            job=job, pods=pods, active=active,
            ready=sum(1 for p in active if podutil.is_pod_ready(p)),
            terminating=len(podutil.filter_terminating_pods(pods)),
            uncounted_succeeded=set(unc["succeeded"]), uncounted_failed=set(unc["failed"]),
            expected_removals=self.finalizer_expectations.expected(key))
        active_count = len(active)
        new_succeeded, new_failed = self._new_finished_pods(ctx)
        policy = spec(job).get("podFailurePolicy")
        counted_failures = sum(1 for p in new_failed
                               if podfailurepolicy.match(policy, p).count_failed)
        ctx.succeeded = int(job_status.get("succeeded") or 0) + len(new_succeeded) + \
            len(ctx.uncounted_succeeded)
        ctx.failed = int(job_status.get("failed") or 0) + counted_failures + \
            len(ctx.uncounted_failed)
        now = self.clock()
        if job_status.get("startTime") is None and not is_suspended(job):
            job_status["startTime"] = timeutil.rfc3339(now)
        ctx.backoff = self.backoff.new_record(key, new_succeeded, new_failed)

        self._finished_condition(ctx, key, now)
        manage_error: Exception | None = None
        suspend_changed = False
        if ctx.finished is not None:
            deleted, deleted_ready, manage_error = await self._delete_active(job, active)
            if deleted != active_count or not satisfied:
                ctx.finished = None  # not yet: pods remain, or the informer lags
            active_count -= deleted
            ctx.terminating += deleted
            ctx.ready -= deleted_ready
        else:
            managed = False
            if satisfied and not meta(job).get("deletionTimestamp"):
                try:
                    active_count = await self.manage(ctx, key)
                except Exception as err:  # written in status first, then retried
                    manage_error = err
                    active_count = len(ctx.active)
                managed = True
            total = completions(job)
            if total is None:
                complete = ctx.succeeded > 0 and active_count == 0
            else:
                complete = ctx.succeeded >= total and active_count == 0
            if complete:
                ctx.finished = new_condition(SUCCESS_CRITERIA_MET, REASON_COMPLETIONS_REACHED,
                                             "Reached expected number of succeeded pods", now)
            elif managed:
                suspend_changed = self._suspend_condition(job, now)

        needs_update = suspend_changed or active_count != int(job_status.get("active") or 0) \
            or job_status.get("ready") != ctx.ready \
            or job_status.get("terminating") != ctx.terminating
        _set_count(job_status, "active", active_count)
        job_status["ready"] = ctx.ready
        job_status["terminating"] = ctx.terminating
        await self._track_and_remove_finalizers(ctx, key, needs_update)
        if manage_error is not None:
            raise manage_error

    def _new_finished_pods(self, ctx: SyncContext) -> tuple[list[Obj], list[Obj]]:
        """Finished pods not yet in the status: with the finalizer, not uncounted, not
        awaiting finalizer removal (upstream's getNewFinishedPods)."""
        total = completions(ctx.job)
        succeeded: list[Obj] = []
        failed: list[Obj] = []
        for pod in ctx.pods:
            uid = str(meta(pod).get("uid"))
            if not has_tracking_finalizer(pod) or uid in ctx.expected_removals:
                continue
            if is_indexed(ctx.job):
                ix = completion_index(pod)
                if ix is None or total is None or ix >= total:
                    continue
            if phase(pod) == "Succeeded" and uid not in ctx.uncounted_succeeded:
                succeeded.append(pod)
            elif is_pod_failed(pod, ctx.job) and uid not in ctx.uncounted_failed:
                failed.append(pod)
        return succeeded, failed

    def _finished_condition(self, ctx: SyncContext, key: str, now: datetime) -> None:
        """Decide whether the Job succeeded or failed (see the module docstring)."""
        job = ctx.job
        job_spec = spec(job)
        met = find_condition(job, SUCCESS_CRITERIA_MET)
        if met is not None and met.get("status") == "True":
            ctx.finished = met
        if ctx.finished is None:
            target = find_condition(job, FAILURE_TARGET)
            if target is not None and target.get("status") == "True":
                ctx.finished = new_condition(FAILED, str(target.get("reason") or ""),
                                             str(target.get("message") or ""), now)
            else:
                message = _fail_job_message(job, ctx.pods)
                if message is not None:
                    ctx.finished = new_condition(FAILURE_TARGET, REASON_POD_FAILURE_POLICY,
                                                 message, now)
        if ctx.finished is None:
            backoff_limit = int(job_spec.get("backoffLimit") or 0)
            deadline = job_spec.get("activeDeadlineSeconds")
            started = timeutil.parse_time(status(job).get("startTime"))
            if ctx.failed > backoff_limit or _past_backoff_limit_on_failure(job, ctx.pods):
                ctx.finished = new_condition(FAILURE_TARGET, REASON_BACKOFF_LIMIT_EXCEEDED,
                                             "Job has reached the specified backoff limit",
                                             now)
            elif deadline is not None and started is not None and not is_suspended(job):
                left = int(deadline) - (now - started).total_seconds()
                if left <= 0:
                    ctx.finished = new_condition(
                        FAILURE_TARGET, REASON_DEADLINE_EXCEEDED,
                        "Job was active longer than specified deadline", now)
                else:
                    self.queue.add_after(key, left)
        total = completions(job)
        if is_indexed(job) and total is not None:
            ctx.previous_indexes, ctx.succeeded_indexes = indexed.succeeded_indexes(
                status(job), ctx.pods, total)
            ctx.succeeded = ctx.succeeded_indexes.total()
            if has_backoff_limit_per_index(job):
                self._per_index_failures(ctx, total, now)
            if ctx.finished is None:
                message = successpolicy.match(job_spec.get("successPolicy"), total,
                                              ctx.succeeded_indexes)
                if message is not None:
                    ctx.finished = new_condition(SUCCESS_CRITERIA_MET, REASON_SUCCESS_POLICY,
                                                 message, now)

    def _per_index_failures(self, ctx: SyncContext, total: int, now: datetime) -> None:
        job = ctx.job
        failed = ctx.failed_indexes = indexed.failed_indexes(job, ctx.pods, total)
        if ctx.finished is None:
            most = spec(job).get("maxFailedIndexes")
            if most is not None and failed.total() > int(most):
                ctx.finished = new_condition(
                    FAILURE_TARGET, REASON_MAX_FAILED_INDEXES_EXCEEDED,
                    "Job has exceeded the specified maximal number of failed indexes", now)
            elif failed.total() > 0 and \
                    failed.total() + ctx.succeeded_indexes.total() >= total:
                ctx.finished = new_condition(FAILURE_TARGET, REASON_FAILED_INDEXES,
                                             "Job has failed indexes", now)
        ctx.delayed = indexed.pods_with_delayed_deletion(
            job, ctx.pods, ctx.active, ctx.expected_removals, ctx.succeeded_indexes, failed,
            total)

    def _suspend_condition(self, job: Obj, now: datetime) -> bool:
        conds = status(job).setdefault("conditions", [])
        if is_suspended(job):
            changed = ensure_condition(conds, SUSPENDED, "True", "JobSuspended",
                                       "Job suspended", now)
            if changed:
                self.recorder.normal(job, "Suspended", "Job suspended")
        else:
            changed = ensure_condition(conds, SUSPENDED, "False", "JobResumed",
                                       "Job resumed", now)
            if changed:
                self.recorder.normal(job, "Resumed", "Job resumed")
                # activeDeadlineSeconds counts the time continuously active.
                status(job)["startTime"] = timeutil.rfc3339(now)
        if not conds:
            status(job).pop("conditions", None)
        return changed

    async def _pods_for_job(self, job: Obj) -> list[Obj]:
        """The Job's pods, claiming matching orphans (with the tracking finalizer)."""
        jmeta = meta(job)
        try:
            selector: LabelSelector = label_selector_from_dict(spec(job).get("selector"))
        except ValueError as err:
            log.error("%s: invalid selector of Job %s: %s", self.name, meta_namespace_key(job), err)
            return []
        candidates = podutil.pods_for_owner(self.pods.store, str(jmeta.get("namespace")),
                                            str(jmeta.get("uid")), include_orphans=True)
        manager = ControllerRefManager(
            self.client, owner=job, owner_api_version="batch/v1", owner_kind="Job",
            child_resource=PODS, selector=selector,
            can_adopt=recheck_deletion_timestamp(self.client, JOBS, job),
            finalizers=(JOB_TRACKING_FINALIZER,))
        return await manager.claim(candidates)

    # -- creating and deleting pods -----------------------------------------------------

    async def manage(self, ctx: SyncContext, key: str) -> int:
        """Create or delete pods towards the wanted number of active pods (upstream's
        manageJob); returns the number of active pods after it."""
        job = ctx.job
        job_spec = spec(job)
        active = len(ctx.active)
        if is_suspended(job):
            victims = _pods_for_removal(job, ctx.active, active)
            return active - await self._delete_pods(ctx, key, victims)
        parallelism = int(job_spec.get("parallelism") or 0)
        total = completions(job)
        if total is None:
            want = active if ctx.succeeded > 0 else parallelism
        else:
            want = max(0, min(total - ctx.succeeded, parallelism))
        victims = _pods_for_removal(job, ctx.active, max(0, active - want))
        if victims:
            victims = victims[:MAX_POD_CREATE_DELETE_PER_SYNC]
            return active - await self._delete_pods(ctx, key, victims)
        terminating = ctx.terminating if only_replace_failed_pods(job) else 0
        diff = want - terminating - active
        if diff <= 0:
            return active
        per_index = has_backoff_limit_per_index(job)
        now = self.clock()
        assert ctx.backoff is not None
        remaining = 0.0 if per_index else \
            ctx.backoff.remaining(now, self.backoff_default, self.backoff_max)
        if remaining > 0:
            self.queue.add_after(key, remaining)
            return active
        diff = min(diff, MAX_POD_CREATE_DELETE_PER_SYNC)
        indexes: list[int | None] = [None] * diff
        if is_indexed(job) and total is not None:
            non_pending = ctx.succeeded_indexes.with_indexes(indexed.pod_indexes(ctx.active))
            if only_replace_failed_pods(job):
                non_pending = non_pending.with_indexes(indexed.pod_indexes(
                    podutil.filter_terminating_pods(ctx.pods)))
            if ctx.failed_indexes is not None:
                non_pending = non_pending.merge(ctx.failed_indexes)
            pending = indexed.first_pending_indexes(non_pending, diff, total)
            if per_index:
                waits = {ix: indexed.index_remaining_backoff(
                    ctx.delayed.get(ix), now, self.backoff_default, self.backoff_max)
                    for ix in pending}
                pending = [ix for ix, wait in waits.items() if wait <= 0]
                if not pending and waits:
                    self.queue.add_after(key, min(waits.values()))
                    return active
            indexes = list(pending)
            diff = len(indexes)
        template = copy.deepcopy(job_spec.get("template") or {})
        if is_indexed(job):
            indexed.add_completion_index_env(template)
        tmeta = template.setdefault("metadata", {})
        finalizers = list(tmeta.get("finalizers") or [])
        if JOB_TRACKING_FINALIZER not in finalizers:
            finalizers.append(JOB_TRACKING_FINALIZER)
        tmeta["finalizers"] = finalizers
        self.expectations.expect_creations(key, diff)
        queued = iter(indexes)

        async def create() -> None:
            index = next(queued)
            annotations = indexed.index_failure_annotations(job, ctx.delayed.get(index)) \
                if per_index and index is not None else {}
            await self._create_pod(job, template, index, annotations)

        successes, err = await slow_start_batch(diff, 1, create)
        for _ in range(diff - successes):
            self.expectations.creation_observed(key)
        if err is not None:
            raise err
        return active + successes

    async def _create_pod(self, job: Obj, template: dict[str, Any], index: int | None,
                          annotations: dict[str, str]) -> None:
        name = str(meta(job).get("name"))
        ref = owner_reference(job, api_version="batch/v1", kind="Job")
        if index is not None:
            template = indexed.indexed_template(template, name, index)
        pod = podutil.pod_from_template(template, name, ref)
        if annotations:
            pod["metadata"].setdefault("annotations", {}).update(annotations)
        if index is not None:
            pod["metadata"]["generateName"] = indexed.generate_name(name, index)
        try:
            created = await self.client.create(PODS, pod, meta(job).get("namespace"))
        except ApiError as err:
            if namespace_terminating(err):
                return
            self.recorder.warning(job, "FailedCreate", f"Error creating: {error_text(err)}")
            raise
        self.recorder.normal(job, "SuccessfulCreate",
                             f"Created pod: {meta(created).get('name')}")

    async def _delete_pods(self, ctx: SyncContext, key: str, victims: list[Obj]) -> int:
        """Delete pods (finalizer first) for a surplus or a suspension; returns how many
        went. Raises the first failure after trying all."""
        self.expectations.expect_deletions(key, [podutil.pod_key(p) for p in victims])
        results = await asyncio.gather(*(self._delete_pod_of(ctx.job, p) for p in victims),
                                       return_exceptions=True)
        removed = 0
        first: BaseException | None = None
        for pod, result in zip(victims, results, strict=True):
            if isinstance(result, BaseException):
                self.expectations.deletion_observed(key, podutil.pod_key(pod))
                if isinstance(result, NotFoundError):
                    removed += 1
                    continue
                if first is None:
                    first = result
                continue
            removed += 1
            ctx.terminating += 1
            if podutil.is_pod_ready(pod):
                ctx.ready -= 1
        if first is not None:
            raise first
        return removed

    async def _delete_pod_of(self, job: Obj, pod: Obj) -> None:
        if has_tracking_finalizer(pod):
            await self._remove_finalizer(pod)
        await self._delete_with_event(job, str(meta(pod).get("name")), meta(pod).get("namespace"))

    async def _delete_with_event(self, job: Obj, name: str, namespace: Any) -> None:
        try:
            await self.client.delete(PODS, name, namespace)
        except NotFoundError:
            raise
        except ApiError as err:
            self.recorder.warning(job, "FailedDelete", f"Error deleting: {error_text(err)}")
            raise
        self.recorder.normal(job, "SuccessfulDelete", f"Deleted pod: {name}")

    async def _delete_active(self, job: Obj, active: list[Obj]
                             ) -> tuple[int, int, Exception | None]:
        """Delete the active pods of a finishing Job, keeping their finalizers (counted
        later); returns (deleted, of which ready, first error)."""
        namespace = meta(job).get("namespace")
        results = await asyncio.gather(
            *(self._delete_with_event(job, str(meta(p).get("name")), namespace)
              for p in active), return_exceptions=True)
        deleted = ready = 0
        first: Exception | None = None
        for pod, result in zip(active, results, strict=True):
            if isinstance(result, Exception) and not isinstance(result, NotFoundError):
                first = first or result
                continue
            deleted += 1
            ready += podutil.is_pod_ready(pod)
        return deleted, ready, first

    # -- counting and status ------------------------------------------------------------

    async def _track_and_remove_finalizers(self, ctx: SyncContext, key: str,
                                           needs_flush: bool) -> None:
        """Upstream's trackJobStatusAndRemoveFinalizers (see `tracking`)."""
        job = ctx.job
        job_status = status(job)
        indexed_job = is_indexed(job)
        total = completions(job)
        pods = ctx.pods
        if indexed_job:
            pods = sorted(pods, key=lambda p: (completion_index(p) is None,
                                               completion_index(p) or 0))
        with_finalizer = {str(meta(p).get("uid")) for p in pods
                          if has_tracking_finalizer(p)
                          and str(meta(p).get("uid")) not in ctx.expected_removals}
        if tracking.clean_uncounted(job_status, with_finalizer):
            needs_flush = True
        unc = tracking.uncounted(job_status)
        policy = spec(job).get("podFailurePolicy")
        finishing_failed = ctx.finished is not None and \
            ctx.finished.get("type") != SUCCESS_CRITERIA_MET
        to_remove: list[Obj] = []
        new_indexes: list[int] = []
        reached_max = False
        for pod in pods:
            uid = str(meta(pod).get("uid"))
            if not has_tracking_finalizer(pod) or uid in ctx.expected_removals:
                continue
            failed = is_pod_failed(pod, job)
            ix = completion_index(pod)
            if not (meta(job).get("deletionTimestamp") or ctx.finished is not None
                    or phase(pod) == "Succeeded"):
                if not failed:
                    continue
                delayed = ctx.delayed.get(ix) if ix is not None else None
                if delayed is not None and meta(delayed).get("uid") == uid:
                    continue  # its replacement reads the failure count from it
            to_remove.append(pod)
            if phase(pod) == "Succeeded" and uid not in ctx.uncounted_failed:
                if indexed_job:
                    if ix is not None and total is not None and ix < total and \
                            not ctx.previous_indexes.has(ix):
                        new_indexes.append(ix)
                        needs_flush = True
                elif uid not in ctx.uncounted_succeeded:
                    unc["succeeded"].append(uid)
                    needs_flush = True
            elif failed or finishing_failed:
                valid = not indexed_job or (ix is not None and total is not None
                                            and ix < total)
                if uid not in ctx.uncounted_failed and valid and \
                        podfailurepolicy.match(policy, pod).count_failed:
                    unc["failed"].append(uid)
                    needs_flush = True
            if len(new_indexes) + len(unc["succeeded"]) + len(unc["failed"]) >= \
                    MAX_UNCOUNTED_PODS:
                reached_max = True
                break
        job_status["uncountedTerminatedPods"] = {k: v for k, v in unc.items() if v}
        if indexed_job:
            ctx.succeeded_indexes = ctx.succeeded_indexes.with_indexes(new_indexes)
            text = str(ctx.succeeded_indexes)
            if text != (job_status.get("completedIndexes") or ""):
                needs_flush = True
            _set_count(job_status, "succeeded", ctx.succeeded_indexes.total())
            _set_text(job_status, "completedIndexes", text)
            if ctx.failed_indexes is not None:
                failed_text = str(ctx.failed_indexes)
                if job_status.get("failedIndexes") != failed_text:
                    job_status["failedIndexes"] = failed_text
                    needs_flush = True
        now = self.clock()
        if ctx.finished is not None and ctx.finished.get("type") == FAILURE_TARGET:
            # The interim condition goes in before any finalizer is removed.
            job_status.setdefault("conditions", []).append(ctx.finished)
            needs_flush = True
            ctx.finished = new_condition(FAILED, str(ctx.finished.get("reason")),
                                         str(ctx.finished.get("message")), now)
        if ctx.finished is not None and ctx.finished.get("type") == SUCCESS_CRITERIA_MET:
            if find_condition(job, SUCCESS_CRITERIA_MET) is None:
                job_status.setdefault("conditions", []).append(ctx.finished)
                needs_flush = True
            ctx.finished = new_condition(COMPLETE, str(ctx.finished.get("reason")),
                                         str(ctx.finished.get("message")), now)
        needs_flush = await self._flush_and_remove_finalizers(ctx, key, to_remove,
                                                              with_finalizer, needs_flush)
        finished = not reached_max and self._enact_finished(ctx, now)
        if finished or needs_flush:
            await self._write_status(ctx)
        if finished:
            assert ctx.finished is not None
            self._record_finished(ctx.job, ctx.finished)

    async def _flush_and_remove_finalizers(self, ctx: SyncContext, key: str,
                                           to_remove: list[Obj], with_finalizer: set[str],
                                           needs_flush: bool) -> bool:
        """Write the uncounted pods, remove their finalizers, move them into the counters;
        returns whether the status still has changes to write."""
        if needs_flush:
            await self._write_status(ctx)
            if ctx.backoff is not None:
                self.backoff.update(ctx.backoff)
            needs_flush = False
        first: BaseException | None = None
        if to_remove:
            uids = [str(meta(p).get("uid")) for p in to_remove]
            self.finalizer_expectations.expect_removals(key, uids)
            results = await asyncio.gather(*(self._remove_finalizer(p) for p in to_remove),
                                           return_exceptions=True)
            for uid, result in zip(uids, results, strict=True):
                if isinstance(result, BaseException) and \
                        not isinstance(result, NotFoundError):
                    self.finalizer_expectations.removal_observed(key, uid)
                    first = first or result
                    continue
                with_finalizer.discard(uid)
        if tracking.clean_uncounted(status(ctx.job), with_finalizer):
            needs_flush = True
        if first is not None:
            if needs_flush:
                await self._write_status(ctx)
            raise first
        return needs_flush

    async def _remove_finalizer(self, pod: Obj) -> None:
        pmeta = meta(pod)
        await self.client.patch(PODS, str(pmeta.get("name")),
                                tracking.remove_finalizer_patch(str(pmeta.get("uid"))),
                                pmeta.get("namespace"), patch_type="strategic")

    def _enact_finished(self, ctx: SyncContext, now: datetime) -> bool:
        """Add the terminal condition once nothing is uncounted or terminating."""
        if ctx.finished is None:
            return False
        job_status = status(ctx.job)
        unc = job_status.get("uncountedTerminatedPods") or {}
        if unc.get("succeeded") or unc.get("failed") or ctx.terminating > 0:
            return False
        cond = ctx.finished
        ensure_condition(job_status.setdefault("conditions", []), str(cond["type"]), "True",
                         str(cond.get("reason") or ""), str(cond.get("message") or ""), now)
        if cond["type"] == COMPLETE:
            job_status["completionTime"] = timeutil.rfc3339(now)
        return True

    def _record_finished(self, job: Obj, cond: dict[str, Any]) -> None:
        if cond.get("type") == COMPLETE:
            total = completions(job)
            if total is not None and int(status(job).get("succeeded") or 0) > total:
                self.recorder.warning(job, "TooManySucceededPods",
                                      "Too many succeeded pods running after completion "
                                      "count reached")
            self.recorder.normal(job, "Completed", "Job completed")
        else:
            self.recorder.warning(job, str(cond.get("reason") or ""),
                                  str(cond.get("message") or ""))

    async def _write_status(self, ctx: SyncContext) -> None:
        """PUT the status with the Job's resourceVersion: a stale copy conflicts."""
        job_status = status(ctx.job)
        jmeta = meta(ctx.job)
        written = await self.client.update_status(JOBS, ctx.job, jmeta.get("namespace"))
        self._superseded.setdefault(meta_namespace_key(ctx.job), set()).add(
            str(jmeta.get("resourceVersion")))
        # Keep working on our status (with the new resourceVersion) for later writes.
        ctx.job = {**written, "status": job_status}


def _managed_elsewhere(job: Obj) -> bool:
    managed_by = spec(job).get("managedBy")
    return managed_by is not None and managed_by != CONTROLLER_NAME


def _set_count(job_status: dict[str, Any], name: str, value: int) -> None:
    if value:
        job_status[name] = value
    else:
        job_status.pop(name, None)


def _set_text(job_status: dict[str, Any], name: str, value: str) -> None:
    if value:
        job_status[name] = value
    else:
        job_status.pop(name, None)


def _fail_job_message(job: Obj, pods: list[Obj]) -> str | None:
    policy = spec(job).get("podFailurePolicy")
    if not policy:
        return None
    for pod in pods:
        if is_pod_failed(pod, job):
            message = podfailurepolicy.match(policy, pod).fail_job_message
            if message is not None:
                return message
    return None


def _past_backoff_limit_on_failure(job: Obj, pods: list[Obj]) -> bool:
    """With restartPolicy OnFailure, container restarts count as failures."""
    template_spec = (spec(job).get("template") or {}).get("spec") or {}
    if template_spec.get("restartPolicy") != "OnFailure":
        return False
    restarts = 0
    for pod in pods:
        if phase(pod) in ("Running", "Pending"):
            for key in ("initContainerStatuses", "containerStatuses"):
                restarts += sum(int(cs.get("restartCount") or 0)
                                for cs in status(pod).get(key) or () if isinstance(cs, dict))
    limit = int(spec(job).get("backoffLimit") or 0)
    return restarts > 0 if limit == 0 else restarts >= limit


def _pods_for_removal(job: Obj, active: list[Obj], at_least: int) -> list[Obj]:
    """Upstream's activePodsForRemoval: duplicated or invalid indexes first, then by the
    ActivePods order."""
    remove: list[Obj] = []
    left = active
    total = completions(job)
    if is_indexed(job) and total is not None:
        remove, left = indexed.duplicated_index_pods(active, total)
    if len(remove) < at_least:
        remove += podutil.active_pods_order(left)[:at_least - len(remove)]
    return remove
