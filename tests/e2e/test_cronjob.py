"""CronJobs end to end: a real `kyb server` (its controller manager running the CronJob
controller) driven by the real kubectl 1.35: `create cronjob`, `get cronjob` columns,
refusals of bad schedules and time zones, `create job --from=cronjob/x`, suspend, delete.

Cron schedules fall due at most once a minute, so the scheduled run is made by robfig's
`@every 1s` (which the API accepts as upstream's does): it falls due a second after the
CronJob is made. Nothing here waits on the wall clock; waits are bounded polls. The Jobs'
pods name an image on a closed loopback port, so nothing leaves the machine should a node
run them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.cluster import Kubectl, wait_until

pytestmark = pytest.mark.e2e

IMAGE = "127.0.0.1:1/busybox:1.0"
SCHEDULED = "batch.kubernetes.io/cronjob-scheduled-timestamp"


def cron_job(name: str, schedule: str, **spec: Any) -> str:
    return json.dumps({
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name},
        "spec": {"schedule": schedule, **spec, "jobTemplate": {"spec": {"template": {
            "spec": {"containers": [{"name": "c", "image": IMAGE}],
                     "restartPolicy": "Never"}}}}}})


def jobs_of(kubectl: Kubectl, ns: str, name: str) -> list[dict[str, Any]]:
    return [j for j in kubectl.json("get", "jobs", "-n", ns)["items"]
            if any(r.get("name") == name and r.get("kind") == "CronJob"
                   for r in j["metadata"].get("ownerReferences") or ())]


def event_reasons(kubectl: Kubectl, ns: str, name: str) -> list[str]:
    return [e["reason"] for e in kubectl.json("get", "events", "-n", ns)["items"]
            if e["involvedObject"].get("name") == name]


def test_create_and_get_cronjob(kubectl: Kubectl, ns: str) -> None:
    kubectl("create", "cronjob", "nightly", "-n", ns, f"--image={IMAGE}",
            "--schedule=30 2 * * *")
    header, row = kubectl("get", "cronjob", "nightly", "-n", ns).splitlines()
    assert header.split() == ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE",
                              "LAST", "SCHEDULE", "AGE"]
    assert row.split()[:10] == ["nightly", "30", "2", "*", "*", "*", "<none>", "False", "0",
                                "<none>"]
    wide = kubectl("get", "cronjob", "nightly", "-n", ns, "-o", "wide").splitlines()
    assert wide[0].split()[-3:] == ["CONTAINERS", "IMAGES", "SELECTOR"]
    assert wide[1].split()[-3:] == ["nightly", IMAGE, "<none>"]
    spec = kubectl.json("get", "cronjob", "nightly", "-n", ns)["spec"]
    assert (spec["concurrencyPolicy"], spec["suspend"], spec["successfulJobsHistoryLimit"],
            spec["failedJobsHistoryLimit"]) == ("Allow", False, 3, 1)


@pytest.mark.parametrize(("schedule", "extra", "message"), [
    ("0 0 * * * *", {}, 'spec.schedule: Invalid value: "0 0 * * * *": expected exactly 5 '
                        'fields, found 6: [0 0 * * * *]'),
    ("@fortnightly", {}, 'spec.schedule: Invalid value: "@fortnightly": unrecognized '
                         'descriptor: @fortnightly'),
    ("TZ=UTC 0 * * * *", {}, 'spec.schedule: Invalid value: "TZ=UTC 0 * * * *": cannot '
                             'use TZ or CRON_TZ in schedule, use timeZone field instead'),
    ("TZ=Mars/Olympus 0 * * * *", {}, 'spec.schedule: Invalid value: "TZ=Mars/Olympus 0 * '
                                      '* * *": provided bad location Mars/Olympus: unknown '
                                      'time zone Mars/Olympus'),
    ("0 * * * *", {"timeZone": "Mars/Olympus"},
     'spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus'),
], ids=["seconds-field", "unknown-macro", "tz-in-schedule", "bad-tz-in-schedule",
        "unknown-time-zone"])
def test_bad_schedules_and_zones_are_refused(kubectl: Kubectl, ns: str, schedule: str,
                                              extra: dict[str, Any], message: str) -> None:
    result = kubectl.run("apply", "-n", ns, "-f", "-", input=cron_job("bad", schedule, **extra),
                         check=False)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def test_a_due_schedule_starts_a_job_and_manual_runs_are_owned(
        kubectl: Kubectl, ns: str) -> None:
    kubectl("apply", "-n", ns, "-f", "-", input=cron_job("tick", "@every 1s"))
    cj = kubectl.json("get", "cronjob", "tick", "-n", ns)
    jobs = wait_until(lambda: jobs_of(kubectl, ns, "tick"), "the scheduled job")
    job = jobs[0]
    assert job["metadata"]["ownerReferences"] == [{
        "apiVersion": "batch/v1", "kind": "CronJob", "name": "tick",
        "uid": cj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]
    scheduled = job["metadata"]["annotations"][SCHEDULED]
    wait_until(lambda: kubectl.json("get", "cronjob", "tick", "-n", ns).get("status", {})
               .get("active"), "the job in status.active")
    status = kubectl.json("get", "cronjob", "tick", "-n", ns)["status"]
    assert status["lastScheduleTime"] == scheduled
    assert [a["name"] for a in status["active"]] == [job["metadata"]["name"]]
    row = kubectl("get", "cronjob", "tick", "-n", ns, "--no-headers").split()
    assert row[:5] == ["tick", "@every", "1s", "<none>", "False"]
    assert row[5] in ("1", "2")  # a new minute may have started a second one
    assert "SuccessfulCreate" in event_reasons(kubectl, ns, "tick")

    # kubectl makes a Job from the template, owned by the CronJob (not in its active list:
    # the controller reports it, as upstream's does).
    kubectl("create", "job", "by-hand", "--from=cronjob/tick", "-n", ns)
    manual = kubectl.json("get", "job", "by-hand", "-n", ns)
    assert manual["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    assert manual["metadata"]["ownerReferences"] == [{
        "apiVersion": "batch/v1", "kind": "CronJob", "name": "tick",
        "uid": cj["metadata"]["uid"], "controller": True}]
    assert manual["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE
    wait_until(lambda: "UnexpectedJob" in event_reasons(kubectl, ns, "tick"),
               "the UnexpectedJob event")

    # Deleting the CronJob takes its Jobs with it.
    kubectl("delete", "cronjob", "tick", "-n", ns)
    wait_until(lambda: not jobs_of(kubectl, ns, "tick"), "the jobs deleted")


def test_a_suspended_cronjob_starts_nothing_until_resumed(kubectl: Kubectl, ns: str) -> None:
    kubectl("apply", "-n", ns, "-f", "-", input=cron_job("held", "@every 1s", suspend=True))
    kubectl("apply", "-n", ns, "-f", "-", input=cron_job("runs", "@every 1s"))
    # Once a sibling made at the same time has run, the held one is due too; an update
    # (a label) makes the controller look at it again.
    wait_until(lambda: jobs_of(kubectl, ns, "runs"), "the sibling's job")
    kubectl("label", "cronjob", "held", "-n", ns, "looked=again")
    kubectl("label", "cronjob", "runs", "-n", ns, "looked=again")
    wait_until(lambda: kubectl.json("get", "cronjob", "runs", "-n", ns)["status"]
               .get("active"), "the sibling's status")
    assert jobs_of(kubectl, ns, "held") == []
    assert "lastScheduleTime" not in (kubectl.json("get", "cronjob", "held", "-n", ns)
                                      .get("status") or {})
    assert kubectl("get", "cronjob", "held", "-n", ns, "--no-headers").split()[4] == "True"

    # Resumed, the missed start time runs.
    kubectl("patch", "cronjob", "held", "-n", ns, "-p", '{"spec":{"suspend":false}}')
    wait_until(lambda: jobs_of(kubectl, ns, "held"), "the resumed cronjob's job")
