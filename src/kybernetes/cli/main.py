"""`kyb`: the one command, as `k3s` is: `kyb server`, `kyb agent`, `kyb apiserver`,
`kyb controller-manager`, `kyb scheduler`, `kyb dns`, `kyb proxy`, `kyb ingress`, `kyb image`,
`kyb sim`, `kyb kubectl`.

Each subcommand is a thin entry point that parses flags and starts a component.

`kyb server` is the API server plus, once it is serving, the controller manager, the
scheduler and a node agent (kubelet) in the same process — but as API clients, each with
an identity of its own (cli/credentials.py), over the server's Unix socket, never sharing
objects with it (components talk only through the API). On SIGTERM or SIGINT those stop
first (releasing their leases through the still-running API; containers keep running),
then the API server.
`--disable-controller-manager`, `--disable-scheduler` and `--disable-agent` leave one out,
as k3s's flags of those names do. With its node, the server also runs the cluster DNS on
the node's address (`kyb dns`; `--disable-dns` leaves it out, as k3s's `--disable coredns`)
and kube-proxy as `system:kube-proxy` (`kyb proxy`; `--disable-kube-proxy`, as k3s's),
enforces NetworkPolicies on its node as `system:kybernetes:network-policy`
(`--disable-network-policy`, as k3s's) and serves Ingresses on ports 80 and 443 through
nginx as `system:kybernetes:ingress` (`kyb ingress`; `--disable-ingress`, as k3s's
`--disable traefik`). Each component runs `Supervised`
(cli/supervise.py): restarted when it ends, named by `/livez` while it is down; one that
keeps dying stops `kyb server` with its message and exit status 1, for systemd to restart.
The metrics server (`metrics.k8s.io`: `kubectl top`, autoscaling) runs beside them as
`system:metrics-server`, its API proxied by the API server (`--metric-resolution`;
`--disable-metrics-server`, as k3s's `--disable metrics-server`).
The node's add-ons (DNS, kube-proxy, NetworkPolicy, ingress) show as its mirror pods in kube-system,
Ready while their supervisor sees them run (kubelet/mirrorpods.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import logging
import os
import platform
import re
import shutil
import signal
import socket
import sys
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from kybernetes import __version__
from kybernetes.api.version import GIT_VERSION, KUBERNETES_VERSION, user_agent
from kybernetes.apiserver import aggregator_metrics, controlplanenode
from kybernetes.apiserver.server import ApiServer, ApiServerConfig
from kybernetes.cli import agent as agent_cli
from kybernetes.cli import configfile, credentials, embeddedetcd, flags
from kybernetes.cli import dns as dns_cli
from kybernetes.cli import etcdsnapshot as etcd_snapshot_cli
from kybernetes.cli import image as image_cli
from kybernetes.cli import ingress as ingress_cli
from kybernetes.cli import proxy as proxy_cli
from kybernetes.cli import scheduler as scheduler_cli
from kybernetes.cli import sim as sim_cli
from kybernetes.cli.flags import parse_bool
from kybernetes.cli.supervise import Supervised

if TYPE_CHECKING:  # the controllers are imported only by the commands that run them
    from kybernetes.client import ClientConfig
    from kybernetes.controllers.manager import ControllerManagerOptions

# The controller manager's User-Agent, whose program name the API server records as the
# field manager of its writes (upstream: kube-controller-manager).
CONTROLLER_MANAGER_AGENT = user_agent("kube-controller-manager")
CONTROLLER_MANAGER_PORT = 10257
# How long the controllers get to stop (release the lease) before the API server stops.
_CONTROLLERS_STOP_TIMEOUT = 15.0


# The data dir of `kyb` run as root; other users' is ~/.local/share/kybernetes.
ROOT_DATA_DIR = Path("/var/lib/kybernetes")
# The admin kubeconfig `kyb server` writes into its data dir.
KUBECONFIG_NAME = "kubeconfig.yaml"


def default_data_dir() -> Path:
    if os.geteuid() == 0:
        return ROOT_DATA_DIR
    return Path.home() / ".local" / "share" / "kybernetes"


DATA_DIR_HELP = ("state, certificates and kubeconfig (default: /var/lib/kybernetes as root, "
                 "else ~/.local/share/kybernetes)")


def _add_apiserver_flags(parser: argparse.ArgumentParser) -> None:
    data = flags.group(parser, flags.DATA)
    data.add_argument("--data-dir", type=Path, default=None, metavar="DIR",
                      help=DATA_DIR_HELP)
    database = flags.group(parser, flags.DATABASE)
    database.add_argument("--storage", default="", metavar="URL",
                          help="where the cluster state lives: sqlite://PATH, embedded "
                               "SQLite (default: <data-dir>/state.db), or etcd://HOST:PORT"
                               "[,HOST:PORT...], an etcd v3 cluster (etcds:// for TLS with "
                               "the system CAs)")
    database.add_argument("--etcd-cafile", type=Path, default=None, metavar="FILE",
                          help="SSL certificate authority file for the etcd servers (implies "
                               "TLS; default: none)")
    database.add_argument("--etcd-certfile", type=Path, default=None, metavar="FILE",
                          help="SSL certification file for talking to etcd (with "
                               "--etcd-keyfile; default: none)")
    database.add_argument("--etcd-keyfile", type=Path, default=None, metavar="FILE",
                          help="SSL key file for talking to etcd (with --etcd-certfile; "
                               "default: none)")
    listener = flags.group(parser, flags.LISTENER)
    listener.add_argument("--bind-address", default="0.0.0.0", metavar="ADDRESS",
                          help="the address the API server listens on")
    listener.add_argument("--https-listen-port", type=int, default=6443, metavar="PORT",
                          help="the port the API server serves HTTPS on")
    listener.add_argument("--advertise-address", default="127.0.0.1", metavar="ADDRESS",
                          help="address written into the kubeconfig and certificates")
    listener.add_argument("--tls-san", action="append", default=[], metavar="NAME",
                          help="extra host name or IP for the serving certificate "
                               "(repeatable; default: none)")
    security = flags.group(parser, flags.SECURITY)
    security.add_argument("--anonymous-auth", type=parse_bool, nargs="?", const=True,
                          default=True, metavar="BOOL",
                          help="serve requests without credentials as system:anonymous, "
                               "allowed only what RBAC grants it")
    security.add_argument("--token-auth-file", type=Path, default=None, metavar="FILE",
                          help="static bearer tokens, a CSV of token,user,uid[,\"group1,"
                               "group2\"] (default: none)")
    security.add_argument("--service-account-issuer",
                          default="https://kubernetes.default.svc.cluster.local",
                          metavar="URL", help="the iss claim of service account tokens")
    security.add_argument("--api-audiences", default="", metavar="LIST",
                          help="comma-separated audiences the API accepts tokens for "
                               "(default: the issuer)")
    security.add_argument("--service-account-max-token-expiration", type=parse_duration,
                          default=0.0, metavar="DURATION",
                          help="the longest token TokenRequest issues (0: no limit)")
    security.add_argument("--authorization-mode", default="Node,RBAC", metavar="MODES",
                          help="ordered authorizers: Node, RBAC, AlwaysAllow")
    security.add_argument("--enable-admission-plugins", default="", metavar="LIST",
                          help="admission plugins to enable besides the default ones "
                               "(default: none)")
    security.add_argument("--disable-admission-plugins", default="", metavar="LIST",
                          help="default admission plugins to disable (default: none)")
    security.add_argument("--encryption-provider-config", type=Path, default=None,
                          metavar="FILE", help="an EncryptionConfiguration: which resources "
                          "are encrypted at rest, and how (default: none, nothing is)")
    cluster = flags.group(parser, flags.CLUSTER)
    cluster.add_argument("--token", default="", help="the node token agents join with "
                         "(default: generated into <data-dir>/token)")
    cluster.add_argument("--default-not-ready-toleration-seconds", type=int, default=300,
                         metavar="SECONDS",
                         help="tolerationSeconds of the not-ready:NoExecute toleration every "
                              "pod gets by default")
    cluster.add_argument("--default-unreachable-toleration-seconds", type=int, default=300,
                         metavar="SECONDS",
                         help="tolerationSeconds of the unreachable:NoExecute toleration "
                              "every pod gets by default")
    logging_flags = flags.group(parser, flags.LOGGING)
    logging_flags.add_argument("--audit-policy-file", type=Path, default=None, metavar="FILE",
                               help="an audit Policy: which requests are logged at which "
                                    "level (default: none, no auditing)")
    logging_flags.add_argument("--audit-log-path", default="", metavar="PATH",
                               help="where audit events go, as JSON lines ('-': standard "
                                    "output; default: nowhere)")
    logging_flags.add_argument("--audit-log-maxsize", type=int, default=100, metavar="MIB",
                               help="MiB of an audit log file before it is rotated")
    logging_flags.add_argument("--audit-log-maxbackup", type=int, default=0, metavar="N",
                               help="rotated audit log files to keep (0: all)")
    logging_flags.add_argument("--audit-log-maxage", type=int, default=0, metavar="DAYS",
                               help="days to keep rotated audit log files (0: forever)")


def _apiserver_config(args: argparse.Namespace) -> ApiServerConfig:
    return ApiServerConfig(
        data_dir=args.data_dir or default_data_dir(), storage_url=args.storage,
        bind_address=args.bind_address, port=args.https_listen_port,
        advertise_address=args.advertise_address, tls_san=args.tls_san,
        etcd_cafile=args.etcd_cafile, etcd_certfile=args.etcd_certfile,
        etcd_keyfile=args.etcd_keyfile,
        default_not_ready_toleration_seconds=args.default_not_ready_toleration_seconds,
        default_unreachable_toleration_seconds=args.default_unreachable_toleration_seconds,
        anonymous_auth=args.anonymous_auth, token_auth_file=args.token_auth_file,
        service_account_issuer=args.service_account_issuer,
        api_audiences=_split_list(args.api_audiences),
        service_account_max_token_expiration=args.service_account_max_token_expiration,
        node_token=args.token, authorization_mode=args.authorization_mode,
        enable_admission_plugins=_split_list(args.enable_admission_plugins),
        disable_admission_plugins=_split_list(args.disable_admission_plugins),
        encryption_provider_config=args.encryption_provider_config,
        audit_policy_file=args.audit_policy_file, audit_log_path=args.audit_log_path,
        audit_log_maxsize=args.audit_log_maxsize, audit_log_maxbackup=args.audit_log_maxbackup,
        audit_log_maxage=args.audit_log_maxage,
        ingress=not getattr(args, "disable_ingress", False),
        loopback_socket=args.command == "server",
        hostname=getattr(args, "node_name", None) or "")


def _split_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _build_server(args: argparse.Namespace) -> ApiServer:
    """The API server of the flags; a bad setting (an invalid EncryptionConfiguration or
    audit Policy, an unknown authorization mode...) ends the command with its message."""
    try:
        return ApiServer(_apiserver_config(args))
    except ValueError as err:
        raise SystemExit(f"kyb {args.command}: {err}") from None


def _run_apiserver(args: argparse.Namespace,
                   embedded: embeddedetcd.Embedded | None = None) -> int:
    server = _build_server(args)
    try:
        import uvloop

        uvloop.run(embeddedetcd.around(embedded, server, server.serve()))
    except KeyboardInterrupt:
        pass
    return 0


# ----------------------------------------------------------------------------- controller manager

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
                   "h": 3600.0}


def parse_duration(text: str) -> float:
    """A Go duration ("15s", "1m30s", "500ms") or plain seconds, in seconds."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    total = 0.0
    position = 0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            break
        total += float(match[1]) * _DURATION_UNITS[match[2]]
        position = match.end()
    if position != len(text) or not text:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}")
    return total


