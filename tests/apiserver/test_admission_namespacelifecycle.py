"""NamespaceLifecycle: nothing is created in a missing or terminating namespace, and the
system namespaces cannot be deleted; other namespaces can, and their objects too."""

from __future__ import annotations

import httpx
import pytest
from tests.apiserver.test_admission_setup import http, namespace, ok, refused, server

__all__ = ["http", "server"]

CONFIGMAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}}


async def test_create_in_a_missing_namespace_is_not_found(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/v1/namespaces/nowhere/configmaps", json=CONFIGMAP)
    assert refused(response, 404) == 'namespaces "nowhere" not found'


async def test_create_in_a_terminating_namespace_is_refused_with_its_cause(
        http: httpx.AsyncClient) -> None:
    await namespace(http, "going", account=False)
    ok(await http.post("/api/v1/namespaces/going/configmaps", json=CONFIGMAP))
    ok(await http.delete("/api/v1/namespaces/going"))
    response = await http.post("/api/v1/namespaces/going/configmaps",
                               json={**CONFIGMAP, "metadata": {"name": "late"}})
    assert refused(response) == ("unable to create new content in namespace going because "
                                 "it is being terminated")
    assert response.json()["details"]["causes"] == [
        {"reason": "NamespaceTerminating", "message": "namespace going is being terminated",
         "field": "metadata.namespace"}]
    # Updates and deletes of what is there still go through while it terminates.
    cm = ok(await http.get("/api/v1/namespaces/going/configmaps/cm"))
    ok(await http.put("/api/v1/namespaces/going/configmaps/cm", json={**cm, "data": {"k": "v"}}))
    ok(await http.delete("/api/v1/namespaces/going/configmaps/cm"))


@pytest.mark.parametrize("name", ["default", "kube-system", "kube-public", "kube-node-lease"])
async def test_system_namespaces_cannot_be_deleted(http: httpx.AsyncClient, name: str) -> None:
    response = await http.delete(f"/api/v1/namespaces/{name}")
    assert refused(response) == f'namespaces "{name}" is forbidden: this namespace may not ' \
                                "be deleted"
    assert ok(await http.get(f"/api/v1/namespaces/{name}"))["status"]["phase"] == "Active"


async def test_other_namespaces_can_be_deleted(http: httpx.AsyncClient) -> None:
    await namespace(http, "mortal", account=False)
    deleted = ok(await http.delete("/api/v1/namespaces/mortal"))
    assert deleted["status"]["phase"] == "Terminating"
