"""Validation of resource.k8s.io/v1 (dynamic resource allocation): DeviceClass,
ResourceClaim, ResourceClaimTemplate and ResourceSlice, after upstream's
`pkg/apis/resource/validation` (CEL selectors are checked for presence only)."""

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
    is_dns1123_label,
    is_dns1123_subdomain,
    name_is_dns_subdomain,
    validate_immutable,
    validate_object_meta,
    validate_object_meta_update,
)

_ALLOCATION_MODES = ["All", "ExactCount"]
_MAX_REQUESTS = 32
_MAX_SUBREQUESTS = 8


def _validate_selectors(selectors: list[Any], path: str) -> Errors:
    errs: Errors = []
    for i, selector in enumerate(selectors):
        cel = as_dict(selector).get("cel")
        if not isinstance(cel, dict):
            errs.append(FieldError.required(child(index(path, i), "cel")))
        elif not as_str(cel.get("expression")).strip():
            errs.append(FieldError.required(child(index(path, i), "cel", "expression")))
    return errs


def _validate_name(value: str, path: str, check: Any = is_dns1123_label) -> Errors:
    if not value:
        return [FieldError.required(path)]
    return [FieldError.invalid(path, value, m) for m in check(value)]


def _validate_exact(request: dict[str, Any], path: str) -> Errors:
    errs = _validate_name(as_str(request.get("deviceClassName")),
                          child(path, "deviceClassName"), is_dns1123_subdomain)
    errs.extend(_validate_selectors(as_list(request.get("selectors")),
                                    child(path, "selectors")))
    mode = request.get("allocationMode")
    count = request.get("count")
    if mode not in (None, *_ALLOCATION_MODES):
        errs.append(FieldError.not_supported(child(path, "allocationMode"), mode,
                                             _ALLOCATION_MODES))
    elif mode in (None, "ExactCount") and count is not None and as_int(count) <= 0:
        errs.append(FieldError.invalid(child(path, "count"), count,
                                       "must be greater than zero"))
    elif mode == "All" and count is not None and as_int(count) != 0:
        errs.append(FieldError.invalid(child(path, "count"), count,
                                       "must not be specified when allocationMode is 'All'"))
    return errs


def _validate_request(request: dict[str, Any], path: str) -> Errors:
    errs = _validate_name(as_str(request.get("name")), child(path, "name"))
    exactly, first = request.get("exactly"), request.get("firstAvailable")
    if (exactly is None) == (first is None):
        errs.append(FieldError.required(path,
                                        "exactly one of `exactly` or `firstAvailable` is "
                                        "required"))
        return errs
    if isinstance(exactly, dict):
        errs.extend(_validate_exact(exactly, child(path, "exactly")))
        return errs
    subrequests = as_list(first)
    if not subrequests:
        errs.append(FieldError.required(child(path, "firstAvailable")))
    if len(subrequests) > _MAX_SUBREQUESTS:
        errs.append(FieldError(child(path, "firstAvailable"), "FieldValueTooMany",
                               f"must have at most {_MAX_SUBREQUESTS} items",
                               len(subrequests)))
    seen: set[str] = set()
    for i, sub in enumerate(subrequests):
        spath = index(child(path, "firstAvailable"), i)
        name = as_str(as_dict(sub).get("name"))
        errs.extend(_validate_name(name, child(spath, "name")))
        if name in seen:
            errs.append(FieldError.duplicate(child(spath, "name"), name))
        seen.add(name)
        errs.extend(_validate_exact(as_dict(sub), spath))
    return errs


def _validate_claim_spec(spec: dict[str, Any], path: str) -> Errors:
    devices = as_dict(spec.get("devices"))
    dpath = child(path, "devices")
    requests = as_list(devices.get("requests"))
    errs: Errors = []
    if len(requests) > _MAX_REQUESTS:
        errs.append(FieldError(child(dpath, "requests"), "FieldValueTooMany",
                               f"must have at most {_MAX_REQUESTS} items", len(requests)))
    seen: set[str] = set()
    for i, request in enumerate(requests):
        rpath = index(child(dpath, "requests"), i)
        errs.extend(_validate_request(as_dict(request), rpath))
        name = as_str(as_dict(request).get("name"))
        if name and name in seen:
            errs.append(FieldError.duplicate(child(rpath, "name"), name))
        seen.add(name)
    for i, constraint in enumerate(as_list(devices.get("constraints"))):
        for j, name in enumerate(as_list(as_dict(constraint).get("requests"))):
            if as_str(name).split("/", 1)[0] not in seen:
                errs.append(FieldError.invalid(
                    child(index(child(dpath, "constraints"), i), f"requests[{j}]"), name,
                    "must be the name of a request in the claim or the name of a request "
                    "and a subrequest separated by '/'"))
    return errs


