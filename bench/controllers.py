"""Controller throughput: a Deployment scaled 0 -> N on simulated nodes, then rolled.

A fresh `kyb server` (API server, controller manager and scheduler in one process, as a user
runs it) and one `kyb sim nodes` process holding 100 nodes. Three figures, in one run:

1. **API alone**: N bare pods created straight through the API, as fast as 64 connections
   allow (no controllers involved, no scheduling or running): the lower bound.
2. **Scale 0 -> N**: `spec.replicas` of an existing Deployment set to N; the time until its
   status reports N available replicas (ReplicaSet controller creating pods in slow-start
   batches, scheduler binding them, simulated kubelets reporting them Running and Ready,
   ReplicaSet and Deployment status catching up).
3. **Rolling update**: the template's image changed; the time until the rollout is complete
   as `kubectl rollout status` judges it (observedGeneration current, updated = available =
   replicas, no old replicas left).

    python bench/controllers.py [--replicas 3000] [--nodes 100]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import uvloop
from tests.e2e.cluster import Server

from bench.cluster import add_qps_argument, api_alone_seconds, sim_cluster, wait_rolled_out
from bench.scheduler import default_pod
from kybernetes.client import ApiClient, load_kubeconfig, resource

DEPLOYMENTS = resource("apps", "v1", "deployments")
NAMESPACES = resource("", "v1", "namespaces")
PODS = resource("", "v1", "pods")


def deployment(image: str) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "bench"},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "bench"}},
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": {
                         "maxSurge": "25%", "maxUnavailable": "25%"}},
                     "template": {"metadata": {"labels": {"app": "bench"}},
                                  "spec": {"containers": [{
                                      "name": "app", "image": image,
                                      "resources": {"requests": {"cpu": "10m",
                                                                 "memory": "16Mi"}}}]}}}}


def rolled_out(obj: dict[str, Any], replicas: int) -> bool:
    """`kubectl rollout status`'s test for a finished rollout."""
    status = obj.get("status") or {}
    return bool(status.get("observedGeneration", 0) >= obj["metadata"]["generation"]
                and status.get("updatedReplicas", 0) == replicas
                and status.get("replicas", 0) == replicas
                and status.get("availableReplicas", 0) == replicas)


async def run(server: Server, replicas: int, limit: float) -> dict[str, float]:
    config = load_kubeconfig(server.kubeconfig).replace(qps=0, user_agent="bench-controllers",
                                                       timeout=600)
    figures: dict[str, float] = {}
    async with ApiClient(config) as api:
        for ns in ("bare", "deploy"):
            await api.create(NAMESPACES, {"metadata": {"name": ns}})
        # 1. the API alone, with the scheduler's and kubelets' work left out of the figure
        figures["api_create_seconds"] = await api_alone_seconds(api, server, "bare", replicas,
                                                                default_pod)
        # 2. scale 0 -> N
        await api.create(DEPLOYMENTS, deployment("registry.k8s.io/pause:3.10"), "deploy")
        await wait_rolled_out(api, DEPLOYMENTS, "bench", "deploy",
                              lambda obj: rolled_out(obj, 0), limit)
        started = time.perf_counter()
        await api.patch(DEPLOYMENTS, "bench", {"spec": {"replicas": replicas}}, "deploy")
        await wait_rolled_out(api, DEPLOYMENTS, "bench", "deploy",
                              lambda obj: rolled_out(obj, replicas), limit)
        figures["scale_up_seconds"] = time.perf_counter() - started
        # 3. a rolling update of all N
        started = time.perf_counter()
        await api.patch(DEPLOYMENTS, "bench", {"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "registry.k8s.io/pause:3.9"}]}}}}, "deploy",
            patch_type="strategic")
        await wait_rolled_out(api, DEPLOYMENTS, "bench", "deploy",
                              lambda obj: rolled_out(obj, replicas), limit)
        figures["rolling_update_seconds"] = time.perf_counter() - started
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicas", type=int, default=3000)
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=900.0)
    add_qps_argument(parser)
    args = parser.parse_args()
    with sim_cluster("kyb-bench-ctrl-", args.nodes, args.qps, args.timeout) as server:
        figures = uvloop.run(run(server, args.replicas, args.timeout))
    n = args.replicas
    api = figures["api_create_seconds"]
    print(f"{args.nodes} simulated nodes, {n} replicas, controller-manager and scheduler "
          f"client QPS {args.qps:g}")
    print(f"  API alone: {n} pod creates     {api:7.2f} s  ({n / api:6.0f} pods/s)")
    for label, key in (("scale 0 -> N, all available", "scale_up_seconds"),
                       ("rolling update, complete", "rolling_update_seconds")):
        seconds = figures[key]
        print(f"  {label:32s}{seconds:7.2f} s  ({n / seconds:6.0f} pods/s, "
              f"{seconds / api:4.1f}x the API alone)")


if __name__ == "__main__":
    main()
