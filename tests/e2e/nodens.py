"""Run a whole test inside a node's network namespace, as kind runs nodes in containers.

`inside(ns)` moves the calling thread into the namespace (setns(2) through libc; Python
3.11 has no os.setns) and back at the end. Everything the test then starts — `kyb server`
with its kubelet, kubectl, a registry — is forked from that thread and lives in the
namespace too, and the test's own sockets are made there: `127.0.0.1` is the node's
loopback, pod IPs are reachable through the node's bridge, and nothing routes out.

The node's address (`NODE_IP`, from TEST-NET-2, never routed anywhere) sits on the
namespace's `lo`.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Iterator

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
