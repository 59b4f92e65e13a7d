"""Validation of apiregistration.k8s.io (APIService), after kube-aggregator's
`pkg/apis/apiregistration/validation`."""

from __future__ import annotations

from typing import Any

from kybernetes.api.errors import FieldError
from kybernetes.api.validation.meta import (
    Errors,
    as_dict,
    as_int,
    as_list,
    as_str,
    is_dns1035_label,
    is_dns1123_subdomain,
    is_path_segment_name,
    is_valid_port_num,
    validate_object_meta,
    validate_object_meta_update,
)

_CONDITION_STATUSES = ["True", "False", "Unknown"]


def validate_api_service(obj: dict[str, Any]) -> Errors:
    spec = as_dict(obj.get("spec"))
    group, version = as_str(spec.get("group")), as_str(spec.get("version"))
    required = f"{version}.{group}"

    def name_fn(name: str, prefix: bool) -> list[str]:
        minimal = is_path_segment_name(name, prefix)
        if minimal:
            return minimal
        return [] if name == required else [
            f'must be `spec.version+"."+spec.group`: "{required}"']

    errs = validate_object_meta(obj, False, name_fn, kube_finalizers=False)
    if not group and version != "v1":
        errs.append(FieldError.required(
            "spec.group", "only v1 may have an empty group and it better be legacy kube"))
    if group:
        errs.extend(FieldError.invalid("spec.group", group, m)
                    for m in is_dns1123_subdomain(group))
    errs.extend(FieldError.invalid("spec.version", version, m)
                for m in is_dns1035_label(version))
    group_min = as_int(spec.get("groupPriorityMinimum"))
    if group_min <= 0 or group_min > 20000:
        errs.append(FieldError.invalid("spec.groupPriorityMinimum", group_min,
                                       "must be positive and less than 20000"))
    version_priority = as_int(spec.get("versionPriority"))
    if version_priority <= 0 or version_priority > 1000:
        errs.append(FieldError.invalid("spec.versionPriority", version_priority,
                                       "must be positive and less than 1000"))
    ca_bundle = as_str(spec.get("caBundle"))
    skip_verify = spec.get("insecureSkipTLSVerify") is True
    service = spec.get("service")
    if not isinstance(service, dict):
        if ca_bundle:
            errs.append(FieldError.invalid("spec.caBundle", f"{len(ca_bundle) * 3 // 4} bytes",
                                           "local APIServices may not have a caBundle"))
        if skip_verify:
            errs.append(FieldError.invalid("spec.insecureSkipTLSVerify", True,
                                           "local APIServices may not have "
                                           "insecureSkipTLSVerify"))
        return errs
    if not as_str(service.get("namespace")):
        errs.append(FieldError.required("spec.service.namespace"))
    if not as_str(service.get("name")):
        errs.append(FieldError.required("spec.service.name"))
    port = as_int(service.get("port"), 443)
    problems = is_valid_port_num(port)
    if problems:
        errs.append(FieldError.invalid("spec.service.port", port,
                                       "port is not valid: " + ", ".join(problems)))
    if skip_verify and ca_bundle:
        errs.append(FieldError.invalid("spec.insecureSkipTLSVerify", True,
                                       "may not be true if caBundle is present"))
    return errs


def validate_api_service_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    errs = validate_object_meta_update(new, old, kube_finalizers=False)
    errs.extend(validate_api_service(new))
    for i, condition in enumerate(as_list(as_dict(new.get("status")).get("conditions"))):
        status = as_dict(condition).get("status")
        if status not in _CONDITION_STATUSES:
            errs.append(FieldError.not_supported(f"status.conditions[{i}].status", status,
                                                 _CONDITION_STATUSES))
    return errs
