"""Real etcd processes for tests: a 1- or 3-member cluster on loopback ports.

Each member gets two free ports on 127.0.0.1 (client, peer) and its own data directory under
the given base directory; its output goes to `<data dir>.log`. `start()` returns once every
member answers `/health` (so the cluster has a leader). `kill(i)` is kill -9, `restart(i)`
brings the member back on the same ports and data, as a crashed machine would come back.
With `tls`, clients must present a certificate signed by the given CA (as kubeadm's etcd).

    with EtcdCluster(tmp_path, size=3) as cluster:
        storage = EtcdStorage(cluster.endpoints)
        cluster.kill(0)
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx


def etcd_binary() -> str | None:
    """The `etcd` server binary (Debian's etcd-server puts it in /usr/bin), if installed."""
    return shutil.which("etcd")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class EtcdTLS:
    """PEM files: the CA both sides trust, the members' serving pair (SAN 127.0.0.1), and a
    client pair for the tests themselves."""

    ca_file: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


@dataclass
class EtcdMember:
    name: str
    client_port: int
    peer_port: int
    data_dir: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class EtcdCluster:
    def __init__(self, base_dir: Path, size: int = 1, *, tls: EtcdTLS | None = None,
                 progress_notify_interval: str | None = None,
                 extra_args: tuple[str, ...] = ()) -> None:
        binary = etcd_binary()
        if binary is None:
            raise RuntimeError("etcd is not installed (apt-get install etcd-server)")
        self.binary = binary
        self.base_dir = Path(base_dir)
        self.tls = tls
        self.progress_notify_interval = progress_notify_interval
        self.extra_args = extra_args
        self.members = [EtcdMember(f"m{i}", free_port(), free_port(),
                                   self.base_dir / f"etcd-m{i}") for i in range(size)]
        self.token = f"kyb-test-{os.getpid()}-{id(self)}"

    # -- addresses ---------------------------------------------------------------------

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def endpoints(self) -> list[str]:
        """`127.0.0.1:port` of every member, for `EtcdStorage`."""
        return [m.address for m in self.members]

    @property
    def url(self) -> str:
        """The `--storage` URL (without TLS options)."""
        return "etcd://" + ",".join(self.endpoints)

    # -- processes ---------------------------------------------------------------------

    def _command(self, member: EtcdMember) -> list[str]:
        peers = ",".join(f"{m.name}=http://127.0.0.1:{m.peer_port}" for m in self.members)
        client_url = f"{self.scheme}://{member.address}"
        args = [
            self.binary, "--name", member.name, "--data-dir", str(member.data_dir),
            "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
            "--listen-peer-urls", f"http://127.0.0.1:{member.peer_port}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{member.peer_port}",
            "--initial-cluster", peers, "--initial-cluster-token", self.token,
            "--initial-cluster-state", "new",
            "--listen-metrics-urls", "",
        ]
        if self.tls is not None:
            args += ["--cert-file", str(self.tls.server_cert),
                     "--key-file", str(self.tls.server_key),
                     "--trusted-ca-file", str(self.tls.ca_file), "--client-cert-auth"]
        if self.progress_notify_interval:
            args += ["--experimental-watch-progress-notify-interval",
                     self.progress_notify_interval]
        return args + list(self.extra_args)

    def _spawn(self, member: EtcdMember) -> None:
        member.data_dir.parent.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD")}
        with open(f"{member.data_dir}.log", "ab") as log:
            member.process = subprocess.Popen(
                self._command(member), stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, env=env, start_new_session=True)

    def start(self, timeout: float = 30.0) -> EtcdCluster:
        for member in self.members:
            if not member.running:
                self._spawn(member)
        self.wait_healthy(timeout=timeout)
        return self

    def restart(self, index: int, timeout: float = 30.0) -> None:
        """Start a stopped or killed member again (same ports, same data)."""
        member = self.members[index]
        if not member.running:
            self._spawn(member)
        self.wait_healthy([index], timeout=timeout)

    def kill(self, index: int) -> None:
        """kill -9 one member, as a crash would."""
        member = self.members[index]
        if member.process is not None and member.process.poll() is None:
            member.process.send_signal(signal.SIGKILL)
            member.process.wait()

    def stop(self, *, graceful: bool = False) -> None:
        """End every member: kill -9 by default (etcd is crash-safe, and a graceful stop
        of a multi-member cluster spends seconds handing over leadership), or SIGTERM."""
        for member in self.members:
            if member.process is not None and member.process.poll() is None:
                member.process.send_signal(signal.SIGTERM if graceful else signal.SIGKILL)
        for member in self.members:
            if member.process is None:
                continue
            try:
                member.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                member.process.kill()
                member.process.wait()

    def __enter__(self) -> EtcdCluster:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- health ------------------------------------------------------------------------

    def _client(self) -> httpx.Client:
        if self.tls is None:
            return httpx.Client(timeout=2.0)
        context = ssl.create_default_context(cafile=str(self.tls.ca_file))
        context.load_cert_chain(str(self.tls.client_cert), str(self.tls.client_key))
        return httpx.Client(timeout=2.0, verify=context)

    def healthy(self, index: int) -> bool:
        member = self.members[index]
        if not member.running:
            return False
        with self._client() as client:
            try:
                response = client.get(f"{self.scheme}://{member.address}/health")
            except httpx.HTTPError:
                return False
        return response.status_code == 200 and response.json().get("health") == "true"

    def leader(self) -> int | None:
        """The index of the member that is leader now (by its `etcd_server_is_leader`)."""
        with self._client() as client:
            for i, member in enumerate(self.members):
                if not member.running:
                    continue
                try:
                    metrics = client.get(f"{self.scheme}://{member.address}/metrics").text
                except httpx.HTTPError:
                    continue
                if "\netcd_server_is_leader 1" in metrics:
                    return i
        return None

    def wait_healthy(self, indices: list[int] | None = None, timeout: float = 30.0) -> None:
        """Wait until the given members (all by default) serve and see a leader."""
        wanted = list(range(len(self.members))) if indices is None else indices
        deadline = time.monotonic() + timeout
        while True:
            for i in wanted:
                process = self.members[i].process
                if process is not None and process.poll() is not None:
                    raise RuntimeError(f"etcd member {self.members[i].name} exited with "
                                       f"{process.returncode}; see {self.members[i].data_dir}.log")
            if all(self.healthy(i) for i in wanted):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"etcd members {wanted} not healthy after {timeout}s")
            time.sleep(0.1)
