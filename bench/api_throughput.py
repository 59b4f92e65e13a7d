"""API throughput against raw storage, measured in one run.

Prints creates/s and gets/s through HTTPS against a real `kyb server` process, beside the same
operations done directly on the SQLite `Storage` (the baseline), at the same concurrency,
and the time to LIST 10k pods (JSON and Table). The figure of merit is API/raw.

    python bench/api_throughput.py [--count 3000] [--concurrency 32] [--pods 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.cluster import Server

from bench.loadgen import Connection
from kybernetes.apiserver.pki import Pki, ssl_client_context
from kybernetes.storage.sqlite import SQLiteStorage


async def _run(count: int, concurrency: int, op: Callable[[int], Awaitable[None]]) -> float:
    """Operations per second for `count` calls of `op`, `concurrency` at a time."""
    queue = iter(range(count))

    async def worker() -> None:
        for i in queue:
            await op(i)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return count / (time.perf_counter() - start)


def _configmap(i: int) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": f"cm-{i}", "labels": {"bench": "yes"}},
            "data": {"key": "value" * 20}}


def _pod(i: int) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"pod-{i}", "labels": {"app": "bench"}},
            "spec": {"containers": [{"name": "c", "image": "busybox:1.36",
                                     "command": ["sleep", "3600"]}]}}


async def raw_storage(path: Path, count: int, concurrency: int) -> tuple[float, float]:
    storage = SQLiteStorage(path)
    await storage.start()
    try:
        async def put(i: int) -> None:
            await storage.create(f"/registry/configmaps/default/cm-{i}",
                                 orjson.dumps(_configmap(i)))

        async def get(i: int) -> None:
            await storage.get(f"/registry/configmaps/default/cm-{i}")

        puts = await _run(count, concurrency, put)
        gets = await _run(count, concurrency, get)
    finally:
        await storage.close()
    return puts, gets


async def through_api(server: Server, count: int, concurrency: int, pods: int
                      ) -> tuple[float, float, float, float]:
    context = ssl_client_context(Pki.at(server.data_dir))
    pool = [await Connection.open("127.0.0.1", server.port, context)
            for _ in range(concurrency)]
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for connection in pool:
        idle.put_nowait(connection)
    json_body = {"content-type": "application/json"}

    async def call(method: str, path: str, body: bytes = b"", expect: int = 200,
                   headers: dict[str, str] | None = None) -> bytes:
        connection = await idle.get()
        try:
            status, payload = await connection.request(method, path, body, headers)
        finally:
            idle.put_nowait(connection)
        assert status == expect, payload[:300]
        return payload

    async def create(i: int) -> None:
        await call("POST", "/api/v1/namespaces/default/configmaps",
                   orjson.dumps(_configmap(i)), 201, json_body)

    async def get(i: int) -> None:
        await call("GET", f"/api/v1/namespaces/default/configmaps/cm-{i}")

    async def create_pod(i: int) -> None:
        await call("POST", "/api/v1/namespaces/default/pods", orjson.dumps(_pod(i)), 201,
                   json_body)

    creates = await _run(count, concurrency, create)
    gets = await _run(count, concurrency, get)
    await _run(pods, concurrency, create_pod)
    start = time.perf_counter()
    listed = await call("GET", "/api/v1/pods")
    list_json = time.perf_counter() - start
    assert len(orjson.loads(listed)["items"]) == pods
    start = time.perf_counter()
    table = await call("GET", "/api/v1/pods", headers={
        "accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    list_table = time.perf_counter() - start
    assert len(orjson.loads(table)["rows"]) == pods
    for connection in pool:
        connection.close()
    return creates, gets, list_json, list_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--pods", type=int, default=10000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        raw_puts, raw_gets = asyncio.run(
            raw_storage(Path(tmp) / "raw.db", args.count, args.concurrency))
        serial_puts, _ = asyncio.run(raw_storage(Path(tmp) / "serial.db", args.count, 1))
        server = Server(Path(tmp) / "server")
        server.data_dir.mkdir()
        server.start()
        try:
            creates, gets, list_json, list_table = asyncio.run(
                through_api(server, args.count, args.concurrency, args.pods))
        finally:
            server.stop()
    print(f"concurrency {args.concurrency}, {args.count} objects")
    print(f"raw storage puts/s, one writer at a time  {serial_puts:10.0f}")
    print(f"raw storage puts/s  {raw_puts:10.0f}")
    print(f"API creates/s       {creates:10.0f}   API/raw {creates / raw_puts:6.2f}")
    print(f"raw storage gets/s  {raw_gets:10.0f}")
    print(f"API gets/s          {gets:10.0f}   API/raw {gets / raw_gets:6.2f}")
    print(f"LIST {args.pods} pods   JSON {list_json * 1000:8.1f} ms   "
          f"Table {list_table * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
