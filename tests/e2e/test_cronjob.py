"""CronJobs end to end: a real `kyb server` (its controller manager running the CronJob
and Job controllers) driven by the real kubectl 1.35: `create cronjob`, `get cronjob`
columns, refusals of bad schedules and time zones, `create job --from=cronjob/x`, suspend,
delete; and, on simulated nodes (`kyb sim nodes`) that run the Jobs' pods, the concurrency
policies Forbid and Replace and the pruning of finished Jobs beyond the history limits.

Cron schedules fall due at most once a minute, so the scheduled runs are made by robfig's
`@every 1s` (which the API accepts as upstream's does): it falls due a second after the
CronJob is made. The Job of a start time is named `<cronjob>-<minutes since the epoch>`
(upstream's getJobName), so all start times within one minute share one Job: a Job of an
earlier start time still running when the next falls due is made by `kubectl create job
--from=cronjob/x` and listed in the CronJob's `status.active`, as the controller lists the
Job it starts, and several finished Jobs for the history limits are made the same way (the
controller prunes every Job it controls, as upstream's does). Nothing here waits on the wall
clock; waits are bounded polls, and what must hold at every moment (one running Job at a
time) is checked on every state a `kubectl get -w` saw.

The simulated nodes carry a taint that only the pods of the CronJobs made for them tolerate,
so the other tests' Jobs stay pending; their pods run as long as the
`sim.kybernetes.io/run-seconds` annotation says (the test shortens it to end one) and fail
with `sim.kybernetes.io/exit-code`. Pods name an image on a closed loopback port, so
nothing leaves the machine should a real node run them.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import subprocess
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cluster import Kubectl, Server, stop_process, wait_until
from tests.e2e.test_scheduler import Process

pytestmark = pytest.mark.e2e
ANY_BACKEND = True  # a controller's logic, whatever the storage (conftest.py)

IMAGE = "127.0.0.1:1/busybox:1.0"
SCHEDULED = "batch.kubernetes.io/cronjob-scheduled-timestamp"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
RUN_SECONDS = "sim.kybernetes.io/run-seconds"
EXIT_CODE = "sim.kybernetes.io/exit-code"
SIM_PREFIX = "cronjob-"
SIM_TAINT = "e2e.kybernetes.io/cronjob-nodes"


def cron_job_object(name: str, schedule: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name},
        "spec": {"schedule": schedule, **spec, "jobTemplate": {"spec": {"template": {
            "spec": {"containers": [{"name": "c", "image": IMAGE}],
                     "restartPolicy": "Never"}}}}}}


def cron_job(name: str, schedule: str, **spec: Any) -> str:
    return json.dumps(cron_job_object(name, schedule, **spec))


def simulated_cron_job(name: str, pod_annotations: dict[str, str], *,
                       job_spec: dict[str, Any] | None = None, **spec: Any) -> str:
    """An `@every 1s` CronJob whose pods go to the simulated nodes (they tolerate their
    taint) and run as `pod_annotations` say; `job_spec` adds to its Jobs' spec."""
    cj = cron_job_object(name, "@every 1s", **spec)
    template = cj["spec"]["jobTemplate"]
    template["spec"].update(job_spec or {})
    template["spec"]["template"]["metadata"] = {"annotations": pod_annotations}
    template["spec"]["template"]["spec"]["tolerations"] = [
        {"key": SIM_TAINT, "operator": "Exists", "effect": "NoSchedule"}]
    return json.dumps(cj)


def jobs_of(kubectl: Kubectl, ns: str, name: str) -> list[dict[str, Any]]:
    return [j for j in kubectl.json("get", "jobs", "-n", ns)["items"]
            if any(r.get("name") == name and r.get("kind") == "CronJob"
                   for r in j["metadata"].get("ownerReferences") or ())]


def event_reasons(kubectl: Kubectl, ns: str, name: str) -> list[str]:
    return [e["reason"] for e in kubectl.json("get", "events", "-n", ns)["items"]
            if e["involvedObject"].get("name") == name]


def events_of(kubectl: Kubectl, ns: str, name: str, reason: str) -> list[dict[str, Any]]:
    return [e for e in kubectl.json("get", "events", "-n", ns)["items"]
            if e["involvedObject"].get("name") == name and e["reason"] == reason]


def finished(job: dict[str, Any]) -> str | None:
    """The Job's finished condition (Complete or Failed), if it has one."""
    return next((c["type"] for c in job.get("status", {}).get("conditions") or ()
                 if c["type"] in ("Complete", "Failed") and c["status"] == "True"), None)


def running(job: dict[str, Any]) -> bool:
    return finished(job) is None and not job["metadata"].get("deletionTimestamp")


