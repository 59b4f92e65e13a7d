"""Upstream's bootstrap RBAC policy, reconciled at API server start (the
`rbac/bootstrap-roles` post-start hook of pkg/registry/rbac/rest/storage_rbac.go).

The policy is upstream's own (the YAML files of `data/`, see its README): the cluster roles
(cluster-admin, admin/edit/view and their aggregation, system:discovery,
system:basic-user, system:public-info-viewer, system:node-bootstrapper, the components'
roles ...) and the controllers' roles, their ClusterRoleBindings, and the Roles and
RoleBindings of kube-system and kube-public. At every start each one is created when
missing and otherwise reconciled (`reconciliation`: missing rules, subjects, labels and
annotations added, unless the stored object opts out with the autoupdate annotation). The
writes go through the store as the API server itself; one that fails is logged and the
others go on, as upstream's hook does.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

import yaml

from kybernetes.api import errors
from kybernetes.api.registry import ResourceInfo
from kybernetes.apiserver.authz.policyrule import compact_string
from kybernetes.apiserver.authz.rbac import GROUP
from kybernetes.apiserver.authz.reconciliation import (
    BindingResult,
    RoleResult,
    reconcile_binding,
    reconcile_role,
)
from kybernetes.apiserver.store import DeleteOptions

if TYPE_CHECKING:
    from kybernetes.apiserver.server import ApiServer

log = logging.getLogger(__name__)

# Conflicting writes (another API server reconciling the same object) are retried.
_ATTEMPTS = 5


@dataclass(frozen=True)
class BootstrapPolicy:
    cluster_roles: tuple[dict[str, Any], ...]
    cluster_role_bindings: tuple[dict[str, Any], ...]
    roles: tuple[dict[str, Any], ...]
    role_bindings: tuple[dict[str, Any], ...]


def _load(name: str) -> tuple[dict[str, Any], ...]:
    text = (resources.files(__package__) / "data" / name).read_text(encoding="utf-8")
    items = yaml.load(text, Loader=yaml.CSafeLoader)["items"]
    for item in items:
        item["metadata"].pop("creationTimestamp", None)
        if item.get("rules", ()) is None:
            del item["rules"]
    return tuple(items)


@functools.cache
def bootstrap_policy() -> BootstrapPolicy:
    return BootstrapPolicy(
        cluster_roles=_load("cluster-roles.yaml") + _load("controller-roles.yaml"),
        cluster_role_bindings=(_load("cluster-role-bindings.yaml")
                               + _load("controller-role-bindings.yaml")),
        roles=_load("namespace-roles.yaml"),
        role_bindings=_load("namespace-role-bindings.yaml"))


def _name(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj["metadata"]
    return str(meta.get("namespace", "")), str(meta["name"])


async def reconcile(server: ApiServer, policy: BootstrapPolicy | None = None) -> None:
    """Create or reconcile every object of `policy` (upstream's, by default)."""
    policy = policy or bootstrap_policy()
    registry = server.registry
    infos = {plural: registry.get(GROUP, "v1", plural) for plural in (
        "clusterroles", "clusterrolebindings", "roles", "rolebindings")}
    await server.cache.wait_fresh()
    for plural, objects in (("clusterroles", policy.cluster_roles),
                            ("roles", policy.roles),
                            ("clusterrolebindings", policy.cluster_role_bindings),
                            ("rolebindings", policy.role_bindings)):
        info = infos[plural]
        assert info is not None
        # Independent objects: written concurrently, so the storage commits them together.
        await asyncio.gather(*(_reconcile_logged(server, info, expected)
                               for expected in objects))


async def _reconcile_logged(server: ApiServer, info: ResourceInfo,
                            expected: dict[str, Any]) -> None:
    try:
        await _reconcile_one(server, info, expected)
    except errors.StatusError as err:
        namespace, name = _name(expected)
        log.error("unable to reconcile %s.%s %s: %s", info.plural, GROUP,
                  f"{namespace}/{name}" if namespace else name, err)


async def _reconcile_one(server: ApiServer, info: ResourceInfo,
                         expected: dict[str, Any]) -> None:
    namespace, name = _name(expected)
    described = f"{info.kind.lower()}.{GROUP}/{name}"
    is_role = info.plural in ("roles", "clusterroles")
    for attempt in range(_ATTEMPTS):
        if attempt:
            # Written or deleted by someone else meanwhile: read what the storage holds.
            await server.cache.wait_fresh()
        found = server.cache.get(info.key(namespace, name))
        existing = None if found is None else found.obj
        result: RoleResult | BindingResult = reconcile_role(existing, expected) if is_role \
            else reconcile_binding(existing, expected)
        if result.protected:
            if result.operation != "none":
                log.warning("skipped reconcile-protected %s with missing %s", described,
                            _missing(result))
            return
        try:
            await _write(server, info, namespace, name, result, existing)
        except errors.StatusError as err:
            if err.code not in (404, 409):
                raise
            continue
        if result.operation != "none":
            log.info("%s %s", {"create": "created", "update": "updated",
                               "recreate": "recreated"}[result.operation], described)
        return
    raise errors.conflict(GROUP, info.plural, name, "exceeded maximum attempts")


def _missing(result: RoleResult | BindingResult) -> str:
    if isinstance(result, RoleResult):
        return "permissions: " + ", ".join(compact_string(r) for r in result.missing_rules)
    return f"subjects: {result.missing_subjects}"


async def _write(server: ApiServer, info: ResourceInfo, namespace: str, name: str,
                 result: RoleResult | BindingResult, existing: dict[str, Any] | None) -> None:
    obj = result.role if isinstance(result, RoleResult) else result.binding
    if result.operation == "recreate":
        assert existing is not None
        await server.store.delete(info, namespace, name, DeleteOptions(
            precondition_uid=existing["metadata"].get("uid")))
        await server.store.create(info, namespace, obj)
    elif result.operation == "create":
        await server.store.create(info, namespace, obj)
    elif result.operation == "update":
        await server.store.update(info, namespace, name, obj)
