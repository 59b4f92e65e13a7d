"""The CronJob controller's sync and handlers against a real API server, with a clock the
tests move; the informer stores are seeded by the tests, as upstream's controller tests do.

Intent: a CronJob starts one Job per start time that falls due — named for that time,
annotated with it, owned by the CronJob, made from its template — and only the most
recent of several missed ones; never twice for one start time (even when the status
write was lost); not past `startingDeadlineSeconds`, not while suspended; `Forbid` skips
while a Job runs, `Replace` deletes it first, `Allow` runs both; finished Jobs leave the
active list (the last success noted), vanished ones too; history beyond the limits is
pruned oldest first; the key is requeued for the next start time.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kybernetes.api.timeutil import parse_time
from kybernetes.client import ApiClient, NotFoundError, resource
from kybernetes.client.rest import Obj
from kybernetes.controllers.base import ControllerContext, Requeue
from kybernetes.controllers.cronjob import CronJobController
from kybernetes.controllers.cronjob.jobs import SCHEDULED_TIMESTAMP_ANNOTATION
from kybernetes.controllers.refmanager import controller_ref
from tests.controllers.clock import Clock

CRON_JOBS = resource("batch", "v1", "cronjobs")
JOBS = resource("batch", "v1", "jobs")
EVENTS = resource("", "v1", "events")
POD_TEMPLATE = {"spec": {"containers": [{"name": "c", "image": "busybox"}],
                         "restartPolicy": "Never"}}


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2000, 1, 1, tzinfo=UTC))


@pytest.fixture
async def ctl(ctx: ControllerContext, clock: Clock) -> AsyncIterator[CronJobController]:
    controller = CronJobController(ctx, now=clock, local_zone=lambda: UTC)
    yield controller
    await controller.recorder.aclose()


def minute(when: datetime) -> datetime:
    return when.replace(second=0, microsecond=0)


async def make_cronjob(api: ApiClient, ctl: CronJobController, clock: Clock, *,
                       schedule: str = "* * * * *", name: str = "tick",
                       **spec: Any) -> Obj:
    """A CronJob, in the store; the clock is set to its creation time."""
    cj = await api.create(CRON_JOBS, {
        "metadata": {"name": name},
        "spec": {"schedule": schedule, **spec, "jobTemplate": {
            "metadata": {"labels": {"app": "tick"}, "annotations": {"note": "kept"}},
            "spec": {"backoffLimit": 2, "template": POD_TEMPLATE}}}}, "default")
    ctl.cronjobs.store.add(cj)
    created = parse_time(cj["metadata"]["creationTimestamp"])
    assert created is not None
    clock.now = created
    return cj


async def refresh(api: ApiClient, ctl: CronJobController) -> None:
    """The informers catch up with the server."""
    ctl.cronjobs.store.replace((await api.list(CRON_JOBS, "default")).items)
    ctl.jobs.store.replace((await api.list(JOBS, "default")).items)


async def sync(ctl: CronJobController, name: str = "tick") -> float | None:
    """One sync; the requeue delay it asks for (None: none)."""
    try:
        await ctl.sync(f"default/{name}")
    except Requeue as again:
        return again.after
    return None


async def cronjob(api: ApiClient, name: str = "tick") -> Obj:
    return await api.get(CRON_JOBS, name, "default")


async def job_names(api: ApiClient) -> list[str]:
    return sorted(j["metadata"]["name"] for j in (await api.list(JOBS, "default")).items)


async def reasons(api: ApiClient, ctl: CronJobController) -> list[str]:
    await ctl.recorder.flush()
    return [e["reason"] for e in (await api.list(EVENTS, "default")).items]


def job_name(when: datetime, name: str = "tick") -> str:
    return f"{name}-{int(when.timestamp()) // 60}"


def finished(job: Obj, condition: str, *, started: datetime, completed: datetime) -> Obj:
    """`job` as the informer shows it once the Job controller finished it."""
    job = copy.deepcopy(job)
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    job["status"] = {"startTime": started.strftime(stamp),
                     "conditions": [{"type": condition, "status": "True"}]}
    if condition == "Complete":
        job["status"]["completionTime"] = completed.strftime(stamp)
    return job


async def run_at(api: ApiClient, ctl: CronJobController, clock: Clock, when: datetime
                 ) -> float | None:
    clock.now = when
    after = await sync(ctl)
    await refresh(api, ctl)
    return after


# ----------------------------------------------------------------------------- starting


async def test_nothing_starts_before_the_first_start_time(
        api: ApiClient, ctl: CronJobController, clock: Clock) -> None:
    await make_cronjob(api, ctl, clock)
    after = await sync(ctl)
    assert await job_names(api) == []
    due = minute(clock.now) + timedelta(minutes=1)
    assert after == pytest.approx((due - clock.now).total_seconds() + 0.1)


async def test_a_due_start_time_starts_its_job(
        api: ApiClient, ctl: CronJobController, clock: Clock) -> None:
    cj = await make_cronjob(api, ctl, clock)
    due = minute(clock.now) + timedelta(minutes=1)
    after = await run_at(api, ctl, clock, due + timedelta(seconds=5))
    assert after == pytest.approx(55.1)

    job = await api.get(JOBS, job_name(due), "default")
    assert job["metadata"]["annotations"] == {
        "note": "kept", SCHEDULED_TIMESTAMP_ANNOTATION: due.strftime("%Y-%m-%dT%H:%M:%SZ")}
    assert job["metadata"]["labels"]["app"] == "tick"
    assert job["spec"]["backoffLimit"] == 2
    assert controller_ref(job) == {
        "apiVersion": "batch/v1", "kind": "CronJob", "name": "tick",
        "uid": cj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}
    status = (await cronjob(api))["status"]
    assert status["lastScheduleTime"] == due.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert [(r["kind"], r["name"], r["uid"]) for r in status["active"]] == [
        ("Job", job["metadata"]["name"], job["metadata"]["uid"])]
    assert "SuccessfulCreate" in await reasons(api, ctl)

    # Looking again within the same minute starts nothing more.
    await run_at(api, ctl, clock, due + timedelta(seconds=30))
    assert await job_names(api) == [job_name(due)]


async def test_of_many_missed_start_times_only_the_latest_starts(
        api: ApiClient, ctl: CronJobController, clock: Clock) -> None:
    await make_cronjob(api, ctl, clock)
    latest = minute(clock.now) + timedelta(minutes=10)
    await run_at(api, ctl, clock, latest + timedelta(seconds=1))
    assert await job_names(api) == [job_name(latest)]
    assert "TooManyMissedTimes" not in await reasons(api, ctl)


async def test_too_many_missed_start_times_warn(
        api: ApiClient, ctl: CronJobController, clock: Clock) -> None:
    await make_cronjob(api, ctl, clock)
    latest = minute(clock.now) + timedelta(minutes=150)
    await run_at(api, ctl, clock, latest + timedelta(seconds=1))
    assert await job_names(api) == [job_name(latest)]
    assert "TooManyMissedTimes" in await reasons(api, ctl)


async def test_the_starting_deadline_skips_late_starts(
        api: ApiClient, ctl: CronJobController, clock: Clock) -> None:
    await make_cronjob(api, ctl, clock, startingDeadlineSeconds=20)
    due = minute(clock.now) + timedelta(minutes=1)
    after = await run_at(api, ctl, clock, due + timedelta(seconds=30))
    assert await job_names(api) == []
    assert after == pytest.approx(30.1)
    # Within the deadline of the next start time, it runs.
    await run_at(api, ctl, clock, due + timedelta(minutes=1, seconds=10))
    assert await job_names(api) == [job_name(due + timedelta(minutes=1))]


async def test_a_suspended_cronjob_starts_nothing(
        api: ApiClient, ctl: CronJobController, clock: Clock) -> None:
    await make_cronjob(api, ctl, clock, suspend=True)
    after = await run_at(api, ctl, clock, clock.now + timedelta(minutes=5))
    assert after is None
    assert await job_names(api) == []


async def test_the_time_zone_decides_when_and_what_the_annotation_says(
        api: ApiClient, ctl: CronJobController, clock: Clock) -> None:
    await make_cronjob(api, ctl, clock, schedule="0 9 * * *", timeZone="Asia/Tokyo")
    # 09:00 in Tokyo is midnight UTC: the next one is due.
    due = (clock.now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    await run_at(api, ctl, clock, due + timedelta(seconds=1))
    job = await api.get(JOBS, job_name(due), "default")
    stamp = due.astimezone(UTC) + timedelta(hours=9)
    assert job["metadata"]["annotations"][SCHEDULED_TIMESTAMP_ANNOTATION] == \
        stamp.strftime("%Y-%m-%dT%H:%M:%S+09:00")


async def test_a_job_made_before_a_lost_status_write_is_listed_not_remade(
        api: ApiClient, ctl: CronJobController, clock: Clock) -> None:
    await make_cronjob(api, ctl, clock)
    due = minute(clock.now) + timedelta(minutes=1)
    await run_at(api, ctl, clock, due + timedelta(seconds=1))
    # The status write is lost: the CronJob as it was, the Job there.
    job = await api.get(JOBS, job_name(due), "default")
    cj = await cronjob(api)
    cj["status"] = {}
    await api.update_status(CRON_JOBS, cj, "default")
    ctl.jobs.store.delete(job)  # not seen by the informer yet either
    await refresh(api, ctl)
    ctl.jobs.store.delete(job)
    await run_at(api, ctl, clock, due + timedelta(seconds=2))
    assert await job_names(api) == [job_name(due)]
    assert [r["uid"] for r in (await cronjob(api))["status"]["active"]] == \
        [job["metadata"]["uid"]]


def legacy(ctl: CronJobController, cj: Obj, **spec: Any) -> None:
    """The store shows `cj` with a spec the API server no longer accepts (an old object)."""
    old = copy.deepcopy(cj)
    old["spec"].update(spec)
    ctl.cronjobs.store.add(old)


async def test_a_legacy_zone_in_the_schedule_is_honoured_and_warned_about(
        api: ApiClient, ctl: CronJobController, clock: Clock) -> None:
    cj = await make_cronjob(api, ctl, clock)
    legacy(ctl, cj, schedule="CRON_TZ=Asia/Tokyo 0 9 * * *")
    due = (clock.now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    await run_at(api, ctl, clock, due + timedelta(seconds=1))
    assert await job_names(api) == [job_name(due)]
    assert "UnsupportedSchedule" in await reasons(api, ctl)


async def test_an_unknown_time_zone_starts_nothing(
        api: ApiClient, ctl: CronJobController, clock: Clock) -> None:
    cj = await make_cronjob(api, ctl, clock)
    legacy(ctl, cj, timeZone="Mars/Olympus")
    assert await run_at(api, ctl, clock, clock.now + timedelta(minutes=5)) is None
    assert await job_names(api) == []
    assert "UnknownTimeZone" in await reasons(api, ctl)


async def test_a_schedule_that_never_falls_due_is_reported_not_requeued(
        api: ApiClient, ctl: CronJobController, clock: Clock) -> None:
    await make_cronjob(api, ctl, clock, schedule="0 0 31 2 *")
    assert await run_at(api, ctl, clock, clock.now + timedelta(days=400)) is None
    assert await job_names(api) == []
    assert "InvalidSchedule" in await reasons(api, ctl)


# ----------------------------------------------------------------------------- concurrency


async def start_first(api: ApiClient, ctl: CronJobController, clock: Clock,
                      policy: str) -> datetime:
    """A CronJob under `policy` whose first Job runs; returns that Job's start time."""
    await make_cronjob(api, ctl, clock, concurrencyPolicy=policy)
    first = minute(clock.now) + timedelta(minutes=1)
    await run_at(api, ctl, clock, first + timedelta(seconds=1))
    assert await job_names(api) == [job_name(first)]
    return first


