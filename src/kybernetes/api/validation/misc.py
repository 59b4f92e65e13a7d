"""Validation of the smaller API groups: coordination (Lease), policy (PodDisruptionBudget),
scheduling (PriorityClass), autoscaling (HorizontalPodAutoscaler) and storage (StorageClass),
after the corresponding upstream `pkg/apis/<group>/validation` packages.
"""

from __future__ import annotations

from typing import Any

from kybernetes.api.errors import FieldError
from kybernetes.api.validation.apps import (
    _not_more_than_100_percent,
    _validate_positive_int_or_percent,
)
from kybernetes.api.validation.meta import (
    Errors,
    as_dict,
    as_int,
    as_list,
    as_str,
    child,
    get,
    index,
    is_path_segment_name,
    is_qualified_name,
    name_is_dns_subdomain,
    validate_immutable,
    validate_label_selector,
    validate_object_meta,
    validate_object_meta_update,
)
from kybernetes.api.validation.meta import (
    parse_quantity_field as _quantity,
)

# ---------------------------------------------------------------- leases


def validate_lease(obj: dict[str, Any]) -> Errors:
    errs = validate_object_meta(obj, True, name_is_dns_subdomain, kube_finalizers=False)
    return errs + _validate_lease_spec(obj)


def validate_lease_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    """Upstream's `ValidateLeaseUpdate`: the metadata update and the spec (the checks of a
    new object's metadata are not run again, as upstream: a node's renewal every 10 s)."""
    return validate_object_meta_update(new, old, kube_finalizers=False) + \
        _validate_lease_spec(new)


def _validate_lease_spec(obj: dict[str, Any]) -> Errors:
    """Upstream's `ValidateLeaseSpec`."""
    errs: Errors = []
    spec = as_dict(obj.get("spec"))
    duration = spec.get("leaseDurationSeconds")
    if duration is not None and as_int(duration) <= 0:
        errs.append(FieldError.invalid("spec.leaseDurationSeconds", duration,
                                       "must be greater than 0"))
    transitions = spec.get("leaseTransitions")
    if transitions is not None and as_int(transitions) < 0:
        errs.append(FieldError.invalid("spec.leaseTransitions", transitions,
                                       "must be greater than or equal to 0"))
    strategy = spec.get("strategy")
    if strategy is not None and strategy not in ("OldestEmulationVersion",):
        errs.append(FieldError.not_supported("spec.strategy", strategy,
                                             ["OldestEmulationVersion"]))
    return errs


# ---------------------------------------------------------------- pod disruption budgets

def validate_pdb(obj: dict[str, Any]) -> Errors:
    errs = validate_object_meta(obj, True, name_is_dns_subdomain)
    spec = as_dict(obj.get("spec"))
    min_available, max_unavailable = spec.get("minAvailable"), spec.get("maxUnavailable")
    if min_available is not None and max_unavailable is not None:
        errs.append(FieldError.invalid("spec", spec,
                                       "minAvailable and maxUnavailable cannot be both set"))
    for name, value in (("minAvailable", min_available), ("maxUnavailable", max_unavailable)):
        if value is not None:
            errs.extend(_validate_positive_int_or_percent(value, f"spec.{name}"))
            errs.extend(_not_more_than_100_percent(value, f"spec.{name}"))
    errs.extend(validate_label_selector(spec.get("selector"), "spec.selector"))
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy is not None and policy not in ("AlwaysAllow", "IfHealthyBudget"):
        errs.append(FieldError.not_supported("spec.unhealthyPodEvictionPolicy", policy,
                                             ["AlwaysAllow", "IfHealthyBudget"]))
    return errs


def validate_pdb_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    return validate_object_meta_update(new, old) + validate_pdb(new)


# ---------------------------------------------------------------- priority classes

HIGHEST_USER_PRIORITY = 1_000_000_000
SYSTEM_PRIORITY_CLASSES = {"system-node-critical": 2_000_001_000,
                           "system-cluster-critical": 2_000_000_000}


def validate_priority_class(obj: dict[str, Any]) -> Errors:
    errs = validate_object_meta(obj, False, name_is_dns_subdomain)
    name = as_str(get(obj, "metadata", "name"))
    value = as_int(obj.get("value"))
    if name.startswith("system-"):
        expected = SYSTEM_PRIORITY_CLASSES.get(name)
        if expected is None:
            reason = f"{name!r} is not a known system priority class"
        elif value != expected:
            reason = f"value of {name} PriorityClass must be {expected}"
        elif obj.get("globalDefault") is True:
            reason = f"globalDefault of {name} PriorityClass must be false"
        else:
            reason = ""
        if reason:
            errs.append(FieldError.forbidden("metadata.name",
                                             "priority class names with 'system-' prefix are "
                                             f"reserved for system use only. error: {reason}"))
    elif value > HIGHEST_USER_PRIORITY:
        errs.append(FieldError.forbidden("value", "maximum allowed value of a user defined "
                                         f"priority is {HIGHEST_USER_PRIORITY}"))
    policy = obj.get("preemptionPolicy")
    if policy is not None and policy not in ("PreemptLowerPriority", "Never"):
        errs.append(FieldError.not_supported("preemptionPolicy", policy,
                                             ["PreemptLowerPriority", "Never"]))
    return errs


