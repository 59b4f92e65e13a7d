"""Pod networking through the real CNI plugins (/usr/lib/cni), inside test namespaces.

Every plugin runs in a "node" network namespace made by the test (`host_netns`), so the
bridge `cni0`, the veths and the iptables rules live there and vanish with it; pods are
namespaces of their own. The host's namespace is checked to be untouched.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kybernetes.kubelet.kuberuntime import NetworkService
from kybernetes.kubelet.network import (
    CNIError,
    NetworkError,
    PodNetwork,
    PodNetworkConfig,
    uses_cni,
)
from kybernetes.kubelet.network.pod import bandwidth, pod_ips
from tests.kubelet import netns

PLUGIN_DIR = Path("/usr/lib/cni")
POD_CIDR = "10.42.7.0/24"
GATEWAY = "10.42.7.1"
NODE_IP = "192.168.251.2"  # on the node namespace's own veth, kind-like; no route out

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(bool(netns.available()), reason=netns.available() or "ok"),
    pytest.mark.skipif(not (PLUGIN_DIR / "bridge").exists(), reason="no CNI plugins"),
]

Obj = dict[str, Any]

# A TCP server for the pod namespace: says "ready", then answers each connection.
SERVER = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen()
print("ready", flush=True)
while True:
    c, peer = s.accept()
    c.sendall(("hello from pod to " + peer[0] + "\\n").encode())
    c.close()
"""

# A TCP client for any namespace: prints what the server said, or the error.
CLIENT = """
import socket, sys
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5) as c:
        print(c.makefile().readline().strip())
except OSError as err:
    print(f"error: {err}")
"""


