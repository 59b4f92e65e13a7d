"""API server CPU per request on the scheduling path: what one pod costs the server.

A fresh `kyb apiserver` (SQLite, no ServiceAccount admission as scheduler_perf) with two
watchers on all pods (a scheduler's informer and a kubelet's, as in bench/scheduler.py), then
phase by phase, each at 32 connections: N pod creates, N bindings, N pod status merge patches
(the simulated kubelet's Running status), N core/v1 Events (the scheduler's `Scheduled`), N
Lease renewals (merge patch of renewTime), and LIST of all pods as JSON. For each phase it
prints the server's CPU microseconds per request (user + system from /proc, so other load
on the machine does not count) and requests/s.

The code measured is whatever `kybernetes` the interpreter imports: run it with
`PYTHONPATH=<tree>/src` against another tree to compare two versions in one sitting.

    python bench/request_cpu.py [--count 3000] [--rounds 1]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.cluster import Server

from bench.loadgen import Connection, ConnectionPool, ops_per_second
from bench.scheduler import cpu_seconds, default_pod
from kybernetes.apiserver.pki import Pki, ssl_client_context
from kybernetes.kubelet.runtime.simulated import running_status

CONCURRENCY = 32
NAMESPACE = "bench"
JSON = {"Content-Type": "application/json"}
MERGE = {"Content-Type": "application/merge-patch+json"}


def _node() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-0"},
            "status": {"allocatable": {"cpu": "1000", "memory": "4Ti", "pods": "100000"},
                       "capacity": {"cpu": "1000", "memory": "4Ti", "pods": "100000"}}}


def _event(i: int) -> dict[str, Any]:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"pod-{i}.{time.time_ns():x}", "namespace": NAMESPACE},
            "involvedObject": {"kind": "Pod", "namespace": NAMESPACE, "name": f"pod-{i}",
                               "apiVersion": "v1"},
            "reason": "Scheduled", "type": "Normal",
            "message": f"Successfully assigned {NAMESPACE}/pod-{i} to node-0",
            "source": {"component": "default-scheduler"}, "firstTimestamp": now,
            "lastTimestamp": now, "count": 1, "reportingComponent": "default-scheduler",
            "reportingInstance": "default-scheduler"}


def _lease(i: int) -> dict[str, Any]:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": f"node-{i}", "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": f"node-{i}", "leaseDurationSeconds": 40}}


def _micro_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())


async def _drain_watch(conn: Connection) -> None:
    """Keep one watch on all pods open and read (and drop) what it sends."""
    conn.writer.write(b"GET /api/v1/pods?watch=true&allowWatchBookmarks=true HTTP/1.1\r\n"
                      b"Host: 127.0.0.1\r\n\r\n")
    while await conn.reader.read(1 << 20):
        pass


async def measure(server: Server, count: int, rounds: int) -> dict[str, tuple[float, float]]:
    """{phase: (server CPU us per request, requests/s)}, the best of `rounds` rounds."""
    assert server.process is not None
    pid = server.process.pid
    context = ssl_client_context(Pki.at(server.data_dir))
    pool = await ConnectionPool.open("127.0.0.1", server.port, context, CONCURRENCY)
    watchers = [await Connection.open("127.0.0.1", server.port, context) for _ in range(2)]
    drains = [asyncio.create_task(_drain_watch(w)) for w in watchers]
    await pool.request("POST", "/api/v1/namespaces", orjson.dumps(
        {"metadata": {"name": NAMESPACE}}), JSON, 201)
    await pool.request("POST", "/api/v1/nodes", orjson.dumps(_node()), JSON, 201)
    leases = min(count, 1000)
    await asyncio.gather(*(pool.request(
        "POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
        orjson.dumps(_lease(i)), JSON, 201) for i in range(leases)))
    best: dict[str, tuple[float, float]] = {}
    pods = f"/api/v1/namespaces/{NAMESPACE}/pods"

    async def phase(name: str, op: Callable[[int], Awaitable[object]], n: int = count) -> None:
        before = cpu_seconds(pid)
        rate = await ops_per_second(n, CONCURRENCY, op)
        await asyncio.sleep(0.3)  # let the watchers' fan-out of this phase finish
        us = (cpu_seconds(pid) - before) / n * 1e6
        if name not in best or us < best[name][0]:
            best[name] = (us, rate)

    for r in range(rounds):
        created: list[dict[str, Any]] = [{} for _ in range(count)]

        async def create(i: int, r: int = r, created: list[dict[str, Any]] = created) -> None:
            pod = default_pod(i)
            pod["metadata"]["name"] = f"pod-{r}-{i}"
            created[i] = orjson.loads(await pool.request("POST", pods, orjson.dumps(pod),
                                                         JSON, 201))

        async def bind(i: int, r: int = r) -> None:
            await pool.request("POST", f"{pods}/pod-{r}-{i}/binding", orjson.dumps(
                {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": f"pod-{r}-{i}"},
                 "target": {"apiVersion": "v1", "kind": "Node", "name": "node-0"}}), JSON, 201)

        async def status(i: int, r: int = r, created: list[dict[str, Any]] = created) -> None:
            pod_ip = f"10.244.{i // 250}.{i % 250}"
            body = {"status": running_status(created[i], "10.0.0.1", pod_ip)}
            await pool.request("PATCH", f"{pods}/pod-{r}-{i}/status", orjson.dumps(body), MERGE)

        async def event(i: int) -> None:
            await pool.request("POST", f"/api/v1/namespaces/{NAMESPACE}/events",
                               orjson.dumps(_event(i)), JSON, 201)

        async def renew(i: int) -> None:
            await pool.request(
                "PATCH", f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/"
                f"node-{i % leases}", orjson.dumps({"spec": {"renewTime": _micro_now()}}), MERGE)

        async def list_pods(i: int) -> None:
            await pool.request("GET", pods)

        await phase("pod create", create)
        await phase("binding", bind)
        await phase("status patch", status)
        await phase("event", event)
        await phase("lease renew", renew)
        await phase("list pods", list_pods, 10)
        await pool.request("DELETE", pods)
        await asyncio.sleep(1.0)
    for task in drains:
        task.cancel()
    for conn in watchers:
        conn.close()
    pool.close()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kyb-bench-cpu-") as tmp:
        server = Server(Path(tmp), command="apiserver",
                        extra_args=["--disable-admission-plugins", "ServiceAccount"])
        server.start()
        try:
            best = uvloop.run(measure(server, args.count, args.rounds))
        finally:
            server.stop()
    print(f"{args.count} requests per phase, {CONCURRENCY} connections, 2 pod watchers")
    for name, (us, rate) in best.items():
        unit = "list" if name == "list pods" else "request"
        print(f"  {name:<13} {us:8.0f} us server CPU per {unit}  {rate:8.0f}/s")


if __name__ == "__main__":
    main()
