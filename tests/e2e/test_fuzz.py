"""Fuzzing every operation of the served OpenAPI (issues 10, 23, 24): generated requests,
as the cluster admin and with no credentials at all, against a real `kyb apiserver`: no
5xx, no broken HTTP, no write by a refused request, no traceback in the server's log, and
the anonymous pass writes nothing at all. Bounded and seeded for CI; bench/fuzz.py runs
longer.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from kybernetes.apiserver.pki import Pki, ssl_client_context
from tests.e2e.cluster import Server
from tests.e2e.fuzzing import fuzz, storage_revision

pytestmark = pytest.mark.e2e

SEED = 20261207


@pytest.fixture(scope="module")
def apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(tmp_path_factory.mktemp("fuzz"), command="apiserver")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _anonymous(data_dir: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(Pki.at(data_dir).ca_cert))


def test_fuzzing_as_admin_finds_no_server_error(apiserver: Server) -> None:
    admin = ssl_client_context(Pki.at(apiserver.data_dir))
    result = fuzz(apiserver.url, admin, admin, examples=2, seed=SEED)
    print(f"admin: {result.requests} requests, codes {dict(sorted(result.codes.items()))}")
    assert result.requests > 1000
    assert not result.failures, result.failures[:20]
    with apiserver.client() as client:
        assert client.get("/readyz").status_code == 200
    assert "Traceback" not in (apiserver.data_dir / "server.log").read_text()


def test_fuzzing_without_credentials_writes_nothing(apiserver: Server) -> None:
    admin = ssl_client_context(Pki.at(apiserver.data_dir))
    with apiserver.client() as client:
        before = storage_revision(client)
    result = fuzz(apiserver.url, admin, _anonymous(apiserver.data_dir), examples=1,
                  seed=SEED)
    print(f"anonymous: {result.requests} requests, codes "
          f"{dict(sorted(result.codes.items()))}")
    assert not result.failures, result.failures[:20]
    assert set(result.codes) <= {400, 401, 403, 404, 405, 406, 413, 415, 422}
    with apiserver.client() as client:
        assert storage_revision(client) == before
    assert "Traceback" not in (apiserver.data_dir / "server.log").read_text()
