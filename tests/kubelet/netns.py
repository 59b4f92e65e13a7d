"""Named network namespaces for tests (`ip netns`), so nothing touches the host's own.

A test makes a "node" namespace (only `lo` up, no route out) to run CNI plugins, a
kubelet or a whole `kyb server` in, and pod namespaces beside it; `netns(...)` deletes
them when the block ends, also on failure. Requires root and iproute2.

    with netns("kyb-test-node") as node:
        add_node_interface(node, "192.168.251.2/24")   # a kind-like eth0, leading nowhere
        node.run("ip", "addr")                 # ip netns exec <name> ip addr
        node.ip("link", "show")                # ip -n <name> link show
        with node.popen("busybox", "nc", "-l", "-p", "80") as server: ...
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

NETNS_DIR = "/run/netns"


def available() -> str:
    """Why namespaces cannot be made here ("" when they can)."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2 (ip) is not installed"
    return ""


@dataclass(frozen=True)
class NetNS:
    name: str

    @property
    def path(self) -> str:
        return f"{NETNS_DIR}/{self.name}"

    def exec_argv(self, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]

    def run(self, *argv: str, check: bool = True, timeout: float = 30.0,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a command inside the namespace and wait for it."""
        return subprocess.run(self.exec_argv(*argv), check=check, capture_output=True,
                              text=True, timeout=timeout, input=input)

    def popen(self, *argv: str, **kwargs: Any) -> subprocess.Popen[str]:
        """Start a command inside the namespace (a server, say); the caller ends it."""
        proc: subprocess.Popen[str] = subprocess.Popen(self.exec_argv(*argv), text=True,
                                                       **kwargs)
        return proc

    def ip(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`ip -n <name> ...`."""
        return subprocess.run(["ip", "-n", self.name, *args], check=check,
                              capture_output=True, text=True, timeout=30)

    def links(self) -> list[str]:
        out = self.ip("-o", "link", "show").stdout
        return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]

    def addresses(self, dev: str, family: str = "-4") -> list[str]:
        """The addresses (with prefix) on `dev`."""
        out = self.ip(family, "-o", "addr", "show", "dev", dev).stdout
        return [line.split()[3] for line in out.splitlines()]

    def exists(self) -> bool:
        return os.path.exists(self.path)


def create(prefix: str = "kyb-test") -> NetNS:
    """A new namespace named `<prefix>-<random>` with `lo` up and nothing else."""
    ns = NetNS(f"{prefix}-{secrets.token_hex(4)}")
    subprocess.run(["ip", "netns", "add", ns.name], check=True, capture_output=True)
    try:
        ns.ip("link", "set", "lo", "up")
    except BaseException:
        delete(ns)
        raise
    return ns


def delete(ns: NetNS) -> None:
    """Delete the namespace (its interfaces, a bridge, veths and iptables rules go with it).
    Processes still inside keep it alive until they exit, so kill those first."""
    pids = subprocess.run(["ip", "netns", "pids", ns.name], capture_output=True, text=True)
    for pid in pids.stdout.split():
        with suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    subprocess.run(["ip", "netns", "delete", ns.name], capture_output=True)


@contextmanager
def netns(prefix: str = "kyb-test") -> Iterator[NetNS]:
    ns = create(prefix)
    try:
        yield ns
    finally:
        delete(ns)


def add_node_interface(ns: NetNS, address: str, name: str = "eth0") -> None:
    """Give a node namespace an `eth0` with `address` (CIDR form), as a kind node has:
    a veth whose peer stays in the same namespace, so the address is real and local but
    nothing leads out."""
    ns.ip("link", "add", name, "type", "veth", "peer", "name", f"{name}-peer")
    ns.ip("addr", "add", address, "dev", name)
    ns.ip("link", "set", name, "up")
    ns.ip("link", "set", f"{name}-peer", "up")


@contextmanager
def namespaces(*prefixes: str) -> Iterator[Sequence[NetNS]]:
    """Several namespaces at once, all deleted at the end."""
    made: list[NetNS] = []
    try:
        for prefix in prefixes:
            made.append(create(prefix))
        yield made
    finally:
        for ns in reversed(made):
            delete(ns)


_UPPERCASE_ECHO = """
import socket
s = socket.create_server(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
c, _ = s.accept()
c.sendall(c.recv(1024).upper())
c.close()
"""


@contextmanager
def with_echo_server(prefix: str) -> Iterator[tuple[NetNS, int]]:
    """A namespace with a one-shot server on its 127.0.0.1 that answers what it gets
    uppercased, and the server's port (a pod to dial into, as the kubelet does)."""
    with netns(prefix) as ns:
        server = ns.popen(sys.executable, "-c", _UPPERCASE_ECHO, stdout=subprocess.PIPE)
        try:
            assert server.stdout is not None
            yield ns, int(server.stdout.readline())
        finally:
            server.kill()
            server.wait()
