"""Defaulting of the smaller groups: networking (NetworkPolicy), discovery (EndpointSlice),
rbac (role references and subjects), scheduling (PriorityClass), autoscaling/v2 (HPA) and
storage (StorageClass), as their upstream `pkg/apis/<group>/v1*/defaults.go`.
"""

from __future__ import annotations

import copy
from typing import Any

from kybernetes.api.defaults.core import Obj, _dict, _dicts

RBAC_GROUP = "rbac.authorization.k8s.io"


def default_network_policy(obj: Obj) -> None:
    spec = _dict(obj, "spec")
    for direction in ("ingress", "egress"):
        for rule in _dicts(spec.get(direction)):
            for port in _dicts(rule.get("ports")):
                if port.get("protocol") is None:
                    port["protocol"] = "TCP"
    if not spec.get("policyTypes"):
        types = ["Ingress"]
        if spec.get("egress"):
            types.append("Egress")
        spec["policyTypes"] = types


def default_endpoint_slice(obj: Obj) -> None:
    for port in _dicts(obj.get("ports")):
        if port.get("name") is None:
            port["name"] = ""
        if port.get("protocol") is None:
            port["protocol"] = "TCP"


def default_role_binding(obj: Obj) -> None:
    ref = _dict(obj, "roleRef")
    if not ref.get("apiGroup"):
        ref["apiGroup"] = RBAC_GROUP
    for subject in _dicts(obj.get("subjects")):
        if not subject.get("apiGroup"):
            if subject.get("kind") == "ServiceAccount":
                subject["apiGroup"] = ""
            elif subject.get("kind") in ("User", "Group"):
                subject["apiGroup"] = RBAC_GROUP


def default_priority_class(obj: Obj) -> None:
    if obj.get("preemptionPolicy") is None:
        obj["preemptionPolicy"] = "PreemptLowerPriority"


_SCALE_UP: dict[str, Any] = {
    "stabilizationWindowSeconds": 0,
    "selectPolicy": "Max",
    "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                 {"type": "Percent", "value": 100, "periodSeconds": 15}],
}
_SCALE_DOWN: dict[str, Any] = {
    "selectPolicy": "Max",
    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
}


def _scaling_rules(rules: Any, defaults: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(rules, dict):
        return copy.deepcopy(defaults)
    for name in ("stabilizationWindowSeconds", "selectPolicy"):
        if rules.get(name) is None and name in defaults:
            rules[name] = defaults[name]
    if not rules.get("policies"):
        rules["policies"] = copy.deepcopy(defaults["policies"])
    return rules


def default_hpa(obj: Obj) -> None:
    spec = _dict(obj, "spec")
    if spec.get("minReplicas") is None:
        spec["minReplicas"] = 1
    if not spec.get("metrics"):
        spec["metrics"] = [{"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        behavior["scaleUp"] = _scaling_rules(behavior.get("scaleUp"), _SCALE_UP)
        behavior["scaleDown"] = _scaling_rules(behavior.get("scaleDown"), _SCALE_DOWN)


def default_storage_class(obj: Obj) -> None:
    if obj.get("reclaimPolicy") is None:
        obj["reclaimPolicy"] = "Delete"
    if obj.get("volumeBindingMode") is None:
        obj["volumeBindingMode"] = "Immediate"