def pod(name: str, **spec: Any) -> Obj:
    return {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
            "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec}}


def sandbox_id() -> str:
    return secrets.token_hex(32)


def host_links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True,
                         check=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


def host_state() -> tuple[set[str], list[str], str]:
    """The host namespace's links, CNI rules and forwarding switch."""
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    return (host_links(), [line for line in rules.splitlines() if "CNI" in line],
            Path("/proc/sys/net/ipv4/ip_forward").read_text())


@pytest.fixture
def node() -> Iterator[netns.NetNS]:
    """The node's namespace: `lo`, and an `eth0` holding NODE_IP that leads nowhere."""
    before = host_state()
    with netns.netns("kyb-test-node") as ns:
        netns.add_node_interface(ns, f"{NODE_IP}/24")
        yield ns
    # no cni0, veth, CNI rule or forwarding switch changed in the host's namespace
    assert host_state() == before


@pytest.fixture
def pod_netns() -> Iterator[Callable[[], netns.NetNS]]:
    made: list[netns.NetNS] = []

    def make() -> netns.NetNS:
        ns = netns.create("kyb-test-pod")
        made.append(ns)
        return ns

    try:
        yield make
    finally:
        for ns in made:
            netns.delete(ns)


def config(tmp_path: Path, node: netns.NetNS, **overrides: Any) -> PodNetworkConfig:
    return PodNetworkConfig(**{"data_dir": tmp_path / "cni", "host_netns": node.path,
                               "timeout": 20.0, **overrides})


@pytest.fixture
def network(tmp_path: Path, node: netns.NetNS) -> PodNetwork:
    return PodNetwork(config(tmp_path, node), POD_CIDR)


def as_service(network: PodNetwork) -> NetworkService:
    """A PodNetwork is what the kubelet's sync loop takes (mypy checks this)."""
    return network


def ping(ns: netns.NetNS, address: str) -> bool:
    return ns.run("busybox", "ping", "-c1", "-W3", address, check=False).returncode == 0


def connect(ns: netns.NetNS, address: str, port: int) -> str:
    return ns.run(sys.executable, "-c", CLIENT, address, str(port)).stdout.strip()


@pytest.fixture
def serve() -> Iterator[Callable[[netns.NetNS, int], None]]:
    servers: list[subprocess.Popen[str]] = []

    def start(ns: netns.NetNS, port: int) -> None:
        proc = ns.popen(sys.executable, "-c", SERVER, str(port), stdout=subprocess.PIPE)
        servers.append(proc)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"

    try:
        yield start
    finally:
        for proc in servers:
            proc.kill()
            proc.wait()


class TestAttach:
    """ADD puts a pod on the node's bridge with an address from the node's /24."""

    async def test_two_pods_get_distinct_ips_and_reach_each_other(
            self, network: PodNetwork, node: netns.NetNS,
            pod_netns: Callable[[], netns.NetNS]) -> None:
        a, b = pod_netns(), pod_netns()
        ips_a = await as_service(network).setup(sandbox_id(), a.path, pod("a"))
        ips_b = await as_service(network).setup(sandbox_id(), b.path, pod("b"))
        assert len(ips_a) == len(ips_b) == 1 and ips_a != ips_b
        for ip in ips_a + ips_b:
            assert ipaddress.ip_address(ip) in ipaddress.ip_network(POD_CIDR)
            assert ip != GATEWAY
        assert a.addresses("eth0") == [f"{ips_a[0]}/24"]
        assert "cni0" in node.links() and node.addresses("cni0") == [f"{GATEWAY}/24"]
        routes = a.ip("route").stdout
        assert f"default via {GATEWAY} dev eth0" in routes
        assert f"10.42.0.0/16 via {GATEWAY} dev eth0" in routes
        assert ping(a, ips_b[0]) and ping(b, ips_a[0])
        assert ping(a, GATEWAY)
        assert ping(a, "127.0.0.1")

    async def test_mtu_and_bridge_name_come_from_the_config(
            self, tmp_path: Path, node: netns.NetNS,
            pod_netns: Callable[[], netns.NetNS]) -> None:
        network = PodNetwork(config(tmp_path, node, bridge="kyb0", mtu=1400), POD_CIDR)
        a = pod_netns()
        await network.setup(sandbox_id(), a.path, pod("a"))
        assert "kyb0" in node.links() and "cni0" not in node.links()
        assert "mtu 1400" in a.ip("link", "show", "eth0").stdout
        written = json.loads(network.conflist_path.read_text())
        assert written == network.conflist(POD_CIDR)
        assert [p["type"] for p in written["plugins"]] == ["bridge", "portmap", "bandwidth"]

    async def test_check_passes_then_fails_when_the_address_is_gone(
            self, network: PodNetwork, pod_netns: Callable[[], netns.NetNS]) -> None:
        a, sid = pod_netns(), sandbox_id()
        [ip] = await network.setup(sid, a.path, pod("a"))
        await network.check(sid, a.path, pod("a"))
        a.ip("addr", "del", f"{ip}/24", "dev", "eth0")
        with pytest.raises(NetworkError, match=f'failed to check network for sandbox "{sid}"'
                           r': plugin type="bridge" name="cbr0" failed \(check\)'):
            await network.check(sid, a.path, pod("a"))


class TestHostPort:
    """hostPort through portmap: DNAT on the node's addresses to the pod."""

    async def test_host_port_reaches_the_pod(
            self, network: PodNetwork, node: netns.NetNS,
            pod_netns: Callable[[], netns.NetNS],
            serve: Callable[[netns.NetNS, int], None]) -> None:
        a, b = pod_netns(), pod_netns()
        web = pod("web", containers=[{"name": "c", "ports": [
            {"containerPort": 8080, "hostPort": 18080, "protocol": "TCP"}]}])
        sid = sandbox_id()
        [ip] = await network.setup(sid, a.path, web)
        [ip_b] = await network.setup(sandbox_id(), b.path, pod("b"))
        serve(a, 8080)
        assert connect(node, ip, 8080).startswith("hello from pod")
        # From the node itself: its own address, the bridge's and localhost (portmap's
        # OUTPUT DNAT; localhost through its SNAT and route_localnet).
        for address in (NODE_IP, GATEWAY, "127.0.0.1"):
            assert connect(node, address, 18080).startswith("hello from pod"), address
        # From another pod through the node's address: DNAT in PREROUTING, and portmap
        # masquerades the pod subnet's hostPort traffic so replies come back the same way.
        assert connect(b, NODE_IP, 18080) == f"hello from pod to {GATEWAY}"
        # Hairpin: the pod reaches itself through its own hostPort.
        assert connect(a, NODE_IP, 18080) == f"hello from pod to {GATEWAY}"
        assert ip_b != ip

        await network.teardown(sid, a.path, web)
        assert "18080" not in node.run("iptables-save", "-t", "nat").stdout
        assert connect(node, NODE_IP, 18080).startswith("error:")

    async def test_host_ip_limits_the_mapping_to_that_address(
            self, network: PodNetwork, node: netns.NetNS,
            pod_netns: Callable[[], netns.NetNS],
            serve: Callable[[netns.NetNS, int], None]) -> None:
        a = pod_netns()
        web = pod("web", containers=[{"name": "c", "ports": [
            {"containerPort": 8080, "hostPort": 18081, "hostIP": NODE_IP}]}])
        await network.setup(sandbox_id(), a.path, web)
        serve(a, 8080)
        assert connect(node, NODE_IP, 18081).startswith("hello from pod")
        assert connect(node, GATEWAY, 18081).startswith("error:")


class TestBandwidth:
    async def test_bandwidth_annotations_shape_the_pods_traffic(
            self, network: PodNetwork, node: netns.NetNS,
            pod_netns: Callable[[], netns.NetNS]) -> None:
        a, sid = pod_netns(), sandbox_id()
        shaped = pod("a")
        shaped["metadata"]["annotations"] = {"kubernetes.io/ingress-bandwidth": "1M",
                                             "kubernetes.io/egress-bandwidth": "2M"}
        await network.setup(sid, a.path, shaped)
        qdiscs = node.run("tc", "qdisc", "show").stdout
        [veth] = [link for link in node.links() if link.startswith("veth")]
        [ifb] = [link for link in node.links() if link.startswith("bwp")]  # egress: ifb
        assert f"qdisc tbf 1: dev {veth} root" in qdiscs and "rate 1Mbit" in qdiscs
        assert f"qdisc tbf 1: dev {ifb} root" in qdiscs and "rate 2Mbit" in qdiscs
        await network.check(sid, a.path, shaped)
        await network.teardown(sid, a.path, shaped)
        assert not [link for link in node.links() if link.startswith(("bwp", "veth"))]

    async def test_unreasonable_bandwidth_refuses_the_sandbox(
            self, network: PodNetwork, pod_netns: Callable[[], netns.NetNS]) -> None:
        a, sid = pod_netns(), sandbox_id()
        tiny = pod("a")
        tiny["metadata"]["annotations"] = {"kubernetes.io/ingress-bandwidth": "10"}
        with pytest.raises(NetworkError) as info:
            await network.setup(sid, a.path, tiny)
        assert str(info.value) == (f'failed to setup network for sandbox "{sid}": reading pod '
                                   "bandwidth annotations: resource is unreasonably small "
                                   "(< 1kbit)")
        assert network.allocations() == {} and a.links() == ["lo"]


class TestDetach:
    """DEL releases what ADD took, tolerates repetition, and a new ADD works."""

    async def test_del_releases_the_ip_and_a_readd_works(
            self, network: PodNetwork, node: netns.NetNS,
            pod_netns: Callable[[], netns.NetNS]) -> None:
        a, sid = pod_netns(), sandbox_id()
        [ip] = await network.setup(sid, a.path, pod("a"))
        ip_file = network.ipam_dir / "cbr0" / ip
        assert ip_file.read_text().splitlines()[0] == sid
        assert network.allocations() == {ip: sid}
        veths = [link for link in node.links() if link.startswith("veth")]
        assert len(veths) == 1

        await network.teardown(sid, a.path, pod("a"))
        assert not ip_file.exists() and network.allocations() == {}
        assert "eth0" not in a.links()
        assert not [link for link in node.links() if link.startswith("veth")]
        await network.teardown(sid, a.path, pod("a"))  # already gone: fine
        netns.delete(a)
        await network.teardown(sid, a.path, pod("a"))  # namespace gone too: fine

        b, sid_b = pod_netns(), sandbox_id()
        [ip_b] = await network.setup(sid_b, b.path, pod("b"))
        assert network.allocations() == {ip_b: sid_b}
        assert ping(b, GATEWAY)

    async def test_a_restarted_kubelet_tears_down_before_knowing_the_pod_cidr(
            self, tmp_path: Path, network: PodNetwork, node: netns.NetNS,
            pod_netns: Callable[[], netns.NetNS]) -> None:
        a, sid = pod_netns(), sandbox_id()
        await network.setup(sid, a.path, pod("a"))
        restarted = PodNetwork(config(tmp_path, node))  # the cached ADD says what to undo
        await restarted.teardown(sid, a.path, pod("a"))
        assert restarted.allocations() == {} and "eth0" not in a.links()

    async def test_pod_cidr_exhaustion_surfaces_host_local_error(
            self, tmp_path: Path, node: netns.NetNS,
            pod_netns: Callable[[], netns.NetNS]) -> None:
        # A /30 has one address left beside the gateway.
        network = PodNetwork(config(tmp_path, node), "10.42.9.0/30")
        await network.setup(sandbox_id(), pod_netns().path, pod("a"))
        sid = sandbox_id()
        with pytest.raises(NetworkError) as info:
            await network.setup(sid, pod_netns().path, pod("b"))
        assert str(info.value).startswith(
            f'failed to setup network for sandbox "{sid}": '
            'plugin type="bridge" name="cbr0" failed (add): ')
        assert "no IP addresses available in range set" in str(info.value)
        assert len(network.allocations()) == 1
        assert network.network is not None and network.network.cached(sid, "eth0") is None


class TestErrors:
    """A plugin's error object reaches the kubelet intact; readiness follows the plugins."""

    async def test_broken_config_surfaces_the_plugins_error(
            self, tmp_path: Path, node: netns.NetNS,
            pod_netns: Callable[[], netns.NetNS]) -> None:
        class Broken(PodNetwork):
            def conflist(self, pod_cidr: str) -> Obj:
                conflist = super().conflist(pod_cidr)
                conflist["plugins"][0]["ipam"]["ranges"][0][0]["rangeStart"] = "10.99.0.5"
                return conflist

        network = Broken(config(tmp_path, node), POD_CIDR)
        sid = sandbox_id()
        with pytest.raises(NetworkError) as info:
            await network.setup(sid, pod_netns().path, pod("a"))
        cause = info.value.__cause__
        assert isinstance(cause, CNIError)
        assert cause.plugin == 'type="bridge" name="cbr0"' and cause.command == "ADD"
        assert "RangeStart 10.99.0.5 not in network 10.42.7.0/24" in cause.msg
        assert str(cause).startswith('plugin type="bridge" name="cbr0" failed (add): ')
        assert str(info.value) == f'failed to setup network for sandbox "{sid}": {cause}'
        assert network.allocations() == {}

    async def test_missing_plugin_means_not_ready(
            self, tmp_path: Path, node: netns.NetNS,
            pod_netns: Callable[[], netns.NetNS]) -> None:
        empty = tmp_path / "plugins"
        empty.mkdir()
        network = PodNetwork(config(tmp_path, node, plugin_dir=empty), POD_CIDR)
        assert not network.ready()
        assert network.not_ready_message() == (
            "container runtime network not ready: NetworkReady=false "
            "reason:NetworkPluginNotReady message:Network plugin returns error: "
            "cni plugin not initialized")
        sid = sandbox_id()
        with pytest.raises(NetworkError, match=f'failed to setup network for sandbox "{sid}"'
                           ": cni plugin not initialized"):
            await network.setup(sid, pod_netns().path, pod("a"))

    def test_not_ready_until_the_pod_cidr_is_known(self, tmp_path: Path,
                                                   node: netns.NetNS) -> None:
        network = PodNetwork(config(tmp_path, node))
        assert not network.ready() and "cni plugin not initialized" in \
            network.not_ready_message()
        assert not network.conflist_path.exists()
        network.set_pod_cidr(POD_CIDR)
        assert network.ready() and network.not_ready_message() == ""
        assert network.conflist_path.exists()

    async def test_a_plugin_that_hangs_is_killed_at_the_timeout(
            self, tmp_path: Path, node: netns.NetNS,
            pod_netns: Callable[[], netns.NetNS]) -> None:
        plugins = tmp_path / "plugins"
        plugins.mkdir()
        for name in ("bridge", "host-local", "portmap", "bandwidth"):
            (plugins / name).symlink_to(PLUGIN_DIR / name)
        (plugins / "portmap").unlink()
        (plugins / "portmap").write_text("#!/bin/sh\nexec sleep 60\n")
        (plugins / "portmap").chmod(0o755)
        # Long enough for the working plugins on a loaded machine, short for the test.
        network = PodNetwork(config(tmp_path, node, plugin_dir=plugins, timeout=2.0),
                             POD_CIDR)
        with pytest.raises(NetworkError, match=r'plugin type="portmap" name="cbr0" failed '
                           r"\(add\): netplugin timed out after 2s"):
            await network.setup(sandbox_id(), pod_netns().path, pod("a"))
        # The failed ADD was undone: DEL went on past the hung portmap to free the IP.
        assert network.allocations() == {}


class TestGarbageCollection:
    async def test_stale_allocations_are_freed(
            self, network: PodNetwork, node: netns.NetNS,
            pod_netns: Callable[[], netns.NetNS]) -> None:
        a, b = pod_netns(), pod_netns()
        gone, live = sandbox_id(), sandbox_id()
        web = pod("web", containers=[{"name": "c", "ports": [
            {"containerPort": 80, "hostPort": 18082}]}])
        [ip_gone] = await network.setup(gone, a.path, web)
        [ip_live] = await network.setup(live, b.path, pod("b"))
        netns.delete(a)  # the sandbox vanished without a teardown (a crash, say)
        # An IP file left by some earlier kubelet, with no cached result at all.
        orphan = sandbox_id()
        (network.ipam_dir / "cbr0" / "10.42.7.200").write_text(f"{orphan}\r\neth0")

        freed = await network.garbage_collect([live])
        assert freed == sorted([gone, orphan])
        assert network.allocations() == {ip_live: live}
        assert network.network is not None
        assert network.network.cached(gone, "eth0") is None
        assert network.network.cached(live, "eth0") is not None
        assert "18082" not in node.run("iptables-save", "-t", "nat").stdout
        assert await network.garbage_collect([live]) == []
        assert ping(b, GATEWAY)
        assert ip_gone != ip_live

    async def test_a_sandbox_being_set_up_is_not_garbage(
            self, tmp_path: Path, node: netns.NetNS,
            pod_netns: Callable[[], netns.NetNS]) -> None:
        plugins, go = tmp_path / "plugins", tmp_path / "go"
        plugins.mkdir()
        for name in ("bridge", "host-local", "bandwidth"):
            (plugins / name).symlink_to(PLUGIN_DIR / name)
        # portmap waits for the test's word, so the IP is taken but ADD not finished
        (plugins / "portmap").write_text(f"#!/bin/sh\nwhile [ ! -e {go} ]; do sleep 0.05; "
                                         f"done\nexec {PLUGIN_DIR / 'portmap'}\n")
        (plugins / "portmap").chmod(0o755)
        network = PodNetwork(config(tmp_path, node, plugin_dir=plugins), POD_CIDR)
        sid = sandbox_id()
        setup = asyncio.create_task(network.setup(sid, pod_netns().path, pod("a")))
        for _ in range(400):  # until host-local has given out the IP
            if network.allocations() or setup.done():
                break
            await asyncio.sleep(0.05)
        assert not setup.done()
        assert await network.garbage_collect([]) == []
        go.touch()
        [ip] = await setup
        assert network.allocations() == {ip: sid}
        assert await network.garbage_collect([]) == [sid]


class TestPodHelpers:
    def test_host_network_pods_skip_cni(self) -> None:
        assert uses_cni(pod("a"))
        assert not uses_cni(pod("a", hostNetwork=True))

    def test_bandwidth_annotations(self) -> None:
        shaped = pod("a")
        shaped["metadata"]["annotations"] = {"kubernetes.io/ingress-bandwidth": "10M",
                                             "kubernetes.io/egress-bandwidth": "1M"}
        assert bandwidth(shaped) == {"ingressRate": 10_000_000, "ingressBurst": 2**32 - 1,
                                     "egressRate": 1_000_000, "egressBurst": 2**32 - 1}
        assert bandwidth(pod("a")) == {}
        shaped["metadata"]["annotations"] = {"kubernetes.io/ingress-bandwidth": "10"}
        with pytest.raises(NetworkError, match=r"unreasonably small \(< 1kbit\)"):
            bandwidth(shaped)
        shaped["metadata"]["annotations"] = {"kubernetes.io/egress-bandwidth": "2P"}
        with pytest.raises(NetworkError, match=r"unreasonably large \(> 1Pbit\)"):
            bandwidth(shaped)

    def test_pod_ips_are_the_sandbox_interfaces_ipv4_first(self) -> None:
        result = {"interfaces": [{"name": "cni0"}, {"name": "veth1"},
                                 {"name": "eth0", "sandbox": "/run/netns/p"}],
                  "ips": [{"address": "fd00::5/64", "interface": 2},
                          {"address": "10.42.7.5/24", "gateway": GATEWAY, "interface": 2},
                          {"address": "10.42.7.1/24", "interface": 0}]}
        assert pod_ips(result) == ["10.42.7.5", "fd00::5"]


async def test_concurrent_setups_get_distinct_ips(
        network: PodNetwork, pod_netns: Callable[[], netns.NetNS]) -> None:
    spaces = [pod_netns() for _ in range(4)]
    results = await asyncio.gather(*(network.setup(sandbox_id(), ns.path, pod(f"p{i}"))
                                     for i, ns in enumerate(spaces)))
    ips = [ip for result in results for ip in result]
    assert len(set(ips)) == 4
