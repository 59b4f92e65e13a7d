"""`kyb agent`: one node, the kubelet with runc, OCI images and CNI, against an API server.

    kyb agent --server https://HOST:6443 --token K10<hash>::<id>.<secret> [--node-name N] ...
    kyb agent --kubeconfig PATH [--node-name N] [--node-ip IP] [--data-dir DIR] ...

`--server` with `--token` (the server's `<data-dir>/token`) joins a cluster as k3s agents
do, without the CA's key: the CA is trusted by the hash in the token, the bootstrap token
obtains the node's client certificate through a CertificateSigningRequest, and the node
then runs as `system:node:<name>` (kubelet/certificate/bootstrap.py). A wrong token ends
the command with a message and exit status 1. At a restart, valid credentials are reused.
Such a node reaches the API servers through a local load balancer on 127.0.0.1:6444
(agentloadbalancer.py), which fails over between every live server, as k3s agents do.

`kyb server` runs the same agent in its own process (unless `--disable-agent`), as
`k3s server` does, talking to its API server over loopback like any other client.

Pods on different nodes reach each other as with flannel's backends (`--flannel-backend`):
`host-gw` (the default; kubelet/network/routes.py), routes to the other nodes' pod CIDRs
via their addresses, for nodes on one L2 segment; `vxlan` (k3s' default;
kubelet/network/vxlan.py), the same through a `flannel.1` VXLAN device, for nodes
anywhere; `none`. With host-gw or vxlan, pod traffic leaving the cluster CIDR is
masqueraded (kubelet/network/masquerade.py) instead of by the bridge plugin.

Certificates: a node that joined rotates its client certificate before it expires. Every
node without the CA's key asks for its serving certificate (port 10250) with a
`kubernetes.io/kubelet-serving` request for its name and IP, rotated likewise (the server
restarts on the new one); the server's own node signs its serving certificate itself.

Layout under `--data-dir` (default `/var/lib/kybernetes` as root): `images/` (the image
store, shared with `kyb image`), `registries.yaml` (registry mirrors, unless
`--private-registry` names another file; read at start), `agent/` (pods, volumes, CNI
state, container state, `logs/` with the pods' container logs and those of the add-ons the
process runs, shown as the node's mirror pods in kube-system; `kubelet.kubeconfig` and
`pki/` with the node's certificates). Runtime state that must not outlive a reboot
(namespace pins, conmon exit records) is under `--run-dir`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import socket
import subprocess
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kybernetes.api.version import user_agent
from kybernetes.cli import agentloadbalancer, configfile, flags
from kybernetes.cli import ingress as ingress_cli
from kybernetes.cli import proxy as proxy_cli
from kybernetes.cli.process import run_until_signal

if TYPE_CHECKING:
    from kybernetes.kubelet.mirrorpods import AddOn

log = logging.getLogger(__name__)

KUBELET_AGENT = user_agent("kubelet")


def add_agent_flags(parser: argparse.ArgumentParser) -> None:
    """Flags of the node, shared by `kyb agent` and `kyb server`."""
    node = flags.group(parser, flags.AGENT_NODE)
    node.add_argument("--node-name", default=None, metavar="NAME",
                      help="the Node's name (default: the host name)")
    node.add_argument("--node-label", action="append", default=[], metavar="KEY=VALUE",
                      help="a label the Node registers with (repeatable; default: none)")
    node.add_argument("--node-taint", action="append", default=[],
                      metavar="KEY[=VALUE]:EFFECT",
                      help="a taint the Node registers with (repeatable; default: none)")
    node.add_argument("--kubelet-port", type=int, default=10250, metavar="PORT",
                      help="the port the kubelet serves logs, exec and stats on")
    node.add_argument("--max-pods", type=int, default=110, metavar="N",
                      help="the pods this node runs at most")
    runtime = flags.group(parser, flags.AGENT_RUNTIME)
    runtime.add_argument("--insecure-registry", action="append", default=[], metavar="HOST",
                         help="pull from this registry over plain http (repeatable; "
                              "default: none)")
    flags.add_private_registry(runtime)
    runtime.add_argument("--run-dir", type=Path, default=Path("/run/kybernetes"),
                         metavar="DIR", help="state that must not outlive a reboot")
    runtime.add_argument("--cgroup-root", default="/kubepods", metavar="CGROUP",
                         help="the cgroup under which pods' cgroups are made")
    networking = flags.group(parser, flags.AGENT_NETWORKING)
    networking.add_argument("--node-ip", default=None, metavar="ADDRESS",
                            help="the node's InternalIP (default: the address of the "
                                 "interface of the default route, else 127.0.0.1)")
    networking.add_argument("--pod-cidr", default="", metavar="CIDR",
                            help="this node's pod network (default: the one assigned to its "
                                 "Node)")
    cluster_networking = flags.group(parser, flags.NETWORKING)
    cluster_networking.add_argument("--cluster-dns", default="10.43.0.10", metavar="ADDRESS",
                                    help="the cluster DNS's address, pods' nameserver")
    cluster_networking.add_argument("--cluster-domain", default="cluster.local",
                                    metavar="DOMAIN", help="the cluster's DNS domain")
    cluster_networking.add_argument("--cluster-cidr", default="10.42.0.0/16", metavar="CIDR",
                                    help="the pod network; each node takes a /24 of it")
    cluster_networking.add_argument(
        "--flannel-backend", choices=("host-gw", "vxlan", "none"), default="host-gw",
        help="how pods reach pods on other nodes: host-gw (routes to the other nodes' pod "
             "CIDRs; nodes on one L2 segment), vxlan (the same through a VXLAN device) or "
             "none")
    components = flags.group(parser, flags.COMPONENTS)
    components.add_argument("--disable-kube-proxy", action="store_true",
                            help="do not run kube-proxy on this node")
    components.add_argument("--disable-network-policy", action="store_true",
                            help="do not enforce NetworkPolicies on this node")
    ingress_cli.add_disable_flag(parser)
    proxy_cli.add_proxy_flags(parser)
    ingress_cli.add_ingress_flags(parser)


def add_parser(commands: Any) -> None:
    agent = flags.command(commands, "agent", help="a node (kubelet), against an API server")
    configfile.add_config_flag(agent)
    flags.group(agent, flags.DATA).add_argument(
        "--data-dir", type=Path, default=None, metavar="DIR",
        help="images and the node's state (default: /var/lib/kybernetes as root, else "
             "~/.local/share/kybernetes)")
    cluster = flags.group(agent, flags.CLUSTER)
    cluster.add_argument("--kubeconfig", default=None, metavar="FILE",
                         help="the node's kubeconfig, unless it joins with --server "
                              "(default: in-cluster config, else $KUBECONFIG or "
                              "~/.kube/config)")
    cluster.add_argument("--server", default=None, metavar="URL",
                         help="the API server's URL, to join with --token (default: none)")
    cluster.add_argument("--token", default=None, help="the node token (the server's "
                         "<data-dir>/token; default: none)")
    cluster.add_argument("--certificate-authority", type=Path, default=None, metavar="FILE",
                         help="the cluster CA, for a token without its hash (<id>.<secret>;"
                              " default: the hash in the token)")
    cluster.add_argument("--lb-server-port", type=int, default=agentloadbalancer.PORT,
                         metavar="PORT", help="the local port of the load balancer through "
                         "which a node joined with --server reaches the API servers")
    cluster.add_argument("--proxy-kubeconfig", default=None, metavar="FILE",
                         help="kube-proxy's kubeconfig (default: --kubeconfig; a node that "
                              "joined with --token: the node's own credentials)")
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


async def serve(client_config: Any, data_dir: Path, args: argparse.Namespace, *,
                client_credential: Path | None = None, network_policy: bool = False,
                addons: Sequence[AddOn] = ()) -> None:
    """Run the node until cancelled (containers keep running after). `client_credential`:
    the node's client certificate file, which the node then rotates (one that joined).
    `network_policy`: also run the network policy controller, with the node's client
    (`kyb server` runs it under an identity of its own instead). `addons`: what else the
    process runs on this node, published as mirror pods in kube-system (with the network
    policy controller), their logs (from now on) as those pods' logs."""
    from kybernetes.kubelet.componentlogs import component_log, log_file
    from kybernetes.kubelet.mirrorpods import NETWORK_POLICY, addon_loggers

    node_name = args.node_name or socket.gethostname()
    logged = {addon.name: addon.loggers for addon in addons}
    if network_policy:
        logged[NETWORK_POLICY] = addon_loggers(NETWORK_POLICY)
    with contextlib.ExitStack() as logs:
        for name, loggers in logged.items():
            logs.enter_context(component_log(
                log_file(data_dir / "agent" / "logs", node_name, name), loggers))
        await _serve_node(client_config, data_dir, args, client_credential=client_credential,
                          network_policy=network_policy, addons=addons)


