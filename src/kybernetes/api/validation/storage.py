"""Validation of storage.k8s.io's CSI kinds (CSIDriver, CSINode, VolumeAttachment,
CSIStorageCapacity) and VolumeAttributesClass, after upstream's
`pkg/apis/storage/validation` (StorageClass is in `misc`)."""

from __future__ import annotations

from typing import Any

from kybernetes.api.errors import FieldError
from kybernetes.api.validation.meta import (
    Errors,
    as_dict,
    as_int,
    as_list,
    as_str,
    is_dns1123_subdomain,
    name_is_dns_subdomain,
    parse_quantity_field,
    validate_immutable,
    validate_label_selector,
    validate_object_meta,
    validate_object_meta_update,
)

_CSI_DRIVER_NAME_MAX = 63
_PARAMETERS_MAX_BYTES = 256 * 1024


def _non_negative(value: Any, path: str) -> Errors:
    if value is None:
        return []
    quantity = parse_quantity_field(value)
    if quantity is not None and quantity.sign() < 0:
        return [FieldError.invalid(path, value, "must be greater than or equal to 0")]
    return []


def validate_csi_storage_capacity(obj: dict[str, Any]) -> Errors:
    errs = validate_object_meta(obj, True, name_is_dns_subdomain, kube_finalizers=False)
    errs.extend(validate_label_selector(obj.get("nodeTopology"), "nodeTopology"))
    name = as_str(obj.get("storageClassName"))
    errs.extend(FieldError.invalid("storageClassName", name, m)
                for m in is_dns1123_subdomain(name))
    errs.extend(_non_negative(obj.get("capacity"), "capacity"))
    errs.extend(_non_negative(obj.get("maximumVolumeSize"), "maximumVolumeSize"))
    return errs


def validate_csi_storage_capacity_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    errs = validate_object_meta_update(new, old, kube_finalizers=False)
    errs.extend(validate_csi_storage_capacity(new))
    errs.extend(validate_immutable(new.get("nodeTopology"), old.get("nodeTopology"),
                                   "nodeTopology"))
    errs.extend(validate_immutable(new.get("storageClassName"), old.get("storageClassName"),
                                   "storageClassName"))
    return errs


def _validate_csi_driver_name(name: str, path: str) -> Errors:
    if not name:
        return [FieldError.required(path)]
    if len(name) > _CSI_DRIVER_NAME_MAX:
        return [FieldError.too_long(path, name, _CSI_DRIVER_NAME_MAX)]
    return [FieldError.invalid(path, name, m) for m in is_dns1123_subdomain(name.lower())]


def validate_volume_attributes_class(obj: dict[str, Any]) -> Errors:
    errs = validate_object_meta(obj, False, name_is_dns_subdomain, kube_finalizers=False)
    errs.extend(_validate_csi_driver_name(as_str(obj.get("driverName")), "driverName"))
    parameters = as_dict(obj.get("parameters"))
    size = 0
    for key, value in parameters.items():
        if not key:
            errs.append(FieldError.invalid("parameters", key,
                                           "key cannot be empty"))
        size += len(key) + len(as_str(value))
    if size > _PARAMETERS_MAX_BYTES:
        errs.append(FieldError.too_long("parameters", "", _PARAMETERS_MAX_BYTES))
    return errs


def validate_volume_attributes_class_update(new: dict[str, Any],
                                            old: dict[str, Any]) -> Errors:
    errs = validate_object_meta_update(new, old, kube_finalizers=False)
    errs.extend(validate_volume_attributes_class(new))
    errs.extend(validate_immutable(new.get("driverName"), old.get("driverName"), "driverName"))
    errs.extend(validate_immutable(new.get("parameters"), old.get("parameters"), "parameters"))
    return errs


_FS_GROUP_POLICIES = ["File", "None", "ReadWriteOnceWithFSType"]
_LIFECYCLE_MODES = ["Ephemeral", "Persistent"]
_MIN_TOKEN_SECONDS = 600
_MAX_NODE_ID = 192


def _csi_driver_name_fn(name: str, prefix: bool) -> list[str]:
    return [e.detail for e in _validate_csi_driver_name(name, "metadata.name")]


