"""Raw storage throughput and watch latency: SQLite and etcd side by side, in one run.

Both backends get the same work at the same concurrency, on the same disk (durable writes:
SQLite in WAL with synchronous=FULL, etcd fsyncing its WAL): `count` creates of a ConfigMap-
sized value (puts/s), `count` gets of those keys (gets/s), then the latency from a write to
its watch event, as the API server's watch cache sees it (`samples` sequential writes, each
waiting for its event, p50 and p99), and the same while `concurrency` writers keep the
backend busy. etcd is a real single-member `etcd` on a loopback port (tests/etcd_cluster.py).
Runs on uvloop, as `kyb server` does.

    python bench/storage.py [--count 3000] [--concurrency 32] [--samples 300]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.etcd_cluster import EtcdCluster, etcd_binary

from bench.loadgen import ops_per_second
from kybernetes.storage.etcd import EtcdStorage
from kybernetes.storage.interface import Storage
from kybernetes.storage.sqlite import SQLiteStorage

Figures = dict[str, float]


def _value(i: int) -> bytes:
    return orjson.dumps({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": f"cm-{i}", "namespace": "default", "uid": f"{i:032x}",
                     "labels": {"bench": "yes"}, "creationTimestamp": "2024-01-01T00:00:00Z"},
        "data": {"key": "value" * 40}})


async def _watch_latency(storage: Storage, samples: int, concurrency: int) -> tuple[
        list[float], list[float]]:
    """Seconds from issuing a write to receiving its event: alone, then under load."""
    sent: dict[str, float] = {}
    arrived: dict[str, asyncio.Future[float]] = {}
    start = await storage.current_revision()

    async def follow() -> None:
        async for batch in storage.watch("/registry/latency/", start):
            now = time.perf_counter()
            for event in batch:
                future = arrived.get(event.kv.key)
                if future is not None and not future.done():
                    future.set_result(now - sent[event.kv.key])

    follower = asyncio.create_task(follow())
    loop = asyncio.get_running_loop()

    async def sample(key: str) -> float:
        arrived[key] = loop.create_future()
        sent[key] = time.perf_counter()
        await storage.create(key, b"{}")
        return await asyncio.wait_for(arrived[key], 10)

    try:
        await asyncio.sleep(0.1)
        quiet = [await sample(f"/registry/latency/quiet-{i}") for i in range(samples)]
        stop = asyncio.Event()

        async def load(worker: int) -> None:
            i = 0
            while not stop.is_set():
                await storage.create(f"/registry/load/{worker}-{i}", _value(i))
                i += 1

        loaders = [asyncio.create_task(load(w)) for w in range(concurrency)]
        await asyncio.sleep(0.2)
        busy = [await sample(f"/registry/latency/busy-{i}") for i in range(samples)]
        stop.set()
        await asyncio.gather(*loaders)
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)
    return quiet, busy


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(storage: Storage, count: int, concurrency: int, samples: int) -> Figures:
    await storage.start()
    try:
        async def put(i: int) -> None:
            await storage.create(f"/registry/configmaps/default/cm-{i}", _value(i))

        async def get(i: int) -> None:
            await storage.get(f"/registry/configmaps/default/cm-{i}")

        async def list_page(i: int) -> None:
            await storage.list("/registry/configmaps/", limit=500)

        figures = {"puts/s": await ops_per_second(count, concurrency, put),
                   "gets/s": await ops_per_second(count, concurrency, get),
                   "lists of 500/s": await ops_per_second(max(count // 50, 20), concurrency,
                                                          list_page)}
        quiet, busy = await _watch_latency(storage, samples, concurrency)
        figures["watch p50 ms (idle)"] = statistics.median(quiet) * 1000
        figures["watch p99 ms (idle)"] = _percentile(quiet, 0.99) * 1000
        figures[f"watch p50 ms ({concurrency} writers)"] = statistics.median(busy) * 1000
        figures[f"watch p99 ms ({concurrency} writers)"] = _percentile(busy, 0.99) * 1000
        return figures
    finally:
        await storage.close()


def _table(results: dict[str, Figures]) -> str:
    names = list(results)
    rows = list(next(iter(results.values())))
    width = max(len(r) for r in rows) + 2
    lines = [" " * width + "".join(f"{n:>12}" for n in names)
             + ("   etcd/sqlite" if names == ["sqlite", "etcd"] else "")]
    for row in rows:
        cells = "".join(f"{results[n][row]:>12.1f}" for n in names)
        ratio = (f"{results['etcd'][row] / results['sqlite'][row]:>14.2f}"
                 if names == ["sqlite", "etcd"] else "")
        lines.append(f"{row:<{width}}{cells}{ratio}")
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> None:
    results: dict[str, Figures] = {}
    with tempfile.TemporaryDirectory(prefix="kyb-bench-", dir=args.dir) as tmp:
        base = Path(tmp)
        results["sqlite"] = await measure(SQLiteStorage(base / "state.db"), args.count,
                                          args.concurrency, args.samples)
        if etcd_binary() is None:
            print("etcd not installed (apt-get install etcd-server): SQLite only")
        else:
            cluster = EtcdCluster(base / "etcd", size=1)
            await asyncio.to_thread(cluster.start)
            try:
                results["etcd"] = await measure(EtcdStorage(cluster.endpoints), args.count,
                                                args.concurrency, args.samples)
            finally:
                cluster.stop()
    print(f"storage: {args.count} ops at concurrency {args.concurrency}, "
          f"{args.samples} watch samples")
    print(_table(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--dir", default=None, help="where the data goes (default: $TMPDIR)")
    args = parser.parse_args()
    uvloop.run(main_async(args))


if __name__ == "__main__":
    main()
