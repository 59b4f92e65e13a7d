"""The server's node token and the objects that let an agent join with it, as kubeadm's
`bootstrap-token` phase and k3s' server token.

At every start `kyb server`:

- keeps `<data-dir>/token` (mode 0600): `K10<sha256 of the CA certificate>::<id>.<secret>`,
  generated once, or the `--token` given (a bare `<id>.<secret>`, or a full token whose
  hash must be this cluster's CA's);
- ensures the bootstrap-token Secret `kube-system/bootstrap-token-<id>` that authenticates
  it (`system:bootstrap:<id>` in `system:bootstrappers` and
  `system:bootstrappers:kybernetes:default-node-token`), removing the previous token's when
  the token changed;
- publishes `kube-public/cluster-info` (a kubeconfig with the CA and the server's address)
  readable by `system:anonymous` through the Role and RoleBinding
  `kubeadm:bootstrap-signer-clusterinfo`;
- binds `system:node-bootstrapper` and the CSR auto-approval role `...:nodeclient` to
  `system:bootstrappers`, and `...:selfnodeclient` to `system:nodes`, with kubeadm's
  binding names;
- binds upstream's `system:node-proxier` to `system:nodes` as
  `kybernetes:node-proxier`, so the kube-proxy of a node that joined runs on the node's
  own credentials (as k3s' agents run theirs);
- lets the approving controller (`kube-system/certificate-controller`) approve kubelet
  serving certificates too (upstream's role approves only kubelet client ones), through the
  ClusterRole and ClusterRoleBinding `kybernetes:kubelet-serving-approver`;
- gives ServiceLB (`kube-system/service-lb-controller`, a controller of kybernetes', not
  of upstream's bootstrap policy) the ClusterRole and ClusterRoleBinding
  `kybernetes:service-lb-controller`: read Services, nodes and EndpointSlices, write
  Services' status and events;
- gives the cluster DNS (user `system:kybernetes:dns`) what CoreDNS's `system:coredns`
  ClusterRole gives it (list and watch Services, EndpointSlices, Endpoints, Namespaces and
  Pods) and Nodes (whose addresses it answers) as the ClusterRole and ClusterRoleBinding
  `system:kybernetes:dns`, and, in kube-system only, the Role and RoleBinding of that name
  to write the `kube-dns` Service and its EndpointSlice;
- lets the nodes' network policy controllers (user `system:kybernetes:network-policy` in
  `kyb server`, group `system:nodes` on joined agents, which run it with the node's
  credentials) list and watch NetworkPolicies, Pods and Namespaces, through the
  ClusterRole and ClusterRoleBinding `system:kybernetes:network-policy`.

Objects are written through the store as the API server itself; one that exists with
other content is updated.
"""

from __future__ import annotations

import base64
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from kybernetes.api import errors, jointoken
from kybernetes.api.jointoken import JoinToken
from kybernetes.api.keyfiles import write_atomic
from kybernetes.apiserver.authn.user import ANONYMOUS, BOOTSTRAPPERS_GROUP, NODES_GROUP
from kybernetes.apiserver.store import DeleteOptions

if TYPE_CHECKING:
    from kybernetes.apiserver.server import ApiServer

log = logging.getLogger(__name__)

TOKEN_FILE = "token"
EXTRA_GROUP = "system:bootstrappers:kybernetes:default-node-token"
SECRET_TYPE = "bootstrap.kubernetes.io/token"
SECRET_PREFIX = "bootstrap-token-"
CLUSTER_INFO = "cluster-info"
CLUSTER_INFO_ROLE = "kubeadm:bootstrap-signer-clusterinfo"
RBAC = "rbac.authorization.k8s.io"
NODE_BOOTSTRAPPER = "system:node-bootstrapper"
NODE_CLIENT = "system:certificates.k8s.io:certificatesigningrequests:nodeclient"
SELF_NODE_CLIENT = "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient"
SERVING_APPROVER = "kybernetes:kubelet-serving-approver"
NODE_PROXIER = "system:node-proxier"
SERVICE_LB = "service-lb-controller"
SERVICE_LB_ROLE = f"kybernetes:{SERVICE_LB}"
DNS_USER = "system:kybernetes:dns"
NETWORK_POLICY_USER = "system:kybernetes:network-policy"
# kubeadm's ClusterRoleBindings, and ours for kube-proxy: (name, ClusterRole, group).
CLUSTER_ROLE_BINDINGS = (
    ("kubeadm:kubelet-bootstrap", NODE_BOOTSTRAPPER, BOOTSTRAPPERS_GROUP),
    ("kubeadm:node-autoapprove-bootstrap", NODE_CLIENT, BOOTSTRAPPERS_GROUP),
    ("kubeadm:node-autoapprove-certificate-rotation", SELF_NODE_CLIENT, NODES_GROUP),
    ("kybernetes:node-proxier", NODE_PROXIER, NODES_GROUP),
)

