"""Watch fan-out: many concurrent watchers on pods while pods change at a set rate.

A `kyb apiserver` process (SQLite) serves `--watchers` watches of the pods of one namespace,
opened from `--procs` client processes (so that the client's parsing is spread out), while
this process patches `--pods` pods round-robin at `--rate` changes per second for
`--duration` seconds. Each change stamps the time it was sent in an annotation; each watcher
takes the stamp out of every event it reads, so delivery latency is measured from the send
of the write to the watcher reading its event. Reports delivered events (of the expected
changes x watchers), p50/p99/max delivery latency, and the API server's CPU per event per
watcher (its CPU seconds during the run over changes x watchers).

    python bench/watch.py [--watchers 1000] [--rate 200] [--duration 10] [--pods 100]
                          [--procs 2]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import ssl
import sys
import tempfile
import time
from multiprocessing.connection import Connection as Pipe
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson
import uvloop
from tests.e2e.cluster import Server

from bench.loadgen import ConnectionPool
from kybernetes.apiserver.pki import Pki, ssl_client_context

STAMP = b'"bench/sent":"'
PODS_PATH = "/api/v1/namespaces/default/pods"


def _pod(i: int) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"pod-{i}"},
            "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _watch(port: int, context: ssl.SSLContext, revision: str, latencies: list[float],
                 opened: asyncio.Event, counter: list[int], count: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context,
                                                   limit=16 * 1024 * 1024)
    writer.write(f"GET {PODS_PATH}?watch=1&resourceVersion={revision} HTTP/1.1\r\n"
                 "Host: 127.0.0.1\r\n\r\n".encode())
    while (await reader.readline()) not in (b"\r\n", b""):
        pass
    counter[0] += 1
    if counter[0] == count:
        opened.set()
    try:
        while True:
            size = int((await reader.readline()).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                return
            now = time.time()
            at = chunk.find(STAMP)
            while at >= 0:  # a chunk may carry several events
                end = chunk.index(b'"', at + len(STAMP))
                latencies.append(now - float(chunk[at + len(STAMP):end]))
                at = chunk.find(STAMP, end)
    finally:
        writer.close()


def _watchers(port: int, data_dir: str, revision: str, count: int, pipe: Pipe) -> None:
    """One client process: `count` watches; reports when all are open, then, when told to
    stop, its latencies."""
    async def run() -> list[float]:
        context = ssl_client_context(Pki.at(Path(data_dir)))
        latencies: list[float] = []
        opened = asyncio.Event()
        counter = [0]
        tasks = [asyncio.create_task(_watch(port, context, revision, latencies, opened,
                                            counter, count)) for _ in range(count)]
        await opened.wait()
        pipe.send("open")
        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return latencies
    pipe.send(uvloop.run(run()))


async def _change(pool: ConnectionPool, pods: int, rate: float, duration: float) -> int:
    """Patch pods round-robin at `rate` per second for `duration`; the number sent."""
    total = int(rate * duration)
    start = time.perf_counter()

    async def one(i: int) -> None:
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        patch = {"metadata": {"annotations": {"bench/sent": repr(time.time())}}}
        await pool.request("PATCH", f"{PODS_PATH}/pod-{i % pods}", orjson.dumps(patch),
                           {"content-type": "application/merge-patch+json"})
    await asyncio.gather(*(one(i) for i in range(total)))
    return total


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--watchers", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--pods", type=int, default=100)
    parser.add_argument("--procs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kyb-bench-watch-") as tmp:
        server = Server(Path(tmp) / "server", command="apiserver",
                        extra_args=["--disable-admission-plugins", "ServiceAccount"])
        server.data_dir.mkdir()
        server.start()
        try:
            assert server.process is not None
            print(report(args, server, server.process.pid))
        finally:
            server.stop()


def report(args: argparse.Namespace, server: Server, pid: int) -> str:
    context = ssl_client_context(Pki.at(server.data_dir))

    async def setup() -> str:
        pool = await ConnectionPool.open("127.0.0.1", server.port, context, 8)
        for i in range(args.pods):
            await pool.request("POST", PODS_PATH, orjson.dumps(_pod(i)),
                               {"content-type": "application/json"}, 201)
        listed = orjson.loads(await pool.request("GET", PODS_PATH))
        pool.close()
        return str(listed["metadata"]["resourceVersion"])
    revision = uvloop.run(setup())
    spawn = multiprocessing.get_context("spawn")
    pipes = []
    procs = []
    for n in range(args.procs):
        mine, theirs = spawn.Pipe()
        count = args.watchers // args.procs + (1 if n < args.watchers % args.procs else 0)
        proc = spawn.Process(target=_watchers, args=(server.port, str(server.data_dir),
                                                     revision, count, theirs))
        proc.start()
        pipes.append(mine)
        procs.append(proc)
    for pipe in pipes:
        assert pipe.recv() == "open"

    async def drive() -> int:
        pool = await ConnectionPool.open("127.0.0.1", server.port, context, 16)
        sent = await _change(pool, args.pods, args.rate, args.duration)
        pool.close()
        return sent
    cpu_before = cpu_seconds(pid)
    started = time.perf_counter()
    sent = uvloop.run(drive())
    elapsed = time.perf_counter() - started
    time.sleep(3.0)  # deliveries still under way
    cpu = cpu_seconds(pid) - cpu_before
    latencies: list[float] = []
    for pipe in pipes:
        pipe.send("stop")
    for pipe, proc in zip(pipes, procs, strict=True):
        latencies += pipe.recv()
        proc.join()
    expected = sent * args.watchers
    return "\n".join([
        f"Watch fan-out: {args.watchers} watchers on pods ({args.procs} client processes), "
        f"{args.pods} pods changed at {args.rate:.0f}/s for {args.duration:.0f}s",
        f"  changes sent                 {sent} in {elapsed:.1f}s ({sent / elapsed:.0f}/s)",
        f"  events delivered             {len(latencies)} of {expected} "
        f"({len(latencies) / expected:.1%})",
        f"  delivery latency p50/p99/max {percentile(latencies, 0.5) * 1000:.0f} / "
        f"{percentile(latencies, 0.99) * 1000:.0f} / "
        f"{(max(latencies) if latencies else float('nan')) * 1000:.0f} ms",
        f"  API server CPU               {cpu:.1f}s: "
        f"{cpu / expected * 1e6:.1f} us per event per watcher",
    ])


if __name__ == "__main__":
    main()
