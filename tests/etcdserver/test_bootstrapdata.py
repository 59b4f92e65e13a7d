"""The sealed bootstrap data (etcdserver/bootstrapdata.py): only the token opens it, and a
data dir of another cluster is not overwritten."""

from __future__ import annotations

from pathlib import Path

import pytest

from kybernetes.api import jointoken
from kybernetes.etcdserver.bootstrapdata import (
    BootstrapData,
    BootstrapError,
    install,
    seal,
    unseal,
)

TOKEN = jointoken.parse("abcdef.0123456789abcdef")
DATA = BootstrapData({"ca.crt": b"CA", "ca.key": b"KEY", "service-account.key": b"SA"},
                     ("https://127.0.0.1:2379",))


def test_the_token_opens_what_it_sealed() -> None:
    sealed = seal(TOKEN, DATA.encode())
    assert b"KEY" not in sealed
    assert BootstrapData.decode(unseal(TOKEN, sealed)) == DATA
    assert seal(TOKEN, DATA.encode()) != sealed  # a fresh salt and nonce each time


def test_another_token_does_not() -> None:
    sealed = seal(TOKEN, DATA.encode())
    with pytest.raises(BootstrapError, match="not sealed with this token"):
        unseal(jointoken.parse("abcdef.0123456789abcdee"), sealed)


def test_install_writes_the_files_once_and_refuses_another_clusters(tmp_path: Path) -> None:
    install(tmp_path, DATA)
    assert (tmp_path / "tls" / "ca.key").read_bytes() == b"KEY"
    assert (tmp_path / "tls" / "ca.key").stat().st_mode & 0o777 == 0o600
    install(tmp_path, DATA)  # the same again: fine
    other = BootstrapData({**DATA.files, "ca.crt": b"OTHER"}, DATA.etcd_endpoints)
    with pytest.raises(BootstrapError, match="another cluster"):
        install(tmp_path, other)
