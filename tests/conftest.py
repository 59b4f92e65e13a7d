"""The order the suite's modules are handed to pytest-xdist's workers in.

`--dist loadfile` gives each worker whole modules, in collection order (pyproject's addopts
turn off xdist's own reordering, which puts modules with the most tests first and so left
the few single-test modules that take minutes for the end of the run, one worker busy with
each while the others had finished). Here the longest modules go first, then the other
end-to-end ones (real processes, seconds per test), then the unit tests, many short
modules that fill the workers' gaps until the end. Within a module the order is unchanged.
"""

from __future__ import annotations

import pytest

# The modules that take a minute or more of one worker, longest first (CI's --durations).
LONGEST = (
    "tests/chaos/test_chaos.py",
    "tests/e2e/test_python_client_suite.py",
    "tests/e2e/test_etcd_restart.py",
    "tests/e2e/test_fuzz.py",
    "tests/e2e/test_fuzz_anonymous.py",
    "tests/e2e/test_fuzz_second_half.py",
    "tests/e2e/test_kubelet.py",
    "tests/e2e/test_server_crash.py",
)
# Directories whose tests start real processes (servers, nodes, browsers).
PROCESSES = ("tests/e2e/", "tests/dashboard/", "tests/chaos/")


def _rank(nodeid: str) -> tuple[int, int]:
    path = nodeid.partition("::")[0]
    if path in LONGEST:
        return 0, LONGEST.index(path)
    return (1, 0) if path.startswith(PROCESSES) else (2, 0)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest modules first, then the other end-to-end ones, then the rest (a stable
    sort: the collection's order otherwise)."""
    items.sort(key=lambda item: _rank(item.nodeid))
