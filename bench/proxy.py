"""kube-proxy's sync time and first-packet latency, beside the kernel tools' own floor.

For each mode (nftables, iptables) and each size (`--sizes`, default 1000, 5000 and 10000
services, each a ClusterIP service with one TCP port and 2 endpoints), in a network
namespace made here (nothing touches the host's rules):

1. **full sync**: the proxier's first sync (rendering every service, then one `nft -f -`
   or `iptables-restore --noflush`), and beside it the **floor**: the same transaction
   loaded again by the tool alone, timed from spawning it to its exit;
2. **one-endpoint change**: `--changes` times, one service's EndpointSlice swaps an
   endpoint and the proxier's partial sync runs (the tracker update, rendering, diffing
   and the transaction); the tool's own share is printed beside it. The goal: under
   100 ms at 10000 services;
3. **first-packet latency** (`--latency-sizes`, default 10 and 10000 services): TCP
   connects to one service's ClusterIP (DNAT to a listener on a local address standing
   in for a pod), `--connects` times, beside connects straight to the listener; p50 and
   p99 of the connect time (SYN out to SYN-ACK in: the first packet's trip through the
   rules).

    sudo python bench/proxy.py [--sizes 1000,5000,10000] [--modes nftables,iptables]
                               [--changes 10] [--latency-sizes 10,10000] [--connects 300]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.nodens import inside
from tests.kubelet import netns

from kybernetes.proxy import execute
from kybernetes.proxy.changes import ChangeTracker
from kybernetes.proxy.execute import Completed
from kybernetes.proxy.proxier import Backend, ProxyConfig, make_backend

BACKEND_IP, BACKEND_PORT = "10.99.0.1", 8080
NODE_IP = "192.0.2.10"


class TimedExecutor:
    """Runs the tools inside the namespace and keeps the time of the last one."""

    def __init__(self, ns: str) -> None:
        self.ns = ns
        self.last = 0.0

    async def __call__(self, argv: Sequence[str], input: str | None = None) -> Completed:
        started = time.perf_counter()
        done = await execute.run(["ip", "netns", "exec", self.ns, *argv], input)
        self.last = time.perf_counter() - started
        return done


def cluster_ip(i: int) -> str:
    return f"10.43.{i // 250}.{i % 250 + 1}"


def endpoint_ip(n: int) -> str:
    return f"10.42.{n // 250}.{n % 250 + 1}"


def service(i: int) -> dict[str, Any]:
    return {"metadata": {"namespace": "bench", "name": f"svc-{i}"},
            "spec": {"clusterIP": cluster_ip(i), "type": "ClusterIP",
                     "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}}


def endpoint_slice(i: int, ips: list[str]) -> dict[str, Any]:
    return {"metadata": {"namespace": "bench", "name": f"svc-{i}-x",
                         "labels": {"kubernetes.io/service-name": f"svc-{i}"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": BACKEND_PORT, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in ips]}


def build(size: int, backend_service: int | None = None) -> ChangeTracker:
    tracker = ChangeTracker("bench-node")
    for i in range(size):
        tracker.update_service(service(i))
        ips = [BACKEND_IP] if i == backend_service else \
            [endpoint_ip(2 * i), endpoint_ip(2 * i + 1)]
        tracker.update_slice(endpoint_slice(i, ips))
    return tracker


def floor_argv(mode: str) -> list[str]:
    return ["nft", "-f", "-"] if mode == "nftables" else ["iptables-restore", "-w",
                                                          "--noflush"]


async def measure_sync(mode: str, size: int, changes: int) -> dict[str, Any]:
    with netns.netns("kyb-bench-proxy") as ns:
        executor = TimedExecutor(ns.name)
        backend = make_backend(mode, ProxyConfig(node_name="bench-node",
                                                 cluster_cidr="10.42.0.0/16"), executor)
        tracker = build(size)
        started = time.perf_counter()
        await backend.sync(tracker, tracker.take_dirty(), [NODE_IP], full=True)
        full = time.perf_counter() - started
        text = backend.last_transaction  # type: ignore[attr-defined]
        await execute.check(executor, floor_argv(mode), text)
        floor = executor.last
        partial, tool = [], []
        for change in range(changes):
            i = (change * 7919) % size
            started = time.perf_counter()
            tracker.update_slice(endpoint_slice(i, [endpoint_ip(2 * i),
                                                    endpoint_ip(40000 + change)]))
            await backend.sync(tracker, tracker.take_dirty(), [NODE_IP], full=False)
            partial.append(time.perf_counter() - started)
            tool.append(executor.last)
        return {"full": full, "floor": floor, "bytes": len(text),
                "partial_p50": statistics.median(partial), "partial_max": max(partial),
                "tool_p50": statistics.median(tool)}


def _accept_forever(server: socket.socket) -> None:
    while True:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        conn.close()


def _connect_times(ip: str, port: int, count: int) -> list[float]:
    times = []
    for _ in range(count):
        with socket.socket() as sock:
            sock.settimeout(5)
            started = time.perf_counter()
            sock.connect((ip, port))
            times.append(time.perf_counter() - started)
    return times


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


async def measure_latency(mode: str, size: int, connects: int) -> dict[str, float]:
    with netns.netns("kyb-bench-proxy") as ns:
        ns.ip("addr", "add", f"{BACKEND_IP}/32", "dev", "lo")
        netns.add_node_interface(ns, "192.168.251.2/24")
        ns.ip("route", "add", "10.43.0.0/16", "dev", "eth0")
        executor = TimedExecutor(ns.name)
        backend: Backend = make_backend(mode, ProxyConfig(node_name="bench-node"), executor)
        target = size // 2
        tracker = build(size, backend_service=target)
        await backend.sync(tracker, tracker.take_dirty(), [NODE_IP], full=True)
        with inside(ns):
            server = socket.create_server((BACKEND_IP, BACKEND_PORT), backlog=1024)
            threading.Thread(target=_accept_forever, args=(server,), daemon=True).start()
            try:
                _connect_times(cluster_ip(target), 80, 20)  # warm up
                through = _connect_times(cluster_ip(target), 80, connects)
                direct = _connect_times(BACKEND_IP, BACKEND_PORT, connects)
            finally:
                server.close()
        return {"proxy_p50": _percentile(through, 0.5), "proxy_p99": _percentile(through, 0.99),
                "direct_p50": _percentile(direct, 0.5), "direct_p99": _percentile(direct, 0.99)}


def ms(seconds: float, decimals: int = 1) -> str:
    return f"{seconds * 1000:9.{decimals}f} ms"


async def main(args: argparse.Namespace) -> None:
    modes = [m for m in args.modes.split(",") if m]
    sizes = [int(s) for s in args.sizes.split(",") if s]
    print("sync: full sync (render + load) beside the tool loading the same transaction; "
          f"one-endpoint change (median of {args.changes}, max) with the tool's share")
    print(f"{'mode':9} {'services':>8} {'full sync':>12} {'floor':>12} {'MiB':>6} "
          f"{'change p50':>12} {'change max':>12} {'tool p50':>12}")
    for mode in modes:
        for size in sizes:
            r = await measure_sync(mode, size, args.changes)
            print(f"{mode:9} {size:8d} {ms(r['full'])} {ms(r['floor'])} "
                  f"{r['bytes'] / 2**20:6.1f} {ms(r['partial_p50'])} {ms(r['partial_max'])} "
                  f"{ms(r['tool_p50'])}", flush=True)
    latency_sizes = [int(s) for s in args.latency_sizes.split(",") if s]
    if latency_sizes:
        print(f"\nfirst-packet latency: TCP connect, {args.connects} connects "
              "(through the ClusterIP vs straight to the listener)")
        print(f"{'mode':9} {'services':>8} {'proxy p50':>12} {'proxy p99':>12} "
              f"{'direct p50':>12} {'direct p99':>12}")
        for mode in modes:
            for size in latency_sizes:
                r = await measure_latency(mode, size, args.connects)
                print(f"{mode:9} {size:8d} {ms(r['proxy_p50'], 3)} {ms(r['proxy_p99'], 3)} "
                      f"{ms(r['direct_p50'], 3)} {ms(r['direct_p99'], 3)}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,5000,10000")
    parser.add_argument("--modes", default="nftables,iptables")
    parser.add_argument("--changes", type=int, default=10)
    parser.add_argument("--latency-sizes", default="10,10000")
    parser.add_argument("--connects", type=int, default=300)
    problem = netns.available()
    if problem:
        raise SystemExit(f"bench/proxy.py: {problem}")
    asyncio.run(main(parser.parse_args()))
