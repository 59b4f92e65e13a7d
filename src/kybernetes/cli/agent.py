"""`kyb agent`: one node, the kubelet with runc, OCI images and CNI, against an API server.

    kyb agent --kubeconfig PATH [--node-name N] [--node-ip IP] [--data-dir DIR] ...
    kyb agent --server https://HOST:6443 --token T --certificate-authority CA.crt ...

`kyb server` runs the same agent in its own process (unless `--disable-agent`), as
`k3s server` does, talking to its API server over loopback like any other client.

Layout under `--data-dir` (default `/var/lib/kybernetes` as root): `images/` (the image
store, shared with `kyb image`), `agent/` (pods, volumes, CNI state, container state and
`logs/` with the pods' container logs), and the kubelet's serving certificate. Runtime
state that must not outlive a reboot (namespace pins, shim sockets) is under `--run-dir`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import subprocess
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from kybernetes.cli.process import run_until_signal

log = logging.getLogger(__name__)

KUBELET_AGENT = "kubelet/v1.35.0 (kybernetes)"


def add_agent_flags(parser: argparse.ArgumentParser) -> None:
    """Flags of the node, shared by `kyb agent` and `kyb server`."""
    parser.add_argument("--node-name", default=None,
                        help="the Node's name (default: the host name)")
    parser.add_argument("--node-ip", default=None,
                        help="the node's InternalIP (default: the address of the interface "
                             "of the default route, else 127.0.0.1)")
    parser.add_argument("--node-label", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--node-taint", action="append", default=[],
                        metavar="KEY[=VALUE]:EFFECT")
    parser.add_argument("--kubelet-port", type=int, default=10250)
    parser.add_argument("--cluster-dns", default="10.43.0.10")
    parser.add_argument("--cluster-domain", default="cluster.local")
    parser.add_argument("--cluster-cidr", default="10.42.0.0/16",
                        help="the pod network; each node takes a /24 of it")
    parser.add_argument("--max-pods", type=int, default=110)
    parser.add_argument("--insecure-registry", action="append", default=[], metavar="HOST",
                        help="pull from this registry over plain http")
    parser.add_argument("--run-dir", type=Path, default=Path("/run/kybernetes"),
                        help="state that must not outlive a reboot (default: %(default)s)")
    parser.add_argument("--cgroup-root", default="/kubepods",
                        help="the cgroup under which pods' cgroups are made")


def add_parser(commands: Any) -> None:
    agent = commands.add_parser("agent", help="a node (kubelet), against an API server")
    agent.add_argument("--data-dir", type=Path, default=None)
    agent.add_argument("--kubeconfig", default=None)
    agent.add_argument("--server", default=None, help="the API server's URL")
    agent.add_argument("--token", default=None, help="a bearer token for --server")
    agent.add_argument("--certificate-authority", default=None,
                       help="the CA that signed the API server's certificate")
    add_agent_flags(agent)
    agent.set_defaults(run=run)


def detect_node_ip() -> str:
    """The IPv4 address of the interface carrying the default route (no traffic sent)."""
    try:
        routes = Path("/proc/net/route").read_text().splitlines()[1:]
    except OSError:
        routes = []
    for line in routes:
        fields = line.split()
        if len(fields) > 2 and fields[1] == "00000000":
            shown = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", fields[0]],
                                   capture_output=True, text=True, check=False).stdout.split()
            if len(shown) > 3:
                return shown[3].split("/")[0]
    return "127.0.0.1"


def _taints(specs: list[str]) -> list[dict[str, str]]:
    taints = []
    for spec in specs:
        key_value, _, effect = spec.rpartition(":")
        key, _, value = key_value.partition("=")
        if not key or effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            raise SystemExit(f"kyb: --node-taint {spec!r}: expected KEY[=VALUE]:EFFECT")
        taint = {"key": key, "effect": effect}
        if value:
            taint["value"] = value
        taints.append(taint)
    return taints


def _labels(specs: list[str]) -> dict[str, str]:
    labels = {}
    for spec in specs:
        key, sep, value = spec.partition("=")
        if not sep or not key:
            raise SystemExit(f"kyb: --node-label {spec!r}: expected KEY=VALUE")
        labels[key] = value
    return labels


async def serve(client_config: Any, data_dir: Path, args: argparse.Namespace) -> None:
    """Run the node until cancelled (containers keep running after)."""
    from kybernetes.client import ApiClient
    from kybernetes.kubelet import nodestatus
    from kybernetes.kubelet.images import ImageStore
    from kybernetes.kubelet.kubelet import Kubelet, KubeletConfig
    from kybernetes.kubelet.kuberuntime import RuntimeManager
    from kybernetes.kubelet.logrotation import ContainerLogManager
    from kybernetes.kubelet.network import PodNetwork, PodNetworkConfig
    from kybernetes.kubelet.runtime.runc.runtime import RuncRuntime
    from kybernetes.kubelet.services import ApiImageService, ApiVolumeService

    root = data_dir / "agent"
    root.mkdir(parents=True, exist_ok=True)
    node_name = args.node_name or socket.gethostname()
    node_ip = args.node_ip or detect_node_ip()
    config = KubeletConfig(node_name=node_name, node_ip=node_ip, root_dir=root,
                           port=args.kubelet_port, labels=_labels(args.node_label),
                           taints=_taints(args.node_taint), cluster_cidr=args.cluster_cidr,
                           max_pods=args.max_pods)
    async with ApiClient(client_config.replace(user_agent=KUBELET_AGENT)) as client:
        runtime = RuncRuntime(root / "containers", args.run_dir / "runc")
        images = ApiImageService(ImageStore(data_dir / "images"), client,
                                 insecure_registries=args.insecure_registry)
        network = PodNetwork(PodNetworkConfig(data_dir=root / "cni",
                                              cluster_cidr=args.cluster_cidr))
        volumes = ApiVolumeService(root, client, node_name)
        host = nodestatus.host_resources(root, args.max_pods)
        manager = RuntimeManager(
            runtime=runtime, images=images, network=network, volumes=volumes,
            events=lambda *_: None, pod_root=root / "pods", log_root=root / "logs",
            cgroup_root=args.cgroup_root, cluster_dns=[args.cluster_dns] if args.cluster_dns
            else [], cluster_domain=args.cluster_domain, memory_capacity=host.memory_bytes)
        kubelet = Kubelet(client, config, manager)
        images.events = kubelet.event
        kubelet.on_registered = network.set_pod_cidr
        kubelet.network_status = network.not_ready_message
        housekeeping = [
            asyncio.create_task(images.garbage_collect_forever(kubelet.images_in_use)),
            asyncio.create_task(_network_gc(runtime, network)),
            asyncio.create_task(ContainerLogManager(runtime).run())]
        streaming = _streaming_server(kubelet, runtime, data_dir, root, node_name, node_ip,
                                      args.kubelet_port)
        if streaming is not None:
            housekeeping.append(asyncio.create_task(streaming))
        try:
            await kubelet.run()
        finally:
            for task in housekeeping:
                task.cancel()
            await asyncio.gather(*housekeeping, return_exceptions=True)


def _streaming_server(kubelet: Any, runtime: Any, data_dir: Path, root: Path, node_name: str,
                      node_ip: str, port: int) -> Coroutine[Any, Any, None] | None:
    """The kubelet's HTTPS server (logs, exec, attach, port-forward), with a serving
    certificate signed by the cluster CA when this node can sign one (the CA key is under
    `--data-dir`, as on the server's own node). Without it, logs and exec are unavailable."""
    from kybernetes.apiserver.pki import Pki, issue_serving_cert
    from kybernetes.kubelet.server import KubeletServer
    from kybernetes.kubelet.streaminghost import RuntimeStreamingHost

    pki = Pki.at(data_dir)
    if not pki.ca_key.exists():
        log.warning("no cluster CA key under %s: the kubelet serves no logs or exec", data_dir)
        return None
    cert, key = issue_serving_cert(pki, f"system:node:{node_name}", root / "tls",
                                   hostnames=[node_name], ips=[node_ip])
    sock = socket.create_server(("", port), family=socket.AF_INET, reuse_port=False)
    server = KubeletServer(RuntimeStreamingHost(runtime, kubelet.pod_with_status))
    return server.serve(sock, cert_file=cert, key_file=key, client_ca=pki.ca_cert)


async def _network_gc(runtime: Any, network: Any, period: float = 60.0) -> None:
    """Release pod IPs and port mappings held for sandboxes that no longer exist."""
    while True:
        await asyncio.sleep(period)
        try:
            live = [s.id for s in await runtime.list_pod_sandboxes()]
            released = await network.garbage_collect(live)
        except Exception:  # housekeeping must never stop the node
            log.exception("network garbage collection failed")
            continue
        if released:
            log.info("released the network of gone sandboxes %s", ", ".join(released))


def client_config_from(args: argparse.Namespace) -> Any:
    from kybernetes.client import ClientConfig, load_config

    if args.server:
        if not args.token:
            raise SystemExit("kyb agent: --server needs --token")
        return ClientConfig(server=args.server, token=args.token,
                            ca_file=args.certificate_authority)
    return load_config(args.kubeconfig)


def run(args: argparse.Namespace) -> int:
    from kybernetes.cli.main import default_data_dir

    data_dir = args.data_dir or default_data_dir()
    client_config = client_config_from(args)

    run_until_signal(serve(client_config, data_dir, args))
    return 0
