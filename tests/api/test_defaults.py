"""Tests for kybernetes.api.defaults, through each resource's strategy, against upstream's
SetDefaults_* behaviour."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from tests.builtin_strategy import strategy_for

from kybernetes.api.defaults.core import image_tag

Obj = dict[str, Any]


def _meta(name: str, namespace: str | None = "default") -> Obj:
    meta: Obj = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return meta


def _pod() -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": _meta("web"), "spec": {
        "containers": [{
            "name": "app", "image": "nginx:1.25",
            "ports": [{"containerPort": 80}],
            "resources": {"limits": {"cpu": "0.5", "memory": "128Mi"}},
            "livenessProbe": {"httpGet": {"port": 80}},
            "readinessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 5},
            "env": [{"name": "NS", "valueFrom": {"fieldRef": {"fieldPath":
                                                             "metadata.namespace"}}}],
        }],
        "volumes": [{"name": "cfg", "configMap": {"name": "cm"}},
                    {"name": "sec", "secret": {"secretName": "s"}},
                    {"name": "tmp"},
                    {"name": "host", "hostPath": {"path": "/x"}},
                    {"name": "tok", "projected": {"sources": [{"serviceAccountToken":
                                                               {"path": "token"}}]}}],
    }}


def _get(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = obj[int(part)] if isinstance(obj, list) else obj[part]
    return obj


POD_EXPECTATIONS = [
    ("spec.restartPolicy", "Always"),
    ("spec.dnsPolicy", "ClusterFirst"),
    ("spec.terminationGracePeriodSeconds", 30),
    ("spec.schedulerName", "default-scheduler"),
    ("spec.securityContext", {}),
    ("spec.enableServiceLinks", True),
    ("spec.containers.0.terminationMessagePath", "/dev/termination-log"),
    ("spec.containers.0.terminationMessagePolicy", "File"),
    ("spec.containers.0.imagePullPolicy", "IfNotPresent"),
    ("spec.containers.0.ports.0.protocol", "TCP"),
    ("spec.containers.0.resources.limits.cpu", "500m"),
    ("spec.containers.0.resources.requests", {"cpu": "500m", "memory": "128Mi"}),
    ("spec.containers.0.livenessProbe.timeoutSeconds", 1),
    ("spec.containers.0.livenessProbe.periodSeconds", 10),
    ("spec.containers.0.livenessProbe.successThreshold", 1),
    ("spec.containers.0.livenessProbe.failureThreshold", 3),
    ("spec.containers.0.livenessProbe.httpGet.scheme", "HTTP"),
    ("spec.containers.0.livenessProbe.httpGet.path", "/"),
    ("spec.containers.0.readinessProbe.periodSeconds", 5),
    ("spec.containers.0.env.0.valueFrom.fieldRef.apiVersion", "v1"),
    ("spec.volumes.0.configMap.defaultMode", 420),
    ("spec.volumes.1.secret.defaultMode", 420),
    ("spec.volumes.2.emptyDir", {}),
    ("spec.volumes.3.hostPath.type", ""),
    ("spec.volumes.4.projected.defaultMode", 420),
    ("spec.volumes.4.projected.sources.0.serviceAccountToken.expirationSeconds", 3600),
]


@pytest.mark.parametrize(("path", "expected"), POD_EXPECTATIONS)
def test_pod_defaults(path: str, expected: Any) -> None:
    pod = _pod()
    strategy_for("pods").default(pod)
    assert _get(pod, path) == expected


def test_pod_defaults_are_idempotent_and_keep_values() -> None:
    pod = _pod()
    pod["spec"]["restartPolicy"] = "Never"
    pod["spec"]["containers"][0]["resources"]["requests"] = {"cpu": "100m"}
    strategy_for("pods").default(pod)
    once = copy.deepcopy(pod)
    strategy_for("pods").default(pod)
    assert pod == once
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["spec"]["containers"][0]["resources"]["requests"] == {"cpu": "100m",
                                                                     "memory": "128Mi"}


def test_pod_priority_is_left_to_admission() -> None:
    pod = _pod()
    strategy_for("pods").prepare_for_create(pod)
    assert "priority" not in pod["spec"]
    assert "preemptionPolicy" not in pod["spec"]


def test_create_only_defaults_are_the_strategy_s_create() -> None:
    ns: Obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta("ns", None)}
    strategy_for("namespaces").default(ns)
    assert "finalizers" not in ns.get("spec", {})
    strategy_for("namespaces").prepare_for_create(ns)
    assert ns["spec"]["finalizers"] == ["kubernetes"]


def test_host_network_defaults_host_ports() -> None:
    pod = _pod()
    pod["spec"]["hostNetwork"] = True
    strategy_for("pods").default(pod)
    assert pod["spec"]["containers"][0]["ports"][0]["hostPort"] == 80


@pytest.mark.parametrize(("image", "policy"), [
    ("nginx", "Always"), ("nginx:latest", "Always"), ("nginx:1.25", "IfNotPresent"),
    ("registry:5000/app", "Always"), ("registry:5000/app:v1", "IfNotPresent"),
    ("app@sha256:0123", "IfNotPresent"), ("app:v1@sha256:0123", "IfNotPresent"),
])
def test_image_pull_policy(image: str, policy: str) -> None:
    pod = {"metadata": _meta("p"), "spec": {"containers": [{"name": "c", "image": image}]}}
    strategy_for("pods").default(pod)
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == policy
    assert (image_tag(image) == "latest") == (policy == "Always")


def _template() -> Obj:
    return {"metadata": {"labels": {"app": "x"}},
            "spec": {"containers": [{"name": "c", "image": "busybox", "ports": [
                {"containerPort": 8080}], "resources": {"limits": {"cpu": "1"}}}]}}


def test_templates_get_pod_spec_defaults_only() -> None:
    dep = {"metadata": _meta("d"), "spec": {"selector": {"matchLabels": {"app": "x"}},
                                            "template": _template()}}
    strategy_for("deployments").default(dep)
    spec = dep["spec"]["template"]["spec"]
    assert spec["restartPolicy"] == "Always"
    assert spec["containers"][0]["imagePullPolicy"] == "Always"
    assert spec["containers"][0]["ports"][0]["protocol"] == "TCP"
    assert "enableServiceLinks" not in spec
    assert "priority" not in spec
    assert "requests" not in spec["containers"][0]["resources"]


@pytest.mark.parametrize(("resource", "obj", "expected"), [
    ("deployments", {"spec": {"template": {}}}, {
        "spec.replicas": 1, "spec.strategy.type": "RollingUpdate",
        "spec.strategy.rollingUpdate.maxUnavailable": "25%",
        "spec.strategy.rollingUpdate.maxSurge": "25%", "spec.revisionHistoryLimit": 10,
        "spec.progressDeadlineSeconds": 600}),
    ("replicasets", {"spec": {}}, {"spec.replicas": 1}),
    ("replicationcontrollers", {"spec": {"template": {"metadata": {"labels": {"a": "b"}}}}}, {
        "spec.replicas": 1, "spec.selector": {"a": "b"}, "metadata.labels": {"a": "b"}}),
    ("statefulsets", {"spec": {"volumeClaimTemplates": [{"metadata": {"name": "d"},
                                                          "spec": {}}]}}, {
        "spec.replicas": 1, "spec.podManagementPolicy": "OrderedReady",
        "spec.updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
        "spec.revisionHistoryLimit": 10,
        "spec.persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain",
                                                      "whenScaled": "Retain"},
        "spec.volumeClaimTemplates.0.spec.volumeMode": "Filesystem",
        "spec.volumeClaimTemplates.0.status.phase": "Pending"}),
    ("daemonsets", {"spec": {}}, {
        "spec.updateStrategy": {"type": "RollingUpdate",
                                "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
        "spec.revisionHistoryLimit": 10}),
    ("jobs", {"spec": {"template": {"metadata": {"labels": {"x": "y"}}}}}, {
        "spec.completions": 1, "spec.parallelism": 1, "spec.backoffLimit": 6,
        "spec.completionMode": "NonIndexed", "spec.suspend": False,
        "spec.podReplacementPolicy": "TerminatingOrFailed", "metadata.labels": {"x": "y"}}),
    ("jobs", {"spec": {"parallelism": 3, "backoffLimitPerIndex": 1, "podFailurePolicy": {
        "rules": [{"onPodConditions": [{"type": "DisruptionTarget"}]}]}}}, {
        "spec.parallelism": 3, "spec.backoffLimit": 2**31 - 1,
        "spec.podReplacementPolicy": "Failed",
        "spec.podFailurePolicy.rules.0.onPodConditions.0.status": "True"}),
    ("cronjobs", {"spec": {"jobTemplate": {"spec": {"template": {"spec": {
        "containers": [{"name": "c", "image": "i"}]}}}}}}, {
        "spec.concurrencyPolicy": "Allow", "spec.suspend": False,
        "spec.successfulJobsHistoryLimit": 3, "spec.failedJobsHistoryLimit": 1,
        "spec.jobTemplate.spec.template.spec.restartPolicy": "Always"}),
    ("services", {"spec": {"ports": [{"port": 80}, {"port": 81, "targetPort": "http"}]}}, {
        "spec.type": "ClusterIP", "spec.sessionAffinity": "None",
        "spec.ports.0.protocol": "TCP", "spec.ports.0.targetPort": 80,
        "spec.ports.1.targetPort": "http", "spec.internalTrafficPolicy": "Cluster",
        "spec.ipFamilyPolicy": "SingleStack", "spec.ipFamilies": ["IPv4"]}),
    ("services", {"spec": {"type": "LoadBalancer", "ports": [{"port": 80}],
                           "sessionAffinity": "ClientIP"}}, {
        "spec.externalTrafficPolicy": "Cluster", "spec.allocateLoadBalancerNodePorts": True,
        "spec.sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}}}),
    ("services", {"spec": {"clusterIP": "fd00::10", "ports": [{"port": 80}]}}, {
        "spec.clusterIPs": ["fd00::10"], "spec.ipFamilies": ["IPv6"]}),
    ("secrets", {}, {"type": "Opaque"}),
    ("secrets", {"data": {"a": "eA=="}, "stringData": {"b": "y"}}, {
        "data": {"a": "eA==", "b": "eQ=="}}),
    ("namespaces", {"metadata": {"name": "team"}}, {
        "status.phase": "Active",
        "metadata.labels": {"kubernetes.io/metadata.name": "team"}}),
    ("nodes", {"status": {"capacity": {"cpu": "4", "memory": "1.5Gi"}}}, {
        "status.allocatable": {"cpu": "4", "memory": "1536Mi"},
        "status.capacity.memory": "1536Mi"}),
    ("persistentvolumeclaims", {"spec": {"resources": {"requests": {"storage": "0.5Gi"}}}}, {
        "spec.volumeMode": "Filesystem", "status.phase": "Pending",
        "spec.resources.requests.storage": "512Mi"}),
    ("persistentvolumes", {"spec": {"hostPath": {"path": "/d"}}}, {
        "spec.persistentVolumeReclaimPolicy": "Retain", "spec.volumeMode": "Filesystem",
        "spec.hostPath.type": "", "status.phase": "Pending"}),
    ("endpoints", {"subsets": [{"ports": [{"port": 1}]}]}, {"subsets.0.ports.0.protocol": "TCP"}),
    ("limitranges", {"spec": {"limits": [{"type": "Container", "max": {"cpu": "2"},
                                          "min": {"memory": "1Mi"}}]}}, {
        "spec.limits.0.default": {"cpu": "2"},
        "spec.limits.0.defaultRequest": {"cpu": "2", "memory": "1Mi"}}),
    ("horizontalpodautoscalers", {"spec": {"behavior": {"scaleDown": {
        "stabilizationWindowSeconds": 60}}}}, {
        "spec.minReplicas": 1,
        "spec.metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": 80}}}],
        "spec.behavior.scaleUp.selectPolicy": "Max",
        "spec.behavior.scaleUp.stabilizationWindowSeconds": 0,
        "spec.behavior.scaleDown.stabilizationWindowSeconds": 60,
        "spec.behavior.scaleDown.policies": [{"type": "Percent", "value": 100,
                                              "periodSeconds": 15}]}),
    ("storageclasses", {}, {"reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"}),
    ("priorityclasses", {"value": 5}, {"preemptionPolicy": "PreemptLowerPriority"}),
    ("rolebindings", {"roleRef": {"kind": "Role", "name": "r"},
                      "subjects": [{"kind": "User", "name": "u"},
                                   {"kind": "ServiceAccount", "name": "s"}]}, {
        "roleRef.apiGroup": "rbac.authorization.k8s.io",
        "subjects.0.apiGroup": "rbac.authorization.k8s.io", "subjects.1.apiGroup": ""}),
    ("networkpolicies", {"spec": {"egress": [{"ports": [{"port": 53}]}]}}, {
        "spec.policyTypes": ["Ingress", "Egress"], "spec.egress.0.ports.0.protocol": "TCP"}),
    ("endpointslices", {"ports": [{"port": 80}]}, {"ports.0.protocol": "TCP",
                                                  "ports.0.name": ""}),
])
def test_kind_defaults(resource: str, obj: Obj, expected: dict[str, Any]) -> None:
    obj = copy.deepcopy(obj)
    obj.setdefault("metadata", _meta("x"))
    strategy_for(resource).default(obj)
    for path, value in expected.items():
        assert _get(obj, path) == value, path


def test_namespace_finalizer_not_re_added_on_update() -> None:
    ns = {"metadata": {"name": "team", "resourceVersion": "9"}, "spec": {}}
    strategy_for("namespaces").default(ns)
    assert "finalizers" not in ns["spec"]


def test_job_selector_generation() -> None:
    job: Obj = {"metadata": {"name": "pi", "namespace": "d", "uid": "u-1"},
           "spec": {"template": {"spec": {"containers": []}}}}
    strategy_for("jobs").prepare_for_create(job)
    assert job["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}}
    assert job["spec"]["template"]["metadata"]["labels"] == {
        "job-name": "pi", "batch.kubernetes.io/job-name": "pi",
        "controller-uid": "u-1", "batch.kubernetes.io/controller-uid": "u-1"}


def test_unknown_resource_is_left_alone() -> None:
    obj = {"metadata": {"name": "x"}, "spec": {}}
    strategy_for("widgets.example.com").default(obj)
    assert obj == {"metadata": {"name": "x"}, "spec": {}}
