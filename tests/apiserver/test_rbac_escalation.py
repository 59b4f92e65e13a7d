"""Escalation and bind prevention on writes of roles and bindings, through a real API
server in this process with static-token users: bob administers namespace `team` (the
`admin` ClusterRole there) and nothing else."""

from __future__ import annotations

from typing import Any

import httpx
from tests.apiserver.test_rbac_authorizer import (
    ADMIN,
    BOB,
    CLUSTER_ROLE_BINDINGS,
    RBAC,
    binding,
    create,
    http,
    namespaces,
    rolebindings,
    server,
    user,
)

__all__ = ["http", "server"]  # the fixtures

ROLES = f"/apis/{RBAC}/v1/namespaces/team/roles"
CLUSTER_ROLES = f"/apis/{RBAC}/v1/clusterroles"
GROUPS = 'groups=["system:authenticated"]'


def role(name: str, *rules: dict[str, Any], cluster: bool = False) -> dict[str, Any]:
    return {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole" if cluster else "Role",
            "metadata": {"name": name}, "rules": list(rules)}


def allow(verbs: list[str], resources: list[str], groups: tuple[str, ...] = ("",),
          names: list[str] | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"apiGroups": list(groups), "resources": resources, "verbs": verbs}
    if names:
        rule["resourceNames"] = names
    return rule


async def team_admin(http: httpx.AsyncClient) -> None:
    await namespaces(http, "team")
    response = await create(http, rolebindings("team"),
                            binding("bob-admin", "ClusterRole", "admin", user("bob")))
    assert response.status_code == 201, response.text


async def test_a_role_within_what_the_writer_holds_is_allowed(http: httpx.AsyncClient) -> None:
    await team_admin(http)
    response = await create(http, ROLES, role("pod-reader", allow(["get", "list"], ["pods"])),
                            BOB)
    assert response.status_code == 201, response.text


async def test_a_role_granting_more_is_refused_with_upstreams_message(
        http: httpx.AsyncClient) -> None:
    await team_admin(http)
    response = await create(http, ROLES, role(
        "too-much", allow(["get", "list"], ["pods"]), allow(["get", "list"], ["nodes"]),
        allow(["get"], ["secrets"], names=["s"]), allow(["*"], ["*"], ("apps",))), BOB)
    assert response.status_code == 403
    assert response.json() == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": f'roles.{RBAC} "too-much" is forbidden: user "bob" ({GROUPS}) is '
                   "attempting to grant RBAC permissions not currently held:\n"
                   '{APIGroups:[""], Resources:["nodes"], Verbs:["get" "list"]}\n'
                   '{APIGroups:["apps"], Resources:["*"], Verbs:["*"]}',
        "reason": "Forbidden",
        "details": {"name": "too-much", "group": RBAC, "kind": "roles"}, "code": 403}
    listed = await http.get(ROLES, headers=ADMIN)
    assert [r["metadata"]["name"] for r in listed.json()["items"]] == []


async def test_an_update_granting_more_is_refused(http: httpx.AsyncClient) -> None:
    await team_admin(http)
    assert (await create(http, ROLES, role("r", allow(["get"], ["pods"])), BOB)
            ).status_code == 201
    response = await http.put(f"{ROLES}/r", headers=BOB, json=role(
        "r", allow(["get"], ["pods"]), allow(["delete"], ["nodes"])))
    assert response.status_code == 403
    assert "attempting to grant RBAC permissions not currently held:\n" \
           '{APIGroups:[""], Resources:["nodes"], Verbs:["delete"]}' in response.json()["message"]
    assert (await http.put(f"{ROLES}/r", headers=BOB, json=role(
        "r", allow(["get", "list"], ["pods"])))).status_code == 200


async def test_escalate_allows_any_role(http: httpx.AsyncClient) -> None:
    await team_admin(http)
    await create(http, CLUSTER_ROLES, role("escalator", allow(["escalate"], ["roles"], (RBAC,)),
                                           cluster=True))
    await create(http, rolebindings("team"),
                 binding("bob-escalates", "ClusterRole", "escalator", user("bob")))
    response = await create(http, ROLES, role("anything", allow(["*"], ["*"], ("*",))), BOB)
    assert response.status_code == 201, response.text


