"""State storage: the `Storage` protocol and its backends (SQLite default, etcd v3)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from kybernetes.storage.interface import Storage

_ETCD_OPTIONS = {"cacert", "cert", "key", "timeout"}


def open_storage(url: str, *, ca_file: str | Path | None = None,
                 cert_file: str | Path | None = None,
                 key_file: str | Path | None = None) -> Storage:
    """A backend for a storage URL:

    - `sqlite:///path/state.db` (or a bare path): the embedded SQLite backend;
    - `etcd://h1:2379,h2:2379,h3:2379`: an etcd v3 cluster (port 2379 when left out).
      `etcds://...` speaks TLS. TLS files come as the keyword arguments or in the query,
      named as etcdctl's flags: `?cacert=/ca.crt&cert=/client.crt&key=/client.key`
      (either gives TLS); `timeout=<seconds>` bounds each request (default 5).
    """
    if url.startswith(("etcd://", "etcds://")):
        return _open_etcd(url, ca_file, cert_file, key_file)
    if ca_file is not None or cert_file is not None or key_file is not None:
        raise ValueError(f"etcd TLS files were given, but the storage {url!r} is not etcd: "
                         "expected etcd://HOST:PORT[,HOST:PORT...]")
    if url.startswith("sqlite://"):
        path = url.removeprefix("sqlite://")
    elif "://" in url:
        raise ValueError(f"unsupported storage URL {url!r}: expected sqlite://PATH or "
                         "etcd://HOST:PORT[,HOST:PORT...]")
    else:
        path = url
    from kybernetes.storage.sqlite import SQLiteStorage

    return SQLiteStorage(Path(path))


def _open_etcd(url: str, ca_file: str | Path | None, cert_file: str | Path | None,
               key_file: str | Path | None) -> Storage:
    from kybernetes.storage.etcd import EtcdStorage

    parts = urlsplit(url)
    query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
    unknown = set(query) - _ETCD_OPTIONS
    if unknown:
        raise ValueError(f"unknown etcd URL options {sorted(unknown)}: "
                         f"expected {sorted(_ETCD_OPTIONS)}")
    if parts.path not in ("", "/"):
        raise ValueError(f"etcd URL {url!r} has a path; expected etcd://HOST:PORT[,...]")
    timeout = float(query["timeout"]) if "timeout" in query else 5.0
    return EtcdStorage(parts.netloc, ca_file=ca_file or query.get("cacert"),
                       cert_file=cert_file or query.get("cert"),
                       key_file=key_file or query.get("key"),
                       tls=parts.scheme == "etcds", request_timeout=timeout)
