"""Informer throughput through the real client against a real `kyb server` process.

Creates N ConfigMaps through `ApiClient` as fast as bounded concurrency allows, then times
how long an informer takes to list them and deliver every `on_add` (paginated list+watch,
and the streaming watch-list), and finally updates every ConfigMap while the informer runs,
counting `on_update` deliveries per second. Prints the figures.

    python bench/informer.py [--count 5000] [--concurrency 64] [--kubeconfig PATH]

Without --kubeconfig a server is started in a temporary data dir (and stopped at the end).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import uvloop
from tests.e2e.cluster import Server

from kybernetes.client import ApiClient, Informer, load_kubeconfig, resource

CONFIGMAPS = resource("", "v1", "configmaps")
NAMESPACES = resource("", "v1", "namespaces")


async def _bounded(count: int, concurrency: int, op: Any) -> float:
    """Seconds to run `op(i)` for every i < count, `concurrency` at a time."""
    numbers = iter(range(count))

    async def worker() -> None:
        for i in numbers:
            await op(i)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start


async def _sync_time(api: ApiClient, namespace: str, count: int, watch_list: bool
                     ) -> tuple[float, float]:
    """(seconds until the store is synced, seconds until every on_add was delivered)."""
    adds = 0
    done = asyncio.Event()

    def on_add(obj: dict[str, Any]) -> None:
        nonlocal adds
        adds += 1
        if adds == count:
            done.set()

    informer = Informer(api, CONFIGMAPS, namespace=namespace, watch_list=watch_list)
    informer.add_event_handler(on_add)
    start = time.perf_counter()
    informer.start()
    try:
        await informer.wait_for_sync()
        synced = time.perf_counter() - start
        await done.wait()
        delivered = time.perf_counter() - start
    finally:
        await informer.stop()
    return synced, delivered


async def run(kubeconfig: Path, count: int, concurrency: int) -> None:
    config = load_kubeconfig(kubeconfig).replace(qps=0, user_agent="bench-informer")
    async with ApiClient(config) as api:
        namespace = f"bench-{uuid.uuid4().hex[:8]}"
        await api.create(NAMESPACES, {"metadata": {"name": namespace}})

        async def create(i: int) -> None:
            await api.create(CONFIGMAPS, {"metadata": {"name": f"cm-{i:05d}",
                                                       "labels": {"bench": "informer"}},
                                          "data": {"key": "value" * 20}}, namespace)

        took = await _bounded(count, concurrency, create)
        print(f"create   {count} ConfigMaps: {took:6.2f} s  {count / took:8.0f} creates/s "
              f"(concurrency {concurrency})")

        for label, watch_list in (("list+watch", False), ("watch-list", True)):
            synced, delivered = await _sync_time(api, namespace, count, watch_list)
            print(f"sync     {label:<10}: store synced {synced:6.3f} s, all on_add delivered "
                  f"{delivered:6.3f} s  ({count / delivered:8.0f} objects/s)")

        updates = 0
        all_seen = asyncio.Event()

        def on_update(old: dict[str, Any], new: dict[str, Any]) -> None:
            nonlocal updates
            updates += 1
            if updates == count:
                all_seen.set()

        informer = Informer(api, CONFIGMAPS, namespace=namespace)
        informer.add_event_handler(on_update=on_update)
        informer.start()
        await informer.wait_for_sync()

        async def update(i: int) -> None:
            await api.patch(CONFIGMAPS, f"cm-{i:05d}", {"data": {"key": f"v{i}"}}, namespace)

        start = time.perf_counter()
        wrote = await _bounded(count, concurrency, update)
        await all_seen.wait()
        seen = time.perf_counter() - start
        await informer.stop()
        print(f"update   {count} ConfigMaps: {wrote:6.2f} s  {count / wrote:8.0f} patches/s")
        print(f"deliver  {count} on_update:  {seen:6.2f} s  {count / seen:8.0f} events/s "
              f"(last event {seen - wrote:5.3f} s after the last write returned)")

        await api.delete_collection(CONFIGMAPS, namespace, label_selector="bench=informer")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--kubeconfig", type=Path, default=None,
                        help="an existing cluster (default: start a server)")
    args = parser.parse_args()
    if args.kubeconfig is not None:
        uvloop.run(run(args.kubeconfig, args.count, args.concurrency))
        return
    with tempfile.TemporaryDirectory(prefix="kyb-bench-") as tmp:
        server = Server(Path(tmp))
        server.start()
        try:
            uvloop.run(run(server.kubeconfig, args.count, args.concurrency))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
