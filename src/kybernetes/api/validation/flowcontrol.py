"""Validation of flowcontrol.apiserver.k8s.io (FlowSchema, PriorityLevelConfiguration),
after upstream's `pkg/apis/flowcontrol/validation`."""

from __future__ import annotations

from typing import Any

from kybernetes.api.errors import FieldError
from kybernetes.api.validation.meta import (
    Errors,
    as_dict,
    as_int,
    as_list,
    as_str,
    child,
    index,
    name_is_dns_subdomain,
    validate_object_meta,
    validate_object_meta_update,
)

_DISTINGUISHERS = ["ByNamespace", "ByUser"]
_SUBJECT_KINDS = ["Group", "ServiceAccount", "User"]
_LEVEL_TYPES = ["Exempt", "Limited"]
_RESPONSE_TYPES = ["Queue", "Reject"]


def _validate_subject(subject: dict[str, Any], path: str) -> Errors:
    kind = subject.get("kind")
    member = {"User": "user", "Group": "group", "ServiceAccount": "serviceAccount"}.get(
        as_str(kind))
    if member is None:
        return [FieldError.not_supported(child(path, "kind"), kind, _SUBJECT_KINDS)]
    errs: Errors = []
    for other in ("user", "group", "serviceAccount"):
        if other != member and subject.get(other) is not None:
            errs.append(FieldError.forbidden(child(path, other),
                                             f"{other} is forbidden when subject kind is not "
                                             f"'{as_str(kind)}'"))
    body = subject.get(member)
    if not isinstance(body, dict):
        errs.append(FieldError.required(child(path, member),
                                        f"{member} is required when subject kind is "
                                        f"'{as_str(kind)}'"))
        return errs
    if not as_str(body.get("name")):
        errs.append(FieldError.required(child(path, member, "name"),
                                        f"{member} name is required"))
    if member == "serviceAccount" and not as_str(body.get("namespace")):
        errs.append(FieldError.required(child(path, member, "namespace"),
                                        "must specify namespace for service account"))
    return errs


def _validate_resource_rule(rule: dict[str, Any], path: str) -> Errors:
    errs: Errors = []
    if not as_list(rule.get("verbs")):
        errs.append(FieldError.required(child(path, "verbs"),
                                        "verbs must contain at least one value"))
    if not as_list(rule.get("apiGroups")):
        errs.append(FieldError.required(child(path, "apiGroups"),
                                        "resource rules must supply at least one api group"))
    if not as_list(rule.get("resources")):
        errs.append(FieldError.required(child(path, "resources"),
                                        "resource rules must supply at least one resource"))
    if rule.get("clusterScope") is not True and not as_list(rule.get("namespaces")):
        errs.append(FieldError.required(child(path, "namespaces"),
                                        "resource rules that are not cluster scoped must "
                                        "supply at least one namespace"))
    return errs


def _validate_non_resource_rule(rule: dict[str, Any], path: str) -> Errors:
    errs: Errors = []
    if not as_list(rule.get("verbs")):
        errs.append(FieldError.required(child(path, "verbs"),
                                        "verbs must contain at least one value"))
    if not as_list(rule.get("nonResourceURLs")):
        errs.append(FieldError.required(child(path, "nonResourceURLs"),
                                        "nonResourceURLs must contain at least one value"))
    return errs


def _validate_rule(rule: dict[str, Any], path: str) -> Errors:
    errs: Errors = []
    subjects = as_list(rule.get("subjects"))
    if not subjects:
        errs.append(FieldError.required(child(path, "subjects"),
                                        "subjects must contain at least one value"))
    for i, subject in enumerate(subjects):
        errs.extend(_validate_subject(as_dict(subject), index(child(path, "subjects"), i)))
    resource_rules = as_list(rule.get("resourceRules"))
    non_resource_rules = as_list(rule.get("nonResourceRules"))
    if not resource_rules and not non_resource_rules:
        errs.append(FieldError.required(path, "at least one of resourceRules and "
                                              "nonResourceRules has to be non-empty"))
    for i, r in enumerate(resource_rules):
        errs.extend(_validate_resource_rule(as_dict(r), index(child(path, "resourceRules"), i)))
    for i, r in enumerate(non_resource_rules):
        errs.extend(_validate_non_resource_rule(
            as_dict(r), index(child(path, "nonResourceRules"), i)))
    return errs


