"""The CRI-shaped container runtime interface: what the kubelet asks of a real runtime.

Modelled on upstream's CRI (`k8s.io/cri-api/pkg/apis/runtime/v1/api.proto`): a pod is a
*sandbox* (the namespaces, cgroup parent and `/dev/shm` its containers share) holding
*containers* that are created, started, stopped and removed one by one. Names and states
follow the proto (`SANDBOX_READY`, `CONTAINER_EXITED`, `created_at` in nanoseconds, ...),
flattened into frozen dataclasses; the gRPC transport is left out because the kubelet calls
the runtime in-process.

Differences from the proto worth knowing:

- `ContainerConfig` carries the image's OCI config and its unpacked layer directories
  (`image_layers`, lowest first) instead of an image reference for the runtime to resolve:
  the kubelet's image store owns images, the runtime only stacks their layers.
- Failures raise `CreateContainerError` / `RunContainerError`, named after the waiting
  reasons the kubelet reports for them, with the runtime's own wording as the message.
- Streaming exec and attach (`exec`, `attach`) hand back an `ExecProcess` directly
  instead of a URL to a streaming server; the kubelet's HTTP/WebSocket exec and attach
  endpoints are built on top of it.

`resolve_command` is Kubernetes' command/args over Entrypoint/Cmd rule, shared by runtimes
and the kubelet.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NewType, Protocol

SandboxId = NewType("SandboxId", str)
ContainerId = NewType("ContainerId", str)


class CRIError(Exception):
    """A runtime call failed; `reason` is the waiting reason the kubelet reports."""

    reason = "RuntimeError"


class CreateContainerError(CRIError):
    """The container could not be created (bad image layers, invalid config)."""

    reason = "CreateContainerError"


class RunContainerError(CRIError):
    """The container was created but its process could not be started (for example
    `exec: "nosuch": executable file not found in $PATH`)."""

    reason = "RunContainerError"


class NotFoundError(CRIError):
    """No sandbox or container with that id."""

    reason = "NotFound"


class ExecTimeoutError(CRIError):
    """`exec_sync` ran past its timeout (the probe reports a failure)."""

    reason = "DeadlineExceeded"


class SandboxState(enum.Enum):
    SANDBOX_READY = "SANDBOX_READY"
    SANDBOX_NOTREADY = "SANDBOX_NOTREADY"


class ContainerState(enum.Enum):
    CONTAINER_CREATED = "CONTAINER_CREATED"
    CONTAINER_RUNNING = "CONTAINER_RUNNING"
    CONTAINER_EXITED = "CONTAINER_EXITED"
    CONTAINER_UNKNOWN = "CONTAINER_UNKNOWN"


@dataclass(frozen=True)
class DNSConfig:
    """What the pod's `/etc/resolv.conf` says."""

    servers: tuple[str, ...] = ()
    searches: tuple[str, ...] = ()
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class SandboxConfig:
    """PodSandboxConfig: the pod-level things the runtime sets up once per pod."""

    name: str
    namespace: str
    uid: str
    attempt: int = 0
    hostname: str = ""
    host_network: bool = False
    dns: DNSConfig | None = None
    # Relative to the kubelet's own cgroup (as runc resolves relative paths), or absolute.
    cgroup_parent: str = ""
    log_directory: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PodSandbox:
    """An entry of `list_pod_sandboxes` (and the body of `pod_sandbox_status`)."""

    id: SandboxId
    name: str
    namespace: str
    uid: str
    attempt: int
    state: SandboxState
    created_at: int  # nanoseconds since the epoch
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    netns_path: str  # "" for hostNetwork pods


@dataclass(frozen=True)
class SandboxFilter:
    id: str = ""
    state: SandboxState | None = None
    label_selector: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Mount:
    """A bind mount of a host path (a volume, etc-hosts, a termination log)."""

    container_path: str
    host_path: str
    readonly: bool = False