async def _serve_node(client_config: Any, data_dir: Path, args: argparse.Namespace, *,
                      client_credential: Path | None, network_policy: bool,
                      addons: Sequence[AddOn]) -> None:
    from kybernetes.client import ApiClient
    from kybernetes.client.transport import Http11Transport
    from kybernetes.kubelet import nodestatus
    from kybernetes.kubelet.images import ImageStore
    from kybernetes.kubelet.images.mirrors import node_registries
    from kybernetes.kubelet.kubelet import Kubelet, KubeletConfig
    from kybernetes.kubelet.kuberuntime import RuntimeManager
    from kybernetes.kubelet.logrotation import ContainerLogManager
    from kybernetes.kubelet.metrics import InstrumentedRuntime, KubeletMetrics
    from kybernetes.kubelet.mirrorpods import NETWORK_POLICY, MirrorPods, known_addon
    from kybernetes.kubelet.network import PodNetwork, PodNetworkConfig
    from kybernetes.kubelet.network.vxlan import MTU as VXLAN_MTU
    from kybernetes.kubelet.runtime.runc.runtime import RuncRuntime
    from kybernetes.kubelet.services import ApiImageService, ApiVolumeService
    from kybernetes.kubelet.volumes.localpath import LocalPathCleaner

    root = data_dir / "agent"
    root.mkdir(parents=True, exist_ok=True)
    node_name = args.node_name or socket.gethostname()
    node_ip = args.node_ip or detect_node_ip()
    config = KubeletConfig(node_name=node_name, node_ip=node_ip, root_dir=root,
                           port=args.kubelet_port, labels=_labels(args.node_label),
                           taints=_taints(args.node_taint), cluster_cidr=args.cluster_cidr,
                           pod_cidr=args.pod_cidr, max_pods=args.max_pods)
    client_config = client_config.replace(user_agent=KUBELET_AGENT)
    # A transport of our own, whose TLS context is swapped when the certificate rotates.
    transport = Http11Transport(ssl_context=client_config.ssl_context(),
                                sni_hostname=client_config.tls_server_name) \
        if client_config.uses_tls else None
    async with ApiClient(client_config, transport=transport) as client:
        runtime = RuncRuntime(root / "containers", args.run_dir / "runc")
        images = ApiImageService(ImageStore(data_dir / "images"), client,
                                 insecure_registries=args.insecure_registry,
                                 registries=node_registries(args.private_registry, data_dir))
        # flannel masquerades only traffic leaving the cluster CIDR: not the bridge too
        flannel = args.flannel_backend != "none"
        network = PodNetwork(PodNetworkConfig(
            data_dir=root / "cni", cluster_cidr=args.cluster_cidr, ip_masq=not flannel,
            mtu=VXLAN_MTU if args.flannel_backend == "vxlan" else 1500))
        volumes = ApiVolumeService(root, client, node_name)
        host = nodestatus.host_resources(root, args.max_pods)
        metrics = KubeletMetrics()
        manager = RuntimeManager(
            runtime=InstrumentedRuntime(runtime, metrics), images=images, network=network,
            volumes=volumes, events=lambda *_: None, pod_root=root / "pods",
            log_root=root / "logs",
            cgroup_root=args.cgroup_root, cluster_dns=[args.cluster_dns] if args.cluster_dns
            else [], cluster_domain=args.cluster_domain, memory_capacity=host.memory_bytes)
        kubelet = Kubelet(client, config, manager, metrics)
        images.events = kubelet.event
        kubelet.on_registered = network.set_pod_cidr
        kubelet.network_status = network.not_ready_message
        housekeeping = [
            asyncio.create_task(images.garbage_collect_forever(kubelet.images_in_use)),
            asyncio.create_task(_network_gc(runtime, network)),
            asyncio.create_task(ContainerLogManager(runtime).run()),
            asyncio.create_task(LocalPathCleaner(data_dir / "storage", client).run())]
        if flannel:
            housekeeping.append(asyncio.create_task(_flannel(
                args.flannel_backend, client, node_name, node_ip, args.cluster_cidr)))
        addons = list(addons)
        if network_policy:
            from kybernetes.netpol.controller import NetpolConfig, NetworkPolicyController

            policies = asyncio.create_task(
                NetworkPolicyController(client, NetpolConfig(node_name)).run())
            housekeeping.append(policies)
            addons.append(known_addon(NETWORK_POLICY, lambda: _task_problem(policies)))
        mirrors = MirrorPods(client, node_name, node_ip, addons)
        housekeeping.append(asyncio.create_task(mirrors.run()))
        if client_credential is not None and transport is not None:
            housekeeping.append(asyncio.create_task(_rotate_client_certificate(
                client, client_config, transport, client_credential, node_name)))
        local = _local_serving_files(data_dir, root, node_name, node_ip)
        if local is not None:
            housekeeping.append(asyncio.create_task(_streaming_server(
                kubelet, runtime, mirrors, node_name, args.kubelet_port, local)))
        else:
            housekeeping.append(asyncio.create_task(_requested_streaming_server(
                kubelet, runtime, mirrors, client, client_config, root, node_name, node_ip,
                args.kubelet_port)))
        try:
            await kubelet.run()
        finally:
            for task in housekeeping:
                task.cancel()
            await asyncio.gather(*housekeeping, return_exceptions=True)