def validate_flow_schema(obj: dict[str, Any]) -> Errors:
    errs = validate_object_meta(obj, False, name_is_dns_subdomain, kube_finalizers=False)
    spec = as_dict(obj.get("spec"))
    precedence = as_int(spec.get("matchingPrecedence"))
    if precedence <= 0:
        errs.append(FieldError.invalid("spec.matchingPrecedence", precedence,
                                       "must be a positive value"))
    elif precedence > 10000:
        errs.append(FieldError.invalid("spec.matchingPrecedence", precedence,
                                       "must not be greater than 10000"))
    method = spec.get("distinguisherMethod")
    if isinstance(method, dict) and method.get("type") not in _DISTINGUISHERS:
        errs.append(FieldError.not_supported("spec.distinguisherMethod.type",
                                             method.get("type"), _DISTINGUISHERS))
    if not as_str(as_dict(spec.get("priorityLevelConfiguration")).get("name")):
        errs.append(FieldError.required("spec.priorityLevelConfiguration.name",
                                        "must reference a priority level"))
    for i, rule in enumerate(as_list(spec.get("rules"))):
        errs.extend(_validate_rule(as_dict(rule), f"spec.rules[{i}]"))
    return errs


def validate_flow_schema_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    return validate_object_meta_update(new, old, kube_finalizers=False) + \
        validate_flow_schema(new)


def _validate_percent(value: Any, path: str, detail: str) -> Errors:
    if value is not None and not 0 <= as_int(value) <= 100:
        return [FieldError.invalid(path, value, detail)]
    return []


def _validate_limited(limited: dict[str, Any], path: str) -> Errors:
    errs: Errors = []
    shares = limited.get("nominalConcurrencyShares")
    if shares is not None and as_int(shares) < 0:
        errs.append(FieldError.invalid(child(path, "nominalConcurrencyShares"), shares,
                                       "must be a non-negative integer"))
    errs.extend(_validate_percent(limited.get("lendablePercent"),
                                  child(path, "lendablePercent"),
                                  "must be between 0 and 100, inclusive"))
    borrowing = limited.get("borrowingLimitPercent")
    if borrowing is not None and as_int(borrowing) < 0:
        errs.append(FieldError.invalid(child(path, "borrowingLimitPercent"), borrowing,
                                       "if specified, must be a non-negative integer"))
    response = as_dict(limited.get("limitResponse"))
    rpath = child(path, "limitResponse")
    kind = response.get("type")
    queuing = response.get("queuing")
    if kind not in _RESPONSE_TYPES:
        errs.append(FieldError.not_supported(child(rpath, "type"), kind, _RESPONSE_TYPES))
    elif kind == "Reject" and queuing is not None:
        errs.append(FieldError.forbidden(child(rpath, "queuing"),
                                         "must be nil if limited.limitResponse.type is not "
                                         "Limited"))
    elif kind == "Queue":
        if not isinstance(queuing, dict):
            errs.append(FieldError.required(child(rpath, "queuing"),
                                            "must not be empty if the type is Queue"))
        else:
            errs.extend(_validate_queuing(queuing, child(rpath, "queuing")))
    return errs


def _validate_queuing(queuing: dict[str, Any], path: str) -> Errors:
    errs: Errors = []
    for name in ("queueLengthLimit", "queues", "handSize"):
        value = as_int(queuing.get(name))
        if value <= 0:
            errs.append(FieldError.invalid(child(path, name), value, "must be positive"))
    queues, hand_size = as_int(queuing.get("queues")), as_int(queuing.get("handSize"))
    if queues > 0 and hand_size > queues:
        errs.append(FieldError.invalid(child(path, "handSize"), hand_size,
                                       f"should not be greater than queues ({queues})"))
    return errs


def validate_priority_level(obj: dict[str, Any]) -> Errors:
    errs = validate_object_meta(obj, False, name_is_dns_subdomain, kube_finalizers=False)
    spec = as_dict(obj.get("spec"))
    kind = spec.get("type")
    if not kind:
        errs.append(FieldError.required("spec.type", "must specify a type"))
        return errs
    if kind not in _LEVEL_TYPES:
        errs.append(FieldError.not_supported("spec.type", kind, _LEVEL_TYPES))
        return errs
    if kind == "Exempt":
        if spec.get("limited") is not None:
            errs.append(FieldError.forbidden("spec.limited",
                                             "must be nil if the type is not Limited"))
        exempt = as_dict(spec.get("exempt"))
        shares = exempt.get("nominalConcurrencyShares")
        if shares is not None and as_int(shares) < 0:
            errs.append(FieldError.invalid("spec.exempt.nominalConcurrencyShares", shares,
                                           "must be a non-negative integer"))
        errs.extend(_validate_percent(exempt.get("lendablePercent"),
                                      "spec.exempt.lendablePercent",
                                      "must be between 0 and 100, inclusive"))
        return errs
    if spec.get("exempt") is not None:
        errs.append(FieldError.forbidden("spec.exempt", "must be nil if the type is Limited"))
    limited = spec.get("limited")
    if not isinstance(limited, dict):
        errs.append(FieldError.required("spec.limited",
                                        "must not be empty when type is Limited"))
    else:
        errs.extend(_validate_limited(limited, "spec.limited"))
    return errs


def validate_priority_level_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    return validate_object_meta_update(new, old, kube_finalizers=False) + \
        validate_priority_level(new)
