"""Fixtures for end-to-end tests: one `kyb server` per module, kubectl against it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cluster import Kubectl, Server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("kyb"))
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def kubectl(server: Server) -> Kubectl:
    return Kubectl(server.kubeconfig)


@pytest.fixture
def manifests() -> Path:
    return Path(__file__).parent / "manifests"
