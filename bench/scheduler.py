"""Scheduler throughput on simulated nodes, beside upstream's scheduler_perf thresholds.

For each workload a fresh cluster is started (as scheduler_perf does): a `kyb server` (its
controller manager and scheduler off), one `kyb sim nodes` process holding every node, and a
standalone `kyb scheduler` with client QPS 5000 (scheduler_perf's setting). The bench
creates the workload's init pods and waits until they are bound, then creates the measured
pods as fast as 64 connections allow while watching them: throughput is measured pods
divided by the time from the first create to the last pod seen bound (created -> bound), and
the latency of each pod from its create to its binding is reported as p50/p99. CPU seconds
used by each process during the measurement show where the time went. Beside it, "cycles
alone" is the scheduling cycle (filter, score, assume) run in this process on a cache of the
same cluster, without any API traffic: the scheduler's own ceiling.

Workloads are upstream's (test/integration/scheduler_perf, `threshold` = pods/s the
upstream scheduler must reach in CI on a much bigger machine, without kubelets):

    SchedulingBasic/5000Nodes_10000Pods          misc/performance-config.yaml       680
    SchedulingBasic/5000Nodes_50000Pods          misc/performance-config.yaml       810
    SchedulingPodAntiAffinity/5000Nodes_2000Pods  affinity/performance-config.yaml    60
    TopologySpreading/5000Nodes_5000Pods          topology_spreading/...yaml          460

    python bench/scheduler.py [--nodes 5000] [--pods 10000] [--only basic,anti,spread]
                              [--big]   # also SchedulingBasic with 50000 pods

Here the simulated nodes renew 5000 Leases every 10 s, on the same machine as the API server
and the scheduler; with `--kubelets` they also report every pod Running (one more write per
pod), which scheduler_perf does not do.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson
import uvloop
from tests.e2e.cluster import Server

from bench.loadgen import Connection
from kybernetes.apiserver.pki import Pki, ssl_client_context
from kybernetes.client import ApiClient, load_kubeconfig, resource

PODS = resource("", "v1", "pods")
NODES = resource("", "v1", "nodes")
NAMESPACES = resource("", "v1", "namespaces")
ZONES = ("moon-1", "moon-2", "moon-3")
CONCURRENCY = 64


def default_pod(i: int, labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    """templates/pod-default.yaml (and its variants)."""
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"pod-{i}", "labels": labels or {}},
            "spec": {"containers": [{
                "name": "pause", "image": "registry.k8s.io/pause:3.10",
                "ports": [{"containerPort": 80}],
                "resources": {"limits": {"cpu": "100m", "memory": "500Mi"},
                              "requests": {"cpu": "100m", "memory": "500Mi"}}}], **spec}}


def anti_affinity_pod(i: int) -> dict[str, Any]:
    """templates/pod-with-pod-anti-affinity.yaml."""
    return default_pod(i, {"color": "green"}, affinity={"podAntiAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [{
            "labelSelector": {"matchLabels": {"color": "green"}},
            "topologyKey": "kubernetes.io/hostname", "namespaces": ["sched-1", "sched-0"]}]}})


def spreading_pod(i: int) -> dict[str, Any]:
    """templates/pod-with-topology-spreading.yaml."""
    return default_pod(i, {"color": "blue"}, topologySpreadConstraints=[{
        "maxSkew": 5, "topologyKey": "topology.kubernetes.io/zone",
        "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"color": "blue"}}}])


@dataclass
class Workload:
    name: str
    init_pods: int
    measure_pods: int
    threshold: int
    init_template: Any = default_pod
    measure_template: Any = default_pod
    init_namespace: str = "sched-0"
    measure_namespace: str = "sched-1"
    zones: bool = False


@dataclass
class Result:
    workload: Workload
    nodes: int
    register_seconds: float
    throughput: float
    create_rate: float
    p50: float
    p99: float
    cpu: dict[str, float] = field(default_factory=dict)
    unscheduled: int = 0


def kyb(*args: str) -> list[str]:
    return [sys.executable, "-m", "kybernetes.cli.main", *args]


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Tracker:
    """Watches a namespace's pods: when each was first seen bound."""

    def __init__(self, api: ApiClient, namespace: str) -> None:
        self.api = api
        self.namespace = namespace
        self.bound: dict[str, float] = {}
        self.created: dict[str, float] = {}
        self.done = asyncio.Event()
        self.expected = 0

    async def run(self, resource_version: str) -> None:
        while True:
            watch = self.api.watch(PODS, self.namespace, resource_version=resource_version,
                                   timeout_seconds=3600)
            async with watch:
                async for kind, obj in watch:
                    if kind == "BOOKMARK":
                        continue
                    name = obj["metadata"]["name"]
                    if obj.get("spec", {}).get("nodeName") and name not in self.bound:
                        self.bound[name] = time.perf_counter()
                        if len(self.bound) >= self.expected > 0:
                            self.done.set()
            resource_version = watch.resource_version


