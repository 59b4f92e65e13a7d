"""The controller manager: which controllers run, and leader election between managers.

Intent: `--controllers` selects as upstream's `IsControllerEnabled` does (first mention
wins, `*` for the defaults, aliases accepted, unknown names refused); of two managers on
one API server exactly one runs the controllers, and when it stops it releases the Lease
so that the other takes over without waiting for the lease to expire. A controller that
fails is replaced by a new instance (a fresh queue, the informers' contents again), and an
exception in one key's sync leaves the other keys reconciled.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest

from kybernetes.client import ApiClient, NotFoundError, load_kubeconfig, resource
from kybernetes.controllers.base import Controller, ControllerContext, QueueController
from kybernetes.controllers.garbagecollector import GarbageCollector
from kybernetes.controllers.manager import (
    CONTROLLERS,
    ControllerManager,
    ControllerManagerOptions,
    ControllerSpec,
    enabled_controllers,
)
from tests.e2e.cluster import Server, running_server

LEASES = resource("coordination.k8s.io", "v1", "leases")
NAMESPACES = resource("", "v1", "namespaces")
SERVICE_ACCOUNTS = resource("", "v1", "serviceaccounts")
CONFIG_MAPS = resource("", "v1", "configmaps")
ALL = list(CONTROLLERS)
GC, NS, SA = ALL[:3]


@pytest.mark.parametrize(("selection", "expected"), [
    (["*"], ALL),
    ([], []),
    (["namespace-controller"], [NS]),
    (["*", "-garbagecollector"], ALL[1:]),
    (["-garbage-collector-controller", "*"], ALL[1:]),
    (["garbagecollector", "-garbagecollector"], [GC]),
    (["serviceaccount", "namespace"], [NS, SA]),
    ([" * ", ""], ALL),
])
def test_controller_selection(selection: list[str], expected: list[str]) -> None:
    assert enabled_controllers(selection) == expected


def test_unknown_controller_is_refused() -> None:
    with pytest.raises(ValueError, match="nosuch"):
        enabled_controllers(["*", "-nosuch"])


# ----------------------------------------------------------------------------- election


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A `kyb server` without its own controller manager: the tests bring theirs."""
    with running_server(tmp_path_factory.mktemp("kyb"),
                        ["--disable-controller-manager"]) as running:
        yield running


@pytest.fixture
async def remote(server: Server) -> AsyncIterator[ApiClient]:
    """A client of that server (not the in-process one of conftest)."""
    async with ApiClient(load_kubeconfig(server.kubeconfig)) as client:
        yield client


def options(identity: str) -> ControllerManagerOptions:
    return ControllerManagerOptions(
        identity=identity, lease_name=f"test-{uuid.uuid4().hex[:8]}",
        lease_duration=4.0, renew_deadline=3.0, retry_period=0.5,
        controllers=("serviceaccount",))


async def until(predicate: Callable[[], Awaitable[bool]], limit: float = 30.0) -> None:
    """Poll (bounded; the limit guards against hangs, not a performance expectation)."""
    async with asyncio.timeout(limit):
        while not await predicate():  # noqa: ASYNC110 - polling the API
            await asyncio.sleep(0.05)


async def holder(api: ApiClient, lease: str) -> str:
    try:
        found = await api.get(LEASES, lease, "kube-system")
    except NotFoundError:
        return ""
    return str(found["spec"].get("holderIdentity") or "")


@pytest.mark.e2e
async def test_one_manager_leads_and_hands_over_on_stop(remote: ApiClient) -> None:
    api = remote
    first_opts = options("first")
    second_opts = dataclasses.replace(first_opts, identity="second")
    lease = first_opts.lease_name
    first = ControllerManager(api, first_opts)
    second = ControllerManager(api, second_opts)
    first_task = asyncio.create_task(first.run())
    await asyncio.wait_for(first.leading.wait(), 30)
    second_task = asyncio.create_task(second.run())
    try:
        assert await holder(api, lease) == "first"
        assert list(first.controllers) == [SA]
        # The leader's controllers work: a new namespace gets its default account.
        name = f"m-{uuid.uuid4().hex[:8]}"
        await api.create(NAMESPACES, {"metadata": {"name": name}})

        async def has_account() -> bool:
            return bool((await api.list(SERVICE_ACCOUNTS, name)).items)

        await until(has_account)
        await asyncio.sleep(1.0)  # several retry periods: the standby stays a standby
        assert not second.leading.is_set()
        first_task.cancel()
        await asyncio.gather(first_task, return_exceptions=True)
        # Released, not expired: the standby takes over at its next retry.
        await asyncio.wait_for(second.leading.wait(), 30)

        async def second_holds() -> bool:
            return await holder(api, lease) == "second"

        await until(second_holds)
    finally:
        for task in (first_task, second_task):
            task.cancel()
        await asyncio.gather(first_task, second_task, return_exceptions=True)
    assert await holder(api, lease) == ""


