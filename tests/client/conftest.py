"""Fixtures: a real `kyb server` per integration module, and clients for it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from kybernetes.client import ApiClient, load_kubeconfig, resource
from tests.e2e.cluster import Server, running_server

NAMESPACES = resource("", "v1", "namespaces")


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
    """A fresh namespace, so tests sharing a server do not see each other's objects."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    await api.create(NAMESPACES, {"metadata": {"name": name}})
    return name
