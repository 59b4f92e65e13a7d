"""Custom resources against ConfigMaps, measured in one run on one `kyb apiserver`.

Creates `--count` custom resources of a CRD with a structural schema (types, an enum, a
pattern, bounds, defaults) and a CEL rule, and as many ConfigMaps, over HTTPS at the same
concurrency; then LISTs each (JSON and Table). Prints creates/s and list latency of both and
their ratio (the goal: custom resources within 1.5x of ConfigMaps).

    python bench/crd.py [--count 10000] [--concurrency 32] [--storage sqlite|etcd]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.cluster import Server, etcd_storage_args, wipe_etcd
from tests.etcd_cluster import EtcdCluster, etcd_binary

from bench.loadgen import ConnectionPool, ops_per_second
from kybernetes.apiserver.pki import Pki, ssl_client_context

GROUP = "bench.kyb.example.com"
JSON = {"content-type": "application/json"}
TABLE = {"accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}

CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": f"benchers.{GROUP}"},
    "spec": {"group": GROUP, "scope": "Namespaced",
             "names": {"plural": "benchers", "kind": "Bencher"},
             "versions": [{
                 "name": "v1", "served": True, "storage": True,
                 "additionalPrinterColumns": [
                     {"name": "Size", "type": "string", "jsonPath": ".spec.size"},
                     {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"}],
                 "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {
                     "type": "object", "required": ["size"],
                     "x-kubernetes-validations": [{"rule": "self.replicas <= self.max",
                                                   "message": "too many replicas"}],
                     "properties": {
                         "size": {"type": "string", "enum": ["small", "large"]},
                         "owner": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 20},
                         "replicas": {"type": "integer", "minimum": 0},
                         "max": {"type": "integer", "default": 10},
                         "value": {"type": "string"}}}}}}}]},
}


def _bencher(i: int) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/v1", "kind": "Bencher",
            "metadata": {"name": f"b-{i}", "labels": {"bench": "yes"}},
            "spec": {"size": "small", "owner": "bench", "replicas": i % 10,
                     "value": "value" * 20}}


def _configmap(i: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": f"cm-{i}", "labels": {"bench": "yes"}},
            "data": {"key": "value" * 20}}


@dataclass
class Figures:
    creates: float
    list_json: float
    list_table: float


class _Kind:
    """One kind under test: its collection, its objects, the creates' time so far."""

    def __init__(self, collection: str, make: Any) -> None:
        self.collection = collection
        self.make = make
        self.created = 0
        self.seconds = 0.0

    async def create(self, pool: ConnectionPool, start: int, count: int,
                     concurrency: int) -> None:
        async def create(i: int) -> None:
            await pool.request("POST", self.collection, orjson.dumps(self.make(start + i)),
                               JSON, 201)

        rate = await ops_per_second(count, concurrency, create)
        self.created += count
        self.seconds += count / rate

    async def list_time(self, pool: ConnectionPool, headers: dict[str, str] | None,
                        field: str) -> float:
        start = time.perf_counter()
        listed = await pool.request("GET", self.collection, b"", headers, 200)
        elapsed = time.perf_counter() - start
        assert len(orjson.loads(listed)[field]) == self.created
        return elapsed


async def _measure(server: Server, count: int, concurrency: int) -> tuple[Figures, Figures]:
    """Both kinds measured in turns (creates in halves, then LISTs alternately, best of
    five), so that neither gets the server's warm-up or a collection pause alone."""
    context = ssl_client_context(Pki.at(server.data_dir))
    pool = await ConnectionPool.open("127.0.0.1", server.port, context, concurrency)
    try:
        await pool.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                           orjson.dumps(CRD), JSON, 201)
        custom = _Kind(f"/apis/{GROUP}/v1/namespaces/default/benchers", _bencher)
        configmaps = _Kind("/api/v1/namespaces/default/configmaps", _configmap)
        # Served once the CRD controller has established it.
        for _ in range(100):
            status, _body = await pool.connections[0].request("GET", custom.collection)
            if status == 200:
                break
            await asyncio.sleep(0.1)
        half = count // 2
        for start, size in ((0, half), (half, count - half)):
            for kind in (custom, configmaps):
                await kind.create(pool, start, size, concurrency)
        lists: dict[tuple[int, str], list[float]] = {}
        for _ in range(5):
            for index, kind in enumerate((custom, configmaps)):
                for headers, field in ((None, "items"), (TABLE, "rows")):
                    lists.setdefault((index, field), []).append(
                        await kind.list_time(pool, headers, field))
    finally:
        pool.close()

    def figures(index: int, kind: _Kind) -> Figures:
        return Figures(kind.created / kind.seconds, min(lists[(index, "items")]),
                       min(lists[(index, "rows")]))

    return figures(0, custom), figures(1, configmaps)


def report(args: argparse.Namespace, custom: Figures, configmaps: Figures) -> str:
    lines = [f"{args.count} custom resources (schema + CEL rule) vs ConfigMaps, concurrency "
             f"{args.concurrency}, {args.storage}",
             f"{'':28}{'custom':>12}{'configmaps':>12}{'ratio':>10}"]

    def row(label: str, a: float, b: float, fmt: str, ratio: float) -> None:
        lines.append(f"{label:28}{fmt.format(a):>12}{fmt.format(b):>12}{ratio:>10.2f}")

    row("creates/s", custom.creates, configmaps.creates, "{:.0f}",
        configmaps.creates / custom.creates)
    row("LIST JSON, ms", custom.list_json * 1000, configmaps.list_json * 1000, "{:.1f}",
        custom.list_json / configmaps.list_json)
    row("LIST Table, ms", custom.list_table * 1000, configmaps.list_table * 1000, "{:.1f}",
        custom.list_table / configmaps.list_table)
    lines.append("(ratio: how many times slower custom resources are; goal <= 1.5)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--storage", choices=("sqlite", "etcd"), default="sqlite")
    parser.add_argument("--dir", default=None, help="where the data goes (default: $TMPDIR)")
    args = parser.parse_args()
    if args.storage == "etcd" and etcd_binary() is None:
        parser.error("etcd not installed (apt-get install etcd-server)")
    with tempfile.TemporaryDirectory(prefix="kyb-bench-", dir=args.dir) as tmp:
        cluster = None
        extra: list[str] = []
        if args.storage == "etcd":
            cluster = EtcdCluster(Path(tmp) / "etcd", size=1)
            cluster.start()
            wipe_etcd(cluster.endpoints[0])
            extra = etcd_storage_args(cluster.endpoints)
        server = Server(Path(tmp) / "server", command="apiserver",
                        extra_args=[*extra, "--disable-admission-plugins", "ServiceAccount"])
        server.data_dir.mkdir()
        server.start()
        try:
            custom, configmaps = asyncio.run(_measure(server, args.count, args.concurrency))
        finally:
            server.stop()
            if cluster is not None:
                cluster.stop()
    print(report(args, custom, configmaps))


if __name__ == "__main__":
    main()
