"""DaemonSet throughput: a DaemonSet rolled out across N simulated nodes, then
rolling-updated, beside the API-only floor of creating N pods, in one run.

A fresh `kyb server` (API server, controller manager and scheduler in one process, as a
user runs it) and one `kyb sim nodes` process holding N nodes. Three figures:

1. **API alone**: N bare pods created straight through the API, 64 connections in flight
   (no controller, no scheduling, no running): the lower bound of any rollout's writes.
2. **Rollout**: a DaemonSet created; the time until `kubectl rollout status` would call
   it done (observedGeneration current, desired = updated = available = N): the
   DaemonSet controller creating a pod per node with its node affinity, the scheduler
   binding each, simulated kubelets reporting them Ready, the status catching up.
3. **Rolling update**: the template's image changed; the time until the update is done as
   above, with `maxUnavailable` (default 10%) of the nodes replaced at a time.

    python bench/daemonset.py [--nodes 1000] [--max-unavailable 10%]
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

DAEMON_SETS = resource("apps", "v1", "daemonsets")
NAMESPACES = resource("", "v1", "namespaces")
PODS = resource("", "v1", "pods")


def daemon_set(image: str, max_unavailable: int | str) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "bench"},
            "spec": {"selector": {"matchLabels": {"app": "bench"}},
                     "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {
                         "maxUnavailable": max_unavailable}},
                     "template": {"metadata": {"labels": {"app": "bench"}},
                                  "spec": {"containers": [{
                                      "name": "agent", "image": image,
                                      "resources": {"requests": {"cpu": "10m",
                                                                 "memory": "16Mi"}}}]}}}}


def rolled_out(obj: dict[str, Any], nodes: int) -> bool:
    """`kubectl rollout status`'s test for a finished DaemonSet rollout, on N nodes."""
    status = obj.get("status") or {}
    return bool(status.get("observedGeneration", 0) >= obj["metadata"]["generation"]
            and status.get("desiredNumberScheduled", 0) == nodes
            and status.get("updatedNumberScheduled", 0) == nodes
            and status.get("numberAvailable", 0) == nodes)


async def run(server: Server, nodes: int, max_unavailable: int | str,
              limit: float) -> dict[str, float]:
    config = load_kubeconfig(server.kubeconfig).replace(qps=0, user_agent="bench-daemonset",
                                                       timeout=600)
    figures: dict[str, float] = {}
    async with ApiClient(config) as api:
        for ns in ("bare", "ds"):
            await api.create(NAMESPACES, {"metadata": {"name": ns}})
        # 1. the API alone; the pods name no scheduler, so nothing else works on them
        figures["api_create_seconds"] = await api_alone_seconds(
            api, server, "bare", nodes, lambda i: default_pod(i, schedulerName="none"))
        # 2. the rollout of a new DaemonSet
        started = time.perf_counter()
        await api.create(DAEMON_SETS, daemon_set("registry.k8s.io/pause:3.10",
                                                 max_unavailable), "ds")
        await wait_rolled_out(api, DAEMON_SETS, "bench", "ds",
                              lambda obj: rolled_out(obj, nodes), limit)
        figures["rollout_seconds"] = time.perf_counter() - started
        # 3. a rolling update of every node's pod
        started = time.perf_counter()
        await api.patch(DAEMON_SETS, "bench", {"spec": {"template": {"spec": {"containers": [
            {"name": "agent", "image": "registry.k8s.io/pause:3.9"}]}}}}, "ds",
            patch_type="strategic")
        await wait_rolled_out(api, DAEMON_SETS, "bench", "ds",
                              lambda obj: rolled_out(obj, nodes), limit)
        figures["rolling_update_seconds"] = time.perf_counter() - started
    return figures


def _int_or_percent(text: str) -> int | str:
    return text if text.endswith("%") else int(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--max-unavailable", type=_int_or_percent, default="10%")
    parser.add_argument("--timeout", type=float, default=1800.0)
    add_qps_argument(parser)
    args = parser.parse_args()
    # Leases of N simulated nodes on a busy machine may come late: a node judged NotReady
    # would change the desired number while it is measured.
    with sim_cluster("kyb-bench-ds-", args.nodes, args.qps, args.timeout,
                     manager_args=["--node-monitor-grace-period", "10m"]) as server:
        figures = uvloop.run(run(server, args.nodes, args.max_unavailable, args.timeout))
    n = args.nodes
    api = figures["api_create_seconds"]
    print(f"{n} simulated nodes, maxUnavailable {args.max_unavailable}, controller-manager "
          f"and scheduler client QPS {args.qps:g}")
    print(f"  API alone: {n} pod creates      {api:7.2f} s  ({n / api:6.0f} pods/s)")
    for label, key in (("DaemonSet rollout, all available", "rollout_seconds"),
                       ("rolling update, complete", "rolling_update_seconds")):
        seconds = figures[key]
        print(f"  {label:33s}{seconds:7.2f} s  ({n / seconds:6.0f} pods/s, "
              f"{seconds / api:4.1f}x the API alone)")


if __name__ == "__main__":
    main()
