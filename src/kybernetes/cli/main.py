"""`kyb`: the one command, as `k3s` is: `kyb server`, `kyb apiserver`, `kyb kubectl`.

Each subcommand is a thin entry point that parses flags and starts a component.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
from pathlib import Path

from kybernetes.apiserver.server import ApiServer, ApiServerConfig


def default_data_dir() -> Path:
    if os.geteuid() == 0:
        return Path("/var/lib/kybernetes")
    return Path.home() / ".local" / "share" / "kybernetes"


def _add_apiserver_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="state, certificates and kubeconfig (default: %(default)s, "
                             "/var/lib/kybernetes as root)")
    parser.add_argument("--storage", default="",
                        help="storage URL: sqlite://PATH (default: <data-dir>/state.db)")
    parser.add_argument("--bind-address", default="0.0.0.0")
    parser.add_argument("--https-listen-port", type=int, default=6443)
    parser.add_argument("--advertise-address", default="127.0.0.1",
                        help="address written into the kubeconfig and certificates")
    parser.add_argument("--tls-san", action="append", default=[],
                        help="extra host name or IP for the serving certificate")


def _apiserver_config(args: argparse.Namespace) -> ApiServerConfig:
    return ApiServerConfig(
        data_dir=args.data_dir or default_data_dir(), storage_url=args.storage,
        bind_address=args.bind_address, port=args.https_listen_port,
        advertise_address=args.advertise_address, tls_san=args.tls_san)


def _run_apiserver(args: argparse.Namespace) -> int:
    server = ApiServer(_apiserver_config(args))
    try:
        import uvloop

        uvloop.run(server.serve())
    except KeyboardInterrupt:
        pass
    return 0


def _run_kubectl(args: argparse.Namespace, rest: list[str]) -> int:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        print("kyb kubectl: no kubectl on PATH; install one (see README)", file=sys.stderr)
        return 127
    env = dict(os.environ)
    if "KUBECONFIG" not in env:
        env["KUBECONFIG"] = str((args.data_dir or default_data_dir()) / "kubeconfig.yaml")
    os.execve(kubectl, [kubectl, *rest], env)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kyb", description="Kubernetes, rebuilt in Python.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at debug level")
    commands = parser.add_subparsers(dest="command", required=True)
    server = commands.add_parser("server", help="the control plane, all in one process")
    _add_apiserver_flags(server)
    apiserver = commands.add_parser("apiserver", help="the API server alone")
    _add_apiserver_flags(apiserver)
    kubectl = commands.add_parser("kubectl", help="kubectl against this cluster",
                                  add_help=False)
    kubectl.add_argument("--data-dir", type=Path, default=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "kubectl":
        return _run_kubectl(args, rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return _run_apiserver(args)


if __name__ == "__main__":
    sys.exit(main())