@dataclass(frozen=True)
class Resources:
    """LinuxContainerResources, plus the pids limit (0: unset)."""

    cpu_shares: int = 0
    cpu_quota: int = 0
    cpu_period: int = 0
    memory_limit_bytes: int = 0
    pids_limit: int = 0
    oom_score_adj: int = 0


@dataclass(frozen=True)
class SecurityContext:
    """The container's LinuxContainerSecurityContext, as far as runc applies it."""

    run_as_user: int | None = None
    run_as_group: int | None = None
    readonly_rootfs: bool = False
    privileged: bool = False
    no_new_privileges: bool = False
    # Capability names with or without the `CAP_` prefix, as in a pod spec; "ALL" allowed.
    capabilities_add: tuple[str, ...] = ()
    capabilities_drop: tuple[str, ...] = ()


@dataclass(frozen=True)
class ContainerConfig:
    """ContainerConfig: one container of a pod, with its image already unpacked."""

    name: str
    image: str  # the image reference, reported back in the status
    image_layers: tuple[Path, ...]  # unpacked layer directories, lowest first
    image_config: Mapping[str, Any] = field(default_factory=dict)  # OCI image `config`
    attempt: int = 0
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    working_dir: str = ""
    mounts: tuple[Mount, ...] = ()
    resources: Resources = field(default_factory=Resources)
    security: SecurityContext = field(default_factory=SecurityContext)
    tty: bool = False
    stdin: bool = False
    stdin_once: bool = False  # stdin is closed once the first attached client leaves
    log_path: str = ""  # absolute, or relative to the sandbox's log_directory
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    # NamespaceOption's pid TARGET: the id of a running container whose PID namespace this
    # one joins (an ephemeral container's `targetContainerName`); "" for a namespace of its own.
    pid_target: str = ""


@dataclass(frozen=True)
class Container:
    """An entry of `list_containers`."""

    id: ContainerId
    sandbox_id: SandboxId
    name: str
    attempt: int
    image: str
    state: ContainerState
    created_at: int
    labels: Mapping[str, str]
    annotations: Mapping[str, str]


@dataclass(frozen=True)
class ContainerStatus:
    """ContainerStatus: what the kubelet turns into a pod's `containerStatuses[]`."""

    id: ContainerId
    sandbox_id: SandboxId
    name: str
    attempt: int
    state: ContainerState
    created_at: int  # nanoseconds since the epoch; 0 when not reached
    started_at: int
    finished_at: int
    exit_code: int
    image: str
    image_ref: str
    reason: str  # "OOMKilled", "Error", "Completed", "StartError" once exited
    message: str
    log_path: str
    pid: int  # the container's init on the host, 0 when not running
    labels: Mapping[str, str]
    annotations: Mapping[str, str]


@dataclass(frozen=True)
class ContainerFilter:
    id: str = ""
    state: ContainerState | None = None
    sandbox_id: str = ""
    label_selector: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    stdout: bytes
    stderr: bytes


class ExecProcess(Protocol):
    """A process started by `exec`, or a container's init joined by `attach`, for the
    kubelet's streaming exec and attach endpoints.

    Without a tty, `stdout` and `stderr` are separate streams; with one, everything the
    process prints arrives on `stdout` and `stderr` is None. `stdin` is usable only when
    the exec asked for it; `close_stdin` sends EOF (with a tty: the terminal's EOF
    character). Readers return b"" at end of stream.
    """

    tty: bool

    async def write_stdin(self, data: bytes) -> None: ...

    async def close_stdin(self) -> None: ...

    async def read_stdout(self, n: int = 65536) -> bytes: ...

    async def read_stderr(self, n: int = 65536) -> bytes: ...

    def resize(self, width: int, height: int) -> None:
        """Set the terminal size (tty only; ignored otherwise)."""
        ...

    async def wait(self) -> int:
        """The process's exit code (128+signal when killed by a signal); raises `CRIError`
        when the runtime could not start it (say, no such executable)."""
        ...

    def kill(self) -> None:
        """Kill the process (the client of an exec went away)."""
        ...

    def detach(self) -> None:
        """Stop streaming, leaving the process to run on (the client of an attach went
        away)."""
        ...


