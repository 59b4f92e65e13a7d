"""`kyb dns`: the cluster DNS as its own process, against an API server.

    kyb dns --kubeconfig PATH [--bind ADDRESS] [--port 53] [--cluster-dns 10.43.0.10]
            [--cluster-domain cluster.local] [--cluster-cidr 10.42.0.0/16]
            [--resolv-conf /etc/resolv.conf]

It serves the cluster zone from its informers' caches and forwards other names to the
resolv.conf's nameservers, for clients of the pod network, loopback and the Nodes'
addresses (others are REFUSED); with `--publish` (the default) it keeps the `kube-dns`
Service's EndpointSlice pointing at `--bind`. `kyb server` runs the same component beside
its node (unless `--disable-dns`), on the node's address, as `system:kybernetes:dns`.
Heavy imports happen only when the command runs, so `kyb --help` stays fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kybernetes.cli import flags
from kybernetes.cli.flags import parse_bool
from kybernetes.cli.process import run_until_signal

if TYPE_CHECKING:  # dnspython is imported only when the DNS runs
    from kybernetes.dns.app import DnsOptions


def add_server_flags(parser: argparse.ArgumentParser) -> None:
    """The DNS flags of `kyb server` (which has `--cluster-dns`/`--cluster-domain` from
    the agent's flags)."""
    flags.group(parser, flags.COMPONENTS).add_argument(
        "--disable-dns", action="store_true", help="do not run the cluster DNS in this process")
    networking = flags.group(parser, flags.NETWORKING)
    networking.add_argument("--dns-bind", default=None, metavar="ADDRESS",
                            help="where the cluster DNS listens (default: the node's IP)")
    networking.add_argument("--dns-port", type=int, default=53, metavar="PORT",
                            help="the port the cluster DNS listens on")
    networking.add_argument("--resolv-conf", type=Path, default=Path("/etc/resolv.conf"),
                            metavar="FILE", help="the resolvers names outside the cluster "
                            "are forwarded to")


def add_parser(commands: Any) -> None:
    parser = flags.command(commands, "dns", help="the cluster DNS, against an API server")
    flags.group(parser, flags.CLUSTER).add_argument(
        "--kubeconfig", default=None, metavar="FILE",
        help="kubeconfig of the API server (default: in-cluster config, else $KUBECONFIG or "
             "~/.kube/config)")
    listener = flags.group(parser, flags.LISTENER)
    listener.add_argument("--bind", default=None, metavar="ADDRESS",
                          help="the address to listen on (default: the address of the "
                               "interface of the default route)")
    listener.add_argument("--port", type=int, default=53, metavar="PORT",
                          help="the port to listen on")
    listener.add_argument("--metrics-port", type=int, default=9153, metavar="PORT",
                          help="where /metrics is served on --bind (0: not served)")
    networking = flags.group(parser, flags.NETWORKING)
    networking.add_argument("--cluster-dns", default="10.43.0.10", metavar="ADDRESS",
                            help="the kube-dns Service's clusterIP")
    networking.add_argument("--cluster-domain", default="cluster.local", metavar="DOMAIN",
                            help="the cluster's DNS domain")
    networking.add_argument("--cluster-cidr", default="10.42.0.0/16", metavar="CIDRS",
                            help="the pod network(s), comma-separated: its clients, "
                                 "loopback and the Nodes' addresses may ask")
    networking.add_argument("--resolv-conf", type=Path, default=Path("/etc/resolv.conf"),
                            metavar="FILE", help="the resolvers names outside the cluster "
                            "are forwarded to")
    node = flags.group(parser, flags.AGENT_NODE)
    node.add_argument("--node-name", default=None, metavar="NAME",
                      help="the node this server runs on, its endpoint's nodeName "
                           "(default: none)")
    node.add_argument("--publish", type=parse_bool, nargs="?", const=True, default=True,
                      metavar="BOOL", help="keep the kube-dns Service's EndpointSlice "
                      "pointing at --bind")
    parser.set_defaults(run=run)


def options(*, bind: str | None, port: int, cluster_dns: str, cluster_domain: str,
            cluster_cidr: str, resolv_conf: Path, node_name: str | None,
            publish: bool = True, metrics_port: int = 9153) -> DnsOptions:
    """The component's options from the flags; a malformed address or CIDR ends the
    command with its message."""
    import ipaddress

    from kybernetes.cli.agent import detect_node_ip
    from kybernetes.dns.app import DnsOptions

    networks = tuple(part.strip() for part in cluster_cidr.split(",") if part.strip())
    address = bind or detect_node_ip()
    try:
        for text in (*networks, cluster_dns):
            ipaddress.ip_network(text, strict=False)
        if ipaddress.ip_address(address).is_unspecified:
            raise ValueError(f"{address} is not one address: the kube-dns EndpointSlice "
                             "needs the node's")
    except ValueError as err:
        raise SystemExit(f"kyb: cluster DNS: {err}") from None
    return DnsOptions(bind=address, port=port, domain=cluster_domain,
                      cluster_ip=cluster_dns, resolv_conf=resolv_conf, node_name=node_name,
                      publish=publish, client_networks=networks,
                      metrics_port=metrics_port or None)


async def serve(client_config: Any, dns_options: DnsOptions) -> None:
    """Run the DNS until cancelled (also in-process, by `kyb server`)."""
    from kybernetes.client import ApiClient
    from kybernetes.dns.app import DNS_AGENT
    from kybernetes.dns.app import serve as serve_dns

    async with ApiClient(client_config.replace(user_agent=DNS_AGENT)) as client:
        await serve_dns(client, dns_options)


def run(args: argparse.Namespace) -> int:
    from kybernetes.client import load_config

    dns_options = options(bind=args.bind, port=args.port, cluster_dns=args.cluster_dns,
                          cluster_domain=args.cluster_domain, cluster_cidr=args.cluster_cidr,
                          resolv_conf=args.resolv_conf,
                          node_name=args.node_name, publish=args.publish,
                          metrics_port=args.metrics_port)
    try:
        run_until_signal(serve(load_config(args.kubeconfig), dns_options))
    except OSError as err:
        raise SystemExit(f"kyb dns: cannot listen on {dns_options.bind}:"
                         f"{dns_options.port}: {err}") from None
    return 0