Obj = dict[str, Any]


def ensure_token(data_dir: Path, ca_pem: bytes, configured: str = "") -> tuple[JoinToken,
                                                                               JoinToken | None]:
    """The token to serve (the configured one, else the stored one, else a new one), kept
    in `<data-dir>/token`; and the stored token it replaced, if any. Raises
    `jointoken.TokenError` for a configured token that is malformed or names another CA."""
    digest = jointoken.ca_hash(ca_pem)
    path = data_dir / TOKEN_FILE
    stored: JoinToken | None = None
    with contextlib.suppress(OSError, jointoken.TokenError):
        stored = jointoken.parse(path.read_text())
    if configured:
        token = jointoken.parse(configured)
        if token.ca_hash and token.ca_hash != digest:
            raise jointoken.TokenError(
                "--token: the token's CA hash does not match this cluster's CA "
                f"({digest})")
    else:
        token = stored or jointoken.generate()
    token = JoinToken(token.token_id, token.secret, digest)
    text = token.full(digest) + "\n"
    try:
        current = path.read_text()
    except OSError:
        current = ""
    if current != text or path.stat().st_mode & 0o777 != 0o600:
        write_atomic(path, text.encode())
    replaced = stored if stored is not None and stored.token_id != token.token_id else None
    return token, replaced


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def bootstrap_secret(token: JoinToken) -> Obj:
    return {
        "apiVersion": "v1", "kind": "Secret", "type": SECRET_TYPE,
        "metadata": {"name": f"{SECRET_PREFIX}{token.token_id}", "namespace": "kube-system"},
        "data": {
            "description": _b64("The node token of this kybernetes cluster (kyb agent "
                                "--token)."),
            "token-id": _b64(token.token_id),
            "token-secret": _b64(token.secret),
            "usage-bootstrap-authentication": _b64("true"),
            "auth-extra-groups": _b64(EXTRA_GROUP),
        },
    }


def cluster_info_kubeconfig(server_url: str, ca_pem: bytes) -> str:
    """kubeadm's cluster-info kubeconfig: one unnamed cluster, no users."""
    return yaml.safe_dump({
        "apiVersion": "v1",
        "clusters": [{"cluster": {"certificate-authority-data":
                                  base64.b64encode(ca_pem).decode(), "server": server_url},
                      "name": ""}],
        "contexts": None, "current-context": "", "kind": "Config", "preferences": {},
        "users": None}, default_flow_style=False, sort_keys=False, width=1 << 20)


def cluster_info(server_url: str, ca_pem: bytes) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": CLUSTER_INFO, "namespace": "kube-public"},
            "data": {"kubeconfig": cluster_info_kubeconfig(server_url, ca_pem)}}


def cluster_info_rbac() -> list[Obj]:
    return [
        {"apiVersion": f"{RBAC}/v1", "kind": "Role",
         "metadata": {"name": CLUSTER_INFO_ROLE, "namespace": "kube-public"},
         "rules": [{"apiGroups": [""], "resources": ["configmaps"],
                    "resourceNames": [CLUSTER_INFO], "verbs": ["get"]}]},
        {"apiVersion": f"{RBAC}/v1", "kind": "RoleBinding",
         "metadata": {"name": CLUSTER_INFO_ROLE, "namespace": "kube-public"},
         "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": CLUSTER_INFO_ROLE},
         "subjects": [{"apiGroup": RBAC, "kind": "User", "name": ANONYMOUS}]},
    ]


def node_bindings() -> list[Obj]:
    return [{"apiVersion": f"{RBAC}/v1", "kind": "ClusterRoleBinding",
             "metadata": {"name": name},
             "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role},
             "subjects": [{"apiGroup": RBAC, "kind": "Group", "name": group}]}
            for name, role, group in CLUSTER_ROLE_BINDINGS]


def serving_approval() -> list[Obj]:
    return [
        {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole", "metadata": {"name": SERVING_APPROVER},
         "rules": [{"apiGroups": ["certificates.k8s.io"], "resources": ["signers"],
                    "resourceNames": ["kubernetes.io/kubelet-serving"], "verbs": ["approve"]}]},
        {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": SERVING_APPROVER},
         "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": SERVING_APPROVER},
         "subjects": [{"kind": "ServiceAccount", "name": "certificate-controller",
                       "namespace": "kube-system"}]},
    ]


def service_lb_rbac() -> list[Obj]:
    read = ["get", "list", "watch"]
    return [
        {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole", "metadata": {"name": SERVICE_LB_ROLE},
         "rules": [{"apiGroups": [""], "resources": ["services", "nodes"], "verbs": read},
                   {"apiGroups": [""], "resources": ["services/status"],
                    "verbs": ["patch", "update"]},
                   {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
                    "verbs": read},
                   {"apiGroups": ["", "events.k8s.io"], "resources": ["events"],
                    "verbs": ["create", "patch", "update"]}]},
        {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": SERVICE_LB_ROLE},
         "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": SERVICE_LB_ROLE},
         "subjects": [{"kind": "ServiceAccount", "name": SERVICE_LB,
                       "namespace": "kube-system"}]},
    ]