def _add_controller_manager_flags(parser: argparse.ArgumentParser) -> None:
    group = flags.group(parser, flags.CONTROLLERS)
    add = group.add_argument
    add("--controller-manager-metrics-bind-address",
        default=f"127.0.0.1:{CONTROLLER_MANAGER_PORT}", metavar="ADDRESS:PORT",
        help="where the controller manager serves /metrics and /healthz over HTTPS ('': "
             "nowhere)")
    add("--controllers", default="*", metavar="LIST",
        help="comma-separated controllers to enable: '*' all enabled by default, 'foo' "
             "enables foo, '-foo' disables foo")
    add("--leader-elect", type=parse_bool, nargs="?", const=True, default=True,
        metavar="BOOL", help="run under leader election")
    add("--node-cidr-mask-size", type=int, default=24, metavar="BITS",
        help="the prefix length of each node's pod CIDR")
    add("--use-service-account-credentials", type=parse_bool, nargs="?", const=True,
        default=None, metavar="BOOL",
        help="each controller acts as its own service account (default: true in kyb "
             "server, false in kyb controller-manager)")
    add("--kube-api-qps", type=float, default=50.0, metavar="QPS",
        help="the controllers' requests per second (0: unlimited)")
    add("--kube-api-burst", type=int, default=100, metavar="N",
        help="requests the controllers may send at once above --kube-api-qps")
    add("--leader-elect-lease-duration", type=parse_duration, default=15.0,
        metavar="DURATION", help="how long a leader's lease lasts, in seconds or as a "
        "Go duration (15s)")
    add("--leader-elect-renew-deadline", type=parse_duration, default=10.0,
        metavar="DURATION", help="how long the leader keeps trying to renew before it "
        "steps down, in seconds")
    add("--leader-elect-retry-period", type=parse_duration, default=2.0,
        metavar="DURATION", help="the wait between two tries to acquire or renew the "
        "lease, in seconds")
    add("--leader-elect-resource-name", default="kube-controller-manager", metavar="NAME",
        help="the Lease the leader holds")
    add("--leader-elect-resource-namespace", default="kube-system", metavar="NAMESPACE",
        help="the namespace of that Lease")
    add("--concurrent-gc-syncs", type=int, default=20, metavar="N",
        help="garbage collector workers")
    add("--concurrent-job-syncs", type=int, default=5, metavar="N",
        help="Job controller workers")
    add("--terminated-pod-gc-threshold", type=int, default=12500, metavar="N",
        help="terminated pods kept before PodGC deletes them (0: off)")
    add("--concurrent-namespace-syncs", type=int, default=10, metavar="N",
        help="namespace controller workers")
    add("--max-endpoints-per-slice", type=int, default=100, metavar="N",
        help="endpoints per EndpointSlice (1-1000)")
    add("--mirroring-max-endpoints-per-subset", type=int, default=1000, metavar="N",
        help="addresses of an Endpoints subset mirrored to a slice (1-1000)")
    add("--namespace-sync-period", type=parse_duration, default=300.0, metavar="DURATION",
        help="how often namespaces are resynced, in seconds")
    add("--node-monitor-period", type=parse_duration, default=5.0, metavar="DURATION",
        help="how often the node lifecycle controller checks nodes, in seconds")
    add("--node-monitor-grace-period", type=parse_duration, default=50.0,
        metavar="DURATION", help="how long a node may go without a heartbeat before it "
        "is marked NotReady/Unknown, in seconds")
    add("--node-startup-grace-period", type=parse_duration, default=60.0,
        metavar="DURATION", help="how long a starting node may be unresponsive before it "
        "is marked unhealthy, in seconds")
    add("--cluster-signing-cert-file", type=Path, default=None, metavar="FILE",
        help="the CA certificate the CSR signer issues certificates with (default: kyb "
             "server: <data-dir>/tls/ca.crt; kyb controller-manager: no signer)")
    add("--cluster-signing-key-file", type=Path, default=None, metavar="FILE",
        help="the CA key the CSR signer signs with (default: kyb server: "
             "<data-dir>/tls/ca.key; kyb controller-manager: no signer)")
    add("--cluster-signing-duration", type=parse_duration, default=8760 * 3600.0,
        metavar="DURATION",
        help="the longest certificate the CSR signer issues (default: 8760h)")
    add("--concurrent-horizontal-pod-autoscaler-syncs", type=int, default=5, metavar="N",
        help="HorizontalPodAutoscaler controller workers")
    add("--horizontal-pod-autoscaler-sync-period", type=parse_duration, default=15.0,
        metavar="DURATION", help="how often each HorizontalPodAutoscaler is reconciled, "
        "in seconds (15s)")
    add("--horizontal-pod-autoscaler-tolerance", type=float, default=0.1, metavar="RATIO",
        help="how far the usage ratio may be from 1.0 before the autoscaler acts")
    add("--horizontal-pod-autoscaler-downscale-stabilization", type=parse_duration,
        default=300.0, metavar="DURATION", help="the window of recommendations whose "
        "highest is taken when scaling down, in seconds (5m)")
    add("--horizontal-pod-autoscaler-cpu-initialization-period", type=parse_duration,
        default=300.0, metavar="DURATION", help="how long after a pod starts its CPU "
        "samples may be skipped, in seconds (5m)")
    add("--horizontal-pod-autoscaler-initial-readiness-delay", type=parse_duration,
        default=30.0, metavar="DURATION", help="how long after a pod starts readiness "
        "changes count as its first readiness, in seconds (30s)")
    storage = flags.group(parser, flags.STORAGE)
    storage.add_argument(
        "--local-path-dir", type=PurePosixPath, default=None, metavar="DIR",
        help="where the local-path provisioner puts volumes on the nodes (default: kyb "
             "server: <data-dir>/storage; else /var/lib/kybernetes/storage)")


