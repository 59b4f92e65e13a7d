"""A pytest plugin for running the Python client's own e2e suites (third_party/) unmodified.

The suites import themselves as `kubernetes.e2e_test` and `kubernetes.aio.e2e_test`, packages
the `kubernetes` wheel does not ship: run from a copy of the suite tree (they read and write
files relative to the working directory), the plugin adds the copy's packages to the
installed ones' paths. Tests skipped here say why: a race in the suite's own code.
"""

from __future__ import annotations

from pathlib import Path

import kubernetes
import kubernetes.aio
import pytest

SUITE = Path(__file__).resolve().parents[2] / "third_party" / "kubernetes-client-python"

# node id (relative to SUITE) -> why it cannot pass reliably
SKIPPED: dict[str, str] = {
    "kubernetes/e2e_test/test_informer.py::TestSharedInformerE2E::"
    "test_cache_populated_after_start": (
        "the client's race, not the server's: the test stops its informer as soon as the list "
        "is cached, and when that is before the watch's response headers arrived, "
        "Watch.stop() can neither close the socket nor end the loop, so the thread waits for "
        "ever (seen on a loaded machine)"),
}


def pytest_configure(config: pytest.Config) -> None:
    copy = Path.cwd() / "kubernetes"
    kubernetes.__path__.append(str(copy))
    kubernetes.aio.__path__.append(str(copy / "aio"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        reason = SKIPPED.get(item.nodeid)
        if reason is not None:
            item.add_marker(pytest.mark.skip(reason=reason))
