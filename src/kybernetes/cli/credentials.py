"""Kubeconfigs for the components `kyb server` runs in its own process, each with a client
certificate of its own (k3s' `server/cred/*.kubeconfig`): the scheduler as
`system:kube-scheduler`, the controller manager as `system:kube-controller-manager`, the
cluster DNS as `system:kybernetes:dns`, the network policy controller as
`system:kybernetes:network-policy`, the ingress controller as `system:kybernetes:ingress`,
kube-proxy as `system:kube-proxy`, the node as
`system:node:<name>` in `system:nodes`. RBAC and the Node authorizer then treat them as
upstream treats its components, and none of them holds the admin's rights.

In `kyb server` they reach the API server over its Unix socket rather than loopback TLS
(`in_process_config`; why: apiserver/loopbacksocket.py), with a bearer token the server
minted in memory for that same identity: RBAC, admission and audit see the same user. The
kubeconfig (its CA, its certificate) still serves what the component does over TLS with
other peers (the metrics server scraping kubelets, the CA it publishes to namespaces).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from kybernetes.apiserver.loopbacksocket import socket_path
from kybernetes.apiserver.pki import Pki, issue_client_cert, write_kubeconfig
from kybernetes.client.config import ClientConfig, load_kubeconfig

if TYPE_CHECKING:
    from kybernetes.apiserver.server import ApiServer

SCHEDULER = ("system:kube-scheduler", ())
CONTROLLER_MANAGER = ("system:kube-controller-manager", ())
KUBE_PROXY = ("system:kube-proxy", ())
# The cluster DNS, bound by the API server to the ClusterRole and kube-system Role of that
# name (apiserver/nodetoken.py `dns_rbac`).
DNS = ("system:kybernetes:dns", ())
# The node's network policy controller, bound to the ClusterRole of that name
# (apiserver/nodetoken.py `network_policy_rbac`).
NETWORK_POLICY = ("system:kybernetes:network-policy", ())
# The node's ingress controller, bound to the ClusterRole of that name
# (apiserver/ingressbootstrap.py).
INGRESS = ("system:kybernetes:ingress", ())
NODES_GROUP = "system:nodes"


def node_identity(node_name: str) -> tuple[str, tuple[str, ...]]:
    return f"system:node:{node_name}", (NODES_GROUP,)


def component_kubeconfig(data_dir: Path, server: str,
                         identity: tuple[str, tuple[str, ...]]) -> Path:
    """`<data-dir>/cred/<name>.kubeconfig` for `identity` (common name, groups), its
    certificate (re)issued by the cluster CA as needed; returns its path."""
    pki = Pki.at(data_dir)
    name, groups = identity
    cert, key = issue_client_cert(pki, name, groups, data_dir / "tls" / "client")
    path = data_dir / "cred" / f"{re.sub(r'[^A-Za-z0-9._-]', '-', name)}.kubeconfig"
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_kubeconfig(path, server=server, pki=pki, cert=cert, key=key)
    return path


def in_process_config(server: ApiServer, url: str,
                      identity: tuple[str, tuple[str, ...]]) -> ClientConfig:
    """The client config of a component `kyb server` runs beside `server` as `identity`:
    its kubeconfig's (for `url`), but over the server's Unix socket with a token minted
    for the same identity."""
    data_dir = server.config.data_dir
    name, groups = identity
    return load_kubeconfig(component_kubeconfig(data_dir, url, identity)).replace(
        server="http://localhost", unix_socket=str(socket_path(data_dir)),
        token=server.loopback_tokens.mint(name, groups))
