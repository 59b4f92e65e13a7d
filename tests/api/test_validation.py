"""Tests for kybernetes.api.validation, through each resource's strategy: upstream field
paths, error types and details."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from tests.builtin_strategy import strategy_for

from kybernetes.api.validation.batch import parse_cron
from kybernetes.api.validation.meta import (
    is_dns1123_label,
    is_qualified_name,
    is_valid_label_value,
    semantic_equal,
)

Obj = dict[str, Any]
DELETE = object()

LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
             "'-', and must start and end with an alphanumeric character (e.g. 'my-name',  or "
             "'123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                 "characters, '-' or '.', and must start and end with an alphanumeric character "
                 "(e.g. 'example.com', regex used for validation is "
                 "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
DNS1035_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
               "with an alphabetic character, and end with an alphanumeric character (e.g. "
               "'my-name',  or 'abc-123', regex used for validation is "
               "'[a-z]([-a-z0-9]*[a-z0-9])?')")


def _meta(name: str, namespace: str | None = "default") -> Obj:
    meta: Obj = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return meta


def _container(name: str = "app", image: str = "nginx:1.25") -> Obj:
    return {"name": name, "image": image}


def _full_container(name: str) -> Obj:
    """A container as it is after defaulting."""
    return dict(_container(name), imagePullPolicy="IfNotPresent", terminationMessagePolicy="File",
                terminationMessagePath="/dev/termination-log")


def _template(labels: Obj | None = None) -> Obj:
    return {"metadata": {"labels": labels or {"app": "web"}},
            "spec": {"containers": [_container()]}}


BASE: dict[str, Obj] = {
    "pods": {"metadata": _meta("web"), "spec": {"containers": [_container()]}},
    "deployments": {"metadata": _meta("web"), "spec": {
        "selector": {"matchLabels": {"app": "web"}}, "template": _template()}},
    "replicasets": {"metadata": _meta("web"), "spec": {
        "selector": {"matchLabels": {"app": "web"}}, "template": _template()}},
    "statefulsets": {"metadata": _meta("db"), "spec": {
        "selector": {"matchLabels": {"app": "web"}}, "template": _template()}},
    "daemonsets": {"metadata": _meta("agent"), "spec": {
        "selector": {"matchLabels": {"app": "web"}}, "template": _template()}},
    "replicationcontrollers": {"metadata": _meta("rc"), "spec": {"template": _template()}},
    "jobs": {"metadata": dict(_meta("pi"), uid="uid-1"), "spec": {"template": {
        "spec": {"containers": [_container()], "restartPolicy": "Never"}}}},
    "cronjobs": {"metadata": _meta("cj"), "spec": {"schedule": "*/5 * * * *", "jobTemplate": {
        "spec": {"template": {"spec": {"containers": [_container()],
                                       "restartPolicy": "OnFailure"}}}}}},
    "services": {"metadata": _meta("web"), "spec": {"selector": {"app": "web"},
                                                    "ports": [{"port": 80}]}},
    "configmaps": {"metadata": _meta("cm"), "data": {"key.txt": "v"}},
    "secrets": {"metadata": _meta("s"), "data": {"k": "dmFs"}},
    "namespaces": {"metadata": _meta("team", None)},
    "nodes": {"metadata": _meta("node-1", None), "status": {"capacity": {"cpu": "4"}}},
    "serviceaccounts": {"metadata": _meta("builder")},
    "persistentvolumeclaims": {"metadata": _meta("data"), "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}},
    "persistentvolumes": {"metadata": _meta("pv1", None), "spec": {
        "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
        "hostPath": {"path": "/data"}}},
    "resourcequotas": {"metadata": _meta("q"), "spec": {"hard": {"pods": "10", "cpu": "4"}}},
    "limitranges": {"metadata": _meta("lr"), "spec": {"limits": [
        {"type": "Container", "max": {"cpu": "2"}, "min": {"cpu": "100m"}}]}},
    "endpoints": {"metadata": _meta("web"), "subsets": [
        {"addresses": [{"ip": "10.42.0.5"}], "ports": [{"port": 80}]}]},
    "endpointslices": {"metadata": _meta("web-x"), "addressType": "IPv4",
                       "endpoints": [{"addresses": ["10.42.0.5"]}], "ports": [{"port": 80}]},
    "ingresses": {"metadata": _meta("ing"), "spec": {"rules": [{"host": "example.com", "http": {
        "paths": [{"path": "/", "pathType": "Prefix",
                   "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}},
    "leases": {"metadata": _meta("l"), "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}},
    "roles": {"metadata": _meta("r"), "rules": [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]},
    "rolebindings": {"metadata": _meta("rb"), "roleRef": {"kind": "Role", "name": "r"},
                     "subjects": [{"kind": "ServiceAccount", "name": "default"}]},
    "clusterrolebindings": {"metadata": _meta("crb", None),
                            "roleRef": {"kind": "ClusterRole", "name": "view"},
                            "subjects": [{"kind": "User", "name": "bob"}]},
    "priorityclasses": {"metadata": _meta("high", None), "value": 1000},
    "poddisruptionbudgets": {"metadata": _meta("pdb"), "spec": {
        "minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}},
    "horizontalpodautoscalers": {"metadata": _meta("h"), "spec": {
        "maxReplicas": 5, "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": "web"}}},
    "storageclasses": {"metadata": _meta("local", None), "provisioner": "rancher.io/local-path"},
    "events": {"metadata": _meta("web.1"), "involvedObject": {"kind": "Pod", "name": "web",
                                                              "namespace": "default"}},
    "networkpolicies": {"metadata": _meta("np"), "spec": {"podSelector": {}}},
    "widgets.example.com": {"metadata": _meta("w")},
}


def _set(obj: Obj, path: str, value: Any) -> None:
    parts = path.split(".")
    target: Any = obj
    for part in parts[:-1]:
        target = target[int(part)] if part.isdigit() else target.setdefault(part, {})
    last = parts[-1]
    if value is DELETE:
        del target[last]
    elif last.isdigit():
        target[int(last)] = value
    else:
        target[last] = value


def _build(resource: str, changes: dict[str, Any]) -> Obj:
    obj = copy.deepcopy(BASE[resource])
    strategy_for(resource).prepare_for_create(obj)
    for path, value in changes.items():
        _set(obj, path, value if value is DELETE else copy.deepcopy(value))
    return obj


@pytest.mark.parametrize("resource", sorted(BASE))
def test_valid_objects(resource: str) -> None:
    assert strategy_for(resource).validate_create(_build(resource, {})) == []


CREATE_CASES: list[tuple[str, dict[str, Any], list[tuple[str, str, str]]]] = [
    # ObjectMeta
    ("pods", {"metadata.name": ""},
     [("metadata.name", "FieldValueRequired", "name or generateName is required")]),
    ("pods", {"metadata.name": "Web"}, [("metadata.name", "FieldValueInvalid", SUBDOMAIN_MSG)]),
    ("pods", {"metadata.name": "a" * 254},
     [("metadata.name", "FieldValueInvalid", "must be no more than 253 characters")]),
    ("pods", {"metadata.name": DELETE, "metadata.generateName": "web-"}, []),
    ("pods", {"metadata.namespace": DELETE},
     [("metadata.namespace", "FieldValueRequired", "")]),
    ("services", {"metadata.name": "1web"}, [("metadata.name", "FieldValueInvalid", DNS1035_MSG)]),
    ("namespaces", {"metadata.name": "a.b"},
     [("metadata.name", "FieldValueInvalid", "must not contain dots")]),
    ("statefulsets", {"metadata.name": "a.b"},
     [("metadata.name", "FieldValueInvalid", "must not contain dots")]),
    ("configmaps", {"metadata.labels": {"app": "x" * 64}},
     [("metadata.labels", "FieldValueInvalid", "must be no more than 63 bytes")]),
    ("configmaps", {"metadata.labels": {"-bad": "v"}},
     [("metadata.labels", "FieldValueInvalid",
       "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
       "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
       "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")]),
    ("configmaps", {"metadata.annotations": {"big": "x" * (256 * 1024)}},
     [("metadata.annotations", "FieldValueTooLong", "may not be more than 262144 bytes")]),
    ("configmaps", {"metadata.finalizers": ["custom"]},
     [("metadata.finalizers[0]", "FieldValueInvalid",
       "name is neither a standard finalizer name nor is it fully qualified")]),
    ("configmaps", {"metadata.finalizers": ["example.com/done", "kubernetes"]}, []),
    # pods
    ("pods", {"spec.containers": []}, [("spec.containers", "FieldValueRequired", "")]),
    ("pods", {"spec.containers.0.name": "My_App"},
     [("spec.containers[0].name", "FieldValueInvalid", LABEL_MSG)]),
    ("pods", {"spec.containers.0.image": ""},
     [("spec.containers[0].image", "FieldValueRequired", "")]),
    ("pods", {"spec.containers.0.image": " nginx"},
     [("spec.containers[0].image", "FieldValueInvalid",
       "must not have leading or trailing whitespace")]),
    ("pods", {"spec.containers": [_full_container("a"), _full_container("a")]},
     [("spec.containers[1].name", "FieldValueDuplicate", "")]),
    ("pods", {"spec.containers.0.ports": [{"containerPort": 70000, "protocol": "TCP"}]},
     [("spec.containers[0].ports[0].containerPort", "FieldValueInvalid",
       "must be between 1 and 65535, inclusive")]),
    ("pods", {"spec.containers.0.ports": [{"containerPort": 80, "protocol": "ICMP"}]},
     [("spec.containers[0].ports[0].protocol", "FieldValueNotSupported",
       'supported values: "SCTP", "TCP", "UDP"')]),
    ("pods", {"spec.restartPolicy": "Sometimes"},
     [("spec.restartPolicy", "FieldValueNotSupported",
       'supported values: "Always", "OnFailure", "Never"')]),
    ("pods", {"spec.containers.0.resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "2"}}},
     [("spec.containers[0].resources.requests", "FieldValueInvalid",
       "must be less than or equal to cpu limit of 1")]),
    ("pods", {"spec.containers.0.resources": {"requests": {"cpu": "-1"}}},
     [("spec.containers[0].resources.requests[cpu]", "FieldValueInvalid",
       "must be greater than or equal to 0")]),
    ("pods", {"spec.containers.0.resources": {"requests": {"gpu": "1"}}},
     [("spec.containers[0].resources.requests[gpu]", "FieldValueInvalid",
       "must be a standard resource type or fully qualified"),
      ("spec.containers[0].resources.requests[gpu]", "FieldValueInvalid",
       "must be a standard resource for containers")]),
    ("pods", {"spec.volumes": [{"name": "v", "emptyDir": {}, "hostPath": {"path": "/x"}}]},
     [("spec.volumes[0].hostPath", "FieldValueForbidden",
       "may not specify more than 1 volume type")]),
    ("pods", {"spec.volumes": [{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}]},
     [("spec.volumes[1].name", "FieldValueDuplicate", "")]),
    ("pods", {"spec.containers.0.volumeMounts": [{"name": "missing", "mountPath": "/m"}]},
     [("spec.containers[0].volumeMounts[0].name", "FieldValueNotFound", "")]),
    ("pods", {"spec.containers.0.livenessProbe": {"exec": {"command": ["true"]},
                                                  "successThreshold": 2, "timeoutSeconds": 1,
                                                  "periodSeconds": 1, "failureThreshold": 1}},
     [("spec.containers[0].livenessProbe.successThreshold", "FieldValueInvalid", "must be 1")]),
    ("pods", {"spec.tolerations": [{"key": "", "operator": "Equal"}]},
     [("spec.tolerations[0].operator", "FieldValueInvalid",
       'operator must be Exists when `key` is empty, which means "match all values and all '
       'keys"')]),
    ("pods", {"spec.ephemeralContainers": [{"name": "debug", "image": "busybox",
                                            "terminationMessagePolicy": "File",
                                            "imagePullPolicy": "IfNotPresent"}]},
     [("spec.ephemeralContainers", "FieldValueForbidden", "cannot be set on create")]),
    # workloads
    ("deployments", {"spec.template.metadata.labels": {"app": "other"}},
     [("spec.template.metadata.labels", "FieldValueInvalid",
       "`selector` does not match template `labels`")]),
    ("deployments", {"spec.replicas": -1},
     [("spec.replicas", "FieldValueInvalid", "must be greater than or equal to 0")]),
    ("deployments", {"spec.selector": DELETE},
     [("spec.selector", "FieldValueRequired", ""),
      ("spec.template.metadata.labels", "FieldValueInvalid",
       "`selector` does not match template `labels`")]),
    ("deployments", {"spec.selector": {}},
     [("spec.selector", "FieldValueInvalid", "empty selector is invalid for deployment")]),
    ("deployments", {"spec.strategy": {"type": "Rolling"}},
     [("spec.strategy", "FieldValueNotSupported",
       'supported values: "Recreate", "RollingUpdate"')]),
    ("deployments", {"spec.strategy.rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}},
     [("spec.strategy.rollingUpdate.maxUnavailable", "FieldValueInvalid",
       "may not be 0 when `maxSurge` is 0")]),
    ("deployments", {"spec.template.spec.containers.0.image": ""},
     [("spec.template.spec.containers[0].image", "FieldValueRequired", "")]),
    ("deployments", {"spec.template.spec.restartPolicy": "Never"},
     [("spec.template.spec.restartPolicy", "FieldValueNotSupported",
       'supported values: "Always"')]),
    ("replicasets", {"spec.template.metadata.labels": {"app": "other"}},
     [("spec.template.metadata.labels", "FieldValueInvalid",
       "`selector` does not match template `labels`")]),
    ("statefulsets", {"spec.podManagementPolicy": "Random"},
     [("spec.podManagementPolicy", "FieldValueInvalid", "must be 'OrderedReady' or 'Parallel'")]),
    ("daemonsets", {"spec.updateStrategy.rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}},
     [("spec.updateStrategy.rollingUpdate.maxUnavailable", "FieldValueRequired",
       "cannot be 0 when maxSurge is 0")]),
    ("replicationcontrollers", {"spec.selector": {"app": "x"}},
     [("spec.template.metadata.labels", "FieldValueInvalid",
       "`selector` does not match template `labels`")]),
    ("jobs", {"spec.template.spec.restartPolicy": "Always"},
     [("spec.template.spec.restartPolicy", "FieldValueRequired",
       'valid values: "OnFailure", "Never"')]),
    ("jobs", {"spec.backoffLimit": -1},
     [("spec.backoffLimit", "FieldValueInvalid", "must be greater than or equal to 0")]),
    ("cronjobs", {"spec.schedule": "61 * * * *"},
     [("spec.schedule", "FieldValueInvalid", "end of range (61) above maximum (59): 61")]),
    ("cronjobs", {"spec.concurrencyPolicy": "Sometimes"},
     [("spec.concurrencyPolicy", "FieldValueNotSupported",
       'supported values: "Allow", "Forbid", "Replace"')]),
    ("cronjobs", {"metadata.name": "c" * 53},
     [("metadata.name", "FieldValueInvalid", "must be no more than 52 characters")]),
    # services
    ("services", {"spec.ports": []}, [("spec.ports", "FieldValueRequired", "")]),
    ("services", {"spec.ports": [], "spec.clusterIP": "None"}, []),
    ("services", {"spec.ports": [], "spec.type": "ExternalName", "spec.externalName": "a.b",
                  "spec.ipFamilyPolicy": DELETE, "spec.ipFamilies": DELETE,
                  "spec.internalTrafficPolicy": DELETE}, []),
    ("services", {"spec.ports.0.port": 0},
     [("spec.ports[0].port", "FieldValueInvalid", "must be between 1 and 65535, inclusive")]),
    ("services", {"spec.type": "Cluster"},
     [("spec.type", "FieldValueNotSupported",
       'supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"')]),
    ("services", {"spec.type": "NodePort", "spec.externalTrafficPolicy": "Cluster",
                  "spec.ports.0.nodePort": 8080},
     [("spec.ports[0].nodePort", "FieldValueInvalid",
       "provided port is not in the valid range. The range of valid ports is 30000-32767")]),
    ("services", {"spec.ports.0.nodePort": 30080},
     [("spec.ports[0].nodePort", "FieldValueForbidden",
       "may not be used when `type` is 'ClusterIP'")]),
    ("services", {"spec.ports": [{"port": 80, "protocol": "TCP", "targetPort": 80},
                                 {"port": 81, "protocol": "TCP", "targetPort": 81}]},
     [("spec.ports[0].name", "FieldValueRequired", ""),
      ("spec.ports[1].name", "FieldValueRequired", "")]),
    # config
    ("configmaps", {"data": {"bad/key": "v"}},
     [("data[bad/key]", "FieldValueInvalid",
       "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. "
       "'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
       "'[-._a-zA-Z0-9]+')")]),
    ("configmaps", {"data": {"big": "x" * (1024 * 1024 + 1)}},
     [("", "FieldValueTooLong", "may not be more than 1048576 bytes")]),
    ("secrets", {"data": {"k": "eHg=" * 300000}},
     [("data", "FieldValueTooLong", "may not be more than 1048576 bytes")]),
    ("secrets", {"type": "kubernetes.io/tls"},
     [("data[tls.crt]", "FieldValueRequired", ""), ("data[tls.key]", "FieldValueRequired", "")]),
    # storage and misc
    ("persistentvolumeclaims", {"spec.accessModes": []},
     [("spec.accessModes", "FieldValueRequired", "at least 1 access mode is required")]),
    ("persistentvolumeclaims", {"spec.resources": {}},
     [("spec.resources[storage]", "FieldValueRequired", "")]),
    ("persistentvolumes", {"spec.persistentVolumeReclaimPolicy": "Keep"},
     [("spec.persistentVolumeReclaimPolicy", "FieldValueNotSupported",
       'supported values: "Delete", "Recycle", "Retain"')]),
    ("resourcequotas", {"spec.hard.pods": "1500m"},
     [("spec.hard[pods]", "FieldValueInvalid", "must be an integer")]),
    ("ingresses", {"spec.rules.0.host": "10.0.0.1"},
     [("spec.rules[0].host", "FieldValueInvalid", "must be a DNS name, not an IP address")]),
    ("leases", {"spec.leaseDurationSeconds": 0},
     [("spec.leaseDurationSeconds", "FieldValueInvalid", "must be greater than 0")]),
    ("roles", {"rules": [{"verbs": ["get"]}]},
     [("rules[0].apiGroups", "FieldValueRequired",
       "resource rules must supply at least one api group"),
      ("rules[0].resources", "FieldValueRequired",
       "resource rules must supply at least one resource")]),
    ("clusterrolebindings", {"roleRef.kind": "Role"},
     [("roleRef.kind", "FieldValueNotSupported", 'supported values: "ClusterRole"')]),
    ("priorityclasses", {"value": 2_000_000_000},
     [("value", "FieldValueForbidden",
       "maximum allowed value of a user defined priority is 1000000000")]),
    ("poddisruptionbudgets", {"spec.maxUnavailable": 1},
     [("spec", "FieldValueInvalid", "minAvailable and maxUnavailable cannot be both set")]),
    ("horizontalpodautoscalers", {"spec.maxReplicas": 0},
     [("spec.maxReplicas", "FieldValueInvalid", "must be greater than 0"),
      ("spec.maxReplicas", "FieldValueInvalid", "must be greater than or equal to `minReplicas`")]),
    ("events", {"involvedObject.namespace": "other"},
     [("involvedObject.namespace", "FieldValueInvalid", "does not match event.namespace")]),
    ("networkpolicies", {"spec.policyTypes": ["Sideways"]},
     [("spec.policyTypes[0]", "FieldValueNotSupported", 'supported values: "Ingress", "Egress"')]),
    ("widgets.example.com", {"metadata.name": "Bad"},
     [("metadata.name", "FieldValueInvalid", SUBDOMAIN_MSG)]),
]


@pytest.mark.parametrize(("resource", "changes", "expected"), CREATE_CASES)
def test_create(resource: str, changes: dict[str, Any],
                expected: list[tuple[str, str, str]]) -> None:
    errs = strategy_for(resource).validate_create(_build(resource, changes))
    assert [(e.field, e.type, e.detail) for e in errs] == expected


def _stored(resource: str) -> Obj:
    obj = _build(resource, {})
    obj["metadata"].update(resourceVersion="5", uid="uid-1",
                           creationTimestamp="2024-01-01T00:00:00Z")
    if resource == "services":
        obj["spec"]["clusterIP"] = "10.43.0.10"
        obj["spec"]["clusterIPs"] = ["10.43.0.10"]
    return obj


UPDATE_CASES: list[tuple[str, dict[str, Any], list[tuple[str, str, str]]]] = [
    ("configmaps", {}, []),
    ("configmaps", {"metadata.resourceVersion": ""},
     [("metadata.resourceVersion", "FieldValueInvalid", "must be specified for an update")]),
    ("configmaps", {"metadata.name": "other"},
     [("metadata.name", "FieldValueInvalid", "field is immutable")]),
    ("configmaps", {"metadata.uid": "uid-2"},
     [("metadata.uid", "FieldValueInvalid", "field is immutable")]),
    ("configmaps", {"metadata.creationTimestamp": "2025-01-01T00:00:00Z"},
     [("metadata.creationTimestamp", "FieldValueInvalid", "field is immutable")]),
    ("configmaps", {"metadata.namespace": "other"},
     [("metadata.namespace", "FieldValueInvalid", "field is immutable")]),
    ("pods", {"spec.containers.0.image": "nginx:1.26", "spec.activeDeadlineSeconds": 30,
              "spec.tolerations": [{"key": "k", "operator": "Exists"}],
              "metadata.labels": {"new": "label"}}, []),
    ("pods", {"spec.containers": [_full_container("app"), _full_container("b")]},
     [("spec.containers", "FieldValueForbidden", "pod updates may not add or remove containers")]),
    ("deployments", {"spec.replicas": 5, "spec.template.spec.containers.0.image": "x:2"}, []),
    ("deployments", {"spec.selector.matchLabels": {"app": "web", "tier": "fe"},
                     "spec.template.metadata.labels": {"app": "web", "tier": "fe"}},
     [("spec.selector", "FieldValueInvalid", "field is immutable")]),
    ("replicasets", {"spec.selector.matchLabels": {"app": "web", "x": "y"},
                     "spec.template.metadata.labels": {"app": "web", "x": "y"}},
     [("spec.selector", "FieldValueInvalid", "field is immutable")]),
    ("daemonsets", {"spec.selector.matchLabels": {"app": "web", "x": "y"},
                    "spec.template.metadata.labels": {"app": "web", "x": "y"}},
     [("spec.selector", "FieldValueInvalid", "field is immutable")]),
    ("statefulsets", {"spec.replicas": 3, "spec.minReadySeconds": 5}, []),
    ("statefulsets", {"spec.serviceName": "other"},
     [("spec", "FieldValueForbidden",
       "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
       "'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and "
       "'minReadySeconds' are forbidden")]),
    ("services", {"spec.clusterIP": "10.43.0.11", "spec.clusterIPs": ["10.43.0.11"]},
     [("spec.clusterIPs[0]", "FieldValueInvalid", "may not change once set")]),
    ("services", {"spec.clusterIPs": DELETE}, []),
    ("secrets", {"type": "kubernetes.io/basic-auth", "data": {"username": "dQ=="}},
     [("type", "FieldValueInvalid", "field is immutable")]),
    ("jobs", {"spec.completions": 3},
     [("spec.completions", "FieldValueInvalid", "field is immutable")]),
    ("rolebindings", {"roleRef.name": "other"},
     [("roleRef", "FieldValueInvalid", "cannot change roleRef")]),
    ("priorityclasses", {"value": 5},
     [("value", "FieldValueForbidden", "may not be changed in an update.")]),
    ("resourcequotas", {"spec.scopes": ["BestEffort"], "spec.hard": {"pods": "1"}},
     [("spec.scopes", "FieldValueInvalid", "field is immutable")]),
]


@pytest.mark.parametrize(("resource", "changes", "expected"), UPDATE_CASES)
def test_update(resource: str, changes: dict[str, Any],
                expected: list[tuple[str, str, str]]) -> None:
    old = _stored(resource)
    new = copy.deepcopy(old)
    for path, value in changes.items():
        _set(new, path, value if value is DELETE else copy.deepcopy(value))
    strategy_for(resource).default(new)
    errs = strategy_for(resource).validate_update(new, old)
    assert [(e.field, e.type, e.detail) for e in errs] == expected


def test_pod_spec_change_is_forbidden_with_upstream_message() -> None:
    old = _stored("pods")
    new = copy.deepcopy(old)
    new["spec"]["restartPolicy"] = "Never"
    errs = strategy_for("pods").validate_update(new, old)
    assert [(e.field, e.type) for e in errs] == [("spec", "FieldValueForbidden")]
    assert errs[0].detail.startswith(
        "pod updates may not change fields other than `spec.containers[*].image`,"
        "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
        "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to "
        "be set to 1 if it was previously negative)\n")
    assert '+ \tspec.restartPolicy: "Never"' in errs[0].detail


def test_pod_tolerations_may_only_be_added() -> None:
    old = _stored("pods")
    old["spec"]["tolerations"] = [{"key": "k", "operator": "Exists", "effect": "NoExecute",
                                   "tolerationSeconds": 10}]
    new = copy.deepcopy(old)
    new["spec"]["tolerations"][0]["tolerationSeconds"] = 20
    assert strategy_for("pods").validate_update(new, old) == []
    new["spec"]["tolerations"] = []
    errs = strategy_for("pods").validate_update(new, old)
    assert [(e.field, e.detail) for e in errs] == [
        ("spec.tolerations", "existing toleration can not be modified except its "
                             "tolerationSeconds")]


def test_grace_period_may_go_from_negative_to_one() -> None:
    old = _stored("pods")
    old["spec"]["terminationGracePeriodSeconds"] = -1
    new = copy.deepcopy(old)
    new["spec"]["terminationGracePeriodSeconds"] = 1
    assert strategy_for("pods").validate_update(new, old) == []


def test_messages_render_like_upstream() -> None:
    errs = strategy_for("deployments").validate_create(_build("deployments", {"spec.replicas": -1}))
    assert [e.message() for e in errs] == [
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0"]


@pytest.mark.parametrize(("schedule", "error"), [
    ("*/5 * * * *", None), ("0 0 * * mon-fri", None), ("@hourly", None), ("@every 5m", None),
    ("0 0 1 jan *", None), ("* * * * 7", "end of range (7) above maximum (6): 7"),
    ("* * *", "expected exactly 5 fields, found 3: [* * *]"),
    ("@often", "unrecognized descriptor: @often"), ("", "empty spec string"),
    ("*/0 * * * *", "step of range should be a positive number: */0"),
    ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
    ("x * * * *", 'failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax'),
])
def test_cron(schedule: str, error: str | None) -> None:
    if error is None:
        parse_cron(schedule)
    else:
        with pytest.raises(ValueError) as info:
            parse_cron(schedule)
        assert str(info.value) == error


@pytest.mark.parametrize(("value", "ok"), [
    ("my-name", True), ("123-abc", True), ("a" * 63, True), ("a" * 64, False), ("A", False),
    ("-a", False), ("a.b", False), ("", False),
])
def test_dns1123_label(value: str, ok: bool) -> None:
    assert (is_dns1123_label(value) == []) is ok


@pytest.mark.parametrize(("value", "ok"), [
    ("app", True), ("example.com/app", True), ("a/b/c", False), ("/x", False),
    ("Example.com/app", False), ("x" * 64, False), ("my.name_1", True),
])
def test_qualified_name(value: str, ok: bool) -> None:
    assert (is_qualified_name(value) == []) is ok


@pytest.mark.parametrize(("value", "ok"), [
    ("", True), ("v1.2_3-x", True), ("-x", False), ("x" * 64, False), ("with space", False),
])
def test_label_value(value: str, ok: bool) -> None:
    assert (is_valid_label_value(value) == []) is ok


@pytest.mark.parametrize(("a", "b", "equal"), [
    ({"x": 1, "y": []}, {"x": 1}, True),
    ({"limits": {"cpu": "1"}}, {"limits": {"cpu": "1000m"}}, True),
    ({"x": "a"}, {"x": "b"}, False),
    (None, {}, True),
])
def test_semantic_equal(a: Any, b: Any, equal: bool) -> None:
    assert semantic_equal(a, b) is equal
