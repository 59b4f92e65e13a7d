"""Where the embedded etcd member lives and listens: its name, ports, URLs and files.

Its data is `<data-dir>/db/etcd` (as k3s'), its certificates `<data-dir>/tls/etcd/`, its
output `<data-dir>/db/etcd.log`. What the other commands of the same data dir need to reach
it (`kyb etcd-snapshot`, a restart without the flags) is kept in `<data-dir>/db/etcd.json`:
the member's name, which stays the same across restarts (`<hostname>-<8 hex digits>`, unique
even for several servers on one machine), and its address and ports.
"""

from __future__ import annotations

import json
import secrets
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

from kybernetes.api.keyfiles import write_atomic

DEFAULT_CLIENT_PORT = 2379
DEFAULT_PEER_PORT = 2380
_STATE_FILE = "etcd.json"


def db_dir(data_dir: Path) -> Path:
    return data_dir / "db"


def etcd_dir(data_dir: Path) -> Path:
    return db_dir(data_dir) / "etcd"


def has_member(data_dir: Path) -> bool:
    """Whether the data dir holds an etcd member that has run (its write-ahead log)."""
    return (etcd_dir(data_dir) / "member" / "wal").is_dir()


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


@dataclass(frozen=True)
class EtcdConfig:
    data_dir: Path
    name: str
    advertise_address: str = "127.0.0.1"
    client_port: int = DEFAULT_CLIENT_PORT
    peer_port: int = DEFAULT_PEER_PORT

    @property
    def etcd_dir(self) -> Path:
        return etcd_dir(self.data_dir)

    @property
    def tls_dir(self) -> Path:
        return self.data_dir / "tls" / "etcd"

    @property
    def ca_cert(self) -> Path:
        return self.data_dir / "tls" / "ca.crt"

    def cert(self, kind: str) -> tuple[Path, Path]:
        """`(cert, key)` of `server`, `peer` or `client`."""
        return self.tls_dir / f"{kind}.crt", self.tls_dir / f"{kind}.key"

    @property
    def log_file(self) -> Path:
        return db_dir(self.data_dir) / "etcd.log"

    @property
    def client_url(self) -> str:
        return f"https://{_host(self.advertise_address)}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"https://{_host(self.advertise_address)}:{self.peer_port}"

    @property
    def local_endpoint(self) -> str:
        """Where this machine's API server and tools reach the member."""
        return f"127.0.0.1:{self.client_port}"

    @property
    def listen_client_urls(self) -> str:
        urls = [f"https://127.0.0.1:{self.client_port}"]
        if self.advertise_address not in ("127.0.0.1", "localhost"):
            urls.append(self.client_url)
        return ",".join(urls)

    def save(self) -> None:
        state = {k: v for k, v in asdict(self).items() if k != "data_dir"}
        path = db_dir(self.data_dir) / _STATE_FILE
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomic(path, (json.dumps(state, indent=2) + "\n").encode(), 0o600)


def load(data_dir: Path) -> EtcdConfig | None:
    """The member recorded in the data dir by a server that ran it, if any."""
    try:
        state = json.loads((db_dir(data_dir) / _STATE_FILE).read_text())
        return EtcdConfig(data_dir=data_dir, name=str(state["name"]),
                          advertise_address=str(state["advertise_address"]),
                          client_port=int(state["client_port"]),
                          peer_port=int(state["peer_port"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def configure(data_dir: Path, advertise_address: str, client_port: int | None,
              peer_port: int | None) -> EtcdConfig:
    """The member of this data dir: its recorded name (a new one the first time), with the
    ports given, else the recorded ones, else etcd's defaults."""
    known = load(data_dir)
    return EtcdConfig(
        data_dir=data_dir,
        name=known.name if known else f"{socket.gethostname()}-{secrets.token_hex(4)}",
        advertise_address=advertise_address,
        client_port=client_port or (known.client_port if known else DEFAULT_CLIENT_PORT),
        peer_port=peer_port or (known.peer_port if known else DEFAULT_PEER_PORT))
