"""Fixtures: a real API server in this process (its ASGI app behind httpx's ASGI
transport, SQLite in a temporary directory), and an `ApiClient` for it.

Sync functions are driven directly against it: real finalizers, deletes and patches, no
watches (the informer stores are seeded by the tests, as upstream's controller tests do).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from kybernetes.apiserver.server import ApiServer, ApiServerConfig
from kybernetes.client import ApiClient, ClientConfig, SharedInformerFactory
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.discovery import Discovery


@pytest.fixture
async def apiserver(tmp_path: Path) -> AsyncIterator[ApiServer]:
    # In-process over ASGI (no TLS, so no client certificate): authorization is off.
    server = ApiServer(ApiServerConfig(data_dir=tmp_path, authorization_mode="AlwaysAllow"))
    await server.storage.start()
    await server.cache.start()
    await server._bootstrap()
    try:
        yield server
    finally:
        await server.cache.stop()
        await server.storage.close()


@pytest.fixture
async def api(apiserver: ApiServer) -> AsyncIterator[ApiClient]:
    transport = httpx.ASGITransport(app=apiserver.app)  # type: ignore[arg-type]
    config = ClientConfig(server="http://kyb.test", qps=0)
    async with ApiClient(config, transport=transport) as client:
        yield client


@pytest.fixture
def ctx(api: ApiClient) -> ControllerContext:
    """A controller context whose informers are never started: tests seed their stores."""
    return ControllerContext(client=api, informers=SharedInformerFactory(api),
                             discovery=Discovery(api))
