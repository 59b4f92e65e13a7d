"""The Job controller's sync against a real API server; the informer stores are caught up
by the tests (`catch_up` delivers the events an informer would), as upstream's controller
tests do.

Intent: a Job runs at most `parallelism` pods and completes after `completions`
successes with upstream's conditions (SuccessCriteriaMet, then Complete, reason
CompletionsReached) and completionTime; failures are counted once, replacements wait for
the exponential backoff, and failures past backoffLimit fail the Job (FailureTarget, then
Failed, reason BackoffLimitExceeded) once its pods are gone; every pod carries the
tracking finalizer until it is counted, and no pod is counted twice or lost when the
controller restarts or works from a stale Job; Indexed Jobs give each pod its index
(annotation, label, env, hostname, name) and record completedIndexes; with
backoffLimitPerIndex each index retries (carrying its failure count) and fails on its own,
and failed indexes fail the Job as upstream's do; the pod failure policy, success policy,
activeDeadlineSeconds and suspend behave as upstream's.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from kybernetes.api.timeutil import rfc3339
from kybernetes.client import ApiClient, resource
from kybernetes.client.rest import Obj
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.job import JobController
from kybernetes.controllers.job.util import JOB_TRACKING_FINALIZER
from tests.controllers.clock import NOW, Clock

PODS = resource("", "v1", "pods")
JOBS = resource("batch", "v1", "jobs")
EVENTS = resource("", "v1", "events")


@pytest.fixture
async def ctl(ctx: ControllerContext, clock: Clock) -> AsyncIterator[JobController]:
    controller = JobController(ctx, clock=clock)
    yield controller
    controller.queue.shutdown()
    controller.orphans.shutdown()
    await controller.recorder.aclose()


async def make_job(api: ApiClient, ctl: JobController, name: str = "work",
                   **job_spec: Any) -> Obj:
    spec: Obj = {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}],
                                       "restartPolicy": "Never"}}}
    spec.update(job_spec)
    job = await api.create(JOBS, {"metadata": {"name": name}, "spec": spec}, "default")
    ctl.jobs.store.add(job)
    return job


async def catch_up(api: ApiClient, ctl: JobController) -> list[Obj]:
    """The informers catch up with the server, delivering pod events to the handlers."""
    ctl.jobs.store.replace((await api.list(JOBS, "default")).items)
    pods = list((await api.list(PODS, "default")).items)
    old = {p["metadata"]["uid"]: p for p in ctl.pods.store.list()}
    ctl.pods.store.replace(pods)
    for pod in pods:
        before = old.pop(pod["metadata"]["uid"], None)
        if before is None:
            ctl._add_pod(pod)
        else:
            ctl._update_pod(before, pod)
    for gone in old.values():
        ctl._delete_pod(gone)
    return pods


async def finish(api: ApiClient, pod: Obj, exit_code: int = 0, *,
                 at: datetime = NOW) -> None:
    """The pod's container exits (as a kubelet reports it)."""
    status = {"phase": "Succeeded" if exit_code == 0 else "Failed",
              "conditions": [{"type": "Ready", "status": "False",
                              "lastTransitionTime": rfc3339(at)}],
              "containerStatuses": [{
                  "name": "c", "image": "busybox", "imageID": "", "ready": False,
                  "restartCount": 0, "state": {"terminated": {
                      "exitCode": exit_code, "reason": "Completed" if exit_code == 0
                      else "Error", "startedAt": rfc3339(at), "finishedAt": rfc3339(at)}}}]}
    await api.patch(PODS, pod["metadata"]["name"], {"status": status}, "default",
                    subresource="status")


async def job_status(api: ApiClient, name: str = "work") -> dict[str, Any]:
    return dict((await api.get(JOBS, name, "default")).get("status") or {})


def active(pods: list[Obj]) -> list[Obj]:
    return [p for p in pods if p.get("status", {}).get("phase") not in ("Succeeded", "Failed")
            and not p["metadata"].get("deletionTimestamp")]


