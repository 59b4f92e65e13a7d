"""API throughput against raw storage, on each storage backend, measured in one run.

For each backend (SQLite, and etcd: a real single-member `etcd` on a loopback port), prints
creates/s and gets/s through HTTPS against a real `kyb apiserver` process on that backend,
beside the same operations done directly on the backend's `Storage` (the baseline), at the
same concurrency, and the time to LIST 10k pods (JSON and Table: the median of 5, and the
first JSON list right after the pods' creates apart, as it also waits for the watch cache to
catch up with them). The figure of merit is API/raw, per backend.

    python bench/api_throughput.py [--count 3000] [--concurrency 32] [--pods 10000]
                                   [--backends sqlite,etcd]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.cluster import Server, etcd_storage_args, wipe_etcd
from tests.etcd_cluster import EtcdCluster, etcd_binary

from bench.loadgen import ConnectionPool, ops_per_second
from kybernetes.apiserver.pki import Pki, ssl_client_context
from kybernetes.storage.etcd import EtcdStorage
from kybernetes.storage.interface import Storage
from kybernetes.storage.sqlite import SQLiteStorage

LISTS = 5  # timed lists of each kind, their median reported


def _configmap(i: int) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": f"cm-{i}", "labels": {"bench": "yes"}},
            "data": {"key": "value" * 20}}


def _pod(i: int) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"pod-{i}", "labels": {"app": "bench"}},
            "spec": {"containers": [{"name": "c", "image": "busybox:1.36",
                                     "command": ["sleep", "3600"]}]}}


async def raw_storage(storage: Storage, count: int, concurrency: int) -> tuple[float, float]:
    await storage.start()
    try:
        async def put(i: int) -> None:
            await storage.create(f"/registry/configmaps/default/cm-{i}",
                                 orjson.dumps(_configmap(i)))

        async def get(i: int) -> None:
            await storage.get(f"/registry/configmaps/default/cm-{i}")

        puts = await ops_per_second(count, concurrency, put)
        gets = await ops_per_second(count, concurrency, get)
    finally:
        await storage.close()
    return puts, gets


async def through_api(server: Server, count: int, concurrency: int, pods: int
                      ) -> tuple[float, float, float, float, float]:
    context = ssl_client_context(Pki.at(server.data_dir))
    pool = await ConnectionPool.open("127.0.0.1", server.port, context, concurrency)
    json_body = {"content-type": "application/json"}

    async def call(method: str, path: str, body: bytes = b"", expect: int = 200,
                   headers: dict[str, str] | None = None) -> bytes:
        return await pool.request(method, path, body, headers, expect)

    async def create(i: int) -> None:
        await call("POST", "/api/v1/namespaces/default/configmaps",
                   orjson.dumps(_configmap(i)), 201, json_body)

    async def get(i: int) -> None:
        await call("GET", f"/api/v1/namespaces/default/configmaps/cm-{i}")

    async def create_pod(i: int) -> None:
        await call("POST", "/api/v1/namespaces/default/pods", orjson.dumps(_pod(i)), 201,
                   json_body)

    creates = await ops_per_second(count, concurrency, create)
    gets = await ops_per_second(count, concurrency, get)
    await ops_per_second(pods, concurrency, create_pod)

    async def timed_list(headers: dict[str, str] | None, key: str) -> float:
        start = time.perf_counter()
        listed = await call("GET", "/api/v1/pods", headers=headers)
        took = time.perf_counter() - start
        assert len(orjson.loads(listed)[key]) == pods
        return took

    table = {"accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}
    # The first list right after the creates waits for the watch cache to hold them all.
    first = await timed_list(None, "items")
    list_json = statistics.median([await timed_list(None, "items") for _ in range(LISTS)])
    list_table = statistics.median([await timed_list(table, "rows") for _ in range(LISTS)])
    pool.close()
    return creates, gets, first, list_json, list_table


@dataclass
class Figures:
    serial_puts: float
    raw_puts: float
    raw_gets: float
    creates: float
    gets: float
    list_first: float
    list_json: float
    list_table: float


def measure(backend: str, base: Path, args: argparse.Namespace,
            cluster: EtcdCluster | None) -> Figures:
    """Raw storage first (puts at full and at single concurrency, gets), then the same
    operations through a `kyb apiserver` on a fresh state of the same backend."""
    def fresh_storage(name: str) -> Storage:
        if cluster is None:
            return SQLiteStorage(base / f"{name}.db")
        wipe_etcd(cluster.endpoints[0])
        return EtcdStorage(cluster.endpoints)

    raw_puts, raw_gets = uvloop.run(
        raw_storage(fresh_storage("raw"), args.count, args.concurrency))
    serial_puts, _ = uvloop.run(raw_storage(fresh_storage("serial"), args.count, 1))
    extra: list[str] = []
    if cluster is not None:
        wipe_etcd(cluster.endpoints[0])
        extra = etcd_storage_args(cluster.endpoints)
    # The API server alone has no service-account controller to make `default`: as upstream's
    # benchmarks, without the ServiceAccount admission plugin.
    server = Server(base / f"server-{backend}", command="apiserver",
                    extra_args=[*extra, "--disable-admission-plugins", "ServiceAccount"])
    server.data_dir.mkdir()
    server.start()
    try:
        creates, gets, list_first, list_json, list_table = asyncio.run(
            through_api(server, args.count, args.concurrency, args.pods))
    finally:
        server.stop()
    return Figures(serial_puts, raw_puts, raw_gets, creates, gets, list_first, list_json,
                   list_table)


def report(args: argparse.Namespace, results: dict[str, Figures]) -> str:
    names = list(results)
    lines = [f"API throughput: {args.count} objects at concurrency {args.concurrency}, "
             f"`kyb apiserver` over HTTPS vs the raw Storage of the same backend",
             f"{'':36}" + "".join(f"{n:>12}" for n in names)]

    def row(label: str, values: list[float], fmt: str = "{:>12.0f}") -> None:
        lines.append(f"{label:36}" + "".join(fmt.format(v) for v in values))

    row("raw storage puts/s, one writer", [r.serial_puts for r in results.values()])
    row("raw storage puts/s", [r.raw_puts for r in results.values()])
    row("API creates/s", [r.creates for r in results.values()])
    row("  API/raw (creates vs puts)", [r.creates / r.raw_puts for r in results.values()],
        "{:>12.2f}")
    row("raw storage gets/s", [r.raw_gets for r in results.values()])
    row("API gets/s", [r.gets for r in results.values()])
    row("  API/raw (gets)", [r.gets / r.raw_gets for r in results.values()], "{:>12.2f}")
    row(f"LIST {args.pods} pods, JSON, first, ms",
        [r.list_first * 1000 for r in results.values()], "{:>12.1f}")
    row(f"LIST {args.pods} pods, JSON, ms", [r.list_json * 1000 for r in results.values()],
        "{:>12.1f}")
    row(f"LIST {args.pods} pods, Table, ms", [r.list_table * 1000 for r in results.values()],
        "{:>12.1f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--pods", type=int, default=10000)
    parser.add_argument("--backends", default="sqlite,etcd",
                        help="comma-separated: sqlite, etcd (default: both)")
    parser.add_argument("--dir", default=None, help="where the data goes (default: $TMPDIR)")
    args = parser.parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if "etcd" in backends and etcd_binary() is None:
        print("etcd not installed (apt-get install etcd-server): SQLite only")
        backends.remove("etcd")
    results: dict[str, Figures] = {}
    with tempfile.TemporaryDirectory(prefix="kyb-bench-", dir=args.dir) as tmp:
        for backend in backends:
            if backend == "etcd":
                cluster = EtcdCluster(Path(tmp) / "etcd", size=1)
                cluster.start()
                try:
                    results[backend] = measure(backend, Path(tmp), args, cluster)
                finally:
                    cluster.stop()
            elif backend == "sqlite":
                results[backend] = measure(backend, Path(tmp), args, None)
            else:
                parser.error(f"unknown backend {backend!r}")
    print(report(args, results))


if __name__ == "__main__":
    main()
