"""Run a whole test inside a node's network namespace, as kind runs nodes in containers.

`inside(ns)` moves the calling thread into the namespace (setns(2) through libc; Python
3.11 has no os.setns) and back at the end. Everything the test then starts — `kyb server`
with its kubelet, kubectl, a registry — is forked from that thread and lives in the
namespace too, and the test's own sockets are made there: `127.0.0.1` is the node's
loopback, pod IPs are reachable through the node's bridge, and nothing routes out.

The node's address (`NODE_IP`, from TEST-NET-2, never routed anywhere) sits on the
namespace's `lo`.

The rest is what every real-node module (test_kubelet, test_dns, test_storage) sets up the
same way: the skip mark (`REAL_NODE`), the busybox image imported into the data dir
(`import_busybox`), `kyb server` with its kubelet started in a namespace of its own until the
node is Ready (`real_node`), what the kubelet leaves behind removed (`cleanup_runtime`), and a
fresh namespace with its default service account (`new_namespace`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from kybernetes.ingress.nginx import stop_stale
from tests.e2e.cluster import Kubectl, Server, find_kubectl, wait_until
from tests.kubelet import netns
from tests.kubelet.imagebuild import busybox_image, write_oci_archive
from tests.kubelet.netns import NetNS

CLONE_NEWNET = 0x40000000
NODE_IP = "198.51.100.7"

_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"setns: {os.strerror(errno)}")


def add_node_address(ns: NetNS, address: str = NODE_IP) -> None:
    """The node's address, on `lo` (dummy links need a kernel module not always there)."""
    ns.ip("addr", "add", f"{address}/32", "dev", "lo")


@contextlib.contextmanager
def inside(ns: NetNS) -> Iterator[None]:
    """The calling thread (and what it starts) in `ns` until the block ends."""
    original = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(ns.path, os.O_RDONLY)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(original)
    finally:
        os.close(target)
        os.close(original)


REAL_NODE = pytest.mark.skipif(
    bool(netns.available()) or shutil.which("runc") is None
    or not Path("/usr/lib/cni/bridge").exists(),
    reason="needs root, iproute2, runc and the CNI plugins")


def import_busybox(data: Path, image: str) -> None:
    """A busybox image built here, imported into the server's data dir as `image`."""
    archive = write_oci_archive(data / "busybox.tar",
                                {f"docker.io/library/{image}": busybox_image()})
    subprocess.run([sys.executable, "-m", "kybernetes.cli.main", "image", "import",
                    "--data-dir", str(data), str(archive)], check=True, capture_output=True)


def node_ready(kubectl: Kubectl, node: str) -> bool:
    result = kubectl.run("get", "node", node, "-o",
                         'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
                         check=False)
    return result.returncode == 0 and result.stdout.strip() == "True"


@contextlib.contextmanager
def real_node(data: Path, netns_prefix: str, node: str, extra_args: Sequence[str] = ()
              ) -> Iterator[tuple[Server, Kubectl]]:
    """`kyb server` with its kubelet as `node` at NODE_IP in a network namespace made here,
    once the node is Ready; the calling thread stays in the namespace until the block ends.
    At the end its pods are deleted, the server stopped, what the kubelet left behind
    removed and the namespace deleted."""
    with netns.netns(netns_prefix) as ns:
        add_node_address(ns)
        try:
            with inside(ns):
                server = Server(data, agent=True, extra_args=[
                    "--node-name", node, "--node-ip", NODE_IP, "--run-dir",
                    str(data / "run"), *extra_args])
                server.start()
                kubectl = Kubectl(server.kubeconfig, find_kubectl())
                try:
                    wait_until(lambda: node_ready(kubectl, node), "the node Ready")
                    yield server, kubectl
                    # Best effort: whatever is left, cleanup_runtime removes below. A
                    # second's grace: a container whose PID 1 ignores SIGTERM (`sleep`)
                    # would otherwise hold the teardown for the default 30 s; and no more
                    # than 20 s in all (some modules' pods outlast any wait here).
                    kubectl.run("delete", "pods", "--all", "--all-namespaces", "--wait=true",
                                "--grace-period=1", "--timeout=20s", check=False, timeout=60)
                finally:
                    server.stop()
        finally:
            # Outside the namespace: the runtime's worker threads, made here, live on in
            # this test process (a later test's runc would run in a thread left in `ns`).
            cleanup_runtime(data)


def cleanup_runtime(data: Path) -> None:
    """Whatever the kubelet left running (containers outlive it by design), the ingress's
    nginx if its `kyb` was killed, and what the kubelet mounted (pod volumes such as the
    projected service-account token are tmpfs)."""
    from kybernetes.kubelet.runtime.runc.runtime import RuncRuntime

    async def run() -> None:
        runtime = RuncRuntime(data / "agent" / "containers", data / "run" / "runc")
        for sandbox in await runtime.list_pod_sandboxes():
            await runtime.stop_pod_sandbox(sandbox.id)
            await runtime.remove_pod_sandbox(sandbox.id)

    asyncio.run(run())
    stop_stale(data / "agent" / "ingress" / "nginx")
    root = str(data)
    mounted = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    for target in sorted((m for m in mounted if m.startswith(root)), reverse=True):
        subprocess.run(["umount", "-l", target], check=False, capture_output=True)


def new_namespace(kubectl: Kubectl, prefix: str) -> str:
    """A fresh namespace, once its default service account is there: pods need it (after
    a restart, the controller manager first waits out the old lease), as upstream's e2e
    framework waits for it."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", name)
    wait_until(lambda: kubectl.run("get", "serviceaccount", "default", "-n", name,
                                   check=False).returncode == 0,
               f"the default service account of {name}")
    return name
