"""The CronJob controller: upstream's `pkg/controller/cronjob/cronjob_controllerv2.go`.

Keys are `namespace/name` of CronJobs. Handlers only enqueue:

- CronJobs: adds and deletes enqueue; an update that changes `schedule` or `timeZone`
  enqueues for the next start time of the new schedule (an unparseable one is reported by
  an `UnParseableCronJobSchedule` event instead), any other update enqueues now.
- Jobs: a Job whose controller reference resolves to a CronJob (same name and uid) wakes
  it on add, update and delete; when an update changes the controller reference, the old
  controller is woken too.

`sync(key)` reads the CronJob and its Jobs (those whose controller reference names it) from
the informers, then, on a copy:

1. **prunes history** (`cleanupFinishedJobs`): beyond `successfulJobsHistoryLimit`
   Complete and `failedJobsHistoryLimit` Failed Jobs, the ones that started first are
   deleted (background propagation);
2. **reconciles the active list**: a finished Job leaves `status.active` (event
   `SawCompletedJob`) and the latest completion of a succeeded one is
   `status.lastSuccessfulTime`; an unfinished Job it does not list is reported
   (`UnexpectedJob`, after a live GET of the CronJob shows it is really not listed, so a
   stale cache is no false alarm); a listed Job that neither the informer nor a live GET
   knows is dropped (`MissingJob`);
3. unless the CronJob is being deleted, has an unknown `timeZone`, is suspended or has an
   unparseable schedule (each an event where upstream has one), **starts the most recent
   missed start time** only (`schedule.most_recent_schedule_time`; more than 100 missed
   ones also warn `TooManyMissedTimes`): not when it is later than
   `startingDeadlineSeconds` (`MissSchedule`), not twice (its Job is listed, or it is
   `lastScheduleTime` already), not while a Job runs under `Forbid` (`JobAlreadyActive`),
   and under `Replace` after deleting the running ones. The Job is `<name>-<start time in
   minutes since the epoch>` (`jobs.job_from_template`), so a restart between creating it
   and writing the status finds it (AlreadyExists) and lists it instead of making another;
4. writes the status (`active`, `lastScheduleTime`, `lastSuccessfulTime`) through
   `/status` when anything changed, and requeues the key for the next start time (plus
   upstream's 100 ms).

The clock (`now`) and the zone of schedules without `timeZone` (`local_zone`, Go's
`time.Local`: the controller-manager's own) are injected, so tests drive time.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, ClassVar

from kybernetes.api import objects, timeutil
from kybernetes.client import (
    EventRecorder,
    NotFoundError,
    meta_namespace_key,
    resource,
    split_key,
)
from kybernetes.client.rest import AlreadyExistsError, ApiError, Obj, namespace_terminating
from kybernetes.controllers.base import ControllerContext, QueueController, Requeue
from kybernetes.controllers.cronjob import jobs as jobutil
from kybernetes.controllers.cronjob.schedule import (
    Missed,
    Schedule,
    ScheduleError,
    load_zone,
    local_zone,
    most_recent_schedule_time,
    next_schedule_delay,
    parse_schedule,
)
from kybernetes.controllers.job import util as job_util
from kybernetes.controllers.refmanager import controller_ref

log = logging.getLogger(__name__)

CRON_JOBS = resource("batch", "v1", "cronjobs")
JOBS = resource("batch", "v1", "jobs")
# Upstream's --concurrent-cron-job-syncs.
DEFAULT_WORKERS = 5
# The Jobs' index by the name of their controller (upstream lists a namespace's Jobs and
# keeps those whose controller reference has the CronJob's name).
CONTROLLER_NAME_INDEX = "cronjob-controller:controllerName"


def controller_name_index(job: Obj) -> list[str]:
    ref = controller_ref(job)
    if ref is None or not ref.get("name"):
        return []
    return [f"{objects.meta(job).get('namespace', '')}/{ref['name']}"]


def error_text(err: BaseException) -> str:
    """What Go's `err.Error()` prints: an API error's Status message."""
    return err.message if isinstance(err, ApiError) and err.message else str(err)


def go_quote(text: str) -> str:
    """Go's `%q` of a string (JSON's quoting agrees for what schedules hold)."""
    return json.dumps(text, ensure_ascii=False)


class CronJobController(QueueController):
    name: ClassVar[str] = "cronjob-controller"

    def __init__(self, ctx: ControllerContext, *, workers: int = DEFAULT_WORKERS,
                 now: Callable[[], datetime] = timeutil.now,
                 local_zone: Callable[[], tzinfo] = local_zone) -> None:
        super().__init__(workers=workers)
        self.client = ctx.client
        self.now = now
        self.local_zone = local_zone
        self.recorder = EventRecorder(ctx.client, "cronjob-controller")
        self.cronjobs = ctx.informers.informer(CRON_JOBS)
        self.jobs = ctx.informers.informer(JOBS, indexers={
            CONTROLLER_NAME_INDEX: controller_name_index})
        self.watch(self.cronjobs, on_add=self.enqueue_object, on_update=self._update_cronjob,
                   on_delete=self.enqueue_object)
        self.watch(self.jobs, on_add=self._add_job, on_update=self._update_job,
                   on_delete=self._delete_job)

    async def run(self) -> None:
        try:
            await super().run()
        finally:
            await self.recorder.aclose()

    # -- handlers -----------------------------------------------------------------------

    def _resolve(self, namespace: str, ref: dict[str, Any]) -> Obj | None:
        """The CronJob a controller reference names, if it is still that object."""
        if ref.get("kind") != "CronJob":
            return None
        cj = self.cronjobs.store.get(f"{namespace}/{ref.get('name')}")
        if cj is None or objects.meta(cj).get("uid") != ref.get("uid"):
            return None
        return cj

    def _enqueue_controller_of(self, job: Obj, ref: dict[str, Any] | None) -> None:
        if ref is None:
            return
        cj = self._resolve(str(objects.meta(job).get("namespace")), ref)
        if cj is not None:
            self.enqueue_object(cj)

    def _add_job(self, job: Obj) -> None:
        self._enqueue_controller_of(job, controller_ref(job))

    def _update_job(self, old: Obj, cur: Obj) -> None:
        if objects.meta(old).get("resourceVersion") == objects.meta(cur).get("resourceVersion"):
            return  # a periodic resync
        cur_ref, old_ref = controller_ref(cur), controller_ref(old)
        if cur_ref != old_ref:
            self._enqueue_controller_of(old, old_ref)
        self._enqueue_controller_of(cur, cur_ref)

    def _delete_job(self, job: Obj) -> None:
        self._enqueue_controller_of(job, controller_ref(job))

    def _update_cronjob(self, old: Obj, cur: Obj) -> None:
        old_spec, cur_spec = objects.spec(old), objects.spec(cur)
        if old_spec.get("schedule") == cur_spec.get("schedule") and \
                old_spec.get("timeZone") == cur_spec.get("timeZone"):
            # Anything else changed: look now (a change within the deadline may start one).
            self.enqueue_object(cur)
            return
        try:
            sched = self._parse_schedule(cur)
        except ScheduleError:
            self.recorder.warning(self._ref(cur), "UnParseableCronJobSchedule",
                                  f"unparseable schedule for cronjob: {cur_spec.get('schedule')}")
            return
        delay = next_schedule_delay(self._earliest(cur), self.now(), sched)
        # None: it never falls due; the sync reports that at once.
        self.queue.add_after(meta_namespace_key(cur), max(delay or 0.0, 0.0))

    # -- sync ---------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        namespace, name = split_key(key)
        cached = self.cronjobs.store.get(key)
        if cached is None:
            return  # deleted: its Jobs go with it (garbage collector)
        jobs = self.jobs.store.by_index(CONTROLLER_NAME_INDEX, f"{namespace}/{name}")
        cj = copy.deepcopy(cached)
        update_after_cleanup = await self._cleanup_finished_jobs(cj, jobs)
        sync_error: Exception | None = None
        try:
            requeue_after, update_after_sync = await self._sync_cronjob(cj, jobs)
        except _SyncFailed as failed:
            requeue_after, update_after_sync = None, failed.update_status
            sync_error = failed.error
            log.debug("%s: error reconciling %s: %s", self.name, key, sync_error)
        if update_after_cleanup or update_after_sync:
            await self.client.update_status(CRON_JOBS, cj, namespace)
        if requeue_after is not None:
            self.queue.forget(key)
            raise Requeue("next schedule", after=max(requeue_after, 0.0))
        if sync_error is not None:
            raise sync_error

    # -- history ------------------------------------------------------------------------

    async def _cleanup_finished_jobs(self, cj: Obj, jobs: list[Obj]) -> bool:
        """Upstream's cleanupFinishedJobs: True when the status changed."""
        spec = objects.spec(cj)
        successful_limit = spec.get("successfulJobsHistoryLimit")
        failed_limit = spec.get("failedJobsHistoryLimit")
        if successful_limit is None and failed_limit is None:
            return False
        successful = [j for j in jobs if job_util.finished_condition(j) == job_util.COMPLETE]
        failed = [j for j in jobs if job_util.finished_condition(j) == job_util.FAILED]
        changed = False
        for finished, limit in ((successful, successful_limit), (failed, failed_limit)):
            if limit is not None and await self._remove_oldest_jobs(cj, finished, int(limit)):
                changed = True
        return changed

    async def _remove_oldest_jobs(self, cj: Obj, jobs: list[Obj], keep: int) -> bool:
        surplus = len(jobs) - keep
        if surplus <= 0:
            return False
        changed = False
        for job in sorted(jobs, key=jobutil.start_time_order)[:surplus]:
            if await self._delete_job_of(cj, job):
                changed = True
        return changed

    async def _delete_job_of(self, cj: Obj, job: Obj) -> bool:
        """Upstream's deleteJob: the Job (its pods go by background propagation), then its
        entry in the active list. False when the deletion failed."""
        m = objects.meta(job)
        try:
            await self.client.delete(JOBS, str(m.get("name")), m.get("namespace"),
                                     propagation_policy="Background")
        except ApiError as err:
            self.recorder.warning(self._ref(cj), "FailedDelete",
                                  f"Deleted job: {error_text(err)}")
            log.warning("%s: error deleting job %s/%s of cronjob %s: %s", self.name,
                        m.get("namespace"), m.get("name"), objects.meta(cj).get("name"), err)
            return False
        jobutil.delete_from_active_list(cj, m.get("uid"))
        self.recorder.normal(self._ref(cj), "SuccessfulDelete", f"Deleted job {m.get('name')}")
        return True

    # -- one pass -----------------------------------------------------------------------

    async def _sync_cronjob(self, cj: Obj, jobs: list[Obj]) -> tuple[float | None, bool]:
        """Upstream's syncCronJob on `cj` (changed in place): (seconds until the next look
        or None, whether the status changed). Failures raise `_SyncFailed`."""
        now = self.now()
        changed = await self._reconcile_active(cj, jobs)
        m, spec = objects.meta(cj), objects.spec(cj)
        if m.get("deletionTimestamp"):
            return None, changed
        time_zone = spec.get("timeZone")
        if time_zone is not None:
            try:
                load_zone(str(time_zone))
            except ValueError as err:
                self.recorder.warning(self._ref(cj), "UnknownTimeZone",
                                      f"invalid timeZone: {go_quote(str(time_zone))}: {err}")
                return None, changed
        if spec.get("suspend") is True:
            return None, changed
        schedule_text = str(spec.get("schedule") or "")
        if "TZ" in schedule_text:
            self.recorder.warning(
                self._ref(cj), "UnsupportedSchedule",
                f"CRON_TZ or TZ used in schedule {go_quote(schedule_text)} is not officially "
                "supported, see https://kubernetes.io/docs/concepts/workloads/controllers/"
                "cron-jobs/ for more details")
        try:
            sched = self._parse_schedule(cj)
        except ScheduleError as err:
            self.recorder.warning(self._ref(cj), "UnparseableSchedule",
                                  f"unparseable schedule: {go_quote(schedule_text)} : {err}")
            return None, changed

        deadline = spec.get("startingDeadlineSeconds")
        found = most_recent_schedule_time(self._earliest(cj), now, sched,
                                          None if deadline is None else int(deadline))
        scheduled = found.most_recent
        if scheduled is None:
            if found.error is not None:
                self.recorder.warning(self._ref(cj), "InvalidSchedule",
                                      f"invalid schedule: {schedule_text} : {found.error}")
                return None, changed
            # No unmet start time (a sync before the first one, e.g. after a restart).
            return self._next(cj, now, sched), changed
        if found.missed is Missed.MANY:
            self.recorder.warning(self._ref(cj), "TooManyMissedTimes",
                                  "too many missed start times. Set or decrease "
                                  ".spec.startingDeadlineSeconds or check clock skew")
            log.info("%s: too many missed times for %s/%s", self.name, m.get("namespace"),
                     m.get("name"))

        if deadline is not None and scheduled + timedelta(seconds=int(deadline)) < now:
            self.recorder.warning(self._ref(cj), "MissSchedule",
                                  "Missed scheduled time to start a job: "
                                  f"{jobutil.go_rfc1123z(scheduled.astimezone(UTC))}")
            return self._next(cj, now, sched), changed
        name = jobutil.job_name(str(m.get("name")), scheduled)
        if jobutil.in_active_list_by_name(cj, str(m.get("namespace")), name) or \
                timeutil.parse_time(objects.status(cj).get("lastScheduleTime")) == scheduled:
            return self._next(cj, now, sched), changed
        policy = spec.get("concurrencyPolicy")
        if policy == "Forbid" and jobutil.active(cj):
            self.recorder.normal(self._ref(cj), "JobAlreadyActive",
                                 "Not starting job because prior execution is running and "
                                 "concurrency policy is Forbid")
            return self._next(cj, now, sched), changed
        if policy == "Replace":
            changed = await self._replace_active(cj, changed)

        zone = load_zone(str(time_zone)) if time_zone is not None else UTC
        request = jobutil.job_from_template(cj, scheduled, zone)
        try:
            created = await self.client.create(JOBS, request, m.get("namespace"))
        except AlreadyExistsError:
            # Made before, by us (the status write after it was lost) or by someone else.
            try:
                existing = await self.client.get(JOBS, name, m.get("namespace"))
            except ApiError as err:
                raise _SyncFailed(err, changed) from err
            if not jobutil.is_controlled_by(existing, cj) or \
                    jobutil.in_active_list(cj, objects.meta(existing).get("uid")):
                return None, changed
            created = existing
            log.info("%s: job %s/%s already exists", self.name, m.get("namespace"), name)
        except ApiError as err:
            if not namespace_terminating(err):
                self.recorder.warning(self._ref(cj), "FailedCreate",
                                      f"Error creating job: {error_text(err)}")
            raise _SyncFailed(err, changed) from err
        else:
            self.recorder.normal(self._ref(cj), "SuccessfulCreate",
                                 f"Created job {objects.meta(created).get('name')}")
        jobutil.add_to_active_list(cj, jobutil.job_reference(created))
        cj.setdefault("status", {})["lastScheduleTime"] = timeutil.rfc3339(scheduled)
        return self._next(cj, now, sched), True

    async def _reconcile_active(self, cj: Obj, jobs: list[Obj]) -> bool:
        """The active list against the Jobs: finished ones leave it, the last success is
        noted, unknown running ones are reported, vanished ones are dropped."""
        changed = False
        children: set[Any] = set()
        for job in jobs:
            jm = objects.meta(job)
            uid = jm.get("uid")
            children.add(uid)
            listed = jobutil.in_active_list(cj, uid)
            finished = job_util.finished_condition(job)
            if not listed and finished is None:
                try:
                    fresh = await self.client.get(CRON_JOBS, str(objects.meta(cj).get("name")),
                                                  objects.meta(cj).get("namespace"))
                except ApiError as err:
                    raise _SyncFailed(err, changed) from err
                if jobutil.in_active_list(fresh, uid):
                    # Our cache was behind: carry on from the CronJob as it is now.
                    cj.clear()
                    cj.update(fresh)
                    continue
                self.recorder.warning(self._ref(cj), "UnexpectedJob",
                                      "Saw a job that the controller did not create or "
                                      f"forgot: {jm.get('name')}")
            elif finished is not None:
                if listed:
                    jobutil.delete_from_active_list(cj, uid)
                    self.recorder.normal(self._ref(cj), "SawCompletedJob",
                                         f"Saw completed job: {jm.get('name')}, "
                                         f"condition: {finished}")
                    changed = True
                if finished == job_util.COMPLETE and self._note_success(cj, job):
                    changed = True
        for ref in list(jobutil.active(cj)):
            if ref.get("uid") in children:
                continue
            # A live GET, so a slow watch is no reason to forget a running Job.
            try:
                await self.client.get(JOBS, str(ref.get("name")), ref.get("namespace"))
            except NotFoundError:
                self.recorder.normal(self._ref(cj), "MissingJob",
                                     f"Active job went missing: {ref.get('name')}")
                jobutil.delete_from_active_list(cj, ref.get("uid"))
                changed = True
            except ApiError as err:
                raise _SyncFailed(err, changed) from err
        return changed

    @staticmethod
    def _note_success(cj: Obj, job: Obj) -> bool:
        """status.lastSuccessfulTime: the latest completion of a succeeded Job."""
        completed = objects.status(job).get("completionTime")
        status = cj.setdefault("status", {})
        last = timeutil.parse_time(status.get("lastSuccessfulTime"))
        when = timeutil.parse_time(completed)
        if last is None and completed is not None:
            status["lastSuccessfulTime"] = completed
            return True
        if when is not None and last is not None and when > last:
            status["lastSuccessfulTime"] = completed
            return True
        return False

    async def _replace_active(self, cj: Obj, changed: bool) -> bool:
        """Concurrency policy Replace: delete every running Job before starting the next."""
        for ref in list(jobutil.active(cj)):
            try:
                job = await self.client.get(JOBS, str(ref.get("name")), ref.get("namespace"))
            except ApiError as err:
                self.recorder.warning(self._ref(cj), "FailedGet", f"Get job: {error_text(err)}")
                raise _SyncFailed(err, changed) from err
            if not await self._delete_job_of(cj, job):
                raise _SyncFailed(RuntimeError(
                    f"could not replace job {ref.get('namespace')}/{ref.get('name')}"), changed)
            changed = True
        return changed

    # -- helpers ------------------------------------------------------------------------

    def _parse_schedule(self, cj: Obj) -> Schedule:
        """Upstream's `cron.ParseStandard(formatSchedule(cj))`: a `TZ=` in the schedule
        wins, then `timeZone`, then the controller's local zone."""
        spec = objects.spec(cj)
        schedule_text = str(spec.get("schedule") or "")
        zone: tzinfo = self.local_zone()
        time_zone = spec.get("timeZone")
        if "TZ" not in schedule_text and time_zone is not None:
            # An unknown zone: upstream then parses the schedule alone.
            with contextlib.suppress(ValueError):
                zone = load_zone(str(time_zone))
        return parse_schedule(schedule_text, zone)

    @staticmethod
    def _earliest(cj: Obj) -> datetime:
        """The last start time, else the creation time."""
        found = timeutil.parse_time(objects.status(cj).get("lastScheduleTime")) or \
            timeutil.parse_time(objects.meta(cj).get("creationTimestamp"))
        return found or datetime.min.replace(tzinfo=UTC)

    def _next(self, cj: Obj, now: datetime, sched: Schedule) -> float | None:
        return next_schedule_delay(self._earliest(cj), now, sched)

    @staticmethod
    def _ref(cj: Obj) -> dict[str, Any]:
        m = objects.meta(cj)
        return {"kind": "CronJob", "apiVersion": "batch/v1", "name": m.get("name"),
                "namespace": m.get("namespace"), "uid": m.get("uid"),
                "resourceVersion": m.get("resourceVersion")}


class _SyncFailed(Exception):
    """A failure inside syncCronJob, carrying whether the status had changed by then
    (upstream writes the status before reporting the error)."""

    def __init__(self, error: Exception, update_status: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.update_status = update_status

