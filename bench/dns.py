"""Cluster DNS throughput and latency: queries/s, p50 and p99 for cluster names and for
cached external names.

The DNS server runs in a process of its own pinned to one core (on uvloop, as `kyb dns`
does), over informer stores seeded with 1000 Services (100 of them headless with 3 ready
endpoints each) in 10 namespaces; names outside the cluster are forwarded to a stand-in
upstream on loopback inside the load generator (tests/dns/upstream.py), which is asked only
on cache misses. The load generator, pinned to another core, keeps a fixed number of
queries in flight over UDP and times each one. Scenarios:

- cluster names: A queries cycling through every Service name (answers reused until the
  records change, as in a steady cluster);
- cluster names, nothing reused: the same with the rendered-answer cache off (every query
  parsed, looked up and rendered), the cost after each change to the cluster;
- cached external names: A queries cycling through 200 names of the upstream, after one
  warm-up pass.

Goal (issue 11): at least 10000 queries/s for cluster names with p99 under 5 ms.

    python bench/dns.py [--queries 50000] [--in-flight 32]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

# Run as a script, this file's directory comes first on the path, where this very module
# would stand in for dnspython's `dns` package: the repository's root goes there instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [str(_HERE.parent), *(p for p in sys.path if Path(p or ".").resolve() != _HERE)]

import dns.message  # noqa: E402 - after the path is set

if TYPE_CHECKING:
    from kybernetes.dns.records import ClusterRecords

SERVICES = 1000
NAMESPACES = 10
HEADLESS_EVERY = 10
EXTERNAL_NAMES = 200


def _service_name(i: int) -> str:
    return f"svc-{i}.ns-{i % NAMESPACES}.svc.cluster.local."


def _external_name(i: int) -> str:
    return f"host-{i}.example.org."


# ----------------------------------------------------------------------------- server side


def _seeded_records() -> ClusterRecords:
    from kybernetes.client import Store
    from kybernetes.dns.records import ClusterRecords

    namespaces, services, slices = Store(), Store(), Store()
    for n in range(NAMESPACES):
        namespaces.add({"metadata": {"name": f"ns-{n}"}})
    for i in range(SERVICES):
        namespace, name = f"ns-{i % NAMESPACES}", f"svc-{i}"
        headless = i % HEADLESS_EVERY == 0
        services.add({"metadata": {"namespace": namespace, "name": name},
                      "spec": {"clusterIP": "None" if headless else
                               f"10.43.{i // 250}.{i % 250 + 1}",
                               "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}})
        if headless:
            slices.add({"metadata": {"namespace": namespace, "name": f"{name}-1",
                                     "labels": {"kubernetes.io/service-name": name}},
                        "addressType": "IPv4",
                        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                        "endpoints": [{"addresses": [f"10.42.{i // 250}.{i % 250 + k}"],
                                       "conditions": {"ready": True}} for k in range(3)]})
    return ClusterRecords(services, slices, namespaces, dns_ips=["10.43.0.10"])


def serve(cpu: int, upstream_port: int, cache: bool) -> None:
    """The server process: pinned to `cpu`, prints its port, serves until killed."""
    import uvloop

    from kybernetes.dns.acl import ClientAcl
    from kybernetes.dns.forward import Forwarder
    from kybernetes.dns.server import RESPONSE_CACHE_SIZE, DnsServer

    os.sched_setaffinity(0, {cpu})

    async def main() -> None:
        server = DnsServer(_seeded_records(), Forwarder([("127.0.0.1", upstream_port)]),
                           acl=ClientAcl(["10.42.0.0/16"]),
                           cache_size=RESPONSE_CACHE_SIZE if cache else 0)
        port = await server.start("127.0.0.1", 0)
        print(port, flush=True)
        await asyncio.Event().wait()

    uvloop.run(main())


# ----------------------------------------------------------------------------- load side


def _start_upstream() -> int:
    """The stand-in upstream on a thread of this process; returns its port."""
    from tests.dns.upstream import running_upstream

    records = {(_external_name(i), "A"): [f"300 192.0.2.{i % 250 + 1}"]
               for i in range(EXTERNAL_NAMES)}
    ready: list[int] = []
    started = threading.Event()

    async def run() -> None:
        async with running_upstream(records) as upstream:
            ready.append(upstream.port)
            started.set()
            await asyncio.Event().wait()

    threading.Thread(target=lambda: asyncio.run(run()), daemon=True).start()
    started.wait()
    return ready[0]


def load(port: int, names: list[str], queries: int, in_flight: int
         ) -> tuple[float, list[float], int]:
    """Send `queries` A queries cycling through `names`, `in_flight` at a time; returns
    (queries/s, sorted latencies in seconds, lost)."""
    wires = [dns.message.make_query(name, "A").to_wire() for name in names]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect(("127.0.0.1", port))
    sock.settimeout(1.0)
    sent_at: dict[int, float] = {}
    latencies: list[float] = []
    lost = sent = 0
    next_id = 0
    started = time.perf_counter()
    while len(latencies) + lost < queries:
        while len(sent_at) < in_flight and sent < queries:
            next_id = (next_id + 1) & 0xFFFF
            sock.send(next_id.to_bytes(2, "big") + wires[sent % len(wires)][2:])
            sent_at[next_id] = time.perf_counter()
            sent += 1
        try:
            data = sock.recv(65535)
        except TimeoutError:
            lost += len(sent_at)
            sent_at.clear()
            continue
        begun = sent_at.pop(int.from_bytes(data[:2], "big"), None)
        if begun is not None:
            latencies.append(time.perf_counter() - begun)
    elapsed = time.perf_counter() - started
    sock.close()
    latencies.sort()
    return len(latencies) / elapsed, latencies, lost


def _percentile(values: list[float], fraction: float) -> float:
    return values[min(len(values) - 1, int(len(values) * fraction))] if values else 0.0


def _report(what: str, result: tuple[float, list[float], int]) -> None:
    rate, latencies, lost = result
    print(f"{what:<38} {rate:>9.0f} q/s   p50 {_percentile(latencies, 0.5) * 1e3:6.2f} ms"
          f"   p99 {_percentile(latencies, 0.99) * 1e3:6.2f} ms   lost {lost}")


def _server(cpu: int, upstream_port: int, cache: bool) -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(cpu), str(upstream_port),
         "--cache" if cache else "--no-cache"], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return process, int(process.stdout.readline())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=50000)
    parser.add_argument("--in-flight", type=int, default=32)
    parser.add_argument("--serve", nargs=2, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--cache", action=argparse.BooleanOptionalAction, default=True,
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], args.serve[1], args.cache)
        return
    cpus = sorted(os.sched_getaffinity(0))
    server_cpu, load_cpu = cpus[0], cpus[-1]
    os.sched_setaffinity(0, {load_cpu})
    upstream_port = _start_upstream()
    cluster_names = [_service_name(i) for i in range(SERVICES)]
    external_names = [_external_name(i) for i in range(EXTERNAL_NAMES)]
    print(f"server on cpu {server_cpu}, load generator on cpu {load_cpu}; "
          f"{args.queries} queries, {args.in_flight} in flight")
    for cache in (True, False):
        process, port = _server(server_cpu, upstream_port, cache)
        try:
            load(port, cluster_names, SERVICES, args.in_flight)  # warm-up
            label = "cluster names" if cache else "cluster names, nothing reused"
            _report(label, load(port, cluster_names, args.queries, args.in_flight))
            if cache:
                load(port, external_names, EXTERNAL_NAMES, args.in_flight)  # warm-up
                _report("cached external names",
                        load(port, external_names, args.queries, args.in_flight))
        finally:
            process.kill()
            process.wait()


if __name__ == "__main__":
    main()