async def create_pods(server: Server, namespace: str, count: int, template: Any,
                      created: dict[str, float]) -> tuple[float, float]:
    """Create `count` pods as fast as CONCURRENCY connections allow; (start, end)."""
    context = ssl_client_context(Pki.at(server.data_dir))
    connections = [await Connection.open("127.0.0.1", server.port, context)
                   for _ in range(CONCURRENCY)]
    path = f"/api/v1/namespaces/{namespace}/pods"
    numbers = iter(range(count))

    async def worker(conn: Connection) -> None:
        for i in numbers:
            body = orjson.dumps(template(i))
            status, answer = await conn.request("POST", path, body,
                                                {"Content-Type": "application/json"})
            if status != 201:
                raise RuntimeError(f"creating pod-{i}: {status} {answer[:200]!r}")
            created[f"pod-{i}"] = time.perf_counter()

    start = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in connections))
    end = time.perf_counter()
    for conn in connections:
        conn.close()
    return start, end


async def wait_bound(tracker: Tracker, count: int, limit: float) -> bool:
    tracker.expected = count
    if len(tracker.bound) >= count:
        return True
    try:
        async with asyncio.timeout(limit):
            await tracker.done.wait()
    except TimeoutError:
        return False
    return True


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run_workload(server: Server, workload: Workload, nodes: int,
                       processes: dict[str, subprocess.Popen[bytes]],
                       register_seconds: float, limit: float) -> Result:
    config = load_kubeconfig(server.kubeconfig).replace(qps=0, user_agent="bench-scheduler")
    async with ApiClient(config) as api:
        for ns in {workload.init_namespace, workload.measure_namespace}:
            await api.create(NAMESPACES, {"metadata": {"name": ns}})
        trackers = {}
        tasks = []
        for ns in {workload.init_namespace, workload.measure_namespace}:
            listed = await api.list(PODS, ns)
            trackers[ns] = Tracker(api, ns)
            tasks.append(asyncio.create_task(trackers[ns].run(listed.resource_version)))
        try:
            if workload.init_pods:
                init = trackers[workload.init_namespace]
                await create_pods(server, workload.init_namespace, workload.init_pods,
                                  workload.init_template, init.created)
                if not await wait_bound(init, workload.init_pods, limit):
                    print(f"  init pods: only {len(init.bound)} of {workload.init_pods} bound")
            measure = trackers[workload.measure_namespace]
            if workload.measure_namespace == workload.init_namespace:
                measure.bound.clear()
                measure.done.clear()
            cpu_before = {name: cpu_seconds(p.pid) for name, p in processes.items()}
            start, end = await create_pods(server, workload.measure_namespace,
                                           workload.measure_pods, workload.measure_template,
                                           measure.created)
            complete = await wait_bound(measure, workload.measure_pods, limit)
            cpu = {name: cpu_seconds(p.pid) - cpu_before[name] for name, p in processes.items()}
            bound = [t for name, t in measure.bound.items() if name in measure.created]
            last = max(bound) if bound else end
            latencies = [measure.bound[n] - c for n, c in measure.created.items()
                         if n in measure.bound]
            return Result(workload, nodes, register_seconds,
                          len(bound) / (last - start) if last > start else 0.0,
                          workload.measure_pods / (end - start),
                          percentile(latencies, 0.5), percentile(latencies, 0.99), cpu,
                          0 if complete else workload.measure_pods - len(bound))
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def wait_nodes(server: Server, count: int, limit: float) -> float:
    config = load_kubeconfig(server.kubeconfig).replace(qps=0)
    start = time.perf_counter()
    async with ApiClient(config) as api:
        while time.perf_counter() - start < limit:
            listed = await api.list(NODES, limit=0)
            if len(listed) >= count:
                return time.perf_counter() - start
            await asyncio.sleep(0.5)
    raise RuntimeError(f"fewer than {count} nodes registered in {limit}s")


