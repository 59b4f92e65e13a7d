"""The TTL-after-finished controller against a real API server (stores seeded by the test).

Intent: a finished Job with ttlSecondsAfterFinished is deleted once that long has passed
since its Complete/Failed condition, not before (it is requeued for the moment it
expires); Jobs without a TTL or not finished are left alone; the delete is a foreground
one, so the Job's pods go before it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from kybernetes.client import ApiClient, NotFoundError, resource
from kybernetes.client.rest import Obj
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.ttlafterfinished import TTLAfterFinishedController
from tests.controllers.clock import Clock

JOBS = resource("batch", "v1", "jobs")
FINISHED = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
async def ctl(ctx: ControllerContext, clock: Clock
              ) -> AsyncIterator[TTLAfterFinishedController]:
    controller = TTLAfterFinishedController(ctx, clock=clock)
    yield controller
    controller.queue.shutdown()


async def make_job(api: ApiClient, ctl: TTLAfterFinishedController, name: str, *,
                   ttl: int | None, finished: str | None) -> Obj:
    spec: Obj = {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}],
                                       "restartPolicy": "Never"}}}
    if ttl is not None:
        spec["ttlSecondsAfterFinished"] = ttl
    job = await api.create(JOBS, {"metadata": {"name": name}, "spec": spec}, "default")
    if finished is not None:
        stamp = FINISHED.strftime("%Y-%m-%dT%H:%M:%SZ")
        job["status"] = {"startTime": stamp, "conditions": [
            {"type": finished, "status": "True", "lastTransitionTime": stamp,
             "lastProbeTime": stamp}]}
        if finished == "Complete":
            job["status"]["completionTime"] = stamp
            job["status"]["conditions"].insert(0, {**job["status"]["conditions"][0],
                                                   "type": "SuccessCriteriaMet"})
        else:
            job["status"]["conditions"].insert(0, {**job["status"]["conditions"][0],
                                                   "type": "FailureTarget"})
        job = await api.update_status(JOBS, job, "default")
    ctl.jobs.store.add(job)
    ctl._maybe_enqueue(job)
    return job


async def exists(api: ApiClient, name: str) -> bool:
    """Whether the Job is there and not being deleted; a deleted one must be on its way
    out in the foreground (no garbage collector runs here to finish that)."""
    try:
        job = await api.get(JOBS, name, "default")
    except NotFoundError:
        return False
    meta = job["metadata"]
    if meta.get("deletionTimestamp"):
        assert "foregroundDeletion" in meta["finalizers"]
        return False
    return True


async def test_finished_jobs_are_deleted_after_their_ttl(
        api: ApiClient, ctl: TTLAfterFinishedController, clock: Clock) -> None:
    await make_job(api, ctl, "done", ttl=100, finished="Complete")
    await make_job(api, ctl, "failed", ttl=0, finished="Failed")
    await make_job(api, ctl, "running", ttl=0, finished=None)
    await make_job(api, ctl, "kept", ttl=None, finished="Complete")
    assert len(ctl.queue) == 2  # only the finished Jobs with a TTL are queued

    clock.now = FINISHED + timedelta(seconds=40)
    await ctl.sync("default/done")
    await ctl.sync("default/failed")
    assert await exists(api, "done")
    assert not await exists(api, "failed")
    assert ctl.queue.waiting == 1  # "done" comes back when it expires

    clock.now = FINISHED + timedelta(seconds=100)
    await ctl.sync("default/done")
    assert not await exists(api, "done")
    for name in ("running", "kept"):
        await ctl.sync(f"default/{name}")
        assert await exists(api, name)


async def test_the_ttl_is_checked_again_on_a_fresh_read(
        api: ApiClient, ctl: TTLAfterFinishedController, clock: Clock) -> None:
    await make_job(api, ctl, "done", ttl=0, finished="Complete")
    job = await api.get(JOBS, "done", "default")
    job["spec"]["ttlSecondsAfterFinished"] = 3600  # raised since the cache saw it
    await api.update(JOBS, job, "default")
    await ctl.sync("default/done")
    assert await exists(api, "done")
