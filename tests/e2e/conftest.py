"""Fixtures for end-to-end tests: one `kyb server` per module, kubectl against it.

Every module runs twice: on a server with the embedded SQLite storage, and on one with
`--storage etcd://...` (a single-member etcd started once for the session on a loopback
port, emptied before each module's server starts, so that each module begins from a fresh
state as on SQLite). `KYB_E2E_STORAGE=sqlite` (or `etcd`) runs one backend only; without
the `etcd` binary the etcd runs are skipped, saying why. The backend appears in the test's
node id (`test_x[etcd]`); `request.node.name` stays the test's own name, since tests name
their objects after it.

A module may set `SERVER_ARGS` (extra `kyb server` flags) for its servers. A module whose
subject does not depend on the storage (a controller's logic, a client library, metrics)
sets `ANY_BACKEND = True` and runs on the first backend wanted only (SQLite by default);
modules about what the storage does (watches, lists and their resourceVersions, writes
and their guards, CRDs, durability) keep both.

At the end of each module the server's `/metrics` is scraped: a request answered with a 5xx
anywhere in the module fails it (as an error in the teardown of its last test).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.cluster import (
    Kubectl,
    Server,
    checked_server,
    etcd_storage_args,
    make_namespace,
    namespace_name,
    wait_until,
    wipe_etcd,
)
from tests.etcd_cluster import EtcdCluster, etcd_binary

BACKENDS = ("sqlite", "etcd")
NO_ETCD = "etcd binary not found: install Debian's etcd-server to run the e2e suite on etcd"


def _backends() -> list[str]:
    wanted = [b.strip() for b in os.environ.get("KYB_E2E_STORAGE", ",".join(BACKENDS))
              .split(",") if b.strip()]
    unknown = set(wanted) - set(BACKENDS)
    if unknown:
        raise pytest.UsageError(f"KYB_E2E_STORAGE: unknown backends {sorted(unknown)}; "
                                f"expected some of {list(BACKENDS)}")
    return wanted


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse a module here without the `e2e` marker; run an `ANY_BACKEND` module on one
    backend; keep the backend out of `request.node.name` (it stays in the node id)."""
    _check_e2e_marker(items)
    first = _backends()[0]
    extra = [item for item in items if isinstance(item, pytest.Function)
             and _backend(item) not in (None, first) and getattr(item.module, "ANY_BACKEND", False)]
    if extra:
        config.hook.pytest_deselected(items=extra)
        dropped = set(map(id, extra))
        items[:] = [item for item in items if id(item) not in dropped]
    for item in items:
        backend = _backend(item)
        if not isinstance(item, pytest.Function) or backend is None:
            continue
        ident = item.callspec.id
        if ident == backend:
            rest = ""
        elif ident.endswith(f"-{backend}"):
            rest = ident.removesuffix(f"-{backend}")
        elif ident.startswith(f"{backend}-"):
            rest = ident.removeprefix(f"{backend}-")
        else:
            continue
        item.name = f"{item.originalname}[{rest}]" if rest else item.originalname


def _backend(item: pytest.Item) -> str | None:
    """The storage backend of a test on the `server` fixture (None: not on it)."""
    callspec = getattr(item, "callspec", None)
    if not isinstance(item, pytest.Function) or callspec is None \
            or "server" not in callspec.params:
        return None
    return str(callspec.params["server"])


def _check_e2e_marker(items: list[pytest.Item]) -> None:
    """Every test here starts real processes, so `pytest -m "not e2e"` (the fast lane)
    must deselect it: a module without `pytestmark = pytest.mark.e2e` fails collection."""
    here = Path(__file__).parent
    unmarked = sorted({str(item.path.relative_to(here)) for item in items
                       if item.path.is_relative_to(here)
                       and item.get_closest_marker("e2e") is None})
    if unmarked:
        raise pytest.UsageError(f"tests/e2e modules without the e2e marker (pytestmark = "
                                f"pytest.mark.e2e): {', '.join(unmarked)}")


@pytest.fixture(scope="session")
def e2e_etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdCluster]:
    """One etcd member on loopback for the whole session's etcd-backed servers."""
    if etcd_binary() is None:
        pytest.skip(NO_ETCD)
    with EtcdCluster(tmp_path_factory.mktemp("e2e-etcd"), size=1) as cluster:
        yield cluster


@pytest.fixture(scope="module", params=_backends())
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Server]:
    # A module may add flags of its own (`SERVER_ARGS`), and count the 5xx answers its
    # tests cause on purpose (`EXPECTED_5XX`: a Counter of (verb, code)).
    extra: list[str] = list(getattr(request.module, "SERVER_ARGS", ()))
    if request.param == "etcd":
        cluster: EtcdCluster = request.getfixturevalue("e2e_etcd")
        wipe_etcd(cluster.endpoints[0])
        extra += etcd_storage_args(cluster.endpoints)
    expected: Counter[tuple[str, int]] | None = getattr(request.module, "EXPECTED_5XX", None)
    if expected is not None:
        expected.clear()
    with checked_server(tmp_path_factory.mktemp("kyb"), extra, expected) as running:
        yield running


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
    """A namespace of the test's own, named after it, once its `default` service account
    exists: pods need it (ServiceAccount admission), so upstream's e2e framework waits for
    it too."""
    name = make_namespace(api, namespace_name(request.node.name))
    wait_until(lambda: api.get(f"/api/v1/namespaces/{name}/serviceaccounts/default")
               .status_code == 200, f"the default service account of {name}")
    return name
