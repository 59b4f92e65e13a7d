"""`kyb dns` and the DNS flags of `kyb server` parse into the component's options."""

from __future__ import annotations

from pathlib import Path

import pytest

from kybernetes.cli import dns as dns_cli
from kybernetes.cli.main import build_parser


def test_kyb_dns_flags() -> None:
    args = build_parser().parse_args([
        "dns", "--kubeconfig", "/k", "--bind", "192.0.2.1", "--port", "5353",
        "--cluster-dns", "10.96.0.10", "--cluster-domain", "example.local",
        "--resolv-conf", "/tmp/resolv.conf", "--node-name", "n1", "--publish=false",
        "--cluster-cidr", "10.244.0.0/16,fd00:10::/56", "--metrics-port", "0"])
    options = dns_cli.options(bind=args.bind, port=args.port, cluster_dns=args.cluster_dns,
                              cluster_domain=args.cluster_domain,
                              cluster_cidr=args.cluster_cidr, resolv_conf=args.resolv_conf,
                              node_name=args.node_name, publish=args.publish,
                              metrics_port=args.metrics_port)
    assert (options.bind, options.port, options.cluster_ip, options.domain) == \
        ("192.0.2.1", 5353, "10.96.0.10", "example.local")
    assert options.resolv_conf == Path("/tmp/resolv.conf") and not options.publish
    assert options.client_networks == ("10.244.0.0/16", "fd00:10::/56")
    assert options.metrics_port is None
    assert args.run is dns_cli.run
    with pytest.raises(SystemExit, match="cluster DNS"):
        dns_cli.options(bind="192.0.2.1", port=53, cluster_dns="10.43.0.10",
                        cluster_domain="cluster.local", cluster_cidr="10.42.0.0/33",
                        resolv_conf=Path("/etc/resolv.conf"), node_name=None)
    with pytest.raises(SystemExit, match="not one address"):
        dns_cli.options(bind="0.0.0.0", port=53, cluster_dns="10.43.0.10",
                        cluster_domain="cluster.local", cluster_cidr="10.42.0.0/16",
                        resolv_conf=Path("/etc/resolv.conf"), node_name=None)


def test_kyb_server_dns_flags() -> None:
    defaults = build_parser().parse_args(["server"])
    assert not defaults.disable_dns and defaults.dns_bind is None
    assert defaults.dns_port == 53 and defaults.resolv_conf == Path("/etc/resolv.conf")
    args = build_parser().parse_args(["server", "--disable-dns", "--dns-bind", "192.0.2.9",
                                      "--dns-port", "1053"])
    assert args.disable_dns and args.dns_bind == "192.0.2.9" and args.dns_port == 1053
