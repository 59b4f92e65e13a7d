"""In-memory stand-ins for the node-side services, for testing the kubelet's logic fast.

`FakeRuntime` implements the CRI protocol without processes. A container's command decides
what it "does" once started:

- `["exit", "N"]`: exits at once with code N;
- `["oom"]`: exits at once with 137 and reason OOMKilled;
- `["nosuch"]`: start fails (RunContainerError);
- anything else runs until stopped (SIGTERM counts as exit 143... unless told to ignore it).

`exec_sync(["true"])` succeeds, `["false"]` fails; `health` maps a container name to the
exit code its exec probes get, so a test can make a probe fail. The end-to-end tests run the
real runc runtime; these fakes keep the pod-lifecycle logic tests fast and exact.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kybernetes.kubelet.runtime.cri import (
    Container,
    ContainerConfig,
    ContainerFilter,
    ContainerId,
    ContainerState,
    ContainerStatus,
    CRIError,
    ExecProcess,
    ExecResult,
    Mount,
    NotFoundError,
    PodSandbox,
    RunContainerError,
    SandboxConfig,
    SandboxFilter,
    SandboxId,
    SandboxState,
    labels_match,
)

Obj = dict[str, Any]


def _now() -> int:
    return time.time_ns()


@dataclass
class _Container:
    status: ContainerStatus
    config: ContainerConfig


class FakeRuntime:
    def __init__(self) -> None:
        self.sandboxes: dict[str, PodSandbox] = {}
        self.containers: dict[str, _Container] = {}
        self.health: dict[str, int] = {}
        self._ids = itertools.count(1)
        self.started: list[str] = []  # "<pod>/<container>", in start order

    async def run_pod_sandbox(self, config: SandboxConfig) -> SandboxId:
        sid = SandboxId(f"sb{next(self._ids)}")
        self.sandboxes[sid] = PodSandbox(
            id=sid, name=config.name, namespace=config.namespace, uid=config.uid,
            attempt=config.attempt, state=SandboxState.SANDBOX_READY, created_at=_now(),
            labels=dict(config.labels), annotations=dict(config.annotations),
            netns_path="" if config.host_network else f"/fake/netns/{sid}")
        return sid

    async def stop_pod_sandbox(self, sandbox_id: SandboxId) -> None:
        for entry in self.containers.values():
            if entry.status.sandbox_id == sandbox_id and \
                    entry.status.state is ContainerState.CONTAINER_RUNNING:
                self._exit(entry, 137, "Error")
        box = self.sandboxes[sandbox_id]
        self.sandboxes[sandbox_id] = replace(box, state=SandboxState.SANDBOX_NOTREADY)

    async def remove_pod_sandbox(self, sandbox_id: SandboxId) -> None:
        for cid in [c for c, e in self.containers.items() if e.status.sandbox_id == sandbox_id]:
            del self.containers[cid]
        self.sandboxes.pop(sandbox_id, None)

    async def pod_sandbox_status(self, sandbox_id: SandboxId) -> PodSandbox:
        if sandbox_id not in self.sandboxes:
            raise NotFoundError(sandbox_id)
        return self.sandboxes[sandbox_id]

    async def list_pod_sandboxes(self, filter: SandboxFilter | None = None
                                 ) -> list[PodSandbox]:
        selector = filter.label_selector if filter else {}
        return [s for s in self.sandboxes.values() if labels_match(s.labels, selector)]

    def sandbox_netns_path(self, sandbox_id: SandboxId) -> str:
        return self.sandboxes[sandbox_id].netns_path

    async def create_container(self, sandbox_id: SandboxId, config: ContainerConfig
                               ) -> ContainerId:
        cid = ContainerId(f"c{next(self._ids)}")
        self.containers[cid] = _Container(ContainerStatus(
            id=cid, sandbox_id=sandbox_id, name=config.name, attempt=config.attempt,
            state=ContainerState.CONTAINER_CREATED, created_at=_now(), started_at=0,
            finished_at=0, exit_code=0, image=config.image, image_ref="sha256:fake",
            reason="", message="", log_path=config.log_path, pid=0,
            labels=dict(config.labels), annotations=dict(config.annotations)), config)
        return cid

    def _exit(self, entry: _Container, code: int, reason: str) -> None:
        entry.status = replace(entry.status, state=ContainerState.CONTAINER_EXITED,
                               exit_code=code, reason=reason, finished_at=_now(), pid=0)

    async def start_container(self, container_id: ContainerId) -> None:
        entry = self.containers[container_id]
        command = list(entry.config.command)
        if command[:1] == ["nosuch"]:
            self._exit(entry, 128, "StartError")
            raise RunContainerError('exec: "nosuch": executable file not found in $PATH')
        entry.status = replace(entry.status, state=ContainerState.CONTAINER_RUNNING,
                               started_at=_now(), pid=4242)
        pod = entry.config.labels.get("io.kubernetes.pod.name", "")
        self.started.append(f"{pod}/{entry.config.name}")
        if command[:1] == ["exit"]:
            code = int(command[1])
            self._exit(entry, code, "Completed" if code == 0 else "Error")
        elif command[:1] == ["oom"]:
            self._exit(entry, 137, "OOMKilled")

    async def stop_container(self, container_id: ContainerId,
                             timeout: float) -> None:  # noqa: ASYNC109 - the CRI's
        entry = self.containers[container_id]
        if entry.status.state is ContainerState.CONTAINER_RUNNING:
            self._exit(entry, 143, "Error")

    async def remove_container(self, container_id: ContainerId) -> None:
        self.containers.pop(container_id, None)

    async def reopen_container_log(self, container_id: ContainerId) -> None:
        return None

    async def list_containers(self, filter: ContainerFilter | None = None) -> list[Container]:
        selector = filter.label_selector if filter else {}
        return [Container(id=e.status.id, sandbox_id=e.status.sandbox_id, name=e.status.name,
                          attempt=e.status.attempt, image=e.status.image, state=e.status.state,
                          created_at=e.status.created_at, labels=e.status.labels,
                          annotations=e.status.annotations)
                for e in self.containers.values() if labels_match(e.status.labels, selector)]

    async def container_status(self, container_id: ContainerId) -> ContainerStatus:
        if container_id not in self.containers:
            raise NotFoundError(container_id)
        return self.containers[container_id].status

    async def exec_sync(self, container_id: ContainerId, cmd: Sequence[str],
                        timeout: float) -> ExecResult:  # noqa: ASYNC109 - the CRI's
        name = self.containers[container_id].config.name
        code = self.health.get(name, 0 if list(cmd) != ["false"] else 1)
        return ExecResult(code, b"", b"unhealthy\n" if code else b"")

    async def exec(self, container_id: ContainerId, cmd: Sequence[str], *, tty: bool,
                   stdin: bool) -> ExecProcess:
        raise NotImplementedError("streaming exec is tested with the real runtime")

    async def attach(self, container_id: ContainerId, *, tty: bool,
                     stdin: bool) -> ExecProcess:
        raise CRIError("attach is not supported by this fake runtime")

    def running(self, pod: str, name: str) -> list[ContainerStatus]:
        return [e.status for e in self.containers.values() if e.status.name == name and
                e.status.labels.get("io.kubernetes.pod.name") == pod and
                e.status.state is ContainerState.CONTAINER_RUNNING]


@dataclass(frozen=True)
class FakeImage:
    id: str
    repo_digests: tuple[str, ...] = ()
    config: dict[str, Any] = field(default_factory=lambda: {"Cmd": ["sh"]})
    layer_dirs: tuple[Path, ...] = ()


class FakeImages:
    """Every image exists in the "registry" except those whose name starts with nosuch."""

    def __init__(self) -> None:
        self.present: dict[str, FakeImage] = {}
        self.pulls: list[str] = []

    def get(self, ref_or_id: str) -> FakeImage | None:
        return self.present.get(ref_or_id)

    async def pull_for_pod(self, ref: str, pod: Obj) -> FakeImage:
        from kybernetes.kubelet.images import ImagePullError

        self.pulls.append(ref)
        if ref.startswith("nosuch"):
            raise ImagePullError(f'failed to pull and unpack image "docker.io/library/{ref}": '
                                 "not found")
        image = self.present[ref] = FakeImage(id=f"sha256:{len(self.pulls):064d}")
        return image


class FakeNetwork:
    def __init__(self) -> None:
        self.attached: dict[str, str] = {}
        self._next = itertools.count(2)

    async def setup(self, sandbox_id: str, netns: str, pod: Obj) -> list[str]:
        ip = f"10.42.0.{next(self._next)}"
        self.attached[sandbox_id] = ip
        return [ip]

    async def teardown(self, sandbox_id: str, netns: str, pod: Obj) -> None:
        self.attached.pop(sandbox_id, None)

    def not_ready_message(self) -> str:
        return ""


class FakeVolumes:
    def __init__(self) -> None:
        self.set_up: set[str] = set()

    async def setup(self, pod: Obj) -> None:
        self.set_up.add(str(pod["metadata"]["uid"]))

    async def env(self, pod: Obj, container: Obj, pod_ips: Sequence[str]
                  ) -> list[tuple[str, str]]:
        return [(str(e["name"]), str(e.get("value", ""))) for e in container.get("env") or ()]

    def mounts(self, pod: Obj, container: Obj, env: Sequence[tuple[str, str]]
               ) -> list[Mount]:
        return []

    async def teardown(self, pod: Obj) -> None:
        self.set_up.discard(str(pod["metadata"]["uid"]))

    async def aclose(self) -> None:
        pass
