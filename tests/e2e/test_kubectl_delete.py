"""`kubectl delete`: by name, by label, `--all`, by file, and with `--cascade` policies.

kubectl waits for each deletion (`--wait` is the default) by watching the object until a
DELETED event, so these also prove that watch ends deletions properly. Foreground cascading
is proven with the garbage collector in test_controllers.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.cluster import Kubectl, make_namespace

pytestmark = pytest.mark.e2e
# These tests expect namespaces to hold only what they made: no root CA publisher.
SERVER_ARGS = ["--controllers", "*,-root-ca-certificate-publisher-controller"]

APP = ["configmap/web-config", "deployment.apps/web", "secret/web-secret", "service/web"]


@pytest.fixture
def ns(ns: str, kubectl: Kubectl, manifests: Path) -> str:
    """The test's own namespace (conftest), with the app applied in it."""
    kubectl("apply", "-n", ns, "-f", str(manifests / "app.yaml"))
    return ns


def _names(kubectl: Kubectl, ns: str, kinds: str = "deployments,services,configmaps,secrets"
           ) -> list[str]:
    return sorted(kubectl("get", "-n", ns, kinds, "-o", "name").split())


def _absent(kubectl: Kubectl, ns: str, *what: str) -> bool:
    result = kubectl.run("get", "-n", ns, *what, check=False)
    return result.returncode == 1 and "(NotFound)" in result.stderr


def _owned_replicaset(kubectl: Kubectl, ns: str) -> dict[str, Any]:
    """A ReplicaSet owned by the Deployment `web`, as the deployment controller makes."""
    uid = kubectl("get", "-n", ns, "deployment", "web", "-o", "jsonpath={.metadata.uid}")
    replicaset = {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "web-5d8f9c", "labels": {"app": "web"}, "ownerReferences": [{
            "apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": uid,
            "controller": True, "blockOwnerDeletion": True}]},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}}}
    kubectl("create", "-n", ns, "-f", "-", input=json.dumps(replicaset))
    return replicaset


def test_delete_by_name(kubectl: Kubectl, ns: str) -> None:
    output = kubectl("delete", "-n", ns, "configmap", "web-config")
    assert output.strip() == f'configmap "web-config" deleted from {ns} namespace'
    assert _absent(kubectl, ns, "configmap", "web-config")
    assert _names(kubectl, ns) == [n for n in APP if n != "configmap/web-config"]


def test_delete_several_names_and_kinds(kubectl: Kubectl, ns: str) -> None:
    kubectl("delete", "-n", ns, "service/web", "secret/web-secret")
    assert _names(kubectl, ns) == ["configmap/web-config", "deployment.apps/web"]


def test_delete_missing(kubectl: Kubectl, ns: str) -> None:
    result = kubectl.run("delete", "-n", ns, "configmap", "nosuch", check=False)
    assert result.returncode == 1
    assert 'configmaps "nosuch" not found' in result.stderr
    result = kubectl.run("delete", "-n", ns, "configmap", "nosuch", "--ignore-not-found",
                         check=False)
    assert result.returncode == 0


def test_delete_by_label(kubectl: Kubectl, ns: str) -> None:
    output = kubectl("delete", "-n", ns, "configmaps,secrets,services,deployments",
                     "-l", "tier=config")
    assert sorted(output.splitlines()) == [
        f'configmap "web-config" deleted from {ns} namespace',
        f'secret "web-secret" deleted from {ns} namespace']
    assert _names(kubectl, ns) == ["deployment.apps/web", "service/web"]


def test_delete_by_set_based_label(kubectl: Kubectl, ns: str) -> None:
    kubectl("delete", "-n", ns, "configmaps,secrets,services,deployments",
            "-l", "tier in (frontend),app")
    assert _names(kubectl, ns) == ["configmap/web-config", "secret/web-secret"]


def test_delete_all(kubectl: Kubectl, api: httpx.Client, ns: str, manifests: Path) -> None:
    other = make_namespace(api, f"{ns}-other")
    kubectl("apply", "-n", other, "-f", str(manifests / "app.yaml"))
    output = kubectl("delete", "-n", ns, "configmaps", "--all")
    assert f'configmap "web-config" deleted from {ns} namespace' in output
    assert _names(kubectl, ns, "configmaps") == []
    assert _names(kubectl, ns) == [n for n in APP if n != "configmap/web-config"]
    # Another namespace is untouched.
    assert _names(kubectl, other) == APP


def test_delete_by_file(kubectl: Kubectl, ns: str, manifests: Path) -> None:
    output = kubectl("delete", "-n", ns, "-f", str(manifests / "app.yaml"))
    assert len(output.splitlines()) == 4
    assert _names(kubectl, ns) == []


def test_delete_a_pod_not_on_a_node(kubectl: Kubectl, ns: str) -> None:
    """An unscheduled pod has nothing to stop: it goes at once, as upstream."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "lonely"},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(pod))
    assert kubectl("delete", "-n", ns, "pod", "lonely").strip() == \
        f'pod "lonely" deleted from {ns} namespace'
    assert _absent(kubectl, ns, "pod", "lonely")


def test_delete_collection_over_http(api: httpx.Client, kubectl: Kubectl, ns: str) -> None:
    path = f"/api/v1/namespaces/{ns}/configmaps"
    for name in ("a", "b", "c"):
        response = api.post(path, json={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
            "name": name, "labels": {"batch": "x" if name != "c" else "y"}}})
        assert response.status_code == 201, response.text
    response = api.delete(path, params={"labelSelector": "batch=x"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["kind"] == "ConfigMapList"
    assert sorted(i["metadata"]["name"] for i in body["items"]) == ["a", "b"]
    assert _names(kubectl, ns, "configmaps") == ["configmap/c", "configmap/web-config"]


def test_delete_cascade_background(kubectl: Kubectl, ns: str) -> None:
    _owned_replicaset(kubectl, ns)
    output = kubectl("delete", "-n", ns, "deployment", "web", "--cascade=background")
    assert output.strip() == f'deployment.apps "web" deleted from {ns} namespace'
    assert _absent(kubectl, ns, "deployment", "web")


def test_delete_cascade_orphan(kubectl: Kubectl, ns: str) -> None:
    _owned_replicaset(kubectl, ns)
    result = kubectl.run("delete", "-n", ns, "deployment", "web", "--cascade=orphan",
                         "--timeout=10s", check=False)
    assert result.returncode == 0, result.stderr
    assert _absent(kubectl, ns, "deployment", "web")
    # The dependent stays.
    assert kubectl("get", "-n", ns, "replicaset", "web-5d8f9c", "-o", "name").strip() == \
        "replicaset.apps/web-5d8f9c"


def test_delete_with_a_finalizer_waits_for_it(kubectl: Kubectl, ns: str) -> None:
    """A finalizer holds the object (deletionTimestamp set) until it is removed."""
    kubectl("patch", "-n", ns, "configmap", "web-config", "--type=merge",
            "-p", '{"metadata": {"finalizers": ["example.com/hold"]}}')
    result = kubectl.run("delete", "-n", ns, "configmap", "web-config", "--wait=false")
    assert "deleted" in result.stdout
    held = kubectl.json("get", "-n", ns, "configmap", "web-config")
    assert held["metadata"]["deletionTimestamp"]
    assert held["metadata"]["finalizers"] == ["example.com/hold"]
    kubectl("patch", "-n", ns, "configmap", "web-config", "--type=json",
            "-p", '[{"op": "remove", "path": "/metadata/finalizers"}]')
    assert _absent(kubectl, ns, "configmap", "web-config")
