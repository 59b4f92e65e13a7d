"""A real API server in this process, for the tests that drive one without `kyb server`:
SQLite in a temporary directory, started and bootstrapped as `kyb server` does before it
serves, its ASGI app reached through httpx's ASGI transport (no TLS, so no client
certificate unless `with_peer_certificate` adds one)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from kybernetes.apiserver.server import ApiServer, ApiServerConfig
from kybernetes.apiserver.tlspeer import add_peer_certificate
from kybernetes.client import ApiClient, ClientConfig

BASE_URL = "http://kyb.test"

Asgi = Callable[[Any, Any, Any], Awaitable[None]]


@asynccontextmanager
async def running(server: ApiServer) -> AsyncIterator[ApiServer]:
    """`server` started (storage, watch cache, bootstrap; no listener) for the block, stopped
    after it."""
    await server.storage.start()
    await server.cache.start()
    await server._bootstrap()
    try:
        yield server
    finally:
        await server.cache.stop()
        await server.storage.close()


@asynccontextmanager
async def apiserver(data_dir: Path, **config: Any) -> AsyncIterator[ApiServer]:
    """A started server of `ApiServerConfig(data_dir=data_dir, **config)` for the block."""
    async with running(ApiServer(ApiServerConfig(data_dir=data_dir, **config))) as server:
        yield server


def http_client(app: Asgi, **options: Any) -> httpx.AsyncClient:
    """An httpx client of the ASGI app `app` (an `ApiServer.app`, or a wrapper of one)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL,
                             **options)


@pytest.fixture
async def http(server: ApiServer) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the test module's `server` fixture, for modules that import it."""
    async with http_client(server.app) as client:
        yield client


def ok(response: httpx.Response) -> dict[str, Any]:
    """The body of a successful response."""
    assert response.status_code < 300, response.text
    body: dict[str, Any] = response.json()
    return body


def api_client(app: Asgi) -> ApiClient:
    """An `ApiClient` (no rate limit) of the ASGI app `app`."""
    return ApiClient(ClientConfig(server=BASE_URL, qps=0),
                     transport=httpx.ASGITransport(app=app))


def with_peer_certificate(app: Asgi, der: bytes) -> Asgi:
    """`app` with the client certificate `der` on every request's scope, as uvicorn's TLS
    protocol hands it on."""

    async def peer(scope: Any, receive: Any, send: Any) -> None:
        add_peer_certificate(scope, der)
        await app(scope, receive, send)

    return peer


@pytest.fixture(name="apiserver")
async def controller_apiserver(tmp_path: Path) -> AsyncIterator[ApiServer]:
    """The server controller tests drive (tests/controllers, tests/netpol): authorization
    off, and, as upstream's integration tests run without a service-account controller,
    the ServiceAccount admission plugin off."""
    async with apiserver(tmp_path, authorization_mode="AlwaysAllow",
                         disable_admission_plugins=["ServiceAccount"]) as server:
        yield server


@pytest.fixture(name="http")
async def controller_http(apiserver: ApiServer) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client of the `apiserver` fixture (`controller_apiserver`), for modules that
    import both."""
    async with http_client(apiserver.app) as client:
        yield client


@pytest.fixture
async def api(apiserver: ApiServer) -> AsyncIterator[ApiClient]:
    """An `ApiClient` of the `apiserver` fixture (`controller_apiserver`)."""
    async with api_client(apiserver.app) as client:
        yield client