def validate_priority_class_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    errs = validate_object_meta_update(new, old)
    if as_int(new.get("value")) != as_int(old.get("value")):
        errs.append(FieldError.forbidden("value", "may not be changed in an update."))
    errs.extend(validate_immutable(new.get("preemptionPolicy"), old.get("preemptionPolicy"),
                                   "preemptionPolicy"))
    return errs


# ---------------------------------------------------------------- horizontal pod autoscalers

_METRIC_TYPES = ["ContainerResource", "External", "Object", "Pods", "Resource"]
_TARGET_TYPES = ["AverageValue", "Utilization", "Value"]


def _validate_target(target: dict[str, Any], path: str) -> Errors:
    errs: Errors = []
    typ = as_str(target.get("type"))
    if not typ:
        errs.append(FieldError.required(child(path, "type"), "must specify a metric target type"))
    elif typ not in _TARGET_TYPES:
        errs.append(FieldError.not_supported(child(path, "type"), typ, _TARGET_TYPES))
    for name in ("value", "averageValue"):
        q = _quantity(target.get(name)) if target.get(name) is not None else None
        if q is not None and q.sign() <= 0:
            errs.append(FieldError.invalid(child(path, name), str(q), "must be positive"))
    util = target.get("averageUtilization")
    if util is not None and as_int(util) < 1:
        errs.append(FieldError.invalid(child(path, "averageUtilization"), util,
                                       "must be greater than 0"))
    return errs


def _validate_metric(metric: dict[str, Any], path: str) -> Errors:
    typ = as_str(metric.get("type"))
    if not typ:
        return [FieldError.required(child(path, "type"), "must specify a metric source type")]
    if typ not in _METRIC_TYPES:
        return [FieldError.not_supported(child(path, "type"), typ, _METRIC_TYPES)]
    member = {"ContainerResource": "containerResource", "External": "external",
              "Object": "object", "Pods": "pods", "Resource": "resource"}[typ]
    errs: Errors = []
    for other in ("containerResource", "external", "object", "pods", "resource"):
        if other != member and metric.get(other) is not None:
            errs.append(FieldError.forbidden(child(path, other),
                                             "must populate the given metric source only"))
    source = metric.get(member)
    if source is None:
        errs.append(FieldError.required(child(path, member),
                                        "must populate information for the given metric source"))
        return errs
    src = as_dict(source)
    sp = child(path, member)
    if member in ("resource", "containerResource"):
        if not as_str(src.get("name")):
            errs.append(FieldError.required(child(sp, "name"), "must specify a resource name"))
        if member == "containerResource" and not as_str(src.get("container")):
            errs.append(FieldError.required(child(sp, "container"),
                                            "must specify a container"))
    else:
        metric_id = as_dict(src.get("metric"))
        if not as_str(metric_id.get("name")):
            errs.append(FieldError.required(child(sp, "metric", "name"), "must specify a metric "
                                            "name"))
    errs.extend(_validate_target(as_dict(src.get("target")), child(sp, "target")))
    return errs


def _validate_scaling_rules(rules: Any, path: str) -> Errors:
    if rules is None:
        return []
    r = as_dict(rules)
    errs: Errors = []
    window = r.get("stabilizationWindowSeconds")
    if window is not None and not 0 <= as_int(window) <= 3600:
        errs.append(FieldError.invalid(child(path, "stabilizationWindowSeconds"), window,
                                       "must be less than or equal to 3600" if as_int(window) > 0
                                       else "must be greater than or equal to zero"))
    policy = r.get("selectPolicy")
    if policy is not None and policy not in ("Disabled", "Max", "Min"):
        errs.append(FieldError.not_supported(child(path, "selectPolicy"), policy,
                                             ["Disabled", "Max", "Min"]))
    policies = as_list(r.get("policies"))
    if not policies and policy != "Disabled":
        errs.append(FieldError.required(child(path, "policies"),
                                        "must specify at least one Policy"))
    for i, pol in enumerate(policies):
        pol = as_dict(pol)
        pp = index(child(path, "policies"), i)
        ptype = pol.get("type")
        if ptype not in ("Pods", "Percent"):
            errs.append(FieldError.not_supported(child(pp, "type"), ptype, ["Percent", "Pods"]))
        if as_int(pol.get("value")) <= 0:
            errs.append(FieldError.invalid(child(pp, "value"), pol.get("value"),
                                           "must be greater than zero"))
        period = as_int(pol.get("periodSeconds"))
        if period <= 0:
            errs.append(FieldError.invalid(child(pp, "periodSeconds"), period,
                                           "must be greater than zero"))
        elif period > 1800:
            errs.append(FieldError.invalid(child(pp, "periodSeconds"), period,
                                           "must be less than or equal to 1800"))
    return errs