def dns_rbac() -> list[Obj]:
    subjects = [{"apiGroup": RBAC, "kind": "User", "name": DNS_USER}]
    write = ["get", "create", "update", "patch"]
    return [
        {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole", "metadata": {"name": DNS_USER},
         "rules": [{"apiGroups": [""], "verbs": ["list", "watch"],
                    "resources": ["endpoints", "services", "pods", "namespaces", "nodes"]},
                   {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
                    "verbs": ["list", "watch"]}]},
        {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": DNS_USER},
         "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": DNS_USER},
         "subjects": subjects},
        {"apiVersion": f"{RBAC}/v1", "kind": "Role",
         "metadata": {"name": DNS_USER, "namespace": "kube-system"},
         "rules": [{"apiGroups": [""], "resources": ["services"], "verbs": write},
                   {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
                    "verbs": write}]},
        {"apiVersion": f"{RBAC}/v1", "kind": "RoleBinding",
         "metadata": {"name": DNS_USER, "namespace": "kube-system"},
         "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": DNS_USER},
         "subjects": subjects},
    ]


def network_policy_rbac() -> list[Obj]:
    return [
        {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole",
         "metadata": {"name": NETWORK_POLICY_USER},
         "rules": [{"apiGroups": [""], "resources": ["pods", "namespaces"],
                    "verbs": ["list", "watch"]},
                   {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"],
                    "verbs": ["list", "watch"]}]},
        {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": NETWORK_POLICY_USER},
         "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": NETWORK_POLICY_USER},
         "subjects": [{"apiGroup": RBAC, "kind": "User", "name": NETWORK_POLICY_USER},
                      {"apiGroup": RBAC, "kind": "Group", "name": NODES_GROUP}]},
    ]


_PLURALS = {"Secret": "secrets", "ConfigMap": "configmaps", "Role": "roles",
            "RoleBinding": "rolebindings", "ClusterRole": "clusterroles",
            "ClusterRoleBinding": "clusterrolebindings"}
# The fields of each kind that the server owns (others, such as labels, are left alone).
_OWNED: dict[str, Callable[[Obj], Any]] = {
    "Secret": lambda o: (o.get("type"), o.get("data")),
    "ConfigMap": lambda o: o.get("data"),
    "Role": lambda o: o.get("rules"),
    "ClusterRole": lambda o: o.get("rules"),
    "RoleBinding": lambda o: (o.get("roleRef"), o.get("subjects")),
    "ClusterRoleBinding": lambda o: (o.get("roleRef"), o.get("subjects")),
}


async def _ensure(server: ApiServer, obj: Obj) -> None:
    group, _, version = obj["apiVersion"].rpartition("/")
    info = server.registry.get(group, version, _PLURALS[obj["kind"]])
    assert info is not None
    namespace = obj["metadata"].get("namespace", "")
    try:
        await server.store.create(info, namespace, obj)
        return
    except errors.StatusError as err:
        if err.code != 409:
            raise
    current = (await server.store.get(info, namespace, obj["metadata"]["name"])).obj
    owned = _OWNED[obj["kind"]]
    if owned(current) == owned(obj):
        return
    updated = {**current, **{k: v for k, v in obj.items() if k != "metadata"}}
    await server.store.update(info, namespace, obj["metadata"]["name"], updated)


async def bootstrap(server: ApiServer) -> None:
    """Everything above; run once the system namespaces exist."""
    cfg = server.config
    ca_pem = (cfg.data_dir / "tls" / "ca.crt").read_bytes()
    try:
        token, replaced = ensure_token(cfg.data_dir, ca_pem, cfg.node_token)
    except jointoken.TokenError as err:
        raise SystemExit(f"kyb: {err}") from None
    if replaced is not None:
        secrets = server.registry.get("", "v1", "secrets")
        assert secrets is not None
        with contextlib.suppress(errors.StatusError):
            await server.store.delete(secrets, "kube-system",
                                      f"{SECRET_PREFIX}{replaced.token_id}",
                                      DeleteOptions())
        log.info("the node token changed; the previous one no longer authenticates")
    host = cfg.advertise_address
    url = f"https://{f'[{host}]' if ':' in host else host}:{cfg.port}"
    for obj in [bootstrap_secret(token), cluster_info(url, ca_pem), *cluster_info_rbac(),
                *node_bindings(), *serving_approval(), *service_lb_rbac(),
                *dns_rbac(), *network_policy_rbac()]:
        await _ensure(server, obj)