async def test_forbid_skips_while_a_job_runs(
        api: ApiClient, ctl: CronJobController, clock: Clock) -> None:
    first = await start_first(api, ctl, clock, "Forbid")
    after = await run_at(api, ctl, clock, first + timedelta(minutes=1, seconds=1))
    assert await job_names(api) == [job_name(first)]
    assert after == pytest.approx(59.1)
    assert "JobAlreadyActive" in await reasons(api, ctl)


async def test_allow_runs_them_side_by_side(
        api: ApiClient, ctl: CronJobController, clock: Clock) -> None:
    first = await start_first(api, ctl, clock, "Allow")
    second = first + timedelta(minutes=1)
    await run_at(api, ctl, clock, second + timedelta(seconds=1))
    assert await job_names(api) == [job_name(first), job_name(second)]
    assert len((await cronjob(api))["status"]["active"]) == 2


async def test_replace_deletes_the_running_job_first(
        api: ApiClient, ctl: CronJobController, clock: Clock) -> None:
    first = await start_first(api, ctl, clock, "Replace")
    second = first + timedelta(minutes=1)
    await run_at(api, ctl, clock, second + timedelta(seconds=1))
    assert await job_names(api) == [job_name(second)]
    assert [r["name"] for r in (await cronjob(api))["status"]["active"]] == [job_name(second)]
    assert "SuccessfulDelete" in await reasons(api, ctl)