def validate_csi_driver(obj: dict[str, Any]) -> Errors:
    errs = validate_object_meta(obj, False, _csi_driver_name_fn, kube_finalizers=False)
    spec = as_dict(obj.get("spec"))
    for name in ("attachRequired", "podInfoOnMount", "storageCapacity", "requiresRepublish"):
        if spec.get(name) is None:
            errs.append(FieldError.required(f"spec.{name}"))
    policy = spec.get("fsGroupPolicy")
    if policy is not None and policy not in _FS_GROUP_POLICIES:
        errs.append(FieldError.not_supported("spec.fsGroupPolicy", policy, _FS_GROUP_POLICIES))
    for i, mode in enumerate(as_list(spec.get("volumeLifecycleModes"))):
        if mode not in _LIFECYCLE_MODES:
            errs.append(FieldError.not_supported(f"spec.volumeLifecycleModes[{i}]", mode,
                                                 _LIFECYCLE_MODES))
    audiences: set[str] = set()
    for i, request in enumerate(as_list(spec.get("tokenRequests"))):
        path = f"spec.tokenRequests[{i}]"
        audience = as_str(as_dict(request).get("audience"))
        if audience in audiences:
            errs.append(FieldError.duplicate(f"{path}.audience", audience))
        audiences.add(audience)
        seconds = as_dict(request).get("expirationSeconds")
        if seconds is not None and as_int(seconds) < _MIN_TOKEN_SECONDS:
            errs.append(FieldError.invalid(f"{path}.expirationSeconds", seconds,
                                           "may not specify a duration less than 10 minutes"))
        elif seconds is not None and as_int(seconds) > 1 << 32:
            errs.append(FieldError.invalid(f"{path}.expirationSeconds", seconds,
                                           "may not specify a duration larger than 2^32 "
                                           "seconds"))
    period = spec.get("nodeAllocatableUpdatePeriodSeconds")
    if period is not None and as_int(period) < 10:
        errs.append(FieldError.invalid("spec.nodeAllocatableUpdatePeriodSeconds", period,
                                       "must be greater than or equal to 10 seconds"))
    return errs


def validate_csi_driver_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    errs = validate_object_meta_update(new, old, kube_finalizers=False)
    errs.extend(validate_csi_driver(new))
    new_spec, old_spec = as_dict(new.get("spec")), as_dict(old.get("spec"))
    for name in ("attachRequired", "volumeLifecycleModes"):
        errs.extend(validate_immutable(new_spec.get(name), old_spec.get(name), f"spec.{name}"))
    return errs


def validate_csi_node(obj: dict[str, Any]) -> Errors:
    errs = validate_object_meta(obj, False, name_is_dns_subdomain, kube_finalizers=False)
    seen: set[str] = set()
    for i, driver in enumerate(as_list(as_dict(obj.get("spec")).get("drivers"))):
        path = f"spec.drivers[{i}]"
        d = as_dict(driver)
        name = as_str(d.get("name"))
        errs.extend(_validate_csi_driver_name(name, f"{path}.name"))
        if name in seen:
            errs.append(FieldError.duplicate(f"{path}.name", name))
        seen.add(name)
        node_id = as_str(d.get("nodeID"))
        if not node_id:
            errs.append(FieldError.required(f"{path}.nodeID", node_id))
        elif len(node_id) > _MAX_NODE_ID:
            errs.append(FieldError.invalid(f"{path}.nodeID", node_id,
                                           f"must be {_MAX_NODE_ID} characters or less"))
        count = as_dict(d.get("allocatable")).get("count")
        if count is not None and as_int(count) < 0:
            errs.append(FieldError.invalid(f"{path}.allocatable.count", count,
                                           "must be greater than or equal to 0"))
    return errs


def validate_csi_node_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    return validate_object_meta_update(new, old, kube_finalizers=False) + \
        validate_csi_node(new)


def validate_volume_attachment(obj: dict[str, Any]) -> Errors:
    errs = validate_object_meta(obj, False, name_is_dns_subdomain, kube_finalizers=False)
    spec = as_dict(obj.get("spec"))
    errs.extend(_validate_csi_driver_name(as_str(spec.get("attacher")), "spec.attacher"))
    if not as_str(spec.get("nodeName")):
        errs.append(FieldError.required("spec.nodeName"))
    source = as_dict(spec.get("source"))
    named, inline = source.get("persistentVolumeName"), source.get("inlineVolumeSpec")
    if (named is None) == (inline is None):
        errs.append(FieldError.required("spec.source", "must specify exactly one of "
                                                       "inlineVolumeSpec and "
                                                       "persistentVolumeName"))
    elif named is not None:
        errs.extend(FieldError.invalid("spec.source.persistentVolumeName", named, m)
                    for m in is_dns1123_subdomain(as_str(named)))
    return errs


def validate_volume_attachment_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    errs = validate_object_meta_update(new, old, kube_finalizers=False)
    errs.extend(validate_immutable(new.get("spec"), old.get("spec"), "spec"))
    return errs + validate_volume_attachment(new)
