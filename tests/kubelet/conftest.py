"""Fixtures for kubelet tests: the in-process API server and its `ApiClient` from
tests/controllers/conftest.py (a real ASGI app over SQLite in a temporary directory)."""

from tests.controllers.conftest import api, apiserver

__all__ = ["api", "apiserver"]