def pods_of(kubectl: Kubectl, ns: str, job: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = kubectl.json(
        "get", "pods", "-n", ns, "-l", f"{JOB_NAME_LABEL}={job}")["items"]
    return items


def status_of(kubectl: Kubectl, ns: str, name: str) -> dict[str, Any]:
    status: dict[str, Any] = kubectl.json("get", "cronjob", name, "-n", ns).get("status") or {}
    return status


def active_names(kubectl: Kubectl, ns: str, name: str) -> list[str]:
    return [ref["name"] for ref in status_of(kubectl, ns, name).get("active") or ()]


def scheduled_jobs(kubectl: Kubectl, ns: str, name: str) -> list[dict[str, Any]]:
    """The CronJob's Jobs that its schedule started."""
    return [j for j in jobs_of(kubectl, ns, name)
            if SCHEDULED in (j["metadata"].get("annotations") or {})]


def time_of(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


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


# -- on simulated nodes: concurrency policies and history limits --------------------------


@pytest.fixture(scope="module")
def nodes(server: Server, kubectl: Kubectl, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[None]:
    """A simulated node (`kyb sim nodes`) that runs the Jobs' pods, tainted so that only
    the pods of `simulated_cron_job`s go there."""
    process = Process(SIM_PREFIX, [
        "sim", "nodes", "--count", "1", "--name-prefix", SIM_PREFIX, "--taints",
        f"{SIM_TAINT}:NoSchedule", "--kubeconfig", str(server.kubeconfig)],
        tmp_path_factory.mktemp("cronjob-nodes") / "nodes.log")

    def registered() -> bool:
        assert process.popen.poll() is None, f"kyb sim nodes exited: {process.tail()}"
        return any(n["metadata"]["name"].startswith(SIM_PREFIX)
                   for n in kubectl.json("get", "nodes")["items"])

    try:
        wait_until(registered, "the simulated node")
        yield
    finally:
        process.stop()


class WatchLog:
    """What `kubectl get <resource> -w --output-watch-events -o json` printed (to a file):
    every state of the namespace's objects of that resource, in the server's order."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def events(self) -> list[dict[str, Any]]:
        """The events printed so far (a last one still being written is left out)."""
        text, at = self.path.read_text(), 0
        decoder = json.JSONDecoder()
        found: list[dict[str, Any]] = []
        while True:
            while at < len(text) and text[at].isspace():
                at += 1
            try:
                event, at = decoder.raw_decode(text, at)
            except json.JSONDecodeError:
                return found
            found.append(event)

    def states(self) -> list[dict[str, dict[str, Any]]]:
        """The objects by name after each event."""
        current: dict[str, dict[str, Any]] = {}
        states = []
        for event in self.events():
            obj = event["object"]
            if event["type"] == "DELETED":
                current.pop(obj["metadata"]["name"], None)
            else:
                current[obj["metadata"]["name"]] = obj
            states.append(dict(current))
        return states

    def latest(self) -> dict[str, dict[str, Any]]:
        states = self.states()
        return states[-1] if states else {}

    def saw(self, name: str) -> bool:
        return any(name in state for state in self.states())

    def most(self, count: Callable[[dict[str, dict[str, Any]]], int]) -> int:
        """The largest `count` of any state seen."""
        return max((count(state) for state in self.states()), default=0)


@contextlib.contextmanager
def watch_log(kubectl: Kubectl, ns: str, resource: str, path: Path) -> Iterator[WatchLog]:
    err = path.with_suffix(".err")
    with open(path, "wb") as out, open(err, "wb") as errors:
        process = subprocess.Popen(
            [kubectl.binary, "--kubeconfig", str(kubectl.kubeconfig), "get", resource, "-n", ns,
             "-w", "--output-watch-events", "-o", "json"], stdout=out, stderr=errors)
    try:
        yield WatchLog(path)
        assert process.poll() is None, f"kubectl get -w ended early: {err.read_text()}"
    finally:
        stop_process(process, 10)


def running_jobs(state: dict[str, dict[str, Any]]) -> int:
    return sum(1 for job in state.values() if running(job))


def listed_active(state: dict[str, dict[str, Any]]) -> int:
    return max((len(cj.get("status", {}).get("active") or ()) for cj in state.values()),
               default=0)


def start_listed_job(kubectl: Kubectl, ns: str, cronjob: str, name: str,
                     jobs: WatchLog) -> None:
    """A Job of the CronJob's running and listed in its `status.active`, as the controller
    lists the Job it starts: a Job of an earlier start time still running. (Start times of
    one minute share a Job name, so the schedule cannot make this one within a test.)"""
    kubectl("create", "job", name, f"--from=cronjob/{cronjob}", "-n", ns)
    job = kubectl.json("get", "job", name, "-n", ns)
    ref = {"apiVersion": "batch/v1", "kind": "Job", "namespace": ns, "name": name,
           "uid": job["metadata"]["uid"], "resourceVersion": job["metadata"]["resourceVersion"]}
    kubectl("patch", "cronjob", cronjob, "-n", ns, "--subresource=status", "--type=merge",
            "-p", json.dumps({"status": {"active": [ref]}}))
    wait_until(lambda: any(p.get("status", {}).get("phase") == "Running"
                           for p in pods_of(kubectl, ns, name)), f"{name}'s pod running")
    wait_until(lambda: name in jobs.latest(), f"the watch seeing {name}")
    assert active_names(kubectl, ns, cronjob) == [name]


def resume(kubectl: Kubectl, ns: str, cronjob: str) -> None:
    kubectl("patch", "cronjob", cronjob, "-n", ns, "-p", '{"spec":{"suspend":false}}')


def test_forbid_skips_start_times_while_a_job_runs(kubectl: Kubectl, nodes: None, ns: str,
                                                   tmp_path: Path) -> None:
    with watch_log(kubectl, ns, "jobs", tmp_path / "jobs.json") as jobs, \
            watch_log(kubectl, ns, "cronjobs", tmp_path / "cronjobs.json") as cronjobs:
        kubectl("apply", "-n", ns, "-f", "-", input=simulated_cron_job(
            "forbid", {RUN_SECONDS: "3600"}, concurrencyPolicy="Forbid", suspend=True))
        wait_until(lambda: "forbid" in cronjobs.latest(), "the watch seeing the CronJob")
        start_listed_job(kubectl, ns, "forbid", "forbid-earlier", jobs)
        resume(kubectl, ns, "forbid")

        # Start times fall due every second and are skipped while the Job runs.
        skipped = wait_until(
            lambda: (found := events_of(kubectl, ns, "forbid", "JobAlreadyActive")) and
            sum(e.get("count", 1) for e in found) >= 3 and found, "three start times skipped")
        assert {(e["type"], e["message"]) for e in skipped} == {
            ("Normal", "Not starting job because prior execution is running and concurrency "
                       "policy is Forbid")}
        assert [j["metadata"]["name"] for j in jobs_of(kubectl, ns, "forbid")] == [
            "forbid-earlier"]
        status = status_of(kubectl, ns, "forbid")
        assert [ref["name"] for ref in status["active"]] == ["forbid-earlier"]
        assert "lastScheduleTime" not in status

        # Once it completes, the next start time runs.
        kubectl("annotate", "pods", "-n", ns, "-l", f"{JOB_NAME_LABEL}=forbid-earlier",
                f"{RUN_SECONDS}=0", "--overwrite")
        [started] = wait_until(lambda: scheduled_jobs(kubectl, ns, "forbid"), "the next job")
        name = started["metadata"]["name"]
        wait_until(lambda: active_names(kubectl, ns, "forbid") == [name], "it listed active")
        earlier = kubectl.json("get", "job", "forbid-earlier", "-n", ns)
        assert finished(earlier) == "Complete"
        assert time_of(started["metadata"]["creationTimestamp"]) >= \
            time_of(earlier["status"]["completionTime"])
        assert status_of(kubectl, ns, "forbid")["lastScheduleTime"] == \
            started["metadata"]["annotations"][SCHEDULED]
        wait_until(lambda: jobs.saw(name), "the watch seeing the next job")
        wait_until(lambda: cronjobs.latest()["forbid"].get("status", {}).get("lastScheduleTime"),
                   "the watch seeing the CronJob's status")

    # At no moment did two Jobs run, nor did the CronJob list two.
    assert jobs.most(running_jobs) == 1
    assert cronjobs.most(listed_active) == 1
    kubectl("delete", "cronjob", "forbid", "-n", ns)


def test_replace_deletes_the_running_job_for_the_next_start(
        kubectl: Kubectl, nodes: None, ns: str, tmp_path: Path) -> None:
    with watch_log(kubectl, ns, "jobs", tmp_path / "jobs.json") as jobs, \
            watch_log(kubectl, ns, "cronjobs", tmp_path / "cronjobs.json") as cronjobs:
        kubectl("apply", "-n", ns, "-f", "-", input=simulated_cron_job(
            "replace", {RUN_SECONDS: "3600"}, concurrencyPolicy="Replace", suspend=True))
        wait_until(lambda: "replace" in cronjobs.latest(), "the watch seeing the CronJob")
        start_listed_job(kubectl, ns, "replace", "replace-earlier", jobs)
        resume(kubectl, ns, "replace")

        def replaced() -> str | None:
            names: list[str] = [j["metadata"]["name"] for j in jobs_of(kubectl, ns, "replace")]
            scheduled = [j["metadata"]["name"] for j in scheduled_jobs(kubectl, ns, "replace")]
            if names != scheduled or len(names) != 1 or \
                    active_names(kubectl, ns, "replace") != names:
                return None
            return names[0]

        name = wait_until(replaced, "the running job replaced by the next one")
        # (A new minute may since have replaced the next one too.)
        assert "Deleted job replace-earlier" in [
            e["message"] for e in events_of(kubectl, ns, "replace", "SuccessfulDelete")]
        assert f"Created job {name}" in [
            e["message"] for e in events_of(kubectl, ns, "replace", "SuccessfulCreate")]
        wait_until(lambda: not pods_of(kubectl, ns, "replace-earlier"), "its pod deleted")
        wait_until(lambda: jobs.saw(name), "the watch seeing the next job")

    # The replaced Job was running when it went, and went before the next one came.
    states = jobs.states()
    gone = next(i for i, state in enumerate(states) if "replace-earlier" not in state
                and any("replace-earlier" in before for before in states[:i]))
    assert running(states[gone - 1]["replace-earlier"])
    assert all(name not in state for state in states[:gone])
    assert jobs.most(running_jobs) == 1
    assert cronjobs.most(listed_active) == 1
    kubectl("delete", "cronjob", "replace", "-n", ns)


def test_history_limits_prune_the_oldest_finished_jobs(kubectl: Kubectl, nodes: None, ns: str,
                                                        tmp_path: Path) -> None:
    limits: dict[str, Any] = {"successfulJobsHistoryLimit": 1, "failedJobsHistoryLimit": 1}
    kinds = {"passes": "Complete", "fails": "Failed"}
    with watch_log(kubectl, ns, "jobs", tmp_path / "jobs.json") as jobs:
        kubectl("apply", "-n", ns, "-f", "-", input=simulated_cron_job(
            "passes", {}, suspend=True, **limits))
        kubectl("apply", "-n", ns, "-f", "-", input=simulated_cron_job(
            "fails", {EXIT_CODE: "1"}, job_spec={"backoffLimit": 0}, suspend=True, **limits))
        # One finished Job each is within the limits: it stays, and the watch sees it.
        for cronjob in kinds:
            kubectl("create", "job", f"{cronjob}-by-hand-0", f"--from=cronjob/{cronjob}",
                    "-n", ns)
        wait_until(lambda: {"passes-by-hand-0", "fails-by-hand-0"} <= set(jobs.latest()),
                   "the watch seeing the first jobs")
        for cronjob in kinds:
            for i in (1, 2):
                kubectl("create", "job", f"{cronjob}-by-hand-{i}", f"--from=cronjob/{cronjob}",
                        "-n", ns)
            resume(kubectl, ns, cronjob)

        def owned(state: dict[str, dict[str, Any]], cronjob: str) -> list[dict[str, Any]]:
            return [j for j in state.values()
                    if any(r["name"] == cronjob for r in j["metadata"]["ownerReferences"])]

        def pruned() -> bool:
            ever_scheduled = {cronjob: any(
                SCHEDULED in j["metadata"].get("annotations", {}) and finished(j)
                for state in jobs.states() for j in owned(state, cronjob)) for cronjob in kinds}
            left = {cronjob: [finished(j) for j in jobs_of(kubectl, ns, cronjob)]
                    for cronjob in kinds}
            return all(ever_scheduled.values()) and all(
                left[cronjob] == [kind] for cronjob, kind in kinds.items())

        wait_until(pruned, "one finished job left of each, after a scheduled one finished")

        def watched_as_listed() -> bool:
            latest = jobs.latest()
            return all({j["metadata"]["uid"]: finished(j) for j in owned(latest, cronjob)} ==
                       {j["metadata"]["uid"]: finished(j) for j in jobs_of(kubectl, ns, cronjob)}
                       for cronjob in kinds)

        wait_until(watched_as_listed, "the watch seeing the prunes")

    states = jobs.states()
    for cronjob, kind in kinds.items():
        # Every Job by hand and at least one of the schedule's finished as its pods did...
        finished_ones = {j["metadata"]["uid"] for state in states
                         for j in owned(state, cronjob) if finished(j) == kind}
        assert len(finished_ones) >= 4, (cronjob, finished_ones)
        assert not any(finished(j) not in (None, kind) for state in states
                       for j in owned(state, cronjob))
    # ...and only finished Jobs went.
    for before, after in itertools.pairwise(states):
        for name in before.keys() - after.keys():
            assert finished(before[name]) is not None, name
    assert "lastSuccessfulTime" in status_of(kubectl, ns, "passes")
    assert "lastSuccessfulTime" not in status_of(kubectl, ns, "fails")
    kubectl("delete", "cronjobs", "--all", "-n", ns)