def _streaming_server(kubelet: Any, runtime: Any, mirrors: Any, node_name: str, port: int,
                      tls: ServingFiles) -> Coroutine[Any, Any, None]:
    """The kubelet's HTTPS server (logs, exec, attach, port-forward, stats) with the serving
    certificate and client CA of `tls`; the mirror pods of in-process add-ons (`mirrors`)
    are served too (their logs).
    Callers are authenticated (client certificates of the cluster CA, bearer tokens by
    TokenReview) and authorized (SubjectAccessReview) through the kubelet's own client."""
    from kybernetes.kubelet.addonhost import AddOnStreamingHost
    from kybernetes.kubelet.auth import KubeletAuth
    from kybernetes.kubelet.server import KubeletServer
    from kybernetes.kubelet.stats import CgroupStats
    from kybernetes.kubelet.streaminghost import RuntimeStreamingHost

    sock = socket.create_server(("", port), family=socket.AF_INET, reuse_port=False)
    host = AddOnStreamingHost(RuntimeStreamingHost(runtime, kubelet.pod_with_status), mirrors,
                              kubelet.config.root_dir / "logs")

    def pods() -> list[Any]:
        return [kubelet.pod_with_status(p["metadata"]["namespace"], p["metadata"]["name"])
                or p for p in kubelet.pods.store.list()]

    stats = CgroupStats(node_name, pods, kubelet.manager.cgroup_root,
                        log_root=kubelet.config.root_dir / "logs")
    server = KubeletServer(host, auth=KubeletAuth.delegating(kubelet.client, node_name),
                           stats=stats, metrics=kubelet.metrics)
    return server.serve(sock, cert_file=tls.cert, key_file=tls.key, client_ca=tls.client_ca)


