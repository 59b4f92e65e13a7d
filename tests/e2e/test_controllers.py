"""The controllers inside `kyb server`, seen through the real kubectl 1.35.

`kubectl delete deployment` with each `--cascade` policy, on a Deployment whose
ReplicaSet and Pods name it (and each other) in `ownerReferences` — made by the
deployment and replica-set controllers — and
`kubectl delete namespace` on a namespace full of objects; the `default` ServiceAccount
appearing in a new namespace. kubectl waits for each deletion itself (`--wait` is the
default), so foreground and orphan deletions are complete when it returns; background
deletion of the dependents happens after, and is polled for with a bound.
"""

from __future__ import annotations

import time

import httpx
import pytest

from tests.e2e.cluster import Kubectl, make_namespace, wait_until

pytestmark = pytest.mark.e2e
ANY_BACKEND = True  # controllers' logic, whatever the storage (conftest.py)

# Bounds on waiting for the controllers: guards against hangs, not performance claims.
WAIT = 60.0


def names(kubectl: Kubectl, ns: str, kinds: str) -> list[str]:
    return sorted(kubectl("get", "-n", ns, kinds, "-o", "name").split())


def deployment_family(kubectl: Kubectl, ns: str, name: str = "web", pods: int = 2
                      ) -> tuple[str, list[str]]:
    """A Deployment and the ReplicaSet and Pods its controllers made for it (linked by
    ownerReferences); returns the ReplicaSet's name and the Pods' names."""
    kubectl("create", "deployment", name, "-n", ns, "--image=busybox", f"--replicas={pods}")
    wait_until(lambda: len(names(kubectl, ns, "replicasets")) == 1
               and len(names(kubectl, ns, "pods")) == pods, "the ReplicaSet and its Pods")
    replicaset = names(kubectl, ns, "replicasets")[0].split("/", 1)[1]
    return replicaset, [n.split("/", 1)[1] for n in names(kubectl, ns, "pods")]


def test_default_service_account_in_a_new_namespace(kubectl: Kubectl, ns: str) -> None:
    wait_until(lambda: kubectl.run("get", "-n", ns, "serviceaccount", "default",
                                   check=False).returncode == 0,
               f"serviceaccount default in {ns}")
    account = kubectl.json("get", "-n", ns, "serviceaccount", "default")
    assert account["metadata"]["namespace"] == ns


def test_deleted_default_service_account_comes_back(kubectl: Kubectl, ns: str) -> None:
    wait_until(lambda: kubectl.run("get", "-n", ns, "sa", "default",
                                   check=False).returncode == 0, "the first account")
    first = kubectl("get", "-n", ns, "sa", "default", "-o", "jsonpath={.metadata.uid}")
    kubectl("delete", "-n", ns, "sa", "default")

    def recreated() -> bool:
        result = kubectl.run("get", "-n", ns, "sa", "default", "-o",
                             "jsonpath={.metadata.uid}", check=False)
        return result.returncode == 0 and result.stdout not in ("", first)

    wait_until(recreated, "a new default account")


def test_delete_deployment_background_removes_its_dependents(kubectl: Kubectl,
                                                             ns: str) -> None:
    deployment_family(kubectl, ns)
    output = kubectl("delete", "-n", ns, "deployment", "web")
    assert output.strip() == f'deployment.apps "web" deleted from {ns} namespace'
    wait_until(lambda: names(kubectl, ns, "replicasets,pods") == [],
               "the ReplicaSet and Pods are collected")


def test_delete_deployment_foreground_waits_for_its_dependents(kubectl: Kubectl,
                                                               ns: str) -> None:
    deployment_family(kubectl, ns)
    output = kubectl("delete", "-n", ns, "deployment", "web", "--cascade=foreground",
                     "--timeout=60s")
    assert output.strip() == f'deployment.apps "web" deleted from {ns} namespace'
    # kubectl returned once the Deployment was gone, which foreground deletion allows only
    # after every blocking dependent (the ReplicaSet, and before it its Pods) is gone.
    assert names(kubectl, ns, "deployments,replicasets,pods") == []