@pytest.mark.e2e
async def test_without_leader_election(remote: ApiClient) -> None:
    api = remote
    opts = ControllerManagerOptions(leader_elect=False, controllers=("serviceaccount",),
                                    lease_name=f"unused-{uuid.uuid4().hex[:8]}")
    manager = ControllerManager(api, opts)
    task = asyncio.create_task(manager.run())
    try:
        await asyncio.wait_for(manager.leading.wait(), 30)
        assert await holder(api, opts.lease_name) == ""
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


# ----------------------------------------------------------------------------- supervision


class Recorder(QueueController):
    """Records the ConfigMaps of one namespace it syncs; `poison` makes a sync raise, and
    its first instance fails (outside any sync) once `crash` is set."""

    name = "recorder"

    def __init__(self, ctx: ControllerContext, namespace: str, *, seen: list[tuple[int, str]],
                 instances: list[Recorder], crash: asyncio.Event) -> None:
        super().__init__(workers=2)
        self.namespace, self.seen, self.crash = namespace, seen, crash
        self.number = len(instances)
        instances.append(self)
        self.watch(ctx.informers.informer(CONFIG_MAPS), on_add=self.enqueue_object,
                   on_update=lambda _old, new: self.enqueue_object(new))

    async def sync(self, key: str) -> None:
        namespace, name = key.split("/")
        if namespace != self.namespace:
            return
        if name == "poison":
            raise RuntimeError("injected: this object breaks the sync")
        self.seen.append((self.number, name))

    async def run(self) -> None:
        if self.number > 0:
            await super().run()
            return
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(super().run())
            await self.crash.wait()
            raise RuntimeError("injected: the controller's loop breaks")


@pytest.mark.e2e
async def test_a_failed_controller_is_replaced_with_a_fresh_queue(remote: ApiClient) -> None:
    api = remote
    namespace = f"sup-{uuid.uuid4().hex[:8]}"
    await api.create(NAMESPACES, {"metadata": {"name": namespace}})
    seen: list[tuple[int, str]] = []
    instances: list[Recorder] = []
    crash = asyncio.Event()

    def recorder(ctx: ControllerContext, _opts: ControllerManagerOptions) -> Controller:
        return Recorder(ctx, namespace, seen=seen, instances=instances, crash=crash)

    opts = ControllerManagerOptions(leader_elect=False, controllers=("recorder",))
    manager = ControllerManager(api, opts,
                                registry={"recorder": ControllerSpec("recorder", recorder)})
    task = asyncio.create_task(manager.run())

    async def synced(number: int, name: str) -> bool:
        return (number, name) in seen

    try:
        for name in ("poison", "before"):
            await api.create(CONFIG_MAPS, {"metadata": {"name": name}}, namespace)
        # The poisoned key fails (and is retried); the next object is reconciled anyway.
        await until(functools.partial(synced, 0, "before"))
        crash.set()
        # A new instance: it syncs what existed before (informers resynced into a fresh
        # queue) and what comes after.
        await until(functools.partial(synced, 1, "before"))
        await api.create(CONFIG_MAPS, {"metadata": {"name": "after"}}, namespace)
        await until(functools.partial(synced, 1, "after"))
        first, second = instances
        assert manager.controllers["recorder"] is second
        assert first.queue.shutting_down and len(first.queue) == 0
        assert (0, "after") not in seen  # the failed instance's handlers were removed
        with pytest.raises(RuntimeError, match="has run and stopped"):
            await QueueController.run(first)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_the_garbage_collectors_resync_survives_any_error(
        ctx: ControllerContext, caplog: pytest.LogCaptureFixture) -> None:
    collector = GarbageCollector(ctx, resync_period=0.01)
    calls = 0
    recovered = asyncio.Event()

    async def sync_monitors(*, max_age: float | None = None) -> bool:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise KeyError("injected: not a ClientError")
        recovered.set()
        return False

    collector.sync_monitors = sync_monitors  # type: ignore[method-assign]
    task = asyncio.create_task(collector._resync_forever())
    try:
        await asyncio.wait_for(recovered.wait(), 10)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    failures = [r for r in caplog.records if "resource resync failed" in r.getMessage()]
    assert len(failures) == 2
    assert all(r.exc_info is not None for r in failures)  # logged with the traceback
