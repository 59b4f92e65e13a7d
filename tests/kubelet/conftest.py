"""Fixtures for kubelet tests: the in-process API server (fixture `apiserver`) and its
`ApiClient` from tests/apiserver/inprocess.py (a real ASGI app over SQLite in a temporary
directory), as the controller tests use them."""

from tests.apiserver.inprocess import api, controller_apiserver

__all__ = ["api", "controller_apiserver"]
