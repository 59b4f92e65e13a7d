"""The bootstrap policy, reconciled at start against a real API server in this process:
upstream's objects all exist, a second start writes nothing, missing rules, subjects,
labels and selectors come back without losing what was added, an object annotated
`autoupdate: "false"` is left alone, a binding whose roleRef changed is recreated."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests.apiserver import inprocess

from kybernetes.api.registry import ResourceInfo
from kybernetes.apiserver.authz import bootstrappolicy
from kybernetes.apiserver.authz.policyrule import covers, rules_of
from kybernetes.apiserver.authz.reconciliation import AUTOUPDATE_ANNOTATION
from kybernetes.apiserver.server import ApiServer
from kybernetes.apiserver.store import DeleteOptions

RBAC = "rbac.authorization.k8s.io"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ApiServer]:
    async with inprocess.apiserver(tmp_path, authorization_mode="AlwaysAllow") as server:
        yield server


def info(server: ApiServer, plural: str) -> ResourceInfo:
    found = server.registry.get(RBAC, "v1", plural)
    assert found is not None
    return found


async def stored(server: ApiServer, plural: str, name: str, namespace: str = ""
                 ) -> dict[str, Any]:
    return (await server.store.get(info(server, plural), namespace, name)).obj


async def replace(server: ApiServer, plural: str, obj: dict[str, Any]) -> None:
    await server.store.update(info(server, plural), obj["metadata"].get("namespace", ""),
                              obj["metadata"]["name"], obj)


async def rbac_objects(server: ApiServer) -> dict[str, str]:
    """Every RBAC object's key and resourceVersion."""
    await server.cache.wait_fresh()
    return {item.key: item.obj["metadata"]["resourceVersion"]
            for plural in ("clusterroles", "clusterrolebindings", "roles", "rolebindings")
            for item in server.cache.scan(info(server, plural).key_prefix)}


async def test_upstreams_policy_is_all_there(server: ApiServer) -> None:
    policy = bootstrappolicy.bootstrap_policy()
    objects = await rbac_objects(server)
    assert len(objects) == (len(policy.cluster_roles) + len(policy.cluster_role_bindings)
                            + len(policy.roles) + len(policy.role_bindings))
    for name in ("cluster-admin", "admin", "edit", "view", "system:discovery",
                 "system:basic-user", "system:public-info-viewer", "system:node-bootstrapper",
                 "system:kube-scheduler", "system:kube-controller-manager", "system:node",
                 "system:controller:clusterrole-aggregation-controller"):
        assert f"/registry/clusterroles/{name}" in objects, name
    view = await stored(server, "clusterroles", "view")
    assert view["aggregationRule"] == {"clusterRoleSelectors": [
        {"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}}]}
    admins = await stored(server, "clusterrolebindings", "cluster-admin")
    assert admins["subjects"] == [{"apiGroup": RBAC, "kind": "Group", "name": "system:masters"}]
    public = await stored(server, "clusterroles", "system:public-info-viewer")
    assert public["rules"] == [{"nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version",
                                                    "/version/"], "verbs": ["get"]}]
    lock = await stored(server, "rolebindings", "system::leader-locking-kube-scheduler",
                        "kube-system")
    assert lock["roleRef"]["name"] == "system::leader-locking-kube-scheduler"


async def test_a_second_reconcile_writes_nothing(server: ApiServer) -> None:
    before = await rbac_objects(server)
    revision = await server.storage.current_revision()
    await bootstrappolicy.reconcile(server)
    assert await server.storage.current_revision() == revision
    assert await rbac_objects(server) == before


async def test_what_is_missing_comes_back_and_additions_stay(server: ApiServer) -> None:
    discovery = await stored(server, "clusterroles", "system:discovery")
    discovery["rules"] = [{"nonResourceURLs": ["/version", "/custom"], "verbs": ["get"]}]
    discovery["metadata"]["labels"] = {"team": "x"}
    discovery["metadata"]["annotations"][AUTOUPDATE_ANNOTATION] = "true"
    await replace(server, "clusterroles", discovery)
    viewers = await stored(server, "clusterrolebindings", "system:public-info-viewer")
    extra = {"apiGroup": RBAC, "kind": "Group", "name": "auditors"}
    viewers["subjects"] = [viewers["subjects"][0], extra]
    await replace(server, "clusterrolebindings", viewers)

    await bootstrappolicy.reconcile(server)

    expected = next(r for r in bootstrappolicy.bootstrap_policy().cluster_roles
                    if r["metadata"]["name"] == "system:discovery")
    discovery = await stored(server, "clusterroles", "system:discovery")
    assert covers(rules_of(discovery), rules_of(expected))[0]
    assert {"nonResourceURLs": ["/version", "/custom"], "verbs": ["get"]} in discovery["rules"]
    assert discovery["metadata"]["labels"] == {"team": "x",
                                               "kubernetes.io/bootstrapping": "rbac-defaults"}
    viewers = await stored(server, "clusterrolebindings", "system:public-info-viewer")
    assert [s["name"] for s in viewers["subjects"]] == [
        "system:authenticated", "auditors", "system:unauthenticated"]


async def test_autoupdate_false_is_left_alone(server: ApiServer) -> None:
    discovery = await stored(server, "clusterroles", "system:discovery")
    discovery["rules"] = [{"nonResourceURLs": ["/version"], "verbs": ["get"]}]
    discovery["metadata"]["annotations"][AUTOUPDATE_ANNOTATION] = "false"
    await replace(server, "clusterroles", discovery)
    users = await stored(server, "clusterrolebindings", "system:basic-user")
    users["subjects"] = []
    users["metadata"]["annotations"][AUTOUPDATE_ANNOTATION] = "false"
    await replace(server, "clusterrolebindings", users)
    before = await rbac_objects(server)

    await bootstrappolicy.reconcile(server)

    assert await rbac_objects(server) == before
    assert (await stored(server, "clusterroles", "system:discovery"))["rules"] == [
        {"nonResourceURLs": ["/version"], "verbs": ["get"]}]


async def test_a_binding_whose_role_ref_changed_is_recreated(server: ApiServer) -> None:
    bindings = info(server, "clusterrolebindings")
    old = await stored(server, "clusterrolebindings", "system:discovery")
    await server.store.delete(bindings, "", "system:discovery", DeleteOptions())
    await server.store.create(bindings, "", {
        "apiVersion": f"{RBAC}/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "system:discovery"},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "system:basic-user"},
        "subjects": [{"apiGroup": RBAC, "kind": "Group", "name": "someone"}]})

    await bootstrappolicy.reconcile(server)

    new = await stored(server, "clusterrolebindings", "system:discovery")
    assert new["roleRef"] == old["roleRef"]
    assert new["subjects"] == old["subjects"]


async def test_aggregation_rules_are_reconciled(server: ApiServer) -> None:
    admin = await stored(server, "clusterroles", "admin")
    mine = {"matchLabels": {"example.com/aggregate-to-admin": "true"}}
    admin["aggregationRule"] = {"clusterRoleSelectors": [mine]}
    await replace(server, "clusterroles", admin)
    discovery = await stored(server, "clusterroles", "system:discovery")
    discovery["aggregationRule"] = {"clusterRoleSelectors": [mine]}
    await replace(server, "clusterroles", discovery)

    await bootstrappolicy.reconcile(server)

    admin = await stored(server, "clusterroles", "admin")
    assert admin["aggregationRule"]["clusterRoleSelectors"] == [
        mine, {"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-admin": "true"}}]
    assert "aggregationRule" not in await stored(server, "clusterroles", "system:discovery")
