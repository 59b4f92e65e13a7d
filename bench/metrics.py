"""The cost of resource metrics: a kubelet's full scrape of N pods, and the metrics server's
collection for many simulated nodes, each beside its idle baseline in the same run.

1. Kubelet (needs root and cgroups): N pod cgroups, each with one container cgroup, are
   made under a cgroup root of the bench's own (real cgroup files, no processes); a full
   scrape is what the kubelet does for `/metrics/resource`: read every cgroup
   (`CgroupStats.collect`) and write the Prometheus text; the baseline is the same scrape
   with no pods (the node's own figures). Reported: cpu ms per scrape (process time).
2. Metrics server: one collection cycle for M simulated nodes with P pods each (synthetic
   usage, kubelet/stats_sim.py) stored (`MetricsStorage`), and apart from it the
   `NodeMetricsList` and `PodMetricsList` of everything rendered as the API would; the
   baseline has the nodes and no pods. Reported: cpu ms of each.

    python bench/metrics.py [--pods 110] [--scrapes 20] [--nodes 5000] [--pods-per-node 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kybernetes.kubelet.runtime.runc.sandbox import remove_cgroup
from kybernetes.kubelet.stats import CgroupStats
from kybernetes.kubelet.stats_cgroup import Hierarchies
from kybernetes.kubelet.stats_metrics import resource_metrics
from kybernetes.kubelet.stats_sim import CPU_ANNOTATION, MEMORY_ANNOTATION, SyntheticStats
from kybernetes.metrics.api import MetricsApi
from kybernetes.metrics.scrape import from_usage
from kybernetes.metrics.storage import MetricsStorage

Obj = dict[str, Any]


def cpu_ms(fn: Callable[[], object], repeat: int) -> float:
    """Process cpu milliseconds per call of `fn`, over `repeat` calls."""
    start = time.process_time()
    for _ in range(repeat):
        fn()
    return (time.process_time() - start) * 1000 / repeat


def pod(i: int, node: str = "", annotations: dict[str, str] | None = None) -> Obj:
    return {"metadata": {"namespace": "bench", "name": f"pod-{i}", "uid": f"uid-{i}",
                         "annotations": annotations or {}},
            "spec": {"nodeName": node, "containers": [{"name": "app"}]},
            "status": {"phase": "Running", "startTime": "2026-12-07T10:00:00Z",
                       "containerStatuses": [{
                           "name": "app", "containerID": f"runc://c{i}",
                           "state": {"running": {"startedAt": "2026-12-07T10:00:00Z"}}}]}}


def kubelet_scrape(count: int, scrapes: int) -> None:
    hierarchies = Hierarchies.discover()
    root = f"/kyb-bench-{secrets.token_hex(4)}"
    pods = [pod(i) for i in range(count)]
    mounts = [m for m in {id(m): m for m in hierarchies.v1.values()}.values()]
    if hierarchies.v2 is not None:
        mounts.append(hierarchies.v2)
    try:
        for i in range(count):
            for mount in mounts:
                hierarchies.directory(mount, f"{root}/besteffort/poduid-{i}/c{i}").mkdir(
                    parents=True, exist_ok=True)
        for label, listed in (("idle (no pods)", []), (f"{count} pods", pods)):
            stats = CgroupStats("bench", lambda listed=listed: listed, root)

            def scrape(stats: CgroupStats = stats) -> bytes:
                return resource_metrics(asyncio.run(stats.collect()))
            scrape()
            print(f"kubelet /metrics/resource, {label}: {cpu_ms(scrape, scrapes):.2f} cpu ms "
                  "per scrape")
    finally:
        remove_cgroup(root)


def metrics_cycle(nodes: int, per_node: int, cycles: int) -> None:
    for label, count in (("idle (no pods)", 0), (f"{per_node} pods per node", per_node)):
        collect, render = _cycle_cost(nodes, count, cycles)
        print(f"metrics server, {nodes} simulated nodes, {label}: {collect:.0f} cpu ms per "
              f"collection cycle, {render:.0f} cpu ms to list every NodeMetrics and "
              "PodMetrics")


def _cycle_cost(nodes: int, per_node: int, cycles: int) -> tuple[float, float]:
    """(cpu ms of a collection cycle, cpu ms of listing all metrics once)."""
    annotations = {CPU_ANNOTATION: "250m", MEMORY_ANNOTATION: "64Mi"}
    by_node = {f"sim-{n}": [pod(n * per_node + i, f"sim-{n}", annotations)
                            for i in range(per_node)] for n in range(nodes)}
    synthetic = {name: SyntheticStats(name, lambda listed=listed: listed)
                 for name, listed in by_node.items()}
    storage = MetricsStorage(15)
    node_objects = [{"metadata": {"name": name}} for name in by_node]
    all_pods = [p for listed in by_node.values() for p in listed]
    api = MetricsApi(storage, lambda: node_objects, lambda: all_pods, [])

    def cycle() -> None:
        storage.store({name: from_usage(s.read()) for name, s in synthetic.items()})

    def render() -> None:
        api.route("/apis/metrics.k8s.io/v1beta1/nodes", {})
        api.route("/apis/metrics.k8s.io/v1beta1/pods", {})
    cycle()
    return cpu_ms(cycle, cycles), cpu_ms(render, cycles)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pods", type=int, default=110)
    parser.add_argument("--scrapes", type=int, default=20)
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--pods-per-node", type=int, default=10)
    parser.add_argument("--cycles", type=int, default=3)
    args = parser.parse_args()
    if os.geteuid() == 0:
        kubelet_scrape(args.pods, args.scrapes)
    else:
        print("kubelet scrape: skipped (needs root to make cgroups)")
    metrics_cycle(args.nodes, args.pods_per_node, args.cycles)


if __name__ == "__main__":
    main()