# ----------------------------------------------------------------------------- the active list


async def test_a_finished_job_leaves_the_active_list(
        api: ApiClient, ctl: CronJobController, clock: Clock) -> None:
    first = await start_first(api, ctl, clock, "Forbid")
    job = await api.get(JOBS, job_name(first), "default")
    done = first + timedelta(seconds=20)
    ctl.jobs.store.add(finished(job, "Complete", started=first, completed=done))
    clock.now = first + timedelta(seconds=30)
    await sync(ctl)
    status = (await cronjob(api))["status"]
    assert "active" not in status
    assert status["lastSuccessfulTime"] == done.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert "SawCompletedJob" in await reasons(api, ctl)
    # With nothing running, Forbid starts the next one.
    await refresh(api, ctl)
    ctl.jobs.store.add(finished(job, "Complete", started=first, completed=done))
    await run_at(api, ctl, clock, first + timedelta(minutes=1, seconds=1))
    assert job_name(first + timedelta(minutes=1)) in await job_names(api)


async def test_a_vanished_job_leaves_the_active_list(
        api: ApiClient, ctl: CronJobController, clock: Clock) -> None:
    first = await start_first(api, ctl, clock, "Forbid")
    await api.delete(JOBS, job_name(first), "default", propagation_policy="Background")
    with pytest.raises(NotFoundError):
        await api.get(JOBS, job_name(first), "default")
    ctl.jobs.store.replace([])
    await run_at(api, ctl, clock, first + timedelta(seconds=30))
    assert "active" not in (await cronjob(api))["status"]
    assert "MissingJob" in await reasons(api, ctl)


