"""`AddOnStreamingHost`: the kubelet server's `StreamingHost` for a node whose `kyb`
process runs add-ons itself (`mirrorpods`): their mirror pods' "containers" are answered
here, everything else by the runtime's host.

Logs are the add-on's own log file (`componentlogs`), followed while the add-on runs. A
mirror pod shares the host's network (`hostNetwork`), so port-forward dials the node's
loopback, as upstream's does for a host-network pod. There is no container to exec or attach
into: that is refused with a runtime error saying so, which kubectl prints.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kybernetes.kubelet.componentlogs import log_file
from kybernetes.kubelet.mirrorpods import AddOn, MirrorPods, addon_of, is_in_process
from kybernetes.kubelet.runtime.cri import CRIError, ExecProcess

if TYPE_CHECKING:
    from kybernetes.kubelet.server import StreamingHost


class AddOnStreamingHost:
    def __init__(self, inner: StreamingHost, mirrors: MirrorPods, log_root: Path) -> None:
        self.inner = inner
        self.mirrors = mirrors
        self.log_root = log_root

    def _addon(self, container_id: str) -> AddOn | None:
        name = addon_of(container_id)
        return None if name is None else self.mirrors.addon(name)

    def pod(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self.inner.pod(namespace, name)

    async def log_path(self, container_id: str) -> Path:
        addon = self._addon(container_id)
        if addon is None:
            return await self.inner.log_path(container_id)
        return log_file(self.log_root, self.mirrors.node_name, addon.name)

    async def is_running(self, container_id: str) -> bool:
        addon = self._addon(container_id)
        if addon is None:
            return await self.inner.is_running(container_id)
        return addon.check() is None

    def _refuse(self, addon: AddOn, what: str) -> CRIError:
        return CRIError(f"{addon.name} runs inside the kyb process on node "
                        f"{self.mirrors.node_name}, not in a container: there is nothing to "
                        f"{what}")

    async def exec(self, container_id: str, cmd: Sequence[str], *, tty: bool,
                   stdin: bool) -> ExecProcess:
        addon = self._addon(container_id)
        if addon is not None:
            raise self._refuse(addon, "exec into")
        return await self.inner.exec(container_id, cmd, tty=tty, stdin=stdin)

    async def attach(self, container_id: str, *, tty: bool, stdin: bool) -> ExecProcess:
        addon = self._addon(container_id)
        if addon is not None:
            raise self._refuse(addon, "attach to")
        return await self.inner.attach(container_id, tty=tty, stdin=stdin)

    async def connect(self, pod: Mapping[str, Any], port: int
                      ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if is_in_process(pod):
            return await asyncio.open_connection("127.0.0.1", port)
        return await self.inner.connect(pod, port)