def measure(workload: Workload, nodes: int, timeout: float, kubelets: bool) -> Result:
    with tempfile.TemporaryDirectory(prefix="kyb-bench-sched-") as tmp:
        data = Path(tmp)
        # No controller manager, so no `default` service accounts: as upstream's
        # scheduler_perf, without the ServiceAccount admission plugin.
        server = Server(data, extra_args=["--disable-controller-manager",
                                          "--disable-scheduler",
                                          "--disable-metrics-server", "--disable-ingress",
                                          "--disable-admission-plugins", "ServiceAccount"])
        server.start()
        logs = {name: open(data / f"{name}.log", "ab")  # noqa: SIM115
                for name in ("sim", "scheduler")}
        config = data / "scheduler.yaml"
        config.write_text(json.dumps({
            "apiVersion": "kubescheduler.config.k8s.io/v1",
            "kind": "KubeSchedulerConfiguration",
            "clientConnection": {"qps": 5000, "burst": 5000},
            "leaderElection": {"leaderElect": False}}))
        processes: dict[str, subprocess.Popen[bytes]] = {}
        try:
            sim_args = ["sim", "nodes", "--count", str(nodes), "--kubeconfig",
                        str(server.kubeconfig), "--name-prefix", "scheduler-perf-",
                        "--cpu", "4", "--memory", "32Gi", "--pods", "110"]
            if workload.zones:
                sim_args += ["--zones", ",".join(ZONES)]
            if not kubelets:
                sim_args.append("--no-pods")
            started = time.perf_counter()
            processes["sim"] = subprocess.Popen(kyb(*sim_args), stdout=logs["sim"],
                                                stderr=subprocess.STDOUT)
            uvloop.run(wait_nodes(server, nodes, timeout))
            register_seconds = time.perf_counter() - started
            processes["scheduler"] = subprocess.Popen(
                kyb("scheduler", "--kubeconfig", str(server.kubeconfig), "--config",
                    str(config)), stdout=logs["scheduler"], stderr=subprocess.STDOUT)
            assert server.process is not None
            watched = {"apiserver": server.process, **processes}
            return uvloop.run(run_workload(server, workload, nodes, watched,
                                           register_seconds, timeout))
        finally:
            for process in processes.values():
                process.terminate()
            for process in processes.values():
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    process.kill()
            server.stop()
            for log in logs.values():
                log.close()