async def test_a_listed_job_the_informer_has_not_seen_stays(
        api: ApiClient, ctl: CronJobController, clock: Clock) -> None:
    first = await start_first(api, ctl, clock, "Forbid")
    ctl.jobs.store.replace([])  # a slow watch: the Job exists on the server
    clock.now = first + timedelta(seconds=30)
    await sync(ctl)
    assert len((await cronjob(api))["status"]["active"]) == 1
    assert "MissingJob" not in await reasons(api, ctl)


async def test_a_running_job_it_did_not_start_is_reported(
        api: ApiClient, ctl: CronJobController, clock: Clock) -> None:
    cj = await make_cronjob(api, ctl, clock)
    await api.create(JOBS, {
        "metadata": {"name": "manual", "ownerReferences": [{
            "apiVersion": "batch/v1", "kind": "CronJob", "name": "tick",
            "uid": cj["metadata"]["uid"], "controller": True}]},
        "spec": {"template": POD_TEMPLATE}}, "default")
    await refresh(api, ctl)
    await sync(ctl)
    assert "UnexpectedJob" in await reasons(api, ctl)
    assert "active" not in ((await cronjob(api)).get("status") or {})


# ----------------------------------------------------------------------------- history


async def test_history_beyond_the_limits_is_pruned_oldest_first(
        api: ApiClient, ctl: CronJobController, clock: Clock) -> None:
    await make_cronjob(api, ctl, clock, successfulJobsHistoryLimit=2,
                       failedJobsHistoryLimit=1)
    base = minute(clock.now) + timedelta(minutes=1)
    outcomes = ["Complete", "Failed", "Complete", "Failed", "Complete"]
    for i in range(len(outcomes)):
        await run_at(api, ctl, clock, base + timedelta(minutes=i, seconds=1))
    assert len(await job_names(api)) == 5
    finished_jobs = []
    for i, outcome in enumerate(outcomes):
        job = await api.get(JOBS, job_name(base + timedelta(minutes=i)), "default")
        start = base + timedelta(minutes=i, seconds=1)
        finished_jobs.append(finished(job, outcome, started=start,
                                      completed=start + timedelta(seconds=10)))
    ctl.jobs.store.replace(finished_jobs)
    clock.now = base + timedelta(minutes=4, seconds=30)
    await sync(ctl)
    kept = [base + timedelta(minutes=i) for i in (2, 3, 4)]
    assert await job_names(api) == [job_name(t) for t in kept]
    status = (await cronjob(api))["status"]
    assert "active" not in status
    assert status["lastSuccessfulTime"] == \
        (base + timedelta(minutes=4, seconds=11)).strftime("%Y-%m-%dT%H:%M:%SZ")


# ----------------------------------------------------------------------------- handlers


async def test_jobs_wake_the_cronjob_that_controls_them(
        api: ApiClient, ctl: CronJobController, clock: Clock) -> None:
    cj = await make_cronjob(api, ctl, clock)
    ref = {"apiVersion": "batch/v1", "kind": "CronJob", "name": "tick",
           "uid": cj["metadata"]["uid"], "controller": True}
    ours = {"metadata": {"name": "a", "namespace": "default", "resourceVersion": "1",
                         "ownerReferences": [ref]}}
    stranger = {"metadata": {"name": "b", "namespace": "default", "resourceVersion": "1",
                             "ownerReferences": [{**ref, "uid": "another"}]}}
    ctl._add_job(stranger)
    assert len(ctl.queue) == 0
    ctl._add_job(ours)
    assert len(ctl.queue) == 1
    assert await ctl.queue.get() == "default/tick"


async def test_an_unparseable_new_schedule_is_reported(
        api: ApiClient, ctl: CronJobController, clock: Clock) -> None:
    cj = await make_cronjob(api, ctl, clock)
    broken = copy.deepcopy(cj)
    broken["spec"]["schedule"] = "every minute"
    ctl._update_cronjob(cj, broken)
    assert "UnParseableCronJobSchedule" in await reasons(api, ctl)
    assert len(ctl.queue) == 0
