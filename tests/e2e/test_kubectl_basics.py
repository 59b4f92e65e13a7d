"""kubectl's first contact with the server: version, discovery, OpenAPI, creating a namespace."""

from __future__ import annotations

import json

import pytest

from tests.e2e.cluster import Kubectl

pytestmark = pytest.mark.e2e
ANY_BACKEND = True  # discovery and OpenAPI, whatever the storage (conftest.py)


def test_version_reports_a_1_35_server(kubectl: Kubectl) -> None:
    result = kubectl.run("version", "-o", "json")
    info = json.loads(result.stdout)
    server = info["serverVersion"]
    assert (server["major"], server["minor"]) == ("1", "35")
    assert server["gitVersion"].startswith("v1.35.")
    assert server["platform"].startswith("linux/")
    # kubectl warns when client and server are more than one minor version apart.
    assert "version difference" not in result.stderr


def _api_resources(kubectl: Kubectl, *args: str) -> dict[str, list[str]]:
    """`kubectl api-resources` rows by NAME.APIGROUP, as their whitespace-split fields."""
    rows: dict[str, list[str]] = {}
    for line in kubectl("api-resources", "--no-headers", *args).splitlines():
        fields = line.split()
        api_version = next(f for f in fields if "/" in f or f == "v1")
        group = api_version.rpartition("/")[0]
        rows[f"{fields[0]}.{group}" if group else fields[0]] = fields
    return rows


def test_api_resources_lists_every_registered_group(kubectl: Kubectl) -> None:
    rows = _api_resources(kubectl)
    required = [
        "namespaces", "pods", "services", "endpoints", "configmaps", "secrets",
        "serviceaccounts", "nodes", "events", "persistentvolumes", "persistentvolumeclaims",
        "limitranges", "resourcequotas", "deployments.apps", "replicasets.apps",
        "statefulsets.apps", "daemonsets.apps", "jobs.batch", "cronjobs.batch",
        "horizontalpodautoscalers.autoscaling", "ingresses.networking.k8s.io",
        "networkpolicies.networking.k8s.io", "roles.rbac.authorization.k8s.io",
        "clusterrolebindings.rbac.authorization.k8s.io", "leases.coordination.k8s.io",
        "endpointslices.discovery.k8s.io", "storageclasses.storage.k8s.io",
        "poddisruptionbudgets.policy", "priorityclasses.scheduling.k8s.io",
    ]
    missing = [name for name in required if name not in rows]
    assert not missing, missing
    # NAME SHORTNAMES APIVERSION NAMESPACED KIND, as upstream prints them.
    assert rows["deployments.apps"] == ["deployments", "deploy", "apps/v1", "true", "Deployment"]
    assert rows["namespaces"] == ["namespaces", "ns", "v1", "false", "Namespace"]
    assert rows["services"] == ["services", "svc", "v1", "true", "Service"]
    assert rows["horizontalpodautoscalers.autoscaling"][1:] == [
        "hpa", "autoscaling/v2", "true", "HorizontalPodAutoscaler"]


def test_api_resources_filters_by_verb_and_scope(kubectl: Kubectl) -> None:
    cluster_scoped = _api_resources(kubectl, "--namespaced=false")
    assert "nodes" in cluster_scoped
    assert "namespaces" in cluster_scoped
    assert "pods" not in cluster_scoped
    wide = kubectl("api-resources", "--api-group=apps", "-o", "wide")
    deployments = next(line for line in wide.splitlines() if line.startswith("deployments "))
    for verb in ("create", "delete", "deletecollection", "get", "list", "patch", "update",
                 "watch"):
        assert verb in deployments, deployments


def test_api_versions(kubectl: Kubectl) -> None:
    versions = set(kubectl("api-versions").split())
    assert {"v1", "apps/v1", "batch/v1", "autoscaling/v2", "networking.k8s.io/v1",
            "rbac.authorization.k8s.io/v1", "coordination.k8s.io/v1", "discovery.k8s.io/v1",
            "storage.k8s.io/v1", "policy/v1", "scheduling.k8s.io/v1"} <= versions


