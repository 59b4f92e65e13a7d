"""Job throughput: N short Jobs on simulated nodes until every one is Complete, beside the
API-only floor of creating and completing the same number of pods, in one run.

A fresh `kyb server` (API server, controller manager and scheduler in one process, as a
user runs it) and one `kyb sim nodes` process, whose Job pods complete as soon as they run
(kwok's `pod-complete` stage). Two figures:

1. **API floor**: N bare pods created and then reported Succeeded through `pods/status`,
   64 requests in flight (no controller, no scheduling: `schedulerName` names no
   scheduler): the least the API must do for N finished pods.
2. **Jobs**: N Jobs (one completion each) created, 64 in flight; the time until all N
   have the `Complete` condition: Job controller creating each pod with its tracking
   finalizer, scheduler binding it, simulated kubelet running and completing it, the Job
   controller counting it (uncounted pods, finalizer removal) and finishing the Job.

    python bench/jobs.py [--jobs 1000] [--nodes 20]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import uvloop
from tests.e2e.cluster import Server

from bench.cluster import add_qps_argument, sim_cluster
from kybernetes.client import ApiClient, load_kubeconfig, resource

JOBS = resource("batch", "v1", "jobs")
NAMESPACES = resource("", "v1", "namespaces")
PODS = resource("", "v1", "pods")
SERVICE_ACCOUNTS = resource("", "v1", "serviceaccounts")
CONCURRENCY = 64
IMAGE = "registry.k8s.io/pause:3.10"
CONTAINER = {"name": "work", "image": IMAGE,
             "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}


def job(i: int) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": f"job-{i}"},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                                           "containers": [CONTAINER]}}}}


def bare_pod(i: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"pod-{i}"},
            "spec": {"schedulerName": "no-scheduler", "restartPolicy": "Never",
                     "containers": [CONTAINER]}}


def succeeded(now: str) -> dict[str, Any]:
    return {"status": {"phase": "Succeeded", "containerStatuses": [{
        "name": "work", "image": IMAGE, "imageID": "", "ready": False, "restartCount": 0,
        "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now,
                                 "finishedAt": now}}}]}}


async def fan_out(count: int, one: Callable[[int], Awaitable[Any]]) -> None:
    """`one(i)` for i < count, CONCURRENCY at a time."""
    numbers = iter(range(count))

    async def worker() -> None:
        for i in numbers:
            await one(i)

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


def complete(obj: dict[str, Any]) -> bool:
    return any(c.get("type") == "Complete" and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions") or ())


async def run(server: Server, count: int, limit: float) -> dict[str, float]:
    config = load_kubeconfig(server.kubeconfig).replace(qps=0, user_agent="bench-jobs",
                                                       timeout=600)
    figures: dict[str, float] = {}
    async with ApiClient(config) as api:
        for ns in ("floor", "jobs"):
            await api.create(NAMESPACES, {"metadata": {"name": ns}})
        for ns in ("floor", "jobs"):  # pods need the namespace's default ServiceAccount
            while True:
                if await api.list(SERVICE_ACCOUNTS, ns):
                    break
                await asyncio.sleep(0.1)
        # 1. the API floor: create N pods, then complete them
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        start = time.perf_counter()
        await fan_out(count, lambda i: api.create(PODS, bare_pod(i), "floor"))
        await fan_out(count, lambda i: api.patch(PODS, f"pod-{i}", succeeded(now), "floor",
                                                 subresource="status"))
        figures["floor_seconds"] = time.perf_counter() - start
        await api.delete_collection(PODS, "floor")
        # 2. N Jobs, until all are Complete
        start = time.perf_counter()
        await fan_out(count, lambda i: api.create(JOBS, job(i), "jobs"))
        figures["create_seconds"] = time.perf_counter() - start
        while True:
            done = sum(1 for j in await api.list(JOBS, "jobs") if complete(j))
            if done == count:
                break
            if time.perf_counter() - start > limit:
                raise RuntimeError(f"only {done} of {count} Jobs Complete after {limit}s")
            await asyncio.sleep(0.25)
        figures["jobs_seconds"] = time.perf_counter() - start
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--nodes", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--separate-controller-manager", action="store_true",
                        help="run the controller manager as its own process (as upstream "
                             "deploys kube-controller-manager) instead of inside kyb server")
    parser.add_argument("--workers", type=int, default=5,
                        help="the Job controller's --concurrent-job-syncs "
                             "(default: %(default)s, upstream's)")
    add_qps_argument(parser)
    args = parser.parse_args()
    with sim_cluster("kyb-bench-jobs-", args.nodes, args.qps, args.timeout,
                     node_args=["--cpu", "64", "--memory", "256Gi", "--pods", "250"],
                     manager_args=["--concurrent-job-syncs", str(args.workers)],
                     separate_controller_manager=args.separate_controller_manager) as server:
        figures = uvloop.run(run(server, args.jobs, args.timeout))
    n = args.jobs
    floor, jobs = figures["floor_seconds"], figures["jobs_seconds"]
    where = "its own process" if args.separate_controller_manager else "kyb server"
    print(f"{args.nodes} simulated nodes, {n} Jobs of one pod each, controller-manager (in "
          f"{where}) and scheduler client QPS {args.qps:g}, {args.workers} Job workers")
    print(f"  API floor: {n} pods created and completed  {floor:7.2f} s  "
          f"({n / floor:6.0f} pods/s)")
    print(f"  {n} Jobs created                          {figures['create_seconds']:7.2f} s")
    print(f"  {n} Jobs created until all Complete       {jobs:7.2f} s  "
          f"({n / jobs:6.0f} Jobs/s, {jobs / floor:4.1f}x the API floor)")


if __name__ == "__main__":
    main()