def _controller_manager_options(args: argparse.Namespace, *, in_server: bool = False
                                ) -> ControllerManagerOptions:
    from kybernetes.controllers.localpath import DEFAULT_PATH as LOCAL_PATH_DIR
    from kybernetes.controllers.manager import ControllerManagerOptions, enabled_controllers

    controllers = tuple(c.strip() for c in args.controllers.split(",") if c.strip())
    try:
        enabled_controllers(controllers)
    except ValueError as err:
        raise SystemExit(f"kyb: --controllers: {err}") from None
    for flag, value in (("--max-endpoints-per-slice", args.max_endpoints_per_slice),
                        ("--mirroring-max-endpoints-per-subset",
                         args.mirroring_max_endpoints_per_subset)):
        if not 1 <= value <= 1000:
            raise SystemExit(f"kyb: {flag}: {value} is not between 1 and 1000")
    use_sa = args.use_service_account_credentials
    signing_cert, signing_key = args.cluster_signing_cert_file, args.cluster_signing_key_file
    if in_server and signing_cert is None and signing_key is None:
        tls = (args.data_dir or default_data_dir()) / "tls"
        signing_cert, signing_key = tls / "ca.crt", tls / "ca.key"
    local_path_dir = args.local_path_dir or (
        PurePosixPath((args.data_dir or default_data_dir()) / "storage") if in_server
        else LOCAL_PATH_DIR)
    return ControllerManagerOptions(
        local_path_dir=local_path_dir,
        cluster_signing_cert_file=signing_cert, cluster_signing_key_file=signing_key,
        cluster_signing_duration=args.cluster_signing_duration,
        use_service_account_credentials=in_server if use_sa is None else use_sa,
        cluster_cidr=args.cluster_cidr, node_cidr_mask_size=args.node_cidr_mask_size,
        controllers=controllers, leader_elect=args.leader_elect,
        kube_api_qps=args.kube_api_qps, kube_api_burst=args.kube_api_burst,
        lease_name=args.leader_elect_resource_name,
        lease_namespace=args.leader_elect_resource_namespace,
        lease_duration=args.leader_elect_lease_duration,
        renew_deadline=args.leader_elect_renew_deadline,
        retry_period=args.leader_elect_retry_period,
        concurrent_gc_syncs=args.concurrent_gc_syncs,
        concurrent_job_syncs=args.concurrent_job_syncs,
        terminated_pod_gc_threshold=args.terminated_pod_gc_threshold,
        concurrent_namespace_syncs=args.concurrent_namespace_syncs,
        max_endpoints_per_slice=args.max_endpoints_per_slice,
        mirroring_max_endpoints_per_subset=args.mirroring_max_endpoints_per_subset,
        namespace_sync_period=args.namespace_sync_period,
        node_monitor_period=args.node_monitor_period,
        node_monitor_grace_period=args.node_monitor_grace_period,
        node_startup_grace_period=args.node_startup_grace_period,
        concurrent_hpa_syncs=args.concurrent_horizontal_pod_autoscaler_syncs,
        hpa_sync_period=args.horizontal_pod_autoscaler_sync_period,
        hpa_tolerance=args.horizontal_pod_autoscaler_tolerance,
        hpa_downscale_stabilization=args.horizontal_pod_autoscaler_downscale_stabilization,
        hpa_cpu_initialization_period=args.horizontal_pod_autoscaler_cpu_initialization_period,
        hpa_initial_readiness_delay=args.horizontal_pod_autoscaler_initial_readiness_delay)


