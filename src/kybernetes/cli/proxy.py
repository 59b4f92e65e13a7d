"""`kyb proxy`: kube-proxy as its own process, against an API server.

    kyb proxy --kubeconfig PATH [--hostname-override N] [--proxy-mode nftables|iptables]
    kyb proxy --cleanup [--proxy-mode ...]

`kyb server` and `kyb agent` run the same proxy beside their kubelet (unless
`--disable-kube-proxy`); in `kyb server` it acts as `system:kube-proxy` (upstream's
bootstrap policy binds that user to `system:node-proxier`). Without `--proxy-mode`,
nftables is used when `nft` works here, else iptables. `--cleanup` removes the rules of
the mode (both modes without `--proxy-mode`) and exits, as `kube-proxy --cleanup` does.
"""

from __future__ import annotations

import argparse
import logging
import socket
from typing import Any

from kybernetes.api.version import user_agent
from kybernetes.cli import flags
from kybernetes.cli.process import run_until_signal

log = logging.getLogger(__name__)

PROXY_AGENT = user_agent("kube-proxy")


def add_proxy_flags(parser: argparse.ArgumentParser) -> None:
    """Flags of the node's kube-proxy, shared by `kyb proxy`, `kyb agent` and `kyb server`."""
    group = flags.group(parser, flags.AGENT_NETWORKING)
    group.add_argument("--proxy-mode", choices=("nftables", "iptables"), default=None,
                       help="how Services are programmed (default: nftables when nft "
                            "works, else iptables)")
    group.add_argument("--proxy-min-sync-period", type=float, default=1.0,
                       metavar="SECONDS", help="the shortest time between two syncs of "
                       "the rules")
    group.add_argument("--proxy-masquerade-all", action="store_true",
                       help="SNAT all traffic sent to cluster IPs")
    group.add_argument("--proxy-healthz-bind-address", default="0.0.0.0:10256",
                       metavar="ADDRESS:PORT", help="where /healthz is served ('': nowhere)")
    group.add_argument("--proxy-metrics-bind-address", default="127.0.0.1:10249",
                       metavar="ADDRESS:PORT", help="where /metrics is served ('': nowhere)")


def add_parser(commands: Any) -> None:
    parser = flags.command(commands, "proxy", help="kube-proxy, against an API server")
    cluster = flags.group(parser, flags.CLUSTER)
    cluster.add_argument("--kubeconfig", default=None, metavar="FILE",
                         help="kubeconfig of the API server (default: in-cluster config, "
                              "else $KUBECONFIG or ~/.kube/config)")
    node = flags.group(parser, flags.AGENT_NODE)
    node.add_argument("--hostname-override", default=None, metavar="NAME",
                      help="the Node this proxy runs on (default: the host name)")
    node.add_argument("--node-ip", default=None, metavar="ADDRESS",
                      help="the node's address until its Node object gives them "
                           "(default: none, wait for the Node's)")
    networking = flags.group(parser, flags.NETWORKING)
    networking.add_argument("--cluster-cidr", default="10.42.0.0/16", metavar="CIDR",
                            help="the pod network: traffic from outside it is masqueraded")
    parser.add_argument("--cleanup", action="store_true",
                        help="remove the proxy's rules and exit")
    add_proxy_flags(parser)
    parser.set_defaults(run=run)


async def serve(client_config: Any, args: argparse.Namespace, node_name: str,
                node_ip: str | None) -> None:
    """Run kube-proxy until cancelled (the rules stay, as upstream's do)."""
    from kybernetes.client import ApiClient
    from kybernetes.proxy.proxier import KubeProxy, ProxyConfig, detect_mode, make_backend

    mode = args.proxy_mode or await detect_mode()
    config = ProxyConfig(node_name=node_name, cluster_cidr=args.cluster_cidr,
                         masquerade_all=args.proxy_masquerade_all,
                         node_ips=(node_ip,) if node_ip else (),
                         min_sync_period=args.proxy_min_sync_period,
                         healthz_bind_address=args.proxy_healthz_bind_address,
                         metrics_bind_address=args.proxy_metrics_bind_address)
    backend = make_backend(mode, config)
    await _cleanup_other_modes(mode, config)
    async with ApiClient(client_config.replace(user_agent=PROXY_AGENT)) as client:
        await KubeProxy(client, config, backend).run()


async def _cleanup_other_modes(mode: str, config: Any) -> None:
    """What another mode left behind would intercept traffic first: remove it."""
    from kybernetes.proxy.execute import CommandError
    from kybernetes.proxy.proxier import MODES, make_backend

    for other in MODES:
        if other != mode:
            try:
                await make_backend(other, config).cleanup()
            except (CommandError, OSError) as err:
                log.debug("nothing of the %s mode to clean up: %s", other, err)


def run(args: argparse.Namespace) -> int:
    from kybernetes.client import load_config

    node_name = args.hostname_override or socket.gethostname()
    if args.cleanup:
        run_until_signal(_cleanup(args))
        return 0
    run_until_signal(serve(load_config(args.kubeconfig), args, node_name, args.node_ip))
    return 0


async def _cleanup(args: argparse.Namespace) -> None:
    from kybernetes.proxy.execute import CommandError
    from kybernetes.proxy.proxier import MODES, ProxyConfig, make_backend

    for mode in (args.proxy_mode,) if args.proxy_mode else MODES:
        try:
            await make_backend(mode, ProxyConfig(node_name="")).cleanup()
        except (CommandError, OSError) as err:
            if args.proxy_mode:
                raise SystemExit(f"kyb proxy --cleanup: {err}") from None
