"""The kubelet's own Prometheus metrics (upstream's pkg/kubelet/metrics), on a registry of
the kubelet's, served on the 10250 server's `/metrics` (authorised as `nodes/metrics`).

- `kubelet_pod_start_duration_seconds`: from the kubelet first seeing a pod to the status
  it writes first saying Running (`pod_seen`, `pod_synced`), as upstream's syncPod.
- `kubelet_pleg_relist_duration_seconds`: each relist of the runtime (`relisted`).
- `kubelet_runtime_operations_total`, `kubelet_runtime_operations_duration_seconds` and
  `kubelet_runtime_operations_errors_total` by `operation_type`: `InstrumentedRuntime`
  wraps the CRI runtime service as upstream's instrumentedRuntimeService does.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Sequence
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.utils import INF

from kybernetes.kubelet.runtime.cri import (
    Container,
    ContainerConfig,
    ContainerFilter,
    ContainerId,
    ContainerRuntime,
    ContainerStatus,
    ExecProcess,
    ExecResult,
    PodSandbox,
    SandboxConfig,
    SandboxFilter,
    SandboxId,
)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

R = TypeVar("R")


def _exponential(start: float, factor: float, count: int) -> tuple[float, ...]:
    return (*(start * factor ** i for i in range(count)), INF)


class KubeletMetrics:
    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self._pod_start = Histogram(
            "kubelet_pod_start_duration_seconds", "[ALPHA] Duration in seconds from kubelet "
            "seeing a pod for the first time to the pod starting to run",
            buckets=(0.5, 1, 2, 3, 4, 5, 6, 8, 10, 20, 30, 45, 60, 120, 180, 240, 300, 360,
                     480, 600, 900, 1200, 1800, 2700, 3600, INF), registry=registry)
        self._relist = Histogram(
            "kubelet_pleg_relist_duration_seconds", "[ALPHA] Duration in seconds for "
            "relisting pods in PLEG.", buckets=_exponential(0.005, 2, 10), registry=registry)
        self._operations = Counter(
            "kubelet_runtime_operations", "[ALPHA] Cumulative number of runtime operations "
            "by operation type.", ("operation_type",), registry=registry)
        self._durations = Histogram(
            "kubelet_runtime_operations_duration_seconds", "[ALPHA] Duration in seconds of "
            "runtime operations. Broken down by operation type.", ("operation_type",),
            buckets=_exponential(0.005, 2.5, 14), registry=registry)
        self._errors = Counter(
            "kubelet_runtime_operations_errors", "[ALPHA] Cumulative number of runtime "
            "operation errors by operation type.", ("operation_type",), registry=registry)
        self._first_seen: dict[str, float] = {}

    def pod_seen(self, uid: str) -> None:
        self._first_seen.setdefault(uid, time.monotonic())

    def pod_synced(self, uid: str, previous_phase: str | None, phase: str) -> None:
        """A status was computed: the pod's start is observed when it first runs."""
        if phase == "Running" and previous_phase in (None, "", "Pending"):
            seen = self._first_seen.pop(uid, None)
            if seen is not None:
                self._pod_start.observe(time.monotonic() - seen)

    def forget(self, uid: str) -> None:
        self._first_seen.pop(uid, None)

    def relisted(self, seconds: float) -> None:
        self._relist.observe(seconds)

    async def operation(self, operation_type: str, call: Awaitable[R]) -> R:
        started = time.monotonic()
        self._operations.labels(operation_type).inc()
        try:
            return await call
        except Exception:
            self._errors.labels(operation_type).inc()
            raise
        finally:
            self._durations.labels(operation_type).observe(time.monotonic() - started)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class InstrumentedRuntime:
    """A `ContainerRuntime` recording each call's count, latency and errors under upstream's
    operation types."""

    def __init__(self, runtime: ContainerRuntime, metrics: KubeletMetrics) -> None:
        self.runtime = runtime
        self.metrics = metrics

    async def run_pod_sandbox(self, config: SandboxConfig) -> SandboxId:
        return await self.metrics.operation("run_podsandbox",
                                            self.runtime.run_pod_sandbox(config))

    async def stop_pod_sandbox(self, sandbox_id: SandboxId) -> None:
        await self.metrics.operation("stop_podsandbox", self.runtime.stop_pod_sandbox(sandbox_id))

    async def remove_pod_sandbox(self, sandbox_id: SandboxId) -> None:
        await self.metrics.operation("remove_podsandbox",
                                     self.runtime.remove_pod_sandbox(sandbox_id))

    async def pod_sandbox_status(self, sandbox_id: SandboxId) -> PodSandbox:
        return await self.metrics.operation("podsandbox_status",
                                            self.runtime.pod_sandbox_status(sandbox_id))

    async def list_pod_sandboxes(self, filter: SandboxFilter | None = None) -> list[PodSandbox]:
        return await self.metrics.operation("list_podsandbox",
                                            self.runtime.list_pod_sandboxes(filter))

    def sandbox_netns_path(self, sandbox_id: SandboxId) -> str:
        return self.runtime.sandbox_netns_path(sandbox_id)

    async def create_container(self, sandbox_id: SandboxId, config: ContainerConfig
                               ) -> ContainerId:
        return await self.metrics.operation("create_container",
                                            self.runtime.create_container(sandbox_id, config))

    async def start_container(self, container_id: ContainerId) -> None:
        await self.metrics.operation("start_container", self.runtime.start_container(container_id))

    async def stop_container(self, container_id: ContainerId,
                             timeout: float) -> None:  # noqa: ASYNC109 (CRI's name)
        await self.metrics.operation("stop_container",
                                     self.runtime.stop_container(container_id, timeout))

    async def remove_container(self, container_id: ContainerId) -> None:
        await self.metrics.operation("remove_container",
                                     self.runtime.remove_container(container_id))

    async def reopen_container_log(self, container_id: ContainerId) -> None:
        await self.metrics.operation("reopen_container_log",
                                     self.runtime.reopen_container_log(container_id))

    async def list_containers(self, filter: ContainerFilter | None = None) -> list[Container]:
        return await self.metrics.operation("list_containers",
                                            self.runtime.list_containers(filter))

    async def container_status(self, container_id: ContainerId) -> ContainerStatus:
        return await self.metrics.operation("container_status",
                                            self.runtime.container_status(container_id))

    async def exec_sync(self, container_id: ContainerId, cmd: Sequence[str],
                        timeout: float) -> ExecResult:  # noqa: ASYNC109 (CRI's name)
        return await self.metrics.operation("exec_sync",
                                            self.runtime.exec_sync(container_id, cmd, timeout))

    async def exec(self, container_id: ContainerId, cmd: Sequence[str], *, tty: bool,
                   stdin: bool) -> ExecProcess:
        return await self.metrics.operation(
            "exec", self.runtime.exec(container_id, cmd, tty=tty, stdin=stdin))

    async def attach(self, container_id: ContainerId, *, tty: bool, stdin: bool
                     ) -> ExecProcess:
        return await self.metrics.operation(
            "attach", self.runtime.attach(container_id, tty=tty, stdin=stdin))
