"""`kyb ingress`: the ingress controller (nginx) as its own process, against an API server.

    kyb ingress --kubeconfig PATH --data-dir DIR [--ingress-http-port 80] ...

`kyb server` and `kyb agent` run the same controller beside their kubelet (unless
`--disable-ingress`), as k3s runs its bundled ingress on every node; in `kyb server` it
acts as `system:kybernetes:ingress`, on a joined agent with the node's credentials (the
API server binds `system:nodes` to the ingress role while the ingress is enabled there).
Its access log is the log of the node's `ingress-nginx-<node>` mirror pod in kube-system,
so `kubectl logs` shows it; a standalone controller prints it.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from kybernetes.api.version import user_agent
from kybernetes.cli import flags
from kybernetes.cli.process import run_until_signal

INGRESS_AGENT = user_agent("ingress-nginx")


def add_ingress_flags(parser: argparse.ArgumentParser) -> None:
    """Flags of the node's ingress controller, shared by `kyb ingress`, `kyb agent` and
    `kyb server`."""
    group = flags.group(parser, flags.AGENT_NETWORKING)
    group.add_argument("--ingress-bind-address", default="0.0.0.0", metavar="ADDRESS",
                       help="where the ingress listens")
    group.add_argument("--ingress-http-port", type=int, default=80, metavar="PORT",
                       help="the ingress's plain HTTP port")
    group.add_argument("--ingress-https-port", type=int, default=443, metavar="PORT",
                       help="the ingress's HTTPS port")
    group.add_argument("--ingress-min-sync-period", type=float, default=0.2,
                       metavar="SECONDS", help="the shortest time between two reloads of "
                       "nginx's configuration")


def add_disable_flag(parser: argparse.ArgumentParser) -> None:
    flags.group(parser, flags.COMPONENTS).add_argument(
        "--disable-ingress", action="store_true",
        help="do not run the ingress controller (nginx) on this node")


def add_parser(commands: Any) -> None:
    parser = flags.command(commands, "ingress",
                           help="the ingress controller (nginx), against an API server")
    cluster = flags.group(parser, flags.CLUSTER)
    cluster.add_argument("--kubeconfig", default=None, metavar="FILE",
                         help="kubeconfig of the API server (default: in-cluster config, "
                              "else $KUBECONFIG or ~/.kube/config)")
    flags.group(parser, flags.DATA).add_argument(
        "--data-dir", type=Path, default=Path("/var/lib/kybernetes/ingress"), metavar="DIR",
        help="nginx's configuration, certificates and runtime files")
    parser.add_argument("--publish-status-address", action="append", default=[],
                        metavar="ADDRESS", help="the address written to the Ingresses' "
                        "status.loadBalancer (repeatable; default: none)")
    add_ingress_flags(parser)
    parser.set_defaults(run=run)


def check_nginx(args: argparse.Namespace) -> None:
    """Refuse to start a node whose ingress cannot run, saying how to fix it."""
    from kybernetes.ingress.nginx import NginxError, find_nginx

    if getattr(args, "disable_ingress", False):
        return
    try:
        find_nginx()
    except NginxError as err:
        raise SystemExit(f"kyb: {err}") from None


def config(directory: Path, args: argparse.Namespace,
           publish: tuple[str, ...] = ()) -> Any:
    from kybernetes.ingress.controller import IngressConfig
    from kybernetes.ingress.render import Listen

    return IngressConfig(
        directory=directory,
        listen=Listen(args.ingress_bind_address, args.ingress_http_port,
                      args.ingress_https_port),
        min_sync_period=args.ingress_min_sync_period, publish_addresses=publish)


async def serve(client_config: Any, ingress_config: Any) -> None:
    """Run the controller and its nginx until cancelled."""
    from kybernetes.client import ApiClient
    from kybernetes.ingress.controller import IngressController

    async with ApiClient(client_config.replace(user_agent=INGRESS_AGENT)) as client:
        await IngressController(client, ingress_config).run()


def run(args: argparse.Namespace) -> int:
    from kybernetes.client import load_config
    from kybernetes.ingress.nginx import access_log

    check_nginx(args)
    access_log.addHandler(logging.StreamHandler(sys.stdout))
    run_until_signal(serve(load_config(args.kubeconfig),
                           config(args.data_dir, args, tuple(args.publish_status_address))))
    return 0