@dataclass(frozen=True)
class ServingFiles:
    cert: Path
    key: Path
    client_ca: Path


def _local_serving_files(data_dir: Path, root: Path, node_name: str, node_ip: str
                         ) -> ServingFiles | None:
    """On the server's own node (the CA key is under `--data-dir`): a serving certificate
    signed here. Elsewhere None: the node asks the cluster for one."""
    from kybernetes.apiserver.pki import Pki, issue_serving_cert

    pki = Pki.at(data_dir)
    if not pki.ca_key.exists():
        return None
    cert, key = issue_serving_cert(pki, f"system:node:{node_name}", root / "tls",
                                   hostnames=[node_name], ips=[node_ip])
    return ServingFiles(cert, key, pki.ca_cert)


async def _rotate_client_certificate(client: Any, config: Any, transport: Any,
                                     path: Path, node_name: str) -> None:
    """Keep the node's client certificate current; new connections use the new one."""
    from kybernetes.api import certificates as csrs
    from kybernetes.kubelet.certificate.manager import CertificateManager, Template

    template = Template(f"{csrs.NODE_USER_PREFIX}{node_name}", (csrs.NODES_GROUP,),
                        csrs.KUBE_APISERVER_CLIENT_KUBELET)

    def rotated(_credential: Any) -> None:
        transport.ssl_context = config.ssl_context()

    await CertificateManager(client, path, template, on_rotated=rotated).run()


