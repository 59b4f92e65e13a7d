"""Validation of the networking.k8s.io kinds of Service IP management: ServiceCIDR and
IPAddress, after upstream's `pkg/apis/networking/validation`."""

from __future__ import annotations

import ipaddress
from typing import Any

from kybernetes.api.errors import FieldError
from kybernetes.api.validation.meta import (
    Errors,
    as_dict,
    as_list,
    as_str,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_path_segment_name,
    is_valid_cidr,
    is_valid_ip,
    name_is_dns_subdomain,
    validate_immutable,
    validate_object_meta,
    validate_object_meta_update,
)


def validate_service_cidr(obj: dict[str, Any]) -> Errors:
    errs = validate_object_meta(obj, False, name_is_dns_subdomain, kube_finalizers=False)
    cidrs = as_list(as_dict(obj.get("spec")).get("cidrs"))
    if not cidrs:
        errs.append(FieldError.required("spec.cidrs", "at least one CIDR required"))
        return errs
    if len(cidrs) > 2:
        errs.append(FieldError.invalid("spec.cidrs", cidrs, "may only hold up to 2 values"))
        return errs
    families: list[int] = []
    for i, cidr in enumerate(cidrs):
        problems = is_valid_cidr(f"spec.cidrs[{i}]", as_str(cidr))
        errs.extend(problems)
        if not problems:
            families.append(ipaddress.ip_network(as_str(cidr)).version)
    if len(families) == 2 and families[0] == families[1]:
        errs.append(FieldError.invalid("spec.cidrs", cidrs,
                                       "may specify no more than one IP for each IP family, "
                                       "i.e 192.168.0.0/24 and 2001:db8::/64"))
    return errs


def validate_service_cidr_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    errs = validate_object_meta_update(new, old, kube_finalizers=False)
    errs.extend(validate_service_cidr(new))
    new_cidrs = as_list(as_dict(new.get("spec")).get("cidrs"))
    old_cidrs = as_list(as_dict(old.get("spec")).get("cidrs"))
    # Upstream allows one change: a single-stack range gaining its other family.
    upgraded = len(old_cidrs) == 1 and len(new_cidrs) == 2 and new_cidrs[0] == old_cidrs[0]
    if not upgraded:
        errs.extend(validate_immutable(new_cidrs, old_cidrs, "spec.cidrs"))
    return errs


def _validate_ip_address_name(name: str, prefix: bool) -> list[str]:
    problems = is_valid_ip("metadata.name", name)
    return [p.detail for p in problems]


def validate_ip_address(obj: dict[str, Any]) -> Errors:
    errs = validate_object_meta(obj, False, _validate_ip_address_name, kube_finalizers=False)
    ref = as_dict(obj.get("spec")).get("parentRef")
    if not isinstance(ref, dict):
        errs.append(FieldError.required("spec.parentRef"))
        return errs
    group = as_str(ref.get("group"))
    if group:
        errs.extend(FieldError.invalid("spec.parentRef.group", group, m)
                    for m in is_dns1123_subdomain(group))
    for name in ("resource", "name"):
        value = as_str(ref.get(name))
        if not value:
            errs.append(FieldError.required(f"spec.parentRef.{name}"))
        else:
            errs.extend(FieldError.invalid(f"spec.parentRef.{name}", value, m)
                        for m in is_path_segment_name(value, False))
    namespace = as_str(ref.get("namespace"))
    if namespace:
        errs.extend(FieldError.invalid("spec.parentRef.namespace", namespace, m)
                    for m in is_dns1123_label(namespace))
    return errs


def validate_ip_address_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    errs = validate_object_meta_update(new, old, kube_finalizers=False)
    errs.extend(validate_ip_address(new))
    errs.extend(validate_immutable(as_dict(new.get("spec")).get("parentRef"),
                                   as_dict(old.get("spec")).get("parentRef"),
                                   "spec.parentRef"))
    return errs
