"""Fixtures: a real API server in this process (its ASGI app behind httpx's ASGI
transport, SQLite in a temporary directory), and an `ApiClient` for it.

Sync functions are driven directly against it: real finalizers, deletes and patches, no
watches (the informer stores are seeded by the tests, as upstream's controller tests do).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kybernetes.apiserver.server import ApiServer
from kybernetes.client import ApiClient, SharedInformerFactory
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.discovery import Discovery
from tests.apiserver import inprocess
from tests.controllers.clock import Clock


@pytest.fixture
async def apiserver(tmp_path: Path) -> AsyncIterator[ApiServer]:
    # In-process over ASGI (no TLS, so no client certificate): authorization is off. No
    # service-account controller runs here, so, as upstream's integration tests do, the
    # ServiceAccount admission plugin is off.
    async with inprocess.apiserver(tmp_path, authorization_mode="AlwaysAllow",
                                   disable_admission_plugins=["ServiceAccount"]) as server:
        yield server


@pytest.fixture
async def api(apiserver: ApiServer) -> AsyncIterator[ApiClient]:
    async with inprocess.api_client(apiserver.app) as client:
        yield client


@pytest.fixture
def ctx(api: ApiClient) -> ControllerContext:
    """A controller context whose informers are never started: tests seed their stores."""
    return ControllerContext(client=api, informers=SharedInformerFactory(api),
                             discovery=Discovery(api))


@pytest.fixture
def clock() -> Clock:
    """A clock at NOW, for the controllers' `clock=` argument."""
    return Clock()