async def _requested_streaming_server(kubelet: Any, runtime: Any, mirrors: Any, client: Any,
                                      config: Any,
                                      root: Path, node_name: str, node_ip: str,
                                      port: int) -> None:
    """The kubelet server on a certificate from a `kubernetes.io/kubelet-serving` request,
    started once it is issued and restarted on each rotation."""
    from kybernetes.api import certificates as csrs
    from kybernetes.kubelet.certificate.bootstrap import NodePaths
    from kybernetes.kubelet.certificate.credential import write_private
    from kybernetes.kubelet.certificate.manager import CertificateManager, Template

    paths = NodePaths(root)
    if config.ca_data is not None:
        write_private(paths.ca, config.ca_data)
    client_ca = paths.ca if config.ca_data is not None or config.ca_file is None \
        else Path(config.ca_file)
    template = Template(f"{csrs.NODE_USER_PREFIX}{node_name}", (csrs.NODES_GROUP,),
                        csrs.KUBELET_SERVING, dns_names=(node_name,), ips=(node_ip,))
    rotated = asyncio.Event()
    manager = CertificateManager(client, paths.serving, template,
                                 on_rotated=lambda _credential: rotated.set())
    rotating = asyncio.create_task(manager.run())
    try:
        await manager.ready.wait()
        while True:
            rotated.clear()
            tls = ServingFiles(paths.serving, paths.serving, client_ca)
            serving = asyncio.create_task(_streaming_server(kubelet, runtime, mirrors,
                                                            node_name, port, tls))
            restart = asyncio.create_task(rotated.wait())
            await asyncio.wait({serving, restart}, return_when=asyncio.FIRST_COMPLETED)
            for task in (serving, restart):
                task.cancel()
            await asyncio.gather(serving, restart, return_exceptions=True)
            if not rotated.is_set():
                serving.result()  # the server stopped on its own: report why
    finally:
        rotating.cancel()
        await asyncio.gather(rotating, return_exceptions=True)


async def _flannel(backend: str, client: Any, node_name: str, node_ip: str,
                   cluster_cidr: str) -> None:
    """Routes to the other nodes' pods (flannel's `backend`), restarted if it fails."""
    from kybernetes.cli.supervise import Supervised
    from kybernetes.kubelet.network.routes import HostGateway
    from kybernetes.kubelet.network.vxlan import Vxlan

    gateway = Vxlan(node_name, cluster_cidr, node_ip, client) if backend == "vxlan" \
        else HostGateway(node_name, cluster_cidr)
    await Supervised(backend, lambda: gateway.run(client)).run()