def test_explain_deployment_spec(kubectl: Kubectl) -> None:
    text = kubectl("explain", "deployment.spec")
    assert "KIND:       Deployment" in text
    assert "VERSION:    v1" in text
    assert "FIELD: spec <DeploymentSpec>" in text
    fields = {line.split()[0]: line for line in text.splitlines()
              if line.startswith("  ") and not line.startswith("    ") and line.strip()}
    assert {"replicas", "selector", "template", "strategy", "minReadySeconds",
            "revisionHistoryLimit", "paused", "progressDeadlineSeconds"} <= set(fields)
    assert "<integer>" in fields["replicas"]
    assert "-required-" in fields["selector"]
    assert "-required-" in fields["template"]


def test_explain_a_nested_field(kubectl: Kubectl) -> None:
    text = kubectl("explain", "pods.spec.containers.image")
    assert "FIELD: image <string>" in text
    assert "Container image name" in text


def test_explain_shows_upstream_descriptions(kubectl: Kubectl) -> None:
    """kubectl 1.35 explains from /openapi/v3: the kind's, each field's and a leaf's
    descriptions are upstream's."""
    leaf = kubectl("explain", "deployment.spec.replicas")
    assert "FIELD: replicas <integer>" in leaf
    described = " ".join(leaf.split("DESCRIPTION:", 1)[1].split())
    assert described.startswith("Number of desired pods. This is a pointer to distinguish "
                                "between explicit zero and not specified. Defaults to 1.")
    kind = " ".join(kubectl("explain", "deployment").split())
    assert "DESCRIPTION: Deployment enables declarative updates for Pods and ReplicaSets." \
        in kind
    assert "spec <DeploymentSpec> Specification of the desired behavior of the Deployment." \
        in kind
    through_a_ref = " ".join(kubectl("explain", "deployment.spec.template.spec").split())
    assert "PodSpec is a description of a pod." in through_a_ref


def test_explain_an_unknown_field_fails(kubectl: Kubectl) -> None:
    result = kubectl.run("explain", "deployment.spec.nosuchfield", check=False)
    assert result.returncode != 0
    assert "nosuchfield" in result.stderr


def test_create_namespace(kubectl: Kubectl) -> None:
    """kubectl's typed `create` commands send protobuf (application/vnd.kubernetes.protobuf)."""
    assert kubectl("create", "namespace", "made-by-kubectl").strip() == \
        "namespace/made-by-kubectl created"
    namespace = kubectl.json("get", "namespace", "made-by-kubectl")
    assert namespace["status"]["phase"] == "Active"
    assert namespace["metadata"]["labels"]["kubernetes.io/metadata.name"] == "made-by-kubectl"


def test_create_configmap_from_literals(kubectl: Kubectl) -> None:
    assert kubectl("create", "configmap", "literal", "--from-literal=a=1",
                   "--from-literal=b=two").strip() == "configmap/literal created"
    assert kubectl.json("get", "configmap", "literal")["data"] == {"a": "1", "b": "two"}


def test_create_deployment_and_secret(kubectl: Kubectl) -> None:
    assert kubectl("create", "deployment", "made", "--image=nginx:1.27", "--replicas=2",
                   "--port=80").strip() == "deployment.apps/made created"
    deployment = kubectl.json("get", "deployment", "made")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["selector"] == {"matchLabels": {"app": "made"}}
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert (container["name"], container["image"]) == ("nginx", "nginx:1.27")
    assert container["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert kubectl("create", "secret", "generic", "made", "--from-literal=k=v").strip() == \
        "secret/made created"
    assert kubectl.json("get", "secret", "made")["data"] == {"k": "dg=="}


def test_default_namespaces_exist(kubectl: Kubectl) -> None:
    names = kubectl("get", "namespaces", "-o", "name").split()
    assert {"namespace/default", "namespace/kube-system", "namespace/kube-public",
            "namespace/kube-node-lease"} <= set(names)
