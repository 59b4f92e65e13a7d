"""The Node authorizer (upstream's plugin/pkg/auth/authorizer/node/node_authorizer.go,
with AuthorizeNodeWithSelectors, GA since 1.34): what a kubelet may do as
`system:node:<name>` in `system:nodes`.

- secrets, configmaps: get/list/watch of one object that a pod bound to the node refers
  to; persistentvolumeclaims, persistentvolumes, resourceclaims, volumeattachments: get of
  one such object (PVs through their claim); persistentvolumeclaims/status: update/patch.
- serviceaccounts/token: create, for the service account of a pod on the node.
- pods: get of a pod bound to the node, list/watch with `spec.nodeName=<node>` (or of one
  such pod), create/delete (mirror pods), status update/patch and eviction create;
  nodes: get/list/watch of its own Node, create/update/patch and status update/patch;
  leases (in kube-node-lease, named after the node) and csinodes (named after the node).
  The NodeRestriction admission plugin narrows the writes to the node's own objects.
- anything else: the static rules of upstream's `bootstrappolicy.NodeRules()`.

Other users get no opinion, and so does anything a node is not granted here (with
upstream's reason): the next authorizer (RBAC) decides.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from kybernetes.api import errors
from kybernetes.api.goquote import go_quote
from kybernetes.api.selectors import parse_field_selector
from kybernetes.apiserver.authn.user import NODE_USER_PREFIX, NODES_GROUP, UserInfo, node_name_of
from kybernetes.apiserver.authz import nodegraph
from kybernetes.apiserver.authz.attributes import Attributes
from kybernetes.apiserver.authz.authorizer import NO_OPINION, Decision
from kybernetes.apiserver.authz.bootstrappolicy import bootstrap_policy
from kybernetes.apiserver.authz.policyrule import PolicyRule, rule_allows, rules_of
from kybernetes.apiserver.authz.ruleresolver import SubjectRules

if TYPE_CHECKING:
    from kybernetes.apiserver.server import ApiServer

NODE_LEASE_NAMESPACE = "kube-node-lease"

ALLOW = Decision("allow")
_Check = Callable[[str, Attributes], Decision]
_READ = frozenset({"get", "list", "watch"})
# (subresource, verb) of the writes to nodes and pods the authorizer allows any node.
_NODE_WRITES = frozenset({("", "create"), ("", "update"), ("", "patch"), ("status", "update"),
                          ("status", "patch")})
_POD_WRITES = frozenset({("", "create"), ("", "delete"), ("status", "update"),
                         ("status", "patch"), ("eviction", "create")})


def node_rules() -> tuple[PolicyRule, ...]:
    """Upstream's `bootstrappolicy.NodeRules()`: the rules of the bootstrap policy's
    `system:node` ClusterRole."""
    role = next(r for r in bootstrap_policy().cluster_roles
                if r["metadata"]["name"] == "system:node")
    return rules_of(role)


def node_identity(user: UserInfo) -> tuple[str, bool]:
    """Upstream's `NodeIdentity`: (node name, whether the user is a node). A node user
    without a name is ("", True): a node, but not one that can be told apart."""
    name = node_name_of(user)
    if name is not None:
        return name, True
    return "", user.name == NODE_USER_PREFIX and NODES_GROUP in user.groups


def _no(reason: str = "") -> Decision:
    return Decision("no-opinion", reason)


class NodeAuthorizer:
    def __init__(self, server: ApiServer) -> None:
        self.graph = nodegraph.NodeGraph(server.cache)
        self.rules = node_rules()
        self._checks: dict[tuple[str, str], _Check] = {
            ("", "secrets"): partial(self._read_namespaced, kind=nodegraph.SECRET),
            ("", "configmaps"): partial(self._read_namespaced, kind=nodegraph.CONFIGMAP),
            ("", "persistentvolumeclaims"): self._claim,
            ("", "persistentvolumes"): partial(self._get, kind=nodegraph.PV),
            ("resource.k8s.io", "resourceclaims"):
                partial(self._get, kind=nodegraph.RESOURCE_CLAIM),
            ("storage.k8s.io", "volumeattachments"):
                partial(self._get, kind=nodegraph.VOLUME_ATTACHMENT),
            ("", "serviceaccounts"): self._create_token,
            ("coordination.k8s.io", "leases"): self._lease,
            ("storage.k8s.io", "csinodes"): self._csinode,
            ("", "nodes"): self._node,
            ("", "pods"): self._pod,
        }

    def rules_for(self, user: UserInfo, namespace: str) -> SubjectRules:
        """A node's rules cannot be listed: they depend on its pods (upstream's RulesFor)."""
        if node_identity(user)[1]:
            return SubjectRules(incomplete=True, errors=(
                "node authorizer does not support user rule resolution",))
        return SubjectRules()

    def authorize(self, attrs: Attributes) -> Decision:
        node, is_node = node_identity(attrs.user)
        if not is_node:
            return NO_OPINION
        if not node:
            return _no(f"unknown node for user {go_quote(attrs.user.name)}")
        if attrs.resource_request:
            check = self._checks.get((attrs.api_group, attrs.resource))
            if check is not None:
                return check(node, attrs)
        if any(rule_allows(attrs, rule) for rule in self.rules):
            return ALLOW
        return NO_OPINION

    # -- objects reached through the graph ----------------------------------------------

    def _related(self, node: str, kind: str, attrs: Attributes) -> Decision:
        if not attrs.name:
            return _no("No Object name found")
        if not self.graph.reaches(node, kind, attrs.namespace, attrs.name):
            return _no(f"no relationship found between node '{node}' and this object")
        return ALLOW

    def _read_namespaced(self, node: str, attrs: Attributes, *, kind: str) -> Decision:
        if attrs.verb not in _READ:
            return _no("can only read resources of this type")
        if attrs.subresource:
            return _no("cannot read subresource")
        if not attrs.namespace:
            return _no("can only read namespaced object of this type")
        return self._related(node, kind, attrs)

    def _get(self, node: str, attrs: Attributes, *, kind: str) -> Decision:
        if attrs.verb != "get":
            return _no("can only get individual resources of this type")
        if attrs.subresource:
            return _no("cannot get subresource")
        return self._related(node, kind, attrs)

    def _claim(self, node: str, attrs: Attributes) -> Decision:
        if attrs.subresource != "status":
            return self._get(node, attrs, kind=nodegraph.PVC)
        if attrs.verb not in ("update", "patch"):
            return _no("can only get/update/patch this type")
        return self._related(node, nodegraph.PVC, attrs)

    def _create_token(self, node: str, attrs: Attributes) -> Decision:
        if attrs.verb != "create" or not attrs.name:
            return _no("can only create tokens for individual service accounts")
        if attrs.subresource != "token":
            return _no("can only create token subresource of serviceaccount")
        return self._related(node, nodegraph.SERVICE_ACCOUNT, attrs)

    # -- the node's own objects ---------------------------------------------------------

    @staticmethod
    def _lease(node: str, attrs: Attributes) -> Decision:
        if attrs.verb not in ("get", "create", "update", "patch", "delete"):
            return _no("can only get, create, update, patch, or delete a node lease")
        if attrs.namespace != NODE_LEASE_NAMESPACE:
            return _no(f"can only access leases in the {go_quote(NODE_LEASE_NAMESPACE)} "
                       "system namespace")
        # The name of a create is checked by NodeRestriction, which sees the object.
        if attrs.verb != "create" and attrs.name != node:
            return _no("can only access node lease with the same name as the requesting node")
        return ALLOW

    @staticmethod
    def _csinode(node: str, attrs: Attributes) -> Decision:
        if attrs.verb not in ("get", "create", "update", "patch", "delete"):
            return _no("can only get, create, update, patch, or delete a CSINode")
        if attrs.subresource:
            return _no("cannot authorize CSINode subresources")
        if attrs.verb != "create" and attrs.name != node:
            return _no("can only access CSINode with the same name as the requesting node")
        return ALLOW

    @staticmethod
    def _node(node: str, attrs: Attributes) -> Decision:
        if not attrs.subresource and attrs.verb in _READ:
            # By name rather than through the graph: a kubelet reads its Node before it
            # has created it.
            if attrs.name == node:
                return ALLOW
            if not attrs.name:
                return _no(f"node '{node}' cannot read all nodes, only its own Node object")
            return _no(f"node '{node}' cannot read '{attrs.name}', only its own Node object")
        if (attrs.subresource, attrs.verb) in _NODE_WRITES:
            # NodeRestriction limits these to the node's own Node.
            return ALLOW
        return NO_OPINION

    def _pod(self, node: str, attrs: Attributes) -> Decision:
        if not attrs.subresource and attrs.verb == "get":
            return self._get(node, attrs, kind=nodegraph.POD)
        if not attrs.subresource and attrs.verb in ("list", "watch"):
            if _selects_node(attrs.field_selector, node):
                return ALLOW
            if attrs.name:
                return self._related(node, nodegraph.POD, attrs)
            return _no("can only list/watch pods with spec.nodeName field selector")
        if (attrs.subresource, attrs.verb) in _POD_WRITES:
            # Mirror pods, the status of the pods it runs, evictions: NodeRestriction limits
            # them to pods bound to the node.
            return ALLOW
        return NO_OPINION


def _selects_node(field_selector: str, node: str) -> bool:
    """Whether a field selector requires `spec.nodeName=<node>` (an unparsable one
    requires nothing)."""
    try:
        selector = parse_field_selector(field_selector)
    except errors.StatusError:
        return False
    return any(r.field == "spec.nodeName" and r.operator == "=" and r.value == node
               for r in selector.requirements)
