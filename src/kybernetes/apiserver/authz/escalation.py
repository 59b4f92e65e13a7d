"""Escalation and bind prevention on writes of roles and bindings (upstream's
pkg/registry/rbac: escalation_check.go, the policybased storages of Role, ClusterRole,
RoleBinding and ClusterRoleBinding, and `ConfirmNoEscalation` in validation/rule.go).

Nobody gets permissions through RBAC they do not already have:

- a Role or ClusterRole may be created or updated only by someone who holds every
  permission it grants (in the request's namespace for a Role, cluster-wide for a
  ClusterRole), or who may `escalate` it; setting or changing a ClusterRole's
  aggregationRule needs full authority (`*` on everything);
- a RoleBinding or ClusterRoleBinding may be created or updated only by someone who may
  `bind` the role it refers to, or who holds every permission of that role (a binding to a
  role that does not exist is then 404).

Members of system:masters (the API server's own writes among them) are exempt; an update
that only touches what the garbage collector writes (owner references, finalizers) is not
checked. Refusals are upstream's 403s ("... is attempting to grant RBAC permissions not
currently held: ..."). The checks run as an admission plugin in the mutating phase, where
upstream's storage runs them: after mutating admission, before validation. A malformed
object (a roleRef of another kind, say) is left to validation.
"""

from __future__ import annotations

from typing import Any

from kybernetes.api import errors
from kybernetes.api.goquote import go_quote
from kybernetes.apiserver.admission.chain import AdmissionRequest, Phase, Target
from kybernetes.apiserver.authn.user import SYSTEM_MASTERS, UserInfo
from kybernetes.apiserver.authz.attributes import Attributes
from kybernetes.apiserver.authz.authorizer import Authorizer
from kybernetes.apiserver.authz.policyrule import (
    ALL,
    PolicyRule,
    compact_rules,
    compact_string,
    covers,
    go_strings,
    rules_of,
)
from kybernetes.apiserver.authz.rbac import GROUP, RBACAuthorizer, UnresolvedRole

ROLE_RESOURCES = ("roles", "clusterroles")
BINDING_RESOURCES = ("rolebindings", "clusterrolebindings")
_REFERENCED = {"Role": "roles", "ClusterRole": "clusterroles"}
# What setting an aggregationRule takes: it can gather any permission.
FULL_AUTHORITY = (PolicyRule((ALL,), (ALL,), (ALL,)), PolicyRule((ALL,), non_resource_urls=(ALL,)))
# What the garbage collector changes (upstream's IsOnlyMutatingGCFields).
_GC_FIELDS = ("ownerReferences", "finalizers", "selfLink", "managedFields")


def only_gc_fields(new: dict[str, Any], old: dict[str, Any]) -> bool:
    """Whether `new` differs from `old` only in owner references and finalizers."""
    meta = dict(new.get("metadata") or {})
    old_meta = old.get("metadata") or {}
    for key in _GC_FIELDS:
        if key in old_meta:
            meta[key] = old_meta[key]
        else:
            meta.pop(key, None)
    return {**new, "metadata": meta} == old


def _has_aggregation_rule(obj: dict[str, Any] | None) -> bool:
    rule = (obj or {}).get("aggregationRule")
    return isinstance(rule, dict) and bool(rule.get("clusterRoleSelectors"))


class RBACEscalationPrevention:
    """The write guard on the four RBAC resources."""

    name = "RBACEscalationPrevention"

    def __init__(self, rbac: RBACAuthorizer, authorizer: Authorizer) -> None:
        self.rbac = rbac
        self.authorizer = authorizer

    @staticmethod
    def handles(target: Target) -> Phase:
        return Phase.ADMIT if target.group == GROUP and \
            target.operation in ("CREATE", "UPDATE") and \
            target.resource in (*ROLE_RESOURCES, *BINDING_RESOURCES) else Phase.NONE

    async def admit(self, request: AdmissionRequest) -> None:
        if request.group != GROUP or request.operation not in ("CREATE", "UPDATE") or \
                request.obj is None or \
                request.resource not in (*ROLE_RESOURCES, *BINDING_RESOURCES):
            return
        if SYSTEM_MASTERS in request.user.groups:
            return
        if request.old is not None and only_gc_fields(request.obj, request.old):
            return
        # Decide on what the storage holds now, as upstream's registry-backed resolver.
        await self.rbac.cache.wait_fresh()
        if request.resource in ROLE_RESOURCES:
            self._check_role(request)
        else:
            self._check_binding(request)

    async def validate(self, request: AdmissionRequest) -> None:
        return None

    def _allowed(self, user: UserInfo, verb: str, group: str, resource: str,
                 namespace: str, name: str) -> bool:
        attrs = Attributes(user, verb, True, api_group=group, api_version="*",
                           namespace=namespace, resource=resource, name=name)
        return self.authorizer.authorize(attrs).allowed

    def _check_role(self, request: AdmissionRequest) -> None:
        assert request.obj is not None
        # RoleEscalationAuthorized: `escalate` on the role (by name, but a create has none).
        name = "" if request.operation == "CREATE" else request.name
        if self._allowed(request.user, "escalate", GROUP, request.resource, request.namespace,
                         name):
            return
        self._confirm_no_escalation(request, rules_of(request.obj))
        if request.resource == "clusterroles" and (
                _has_aggregation_rule(request.obj) or _has_aggregation_rule(request.old)):
            owner, _ = self.rbac.policy_rules(request.user, request.namespace)
            if not covers(owner, FULL_AUTHORITY)[0]:
                raise errors.forbidden(GROUP, request.resource, request.name,
                                       "must have cluster-admin privileges to use the "
                                       "aggregationRule")

    def _check_binding(self, request: AdmissionRequest) -> None:
        assert request.obj is not None
        ref = request.obj.get("roleRef")
        if not isinstance(ref, dict) or ref.get("kind") not in _REFERENCED:
            return
        kind, role = str(ref["kind"]), str(ref.get("name", ""))
        if self._allowed(request.user, "bind", str(ref.get("apiGroup", "")), _REFERENCED[kind],
                         request.namespace, role):
            return
        try:
            rules = self.rbac.role_reference_rules(kind, role, request.namespace)
        except UnresolvedRole:
            raise errors.not_found(GROUP, _REFERENCED[kind], role) from None
        self._confirm_no_escalation(request, rules)

    def _confirm_no_escalation(self, request: AdmissionRequest,
                               rules: tuple[PolicyRule, ...]) -> None:
        """Upstream's ConfirmNoEscalation: the requester's rules in the request's namespace
        must cover `rules`."""
        user = request.user
        owner, resolution_errors = self.rbac.policy_rules(user, request.namespace)
        covered, missing = covers(owner, rules)
        if covered:
            return
        described = sorted({compact_string(rule) for rule in compact_rules(missing)})
        message = (f"user {go_quote(user.name)} (groups={go_strings(user.groups)}) is "
                   "attempting to grant RBAC permissions not currently held:\n"
                   + "\n".join(described))
        if resolution_errors:
            message += f"; resolution errors: [{' '.join(resolution_errors)}]"
        raise errors.forbidden(GROUP, request.resource, request.name, message)