def conditions(status: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return [(c["type"], c["status"], c.get("reason", ""), c.get("message", ""))
            for c in status.get("conditions") or ()]


async def run_to_completion(api: ApiClient, ctl: JobController, *, most_active: int,
                            name: str = "work") -> dict[str, Any]:
    """Sync, let every active pod succeed, repeat until the Job finishes; checks that
    never more than `most_active` pods run at once."""
    for _ in range(30):
        await ctl.sync(f"default/{name}")
        pods = await catch_up(api, ctl)
        running = active(pods)
        assert len(running) <= most_active
        status = await job_status(api, name)
        if any(c[0] in ("Complete", "Failed") for c in conditions(status)):
            return status
        for pod in running:
            await finish(api, pod)
        await catch_up(api, ctl)
    raise AssertionError("the Job did not finish")


# ----------------------------------------------------------------------------- success


async def test_completions_with_parallelism_complete_with_upstream_conditions(
        api: ApiClient, ctl: JobController, clock: Clock) -> None:
    job = await make_job(api, ctl, completions=5, parallelism=2)
    await ctl.sync("default/work")
    pods = await catch_up(api, ctl)
    assert len(pods) == 2
    for pod in pods:
        meta = pod["metadata"]
        assert meta["generateName"] == "work-"
        assert meta["finalizers"] == [JOB_TRACKING_FINALIZER]
        assert meta["labels"]["batch.kubernetes.io/job-name"] == "work"
        assert meta["ownerReferences"] == [{
            "apiVersion": "batch/v1", "kind": "Job", "name": "work",
            "uid": job["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]
    status = await job_status(api)
    assert status["startTime"] == rfc3339(NOW)
    assert status["active"] == 2
    assert status["ready"] == 0 and status["terminating"] == 0

    final = await run_to_completion(api, ctl, most_active=2)
    assert final["succeeded"] == 5
    assert "failed" not in final and "active" not in final
    assert final["completionTime"] == rfc3339(NOW)
    message = "Reached expected number of succeeded pods"
    assert conditions(final) == [
        ("SuccessCriteriaMet", "True", "CompletionsReached", message),
        ("Complete", "True", "CompletionsReached", message)]
    assert final["uncountedTerminatedPods"] == {}
    # Every pod was counted and released.
    pods = await catch_up(api, ctl)
    assert len(pods) == 5
    assert all(not p["metadata"].get("finalizers") for p in pods)
    await ctl.recorder.flush()
    reasons = [e["reason"] for e in (await api.list(EVENTS, "default")).items]
    assert reasons.count("SuccessfulCreate") == 5
    assert "Completed" in reasons


async def test_expectations_stop_a_second_creation_before_the_informer_catches_up(
        api: ApiClient, ctl: JobController) -> None:
    await make_job(api, ctl, completions=4, parallelism=3)
    await ctl.sync("default/work")
    # The Job informer shows the new status; the pod informer shows no pod yet.
    ctl.jobs.store.replace((await api.list(JOBS, "default")).items)
    await ctl.sync("default/work")
    pods = list((await api.list(PODS, "default")).items)
    assert len(pods) == 3
    await catch_up(api, ctl)
    await ctl.sync("default/work")
    assert len((await api.list(PODS, "default")).items) == 3


async def test_job_without_completions_completes_after_one_success_and_no_active_pods(
        api: ApiClient, ctl: JobController) -> None:
    await make_job(api, ctl, parallelism=2)
    await ctl.sync("default/work")
    first, second = await catch_up(api, ctl)
    await finish(api, first)
    await catch_up(api, ctl)
    await ctl.sync("default/work")
    pods = await catch_up(api, ctl)
    assert len(pods) == 2  # nothing new after a success: the others finish on their own
    assert "Complete" not in [c[0] for c in conditions(await job_status(api))]
    await finish(api, second)
    await catch_up(api, ctl)
    await ctl.sync("default/work")
    await catch_up(api, ctl)
    await ctl.sync("default/work")
    status = await job_status(api)
    assert status["succeeded"] == 2
    assert [c[0] for c in conditions(status)] == ["SuccessCriteriaMet", "Complete"]


# ----------------------------------------------------------------------------- failure


async def test_failures_back_off_then_fail_the_job_at_backoff_limit(
        api: ApiClient, ctl: JobController, clock: Clock) -> None:
    await make_job(api, ctl, completions=1, backoffLimit=1)
    await ctl.sync("default/work")
    [pod] = await catch_up(api, ctl)
    await finish(api, pod, exit_code=1, at=clock.now)
    await catch_up(api, ctl)
    await ctl.sync("default/work")
    await catch_up(api, ctl)
    status = await job_status(api)
    assert status["failed"] == 1
    assert "conditions" not in status
    # Backoff: the first failure holds the replacement back 10 s.
    await ctl.sync("default/work")
    assert len(await catch_up(api, ctl)) == 1
    clock.advance(9)
    await ctl.sync("default/work")
    assert len(await catch_up(api, ctl)) == 1
    clock.advance(2)
    await ctl.sync("default/work")
    pods = await catch_up(api, ctl)
    assert len(pods) == 2
    [replacement] = active(pods)
    await finish(api, replacement, exit_code=1, at=clock.now)
    await catch_up(api, ctl)
    await ctl.sync("default/work")
    await catch_up(api, ctl)
    status = await job_status(api)
    message = "Job has reached the specified backoff limit"
    assert status["failed"] == 2
    assert conditions(status) == [
        ("FailureTarget", "True", "BackoffLimitExceeded", message),
        ("Failed", "True", "BackoffLimitExceeded", message)]
    assert "completionTime" not in status
    await ctl.recorder.flush()
    events = [(e["type"], e["reason"], e["message"])
              for e in (await api.list(EVENTS, "default")).items]
    assert ("Warning", "BackoffLimitExceeded", message) in events


async def test_backoff_doubles_up_to_six_minutes() -> None:
    from kybernetes.controllers.job.backoff import BackoffRecord
    last = NOW
    assert BackoffRecord("k", 0, None).remaining(NOW) == 0
    assert BackoffRecord("k", 1, last).remaining(NOW) == 10
    assert BackoffRecord("k", 3, last).remaining(NOW + timedelta(seconds=5)) == 35
    assert BackoffRecord("k", 10, last).remaining(NOW) == 360
    assert BackoffRecord("k", 2, last).remaining(NOW + timedelta(seconds=21)) == 0


async def test_active_pods_are_deleted_and_the_job_fails_when_past_its_deadline(
        api: ApiClient, ctl: JobController, clock: Clock) -> None:
    await make_job(api, ctl, parallelism=2, completions=2, activeDeadlineSeconds=30)
    await ctl.sync("default/work")
    await catch_up(api, ctl)
    await ctl.sync("default/work")
    assert len(await catch_up(api, ctl)) == 2
    clock.advance(31)
    await ctl.sync("default/work")
    status = await job_status(api)
    message = "Job was active longer than specified deadline"
    # The pods' deletion is under way: the terminal condition waits for them.
    assert conditions(status) == [("FailureTarget", "True", "DeadlineExceeded", message)]
    await catch_up(api, ctl)
    await ctl.sync("default/work")
    await catch_up(api, ctl)
    await ctl.sync("default/work")
    status = await job_status(api)
    assert conditions(status)[-1] == ("Failed", "True", "DeadlineExceeded", message)
    assert status["failed"] == 2 and status["terminating"] == 0
    assert (await api.list(PODS, "default")).items == []


async def test_pod_failure_policy_fails_the_job_or_ignores_the_failure(
        api: ApiClient, ctl: JobController, clock: Clock) -> None:
    policy = {"rules": [
        {"action": "Ignore", "onExitCodes": {"operator": "In", "values": [3]}},
        {"action": "FailJob", "onExitCodes": {"containerName": "c", "operator": "In",
                                              "values": [42]}}]}
    await make_job(api, ctl, completions=1, backoffLimit=0, podFailurePolicy=policy)
    await ctl.sync("default/work")
    [pod] = await catch_up(api, ctl)
    await finish(api, pod, exit_code=3)
    await catch_up(api, ctl)
    await ctl.sync("default/work")
    await catch_up(api, ctl)
    status = await job_status(api)
    assert "failed" not in status and "conditions" not in status  # ignored
    clock.advance(11)  # ignored failures still back off, as upstream's
    await ctl.sync("default/work")
    pods = await catch_up(api, ctl)
    [replacement] = active(pods)
    await finish(api, replacement, exit_code=42)
    await catch_up(api, ctl)
    await ctl.sync("default/work")
    await catch_up(api, ctl)
    await ctl.sync("default/work")
    status = await job_status(api)
    name = replacement["metadata"]["name"]
    message = (f"Container c for pod default/{name} failed with exit code 42 matching "
               f"FailJob rule at index 1")
    assert conditions(status) == [("FailureTarget", "True", "PodFailurePolicy", message),
                                  ("Failed", "True", "PodFailurePolicy", message)]
    assert status["failed"] == 1


# ----------------------------------------------------------------------------- tracking


async def test_a_restarted_controller_neither_loses_nor_recounts_a_pod(
        api: ApiClient, ctx: ControllerContext, ctl: JobController, clock: Clock) -> None:
    await make_job(api, ctl, completions=3, parallelism=3)
    await ctl.sync("default/work")
    first, second, third = await catch_up(api, ctl)
    await finish(api, first)
    await finish(api, second)
    await catch_up(api, ctl)
    # The controller "crashes" after recording the finished pods as uncounted, before
    # removing any finalizer.
    job = await api.get(JOBS, "work", "default")
    job["status"]["uncountedTerminatedPods"] = {"succeeded": [first["metadata"]["uid"]]}
    await api.update_status(JOBS, job, "default")

    fresh = JobController(ctx, clock=clock)
    fresh.jobs.store.replace((await api.list(JOBS, "default")).items)
    fresh.pods.store.replace((await api.list(PODS, "default")).items)
    try:
        await fresh.sync("default/work")
        status = await job_status(api)
        assert status["succeeded"] == 2
        assert status.get("uncountedTerminatedPods") == {}
        # The pod cache still shows the finalizers (its informer lags): nothing is
        # counted again.
        fresh.jobs.store.replace((await api.list(JOBS, "default")).items)
        await fresh.sync("default/work")
        assert (await job_status(api))["succeeded"] == 2
        # A controller started later sees the pods without finalizers: still 2.
        await catch_up(api, fresh)
        await fresh.sync("default/work")
        assert (await job_status(api))["succeeded"] == 2
        await finish(api, third)
        await catch_up(api, fresh)
        await fresh.sync("default/work")
        await catch_up(api, fresh)
        await fresh.sync("default/work")
        status = await job_status(api)
        assert status["succeeded"] == 3
        assert conditions(status)[-1][0] == "Complete"
    finally:
        await fresh.recorder.aclose()


async def test_a_stale_job_in_the_cache_neither_recounts_nor_replaces_a_pod(
        api: ApiClient, ctl: JobController) -> None:
    await make_job(api, ctl, completions=1, parallelism=1)
    await ctl.sync("default/work")
    ctl.jobs.store.replace((await api.list(JOBS, "default")).items)
    stale = copy.deepcopy(ctl.jobs.store.get("default/work"))
    [pod] = await catch_up(api, ctl)
    await finish(api, pod)
    await catch_up(api, ctl)
    await ctl.sync("default/work")
    status = await job_status(api)
    assert status["succeeded"] == 1
    assert conditions(status)[-1][0] == "Complete"
    # The pod informer shows the counted pod (no finalizer) while the Job informer still
    # shows the Job from before: its counts say nothing succeeded. Syncing on that would
    # create a replacement; the sync waits for the Job's newer version instead.
    assert stale is not None
    await catch_up(api, ctl)
    ctl.jobs.store.add(stale)
    await ctl.sync("default/work")
    assert len((await api.list(PODS, "default")).items) == 1
    assert (await job_status(api))["succeeded"] == 1


async def test_pods_of_a_deleted_job_lose_their_finalizer(
        api: ApiClient, ctl: JobController) -> None:
    job = await make_job(api, ctl, completions=1)
    await ctl.sync("default/work")
    [pod] = await catch_up(api, ctl)
    await api.delete(JOBS, "work", "default", propagation_policy="Orphan")
    ctl.jobs.store.delete(job)
    ctl._delete_job(job)
    assert len(ctl.orphans) == 1
    key = await ctl.orphans.get()
    await ctl.sync_orphan_pod(key)
    ctl.orphans.done(key)
    assert not (await api.get(PODS, pod["metadata"]["name"], "default"))["metadata"].get(
        "finalizers")


# ----------------------------------------------------------------------------- indexed


async def test_indexed_pods_carry_their_index(api: ApiClient, ctl: JobController) -> None:
    await make_job(api, ctl, completions=3, parallelism=3, completionMode="Indexed",
                   template={"spec": {"subdomain": "workers", "restartPolicy": "Never",
                                      "containers": [{"name": "c", "image": "busybox"}]}})
    await ctl.sync("default/work")
    pods = await catch_up(api, ctl)
    by_index = {p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]: p
                for p in pods}
    assert sorted(by_index) == ["0", "1", "2"]
    for ix, pod in by_index.items():
        assert pod["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"] == ix
        assert pod["metadata"]["generateName"] == f"work-{ix}-"
        assert pod["spec"]["hostname"] == f"work-{ix}"
        assert pod["spec"]["subdomain"] == "workers"
        assert pod["spec"]["containers"][0]["env"] == [{
            "name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
                "apiVersion": "v1",
                "fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"
            }}}]
    await finish(api, by_index["0"])
    await finish(api, by_index["2"])
    await catch_up(api, ctl)
    await ctl.sync("default/work")
    status = await job_status(api)
    assert status["completedIndexes"] == "0,2"
    assert status["succeeded"] == 2
    # A failed index is recreated with the same index.
    await finish(api, by_index["1"], exit_code=1)
    await catch_up(api, ctl)
    await ctl.sync("default/work")
    await catch_up(api, ctl)
    ctl.backoff.remove("default/work")
    await ctl.sync("default/work")
    [again] = active(await catch_up(api, ctl))
    assert again["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] == "1"
    await finish(api, again)
    await catch_up(api, ctl)
    await ctl.sync("default/work")
    await catch_up(api, ctl)
    await ctl.sync("default/work")
    status = await job_status(api)
    assert status["completedIndexes"] == "0-2"
    assert status["failed"] == 1
    assert conditions(status)[-1][0] == "Complete"


async def test_success_policy_completes_an_indexed_job_early(
        api: ApiClient, ctl: JobController) -> None:
    await make_job(api, ctl, completions=3, parallelism=3, completionMode="Indexed",
                   successPolicy={"rules": [{"succeededIndexes": "0"}]})
    await ctl.sync("default/work")
    pods = await catch_up(api, ctl)
    leader = next(p for p in pods if p["metadata"]["annotations"][
        "batch.kubernetes.io/job-completion-index"] == "0")
    await finish(api, leader)
    await catch_up(api, ctl)
    await ctl.sync("default/work")
    status = await job_status(api)
    assert conditions(status) == [
        ("SuccessCriteriaMet", "True", "SuccessPolicy", "Matched rules at index 0")]
    # The other pods are deleted; once they are gone the Job is Complete.
    await catch_up(api, ctl)
    await ctl.sync("default/work")
    await catch_up(api, ctl)
    await ctl.sync("default/work")
    status = await job_status(api)
    assert conditions(status)[-1] == ("Complete", "True", "SuccessPolicy",
                                      "Matched rules at index 0")
    assert status["completedIndexes"] == "0"


async def test_backoff_limit_per_index_retries_and_fails_indexes_on_their_own(
        api: ApiClient, ctl: JobController, clock: Clock) -> None:
    await make_job(api, ctl, completions=2, parallelism=2, completionMode="Indexed",
                   backoffLimitPerIndex=1)
    await ctl.sync("default/work")
    pods = await catch_up(api, ctl)

    def of_index(items: list[Obj], ix: str) -> list[Obj]:
        return [p for p in items if p["metadata"]["annotations"][
            "batch.kubernetes.io/job-completion-index"] == ix]

    [first] = of_index(pods, "0")
    assert first["metadata"]["annotations"]["batch.kubernetes.io/job-index-failure-count"] \
        == "0"
    await finish(api, first, exit_code=1, at=clock.now)
    await catch_up(api, ctl)
    await ctl.sync("default/work")
    pods = await catch_up(api, ctl)
    # The index backs off on its own; its failed pod keeps the finalizer meanwhile.
    assert len(of_index(pods, "0")) == 1
    assert of_index(pods, "0")[0]["metadata"]["finalizers"] == [JOB_TRACKING_FINALIZER]
    clock.advance(11)
    await ctl.sync("default/work")
    pods = await catch_up(api, ctl)
    [retry] = active(of_index(pods, "0"))
    assert retry["metadata"]["annotations"]["batch.kubernetes.io/job-index-failure-count"] \
        == "1"
    await ctl.sync("default/work")
    await catch_up(api, ctl)
    assert not (await api.get(PODS, first["metadata"]["name"], "default"))["metadata"].get(
        "finalizers")
    # The retry fails too: the index has failed for good. Index 1 succeeds.
    await finish(api, retry, exit_code=1, at=clock.now)
    [other] = of_index(pods, "1")
    await finish(api, other)
    await catch_up(api, ctl)
    await ctl.sync("default/work")
    await catch_up(api, ctl)
    await ctl.sync("default/work")
    status = await job_status(api)
    assert status["failedIndexes"] == "0"
    assert status["completedIndexes"] == "1"
    assert status["failed"] == 2
    assert conditions(status) == [
        ("FailureTarget", "True", "FailedIndexes", "Job has failed indexes"),
        ("Failed", "True", "FailedIndexes", "Job has failed indexes")]


async def test_more_failed_indexes_than_allowed_fail_the_job(
        api: ApiClient, ctl: JobController) -> None:
    policy = {"rules": [{"action": "FailIndex",
                         "onExitCodes": {"operator": "In", "values": [7]}}]}
    await make_job(api, ctl, completions=3, parallelism=3, completionMode="Indexed",
                   backoffLimitPerIndex=5, maxFailedIndexes=0, podFailurePolicy=policy)
    await ctl.sync("default/work")
    pods = await catch_up(api, ctl)
    await finish(api, pods[0], exit_code=7)  # FailIndex: no retry despite the limit
    await catch_up(api, ctl)
    await ctl.sync("default/work")
    await catch_up(api, ctl)
    await ctl.sync("default/work")
    status = await job_status(api)
    message = "Job has exceeded the specified maximal number of failed indexes"
    assert conditions(status) == [
        ("FailureTarget", "True", "MaxFailedIndexesExceeded", message),
        ("Failed", "True", "MaxFailedIndexesExceeded", message)]
    assert status["failedIndexes"] == pods[0]["metadata"]["annotations"][
        "batch.kubernetes.io/job-completion-index"]
    # The other two were deleted when the Job failed (and count as failed).
    assert status["failed"] == 3
    [left] = (await api.list(PODS, "default")).items
    assert left["metadata"]["uid"] == pods[0]["metadata"]["uid"]
    assert not left["metadata"].get("finalizers")


def test_intervals_parse_merge_and_print_as_upstream() -> None:
    from kybernetes.controllers.job.indexed import Intervals, first_pending_indexes
    parsed = Intervals.parse("0,2-4,7,x,9-8,12", 10)
    assert parsed.items == [(0, 0), (2, 4), (7, 7)]
    assert str(parsed.with_indexes([1, 8])) == "0-4,7,8"
    assert str(Intervals([(3, 4)])) == "3,4"
    assert parsed.total() == 5
    assert first_pending_indexes(parsed, 3, 10) == [1, 5, 6]
    assert first_pending_indexes(parsed, 9, 9) == [1, 5, 6, 8]


# ----------------------------------------------------------------------------- suspend


async def test_suspend_deletes_pods_and_resume_restarts_the_clock(
        api: ApiClient, ctl: JobController, clock: Clock) -> None:
    await make_job(api, ctl, completions=2, parallelism=2, suspend=True)
    await ctl.sync("default/work")
    status = await job_status(api)
    assert "startTime" not in status
    assert conditions(status) == [("Suspended", "True", "JobSuspended", "Job suspended")]
    assert (await api.list(PODS, "default")).items == []

    job = await api.get(JOBS, "work", "default")
    job["spec"]["suspend"] = False
    await api.update(JOBS, job, "default")
    clock.advance(60)
    await catch_up(api, ctl)
    await ctl.sync("default/work")
    status = await job_status(api)
    assert conditions(status) == [("Suspended", "False", "JobResumed", "Job resumed")]
    assert status["startTime"] == rfc3339(clock.now)
    pods = await catch_up(api, ctl)
    assert len(pods) == 2

    job = await api.get(JOBS, "work", "default")
    job["spec"]["suspend"] = True
    await api.update(JOBS, job, "default")
    await catch_up(api, ctl)
    await ctl.sync("default/work")
    status = await job_status(api)
    assert conditions(status) == [("Suspended", "True", "JobSuspended", "Job suspended")]
    assert "active" not in status
    await catch_up(api, ctl)
    assert active(list((await api.list(PODS, "default")).items)) == []
