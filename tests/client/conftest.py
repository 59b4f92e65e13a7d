"""Fixtures: a real `kyb server` per integration module, and clients for it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from kybernetes.client import ApiClient, NotFoundError, load_kubeconfig, resource
from tests.e2e.cluster import Server, running_server

NAMESPACES = resource("", "v1", "namespaces")
SERVICE_ACCOUNTS = resource("", "v1", "serviceaccounts")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # The client's tests count exact objects: no kube-root-ca.crt in their namespaces.
    with running_server(tmp_path_factory.mktemp("kyb"), [
            "--controllers", "*,-root-ca-certificate-publisher-controller"]) as running:
        yield running


@pytest.fixture
async def api(server: Server) -> AsyncIterator[ApiClient]:
    async with ApiClient(load_kubeconfig(server.kubeconfig)) as client:
        yield client


@pytest.fixture
async def namespace(api: ApiClient) -> str:
    """A fresh namespace, so tests sharing a server do not see each other's objects; ready
    for pods once its default ServiceAccount exists (as upstream's e2e framework waits)."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    await api.create(NAMESPACES, {"metadata": {"name": name}})
    async with asyncio.timeout(60):
        while True:
            try:
                await api.get(SERVICE_ACCOUNTS, "default", name)
                return name
            except NotFoundError:
                await asyncio.sleep(0.05)
