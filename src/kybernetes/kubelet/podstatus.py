"""The pod status the kubelet reports, computed from what the runtime says (pure functions).

This is upstream's `generateAPIPodStatus` (pkg/kubelet/kubelet_pods.go) and the condition
generators of pkg/kubelet/status/generate.go, over plain dicts:

- **Container statuses** (`container_statuses`): for each container of the spec, its newest
  runtime instance gives `state` (running / terminated) and the one before it `lastState`;
  `restartCount` is the newest instance's attempt. A container with no instance is waiting
  (`ContainerCreating`, or `PodInitializing` while init containers run), and a sync error
  for it (`ErrImagePull`, `ImagePullBackOff`, `CrashLoopBackOff`, `CreateContainerError`,
  ...) replaces the state by `waiting` with that reason and message, the exited instance
  moving to `lastState` as upstream shows a crash-looping container.
- **Phase** (`pod_phase`): upstream's `getPhase`, counting init, sidecar and regular
  containers.
- **Conditions** (`pod_conditions`): PodReadyToStartContainers, Initialized, Ready,
  ContainersReady, PodScheduled, with upstream's reasons (`ContainersNotReady`,
  `ContainersNotInitialized`, `PodCompleted`) and messages; conditions the kubelet does not
  own (DisruptionTarget, readiness gates' own types) are kept as they were, and
  `lastTransitionTime` only moves when a condition's status changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]

KUBELET_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                      "PodScheduled")
TERMINAL_PHASES = ("Succeeded", "Failed")


@dataclass(frozen=True)
class ContainerRecord:
    """One runtime instance of a container (upstream's kubecontainer.Status)."""

    name: str
    container_id: str  # "<runtime>://<id>"
    attempt: int
    state: str  # "created" | "running" | "exited" | "unknown"
    image: str
    image_id: str = ""
    created_at: str = ""
    started_at: str = ""
    finished_at: str = ""
    exit_code: int = 0
    reason: str = ""
    message: str = ""


@dataclass(frozen=True)
class SyncError:
    """Why the kubelet could not (yet) start a container: a waiting reason and message."""

    reason: str
    message: str


@dataclass(frozen=True)
class ProbeState:
    """What the probes say about one running container."""

    ready: bool = False
    started: bool = False


def all_containers(spec: Mapping[str, Any]) -> list[Obj]:
    """Init containers then containers, in spec order."""
    return [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]


def is_sidecar(container: Mapping[str, Any]) -> bool:
    """A restartable init container (restartPolicy Always), upstream's sidecar."""
    return container.get("restartPolicy") == "Always"


def _newest(records: Iterable[ContainerRecord], name: str) -> list[ContainerRecord]:
    mine = [r for r in records if r.name == name]
    mine.sort(key=lambda r: (r.attempt, r.created_at), reverse=True)
    return mine


def _terminated(record: ContainerRecord) -> Obj:
    state: Obj = {"exitCode": record.exit_code, "reason": record.reason or
                  ("Completed" if record.exit_code == 0 else "Error"),
                  "startedAt": record.started_at or None,
                  "finishedAt": record.finished_at or None,
                  "containerID": record.container_id}
    if record.message:
        state["message"] = record.message
    return {"terminated": state}


def container_status(container: Mapping[str, Any], records: Sequence[ContainerRecord], *,
                     error: SyncError | None, probe: ProbeState | None,
                     initializing: bool) -> Obj:
    """The API status of one container of the spec (upstream's convertToAPIContainerStatuses
    for one container)."""
    name = str(container.get("name") or "")
    image = str(container.get("image") or "")
    newest = _newest(records, name)
    status: Obj = {"name": name, "image": image, "imageID": "", "ready": False,
                   "restartCount": 0, "started": False, "state": {}, "lastState": {}}
    if not newest:
        reason = "PodInitializing" if initializing else "ContainerCreating"
        waiting: Obj = {"reason": error.reason if error else reason}
        if error and error.message:
            waiting["message"] = error.message
        status["state"] = {"waiting": waiting}
        return status
    current = newest[0]
    status["restartCount"] = current.attempt
    status["containerID"] = current.container_id
    status["imageID"] = current.image_id
    if current.image:
        status["image"] = current.image
    previous = newest[1] if len(newest) > 1 else None
    if previous is not None and previous.state == "exited":
        status["lastState"] = _terminated(previous)
    if current.state == "running":
        status["state"] = {"running": {"startedAt": current.started_at or None}}
        status["ready"] = bool(probe and probe.ready)
        status["started"] = bool(probe and probe.started)
    elif current.state == "exited":
        if error is not None:
            # Waiting to be restarted: the exit moves to lastState (CrashLoopBackOff).
            status["lastState"] = _terminated(current)
            status["state"] = {"waiting": {"reason": error.reason, "message": error.message}}
        else:
            status["state"] = _terminated(current)
    else:
        waiting = {"reason": error.reason if error else "ContainerCreating"}
        if error and error.message:
            waiting["message"] = error.message
        status["state"] = {"waiting": waiting}
    return status


def _state(status: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    for key in ("running", "terminated", "waiting"):
        value = (status.get("state") or {}).get(key)
        if value is not None:
            return key, value
    return "", {}


def _last_terminated(status: Mapping[str, Any]) -> Mapping[str, Any] | None:
    value = (status.get("lastState") or {}).get("terminated")
    return value if isinstance(value, Mapping) else None


def pod_phase(spec: Mapping[str, Any], init_statuses: Sequence[Obj],
              statuses: Sequence[Obj], *, terminal: bool) -> str:
    """Upstream's getPhase."""
    by_name = {s["name"]: s for s in (*init_statuses, *statuses)}
    pending_init = failed_init = 0
    unknown = running = waiting = stopped = succeeded = 0
    inits = list(spec.get("initContainers") or ())
    for container in inits:
        if is_sidecar(container):
            continue
        found = by_name.get(container.get("name"))
        if found is None:
            pending_init += 1
            continue
        kind, state = _state(found)
        if kind == "running":
            pending_init += 1
        elif kind == "terminated":
            failed_init += state.get("exitCode", 0) != 0
        elif kind == "waiting":
            last = _last_terminated(found)
            if last is not None:
                failed_init += last.get("exitCode", 0) != 0
            else:
                pending_init += 1
        else:
            pending_init += 1
    for container in inits:
        if not is_sidecar(container):
            continue
        found = by_name.get(container.get("name"))
        if found is None:
            unknown += 1
            continue
        kind, _ = _state(found)
        if kind == "running":
            pending_init += not found.get("started")
            running += 1
        elif kind == "waiting" and _last_terminated(found) is None:
            pending_init += 1
            waiting += 1
        elif kind not in ("terminated", "waiting"):
            pending_init += 1
            unknown += 1
    any_regular_started = False
    for container in spec.get("containers") or ():
        found = by_name.get(container.get("name"))
        if found is None:
            unknown += 1
            continue
        kind, state = _state(found)
        if kind == "running":
            running += 1
            any_regular_started = True
        elif kind == "terminated":
            stopped += 1
            succeeded += state.get("exitCode", 0) == 0
            any_regular_started = True
        elif kind == "waiting":
            if _last_terminated(found) is not None:
                stopped += 1
                any_regular_started = True
            else:
                waiting += 1
        else:
            unknown += 1
    policy = spec.get("restartPolicy") or "Always"
    if failed_init > 0 and policy == "Never":
        return "Failed"
    if (pending_init > 0 and not any_regular_started) or waiting > 0:
        return "Pending"
    if running > 0 and unknown == 0:
        return "Running"
    if running == 0 and stopped > 0 and unknown == 0:
        if terminal:
            return "Succeeded" if stopped == succeeded else "Failed"
        if policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        return "Failed" if policy == "Never" else "Running"
    return "Pending"


def _condition(kind: str, ok: bool, reason: str = "", message: str = "") -> Obj:
    condition: Obj = {"type": kind, "status": "True" if ok else "False"}
    if not ok and reason:
        condition["reason"] = reason
    if not ok and message:
        condition["message"] = message
    return condition


def _names(items: Iterable[str]) -> str:
    return "[" + " ".join(items) + "]"


def _initialized(spec: Mapping[str, Any], init_statuses: Sequence[Obj], phase: str) -> Obj:
    if not spec.get("initContainers") or phase == "Succeeded":
        return _condition("Initialized", True)
    by_name = {s["name"]: s for s in init_statuses}
    unready: list[str] = []
    for container in spec["initContainers"]:
        found = by_name.get(container["name"])
        if found is None:
            unready.append(container["name"])
            continue
        kind, state = _state(found)
        if is_sidecar(container):
            if not found.get("started"):
                unready.append(container["name"])
        elif not (kind == "terminated" and state.get("exitCode", 0) == 0):
            unready.append(container["name"])
    if not unready:
        return _condition("Initialized", True)
    return _condition("Initialized", False, "ContainersNotInitialized",
                      f"containers with incomplete status: {_names(unready)}")


def _containers_ready(spec: Mapping[str, Any], init_statuses: Sequence[Obj],
                      statuses: Sequence[Obj], phase: str) -> Obj:
    if phase == "Succeeded":
        return _condition("ContainersReady", False, "PodCompleted")
    by_name = {s["name"]: s for s in (*init_statuses, *statuses)}
    unknown: list[str] = []
    unready: list[str] = []
    for container in [c for c in spec.get("initContainers") or () if is_sidecar(c)] + \
            list(spec.get("containers") or ()):
        found = by_name.get(container["name"])
        if found is None:
            unknown.append(container["name"])
        elif not found.get("ready"):
            unready.append(container["name"])
    parts = []
    if unknown:
        parts.append(f"containers with unknown status: {_names(unknown)}")
    if unready:
        parts.append(f"containers with unready status: {_names(unready)}")
    if parts:
        return _condition("ContainersReady", False, "ContainersNotReady", ", ".join(parts))
    return _condition("ContainersReady", True)


def _ready(spec: Mapping[str, Any], containers_ready: Obj, others: Sequence[Obj]) -> Obj:
    if containers_ready["status"] != "True":
        return {**containers_ready, "type": "Ready"}
    missing: list[str] = []
    for gate in spec.get("readinessGates") or ():
        kind = gate.get("conditionType")
        found = next((c for c in others if c.get("type") == kind), None)
        if found is None:
            missing.append(f"corresponding condition of pod readiness gate \"{kind}\" "
                           "does not exist.")
        elif found.get("status") != "True":
            missing.append(f"the status of pod readiness gate \"{kind}\" is not \"True\", "
                           f"but {found.get('status')}")
    if missing:
        return _condition("Ready", False, "ReadinessGatesNotReady", ", ".join(missing))
    return _condition("Ready", True)


def pod_conditions(spec: Mapping[str, Any], old: Sequence[Mapping[str, Any]],
                   init_statuses: Sequence[Obj], statuses: Sequence[Obj], *, phase: str,
                   sandbox_ready: bool, now: str) -> list[Obj]:
    """Conditions in upstream's order; transition times carried over from `old`."""
    others = [dict(c) for c in old if c.get("type") not in KUBELET_CONDITIONS]
    containers_ready = _containers_ready(spec, init_statuses, statuses, phase)
    fresh = [
        _condition("PodReadyToStartContainers", sandbox_ready),
        _initialized(spec, init_statuses, phase),
        _ready(spec, containers_ready, others),
        containers_ready,
        _condition("PodScheduled", True),
    ]
    previous = {c.get("type"): c for c in old}
    for condition in fresh:
        before = previous.get(condition["type"])
        condition["lastProbeTime"] = None
        if before is not None and before.get("status") == condition["status"] and \
                before.get("lastTransitionTime"):
            condition["lastTransitionTime"] = before["lastTransitionTime"]
        else:
            condition["lastTransitionTime"] = now
    return others + fresh
