"""Admission with the real kubectl against `kyb server --disable-agent`: PodSecurity refuses
and warns from namespace labels, a ResourceQuota refuses the pod over quota while its
controller keeps `status.used` right, a LimitRange defaults requests, and new pods get their
service account (the controller's `default`, waited for) and its token volume."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.cluster import Kubectl, wait_until

pytestmark = pytest.mark.e2e
ANY_BACKEND = True  # admission plugins, whatever the storage (conftest.py)

LABEL = "pod-security.kubernetes.io/"


def run_pod(kubectl: Kubectl, ns: str, name: str, *args: str) -> tuple[int, str]:
    """`kubectl run` a busybox pod; (exit code, stderr)."""
    result = kubectl.run("run", name, "-n", ns, "--image=busybox", "--restart=Never", *args,
                         check=False)
    return result.returncode, result.stderr


def test_pod_security_enforce_and_warn(kubectl: Kubectl, ns: str) -> None:
    kubectl("label", "namespace", ns, f"{LABEL}enforce=restricted")
    code, stderr = run_pod(kubectl, ns, "priv", "--privileged")
    assert code == 1
    assert stderr.strip() == (
        'Error from server (Forbidden): pods "priv" is forbidden: violates PodSecurity '
        '"restricted:latest": privileged (container "priv" must not set '
        "securityContext.privileged=true), allowPrivilegeEscalation != false (container "
        '"priv" must set securityContext.allowPrivilegeEscalation=false), unrestricted '
        'capabilities (container "priv" must set securityContext.capabilities.drop=["ALL"]), '
        'runAsNonRoot != true (pod or container "priv" must set '
        "securityContext.runAsNonRoot=true), seccompProfile (pod or container \"priv\" must "
        'set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")')
    kubectl("label", "namespace", ns, "--overwrite", f"{LABEL}enforce=privileged",
            f"{LABEL}warn=baseline")
    code, stderr = run_pod(kubectl, ns, "priv", "--privileged")
    assert code == 0, stderr
    assert stderr.strip() == ('Warning: would violate PodSecurity "baseline:latest": '
                              'privileged (container "priv" must not set '
                              "securityContext.privileged=true)")
    # Tightening enforce warns about the pod already there.
    result = kubectl.run("label", "namespace", ns, "--overwrite", f"{LABEL}enforce=baseline")
    assert result.stderr.splitlines() == [
        f'Warning: existing pods in namespace "{ns}" violate the new PodSecurity enforce '
        'level "baseline:latest"',
        "Warning: priv: privileged"]


def quota(kubectl: Kubectl, ns: str) -> dict[str, Any]:
    found: dict[str, Any] = kubectl.json("get", "resourcequota", "q", "-n", ns)
    return found


def test_resource_quota_refuses_over_quota_and_tracks_usage(kubectl: Kubectl, ns: str) -> None:
    kubectl("create", "quota", "q", "-n", ns, "--hard=pods=2,count/configmaps=5")
    # The controller records the limits and the usage before anything is charged.
    wait_until(lambda: (quota(kubectl, ns).get("status") or {}).get("used"),
               "the quota controller to record usage")
    assert quota(kubectl, ns)["status"]["used"]["pods"] == "0"
    for name in ("a", "b"):
        code, stderr = run_pod(kubectl, ns, name)
        assert code == 0, stderr
    code, stderr = run_pod(kubectl, ns, "c")
    assert code == 1
    assert stderr.strip() == ('Error from server (Forbidden): pods "c" is forbidden: exceeded '
                              "quota: q, requested: pods=1, used: pods=2, limited: pods=2")
    # The namespace's kube-root-ca.crt ConfigMap counts too.
    configmaps = len(kubectl.json("get", "configmaps", "-n", ns)["items"])
    assert quota(kubectl, ns)["status"] == {
        "hard": {"pods": "2", "count/configmaps": "5"},
        "used": {"pods": "2", "count/configmaps": str(configmaps)}}
    # Deleting a pod gives its share back (the controller replenishes the quota).
    kubectl("delete", "pod", "a", "-n", ns, "--wait=false")
    wait_until(lambda: quota(kubectl, ns)["status"]["used"]["pods"] == "1",
               "the quota to be replenished")
    code, stderr = run_pod(kubectl, ns, "c")
    assert code == 0, stderr


def test_limit_range_defaults_requests(kubectl: Kubectl, ns: str) -> None:
    kubectl("apply", "-n", ns, "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "defaults"},
        "spec": {"limits": [{"type": "Container", "defaultRequest": {"cpu": "100m"},
                             "default": {"cpu": "200m", "memory": "64Mi"}}]}}))
    code, stderr = run_pod(kubectl, ns, "sized")
    assert code == 0, stderr
    pod = kubectl.json("get", "pod", "sized", "-n", ns)
    assert pod["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": "100m", "memory": "64Mi"},
        "limits": {"cpu": "200m", "memory": "64Mi"}}
    assert pod["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == (
        "LimitRanger plugin set: cpu, memory request for container sized; cpu, memory limit "
        "for container sized")
    assert pod["status"]["qosClass"] == "Burstable"


def test_new_pods_get_the_default_service_account(kubectl: Kubectl, ns: str) -> None:
    """A pod sent right after its namespace is made waits for the `default` account the
    service-account controller creates."""
    fresh = f"{ns}-fresh"
    kubectl("create", "namespace", fresh)
    code, stderr = run_pod(kubectl, fresh, "first")
    assert code == 0, stderr
    spec = kubectl.json("get", "pod", "first", "-n", fresh)["spec"]
    assert spec["serviceAccountName"] == "default"
    volume = spec["volumes"][0]
    assert volume["name"].startswith("kube-api-access-")
    assert spec["containers"][0]["volumeMounts"] == [{
        "name": volume["name"], "readOnly": True,
        "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]
