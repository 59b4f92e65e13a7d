"""Validation of admissionregistration.k8s.io/v1: webhook configurations and validating
admission policies with their bindings, after upstream's
`pkg/apis/admissionregistration/validation` (without CEL compilation: expressions are
checked for presence only)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from kybernetes.api.errors import FieldError
from kybernetes.api.validation.meta import (
    Errors,
    as_dict,
    as_int,
    as_list,
    as_str,
    child,
    index,
    is_dns1123_subdomain,
    is_valid_port_num,
    name_is_dns_subdomain,
    validate_label_selector,
    validate_object_meta,
    validate_object_meta_update,
)

_OPERATIONS = ["*", "CONNECT", "CREATE", "DELETE", "UPDATE"]
_SCOPES = ["*", "Cluster", "Namespaced"]
_FAILURE_POLICIES = ["Fail", "Ignore"]
_MATCH_POLICIES = ["Equivalent", "Exact"]
_SIDE_EFFECTS = ["None", "NoneOnDryRun"]
_REINVOCATION = ["IfNeeded", "Never"]
_REVIEW_VERSIONS = ["v1", "v1beta1"]
_ACTIONS = ["Audit", "Deny", "Warn"]
_REASONS = ["Forbidden", "Invalid", "RequestEntityTooLarge", "Unauthorized"]
_NOT_FOUND_ACTIONS = ["Allow", "Deny"]


def _one_of(value: Any, path: str, supported: list[str]) -> Errors:
    if value is not None and value not in supported:
        return [FieldError.not_supported(path, value, supported)]
    return []


def _validate_rule(rule: dict[str, Any], path: str, *, operations: bool) -> Errors:
    errs: Errors = []
    if operations:
        ops = as_list(rule.get("operations"))
        if not ops:
            errs.append(FieldError.required(child(path, "operations")))
        if len(ops) > 1 and "*" in ops:
            errs.append(FieldError.invalid(child(path, "operations"), ops,
                                           "if '*' is present, must not specify other "
                                           "operations"))
        for i, op in enumerate(ops):
            errs.extend(_one_of(op, index(child(path, "operations"), i), _OPERATIONS))
    for name in ("apiGroups", "apiVersions", "resources"):
        values = as_list(rule.get(name))
        if not values:
            errs.append(FieldError.required(child(path, name)))
        elif len(values) > 1 and "*" in values:
            errs.append(FieldError.invalid(child(path, name), values,
                                           "if '*' is present, must not specify other "
                                           + ("API groups" if name == "apiGroups" else
                                              "API versions" if name == "apiVersions" else
                                              "resources")))
    errs.extend(_one_of(rule.get("scope"), child(path, "scope"), _SCOPES))
    return errs


def _validate_client_config(config: dict[str, Any], path: str) -> Errors:
    url, service = config.get("url"), config.get("service")
    if (url is None) == (service is None):
        return [FieldError.required(path, "exactly one of url or service is required")]
    errs: Errors = []
    if url is not None:
        parts = urlsplit(as_str(url))
        if parts.scheme != "https":
            errs.append(FieldError.invalid(child(path, "url"), url,
                                           "'https' is the only allowed URL scheme"))
        if not parts.hostname:
            errs.append(FieldError.invalid(child(path, "url"), url, "host must be specified"))
        if parts.fragment:
            errs.append(FieldError.invalid(child(path, "url"), url,
                                           "fragments are not permitted"))
        return errs
    svc = as_dict(service)
    if not as_str(svc.get("name")):
        errs.append(FieldError.required(child(path, "service", "name"),
                                        "service name is required"))
    if not as_str(svc.get("namespace")):
        errs.append(FieldError.required(child(path, "service", "namespace"),
                                        "service namespace is required"))
    port = as_int(svc.get("port"), 443)
    problems = is_valid_port_num(port)
    if problems:
        errs.append(FieldError.invalid(child(path, "service", "port"), port,
                                       "port is not valid: " + ", ".join(problems)))
    svc_path = svc.get("path")
    if svc_path is not None and not as_str(svc_path).startswith("/"):
        errs.append(FieldError.invalid(child(path, "service", "path"), svc_path,
                                       "must start with a '/'"))
    return errs


def _validate_webhook(hook: dict[str, Any], path: str, *, mutating: bool) -> Errors:
    errs: Errors = []
    name = as_str(hook.get("name"))
    problems = is_dns1123_subdomain(name)
    if not problems and len(name.split(".")) < 3:
        problems = ["should be a domain with at least three segments separated by dots"]
    errs.extend(FieldError.invalid(child(path, "name"), name, m) for m in problems)
    for i, rule in enumerate(as_list(hook.get("rules"))):
        errs.extend(_validate_rule(as_dict(rule), index(child(path, "rules"), i),
                                   operations=True))
    errs.extend(_one_of(hook.get("failurePolicy"), child(path, "failurePolicy"),
                        _FAILURE_POLICIES))
    errs.extend(_one_of(hook.get("matchPolicy"), child(path, "matchPolicy"), _MATCH_POLICIES))
    side_effects = hook.get("sideEffects")
    if side_effects is None:
        errs.append(FieldError.required(child(path, "sideEffects"),
                                        "must specify one of None, NoneOnDryRun"))
    else:
        errs.extend(_one_of(side_effects, child(path, "sideEffects"), _SIDE_EFFECTS))
    timeout = hook.get("timeoutSeconds")
    if timeout is not None and not 1 <= as_int(timeout) <= 30:
        errs.append(FieldError.invalid(child(path, "timeoutSeconds"), timeout,
                                       "the timeout value must be between 1 and 30 seconds"))
    versions = as_list(hook.get("admissionReviewVersions"))
    if not versions:
        errs.append(FieldError.required(child(path, "admissionReviewVersions"),
                                        "must specify one of v1, v1beta1"))
    elif not any(v in _REVIEW_VERSIONS for v in versions):
        errs.append(FieldError.invalid(child(path, "admissionReviewVersions"), versions,
                                       "must include at least one of v1, v1beta1"))
    if mutating:
        errs.extend(_one_of(hook.get("reinvocationPolicy"), child(path, "reinvocationPolicy"),
                            _REINVOCATION))
    errs.extend(validate_label_selector(hook.get("namespaceSelector"),
                                        child(path, "namespaceSelector")))
    errs.extend(validate_label_selector(hook.get("objectSelector"),
                                        child(path, "objectSelector")))
    errs.extend(_validate_client_config(as_dict(hook.get("clientConfig")),
                                        child(path, "clientConfig")))
    errs.extend(_validate_match_conditions(as_list(hook.get("matchConditions")),
                                           child(path, "matchConditions")))
    return errs


def _validate_match_conditions(conditions: list[Any], path: str) -> Errors:
    errs: Errors = []
    seen: set[str] = set()
    for i, condition in enumerate(conditions):
        cond = as_dict(condition)
        name = as_str(cond.get("name"))
        cpath = index(path, i)
        if not name:
            errs.append(FieldError.required(child(cpath, "name")))
        elif name in seen:
            errs.append(FieldError.duplicate(child(cpath, "name"), name))
        seen.add(name)
        if not as_str(cond.get("expression")):
            errs.append(FieldError.required(child(cpath, "expression")))
    return errs


def _validate_webhooks(obj: dict[str, Any], *, mutating: bool) -> Errors:
    errs = validate_object_meta(obj, False, name_is_dns_subdomain, kube_finalizers=False)
    seen: set[str] = set()
    for i, hook in enumerate(as_list(obj.get("webhooks"))):
        path = f"webhooks[{i}]"
        errs.extend(_validate_webhook(as_dict(hook), path, mutating=mutating))
        name = as_str(as_dict(hook).get("name"))
        if name in seen:
            errs.append(FieldError.duplicate(f"{path}.name", name))
        seen.add(name)
    return errs


def validate_mutating_webhooks(obj: dict[str, Any]) -> Errors:
    return _validate_webhooks(obj, mutating=True)


def validate_validating_webhooks(obj: dict[str, Any]) -> Errors:
    return _validate_webhooks(obj, mutating=False)


def validate_mutating_webhooks_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    return validate_object_meta_update(new, old, kube_finalizers=False) + \
        validate_mutating_webhooks(new)


def validate_validating_webhooks_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    return validate_object_meta_update(new, old, kube_finalizers=False) + \
        validate_validating_webhooks(new)


def validate_policy(obj: dict[str, Any]) -> Errors:
    errs = validate_object_meta(obj, False, name_is_dns_subdomain, kube_finalizers=False)
    spec = as_dict(obj.get("spec"))
    failure = spec.get("failurePolicy")
    errs.extend(_one_of(failure, "spec.failurePolicy", _FAILURE_POLICIES))
    param_kind = spec.get("paramKind")
    if isinstance(param_kind, dict):
        if not as_str(param_kind.get("kind")):
            errs.append(FieldError.required("spec.paramKind.kind"))
        if not as_str(param_kind.get("apiVersion")):
            errs.append(FieldError.required("spec.paramKind.apiVersion"))
    constraints = spec.get("matchConstraints")
    if not isinstance(constraints, dict):
        errs.append(FieldError.required("spec.matchConstraints"))
    else:
        rules = as_list(constraints.get("resourceRules"))
        if not rules:
            errs.append(FieldError.required("spec.matchConstraints.resourceRules"))
        for i, rule in enumerate(rules):
            errs.extend(_validate_rule(as_dict(rule),
                                       f"spec.matchConstraints.resourceRules[{i}]",
                                       operations=True))
        errs.extend(_one_of(constraints.get("matchPolicy"),
                            "spec.matchConstraints.matchPolicy", _MATCH_POLICIES))
    validations = as_list(spec.get("validations"))
    audits = as_list(spec.get("auditAnnotations"))
    if not validations and not audits:
        errs.append(FieldError.required("spec.validations", "validations or auditAnnotations "
                                                            "must contain at least one item"))
    for i, validation in enumerate(validations):
        v = as_dict(validation)
        path = f"spec.validations[{i}]"
        if not as_str(v.get("expression")).strip():
            errs.append(FieldError.required(f"{path}.expression", "expression is not specified"))
        errs.extend(_one_of(v.get("reason"), f"{path}.reason", _REASONS))
    for i, audit in enumerate(audits):
        a = as_dict(audit)
        path = f"spec.auditAnnotations[{i}]"
        if not as_str(a.get("key")):
            errs.append(FieldError.required(f"{path}.key", ""))
        if not as_str(a.get("valueExpression")).strip():
            errs.append(FieldError.required(f"{path}.valueExpression",
                                            "valueExpression is not specified"))
    errs.extend(_validate_match_conditions(as_list(spec.get("matchConditions")),
                                           "spec.matchConditions"))
    return errs


def validate_policy_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    return validate_object_meta_update(new, old, kube_finalizers=False) + validate_policy(new)


def validate_policy_binding(obj: dict[str, Any]) -> Errors:
    errs = validate_object_meta(obj, False, name_is_dns_subdomain, kube_finalizers=False)
    spec = as_dict(obj.get("spec"))
    if not as_str(spec.get("policyName")):
        errs.append(FieldError.required("spec.policyName"))
    actions = as_list(spec.get("validationActions"))
    if not actions:
        errs.append(FieldError.required("spec.validationActions",
                                        "at least one validation action is required"))
    seen: set[str] = set()
    for i, action in enumerate(actions):
        path = f"spec.validationActions[{i}]"
        if action in seen:
            errs.append(FieldError.duplicate(path, action))
        seen.add(as_str(action))
        errs.extend(_one_of(action, path, _ACTIONS))
    if "Deny" in seen and "Warn" in seen:
        errs.append(FieldError.invalid(
            "spec.validationActions", actions,
            "must not contain both Deny and Warn (repeating the same validation failure "
            "information in the API response and headers serves no purpose)"))
    ref = spec.get("paramRef")
    if isinstance(ref, dict):
        if ref.get("name") and ref.get("selector") is not None:
            errs.append(FieldError.forbidden("spec.paramRef.name",
                                             "name and selector are mutually exclusive"))
        if not ref.get("name") and ref.get("selector") is None:
            errs.append(FieldError.required("spec.paramRef",
                                            "one of name or selector must be set"))
        action = ref.get("parameterNotFoundAction")
        if action is None:
            errs.append(FieldError.required("spec.paramRef.parameterNotFoundAction"))
        else:
            errs.extend(_one_of(action, "spec.paramRef.parameterNotFoundAction",
                                _NOT_FOUND_ACTIONS))
    return errs


def validate_policy_binding_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    return validate_object_meta_update(new, old, kube_finalizers=False) + \
        validate_policy_binding(new)
