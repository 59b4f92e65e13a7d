"""Fuzzing every operation of the served OpenAPI with no credentials at all (issues 10,
23): against a real `kyb apiserver`, every generated request is refused (401/403 or a
4xx before authorization), none writes anything, no traceback reaches the server's log.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from kybernetes.apiserver.pki import Pki, ssl_client_context
from tests.e2e.cluster import Server
from tests.e2e.fuzzing import fuzz, fuzzed_apiserver, storage_revision, wrote
from tests.e2e.test_fuzz import SEED

pytestmark = pytest.mark.e2e

PUBLIC_INFO = {("GET", path) for path in (
    "/healthz", "/livez", "/readyz", "/version", "/version/")}


@pytest.fixture(scope="module")
def apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with fuzzed_apiserver(tmp_path_factory.mktemp("fuzz-anonymous")) as server:
        yield server


def _anonymous(data_dir: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(Pki.at(data_dir).ca_cert))


def test_fuzzing_without_credentials_writes_nothing(apiserver: Server) -> None:
    admin = ssl_client_context(Pki.at(apiserver.data_dir))
    with apiserver.client() as client:
        before = storage_revision(client)
    result = fuzz(apiserver.url, admin, _anonymous(apiserver.data_dir), examples=1,
                  seed=SEED)
    print(f"anonymous: {result.requests} requests, codes "
          f"{dict(sorted(result.codes.items()))}")
    assert not result.failures, result.failures[:20]
    # Only what upstream's system:public-info-viewer grants everyone is answered.
    assert {(m, url.partition("?")[0]) for m, url in result.successes} <= PUBLIC_INFO
    assert set(result.codes) <= {200, 400, 401, 403, 404, 405, 406, 413, 415, 422}
    with apiserver.client() as client:
        assert not wrote(client, before, storage_revision(client))
    assert "Traceback" not in (apiserver.data_dir / "server.log").read_text()
