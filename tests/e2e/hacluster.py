"""Three `kyb server`s on the embedded etcd, each in a network namespace, as machines on a LAN.

What tests/e2e/test_ha_failover.py and bench/failover.py share: a hub namespace with a
bridge (198.51.100.1/24), a veth from each other namespace to it (`lan`), the servers at
198.51.100.11-13 (TEST-NET-2) on one port as real servers would be (`HaServer`, started in
its own namespace), and their formation from the README's HA commands (`form`): the first
with `--cluster-init`, the two others joining it with `--server URL --token T`. One
namespace would not do: etcd checks a peer's certificate against the connection's source
address, which on a shared `lo` is the destination's.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.e2e.cluster import Server, free_port
from tests.e2e.nodens import inside
from tests.kubelet import netns

ADDRESSES = ["198.51.100.11", "198.51.100.12", "198.51.100.13"]
PORT = 6443
BRIDGE = "ha-br"
_BECAME_LEADER = re.compile(rb"became leader at term (\d+)")


@dataclass
class HaServer(Server):
    address: str = "127.0.0.1"
    port: int = PORT
    # The namespace it runs in (started from a thread inside it); None: the caller's.
    namespace: netns.NetNS | None = None

    @property
    def url(self) -> str:
        return f"https://{self.address}:{PORT}"

    def start(self, timeout: float = 60) -> None:
        with inside(self.namespace) if self.namespace else contextlib.nullcontext():
            super().start(timeout)


def ha_server(data_dir: Path, address: str, name: str, namespace: netns.NetNS,
              *flags: str) -> HaServer:
    """A server at `address` in `namespace`, with etcd ports of its own and no metrics
    ports."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return HaServer(data_dir, address=address, namespace=namespace, extra_args=[
        "--bind-address", address, "--advertise-address", address, "--node-name", name,
        "--etcd-client-port", str(free_port()), "--etcd-peer-port", str(free_port()),
        "--controller-manager-metrics-bind-address", "",
        "--scheduler-metrics-bind-address", "", "--disable-metrics-server", *flags])


def _attach(hub: netns.NetNS, ns: netns.NetNS, address: str, index: int) -> None:
    """`eth0` of `ns` at `address`/24, its peer on the hub's bridge."""
    hub.ip("link", "add", f"ha-port{index}", "type", "veth", "peer", "name", "eth0",
           "netns", ns.name)
    hub.ip("link", "set", f"ha-port{index}", "master", BRIDGE, "up")
    ns.ip("addr", "add", f"{address}/24", "dev", "eth0")
    ns.ip("link", "set", "eth0", "up")


@contextlib.contextmanager
def lan(hub_prefix: str, spokes: Sequence[tuple[str, str]]
        ) -> Iterator[tuple[netns.NetNS, list[netns.NetNS]]]:
    """The hub and one namespace per (prefix, address) of `spokes`, wired to the hub's
    bridge; all deleted at the end."""
    with netns.namespaces(hub_prefix, *(prefix for prefix, _ in spokes)) as (hub, *made):
        hub.ip("link", "add", BRIDGE, "type", "bridge")
        hub.ip("addr", "add", "198.51.100.1/24", "dev", BRIDGE)
        hub.ip("link", "set", BRIDGE, "up")
        for index, (ns, (_, address)) in enumerate(zip(made, spokes, strict=True)):
            _attach(hub, ns, address, index)
        yield hub, made


def form(base: Path, namespaces: Sequence[netns.NetNS], started: list[HaServer],
         *flags: str) -> None:
    """Three servers `s1`-`s3` at ADDRESSES in `namespaces`, data under `base`, each with
    `flags`: the first initialises the cluster, the others join it. Each is appended to
    `started` once it runs (the caller stops them)."""
    first = ha_server(base / "s1", ADDRESSES[0], "s1", namespaces[0], "--cluster-init",
                      *flags)
    first.start(timeout=90)
    started.append(first)
    token = (first.data_dir / "token").read_text().strip()
    for i in (1, 2):
        joined = ha_server(base / f"s{i + 1}", ADDRESSES[i], f"s{i + 1}", namespaces[i],
                           "--server", first.url, "--token", token, *flags)
        joined.start(timeout=120)
        started.append(joined)


def balancer_kubeconfig(source: Path, target: Path, url: str) -> None:
    """The admin kubeconfig of `source`, its clusters pointed at `url` (a load balancer in
    front of the servers)."""
    config = yaml.safe_load(source.read_text())
    for cluster in config["clusters"]:
        cluster["cluster"]["server"] = url
    target.write_text(yaml.safe_dump(config))


def etcd_leader_term(data_dir: Path) -> int:
    """The last term in which the etcd member of the server at `data_dir` became leader
    (0: never), from its log; the highest of the servers' is the current leader's."""
    path = data_dir / "db" / "etcd.log"
    found = _BECAME_LEADER.findall(path.read_bytes()) if path.exists() else []
    return max((int(term) for term in found), default=0)
