"""The pod-uid index (kubelet/podindex.py): a pod's sandboxes and containers without
listing the node, adopted from one listing after a restart, pruned when the runtime says
an id is gone."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from kybernetes.kubelet.containers import LABEL_POD_UID
from kybernetes.kubelet.podindex import PodIndex
from kybernetes.kubelet.runtime.cri import (
    Container,
    ContainerConfig,
    ContainerFilter,
    ContainerId,
    PodSandbox,
    SandboxConfig,
    SandboxFilter,
    SandboxId,
)
from tests.kubelet.fakes import FakeRuntime


class CountingRuntime(FakeRuntime):
    """The fake runtime, counting the calls that read the whole node."""

    def __init__(self) -> None:
        super().__init__()
        self.listings = 0

    async def list_pod_sandboxes(self, filter: SandboxFilter | None = None
                                 ) -> list[PodSandbox]:
        self.listings += 1
        return await super().list_pod_sandboxes(filter)

    async def list_containers(self, filter: ContainerFilter | None = None) -> list[Container]:
        self.listings += 1
        return await super().list_containers(filter)


def labels(uid: str) -> Mapping[str, str]:
    return {LABEL_POD_UID: uid}


async def pod(runtime: FakeRuntime, uid: str, names: tuple[str, ...] = ("c",)
              ) -> tuple[SandboxId, list[ContainerId]]:
    sandbox = await runtime.run_pod_sandbox(SandboxConfig(name=uid, namespace="ns", uid=uid,
                                                          labels=labels(uid)))
    containers = [await runtime.create_container(sandbox, ContainerConfig(
        name=name, image="busybox", image_layers=(Path("/nonexistent"),),
        labels=labels(uid))) for name in names]
    return sandbox, containers


async def test_a_pod_is_read_without_listing_the_node() -> None:
    runtime = CountingRuntime()
    for i in range(50):
        await pod(runtime, f"other-{i}")
    index = PodIndex(runtime)
    await index.load()  # the one full listing (a restarted kubelet adopting what runs)
    listings = runtime.listings
    sandbox, [web, sidecar] = await pod(runtime, "mine", ("web", "sidecar"))
    index.add_sandbox("mine", sandbox)
    index.add_container("mine", web)
    index.add_container("mine", sidecar)
    assert [s.id for s in await index.sandboxes("mine")] == [sandbox]
    assert {c.id for c in await index.containers("mine")} == {web, sidecar}
    assert [c.id for c in await index.containers("mine", "sidecar")] == [sidecar]
    assert [c.name for c in await index.containers("other-7")] == ["c"]
    assert runtime.listings == listings


async def test_what_ran_before_is_adopted_and_relists_add_what_they_see() -> None:
    runtime = CountingRuntime()
    sandbox, [old] = await pod(runtime, "a")
    index = PodIndex(runtime)
    assert await index.uids() == {"a"}
    assert [s.id for s in await index.sandboxes("a")] == [sandbox]
    # A container made behind the index's back (not by this kubelet) shows after a relist.
    [_, [new]] = await pod(runtime, "b")
    assert await index.containers("b") == []
    listed = await index.refresh()
    assert {c.id for c in listed} == {old, new}
    assert [c.id for c in await index.containers("b")] == [new]


async def test_ids_the_runtime_no_longer_knows_are_dropped() -> None:
    runtime = CountingRuntime()
    sandbox, [container] = await pod(runtime, "a")
    index = PodIndex(runtime)
    await index.load()
    await runtime.remove_pod_sandbox(sandbox)
    assert await index.sandboxes("a") == [] and await index.containers("a") == []
    assert await index.uids() == set()
    index.add_container("a", container)
    index.forget("a")
    assert await index.containers("a") == []
