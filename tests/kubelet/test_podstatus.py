"""Pod status as the kubelet reports it: upstream's getPhase table, container states
(waiting reasons, lastState after a crash), and the kubelet-owned conditions."""

from __future__ import annotations

from typing import Any

import pytest

from kybernetes.kubelet.podstatus import (
    ContainerRecord,
    ProbeState,
    SyncError,
    container_status,
    pod_conditions,
    pod_phase,
)

Obj = dict[str, Any]


def running() -> Obj:
    return {"name": "c", "state": {"running": {"startedAt": "t"}}, "ready": True,
            "started": True}


def exited(code: int) -> Obj:
    return {"name": "c", "state": {"terminated": {"exitCode": code}}}


def crashlooping(code: int) -> Obj:
    return {"name": "c", "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": code}}}


def waiting() -> Obj:
    return {"name": "c", "state": {"waiting": {"reason": "ContainerCreating"}}}


@pytest.mark.parametrize(("policy", "status", "terminal", "phase"), [
    ("Always", running(), False, "Running"),
    ("Always", waiting(), False, "Pending"),
    ("Always", exited(0), False, "Running"),
    ("Always", exited(1), False, "Running"),
    ("Always", crashlooping(1), False, "Running"),
    ("OnFailure", exited(0), False, "Succeeded"),
    ("OnFailure", exited(2), False, "Running"),
    ("Never", exited(0), False, "Succeeded"),
    ("Never", exited(2), False, "Failed"),
    ("Always", exited(0), True, "Succeeded"),
    ("Always", exited(137), True, "Failed"),
])
def test_phase_of_one_container(policy: str, status: Obj, terminal: bool, phase: str) -> None:
    spec = {"restartPolicy": policy, "containers": [{"name": "c"}]}
    assert pod_phase(spec, [], [status], terminal=terminal) == phase


def test_unknown_container_keeps_the_pod_pending() -> None:
    spec = {"containers": [{"name": "c"}, {"name": "d"}]}
    assert pod_phase(spec, [], [running()], terminal=False) == "Pending"


def test_init_containers_gate_the_phase() -> None:
    spec: Obj = {"restartPolicy": "Never", "initContainers": [{"name": "i"}],
                 "containers": [{"name": "c"}]}
    init_running = {"name": "i", "state": {"running": {}}}
    assert pod_phase(spec, [init_running], [waiting()], terminal=False) == "Pending"
    init_failed = {"name": "i", "state": {"terminated": {"exitCode": 1}}}
    assert pod_phase(spec, [init_failed], [waiting()], terminal=False) == "Failed"
    spec["restartPolicy"] = "Always"
    assert pod_phase(spec, [init_failed], [waiting()], terminal=False) == "Pending"


def test_a_started_sidecar_counts_as_running() -> None:
    spec = {"initContainers": [{"name": "side", "restartPolicy": "Always"}],
            "containers": [{"name": "c"}]}
    sidecar = {"name": "side", "state": {"running": {}}, "started": True}
    assert pod_phase(spec, [sidecar], [running()], terminal=False) == "Running"


def record(attempt: int, state: str, code: int = 0, reason: str = "") -> ContainerRecord:
    return ContainerRecord(name="app", container_id=f"runc://{attempt}", attempt=attempt,
                           state=state, image="busybox", image_id="sha256:x",
                           started_at="2026-01-01T00:00:00Z",
                           finished_at="2026-01-01T00:00:01Z" if state == "exited" else "",
                           exit_code=code, reason=reason)


def test_container_without_instance_waits_with_the_sync_error() -> None:
    container = {"name": "app", "image": "nosuch:1"}
    plain = container_status(container, [], error=None, probe=None, initializing=False)
    assert plain["state"] == {"waiting": {"reason": "ContainerCreating"}}
    assert plain["restartCount"] == 0 and plain["ready"] is False
    pulled = container_status(container, [], error=SyncError("ErrImagePull", "not found"),
                              probe=None, initializing=False)
    assert pulled["state"] == {"waiting": {"reason": "ErrImagePull", "message": "not found"}}
    init = container_status(container, [], error=None, probe=None, initializing=True)
    assert init["state"]["waiting"]["reason"] == "PodInitializing"


def test_crash_loop_moves_the_exit_to_last_state() -> None:
    container = {"name": "app", "image": "busybox"}
    status = container_status(container, [record(0, "exited", 1), record(1, "exited", 1)],
                              error=SyncError("CrashLoopBackOff", "back-off 20s ..."),
                              probe=None, initializing=False)
    assert status["restartCount"] == 1
    assert status["state"] == {"waiting": {"reason": "CrashLoopBackOff",
                                           "message": "back-off 20s ..."}}
    assert status["lastState"]["terminated"]["exitCode"] == 1
    assert status["lastState"]["terminated"]["reason"] == "Error"
    assert status["lastState"]["terminated"]["containerID"] == "runc://1"


def test_restarted_container_runs_with_the_previous_exit_as_last_state() -> None:
    container = {"name": "app", "image": "busybox"}
    status = container_status(container,
                              [record(0, "exited", 137, "OOMKilled"), record(1, "running")],
                              error=None, probe=ProbeState(ready=True, started=True),
                              initializing=False)
    assert status["state"] == {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
    assert status["lastState"]["terminated"]["reason"] == "OOMKilled"
    assert status["ready"] is True and status["started"] is True
    assert status["restartCount"] == 1 and status["containerID"] == "runc://1"


def test_conditions_name_the_unready_containers_and_keep_transition_times() -> None:
    spec = {"containers": [{"name": "a"}, {"name": "b"}]}
    statuses = [{"name": "a", "state": {"running": {}}, "ready": True},
                {"name": "b", "state": {"running": {}}, "ready": False}]
    first = pod_conditions(spec, [], [], statuses, phase="Running", sandbox_ready=True,
                           now="T1")
    by_type = {c["type"]: c for c in first}
    assert [c["type"] for c in first] == ["PodReadyToStartContainers", "Initialized", "Ready",
                                          "ContainersReady", "PodScheduled"]
    assert by_type["Ready"]["status"] == "False"
    assert by_type["Ready"]["reason"] == "ContainersNotReady"
    assert by_type["Ready"]["message"] == "containers with unready status: [b]"
    assert by_type["Initialized"]["status"] == "True"
    statuses[1]["ready"] = True
    second = pod_conditions(spec, first, [], statuses, phase="Running", sandbox_ready=True,
                            now="T2")
    by_type = {c["type"]: c for c in second}
    assert by_type["Ready"] == {"type": "Ready", "status": "True", "lastProbeTime": None,
                                "lastTransitionTime": "T2"}
    assert by_type["Initialized"]["lastTransitionTime"] == "T1"


def test_foreign_conditions_and_readiness_gates() -> None:
    spec = {"containers": [{"name": "a"}], "readinessGates": [{"conditionType": "x/ok"}]}
    statuses = [{"name": "a", "state": {"running": {}}, "ready": True}]
    old = [{"type": "x/ok", "status": "False"}]
    conditions = pod_conditions(spec, old, [], statuses, phase="Running",
                                sandbox_ready=True, now="T")
    by_type = {c["type"]: c for c in conditions}
    assert by_type["x/ok"] == {"type": "x/ok", "status": "False"}
    assert by_type["Ready"]["reason"] == "ReadinessGatesNotReady"
    assert by_type["ContainersReady"]["status"] == "True"
