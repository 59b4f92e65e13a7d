"""The etcd member as a child process: Debian's `etcd` binary, run with the member's TLS,
URLs and data dir (config.py), its output appended to `<data-dir>/db/etcd.log`.

`run` starts it and returns only when it ends (raising, as a crash is an error) or is
cancelled (it is then stopped with SIGTERM, SIGKILL after a grace period); `kyb server`
runs it supervised, restarting it when it dies. The child gets SIGKILL when the `kyb`
process dies (PR_SET_PDEATHSIG), so a killed server never leaves a member running
without its API server. `healthy` asks the member for a linearizable read, which needs a
leader (what etcd's own `/health` checks).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import shutil
import signal
from dataclasses import dataclass

import grpc  # type: ignore[import-untyped]
from aetcd import rpc  # type: ignore[import-untyped]

from kybernetes.etcdserver import client
from kybernetes.etcdserver.config import EtcdConfig

ETCD_BINARY = "etcd"
_STOP_GRACE = 10.0
_PR_SET_PDEATHSIG = 1


class EtcdExited(RuntimeError):
    """The member's process ended on its own."""


def find_binary() -> str:
    found = shutil.which(ETCD_BINARY)
    if found is None:
        raise FileNotFoundError("no etcd binary on PATH (Debian: apt-get install etcd-server)")
    return found


@dataclass(frozen=True)
class Bootstrap:
    """How a member without data starts: as the first of a new cluster (`initial_cluster`
    is itself), as a member joining an existing one, or, with `force_new_cluster`, from
    existing data as a single-member cluster (etcd's --force-new-cluster)."""

    initial_cluster: str = ""
    existing: bool = False
    force_new_cluster: bool = False


def command(config: EtcdConfig, bootstrap: Bootstrap) -> list[str]:
    server_cert, server_key = config.cert("server")
    peer_cert, peer_key = config.cert("peer")
    args = [
        find_binary(), "--name", config.name, "--data-dir", str(config.etcd_dir),
        "--listen-client-urls", config.listen_client_urls,
        "--advertise-client-urls", config.client_url,
        "--listen-peer-urls", config.peer_url,
        "--initial-advertise-peer-urls", config.peer_url,
        "--initial-cluster", bootstrap.initial_cluster or f"{config.name}={config.peer_url}",
        "--initial-cluster-state", "existing" if bootstrap.existing else "new",
        "--cert-file", str(server_cert), "--key-file", str(server_key),
        "--trusted-ca-file", str(config.ca_cert), "--client-cert-auth",
        "--peer-cert-file", str(peer_cert), "--peer-key-file", str(peer_key),
        "--peer-trusted-ca-file", str(config.ca_cert), "--peer-client-cert-auth",
        "--snapshot-count", "10000",  # k3s': a smaller raft log in memory
        "--logger", "zap", "--log-outputs", "stderr",
    ]
    if bootstrap.force_new_cluster:
        args.append("--force-new-cluster")
    return args


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


async def run(config: EtcdConfig, bootstrap: Bootstrap) -> None:
    """Run the member until it exits (EtcdExited) or the task is cancelled (stopped)."""
    config.etcd_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD")}
    with config.log_file.open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            *command(config, bootstrap), stdin=asyncio.subprocess.DEVNULL, stdout=log,
            stderr=asyncio.subprocess.STDOUT, env=env, preexec_fn=_die_with_parent)
    try:
        code = await process.wait()
    except asyncio.CancelledError:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(asyncio.shield(process.wait()), _STOP_GRACE)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
        raise
    raise EtcdExited(f"etcd exited with status {code}; see {config.log_file}")


async def healthy(config: EtcdConfig) -> bool:
    """Whether the local member answers a linearizable read (it has a leader)."""
    try:
        async with client.connect(config, [config.local_endpoint]) as channel:
            await rpc.KVStub(channel).Range(rpc.RangeRequest(key=b"health", count_only=True),
                                            timeout=5)
    except (client.EtcdClientError, grpc.aio.AioRpcError, OSError):
        return False
    return True


async def wait_healthy(config: EtcdConfig, running: asyncio.Task[None], within: float
                       ) -> None:
    """Until the member is healthy; raises when `running` ends first or after `within`
    seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await healthy(config):
        if running.done():
            running.result()
            raise EtcdExited(f"etcd ended; see {config.log_file}")
        if loop.time() > deadline:
            raise TimeoutError(f"etcd not healthy after {within:.0f}s; see {config.log_file}")
        await asyncio.sleep(0.2)