async def test_binding_a_role_with_more_than_the_writer_holds_is_refused(
        http: httpx.AsyncClient) -> None:
    await team_admin(http)
    response = await create(http, rolebindings("team"), binding(
        "bob-root", "ClusterRole", "cluster-admin", user("bob")), BOB)
    assert response.status_code == 403
    assert response.json()["message"] == (
        f'rolebindings.{RBAC} "bob-root" is forbidden: user "bob" ({GROUPS}) is attempting '
        "to grant RBAC permissions not currently held:\n"
        '{APIGroups:["*"], Resources:["*"], Verbs:["*"]}\n'
        '{NonResourceURLs:["*"], Verbs:["*"]}')
    # A role the writer holds all of may be bound, to anyone.
    assert (await create(http, rolebindings("team"), binding(
        "alice-view", "ClusterRole", "view", user("alice")), BOB)).status_code == 201
    # Outside the namespace bob holds nothing, and cannot even write bindings.
    await namespaces(http, "other")
    elsewhere = await create(http, rolebindings("other"), binding(
        "alice-view", "ClusterRole", "view", user("alice")), BOB)
    assert elsewhere.status_code == 403
    assert (await create(http, CLUSTER_ROLE_BINDINGS, binding(
        "bob-root", "ClusterRole", "cluster-admin", user("bob"), cluster=True), BOB)
            ).status_code == 403


async def test_bind_allows_binding_the_named_role(http: httpx.AsyncClient) -> None:
    await team_admin(http)
    await create(http, CLUSTER_ROLES, role("binder", allow(
        ["bind"], ["clusterroles"], (RBAC,), names=["cluster-admin"]), cluster=True))
    await create(http, rolebindings("team"),
                 binding("bob-binds", "ClusterRole", "binder", user("bob")))
    assert (await create(http, rolebindings("team"), binding(
        "alice-root", "ClusterRole", "cluster-admin", user("alice")), BOB)).status_code == 201
    # `bind` names cluster-admin only.
    assert (await create(http, rolebindings("team"), binding(
        "alice-nodes", "ClusterRole", "system:node", user("alice")), BOB)).status_code == 403


async def test_binding_a_missing_role_is_not_found(http: httpx.AsyncClient) -> None:
    await team_admin(http)
    response = await create(http, rolebindings("team"),
                            binding("dangling", "Role", "nope", user("alice")), BOB)
    assert response.status_code == 404
    assert response.json()["message"] == f'roles.{RBAC} "nope" not found'


async def test_an_aggregation_rule_needs_full_authority(http: httpx.AsyncClient) -> None:
    await create(http, CLUSTER_ROLES, role("role-writer", allow(
        ["create", "update", "get"], ["clusterroles"], (RBAC,)), cluster=True))
    await create(http, CLUSTER_ROLE_BINDINGS, binding(
        "bob-writes-roles", "ClusterRole", "role-writer", user("bob"), cluster=True))
    aggregated = {**role("gatherer", cluster=True), "aggregationRule": {
        "clusterRoleSelectors": [{"matchLabels": {"x": "y"}}]}}
    response = await create(http, CLUSTER_ROLES, aggregated, BOB)
    assert response.status_code == 403
    assert response.json()["message"] == (
        f'clusterroles.{RBAC} "gatherer" is forbidden: must have cluster-admin privileges to '
        "use the aggregationRule")
    # Without one, a ClusterRole of what bob holds is fine.
    assert (await create(http, CLUSTER_ROLES, role("plain", allow(
        ["get"], ["clusterroles"], (RBAC,)), cluster=True), BOB)).status_code == 201


async def test_an_update_of_only_what_the_garbage_collector_writes_is_not_checked(
        http: httpx.AsyncClient) -> None:
    await team_admin(http)
    assert (await create(http, rolebindings("team"), binding(
        "root", "ClusterRole", "cluster-admin", user("carol")))).status_code == 201
    path = f"{rolebindings('team')}/root"
    merge = {"Content-Type": "application/merge-patch+json", **BOB}
    finalized = await http.patch(path, headers=merge,
                                 json={"metadata": {"finalizers": ["example.com/keep"]}})
    assert finalized.status_code == 200, finalized.text
    labelled = await http.patch(path, headers=merge, json={"metadata": {"labels": {"a": "b"}}})
    assert labelled.status_code == 403
    assert "attempting to grant RBAC permissions not currently held" in \
        labelled.json()["message"]