def cycles_only(workload: Workload, nodes: int) -> float:
    """Pods/s of the scheduling cycle alone (filter, score, assume), in this process, on a
    cache of the same cluster: what the scheduler could do if the API were free."""
    from kybernetes.scheduler.cache import Cache
    from kybernetes.scheduler.config import default_profile
    from kybernetes.scheduler.framework import Framework
    from kybernetes.scheduler.interface import CycleState, Handle
    from kybernetes.scheduler.plugins import REGISTRY
    from kybernetes.scheduler.podinfo import PodInfo
    from kybernetes.scheduler.queue import Nominator
    from kybernetes.scheduler.schedule_one import Algorithm

    def node(i: int) -> dict[str, Any]:
        labels = {"kubernetes.io/hostname": f"n{i}"}
        if workload.zones:
            labels["topology.kubernetes.io/zone"] = ZONES[i % len(ZONES)]
        return {"metadata": {"name": f"n{i}", "labels": labels}, "spec": {},
                "status": {"allocatable": {"cpu": "4", "memory": "32Gi", "pods": "110"}}}

    cache = Cache.of(node(i) for i in range(nodes))
    handle = Handle(cache)
    handle.nominator = Nominator()
    framework = Framework(default_profile(), REGISTRY, handle)
    algorithm = Algorithm(cache)

    def schedule(obj: dict[str, Any], namespace: str) -> None:
        obj["metadata"].update(namespace=namespace,
                               uid=f"{namespace}-{obj['metadata']['name']}")
        pod = PodInfo(obj)
        host = algorithm.schedule_pod(framework, CycleState(), pod).suggested_host
        placed = pod.with_pod({**obj, "spec": {**obj["spec"], "nodeName": host}})
        placed.node_name = host
        cache.assume_pod(placed)

    for i in range(workload.init_pods):
        schedule(workload.init_template(i), workload.init_namespace)
    start = time.perf_counter()
    for i in range(workload.measure_pods):
        schedule(workload.measure_template(i), workload.measure_namespace)
    return workload.measure_pods / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--pods", type=int, default=10000,
                        help="measured pods of SchedulingBasic")
    parser.add_argument("--only", default="basic,anti,spread")
    parser.add_argument("--big", action="store_true",
                        help="also SchedulingBasic with 50000 measured pods")
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--kubelets", action="store_true",
                        help="simulated nodes also report each pod Running (one more write "
                             "per pod); upstream's scheduler_perf runs no kubelets")
    args = parser.parse_args()
    catalog = {
        "basic": Workload("SchedulingBasic/5000Nodes_10000Pods", 1000, args.pods, 680),
        "anti": Workload("SchedulingPodAntiAffinity/5000Nodes_2000Pods", 1000, 2000, 60,
                         anti_affinity_pod, anti_affinity_pod),
        "spread": Workload("TopologySpreading/5000Nodes_5000Pods", 5000, 5000, 460,
                           default_pod, spreading_pod, zones=True),
        "big": Workload("SchedulingBasic/5000Nodes_50000Pods", 5000, 50000, 810),
    }
    if args.nodes != 5000:
        # Smaller (or bigger) clusters: scale the pod counts with the nodes.
        scale = args.nodes / 5000
        for key in ("anti", "spread", "big"):
            w = catalog[key]
            w.init_pods, w.measure_pods = int(w.init_pods * scale), int(w.measure_pods * scale)
    for w in catalog.values():
        family = w.name.split("/")[0]
        w.name = f"{family}/{args.nodes}Nodes_{w.measure_pods}Pods"
    chosen = [catalog[k.strip()] for k in args.only.split(",") if k.strip()]
    if args.big:
        chosen.append(catalog["big"])
    print(f"{os.cpu_count()} CPUs; {args.nodes} simulated nodes per workload; "
          f"client QPS 5000; {CONCURRENCY} creating connections")
    results = []
    for workload in chosen:
        print(f"- {workload.name}: {workload.init_pods} init pods, "
              f"{workload.measure_pods} measured ...", flush=True)
        result = measure(workload, args.nodes, args.timeout, args.kubelets)
        results.append(result)
        cpu = ", ".join(f"{k} {v:.0f}s" for k, v in result.cpu.items())
        print(f"  nodes registered in {result.register_seconds:.1f}s; pods created at "
              f"{result.create_rate:.0f}/s; scheduled {result.throughput:.0f} pods/s "
              f"(p50 {result.p50 * 1000:.0f} ms, p99 {result.p99 * 1000:.0f} ms "
              f"created -> bound); CPU {cpu}"
              + (f"; {result.unscheduled} NOT BOUND" if result.unscheduled else ""),
              flush=True)
    cycles = {r.workload.name: cycles_only(r.workload, args.nodes) for r in results}
    print()
    print(f"{'workload':44} {'created->bound':>14} {'cycles alone':>13} "
          f"{'upstream threshold':>19}")
    for r in results:
        print(f"{r.workload.name:44} {r.throughput:10.0f} /s {cycles[r.workload.name]:9.0f} /s "
              f"{r.workload.threshold:16d} /s")


if __name__ == "__main__":
    main()
