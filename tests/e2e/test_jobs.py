"""Jobs end to end: a real `kyb server` (API server and scheduler) with the controller
manager as its own `kyb controller-manager` process (so the test can kill it), two
simulated nodes (`kyb sim nodes`) whose Job pods complete as kwok's do, and the real
kubectl 1.35.

Intent: a Job of 5 completions runs at most 2 pods at a time and completes; an Indexed
Job's pods carry their indices and it records them; a Job whose pods fail stops at
backoffLimit with upstream's condition and message; `kubectl get jobs` shows upstream's
columns; a finished Job with ttlSecondsAfterFinished goes, with its pods; killing the
controller manager (SIGKILL) in the middle of a Job and starting a new one loses and
duplicates no completion.

The controller manager runs without leader election, so the replacement starts at once
instead of waiting out the dead one's lease (test_leadership covers leases), and with each
controller acting as its own service account, as in `kyb server` (upstream's RBAC roles).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cluster import Kubectl, Server, stop_process, wait_until
from tests.e2e.test_scheduler import Process

pytestmark = pytest.mark.e2e
ANY_BACKEND = True  # a controller's logic, whatever the storage (conftest.py)

SERVER_ARGS = ["--disable-controller-manager"]
SIM_PREFIX = "jobs-"
# Never pulled (simulated nodes); a closed loopback port should one reach a real node.
IMAGE = "127.0.0.1:1/busybox:1.0"


class ControllerManager:
    def __init__(self, server: Server, log: Path) -> None:
        self.server = server
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "kybernetes.cli.main", "controller-manager",
                 "--kubeconfig", str(self.server.kubeconfig), "--leader-elect=false",
                 "--use-service-account-credentials"],
                stdout=out, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            stop_process(self.process, 20)


@pytest.fixture(scope="module")
def manager(server: Server, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[ControllerManager]:
    running = ControllerManager(server, tmp_path_factory.mktemp("jobs") / "cm.log")
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def nodes(server: Server, kubectl: Kubectl, manager: ControllerManager,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    process = Process(SIM_PREFIX, [
        "sim", "nodes", "--count", "2", "--name-prefix", SIM_PREFIX,
        "--kubeconfig", str(server.kubeconfig)], tmp_path_factory.mktemp("jobs-logs") / "nodes.log")
    try:
        wait_until(lambda: sum(1 for n in kubectl.json("get", "nodes")["items"]
                               if n["metadata"]["name"].startswith(SIM_PREFIX)) == 2,
                   "two simulated nodes")
        for node in kubectl.json("get", "nodes")["items"]:
            if not node["metadata"]["name"].startswith(SIM_PREFIX):
                kubectl("cordon", node["metadata"]["name"])
        yield
    finally:
        process.stop()


@pytest.fixture(scope="module")
def failing(kubectl: Kubectl, nodes: None) -> str:
    """A Job whose pods fail, started with the module: its second pod comes only after
    the first backoff (10 s), which then overlaps the other tests."""
    kubectl("create", "namespace", "failing-job")
    wait_until(lambda: kubectl.run("get", "serviceaccount", "default", "-n", "failing-job",
                                   check=False).returncode == 0, "the default account")
    kubectl("apply", "-n", "failing-job", "-f", "-", input=job_manifest(
        "failing", completions=1, parallelism=1, backoffLimit=1,
        annotations={"sim.kybernetes.io/exit-code": "1"}))
    return "failing-job"


def job_manifest(name: str, *, completions: int, parallelism: int,
                 annotations: dict[str, str], **spec: Any) -> str:
    return json.dumps({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
                       "spec": {"completions": completions, "parallelism": parallelism,
                                **spec, "template": {
                                    "metadata": {"annotations": annotations},
                                    "spec": {"restartPolicy": "Never", "containers": [
                                        {"name": "work", "image": IMAGE}]}}}})


def job(kubectl: Kubectl, ns: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = kubectl.json("get", "job", name, "-n", ns)
    return found


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any] | None:
    return next((c for c in obj.get("status", {}).get("conditions", [])
                 if c["type"] == type_ and c["status"] == "True"), None)


def pods(kubectl: Kubectl, ns: str, name: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = kubectl.json(
        "get", "pods", "-n", ns, "-l", f"batch.kubernetes.io/job-name={name}")["items"]
    return items


def running(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for p in items if p.get("status", {}).get("phase") not in
            ("Succeeded", "Failed") and not p["metadata"].get("deletionTimestamp")]


def test_job_completes_with_at_most_parallelism_pods(kubectl: Kubectl, failing: str,
                                                      ns: str) -> None:
    kubectl("apply", "-n", ns, "-f", "-", input=job_manifest(
        "batch", completions=5, parallelism=2,
        annotations={"sim.kybernetes.io/run-seconds": "1"}))
    most = 0

    def complete() -> dict[str, Any] | None:
        nonlocal most
        most = max(most, len(running(pods(kubectl, ns, "batch"))),
                   int(job(kubectl, ns, "batch")["status"].get("active", 0)))
        found = job(kubectl, ns, "batch")
        return found if condition(found, "Complete") else None

    done = wait_until(complete, "the Job completes")
    assert 1 <= most <= 2
    assert done["status"]["succeeded"] == 5
    assert "failed" not in done["status"]
    assert condition(done, "SuccessCriteriaMet")["reason"] == "CompletionsReached"  # type: ignore[index]
    finished = pods(kubectl, ns, "batch")
    assert len(finished) == 5
    assert all(p["status"]["phase"] == "Succeeded" and not p["metadata"].get("finalizers")
               for p in finished)
    header, row = kubectl("get", "jobs", "-n", ns).splitlines()
    assert header.split() == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    assert row.split()[:3] == ["batch", "Complete", "5/5"]


def test_indexed_job_pods_carry_their_indices(kubectl: Kubectl, nodes: None, ns: str) -> None:
    kubectl("apply", "-n", ns, "-f", "-", input=job_manifest(
        "indexed", completions=3, parallelism=3, completionMode="Indexed",
        annotations={"sim.kybernetes.io/run-seconds": "1"}))
    done = wait_until(lambda: (found := job(kubectl, ns, "indexed")) and
                      condition(found, "Complete") and found, "the Indexed Job completes")
    assert done["status"]["completedIndexes"] == "0-2"
    seen = set()
    for pod in pods(kubectl, ns, "indexed"):
        index = pod["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
        assert pod["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"] == index
        assert pod["metadata"]["name"].startswith(f"indexed-{index}-")
        assert pod["spec"]["hostname"] == f"indexed-{index}"
        [env] = pod["spec"]["containers"][0]["env"]
        assert env["name"] == "JOB_COMPLETION_INDEX"
        seen.add(index)
    assert seen == {"0", "1", "2"}


def test_finished_job_is_deleted_after_its_ttl(kubectl: Kubectl, nodes: None, ns: str) -> None:
    kubectl("apply", "-n", ns, "-f", "-", input=job_manifest(
        "short-lived", completions=1, parallelism=1, ttlSecondsAfterFinished=0,
        annotations={}))
    wait_until(lambda: kubectl("get", "jobs", "-n", ns, "-o", "name") == "",
               "the finished Job is deleted")
    wait_until(lambda: pods(kubectl, ns, "short-lived") == [], "its pod is deleted")


def test_controller_manager_restart_loses_and_duplicates_no_completion(
        kubectl: Kubectl, nodes: None, manager: ControllerManager, ns: str) -> None:
    kubectl("apply", "-n", ns, "-f", "-", input=job_manifest(
        "restart", completions=5, parallelism=2,
        annotations={"sim.kybernetes.io/run-seconds": "1"}))
    wait_until(lambda: int(job(kubectl, ns, "restart")["status"].get("succeeded", 0)) >= 1,
               "a first completion")
    manager.kill()
    # Pods finish while no controller counts them.
    wait_until(lambda: not running(pods(kubectl, ns, "restart")), "the running pods finish")
    manager.start()
    done = wait_until(lambda: (found := job(kubectl, ns, "restart")) and
                      condition(found, "Complete") and found, "the Job completes",
                      timeout=120)
    assert done["status"]["succeeded"] == 5
    assert "failed" not in done["status"]
    assert done["status"]["uncountedTerminatedPods"] == {}
    finished = pods(kubectl, ns, "restart")
    assert len(finished) == 5
    assert all(p["status"]["phase"] == "Succeeded" and not p["metadata"].get("finalizers")
               for p in finished)


def test_failing_job_stops_at_backoff_limit(kubectl: Kubectl, failing: str) -> None:
    ns = failing
    failed = wait_until(lambda: (found := job(kubectl, ns, "failing")) and
                        condition(found, "Failed") and found, "the Job fails")
    cond = condition(failed, "Failed")
    assert cond is not None
    assert (cond["reason"], cond["message"]) == (
        "BackoffLimitExceeded", "Job has reached the specified backoff limit")
    assert condition(failed, "FailureTarget") is not None
    assert failed["status"]["failed"] == 2
    assert "succeeded" not in failed["status"]
    assert len(pods(kubectl, ns, "failing")) == 2
    _, row = kubectl("get", "jobs", "-n", ns).splitlines()
    assert row.split()[:3] == ["failing", "Failed", "0/1"]
