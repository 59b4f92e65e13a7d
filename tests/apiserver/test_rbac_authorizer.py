"""The RBAC authorizer against a real API server in this process (SQLite in a temporary
directory, its ASGI app behind httpx), whose requesters are static-token users: bindings by
user, group and service account, RoleBindings that refer to ClusterRoles, upstream's 403
messages and reasons, and the index following changes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.apiserver import inprocess

from kybernetes.apiserver.authn.user import UserInfo, service_account_user
from kybernetes.apiserver.authz.attributes import Attributes
from kybernetes.apiserver.authz.chain import AuthorizerChain
from kybernetes.apiserver.server import ApiServer
from kybernetes.controllers.clusterroleaggregation import aggregated_rules

RBAC = "rbac.authorization.k8s.io"
ADMIN = {"Authorization": "Bearer admin-token"}
BOB = {"Authorization": "Bearer bob-token"}
ALICE = {"Authorization": "Bearer alice-token"}
BOB_USER = UserInfo("bob", "2", ("system:authenticated",))


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ApiServer]:
    tokens = tmp_path / "tokens.csv"
    tokens.write_text("admin-token,root,1,system:masters\nbob-token,bob,2\n"
                      'alice-token,alice,3,"devs,qa"\n')
    async with inprocess.apiserver(tmp_path, token_auth_file=tokens,
                                   authorization_mode="Node,RBAC") as server:
        await aggregate(server)
        yield server


async def aggregate(server: ApiServer) -> None:
    """What the ClusterRole aggregation controller does once (no controller manager runs
    here): fill admin, edit and view."""
    info = server.registry.get(RBAC, "v1", "clusterroles")
    assert info is not None
    changed = True
    while changed:  # admin gathers edit's rules, which edit gathers first
        changed = False
        await server.cache.wait_fresh()
        roles = [item.obj for item in server.cache.scan(info.key_prefix)]
        for role in roles:
            rules = aggregated_rules(role, roles)
            if role.get("aggregationRule") and rules != role.get("rules"):
                await server.store.update(info, "", role["metadata"]["name"],
                                          {**role, "rules": rules})
                changed = True


@pytest.fixture
async def http(server: ApiServer) -> AsyncIterator[httpx.AsyncClient]:
    async with inprocess.http_client(server.app) as client:
        client.event_hooks["response"].append(_settled(server))
        yield client


def _settled(server: ApiServer) -> Any:
    """A response hook: after each request the server's cache (and so its authorizer)
    holds what the request wrote, as it would a moment later anyway."""
    async def hook(response: httpx.Response) -> None:
        await server.cache.wait_fresh()
    return hook


async def create(http: httpx.AsyncClient, path: str, obj: dict[str, Any],
                 headers: dict[str, str] = ADMIN) -> httpx.Response:
    return await http.post(path, json=obj, headers=headers)


def binding(name: str, role_kind: str, role: str, *subjects: dict[str, str],
            cluster: bool = False) -> dict[str, Any]:
    return {"apiVersion": f"{RBAC}/v1",
            "kind": "ClusterRoleBinding" if cluster else "RoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": RBAC, "kind": role_kind, "name": role},
            "subjects": list(subjects)}


def user(name: str) -> dict[str, str]:
    return {"apiGroup": RBAC, "kind": "User", "name": name}


def group(name: str) -> dict[str, str]:
    return {"apiGroup": RBAC, "kind": "Group", "name": name}


def rolebindings(namespace: str) -> str:
    return f"/apis/{RBAC}/v1/namespaces/{namespace}/rolebindings"


CLUSTER_ROLE_BINDINGS = f"/apis/{RBAC}/v1/clusterrolebindings"


async def namespaces(http: httpx.AsyncClient, *names: str) -> None:
    for name in names:
        response = await create(http, "/api/v1/namespaces", {
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        assert response.status_code == 201, response.text


def chain(server: ApiServer) -> AuthorizerChain:
    authorizer = server.app.authorizer
    assert isinstance(authorizer, AuthorizerChain)
    return authorizer


async def test_a_role_binding_grants_in_its_namespace_only(http: httpx.AsyncClient) -> None:
    await namespaces(http, "a", "b")
    assert (await create(http, rolebindings("a"), binding(
        "bob-view", "ClusterRole", "view", user("bob")))).status_code == 201
    await create(http, "/api/v1/namespaces/a/configmaps", {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})

    assert (await http.get("/api/v1/namespaces/a/configmaps/c", headers=BOB)).status_code == 200
    assert (await http.get("/api/v1/namespaces/a/pods", headers=BOB)).status_code == 200
    # view reads no secrets, writes nothing, and nothing elsewhere
    refused = await http.delete("/api/v1/namespaces/a/configmaps/c", headers=BOB)
    assert refused.status_code == 403
    assert refused.json() == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'configmaps "c" is forbidden: User "bob" cannot delete resource '
                   '"configmaps" in API group "" in the namespace "a"',
        "reason": "Forbidden", "details": {"name": "c", "kind": "configmaps"}, "code": 403}
    assert (await http.get("/api/v1/namespaces/a/secrets", headers=BOB)).status_code == 403
    elsewhere = await http.get("/api/v1/namespaces/b/pods", headers=BOB)
    assert elsewhere.status_code == 403
    assert elsewhere.json()["message"] == ('pods is forbidden: User "bob" cannot list resource '
                                           '"pods" in API group "" in the namespace "b"')
    assert (await http.get("/api/v1/pods", headers=BOB)).status_code == 403


async def test_groups_service_accounts_and_role_references(server: ApiServer,
                                                           http: httpx.AsyncClient) -> None:
    await namespaces(http, "a", "b")
    await create(http, f"/apis/{RBAC}/v1/namespaces/a/roles", {
        "apiVersion": f"{RBAC}/v1", "kind": "Role", "metadata": {"name": "cm-reader"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]})
    # A ServiceAccount subject without a namespace means the binding's.
    await create(http, rolebindings("a"), binding(
        "readers", "Role", "cm-reader", group("qa"),
        {"kind": "ServiceAccount", "name": "robot"}))
    await create(http, CLUSTER_ROLE_BINDINGS, binding(
        "robot-nodes", "ClusterRole", "system:node-proxier",
        {"kind": "ServiceAccount", "name": "robot", "namespace": "b"}, cluster=True))
    authorize = chain(server).authorize
    alice = UserInfo("alice", groups=("devs", "qa", "system:authenticated"))
    robot_a = service_account_user("a", "robot")
    robot_b = service_account_user("b", "robot")

    for who in (alice, robot_a):
        assert authorize(Attributes(who, "get", True, namespace="a",
                                    resource="configmaps", name="x")).allowed
        assert not authorize(Attributes(who, "get", True, namespace="b",
                                        resource="configmaps", name="x")).allowed
    assert not authorize(Attributes(robot_b, "get", True, namespace="a",
                                    resource="configmaps", name="x")).allowed
    # A Role's rules are its namespace's; a ClusterRoleBinding's hold everywhere.
    assert authorize(Attributes(robot_b, "list", True, resource="nodes")).allowed
    assert authorize(Attributes(robot_b, "watch", True, namespace="a",
                                resource="services")).allowed
    assert not authorize(Attributes(robot_a, "list", True, resource="nodes")).allowed
    decision = authorize(Attributes(robot_a, "get", True, namespace="a",
                                    resource="configmaps", name="x"))
    assert decision.reason == ('RBAC: allowed by RoleBinding "readers/a" of Role "cm-reader" '
                               'to ServiceAccount "robot/a"')
    decision = authorize(Attributes(alice, "get", True, namespace="a", resource="configmaps"))
    assert decision.reason == ('RBAC: allowed by RoleBinding "readers/a" of Role "cm-reader" '
                               'to Group "qa"')


async def test_a_cluster_role_through_a_role_binding_holds_in_that_namespace(
        server: ApiServer, http: httpx.AsyncClient) -> None:
    await namespaces(http, "a")
    await create(http, rolebindings("a"), binding("bob-edit", "ClusterRole", "edit",
                                                  user("bob")))
    authorize = chain(server).authorize
    assert authorize(Attributes(BOB_USER, "create", True, api_group="apps", namespace="a",
                                resource="deployments")).allowed
    assert authorize(Attributes(BOB_USER, "update", True, api_group="apps", namespace="a",
                                resource="deployments", subresource="scale",
                                name="d")).allowed
    assert not authorize(Attributes(BOB_USER, "create", True, api_group="apps",
                                    resource="deployments")).allowed
    assert not authorize(Attributes(BOB_USER, "create", True, api_group="apps",
                                    namespace="default", resource="deployments")).allowed


async def test_a_missing_role_is_the_reason_of_the_refusal(http: httpx.AsyncClient) -> None:
    await namespaces(http, "a")
    await create(http, rolebindings("a"), binding("dangling", "Role", "nope", user("bob")))
    refused = await http.get("/api/v1/namespaces/a/pods", headers=BOB)
    assert refused.status_code == 403
    assert refused.json()["message"] == (
        'pods is forbidden: User "bob" cannot list resource "pods" in API group "" in the '
        'namespace "a": RBAC: role.rbac.authorization.k8s.io "nope" not found')


async def test_the_authorizer_follows_changes(http: httpx.AsyncClient) -> None:
    await namespaces(http, "a")
    pods = "/api/v1/namespaces/a/pods"
    assert (await http.get(pods, headers=ALICE)).status_code == 403
    await create(http, rolebindings("a"), binding("devs", "ClusterRole", "view", group("devs")))
    assert (await http.get(pods, headers=ALICE)).status_code == 200
    assert (await http.delete(f"{rolebindings('a')}/devs", headers=ADMIN)).status_code == 200
    assert (await http.get(pods, headers=ALICE)).status_code == 403

    # A role's rules and a binding's subjects, changed in place.
    roles = f"/apis/{RBAC}/v1/namespaces/a/roles"
    await create(http, roles, {"apiVersion": f"{RBAC}/v1", "kind": "Role",
                               "metadata": {"name": "pods"}, "rules": [
                                   {"apiGroups": [""], "resources": ["pods"],
                                    "verbs": ["list"]}]})
    await create(http, rolebindings("a"), binding("qa", "Role", "pods", group("qa")))
    assert (await http.get(pods, headers=ALICE)).status_code == 200
    merge = {"Content-Type": "application/merge-patch+json", **ADMIN}
    await http.patch(f"{roles}/pods", headers=merge, json={"rules": [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]})
    assert (await http.get(pods, headers=ALICE)).status_code == 403
    await http.patch(f"{roles}/pods", headers=merge, json={"rules": [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]})
    assert (await http.get(pods, headers=ALICE)).status_code == 200
    await http.patch(f"{rolebindings('a')}/qa", headers=merge,
                     json={"subjects": [user("bob")]})
    assert (await http.get(pods, headers=ALICE)).status_code == 403
    assert (await http.get(pods, headers=BOB)).status_code == 200
    assert (await http.delete(f"{roles}/pods", headers=ADMIN)).status_code == 200
    gone = await http.get(pods, headers=BOB)
    assert gone.status_code == 403
    assert gone.json()["message"].endswith(
        ': RBAC: role.rbac.authorization.k8s.io "pods" not found')


async def test_anonymous_requests_get_only_the_public_paths(http: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/livez", "/readyz", "/version"):
        assert (await http.get(path)).status_code == 200, path
    refused = await http.get("/api")
    assert refused.status_code == 403
    assert refused.json()["message"] == \
        'forbidden: User "system:anonymous" cannot get path "/api"'
    assert (await http.get("/api/v1/namespaces/default/pods")).status_code == 403
    # Any authenticated user discovers the API.
    assert (await http.get("/apis", headers=BOB)).status_code == 200


async def test_a_request_visits_only_its_subjects_bindings(server: ApiServer,
                                                           http: httpx.AsyncClient) -> None:
    await namespaces(http, "a")
    for n in range(50):
        await http.post(rolebindings("a"), headers=ADMIN, json=binding(
            f"u{n}", "ClusterRole", "view", user(f"user-{n}")))
    policy = chain(server).rbac.policy
    grants = list(policy.grants(UserInfo("user-7"), "a"))
    assert [(b.name, b.namespace) for b, _, _ in grants] == [("u7", "a")]
    assert sorted(b.name for b, _, _ in policy.grants(UserInfo("user-7", groups=(
        "system:authenticated",)), "a")) == ["system:basic-user", "system:discovery",
                                             "system:public-info-viewer", "u7"]
    # A binding naming the user several ways applies once, through its first subject.
    await http.post(rolebindings("a"), headers=ADMIN, json=binding(
        "twice", "ClusterRole", "view", group("g"), user("user-7"), group("h")))
    twice = [(b.name, index) for b, index, _ in policy.grants(
        UserInfo("user-7", groups=("h", "g")), "a") if b.name == "twice"]
    assert twice == [("twice", 0)]