def _task_problem(task: asyncio.Task[None]) -> str | None:
    """A housekeeping task's health: None while it runs."""
    if not task.done():
        return None
    if task.cancelled():
        return "stopped"
    return f"failed ({task.exception()})" if task.exception() is not None else "stopped"


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


async def join_and_serve(data_dir: Path, args: argparse.Namespace) -> None:
    """Join with `--server`/`--token` (or reuse the credentials of an earlier join), then
    run the node and its kube-proxy as `system:node:<name>` (`system:nodes` is bound to
    `system:node-proxier`), or kube-proxy with `--proxy-kubeconfig` if given. All of them
    reach the API servers through the agent's load balancer (agentloadbalancer.py)."""
    from kybernetes.client import ApiClient, load_config
    from kybernetes.kubelet.certificate.bootstrap import JoinError, NodePaths, join

    paths = NodePaths(data_dir / "agent")
    node_name = args.node_name or socket.gethostname()
    balancer = agentloadbalancer.LoadBalancer(args.server, args.lb_server_port)
    try:
        await balancer.start()
    except OSError as err:
        raise SystemExit(f"kyb agent: cannot listen on 127.0.0.1:{args.lb_server_port} "
                         f"(--lb-server-port): {err.strerror}") from None
    try:
        try:
            config = await join(balancer.url, args.token, node_name, paths,
                                ca_file=args.certificate_authority)
        except JoinError as err:
            raise SystemExit(f"kyb agent: {err}") from None
        # Credentials of an earlier join may name the server itself: the balancer instead.
        config = config.replace(server=balancer.url)
        node = serve(config, data_dir, args, client_credential=paths.client,
                     network_policy=not args.disable_network_policy, addons=_addons(args))
        async with ApiClient(config) as client, asyncio.TaskGroup() as group:
            following = group.create_task(balancer.run(client))
            await _with_addons(node, data_dir, load_config(args.proxy_kubeconfig)
                               if args.proxy_kubeconfig else config, config, args)
            following.cancel()
    finally:
        await balancer.close()


def run(args: argparse.Namespace) -> int:
    from kybernetes.cli.main import default_data_dir
    from kybernetes.client import load_config

    ingress_cli.check_nginx(args)
    data_dir = args.data_dir or default_data_dir()
    if args.server:  # with --token: main's flag checks see to that
        node = join_and_serve(data_dir, args)
    else:
        node_config = load_config(args.kubeconfig)
        node = _with_addons(
            serve(node_config, data_dir, args, network_policy=not args.disable_network_policy,
                  addons=_addons(args)), data_dir,
            load_config(args.proxy_kubeconfig or args.kubeconfig), node_config, args)
    run_until_signal(node)
    return 0


def _addons(args: argparse.Namespace) -> list[AddOn]:
    """kube-proxy and the ingress controller as add-ons of the node, unless disabled. They
    and the node stop together (`_with_addons`): while the node runs, so do they."""
    from kybernetes.kubelet.mirrorpods import INGRESS_NGINX, KUBE_PROXY, known_addon

    return [known_addon(name, lambda: None) for name, disabled in (
        (KUBE_PROXY, args.disable_kube_proxy), (INGRESS_NGINX, args.disable_ingress))
        if not disabled]


def ingress_dir(data_dir: Path) -> Path:
    return data_dir / "agent" / "ingress"


async def _with_addons(node: Coroutine[Any, Any, None], data_dir: Path, proxy_config: Any,
                       ingress_config: Any, args: argparse.Namespace) -> None:
    """The node, its kube-proxy and its ingress controller (each unless disabled); one
    failing stops all."""
    node_name = args.node_name or socket.gethostname()
    async with asyncio.TaskGroup() as group:
        group.create_task(node)
        if not args.disable_kube_proxy:
            group.create_task(proxy_cli.serve(proxy_config, args, node_name,
                                              args.node_ip or detect_node_ip()))
        if not args.disable_ingress:
            group.create_task(ingress_cli.serve(
                ingress_config, ingress_cli.config(ingress_dir(data_dir), args)))
