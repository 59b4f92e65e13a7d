"""The service-account controller's sync and handlers.

Intent: every active namespace gets a `default` ServiceAccount (again, if it is deleted);
terminating or unknown namespaces get nothing; accounts the cache already has are not
created again.
"""

from __future__ import annotations

import pytest

from kybernetes.client import ApiClient, resource
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.serviceaccount import ServiceAccountsController

NAMESPACES = resource("", "v1", "namespaces")
SERVICE_ACCOUNTS = resource("", "v1", "serviceaccounts")


@pytest.fixture
def ctl(ctx: ControllerContext) -> ServiceAccountsController:
    return ServiceAccountsController(ctx)


async def names(api: ApiClient, ns: str) -> list[str]:
    return sorted(a["metadata"]["name"] for a in (await api.list(SERVICE_ACCOUNTS, ns)).items)


async def test_default_account_is_created_in_an_active_namespace(
        api: ApiClient, ctl: ServiceAccountsController) -> None:
    ctl.namespaces.store.add(await api.create(NAMESPACES, {"metadata": {"name": "fresh"}}))
    await ctl.sync("fresh")
    assert await names(api, "fresh") == ["default"]
    # Idempotent even when the cache has not seen the account yet (AlreadyExists).
    await ctl.sync("fresh")
    assert await names(api, "fresh") == ["default"]


async def test_an_account_in_the_cache_is_not_created(
        api: ApiClient, ctl: ServiceAccountsController) -> None:
    ctl.namespaces.store.add(await api.create(NAMESPACES, {"metadata": {"name": "cached"}}))
    ctl.service_accounts.store.add({"metadata": {"name": "default", "namespace": "cached"}})
    await ctl.sync("cached")
    assert await names(api, "cached") == []


async def test_terminating_and_unknown_namespaces_get_nothing(
        api: ApiClient, ctl: ServiceAccountsController) -> None:
    await api.create(NAMESPACES, {"metadata": {"name": "going"}})
    await api.delete(NAMESPACES, "going")
    ctl.namespaces.store.add(await api.get(NAMESPACES, "going"))
    await ctl.sync("going")
    await ctl.sync("unknown")
    assert await names(api, "going") == []


async def test_a_stale_cache_meeting_a_terminating_namespace_is_not_an_error(
        api: ApiClient, ctl: ServiceAccountsController) -> None:
    active = await api.create(NAMESPACES, {"metadata": {"name": "racing"}})
    ctl.namespaces.store.add(active)
    await api.delete(NAMESPACES, "racing")
    await api.get(NAMESPACES, "racing")  # the server has seen the deletion everywhere
    await ctl.sync("racing")
    assert await names(api, "racing") == []


def test_handlers_enqueue_namespaces(ctl: ServiceAccountsController) -> None:
    ctl._namespace_changed({"metadata": {"name": "a"}})
    ctl._account_deleted({"metadata": {"name": "default", "namespace": "b"}})
    ctl._account_deleted({"metadata": {"name": "default", "namespace": "a"}})
    assert len(ctl.queue) == 2
