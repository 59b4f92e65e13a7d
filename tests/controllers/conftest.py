"""Fixtures: a real API server in this process (its ASGI app behind httpx's ASGI
transport, SQLite in a temporary directory), and an `ApiClient` for it.

Sync functions are driven directly against it: real finalizers, deletes and patches, no
watches (the informer stores are seeded by the tests, as upstream's controller tests do).
"""

from __future__ import annotations

import pytest

from kybernetes.client import ApiClient, SharedInformerFactory
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.discovery import Discovery
from tests.apiserver import inprocess
from tests.controllers.clock import Clock

# The in-process server (ASGI, no TLS, authorization and ServiceAccount admission off)
# and its client, shared with tests/netpol.
controller_apiserver = inprocess.controller_apiserver  # the fixture `apiserver`
api = inprocess.api


@pytest.fixture
def ctx(api: ApiClient) -> ControllerContext:
    """A controller context whose informers are never started: tests seed their stores."""
    return ControllerContext(client=api, informers=SharedInformerFactory(api),
                             discovery=Discovery(api))


@pytest.fixture
def clock() -> Clock:
    """A clock at NOW, for the controllers' `clock=` argument."""
    return Clock()
