"""The controller manager: which controllers run, and leader election between managers.

Intent: `--controllers` selects as upstream's `IsControllerEnabled` does (first mention
wins, `*` for the defaults, aliases accepted, unknown names refused); of two managers on
one API server exactly one runs the controllers, and when it stops it releases the Lease
so that the other takes over without waiting for the lease to expire.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest

from kybernetes.client import ApiClient, NotFoundError, load_kubeconfig, resource
from kybernetes.controllers.manager import (
    CONTROLLERS,
    ControllerManager,
    ControllerManagerOptions,
    enabled_controllers,
)
from tests.e2e.cluster import Server, running_server

LEASES = resource("coordination.k8s.io", "v1", "leases")
NAMESPACES = resource("", "v1", "namespaces")
SERVICE_ACCOUNTS = resource("", "v1", "serviceaccounts")
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
