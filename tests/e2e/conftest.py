"""Fixtures for end-to-end tests: one `kyb server` per module, kubectl against it.

At the end of each module the server's `/metrics` is scraped: a request answered with a 5xx
anywhere in the module fails it (as an error in the teardown of its last test).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.cluster import Kubectl, Server, make_namespace, namespace_name


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("kyb"))
    running.start()
    try:
        yield running
        errors = running.server_errors()
    finally:
        running.stop()
    if errors:
        pytest.fail(f"the server answered 5xx: {errors}\n{running.log_tail()}")


@pytest.fixture(scope="module")
def kubectl(server: Server) -> Kubectl:
    return Kubectl(server.kubeconfig)


@pytest.fixture(scope="module")
def api(server: Server) -> Iterator[httpx.Client]:
    """Plain HTTPS to the server as the admin (client certificate)."""
    with server.client() as client:
        yield client


@pytest.fixture(scope="module")
def manifests() -> Path:
    return Path(__file__).parent / "manifests"


@pytest.fixture
def ns(api: httpx.Client, request: pytest.FixtureRequest) -> str:
    """An empty namespace of the test's own, named after it."""
    return make_namespace(api, namespace_name(request.node.name))
