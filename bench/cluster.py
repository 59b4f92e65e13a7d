"""The cluster the controller benchmarks (`controllers.py`, `daemonset.py`, `jobs.py`) run
on: a fresh `kyb server` in a temporary data dir whose scheduler and controller manager use
a high client QPS, and one `kyb sim nodes` process holding N nodes (optionally with the
controller manager as its own process, as upstream deploys kube-controller-manager).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import uvloop
from tests.e2e.cluster import Server, stop_process

from bench.scheduler import Tracker, create_pods, kyb, wait_nodes
from kybernetes.client import ApiClient, resource
from kybernetes.client.rest import ResourceLike

PODS = resource("", "v1", "pods")


def add_qps_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--qps", type=float, default=5000.0,
                        help="the controller manager's and the scheduler's client QPS and "
                             "burst (default: %(default)s, as scheduler_perf sets its "
                             "clients; upstream's and kyb's default is 50, which caps the "
                             "scheduler at about 25 pods/s: a binding and an event each)")


@contextmanager
def sim_cluster(prefix: str, nodes: int, qps: float, timeout: float, *,
                node_args: Sequence[str] = ("--cpu", "32", "--memory", "128Gi",
                                            "--pods", "110"),
                server_args: Sequence[str] = (), manager_args: Sequence[str] = (),
                separate_controller_manager: bool = False) -> Iterator[Server]:
    """A started server with `nodes` simulated nodes registered; everything is stopped and
    the data dir removed on exit. `manager_args` go to the controller manager, in the
    server or in its own process."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp, ExitStack() as stack:
        data = Path(tmp)
        scheduler_config = data / "scheduler.yaml"
        scheduler_config.write_text(json.dumps({
            "apiVersion": "kubescheduler.config.k8s.io/v1",
            "kind": "KubeSchedulerConfiguration",
            "clientConnection": {"qps": qps, "burst": int(qps)}}))
        manager = ["--kube-api-qps", str(qps), "--kube-api-burst", str(int(qps)),
                   *manager_args]
        # Only the control plane under test: no metrics server or ingress bootstrap.
        args = ["--scheduler-config", str(scheduler_config), "--disable-metrics-server",
                "--disable-ingress", *server_args]
        args += ["--disable-controller-manager"] if separate_controller_manager else manager
        server = Server(data, extra_args=args)
        server.start()
        stack.callback(server.stop)
        log = stack.enter_context(open(data / "sim.log", "ab"))
        commands = [kyb("sim", "nodes", "--count", str(nodes), "--kubeconfig",
                        str(server.kubeconfig), *node_args)]
        if separate_controller_manager:
            commands.append(kyb("controller-manager", "--kubeconfig", str(server.kubeconfig),
                                "--use-service-account-credentials", *manager))
        for command in commands:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
            stack.callback(stop_process, process, 20)
        uvloop.run(wait_nodes(server, nodes, timeout))
        yield server


async def api_alone_seconds(api: ApiClient, server: Server, namespace: str, count: int,
                            pod: Callable[[int], dict[str, Any]]) -> float:
    """The floor of a rollout's writes: `count` bare pods created straight through the API
    as fast as the benchmark's connections allow, in an existing namespace emptied again
    after."""
    tracker = Tracker(api, namespace)
    start, end = await create_pods(server, namespace, count, pod, tracker.created)
    await api.delete_collection(PODS, namespace)
    return end - start


async def wait_rolled_out(api: ApiClient, resource_: ResourceLike, name: str, namespace: str,
                          done: Callable[[dict[str, Any]], bool], limit: float) -> float:
    """Seconds until `done` holds for the object, polled; RuntimeError after `limit`."""
    start = time.perf_counter()
    while time.perf_counter() - start < limit:
        if done(await api.get(resource_, name, namespace)):
            return time.perf_counter() - start
        await asyncio.sleep(0.2)
    obj = await api.get(resource_, name, namespace)
    raise RuntimeError(f"not rolled out within {limit}s: {obj.get('status')}")
