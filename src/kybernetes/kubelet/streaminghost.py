"""`RuntimeStreamingHost`: the kubelet server's `StreamingHost` over a CRI runtime.

The kubelet hands it a lookup of its pods (with the status it last computed, which decides
which container instance a request means) and its runtime; container ids are the pod
status's `<runtime>://<id>`. Logs are the runtime's `ContainerStatus.log_path`; exec is the
runtime's streaming exec; port-forward dials the port inside the READY sandbox's network
namespace (`netnsdial`); attach is the runtime's attach to the container's own stdio.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kybernetes.kubelet import netnsdial
from kybernetes.kubelet.containers import LABEL_POD_UID
from kybernetes.kubelet.runtime.cri import (
    ContainerId,
    ContainerRuntime,
    ContainerState,
    ExecProcess,
    NotFoundError,
    SandboxFilter,
    SandboxState,
)

PodLookup = Callable[[str, str], Mapping[str, Any] | None]


def runtime_id(container_id: str) -> ContainerId:
    """`runc://abc` -> `abc`."""
    return ContainerId(container_id.partition("://")[2] or container_id)


class RuntimeStreamingHost:
    def __init__(self, runtime: ContainerRuntime, pods: PodLookup) -> None:
        self.runtime = runtime
        self._pods = pods

    def pod(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self._pods(namespace, name)

    async def log_path(self, container_id: str) -> Path:
        return Path((await self.runtime.container_status(runtime_id(container_id))).log_path)

    async def is_running(self, container_id: str) -> bool:
        try:
            status = await self.runtime.container_status(runtime_id(container_id))
        except NotFoundError:
            return False
        return status.state == ContainerState.CONTAINER_RUNNING

    async def exec(self, container_id: str, cmd: Sequence[str], *, tty: bool,
                   stdin: bool) -> ExecProcess:
        return await self.runtime.exec(runtime_id(container_id), cmd, tty=tty, stdin=stdin)

    async def attach(self, container_id: str, *, tty: bool, stdin: bool) -> ExecProcess:
        return await self.runtime.attach(runtime_id(container_id), tty=tty, stdin=stdin)

    async def connect(self, pod: Mapping[str, Any], port: int
                      ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        uid = str((pod.get("metadata") or {}).get("uid", ""))
        sandboxes = await self.runtime.list_pod_sandboxes(SandboxFilter(
            state=SandboxState.SANDBOX_READY, label_selector={LABEL_POD_UID: uid}))
        ready = [s for s in sandboxes if s.state == SandboxState.SANDBOX_READY]
        if not ready:
            raise ConnectionError(f"no running sandbox for pod uid {uid}")
        return await netnsdial.dial(self.runtime.sandbox_netns_path(ready[0].id), port)
