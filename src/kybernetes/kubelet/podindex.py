"""Which sandboxes and containers the runtime holds for each pod, by pod uid.

Upstream's kubelet keeps the runtime's pods in a cache that the PLEG refreshes
(pkg/kubelet/pleg/generic.go `relist`, pkg/kubelet/container/cache.go) and a pod sync reads
its own pod's entry, never the whole node. Here the index holds ids only: a sync still asks
the runtime for the status of each of its pod's sandboxes and containers (CRI
`PodSandboxStatus`, `ContainerStatus`), so what it costs does not grow with the number of
pods on the node, and what it reads is never stale.

- It is filled from one full listing the first time it is used, so a restarted kubelet
  adopts what runs.
- Ids are added when the kubelet creates a sandbox or a container, and from every relist
  (anything the runtime lists exists).
- Ids are dropped only when the runtime says they are gone (`NotFoundError` on a status
  call) or their pod is forgotten, so a relist racing a create never loses the new id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field

from kybernetes.kubelet.containers import LABEL_POD_UID
from kybernetes.kubelet.runtime.cri import (
    Container,
    ContainerId,
    ContainerRuntime,
    ContainerStatus,
    CRIError,
    NotFoundError,
    PodSandbox,
    SandboxId,
)


@dataclass
class _PodIds:
    sandboxes: set[SandboxId] = field(default_factory=set)
    containers: set[ContainerId] = field(default_factory=set)


class PodIndex:
    def __init__(self, runtime: ContainerRuntime) -> None:
        self.runtime = runtime
        self._pods: dict[str, _PodIds] = {}
        self._loaded = False
        self._loading = asyncio.Lock()

    def _ids(self, uid: str) -> _PodIds:
        ids = self._pods.get(uid)
        if ids is None:
            ids = self._pods[uid] = _PodIds()
        return ids

    async def load(self) -> None:
        """The full listing, once."""
        if self._loaded:
            return
        async with self._loading:
            if self._loaded:
                return
            for sandbox in await self.runtime.list_pod_sandboxes():
                if sandbox.uid:
                    self.add_sandbox(sandbox.uid, sandbox.id)
            self.observe(await self.runtime.list_containers())
            self._loaded = True

    def add_sandbox(self, uid: str, sandbox_id: SandboxId) -> None:
        self._ids(uid).sandboxes.add(sandbox_id)

    def add_container(self, uid: str, container_id: ContainerId) -> None:
        self._ids(uid).containers.add(container_id)

    def observe(self, listed: Iterable[Container]) -> None:
        """Containers a relist saw (those without a pod uid label are none of ours)."""
        for container in listed:
            uid = container.labels.get(LABEL_POD_UID)
            if uid:
                self.add_container(uid, container.id)

    def forget(self, uid: str) -> None:
        self._pods.pop(uid, None)

    async def uids(self) -> set[str]:
        """Every pod the runtime holds something of."""
        await self.load()
        return {uid for uid, ids in self._pods.items() if ids.sandboxes or ids.containers}

    async def sandboxes(self, uid: str) -> list[PodSandbox]:
        await self.load()
        ids = self._pods.get(uid) or _PodIds()
        found: list[PodSandbox] = []
        for sandbox_id in list(ids.sandboxes):
            try:
                found.append(await self.runtime.pod_sandbox_status(sandbox_id))
            except NotFoundError:
                ids.sandboxes.discard(sandbox_id)
        return found

    async def containers(self, uid: str, name: str = "") -> list[ContainerStatus]:
        """The pod's containers (only those called `name` if given)."""
        await self.load()
        ids = self._pods.get(uid) or _PodIds()
        found: list[ContainerStatus] = []
        for container_id in list(ids.containers):
            try:
                status = await self.runtime.container_status(container_id)
            except NotFoundError:
                ids.containers.discard(container_id)
                continue
            except CRIError:
                continue  # unreadable right now: left out of this answer only
            if not name or status.name == name:
                found.append(status)
        return found

    async def refresh(self) -> list[Container]:
        """A relist: every container the runtime holds, their ids added to the index."""
        await self.load()
        listed = await self.runtime.list_containers()
        self.observe(listed)
        return listed

