"""Validation of node.k8s.io (RuntimeClass), after upstream's
`pkg/apis/node/validation`."""

from __future__ import annotations

from typing import Any

from kybernetes.api.errors import FieldError
from kybernetes.api.validation.core import _validate_tolerations
from kybernetes.api.validation.meta import (
    Errors,
    as_dict,
    as_list,
    as_str,
    is_dns1123_label,
    name_is_dns_subdomain,
    parse_quantity_field,
    validate_immutable,
    validate_labels,
    validate_object_meta,
    validate_object_meta_update,
)


def validate_runtime_class(obj: dict[str, Any]) -> Errors:
    errs = validate_object_meta(obj, False, name_is_dns_subdomain, kube_finalizers=False)
    handler = as_str(obj.get("handler"))
    errs.extend(FieldError.invalid("handler", handler, m) for m in is_dns1123_label(handler))
    pod_fixed = as_dict(as_dict(obj.get("overhead")).get("podFixed"))
    for name, value in pod_fixed.items():
        quantity = parse_quantity_field(value)
        if quantity is not None and quantity.sign() < 0:
            errs.append(FieldError.invalid(f"overhead.podFixed[{name}]", value,
                                           "must be greater than or equal to 0"))
    scheduling = as_dict(obj.get("scheduling"))
    errs.extend(validate_labels(scheduling.get("nodeSelector"), "scheduling.nodeSelector"))
    errs.extend(_validate_tolerations(as_list(scheduling.get("tolerations")),
                                      "scheduling.tolerations"))
    return errs


def validate_runtime_class_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    errs = validate_object_meta_update(new, old, kube_finalizers=False)
    errs.extend(validate_immutable(new.get("handler"), old.get("handler"), "handler"))
    return errs + validate_runtime_class(new)