async def _controller_manager(kubeconfig: str | ClientConfig | None,
                              options: ControllerManagerOptions,
                              metrics_address: str = "") -> None:
    """Run a controller manager against the API server of `kubeconfig` (a path, else a
    config) until cancelled, serving `/metrics` (the work queues') and `/healthz` on
    `metrics_address`."""
    from kybernetes.cli import metricsport
    from kybernetes.client import ApiClient, ClientConfig, load_config
    from kybernetes.client.workqueue import METRICS_REGISTRY
    from kybernetes.controllers.manager import ControllerManager

    config = kubeconfig if isinstance(kubeconfig, ClientConfig) else load_config(kubeconfig)
    config = config.replace(user_agent=CONTROLLER_MANAGER_AGENT,
                                             qps=options.kube_api_qps,
                                             burst=options.kube_api_burst)
    async with ApiClient(config) as client, metricsport.serving(
            "controller-manager", metrics_address, CONTROLLER_MANAGER_PORT,
            lambda: [METRICS_REGISTRY], client):
        await ControllerManager(client, options).run()


async def _wait_for_signal_or(*tasks: asyncio.Task[Any]) -> None:
    """Until SIGTERM/SIGINT arrives or one of `tasks` ends (the tasks are left alone)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({*tasks, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        for sig in signals:
            loop.remove_signal_handler(sig)


async def _cancel(task: asyncio.Task[None], timeout: float) -> None:  # noqa: ASYNC109
    """Cancel `task` and wait (at most `timeout`) for it to finish; its failure, if it
    failed on its own, is raised."""
    if not task.done():
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError, TimeoutError):
        await asyncio.wait_for(task, timeout)


def _run_controller_manager(args: argparse.Namespace) -> int:
    options = _controller_manager_options(args)

    async def main() -> None:
        work = asyncio.create_task(_controller_manager(
            args.kubeconfig, options, args.controller_manager_metrics_bind_address),
            name="controller-manager")
        await _wait_for_signal_or(work)
        await _cancel(work, _CONTROLLERS_STOP_TIMEOUT)

    import uvloop

    uvloop.run(main())
    return 0


def _loopback_url(cfg: ApiServerConfig) -> str:
    """Where the kubeconfigs of the components in the server's own process point (they
    reach it over its Unix socket): loopback unless the server listens on one address
    only."""
    address = cfg.bind_address
    if address in ("", "0.0.0.0", "::") or address.startswith("127.") or \
            address in ("::1", "localhost"):
        host = "127.0.0.1" if address != "::1" else "[::1]"
    else:
        host = f"[{address}]" if ":" in address else address
    return f"https://{host}:{cfg.port}"


async def _serve_control_plane(server: ApiServer, options: ControllerManagerOptions | None,
                              *, scheduler: bool, scheduler_config: Path | None,
                              agent: argparse.Namespace | None,
                              metrics: _MetricsServer | None = None,
                              manager_metrics_address: str = "",
                              scheduler_metrics_address: str = "") -> None:
    """The API server, and once it serves the controller manager (`options`, unless None),
    the scheduler and the node agent (`agent`: its flags, unless None); on a signal those
    stop first, then the API server."""
    serving = asyncio.create_task(server.serve(), name="apiserver")
    listening = asyncio.create_task(server.serving.wait(), name="apiserver-listening")
    await _wait_for_signal_or(serving, listening)
    if not listening.done():  # a signal, or the API server ended before it served
        listening.cancel()
        server.stop()
        await serving
        return
    url = _loopback_url(server.config)
    data_dir = server.config.data_dir

    def kubeconfig(identity: tuple[str, tuple[str, ...]]) -> ClientConfig:
        return credentials.in_process_config(server, url, identity)

    supervised: list[Supervised] = []
    if options is not None:
        manager_config = kubeconfig(credentials.CONTROLLER_MANAGER)
        supervised.append(Supervised("controller-manager", functools.partial(
            _controller_manager, manager_config, options, manager_metrics_address)))
    if metrics is not None:
        await aggregator_metrics.bootstrap(server)
        supervised.append(Supervised("metrics-server", functools.partial(
            metrics.serve, aggregator_metrics.serving(server, metrics.port),
            kubeconfig((aggregator_metrics.USER, ())))))
    if scheduler:
        scheduler_kubeconfig = kubeconfig(credentials.SCHEDULER)
        supervised.append(Supervised("scheduler", functools.partial(
            scheduler_cli.serve, scheduler_kubeconfig, scheduler_config,
            metrics_address=scheduler_metrics_address)))
    if agent is not None:
        from kybernetes.kubelet import mirrorpods

        node_name = agent.node_name or socket.gethostname()
        client_config = kubeconfig(credentials.node_identity(node_name))
        # The add-ons run here show as mirror pods of the node, healthy as supervised.
        addons: list[mirrorpods.AddOn] = []
        supervised.append(Supervised("agent", functools.partial(
            agent_cli.serve, client_config, server.config.data_dir, agent, addons=addons)))
        if not agent.disable_kube_proxy:
            proxy_config = kubeconfig(credentials.KUBE_PROXY)
            supervised.append(Supervised("kube-proxy", functools.partial(
                proxy_cli.serve, proxy_config, agent, node_name,
                agent.node_ip or agent_cli.detect_node_ip())))
            addons.append(mirrorpods.known_addon(mirrorpods.KUBE_PROXY,
                                                 supervised[-1].check))
        if not agent.disable_network_policy:
            from kybernetes.netpol import controller as netpol

            supervised.append(Supervised("network-policy", functools.partial(
                netpol.serve, kubeconfig(credentials.NETWORK_POLICY),
                node_name)))
            addons.append(mirrorpods.known_addon(mirrorpods.NETWORK_POLICY,
                                                 supervised[-1].check))
        if not agent.disable_ingress:
            supervised.append(Supervised("ingress", functools.partial(
                ingress_cli.serve, kubeconfig(credentials.INGRESS),
                ingress_cli.config(agent_cli.ingress_dir(data_dir), agent))))
            addons.append(mirrorpods.known_addon(mirrorpods.INGRESS_NGINX,
                                                 supervised[-1].check))
        if not agent.disable_dns and agent.cluster_dns:
            dns_options = dns_cli.options(
                bind=agent.dns_bind or agent.node_ip, port=agent.dns_port,
                cluster_dns=agent.cluster_dns, cluster_domain=agent.cluster_domain,
                cluster_cidr=agent.cluster_cidr, resolv_conf=agent.resolv_conf,
                node_name=node_name)
            supervised.append(Supervised("dns", functools.partial(
                dns_cli.serve, kubeconfig(credentials.DNS), dns_options)))
            addons.append(mirrorpods.known_addon(mirrorpods.KUBE_DNS, supervised[-1].check))
    tasks: list[asyncio.Task[None]] = []
    # The server labels its own node a control-plane node once it registers (k3s does).
    labelling = None if agent is None else asyncio.create_task(
        controlplanenode.label_own_node(server, agent.node_name or socket.gethostname()),
        name="control-plane-labels")
    for component in supervised:
        server.app.liveness[component.name] = component.check
        tasks.append(asyncio.create_task(component.run(), name=component.name))
    # Until a signal, the API server ending, or a component giving up (ComponentFailed).
    await _wait_for_signal_or(serving, *tasks)
    failed = [task for task in tasks if task.done() and not task.cancelled()
              and task.exception() is not None]
    if labelling is not None:
        await _cancel(labelling, _CONTROLLERS_STOP_TIMEOUT)
    # Components first: they release their leases through the API, which must still serve.
    for task in tasks:
        with contextlib.suppress(Exception):
            await _cancel(task, _CONTROLLERS_STOP_TIMEOUT)
    server.stop()
    await serving
    if failed:
        raise SystemExit(f"kyb server: {failed[0].exception()}")


def _free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclasses.dataclass(frozen=True)
class _MetricsServer:
    """The metrics server this process runs (metrics/), proxied by its API server."""

    port: int
    resolution: float

    async def serve(self, serving: aggregator_metrics.MetricsServing,
                    client_config: ClientConfig) -> None:
        from kybernetes.metrics import server as metrics

        await metrics.serve(client_config, metrics.MetricsServerOptions(
            cert_file=serving.cert, key_file=serving.key, client_ca=serving.client_ca,
            proxy_names=serving.proxy_names, resolution=self.resolution), serving.address)


def _run_server(args: argparse.Namespace) -> int:
    if not args.disable_agent and os.geteuid() != 0:
        logging.getLogger("kyb").warning(
            "not root: running without a node (the agent needs root for runc and CNI)")
        args.disable_agent = True
    if not args.disable_agent:
        ingress_cli.check_nginx(args)
    embedded = embeddedetcd.configure(args, args.data_dir or default_data_dir())
    if args.disable_controller_manager and args.disable_scheduler and args.disable_agent:
        return _run_apiserver(args, embedded)
    server = _build_server(args)
    options = None if args.disable_controller_manager \
        else _controller_manager_options(args, in_server=True)
    metrics = None if args.disable_metrics_server else _MetricsServer(
        _free_loopback_port(), parse_duration(args.metric_resolution))
    if metrics is not None:
        aggregator_metrics.enable(server, metrics.port)
    try:
        import uvloop

        uvloop.run(embeddedetcd.around(embedded, server, _serve_control_plane(
            server, options, scheduler=not args.disable_scheduler,
            scheduler_config=args.scheduler_config,
            agent=None if args.disable_agent else args, metrics=metrics,
            manager_metrics_address=args.controller_manager_metrics_bind_address,
            scheduler_metrics_address=args.scheduler_metrics_bind_address)))
    except KeyboardInterrupt:
        pass
    return 0


def kubectl_kubeconfig(data_dir: Path | None) -> Path:
    """The kubeconfig `kyb kubectl` uses without $KUBECONFIG: the one `kyb server` wrote
    into `data_dir`, else into the default data dir (as this user, then as root's)."""
    if data_dir is not None:
        return data_dir / KUBECONFIG_NAME
    candidates = [default_data_dir() / KUBECONFIG_NAME, ROOT_DATA_DIR / KUBECONFIG_NAME]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    shown = " or ".join(str(candidate) for candidate in dict.fromkeys(candidates))
    raise SystemExit(f"kyb kubectl: no kubeconfig at {shown}: is `kyb server` running? "
                     f"(--data-dir DIR or $KUBECONFIG name another one)")


def _run_kubectl(args: argparse.Namespace, rest: list[str]) -> int:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        print("kyb kubectl: no kubectl on PATH; install one (see README)", file=sys.stderr)
        return 127
    env = dict(os.environ)
    if "KUBECONFIG" not in env:
        kubeconfig = kubectl_kubeconfig(args.data_dir)
        if not os.access(kubeconfig, os.R_OK):
            raise SystemExit(f"kyb kubectl: cannot read {kubeconfig} (as root it can be)")
        env["KUBECONFIG"] = str(kubeconfig)
    os.execve(kubectl, [kubectl, *rest], env)


def _version() -> str:
    return (f"kyb version {GIT_VERSION} (kybernetes {__version__}, Kubernetes "
            f"{KUBERNETES_VERSION})\npython version {platform.python_version()}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kyb", description="Kubernetes, rebuilt in Python.",
                                     formatter_class=flags.HelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at debug level")
    parser.add_argument("--version", action="version", version=_version(),
                        help="print kyb's version and the Kubernetes version it implements")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    server = flags.command(commands, "server", help="the control plane, all in one process")
    configfile.add_config_flag(server)
    _add_apiserver_flags(server)
    embeddedetcd.add_flags(server)
    components = flags.group(server, flags.COMPONENTS)
    components.add_argument("--disable-controller-manager", action="store_true",
                            help="do not run the controller manager in this process")
    components.add_argument("--disable-scheduler", action="store_true",
                            help="do not run the scheduler in this process")
    scheduler_cli.add_metrics_flag(components)
    components.add_argument("--scheduler-config", type=Path, default=None, metavar="FILE",
                            help="a KubeSchedulerConfiguration for the scheduler in this "
                                 "process (default: upstream's defaults)")
    components.add_argument("--disable-metrics-server", action="store_true",
                            help="do not run the metrics server (metrics.k8s.io, `kubectl "
                                 "top`) in this process")
    components.add_argument("--metric-resolution", default="15s", metavar="DURATION",
                            help="how often the metrics server scrapes the kubelets "
                                 "(default: 15s, upstream's)")
    components.add_argument("--disable-agent", action="store_true",
                            help="do not run a node (kubelet) in this process (without root "
                                 "there is none)")
    agent_cli.add_agent_flags(server)
    dns_cli.add_server_flags(server)
    _add_controller_manager_flags(server)
    apiserver = flags.command(commands, "apiserver", help="the API server alone")
    configfile.add_config_flag(apiserver)
    _add_apiserver_flags(apiserver)
    manager = flags.command(commands, "controller-manager",
                            help="the controllers, against an API server")
    flags.group(manager, flags.NETWORKING).add_argument(
        "--cluster-cidr", default="10.42.0.0/16", metavar="CIDR",
        help="the pod network node IPAM hands subnets of to nodes")
    flags.group(manager, flags.CLUSTER).add_argument(
        "--kubeconfig", default=None, metavar="FILE",
        help="kubeconfig of the API server (default: in-cluster config, else $KUBECONFIG or "
             "~/.kube/config)")
    _add_controller_manager_flags(manager)
    scheduler_cli.add_parser(commands)
    dns_cli.add_parser(commands)
    agent_cli.add_parser(commands)
    proxy_cli.add_parser(commands)
    ingress_cli.add_parser(commands)
    image_cli.add_parser(commands)
    sim_cli.add_parser(commands)
    etcd_snapshot_cli.add_parser(commands)
    kubectl = commands.add_parser("kubectl", help="kubectl against this cluster",
                                  add_help=False)
    kubectl.add_argument("--data-dir", type=Path, default=None,
                         help="the server's data dir, whose kubeconfig.yaml is used (default: "
                              "$KUBECONFIG, else the default data dir's)")
    return parser


def _subcommand(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found: argparse.ArgumentParser = action.choices[name]
            return found
    raise LookupError(name)


def _parse(parser: argparse.ArgumentParser, argv: list[str] | None
           ) -> tuple[argparse.Namespace, list[str]]:
    """The command line, over the values of the command's config file if it reads one
    (`--config`, else `<data-dir>/config.yaml` if it exists)."""
    args, rest = parser.parse_known_args(argv)
    if not hasattr(args, "config_file"):
        return args, rest
    path = args.config_file or (args.data_dir or default_data_dir()) / configfile.FILE_NAME
    if args.config_file is None and not path.is_file():
        return args, rest
    try:
        configfile.apply(_subcommand(parser, args.command), configfile.load(path), args, path)
    except configfile.ConfigFileError as err:
        flags.fail(args.command, str(err))
    return parser.parse_known_args(argv)


def _check_flags(args: argparse.Namespace) -> None:
    """Flags that make no sense together end the command with a usage error."""
    if hasattr(args, "etcd_cafile"):
        etcd = args.storage.startswith(("etcd://", "etcds://"))
        for flag in ("--etcd-cafile", "--etcd-certfile", "--etcd-keyfile"):
            if getattr(args, flag[2:].replace("-", "_")) is not None and not etcd:
                flags.fail(args.command, f"{flag} needs --storage etcd://HOST:PORT "
                                         f"(storage is {args.storage or 'SQLite'})")
        if (args.etcd_certfile is None) != (args.etcd_keyfile is None):
            flags.fail(args.command, "--etcd-certfile and --etcd-keyfile go together")
    if args.command == "agent" and args.server and not args.token:
        flags.fail(args.command, "--server needs --token")
    if args.command in ("server", "agent"):
        from kybernetes.kubelet.images.mirrors import RegistriesConfigError, node_registries

        try:  # read again when the node starts: here, a bad file fails before anything
            node_registries(args.private_registry, args.data_dir or default_data_dir())
        except RegistriesConfigError as err:
            flags.fail(args.command, f"--private-registry: {err}")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, rest = _parse(parser, argv)
    from prometheus_client import disable_created_metrics

    # Upstream's metrics have no `_created` series (prometheus-client is untyped here).
    disable_created_metrics()  # type: ignore[no-untyped-call]
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "kubectl":
        return _run_kubectl(args, rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    _check_flags(args)
    if args.command == "server":
        return _run_server(args)
    if args.command == "controller-manager":
        return _run_controller_manager(args)
    if getattr(args, "run", None) is not None:  # commands registered by their own modules
        return int(args.run(args))
    return _run_apiserver(args)


if __name__ == "__main__":
    sys.exit(main())