def validate_device_class(obj: dict[str, Any]) -> Errors:
    errs = validate_object_meta(obj, False, name_is_dns_subdomain, kube_finalizers=False)
    spec = as_dict(obj.get("spec"))
    errs.extend(_validate_selectors(as_list(spec.get("selectors")), "spec.selectors"))
    return errs


def validate_device_class_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    return validate_object_meta_update(new, old, kube_finalizers=False) + \
        validate_device_class(new)


def validate_resource_claim(obj: dict[str, Any]) -> Errors:
    errs = validate_object_meta(obj, True, name_is_dns_subdomain, kube_finalizers=False)
    return errs + _validate_claim_spec(as_dict(obj.get("spec")), "spec")


def validate_resource_claim_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    errs = validate_object_meta_update(new, old, kube_finalizers=False)
    errs.extend(validate_immutable(new.get("spec"), old.get("spec"), "spec"))
    return errs + validate_resource_claim(new)


def validate_resource_claim_template(obj: dict[str, Any]) -> Errors:
    errs = validate_object_meta(obj, True, name_is_dns_subdomain, kube_finalizers=False)
    return errs + _validate_claim_spec(as_dict(as_dict(obj.get("spec")).get("spec")),
                                       "spec.spec")


def validate_resource_claim_template_update(new: dict[str, Any],
                                            old: dict[str, Any]) -> Errors:
    errs = validate_object_meta_update(new, old, kube_finalizers=False)
    errs.extend(validate_immutable(new.get("spec"), old.get("spec"), "spec"))
    return errs + validate_resource_claim_template(new)


_NODE_FIELDS = ("nodeName", "nodeSelector", "allNodes", "perDeviceNodeSelection")


def validate_resource_slice(obj: dict[str, Any]) -> Errors:
    errs = validate_object_meta(obj, False, name_is_dns_subdomain, kube_finalizers=False)
    spec = as_dict(obj.get("spec"))
    errs.extend(_validate_name(as_str(spec.get("driver")), "spec.driver",
                               is_dns1123_subdomain))
    pool = as_dict(spec.get("pool"))
    if not as_str(pool.get("name")):
        errs.append(FieldError.required("spec.pool.name"))
    if as_int(pool.get("resourceSliceCount")) <= 0:
        errs.append(FieldError.invalid("spec.pool.resourceSliceCount",
                                       pool.get("resourceSliceCount", 0),
                                       "must be greater than zero"))
    if as_int(pool.get("generation")) < 0:
        errs.append(FieldError.invalid("spec.pool.generation", pool.get("generation"),
                                       "must be greater than or equal to zero"))
    chosen = [f for f in _NODE_FIELDS if spec.get(f) not in (None, "", False)]
    if len(chosen) != 1:
        errs.append(FieldError.required("spec", "exactly one of `nodeName`, `nodeSelector`, "
                                                "`allNodes`, `perDeviceNodeSelection` is "
                                                "required"))
    seen: set[str] = set()
    for i, device in enumerate(as_list(spec.get("devices"))):
        path = f"spec.devices[{i}].name"
        name = as_str(as_dict(device).get("name"))
        errs.extend(_validate_name(name, path))
        if name in seen:
            errs.append(FieldError.duplicate(path, name))
        seen.add(name)
    return errs


def validate_resource_slice_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    errs = validate_object_meta_update(new, old, kube_finalizers=False)
    new_spec, old_spec = as_dict(new.get("spec")), as_dict(old.get("spec"))
    errs.extend(validate_immutable(new_spec.get("nodeName"), old_spec.get("nodeName"),
                                   "spec.nodeName"))
    errs.extend(validate_immutable(new_spec.get("driver"), old_spec.get("driver"),
                                   "spec.driver"))
    return errs + validate_resource_slice(new)
