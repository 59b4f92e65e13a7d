"""The `pods/ephemeralcontainers` subresource (what `kubectl debug` patches), against a real
API server in this process: only spec.ephemeralContainers changes through it, ephemeral
containers are added but never removed or changed, their fields are restricted, and
PodSecurity admits them as it does pods."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from tests.apiserver.inprocess import controller_apiserver, controller_http, ok

__all__ = ["controller_apiserver", "controller_http"]  # the fixtures apiserver, http

NS = "default"
PODS = f"/api/v1/namespaces/{NS}/pods"
SMP = {"content-type": "application/strategic-merge-patch+json"}


async def make_pod(http: httpx.AsyncClient, name: str = "web", namespace: str = NS
                   ) -> dict[str, Any]:
    return ok(await http.post(f"/api/v1/namespaces/{namespace}/pods", json={
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"a": "b"}},
        "spec": {"nodeName": "n1", "containers": [{"name": "app", "image": "busybox"}]}}))


def debugger(name: str = "debugger", **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": "busybox:1.36", "targetContainerName": "app",
            "command": ["sh"], "stdin": True, "tty": True, **fields}


async def add(http: httpx.AsyncClient, pod: str, *containers: dict[str, Any]
              ) -> httpx.Response:
    """As kubectl debug: a strategic merge patch of the subresource."""
    body = {"spec": {"ephemeralContainers": list(containers)}}
    return await http.patch(f"{PODS}/{pod}/ephemeralcontainers", content=json.dumps(body),
                            headers=SMP)


def causes(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 422, response.text
    found: list[dict[str, Any]] = response.json()["details"]["causes"]
    return found


async def test_patch_adds_an_ephemeral_container_and_returns_the_pod(
        http: httpx.AsyncClient) -> None:
    created = await make_pod(http)
    pod = ok(await add(http, "web", debugger()))
    assert pod["kind"] == "Pod"
    [added] = pod["spec"]["ephemeralContainers"]
    assert added["name"] == "debugger" and added["targetContainerName"] == "app"
    # Defaulted as any container of a pod.
    assert added["terminationMessagePolicy"] == "File"
    assert added["imagePullPolicy"] == "IfNotPresent"
    assert pod["metadata"]["generation"] == created["metadata"]["generation"] + 1
    got = ok(await http.get(f"{PODS}/web/ephemeralcontainers"))
    assert got["spec"]["ephemeralContainers"] == pod["spec"]["ephemeralContainers"]
    # The strategic merge patch merges by name: a second one adds to the first.
    pod = ok(await add(http, "web", debugger("second", targetContainerName=None)))
    assert {c["name"] for c in pod["spec"]["ephemeralContainers"]} == {"debugger", "second"}


async def test_update_changes_nothing_but_ephemeral_containers(
        http: httpx.AsyncClient) -> None:
    pod = await make_pod(http)
    pod["metadata"]["labels"] = {"changed": "yes"}
    pod["spec"]["containers"][0]["image"] = "nginx"
    pod["spec"]["activeDeadlineSeconds"] = 5
    pod["spec"]["ephemeralContainers"] = [debugger()]
    updated = ok(await http.put(f"{PODS}/web/ephemeralcontainers", json=pod))
    assert updated["metadata"]["labels"] == {"a": "b"}
    assert updated["spec"]["containers"][0]["image"] == "busybox"
    assert "activeDeadlineSeconds" not in updated["spec"]
    assert [c["name"] for c in updated["spec"]["ephemeralContainers"]] == ["debugger"]


async def test_the_main_endpoint_cannot_add_them(http: httpx.AsyncClient) -> None:
    await make_pod(http)
    response = await http.patch(f"{PODS}/web", content=json.dumps(
        {"spec": {"ephemeralContainers": [debugger()]}}), headers=SMP)
    assert causes(response)[0]["field"] == "spec"
    created = await http.post(PODS, json={
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "new"},
        "spec": {"containers": [{"name": "app", "image": "busybox"}],
                 "ephemeralContainers": [debugger()]}})
    assert causes(created)[0]["field"] == "spec.ephemeralContainers"


async def test_existing_ones_are_never_removed_or_changed(http: httpx.AsyncClient) -> None:
    await make_pod(http)
    pod = ok(await add(http, "web", debugger()))
    removed = dict(pod, spec=dict(pod["spec"], ephemeralContainers=[]))
    [cause] = causes(await http.put(f"{PODS}/web/ephemeralcontainers", json=removed))
    assert cause["field"] == "spec.ephemeralContainers"
    assert 'existing ephemeral containers "debugger" may not be removed' in cause["message"]
    changed = ok(await http.get(f"{PODS}/web"))
    changed["spec"]["ephemeralContainers"][0]["image"] = "alpine"
    [cause] = causes(await http.put(f"{PODS}/web/ephemeralcontainers", json=changed))
    assert cause["field"] == "spec.ephemeralContainers[debugger]"
    assert cause["reason"] == "FieldValueForbidden"
    assert "may not be changed" in cause["message"]


@pytest.mark.parametrize(("fields", "field"), [
    ({"ports": [{"containerPort": 80}]}, "spec.ephemeralContainers[0].ports"),
    ({"readinessProbe": {"exec": {"command": ["true"]}}},
     "spec.ephemeralContainers[0].readinessProbe"),
    ({"resources": {"limits": {"cpu": "1"}}}, "spec.ephemeralContainers[0].resources"),
    ({"lifecycle": {"preStop": {"exec": {"command": ["true"]}}}},
     "spec.ephemeralContainers[0].lifecycle"),
    ({"targetContainerName": "nope"}, "spec.ephemeralContainers[0].targetContainerName"),
    ({"name": "app"}, "spec.ephemeralContainers[0].name"),
    ({"volumeMounts": [{"name": "v", "mountPath": "/v", "subPath": "x"}]},
     "spec.ephemeralContainers[0].volumeMounts[0].subPath"),
])
async def test_restricted_fields(http: httpx.AsyncClient, fields: dict[str, Any],
                                 field: str) -> None:
    await make_pod(http)
    response = await add(http, "web", debugger(**fields))
    assert field in [c["field"] for c in causes(response)]
    assert "ephemeralContainers" not in ok(await http.get(f"{PODS}/web"))["spec"]


async def test_pod_security_admits_them(http: httpx.AsyncClient) -> None:
    ok(await http.post("/api/v1/namespaces", json={
        "apiVersion": "v1", "kind": "Namespace", "metadata": {
            "name": "secure", "labels": {"pod-security.kubernetes.io/enforce": "baseline"}}}))
    await make_pod(http, namespace="secure")
    path = "/api/v1/namespaces/secure/pods/web/ephemeralcontainers"
    body = {"spec": {"ephemeralContainers": [
        debugger(securityContext={"privileged": True})]}}
    refused = await http.patch(path, content=json.dumps(body), headers=SMP)
    assert refused.status_code == 403, refused.text
    assert 'violates PodSecurity "baseline:latest"' in refused.json()["message"]
    body = {"spec": {"ephemeralContainers": [debugger()]}}
    ok(await http.patch(path, content=json.dumps(body), headers=SMP))


async def test_a_different_uid_is_refused(http: httpx.AsyncClient) -> None:
    pod = await make_pod(http)
    pod["metadata"]["uid"] = "00000000-0000-0000-0000-000000000000"
    pod["spec"]["ephemeralContainers"] = [debugger()]
    response = await http.put(f"{PODS}/web/ephemeralcontainers", json=pod)
    assert "metadata.uid" in [c["field"] for c in causes(response)]
