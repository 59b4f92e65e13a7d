"""The ClusterRole aggregation controller (upstream's
pkg/controller/clusterroleaggregation): a ClusterRole with an `aggregationRule` gets, as
its `rules`, the rules of every other ClusterRole its selectors match.

Keys are the names of aggregated ClusterRoles. Any change to any ClusterRole enqueues all
aggregated ones (the set is small and who selects whom is not known in advance, as
upstream reasons). `sync` reads the informer cache: for each selector in turn, the
matching ClusterRoles in name order, each rule added once; when that differs from the
role's rules, the rules are written by server-side apply as field manager
`clusterrole-aggregation-controller` (force), or by an update when the server does not
support apply. An invalid selector fails the sync (retried with backoff).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from kybernetes.api.selectors import label_selector_from_dict
from kybernetes.client import ApiError, resource
from kybernetes.client.rest import Obj
from kybernetes.controllers.base import ControllerContext, QueueController

log = logging.getLogger(__name__)

CLUSTER_ROLES = resource("rbac.authorization.k8s.io", "v1", "clusterroles")
FIELD_MANAGER = "clusterrole-aggregation-controller"
# kube-controller-manager runs it with 5 workers.
DEFAULT_WORKERS = 5
_RULE_FIELDS = ("verbs", "apiGroups", "resources", "resourceNames", "nonResourceURLs")


def _semantic_rule(rule: Any) -> dict[str, Any]:
    """A policy rule compared as upstream's semantic equality does (an empty list is a
    missing one)."""
    if not isinstance(rule, dict):
        return {}
    return {key: rule[key] for key in _RULE_FIELDS if rule.get(key)}


def aggregated_rules(role: Obj, roles: list[Obj]) -> list[dict[str, Any]]:
    """The rules `role`'s aggregation rule gathers from `roles`. Raises ValueError for an
    invalid selector."""
    name = role["metadata"]["name"]
    rules: list[dict[str, Any]] = []
    by_name = sorted(roles, key=lambda r: str(r["metadata"]["name"]))
    for selector_body in (role.get("aggregationRule") or {}).get("clusterRoleSelectors") or []:
        selector = label_selector_from_dict(selector_body)
        for other in by_name:
            if other["metadata"]["name"] == name or \
                    not selector.matches(other["metadata"].get("labels") or {}):
                continue
            for rule in other.get("rules") or []:
                semantic = _semantic_rule(rule)
                if semantic not in rules:
                    rules.append(semantic)
    return rules


class ClusterRoleAggregationController(QueueController):
    name: ClassVar[str] = "clusterrole-aggregation-controller"

    def __init__(self, ctx: ControllerContext, *, workers: int = DEFAULT_WORKERS) -> None:
        super().__init__(workers=workers)
        self.client = ctx.client
        self.cluster_roles = ctx.informers.informer(CLUSTER_ROLES)
        self.watch(self.cluster_roles, on_add=lambda _role: self._enqueue_all(),
                   on_update=lambda _old, _new: self._enqueue_all(),
                   on_delete=lambda _role: self._enqueue_all())

    def _enqueue_all(self) -> None:
        for role in self.cluster_roles.store.list():
            if role.get("aggregationRule") is not None:
                self.enqueue(str(role["metadata"]["name"]))

    async def sync(self, key: str) -> None:
        role = self.cluster_roles.store.get(key)
        if role is None or role.get("aggregationRule") is None:
            return
        rules = aggregated_rules(role, self.cluster_roles.store.list())
        if rules == [_semantic_rule(r) for r in role.get("rules") or []]:
            return
        try:
            await self.client.patch(CLUSTER_ROLES, key, {
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": key}, "rules": rules},
                patch_type="apply", field_manager=FIELD_MANAGER, force=True)
        except ApiError as err:
            if err.code != 415:
                raise
            await self.client.update(CLUSTER_ROLES, {**role, "rules": rules})
        log.info("%s: aggregated %d rules into clusterrole %s", self.name, len(rules), key)