def test_delete_deployment_orphan_keeps_its_dependents(kubectl: Kubectl, ns: str) -> None:
    rs_name, pod_names = deployment_family(kubectl, ns)
    kubectl("delete", "-n", ns, "deployment", "web", "--cascade=orphan", "--timeout=60s")
    assert names(kubectl, ns, "deployments") == []
    replicaset = kubectl.json("get", "-n", ns, "replicaset", rs_name)
    assert not replicaset["metadata"].get("ownerReferences")
    assert not replicaset["metadata"].get("finalizers")
    # Only the deleted owner's references go: the Pods still belong to the ReplicaSet.
    for pod in kubectl.json("get", "-n", ns, "pods")["items"]:
        assert [r["name"] for r in pod["metadata"]["ownerReferences"]] == [rs_name]
    # The orphans are left alone from now on.
    time.sleep(1.0)
    assert names(kubectl, ns, "replicasets,pods") == [
        *(f"pod/{p}" for p in pod_names), f"replicaset.apps/{rs_name}"]


def test_delete_replicaset_leaves_its_owner(kubectl: Kubectl, ns: str) -> None:
    """Deleting a dependent is not deleting its owner (which makes itself a new one)."""
    rs_name, pod_names = deployment_family(kubectl, ns)
    kubectl("delete", "-n", ns, "replicaset", rs_name)
    wait_until(lambda: not {f"pod/{p}" for p in pod_names} & set(names(kubectl, ns, "pods")),
               "the ReplicaSet's Pods are collected")
    assert names(kubectl, ns, "deployments") == ["deployment.apps/web"]


def test_delete_namespace_removes_everything_in_it(kubectl: Kubectl, api: httpx.Client,
                                                   ns: str) -> None:
    deployment_family(kubectl, ns)
    kubectl("create", "configmap", "settings", "-n", ns, "--from-literal=a=b")
    kubectl("create", "secret", "generic", "token", "-n", ns, "--from-literal=a=b")
    kubectl("create", "service", "clusterip", "web", "-n", ns, "--tcp=80:8080")
    kubectl("create", "role", "reader", "-n", ns, "--verb=get", "--resource=pods")
    # A dependent held by a finalizer keeps the namespace until it is released.
    kubectl("patch", "-n", ns, "configmap", "settings", "--type=merge",
            "-p", '{"metadata": {"finalizers": ["example.com/hold"]}}')
    deleting = kubectl.popen("delete", "namespace", ns, "--timeout=120s")
    try:
        wait_until(lambda: names(kubectl, ns, "deployments,replicasets,pods,services,"
                                 "secrets,roles") == [], "the content is deleted")
        phase = kubectl("get", "namespace", ns, "-o", "jsonpath={.status.phase}")
        assert phase == "Terminating"
        assert deleting.poll() is None
        kubectl("patch", "-n", ns, "configmap", "settings", "--type=json",
                "-p", '[{"op": "remove", "path": "/metadata/finalizers"}]')
        out, err = deleting.communicate(timeout=WAIT)
    finally:
        if deleting.poll() is None:
            deleting.kill()
    assert deleting.returncode == 0, err
    assert out.strip() == f'namespace "{ns}" deleted'
    result = kubectl.run("get", "namespace", ns, check=False)
    assert result.returncode == 1 and "NotFound" in result.stderr
    # Gone for good: the name can be used again, and starts empty (but for the root CA
    # publisher's kube-root-ca.crt, which every namespace gets).
    make_namespace(api, ns)
    assert [n for n in names(kubectl, ns, "deployments,replicasets,pods,configmaps")
            if n != "configmap/kube-root-ca.crt"] == []


def test_delete_empty_namespace(kubectl: Kubectl, api: httpx.Client) -> None:
    name = make_namespace(api, "controllers-empty")
    output = kubectl("delete", "namespace", name, "--timeout=60s")
    assert output.strip() == f'namespace "{name}" deleted'
    assert kubectl.run("get", "namespace", name, check=False).returncode == 1
