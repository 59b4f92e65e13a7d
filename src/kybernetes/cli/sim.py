"""`kyb sim nodes`: many simulated nodes in one process, for scale tests (like kwok).

    kyb sim nodes --count 5000 --kubeconfig PATH [--name-prefix sim-node-] [--start 0]
                  [--cpu 4] [--memory 32Gi] [--pods 110] [--ephemeral-storage 100Gi]
                  [--labels k=v,...] [--taints k=v:NoSchedule,...] [--zones a,b,c]
                  [--extended-resources example.com/gpu=4,...]

Nodes are named `<prefix><i>`; `--zones` spreads them round-robin over
`topology.kubernetes.io/zone` values. The process registers them, renews their Leases, runs
the pods bound to them (see `kybernetes.kubelet.simnodes`) until SIGTERM/SIGINT; the Node
objects stay behind, as a stopped kubelet's do.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import Any

from kybernetes.api.version import KUBERNETES_VERSION
from kybernetes.cli import flags
from kybernetes.cli.process import run_until_signal

log = logging.getLogger("kyb.sim")


def _pairs(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"expected key=value, got {item!r}")
        out[key] = value
    return out


def _taints(text: str) -> list[dict[str, str]]:
    out = []
    for item in filter(None, (t.strip() for t in text.split(","))):
        spec, _, effect = item.rpartition(":")
        if effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute") or not spec:
            raise argparse.ArgumentTypeError(f"expected key[=value]:Effect, got {item!r}")
        key, _, value = spec.partition("=")
        taint = {"key": key, "effect": effect}
        if value:
            taint["value"] = value
        out.append(taint)
    return out


def add_parser(commands: Any) -> None:
    sim = flags.command(commands, "sim", help="simulated cluster members, for scale tests")
    kinds = sim.add_subparsers(dest="sim_command", required=True)
    nodes = flags.command(kinds, "nodes", help="N simulated nodes in this process (like kwok)")
    add = nodes.add_argument
    add("--count", type=int, required=True, metavar="N", help="how many nodes (required)")
    add("--kubeconfig", default=None, metavar="FILE",
        help="kubeconfig of the API server (default: in-cluster config, else $KUBECONFIG or "
             "~/.kube/config)")
    add("--name-prefix", default="sim-node-", metavar="PREFIX",
        help="the nodes are named PREFIX<index>")
    add("--start", type=int, default=0, metavar="INDEX", help="index of the first node")
    add("--cpu", default="4", metavar="QUANTITY", help="each node's CPU capacity")
    add("--memory", default="32Gi", metavar="QUANTITY", help="each node's memory capacity")
    add("--pods", type=int, default=110, metavar="N", help="each node's pod capacity")
    add("--ephemeral-storage", default="100Gi", metavar="QUANTITY",
        help="each node's ephemeral-storage capacity")
    add("--labels", type=_pairs, default={}, metavar="KEY=VALUE,...",
        help="labels of every node (default: none)")
    add("--taints", type=_taints, default=[], metavar="KEY[=VALUE]:EFFECT,...",
        help="taints of every node (default: none)")
    add("--zones", default="", metavar="ZONES",
        help="comma-separated topology.kubernetes.io/zone values, round-robin (default: "
             "no zone label)")
    add("--extended-resources", type=_pairs, default={}, metavar="NAME=QUANTITY,...",
        help="extended resources of every node (default: none)")
    add("--pod-cidr", default="10.42.0.0/16", metavar="CIDR",
        help="the network the simulated pods' IPs are taken from")
    add("--no-pods", dest="run_pods", action="store_false",
        help="register and heartbeat only; leave bound pods as they are (no kubelet work, "
             "as upstream's scheduler_perf)")
    add("--concurrency", type=int, default=64, metavar="N",
        help="API requests in flight at most (registration, leases)")
    add("--node-lease-duration-seconds", type=int, default=40, metavar="SECONDS",
        help="the nodes' Lease duration; renewed every quarter of it, as the kubelet does")
    nodes.set_defaults(run=run_nodes)


async def serve_nodes(args: argparse.Namespace) -> None:
    from kybernetes.client import ApiClient, load_config
    from kybernetes.kubelet.simnodes import SimulatedNodes, specs_from_args

    specs = specs_from_args(
        args.count, args.name_prefix, start=args.start, cpu=args.cpu, memory=args.memory,
        pods=args.pods, ephemeral_storage=args.ephemeral_storage, labels=args.labels,
        taints=args.taints, zones=[z for z in args.zones.split(",") if z],
        extended=args.extended_resources)
    config = load_config(args.kubeconfig).replace(
        qps=0, user_agent=f"kubelet/{KUBERNETES_VERSION} (sim)")
    async with ApiClient(config) as client:
        nodes = SimulatedNodes(client, specs, concurrency=args.concurrency,
                               pod_cidr=args.pod_cidr, run_pods=args.run_pods,
                               lease_duration=args.node_lease_duration_seconds,
                               renew_interval=args.node_lease_duration_seconds / 4)
        running = asyncio.create_task(nodes.run())
        ready = asyncio.create_task(nodes.ready.wait())
        await asyncio.wait({running, ready}, return_when=asyncio.FIRST_COMPLETED)
        if ready.done():
            log.info("simulated nodes ready: %d", len(nodes.nodes))
        else:
            ready.cancel()
        await running


def run_nodes(args: argparse.Namespace) -> int:
    run_until_signal(serve_nodes(args))
    return 0