class ContainerRuntime(Protocol):
    """The runtime service of the CRI, as the kubelet's pod workers call it."""

    async def run_pod_sandbox(self, config: SandboxConfig) -> SandboxId: ...

    async def stop_pod_sandbox(self, sandbox_id: SandboxId) -> None:
        """Stop every container of the sandbox (killing them); the sandbox is NOTREADY."""
        ...

    async def remove_pod_sandbox(self, sandbox_id: SandboxId) -> None:
        """Remove its containers and release its namespaces, `/dev/shm` and cgroup."""
        ...

    async def pod_sandbox_status(self, sandbox_id: SandboxId) -> PodSandbox: ...

    async def list_pod_sandboxes(self, filter: SandboxFilter | None = None) -> list[PodSandbox]:
        ...

    def sandbox_netns_path(self, sandbox_id: SandboxId) -> str:
        """The network namespace CNI should configure ("" for hostNetwork pods)."""
        ...

    async def create_container(
        self, sandbox_id: SandboxId, config: ContainerConfig
    ) -> ContainerId: ...

    async def start_container(self, container_id: ContainerId) -> None: ...

    async def stop_container(self, container_id: ContainerId,
                             timeout: float) -> None:  # noqa: ASYNC109 (CRI's name)
        """SIGTERM, then SIGKILL once `timeout` seconds pass; returns once it exited."""
        ...

    async def remove_container(self, container_id: ContainerId) -> None: ...

    async def reopen_container_log(self, container_id: ContainerId) -> None:
        """Reopen the container's log file after the kubelet rotated it (renamed it)."""
        ...

    async def list_containers(self, filter: ContainerFilter | None = None) -> list[Container]:
        ...

    async def container_status(self, container_id: ContainerId) -> ContainerStatus: ...

    async def exec_sync(
        self, container_id: ContainerId, cmd: Sequence[str], timeout: float  # noqa: ASYNC109
    ) -> ExecResult:
        """Run `cmd` to completion (exec probes). Raises `ExecTimeoutError` past `timeout`
        (the process is killed), `CRIError` when it could not be started at all."""
        ...

    async def exec(
        self, container_id: ContainerId, cmd: Sequence[str], *, tty: bool, stdin: bool
    ) -> ExecProcess: ...

    async def attach(
        self, container_id: ContainerId, *, tty: bool, stdin: bool
    ) -> ExecProcess:
        """Join the running container's own stdio (its `tty` is the container's); raises
        `CRIError` when it is not running."""
        ...


def resolve_command(
    image_config: Mapping[str, Any], command: Sequence[str], args: Sequence[str]
) -> list[str]:
    """The argv a container runs: a pod's `command` replaces the image's Entrypoint and
    then ignores its Cmd; `args` replace Cmd (upstream's documented rule)."""
    if command:
        return [*command, *args]
    entrypoint = list(image_config.get("Entrypoint") or [])
    return entrypoint + list(args or image_config.get("Cmd") or [])


def labels_match(labels: Mapping[str, str], selector: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


__all__ = [
    "CRIError",
    "Container",
    "ContainerConfig",
    "ContainerFilter",
    "ContainerId",
    "ContainerRuntime",
    "ContainerState",
    "ContainerStatus",
    "CreateContainerError",
    "DNSConfig",
    "ExecProcess",
    "ExecResult",
    "ExecTimeoutError",
    "Mount",
    "NotFoundError",
    "PodSandbox",
    "Resources",
    "RunContainerError",
    "SandboxConfig",
    "SandboxFilter",
    "SandboxId",
    "SandboxState",
    "SecurityContext",
    "labels_match",
    "resolve_command",
]