def validate_hpa(obj: dict[str, Any]) -> Errors:
    errs = validate_object_meta(obj, True, name_is_dns_subdomain)
    spec = as_dict(obj.get("spec"))
    min_replicas = spec.get("minReplicas")
    max_replicas = as_int(spec.get("maxReplicas"))
    if min_replicas is not None and as_int(min_replicas) < 1:
        errs.append(FieldError.invalid("spec.minReplicas", as_int(min_replicas),
                                       "must be greater than or equal to 1"))
    if max_replicas < 1:
        errs.append(FieldError.invalid("spec.maxReplicas", max_replicas, "must be greater than 0"))
    if min_replicas is not None and max_replicas < as_int(min_replicas):
        errs.append(FieldError.invalid("spec.maxReplicas", max_replicas,
                                       "must be greater than or equal to `minReplicas`"))
    ref = as_dict(spec.get("scaleTargetRef"))
    ref_errs: Errors = []
    for name in ("kind", "name"):
        value = as_str(ref.get(name))
        if not value:
            ref_errs.append(FieldError.required(f"spec.scaleTargetRef.{name}"))
        else:
            ref_errs.extend(FieldError.invalid(f"spec.scaleTargetRef.{name}", value, m)
                            for m in is_path_segment_name(value, False))
    if ref_errs:
        return errs + ref_errs
    for i, metric in enumerate(as_list(spec.get("metrics"))):
        errs.extend(_validate_metric(as_dict(metric), f"spec.metrics[{i}]"))
    behavior = spec.get("behavior")
    if behavior is not None:
        errs.extend(_validate_scaling_rules(as_dict(behavior).get("scaleUp"),
                                            "spec.behavior.scaleUp"))
        errs.extend(_validate_scaling_rules(as_dict(behavior).get("scaleDown"),
                                            "spec.behavior.scaleDown"))
    return errs


def validate_hpa_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    return validate_object_meta_update(new, old) + validate_hpa(new)


# ---------------------------------------------------------------- storage classes

def validate_storage_class(obj: dict[str, Any]) -> Errors:
    errs = validate_object_meta(obj, False, name_is_dns_subdomain)
    provisioner = as_str(obj.get("provisioner"))
    if not provisioner:
        errs.append(FieldError.required("provisioner"))
    elif len(provisioner) > 63:
        errs.append(FieldError(
            "provisioner", "FieldValueTooLong", "may not be more than 63 bytes", "<value omitted>"))
    else:
        errs.extend(FieldError.invalid("provisioner", provisioner, m)
                    for m in is_qualified_name(provisioner.lower()))
    params = as_dict(obj.get("parameters"))
    if len(params) > 512:
        errs.append(FieldError("parameters", "FieldValueTooLong",
                               "may not be more than 512 bytes", "<value omitted>"))
    for k in params:
        if not k:
            errs.append(FieldError.invalid("parameters", params,
                                           "key must not be empty"))
    policy = obj.get("reclaimPolicy")
    if policy is not None and policy not in ("Delete", "Retain"):
        errs.append(FieldError.not_supported("reclaimPolicy", policy, ["Delete", "Retain"]))
    mode = obj.get("volumeBindingMode")
    if mode is None:
        errs.append(FieldError.required("volumeBindingMode"))
    elif mode not in ("Immediate", "WaitForFirstConsumer"):
        errs.append(FieldError.not_supported("volumeBindingMode", mode,
                                             ["Immediate", "WaitForFirstConsumer"]))
    return errs


def validate_storage_class_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    errs = validate_object_meta_update(new, old)
    for name in ("parameters", "provisioner", "reclaimPolicy", "volumeBindingMode"):
        if new.get(name) != old.get(name) and not (
                name == "parameters" and not new.get(name) and not old.get(name)):
            errs.append(FieldError.forbidden(name, "updates to " + name + " are forbidden."))
    return errs
