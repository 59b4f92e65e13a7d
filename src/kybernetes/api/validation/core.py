"""Validation of core/v1 kinds, ported from upstream `pkg/apis/core/validation/validation.go`.

Covers pods and pod templates (containers, ports, env, volumes and mounts, probes,
resources, security context basics, affinity, tolerations, DNS), services, config maps,
secrets, namespaces, nodes, service accounts, events, persistent volumes and claims,
limit ranges, resource quotas, replication controllers and endpoints. Objects are the
decoded JSON after defaulting, exactly as upstream validates after `SetDefaults_*`.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from kybernetes.api.errors import FieldError
from kybernetes.api.quantity import Quantity, QuantityError
from kybernetes.api.validation.meta import (
    FIELD_IMMUTABLE,
    Errors,
    as_dict,
    as_int,
    as_list,
    as_str,
    child,
    diff,
    get,
    inclusive_range_error,
    index,
    internal,
    is_config_map_key,
    is_dns1123_subdomain,
    is_empty,
    is_env_var_name,
    is_http_header_name,
    is_ipv6,
    is_qualified_name,
    is_relaxed_env_var_name,
    is_valid_cidr,
    is_valid_ip,
    is_valid_label_value,
    is_valid_port_name,
    is_valid_port_num,
    key,
    name_is_dns1035_label,
    name_is_dns_label,
    name_is_dns_subdomain,
    not_found,
    semantic_equal,
    too_long,
    validate_annotations,
    validate_dns1123_label,
    validate_dns1123_subdomain,
    validate_immutable,
    validate_kube_finalizer_name,
    validate_label_name,
    validate_label_selector,
    validate_labels,
    validate_nonnegative,
    validate_object_meta,
    validate_object_meta_update,
    validate_qualified_name,
)

MAX_SECRET_SIZE = 1 * 1024 * 1024
MAX_INT32 = 2**31 - 1
FILE_MODE_ERROR = "must be a number between 0 and 0777 (octal), both inclusive"
IS_NOT_INTEGER = "must be an integer"
IS_NOT_POSITIVE = "must be greater than zero"
NODE_PORT_RANGE = (30000, 32767)

SUPPORTED_PORT_PROTOCOLS = ["SCTP", "TCP", "UDP"]
_PULL_POLICIES = ["Always", "IfNotPresent", "Never"]

# Feature-gate dependent behaviour, at the defaults of Kubernetes 1.35.
RELAXED_ENV_VAR_NAMES = True
RELAXED_DNS_SEARCH = True
SLEEP_ACTION_ALLOW_ZERO = True
POD_LEVEL_RESOURCES = True


def _q(value: Any) -> Quantity | None:
    try:
        return Quantity.parse(value)
    except QuantityError:
        return None


# ======================================================================= names and paths

def _validate_local_descending_path(target: str, path: str) -> Errors:
    errs: Errors = []
    if target.startswith("/"):
        errs.append(FieldError.invalid(path, target, "must be a relative path"))
    errs.extend(_validate_path_no_backsteps(target, path))
    return errs


def _validate_path_no_backsteps(target: str, path: str) -> Errors:
    if ".." in target.replace("\\", "/").split("/"):
        return [FieldError.invalid(path, target, "must not contain '..'")]
    return []


def _validate_local_non_reserved_path(target: str, path: str) -> Errors:
    errs = _validate_local_descending_path(target, path)
    if target.startswith("..") and not target.startswith("../"):
        errs.append(FieldError.invalid(path, target, "must not start with '..'"))
    return errs


# ======================================================================= resources

_STANDARD_CONTAINER_RESOURCES = frozenset({"cpu", "memory", "ephemeral-storage"})
_STANDARD_RESOURCES = frozenset({
    "cpu", "memory", "ephemeral-storage", "requests.cpu", "requests.memory",
    "requests.ephemeral-storage", "limits.cpu", "limits.memory", "limits.ephemeral-storage",
    "pods", "resourcequotas", "services", "replicationcontrollers", "secrets", "configmaps",
    "persistentvolumeclaims", "storage", "requests.storage", "services.nodeports",
    "services.loadbalancers"})
_STANDARD_QUOTA_RESOURCES = frozenset({
    "cpu", "memory", "ephemeral-storage", "requests.cpu", "requests.memory", "requests.storage",
    "requests.ephemeral-storage", "limits.cpu", "limits.memory", "limits.ephemeral-storage",
    "pods", "resourcequotas", "services", "replicationcontrollers", "secrets",
    "persistentvolumeclaims", "configmaps", "services.nodeports", "services.loadbalancers"})
_INTEGER_RESOURCES = frozenset({
    "pods", "resourcequotas", "services", "replicationcontrollers", "secrets", "configmaps",
    "persistentvolumeclaims", "services.nodeports", "services.loadbalancers"})


def is_hugepage_resource(name: str) -> bool:
    return name.startswith("hugepages-")


def _is_quota_hugepage(name: str) -> bool:
    return name.startswith("hugepages-") or name.startswith("requests.hugepages-")


def is_native_resource(name: str) -> bool:
    return "/" not in name or "kubernetes.io/" in name


def is_extended_resource(name: str) -> bool:
    if is_native_resource(name) or name.startswith("requests."):
        return False
    return not is_qualified_name("requests." + name)


def is_overcommit_allowed(name: str) -> bool:
    return is_native_resource(name) and not is_hugepage_resource(name)


def _is_integer_resource(name: str) -> bool:
    return name in _INTEGER_RESOURCES or is_extended_resource(name)


def _validate_resource_name(value: str, path: str) -> Errors:
    errs = [FieldError.invalid(path, value, m) for m in is_qualified_name(value)]
    if errs:
        return errs
    if "/" not in value and value not in _STANDARD_RESOURCES and not _is_quota_hugepage(value):
        return [FieldError.invalid(path, value,
                                   "must be a standard resource type or fully qualified")]
    return []


def _validate_container_resource_name(value: str, path: str) -> Errors:
    errs = _validate_resource_name(value, path)
    if "/" not in value:
        if value not in _STANDARD_CONTAINER_RESOURCES and not is_hugepage_resource(value):
            return [*errs, FieldError.invalid(path, value,
                                              "must be a standard resource for containers")]
    elif not is_native_resource(value) and not is_extended_resource(value):
        return [*errs, FieldError.invalid(path, value,
                                          "doesn't follow extended resource name standard")]
    return errs


def _validate_pod_resource_name(value: str, path: str) -> Errors:
    errs = _validate_container_resource_name(value, path)
    if errs:
        return errs
    if value not in ("cpu", "memory") and not is_hugepage_resource(value):
        return [FieldError.not_supported(path, value, ["cpu", "hugepages-", "memory"])]
    return []


def _validate_quota_resource_name(value: str, path: str) -> Errors:
    errs = _validate_resource_name(value, path)
    if "/" not in value and value not in _STANDARD_QUOTA_RESOURCES and \
            not _is_quota_hugepage(value):
        return [*errs, FieldError.invalid(path, value, "must be a standard resource for quota")]
    return errs


def validate_resource_quantity_value(resource: str, value: Any, path: str) -> Errors:
    q = _q(value)
    if q is None:
        return [FieldError.invalid(path, value, str(_quantity_error(value)))]
    errs: Errors = []
    if q.sign() < 0:
        errs.append(FieldError.invalid(path, str(q), "must be greater than or equal to 0"))
    if _is_integer_resource(resource) and q.milli_value() % 1000 != 0:
        errs.append(FieldError.invalid(path, str(q), IS_NOT_INTEGER))
    return errs


def _quantity_error(value: Any) -> str:
    try:
        Quantity.parse(value)
    except QuantityError as e:
        return str(e)
    return ""


def _hugepage_error(name: str, q: Quantity) -> str | None:
    page = _q(name[len("hugepages-"):])
    if page is None or page.sign() <= 0 or page.milli_value() % 1000 != 0 or \
            q.int_value() % page.int_value() != 0:
        return f"{q} is not positive integer multiple of {name}"
    return None


def _validate_resource_requirements(req: dict[str, Any], path: str, name_fn: Any,
                                    claim_names: set[str]) -> Errors:
    errs: Errors = []
    lim_path, req_path = child(path, "limits"), child(path, "requests")
    limits, requests = as_dict(req.get("limits")), as_dict(req.get("requests"))
    lim_cpu_mem = req_cpu_mem = lim_huge = req_huge = False
    for name, value in limits.items():
        p = key(lim_path, name)
        errs.extend(name_fn(name, p))
        errs.extend(validate_resource_quantity_value(name, value, p))
        q = _q(value)
        if is_hugepage_resource(name):
            lim_huge = True
            if q is not None and (msg := _hugepage_error(name, q)):
                errs.append(FieldError.invalid(p, str(q), msg))
        if name in ("cpu", "memory"):
            lim_cpu_mem = True
    for name, value in requests.items():
        p = key(req_path, name)
        errs.extend(name_fn(name, p))
        errs.extend(validate_resource_quantity_value(name, value, p))
        q = _q(value)
        if name in limits:
            lim = _q(limits[name])
            if q is not None and lim is not None:
                if q != lim and not is_overcommit_allowed(name):
                    errs.append(FieldError.invalid(
                        req_path, str(q), f"must be equal to {name} limit of {lim}"))
                elif q > lim:
                    errs.append(FieldError.invalid(
                        req_path, str(q), f"must be less than or equal to {name} limit of {lim}"))
        elif not is_overcommit_allowed(name):
            errs.append(FieldError.required(lim_path,
                                            "Limit must be set for non overcommitable resources"))
        if is_hugepage_resource(name):
            req_huge = True
            if q is not None and (msg := _hugepage_error(name, q)):
                errs.append(FieldError.invalid(p, str(q), msg))
        if name in ("cpu", "memory"):
            req_cpu_mem = True
    if not lim_cpu_mem and not req_cpu_mem and (req_huge or lim_huge):
        errs.append(FieldError.forbidden(path, "HugePages require cpu or memory"))
    errs.extend(_validate_resource_claim_names(as_list(req.get("claims")), claim_names,
                                               child(path, "claims")))
    return errs


def _validate_resource_claim_names(claims: list[Any], pod_claims: set[str], path: str) -> Errors:
    errs: Errors = []
    names: set[str] = set()
    for i, claim in enumerate(claims):
        claim = as_dict(claim)
        name = as_str(claim.get("name"))
        p = index(path, i)
        if not name:
            errs.append(FieldError.required(p))
            continue
        request = as_str(claim.get("request"))
        if name in names:
            errs.append(FieldError.duplicate(p, name))
        else:
            k = name
            if request:
                errs.extend(validate_dns1123_label(request, child(p, "request")))
                k += "/" + request
            if k in names:
                errs.append(FieldError.duplicate(p, k))
            elif not request:
                for existing in names:
                    if "/" in existing and existing.split("/", 1)[0] == name:
                        errs.append(FieldError.duplicate(p, name))
            names.add(k)
        if name not in pod_claims:
            detail = "must be one of the names in pod.spec.resourceClaims"
            detail += (": " + ", ".join(sorted(pod_claims))) if pod_claims else " which is empty"
            errs.append(not_found(p, name, detail))
    return errs


def validate_container_resources(req: Any, path: str,
                                 claim_names: set[str] | None = None) -> Errors:
    return _validate_resource_requirements(as_dict(req), path,
                                           _validate_container_resource_name, claim_names or set())


# ======================================================================= volumes

_VOLUME_SOURCES = (
    ("emptyDir", "emptyDir"), ("hostPath", "hostPath"), ("gitRepo", "gitRepo"),
    ("gcePersistentDisk", "gcePersistentDisk"), ("awsElasticBlockStore", "awsElasticBlockStore"),
    ("secret", "secret"), ("nfs", "nfs"), ("iscsi", "iscsi"), ("glusterfs", "glusterfs"),
    ("flocker", "flocker"), ("persistentVolumeClaim", "persistentVolumeClaim"), ("rbd", "rbd"),
    ("cinder", "cinder"), ("cephfs", "cephFS"), ("quobyte", "quobyte"),
    ("downwardAPI", "downwarAPI"), ("fc", "fc"), ("flexVolume", "flexVolume"),
    ("configMap", "configMap"), ("azureFile", "azureFile"), ("vsphereVolume", "vsphereVolume"),
    ("photonPersistentDisk", "photonPersistentDisk"), ("portworxVolume", "portworxVolume"),
    ("azureDisk", "azureDisk"), ("storageos", "storageos"), ("projected", "projected"),
    ("scaleIO", "scaleIO"), ("csi", "csi"), ("ephemeral", "ephemeral"), ("image", "image"),
)
_HOST_PATH_TYPES = ["", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File",
                    "FileOrCreate", "Socket"]
_ENV_FIELD_PATHS = ["metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName",
                    "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP",
                    "status.podIPs"]
_VOLUME_FIELD_PATHS = ["metadata.annotations", "metadata.labels", "metadata.name",
                       "metadata.namespace", "metadata.uid"]
_RESOURCE_FIELD_PATHS = ["limits.cpu", "limits.ephemeral-storage", "limits.memory",
                         "requests.cpu", "requests.ephemeral-storage", "requests.memory"]


def _file_mode(value: Any, path: str) -> Errors:
    if value is not None and isinstance(value, int) and not 0 <= value <= 0o777:
        return [FieldError.invalid(path, value, FILE_MODE_ERROR)]
    return []


def _validate_key_to_path(kp: dict[str, Any], path: str) -> Errors:
    errs: Errors = []
    if not as_str(kp.get("key")):
        errs.append(FieldError.required(child(path, "key")))
    if not as_str(kp.get("path")):
        errs.append(FieldError.required(child(path, "path")))
    errs.extend(_validate_local_non_reserved_path(as_str(kp.get("path")), child(path, "path")))
    errs.extend(_file_mode(kp.get("mode"), child(path, "mode")))
    return errs


def _validate_object_field_selector(fs: dict[str, Any], allowed: list[str], path: str) -> Errors:
    if not as_str(fs.get("apiVersion")):
        return [FieldError.required(child(path, "apiVersion"))]
    field_path = as_str(fs.get("fieldPath"))
    if not field_path:
        return [FieldError.required(child(path, "fieldPath"))]
    if fs.get("apiVersion") != "v1":
        return [FieldError.invalid(child(path, "fieldPath"), field_path,
                                   f'error converting fieldPath: field label not supported: '
                                   f'{field_path}')]
    if field_path.endswith("]") and "[" in field_path:
        base, _, sub = field_path[:-1].partition("[")
        sub = sub.strip("'\"")
        if base == "metadata.annotations":
            return validate_qualified_name(sub.lower(), path)
        if base == "metadata.labels":
            return validate_qualified_name(sub, path)
        return [FieldError.invalid(path, base, "does not support subscript")]
    if field_path not in allowed:
        return [FieldError.not_supported(child(path, "fieldPath"), field_path, allowed)]
    return []


def _validate_resource_field_selector(fs: dict[str, Any], path: str, volume: bool) -> Errors:
    errs: Errors = []
    resource = as_str(fs.get("resource"))
    if volume and not as_str(fs.get("containerName")):
        errs.append(FieldError.required(child(path, "containerName")))
    elif not resource:
        errs.append(FieldError.required(child(path, "resource")))
    elif resource not in _RESOURCE_FIELD_PATHS and not resource.startswith(
            ("requests.hugepages-", "limits.hugepages-")):
        errs.append(FieldError.not_supported(child(path, "resource"), resource,
                                             _RESOURCE_FIELD_PATHS))
    divisor = fs.get("divisor")
    q = _q(divisor) if divisor is not None else None
    if q is not None and not q.is_zero():
        text = str(q)
        mem = {"1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei"}
        lst = "1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei"
        if resource in ("limits.cpu", "requests.cpu") and text not in ("1m", "1"):
            errs.append(FieldError.invalid(child(path, "divisor"), resource,
                                           "only divisor's values 1m and 1 are supported with the "
                                           "cpu resource"))
        elif resource in ("limits.memory", "requests.memory") and text not in mem:
            errs.append(FieldError.invalid(child(path, "divisor"), resource,
                                           f"only divisor's values {lst} are supported with the "
                                           "memory resource"))
        elif resource in ("limits.ephemeral-storage", "requests.ephemeral-storage") and \
                text not in mem:
            errs.append(FieldError.invalid(child(path, "divisor"), resource,
                                           f"only divisor's values {lst} are supported with the "
                                           "local ephemeral storage resource"))
        if resource.startswith(("requests.hugepages-", "limits.hugepages-")) and text not in mem:
            errs.append(FieldError.invalid(child(path, "divisor"), resource,
                                           f"only divisor's values {lst} are supported with the "
                                           "hugepages resource"))
    return errs


def _validate_downward_api_file(f: dict[str, Any], path: str) -> Errors:
    errs: Errors = []
    if not as_str(f.get("path")):
        errs.append(FieldError.required(child(path, "path")))
    errs.extend(_validate_local_non_reserved_path(as_str(f.get("path")), child(path, "path")))
    if f.get("fieldRef") is not None:
        errs.extend(_validate_object_field_selector(as_dict(f.get("fieldRef")), _VOLUME_FIELD_PATHS,
                                                    child(path, "fieldRef")))
        if f.get("resourceFieldRef") is not None:
            errs.append(FieldError.invalid(path, "resource",
                                           "fieldRef and resourceFieldRef can not be specified "
                                           "simultaneously"))
    elif f.get("resourceFieldRef") is not None:
        errs.extend(_validate_resource_field_selector(as_dict(f.get("resourceFieldRef")),
                                                      child(path, "resourceFieldRef"), True))
    else:
        errs.append(FieldError.required(path, "one of fieldRef and resourceFieldRef is required"))
    errs.extend(_file_mode(f.get("mode"), child(path, "mode")))
    return errs


def _validate_projected(src: dict[str, Any], path: str, opts: PodOpts) -> Errors:
    errs = _file_mode(src.get("defaultMode"), child(path, "defaultMode"))
    all_paths: set[str] = set()
    for i, source in enumerate(as_list(src.get("sources"))):
        source = as_dict(source)
        sp = index(child(path, "sources"), i)
        count = 0
        for kind in ("secret", "configMap"):
            if source.get(kind) is None:
                continue
            count += 1
            proj = as_dict(source.get(kind))
            pp = child(sp, kind)
            if not as_str(proj.get("name")):
                errs.append(FieldError.required(child(pp, "name")))
            for j, kp in enumerate(as_list(proj.get("items"))):
                kp = as_dict(kp)
                errs.extend(_validate_key_to_path(kp, index(child(pp, "items"), j)))
                cur = as_str(kp.get("path"))
                if cur:
                    if cur in all_paths:
                        errs.append(FieldError.invalid(path, as_str(proj.get("name")),
                                                       "conflicting duplicate paths"))
                    all_paths.add(cur)
        if source.get("downwardAPI") is not None:
            count += 1
            pp = child(sp, "downwardAPI")
            for f in as_list(as_dict(source.get("downwardAPI")).get("items")):
                f = as_dict(f)
                errs.extend(_validate_downward_api_file(f, pp))
                cur = as_str(f.get("path"))
                if cur:
                    if cur in all_paths:
                        errs.append(FieldError.invalid(path, cur, "conflicting duplicate paths"))
                    all_paths.add(cur)
        if source.get("serviceAccountToken") is not None:
            count += 1
            tok = as_dict(source.get("serviceAccountToken"))
            pp = child(sp, "serviceAccountToken")
            exp = as_int(tok.get("expirationSeconds"))
            if exp < 600:
                errs.append(FieldError.invalid(child(pp, "expirationSeconds"), exp,
                                               "may not specify a duration less than 10 minutes"))
            if exp > 1 << 32:
                errs.append(FieldError.invalid(child(pp, "expirationSeconds"), exp,
                                               "may not specify a duration larger than 2^32 "
                                               "seconds"))
            if not as_str(tok.get("path")):
                errs.append(FieldError.required(child(path, "path")))
            else:
                errs.extend(_validate_local_non_reserved_path(as_str(tok.get("path")),
                                                              child(path, "path")))
        for kind in ("clusterTrustBundle", "podCertificate"):
            if source.get(kind) is not None:
                count += 1
        if count > 1:
            errs.append(FieldError.forbidden(sp, "may not specify more than 1 volume type"))
    return errs


def _validate_volume_source(source: dict[str, Any], path: str, vol_name: str,
                            pod_name: str | None, opts: PodOpts) -> Errors:
    errs: Errors = []
    count = 0
    for json_name, err_name in _VOLUME_SOURCES:
        value = source.get(json_name)
        if value is None:
            continue
        if count > 0:
            errs.append(FieldError.forbidden(child(path, err_name),
                                             "may not specify more than 1 volume type"))
            continue
        count += 1
        src = as_dict(value)
        p = child(path, json_name)
        if json_name == "emptyDir":
            limit = src.get("sizeLimit")
            q = _q(limit) if limit is not None else None
            if q is not None and q.sign() < 0:
                errs.append(FieldError.forbidden(
                    child(p, "sizeLimit"), "SizeLimit field must be a valid resource quantity"))
        elif json_name == "hostPath":
            errs.extend(_validate_host_path(src, p))
        elif json_name == "gitRepo":
            if not as_str(src.get("repository")):
                errs.append(FieldError.required(child(p, "repository")))
            errs.extend(_validate_local_descending_path(as_str(src.get("directory")),
                                                        child(p, "directory")))
        elif json_name == "secret":
            if not as_str(src.get("secretName")):
                errs.append(FieldError.required(child(p, "secretName")))
            errs.extend(_file_mode(src.get("defaultMode"), child(p, "defaultMode")))
            for i, kp in enumerate(as_list(src.get("items"))):
                errs.extend(_validate_key_to_path(as_dict(kp), index(child(p, "items"), i)))
        elif json_name == "configMap":
            if not as_str(src.get("name")):
                errs.append(FieldError.required(child(p, "name")))
            errs.extend(_file_mode(src.get("defaultMode"), child(p, "defaultMode")))
            for i, kp in enumerate(as_list(src.get("items"))):
                errs.extend(_validate_key_to_path(as_dict(kp), index(child(p, "items"), i)))
        elif json_name == "nfs":
            if not as_str(src.get("server")):
                errs.append(FieldError.required(child(p, "server")))
            if not as_str(src.get("path")):
                errs.append(FieldError.required(child(p, "path")))
            if not as_str(src.get("path")).startswith("/"):
                errs.append(FieldError.invalid(child(p, "path"), as_str(src.get("path")),
                                               "must be an absolute path"))
        elif json_name == "persistentVolumeClaim":
            if not as_str(src.get("claimName")):
                errs.append(FieldError.required(child(p, "claimName")))
        elif json_name == "downwardAPI":
            errs.extend(_file_mode(src.get("defaultMode"), child(p, "defaultMode")))
            for f in as_list(src.get("items")):
                errs.extend(_validate_downward_api_file(as_dict(f), p))
        elif json_name == "projected":
            errs.extend(_validate_projected(src, p, opts))
        elif json_name == "csi":
            if not as_str(src.get("driver")):
                errs.append(FieldError.required(child(p, "driver")))
            else:
                errs.extend(_validate_csi_driver_name(as_str(src.get("driver")),
                                                      child(p, "driver")))
        elif json_name == "ephemeral":
            template = src.get("volumeClaimTemplate")
            if template is None:
                errs.append(FieldError.required(child(p, "volumeClaimTemplate")))
            else:
                errs.extend(_validate_pvc_template(as_dict(template),
                                                   child(p, "volumeClaimTemplate")))
                if pod_name and vol_name:
                    pvc_name = f"{pod_name}-{vol_name}"
                    errs.extend(FieldError.invalid(child(path, "name"), vol_name,
                                                   f'PVC name "{pvc_name}": {m}')
                                for m in is_dns1123_subdomain(pvc_name))
        elif json_name == "image":
            if not as_str(src.get("reference")) and opts.resource_is_pod:
                errs.append(FieldError.required(child(p, "reference")))
            policy = src.get("pullPolicy")
            if policy not in (None, "", *_PULL_POLICIES):
                errs.append(FieldError.not_supported(child(p, "pullPolicy"), policy,
                                                     _PULL_POLICIES))
    if count == 0:
        errs.append(FieldError.required(path, "must specify a volume type"))
    return errs


def _validate_host_path(src: dict[str, Any], path: str) -> Errors:
    target = as_str(src.get("path"))
    if not target:
        return [FieldError.required(child(path, "path"))]
    errs = _validate_path_no_backsteps(target, child(path, "path"))
    typ = src.get("type")
    if typ is not None and typ not in _HOST_PATH_TYPES:
        errs.append(FieldError.not_supported(child(path, "type"), typ, _HOST_PATH_TYPES))
    return errs


def _validate_csi_driver_name(driver: str, path: str) -> Errors:
    if len(driver) > 63:
        return [too_long(path, 63)]
    return [FieldError.invalid(path, driver, m) for m in is_dns1123_subdomain(driver.lower())]


def _validate_pvc_template(template: dict[str, Any], path: str) -> Errors:
    meta = as_dict(template.get("metadata"))
    errs = validate_labels(meta.get("labels"), child(path, "metadata", "labels"))
    errs.extend(validate_annotations(meta.get("annotations"),
                                     child(path, "metadata", "annotations")))
    errs.extend(validate_pvc_spec(as_dict(template.get("spec")), child(path, "spec")))
    return errs


def _validate_volumes(volumes: list[Any], pod_name: str | None, path: str,
                      opts: PodOpts) -> tuple[dict[str, dict[str, Any]], Errors]:
    errs: Errors = []
    names: set[str] = set()
    vols: dict[str, dict[str, Any]] = {}
    created_pvcs = set()
    if pod_name:
        created_pvcs = {f"{pod_name}-{as_str(as_dict(v).get('name'))}" for v in volumes
                        if as_dict(v).get("ephemeral") is not None}
    for i, vol in enumerate(volumes):
        vol = as_dict(vol)
        p = index(path, i)
        name = as_str(vol.get("name"))
        el = _validate_volume_source(vol, p, name, pod_name, opts)
        if not name:
            el.append(FieldError.required(child(p, "name")))
        else:
            el.extend(validate_dns1123_label(name, child(p, "name")))
        if name in names:
            el.append(FieldError.duplicate(child(p, "name"), name))
        if not el:
            names.add(name)
            vols[name] = vol
        else:
            errs.extend(el)
        claim = as_str(get(vol, "persistentVolumeClaim", "claimName"))
        if vol.get("persistentVolumeClaim") is not None and claim in created_pvcs:
            errs.append(FieldError.invalid(child(p, "persistentVolumeClaim", "claimName"), claim,
                                           "must not reference a PVC that gets created for an "
                                           "ephemeral volume"))
    return vols, errs


# ======================================================================= containers

class PodOpts:
    """The subset of upstream's PodValidationOptions that changes outcomes here."""

    def __init__(self, resource_is_pod: bool = False,
                 allow_invalid_label_value_in_selector: bool = False) -> None:
        self.resource_is_pod = resource_is_pod
        self.allow_invalid_label_value_in_selector = allow_invalid_label_value_in_selector


def _validate_container_ports(ports: list[Any], path: str) -> Errors:
    errs: Errors = []
    names: set[str] = set()
    for i, port in enumerate(ports):
        port = as_dict(port)
        p = index(path, i)
        name = as_str(port.get("name"))
        if name:
            msgs = is_valid_port_name(name)
            if msgs:
                errs.extend(FieldError.invalid(child(p, "name"), name, m) for m in msgs)
            elif name in names:
                errs.append(FieldError.duplicate(child(p, "name"), name))
            else:
                names.add(name)
        cp = as_int(port.get("containerPort"))
        if cp == 0:
            errs.append(FieldError.required(child(p, "containerPort")))
        else:
            errs.extend(FieldError.invalid(child(p, "containerPort"), cp, m)
                        for m in is_valid_port_num(cp))
        hp = as_int(port.get("hostPort"))
        if hp != 0:
            errs.extend(FieldError.invalid(child(p, "hostPort"), hp, m)
                        for m in is_valid_port_num(hp))
        proto = as_str(port.get("protocol"))
        if not proto:
            errs.append(FieldError.required(child(p, "protocol")))
        elif proto not in SUPPORTED_PORT_PROTOCOLS:
            errs.append(FieldError.not_supported(child(p, "protocol"), proto,
                                                 SUPPORTED_PORT_PROTOCOLS))
    return errs


def _env_name_errors(name: str) -> list[str]:
    return is_relaxed_env_var_name(name) if RELAXED_ENV_VAR_NAMES else is_env_var_name(name)


def _validate_env(env: list[Any], path: str) -> Errors:
    errs: Errors = []
    for i, ev in enumerate(env):
        ev = as_dict(ev)
        p = index(path, i)
        name = as_str(ev.get("name"))
        if not name:
            errs.append(FieldError.required(child(p, "name")))
        else:
            errs.extend(FieldError.invalid(child(p, "name"), name, m)
                        for m in _env_name_errors(name))
        errs.extend(_validate_env_value_from(ev, child(p, "valueFrom")))
    return errs


def _validate_env_value_from(ev: dict[str, Any], path: str) -> Errors:
    value_from = ev.get("valueFrom")
    if value_from is None:
        return []
    vf = as_dict(value_from)
    errs: Errors = []
    count = 0
    if vf.get("fieldRef") is not None:
        count += 1
        errs.extend(_validate_object_field_selector(as_dict(vf.get("fieldRef")), _ENV_FIELD_PATHS,
                                                    child(path, "fieldRef")))
    if vf.get("resourceFieldRef") is not None:
        count += 1
        errs.extend(_validate_resource_field_selector(as_dict(vf.get("resourceFieldRef")),
                                                      child(path, "resourceFieldRef"), False))
    for kind in ("configMapKeyRef", "secretKeyRef"):
        if vf.get(kind) is not None:
            count += 1
            errs.extend(_validate_key_selector(as_dict(vf.get(kind)), child(path, kind)))
    if vf.get("fileKeyRef") is not None:
        count += 1
    if count == 0:
        errs.append(FieldError.invalid(path, "", "must specify one of: `fieldRef`, "
                                       "`resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"))
    elif as_str(ev.get("value")):
        errs.append(FieldError.invalid(path, "", "may not be specified when `value` is not empty"))
    elif count > 1:
        errs.append(FieldError.invalid(path, "", "may not have more than one field specified at "
                                       "a time"))
    return errs


def _validate_key_selector(sel: dict[str, Any], path: str) -> Errors:
    name = as_str(sel.get("name"))
    errs = [FieldError.invalid(child(path, "name"), name, m)
            for m in name_is_dns_subdomain(name, False)]
    k = as_str(sel.get("key"))
    if not k:
        errs.append(FieldError.required(child(path, "key")))
    else:
        errs.extend(FieldError.invalid(child(path, "key"), k, m) for m in is_config_map_key(k))
    return errs


def _validate_env_from(env_from: list[Any], path: str) -> Errors:
    errs: Errors = []
    for i, ev in enumerate(env_from):
        ev = as_dict(ev)
        p = index(path, i)
        prefix = as_str(ev.get("prefix"))
        if prefix:
            errs.extend(FieldError.invalid(child(p, "prefix"), prefix, m)
                        for m in _env_name_errors(prefix))
        count = 0
        for kind in ("configMapRef", "secretRef"):
            if ev.get(kind) is None:
                continue
            count += 1
            name = as_str(as_dict(ev.get(kind)).get("name"))
            if not name:
                errs.append(FieldError.required(child(p, kind, "name")))
            else:
                errs.extend(FieldError.invalid(child(p, kind, "name"), name, m)
                            for m in name_is_dns_subdomain(name, True))
        if count == 0:
            errs.append(FieldError.invalid(path, "", "must specify one of: `configMapRef` or "
                                           "`secretRef`"))
        elif count > 1:
            errs.append(FieldError.invalid(path, "", "may not have more than one field specified "
                                           "at a time"))
    return errs


def _validate_volume_mounts(ctr: dict[str, Any], vols: dict[str, dict[str, Any]],
                            path: str) -> Errors:
    errs: Errors = []
    mount_points: set[str] = set()
    devices = {as_str(as_dict(d).get("name")): as_str(as_dict(d).get("devicePath"))
               for d in as_list(ctr.get("volumeDevices"))}
    privileged = get(ctr, "securityContext", "privileged") is True
    for i, mnt in enumerate(as_list(ctr.get("volumeMounts"))):
        mnt = as_dict(mnt)
        p = index(path, i)
        name = as_str(mnt.get("name"))
        mount_path = as_str(mnt.get("mountPath"))
        if not name:
            errs.append(FieldError.required(child(p, "name")))
        if name not in vols:
            errs.append(not_found(child(p, "name"), name))
        if not mount_path:
            errs.append(FieldError.required(child(p, "mountPath")))
        if mount_path in mount_points:
            errs.append(FieldError.invalid(child(p, "mountPath"), mount_path, "must be unique"))
        mount_points.add(mount_path)
        if name in devices:
            errs.append(FieldError.invalid(child(p, "name"), name,
                                           "must not already exist in volumeDevices"))
        if mount_path in devices.values():
            errs.append(FieldError.invalid(child(p, "mountPath"), mount_path,
                                           "must not already exist as a path in volumeDevices"))
        sub_path = as_str(mnt.get("subPath"))
        sub_expr = as_str(mnt.get("subPathExpr"))
        if name in vols and vols[name].get("image") is not None:
            if sub_path:
                errs.append(FieldError.invalid(child(p, "subPath"), sub_path,
                                               "not allowed in image volume sources"))
            if sub_expr:
                errs.append(FieldError.invalid(child(p, "subPathExpr"), sub_expr,
                                               "not allowed in image volume sources"))
        if sub_path:
            errs.extend(_validate_local_descending_path(sub_path, child(path, "subPath")))
        if sub_expr:
            if sub_path:
                errs.append(FieldError.invalid(child(p, "subPathExpr"), sub_expr,
                                               "subPathExpr and subPath are mutually exclusive"))
            errs.extend(_validate_local_descending_path(sub_expr, child(path, "subPathExpr")))
        prop = mnt.get("mountPropagation")
        if prop is not None:
            supported = ["Bidirectional", "HostToContainer", "None"]
            pp = child(path, "mountPropagation")
            if prop not in supported:
                errs.append(FieldError.not_supported(pp, prop, supported))
            if prop == "Bidirectional" and not privileged:
                errs.append(FieldError.forbidden(pp, "Bidirectional mount propagation is "
                                                 "available only to privileged containers"))
        rro = mnt.get("recursiveReadOnly")
        if rro is not None:
            rp = child(path, "recursiveReadOnly")
            if rro in ("Enabled", "IfPossible"):
                if not mnt.get("readOnly"):
                    errs.append(FieldError.forbidden(rp, "may only be specified when readOnly is "
                                                     "true"))
                if prop not in (None, "None"):
                    errs.append(FieldError.forbidden(rp, "may only be specified when "
                                                     "mountPropagation is None or not specified"))
            elif rro != "Disabled":
                errs.append(FieldError.not_supported(rp, rro,
                                                     ["Disabled", "Enabled", "IfPossible"]))
    return errs


def _validate_volume_devices(ctr: dict[str, Any], vols: dict[str, dict[str, Any]],
                             path: str) -> Errors:
    errs: Errors = []
    mounts = {as_str(as_dict(m).get("name")): as_str(as_dict(m).get("mountPath"))
              for m in as_list(ctr.get("volumeMounts"))}
    paths: set[str] = set()
    names: set[str] = set()
    for i, dev in enumerate(as_list(ctr.get("volumeDevices"))):
        dev = as_dict(dev)
        p = index(path, i)
        name, dpath = as_str(dev.get("name")), as_str(dev.get("devicePath"))
        vol = vols.get(name)
        if not name:
            errs.append(FieldError.required(child(p, "name")))
        if name in names:
            errs.append(FieldError.invalid(child(p, "name"), name, "must be unique"))
        if vol is not None and vol.get("persistentVolumeClaim") is None and \
                vol.get("ephemeral") is None:
            errs.append(FieldError.invalid(child(p, "name"), name,
                                           "can only use volume source type of "
                                           "PersistentVolumeClaim or Ephemeral for block mode"))
        if vol is None:
            errs.append(not_found(child(p, "name"), name))
        if not dpath:
            errs.append(FieldError.required(child(p, "devicePath")))
        if dpath in paths:
            errs.append(FieldError.invalid(child(p, "devicePath"), dpath, "must be unique"))
        if dpath and _validate_path_no_backsteps(dpath, ""):
            errs.append(FieldError.invalid(child(p, "devicePath"), dpath,
                                           "can not contain backsteps ('..')"))
        else:
            paths.add(dpath)
        if name in mounts:
            errs.append(FieldError.invalid(child(p, "name"), name,
                                           "must not already exist in volumeMounts"))
        if dpath in mounts.values():
            errs.append(FieldError.invalid(child(p, "devicePath"), dpath,
                                           "must not already exist as a path in volumeMounts"))
        if name:
            names.add(name)
    return errs


def _validate_port_num_or_name(port: Any, path: str) -> Errors:
    if isinstance(port, bool) or port is None:
        port = 0
    if isinstance(port, int):
        return [FieldError.invalid(path, port, m) for m in is_valid_port_num(port)]
    if isinstance(port, str):
        return [FieldError.invalid(path, port, m) for m in is_valid_port_name(port)]
    return [internal(path, f"unknown type: {type(port).__name__}")]


def _validate_handler(handler: dict[str, Any], grace: int | None, path: str,
                      lifecycle: bool) -> Errors:
    errs: Errors = []
    count = 0
    kinds = ("exec", "httpGet", "tcpSocket", "sleep") if lifecycle else \
        ("exec", "httpGet", "tcpSocket", "grpc")
    for kind in kinds:
        value = handler.get(kind)
        if value is None:
            continue
        p = child(path, kind)
        if count > 0:
            errs.append(FieldError.forbidden(p, "may not specify more than 1 handler type"))
            continue
        count += 1
        h = as_dict(value)
        if kind == "exec":
            if not as_list(h.get("command")):
                errs.append(FieldError.required(child(p, "command")))
        elif kind == "httpGet":
            if not as_str(h.get("path")):
                errs.append(FieldError.required(child(p, "path")))
            errs.extend(_validate_port_num_or_name(h.get("port"), child(p, "port")))
            scheme = h.get("scheme")
            if scheme not in ("HTTP", "HTTPS"):
                errs.append(FieldError.not_supported(child(p, "scheme"), scheme, ["HTTP", "HTTPS"]))
            for header in as_list(h.get("httpHeaders")):
                hname = as_str(as_dict(header).get("name"))
                errs.extend(FieldError.invalid(child(p, "httpHeaders"), hname, m)
                            for m in is_http_header_name(hname))
        elif kind == "tcpSocket":
            errs.extend(_validate_port_num_or_name(h.get("port"), child(p, "port")))
        elif kind == "grpc":
            errs.extend(_validate_port_num_or_name(as_int(h.get("port")), child(p, "port")))
        elif kind == "sleep":
            seconds = as_int(h.get("seconds"))
            if grace is not None:
                if SLEEP_ACTION_ALLOW_ZERO and (seconds < 0 or seconds > grace):
                    errs.append(FieldError.invalid(p, seconds, "must be non-negative and less than "
                                                   f"terminationGracePeriodSeconds ({grace})"))
                elif not SLEEP_ACTION_ALLOW_ZERO and (seconds <= 0 or seconds > grace):
                    errs.append(FieldError.invalid(p, seconds, "must be greater than 0 and less "
                                                   "than "
                                                   f"terminationGracePeriodSeconds ({grace})"))
    if count == 0:
        errs.append(FieldError.required(path, "must specify a handler type"))
    return errs


def _validate_probe(probe: Any, grace: int | None, path: str, kind: str) -> Errors:
    if probe is None:
        return []
    pr = as_dict(probe)
    errs = _validate_handler(pr, grace, path, lifecycle=False)
    for name in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold",
                 "failureThreshold"):
        errs.extend(validate_nonnegative(as_int(pr.get(name)), child(path, name)))
    tgp = pr.get("terminationGracePeriodSeconds")
    if tgp is not None and as_int(tgp) <= 0:
        errs.append(FieldError.invalid(child(path, "terminationGracePeriodSeconds"), tgp,
                                       "must be greater than 0"))
    if kind in ("liveness", "startup") and as_int(pr.get("successThreshold")) != 1:
        errs.append(FieldError.invalid(child(path, "successThreshold"),
                                       as_int(pr.get("successThreshold")), "must be 1"))
    if kind == "readiness" and tgp is not None:
        errs.append(FieldError.invalid(child(path, "terminationGracePeriodSeconds"), tgp,
                                       "must not be set for readinessProbes"))
    return errs


def _validate_lifecycle(lifecycle: dict[str, Any], grace: int | None, path: str) -> Errors:
    errs: Errors = []
    for hook in ("postStart", "preStop"):
        if lifecycle.get(hook) is not None:
            errs.extend(_validate_handler(as_dict(lifecycle.get(hook)), grace, child(path, hook),
                                          lifecycle=True))
    return errs


def _validate_security_context(sc: Any, path: str, host_users: bool) -> Errors:
    if sc is None:
        return []
    sc = as_dict(sc)
    errs: Errors = []
    for name in ("runAsUser", "runAsGroup"):
        v = sc.get(name)
        if v is not None and not 0 <= as_int(v, -1) <= MAX_INT32:
            errs.append(FieldError.invalid(child(path, name), v,
                                           inclusive_range_error(0, MAX_INT32)))
    proc = sc.get("procMount")
    if proc is not None:
        if proc not in ("Default", "Unmasked"):
            errs.append(FieldError.not_supported(child(path, "procMount"), proc,
                                                 ["Default", "Unmasked"]))
        if host_users and proc == "Unmasked":
            errs.append(FieldError.invalid(child(path, "procMount"), proc,
                                           "`hostUsers` must be false to use `Unmasked`"))
    errs.extend(_validate_seccomp_profile(sc.get("seccompProfile"), child(path, "seccompProfile")))
    if sc.get("allowPrivilegeEscalation") is False:
        if sc.get("privileged") is True:
            errs.append(FieldError.invalid(path, sc, "cannot set `allowPrivilegeEscalation` to "
                                           "false and `privileged` to true"))
        for cap in as_list(get(sc, "capabilities", "add")):
            if cap == "CAP_SYS_ADMIN":
                errs.append(FieldError.invalid(path, sc, "cannot set `allowPrivilegeEscalation` "
                                               "to false and `capabilities.Add` CAP_SYS_ADMIN"))
    errs.extend(_validate_apparmor(sc.get("appArmorProfile"), child(path, "appArmorProfile")))
    return errs


def _validate_profile_type(typ: str, path: str, field: str) -> Errors:
    """The `type` of a seccompProfile or an appArmorProfile (`field`): both take the same
    three values."""
    supported = ["Localhost", "RuntimeDefault", "Unconfined"]
    if not typ:
        return [FieldError.required(child(path, "type"), f"type is required when {field} is set")]
    if typ not in supported:
        return [FieldError.not_supported(child(path, "type"), typ, supported)]
    return []


def _validate_seccomp_profile(profile: Any, path: str) -> Errors:
    if profile is None:
        return []
    sp = as_dict(profile)
    typ = as_str(sp.get("type"))
    errs = _validate_profile_type(typ, path, "seccompProfile")
    if typ == "Localhost":
        if sp.get("localhostProfile") is None:
            errs.append(FieldError.required(child(path, "localhostProfile"),
                                            "must be set when seccomp type is Localhost"))
        else:
            errs.extend(_validate_local_descending_path(as_str(sp.get("localhostProfile")),
                                                        child(path, "localhostProfile")))
    elif sp.get("localhostProfile") is not None:
        errs.append(FieldError.invalid(child(path, "localhostProfile"), sp,
                                       "can only be set when seccomp type is Localhost"))
    return errs


def _validate_apparmor(profile: Any, path: str) -> Errors:
    if profile is None:
        return []
    ap = as_dict(profile)
    typ = as_str(ap.get("type"))
    errs = _validate_profile_type(typ, path, "appArmorProfile")
    if typ == "Localhost":
        lp = ap.get("localhostProfile")
        if lp is None:
            errs.append(FieldError.required(child(path, "localhostProfile"),
                                            "must be set when AppArmor type is Localhost"))
        elif not as_str(lp).strip():
            errs.append(FieldError.invalid(child(path, "localhostProfile"), lp,
                                           "must be a non-empty string when AppArmor type is "
                                           "Localhost"))
    elif ap.get("localhostProfile") is not None:
        errs.append(FieldError.invalid(child(path, "localhostProfile"), ap,
                                       "can only be set when AppArmor type is Localhost"))
    return errs


def _validate_container_common(ctr: dict[str, Any], vols: dict[str, dict[str, Any]],
                               claims: set[str], path: str, restart_policy: str,
                               host_users: bool) -> Errors:
    errs: Errors = []
    name = as_str(ctr.get("name"))
    if not name:
        errs.append(FieldError.required(child(path, "name")))
    else:
        errs.extend(validate_dns1123_label(name, child(path, "name")))
    if not as_str(ctr.get("image")):
        errs.append(FieldError.required(child(path, "image")))
    tmp = as_str(ctr.get("terminationMessagePolicy"))
    if not tmp:
        errs.append(FieldError.required(child(path, "terminationMessagePolicy")))
    elif tmp not in ("File", "FallbackToLogsOnError"):
        errs.append(FieldError.not_supported(child(path, "terminationMessagePolicy"), tmp,
                                             ["File", "FallbackToLogsOnError"]))
    errs.extend(_validate_container_ports(as_list(ctr.get("ports")), child(path, "ports")))
    errs.extend(_validate_env(as_list(ctr.get("env")), child(path, "env")))
    errs.extend(_validate_env_from(as_list(ctr.get("envFrom")), child(path, "envFrom")))
    errs.extend(_validate_volume_mounts(ctr, vols, child(path, "volumeMounts")))
    errs.extend(_validate_volume_devices(ctr, vols, child(path, "volumeDevices")))
    policy = as_str(ctr.get("imagePullPolicy"))
    if not policy:
        errs.append(FieldError.required(child(path, "imagePullPolicy")))
    elif policy not in _PULL_POLICIES:
        errs.append(FieldError.not_supported(child(path, "imagePullPolicy"), policy,
                                             _PULL_POLICIES))
    errs.extend(validate_container_resources(ctr.get("resources"), child(path, "resources"),
                                             claims))
    errs.extend(_validate_resize_policy(as_list(ctr.get("resizePolicy")),
                                        child(path, "resizePolicy"), restart_policy))
    errs.extend(_validate_security_context(ctr.get("securityContext"),
                                           child(path, "securityContext"), host_users))
    return errs


def _validate_resize_policy(policies: list[Any], path: str, restart_policy: str) -> Errors:
    errs: Errors = []
    seen: set[str] = set()
    for i, pol in enumerate(policies):
        pol = as_dict(pol)
        rname = as_str(pol.get("resourceName"))
        if rname in seen:
            errs.append(FieldError.duplicate(index(path, i), rname))
        seen.add(rname)
        if not rname:
            errs.append(FieldError.required(path))
        elif rname not in ("cpu", "memory"):
            errs.append(FieldError.not_supported(path, rname, ["cpu", "memory"]))
        rp = as_str(pol.get("restartPolicy"))
        if not rp:
            errs.append(FieldError.required(path))
        elif rp not in ("NotRequired", "RestartContainer"):
            errs.append(FieldError.not_supported(path, rp, ["NotRequired", "RestartContainer"]))
        if restart_policy == "Never" and rp != "NotRequired":
            errs.append(FieldError.invalid(path, rp,
                                           "must be 'NotRequired' when `restartPolicy` is 'Never'"))
    return errs


def _check_host_port_conflicts(containers: list[dict[str, Any]], path: str) -> Errors:
    errs: Errors = []
    seen: set[str] = set()
    for ci, ctr in enumerate(containers):
        for pi, port in enumerate(as_list(ctr.get("ports"))):
            port = as_dict(port)
            hp = as_int(port.get("hostPort"))
            if hp == 0:
                continue
            ident = f"{as_str(port.get('protocol'))}/{as_str(port.get('hostIP'))}/{hp}"
            if ident in seen:
                errs.append(FieldError.duplicate(child(index(child(index(path, ci), "ports"), pi),
                                                       "hostPort"), ident))
            seen.add(ident)
    return errs


def _validate_containers(containers: list[dict[str, Any]], vols: dict[str, dict[str, Any]],
                         claims: set[str], grace: int | None, path: str, restart_policy: str,
                         host_users: bool) -> Errors:
    if not containers:
        return [FieldError.required(path)]
    errs: Errors = []
    names: set[str] = set()
    for i, ctr in enumerate(containers):
        p = index(path, i)
        errs.extend(_validate_container_common(ctr, vols, claims, p, restart_policy, host_users))
        name = as_str(ctr.get("name"))
        if name in names:
            errs.append(FieldError.duplicate(child(p, "name"), name))
        else:
            names.add(name)
        if ctr.get("lifecycle") is not None:
            errs.extend(_validate_lifecycle(as_dict(ctr.get("lifecycle")), grace,
                                            child(p, "lifecycle")))
        errs.extend(_validate_probe(ctr.get("livenessProbe"), grace, child(p, "livenessProbe"),
                                    "liveness"))
        errs.extend(_validate_probe(ctr.get("readinessProbe"), grace, child(p, "readinessProbe"),
                                    "readiness"))
        errs.extend(_validate_probe(ctr.get("startupProbe"), grace, child(p, "startupProbe"),
                                    "startup"))
        if ctr.get("restartPolicy") is not None:
            errs.append(FieldError.forbidden(child(p, "restartPolicy"),
                                             "may not be set for non-init containers"))
    errs.extend(_check_host_port_conflicts(containers, path))
    return errs


def _validate_init_containers(inits: list[dict[str, Any]], regular: list[dict[str, Any]],
                              vols: dict[str, dict[str, Any]], claims: set[str],
                              grace: int | None, path: str, restart_policy: str,
                              host_users: bool) -> Errors:
    errs: Errors = []
    names = {as_str(c.get("name")) for c in regular}
    for i, ctr in enumerate(inits):
        p = index(path, i)
        errs.extend(_validate_container_common(ctr, vols, claims, p, restart_policy, host_users))
        always = False
        policy = ctr.get("restartPolicy")
        if policy is not None:
            if policy != "Always":
                errs.append(FieldError.not_supported(child(p, "restartPolicy"), policy, ["Always"]))
            always = policy == "Always"
        name = as_str(ctr.get("name"))
        if name in names:
            errs.append(FieldError.duplicate(child(p, "name"), name))
        elif name:
            names.add(name)
        errs.extend(_check_host_port_conflicts([ctr], path))
        if always:
            if ctr.get("lifecycle") is not None:
                errs.extend(_validate_lifecycle(as_dict(ctr.get("lifecycle")), grace,
                                                child(p, "lifecycle")))
            errs.extend(_validate_probe(ctr.get("livenessProbe"), grace,
                                        child(p, "livenessProbe"), "liveness"))
            errs.extend(_validate_probe(ctr.get("readinessProbe"), grace,
                                        child(p, "readinessProbe"), "readiness"))
            errs.extend(_validate_probe(ctr.get("startupProbe"), grace,
                                        child(p, "startupProbe"), "startup"))
        else:
            for field_name in ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe"):
                if ctr.get(field_name) is not None:
                    errs.append(FieldError.forbidden(child(p, field_name),
                                                     "may not be set for init containers without "
                                                     "restartPolicy=Always"))
    return errs



# Upstream's allowedEphemeralContainerFields: what an ephemeral container may set. Debug
# containers must not be relied upon for the pod's service, so ports, probes, resources and
# lifecycle hooks (and restart settings) are refused.
_EPHEMERAL_FORBIDDEN_FIELDS = ("ports", "resources", "resizePolicy", "livenessProbe",
                               "readinessProbe", "startupProbe", "lifecycle", "restartPolicy",
                               "restartPolicyRules")
_EPHEMERAL_FORBIDDEN = "cannot be set for an Ephemeral Container"


def _validate_ephemeral_containers(ephemeral: list[dict[str, Any]],
                                   containers: list[dict[str, Any]],
                                   inits: list[dict[str, Any]], vols: dict[str, dict[str, Any]],
                                   claims: set[str], path: str, restart_policy: str,
                                   host_users: bool) -> Errors:
    """Upstream validateEphemeralContainers: names unique across every kind of container, a
    target naming a regular or init container, only the allowed fields set."""
    errs: Errors = []
    others = {as_str(c.get("name")) for c in (*containers, *inits)}
    names = set(others)
    for i, ctr in enumerate(ephemeral):
        p = index(path, i)
        errs.extend(_validate_container_common(ctr, vols, claims, p, restart_policy, host_users))
        image = as_str(ctr.get("image"))
        if len(image) != len(image.strip()):
            errs.append(FieldError.invalid(child(p, "image"), image,
                                           "must not have leading or trailing whitespace"))
        name = as_str(ctr.get("name"))
        if name in names:
            errs.append(FieldError.duplicate(child(p, "name"), name))
        else:
            names.add(name)
        target = as_str(ctr.get("targetContainerName"))
        if target and target not in others:
            errs.append(FieldError(child(p, "targetContainerName"), "FieldValueNotFound", "",
                                   target))
        errs.extend(FieldError.forbidden(child(p, f), _EPHEMERAL_FORBIDDEN)
                    for f in _EPHEMERAL_FORBIDDEN_FIELDS if not is_empty(ctr.get(f)))
        for j, mount in enumerate(as_list(ctr.get("volumeMounts"))):
            mp = index(child(p, "volumeMounts"), j)
            errs.extend(FieldError.forbidden(child(mp, f), _EPHEMERAL_FORBIDDEN)
                        for f in ("subPath", "subPathExpr") if as_str(as_dict(mount).get(f)))
    return errs

# ======================================================================= pod spec

def _validate_tolerations(tolerations: list[Any], path: str) -> Errors:
    errs: Errors = []
    for i, tol in enumerate(tolerations):
        tol = as_dict(tol)
        p = index(path, i)
        k = as_str(tol.get("key"))
        op = as_str(tol.get("operator"))
        effect = as_str(tol.get("effect"))
        if k:
            errs.extend(validate_label_name(k, child(p, "key")))
        if not k and op != "Exists":
            errs.append(FieldError.invalid(child(p, "operator"), op,
                                           "operator must be Exists when `key` is empty, which "
                                           'means "match all values and all keys"'))
        if tol.get("tolerationSeconds") is not None and effect != "NoExecute":
            errs.append(FieldError.invalid(child(p, "effect"), effect,
                                           "effect must be 'NoExecute' when `tolerationSeconds` "
                                           "is set"))
        value = as_str(tol.get("value"))
        if op in ("Equal", ""):
            msgs = is_valid_label_value(value)
            if msgs:
                errs.append(FieldError.invalid(child(p, "operator"), value, ";".join(msgs)))
        elif op == "Exists":
            if value:
                errs.append(FieldError.invalid(child(p, "operator"), tol,
                                               "value must be empty when `operator` is 'Exists'"))
        else:
            errs.append(FieldError.not_supported(child(p, "operator"), op, ["Equal", "Exists"]))
        if effect:
            errs.extend(_validate_taint_effect(effect, True, child(p, "effect")))
    return errs


def _validate_taint_effect(effect: str, allow_empty: bool, path: str) -> Errors:
    if not allow_empty and not effect:
        return [FieldError.required(path)]
    valid = ["NoSchedule", "PreferNoSchedule", "NoExecute"]
    if effect not in valid:
        return [FieldError.not_supported(path, effect, valid)]
    return []


def _validate_node_selector_requirement(req: dict[str, Any], path: str) -> Errors:
    errs: Errors = []
    op = req.get("operator")
    values = as_list(req.get("values"))
    if op in ("In", "NotIn"):
        if not values:
            errs.append(FieldError.required(child(path, "values"),
                                            "must be specified when `operator` is 'In' or 'NotIn'"))
    elif op in ("Exists", "DoesNotExist"):
        if values:
            errs.append(FieldError.forbidden(child(path, "values"), "may not be specified when "
                                             "`operator` is 'Exists' or 'DoesNotExist'"))
    elif op in ("Gt", "Lt"):
        if len(values) != 1:
            errs.append(FieldError.required(child(path, "values"), "must be specified single "
                                            "value when `operator` is 'Lt' or 'Gt'"))
    else:
        errs.append(FieldError.invalid(child(path, "operator"), as_str(op),
                                       "not a valid selector operator"))
    errs.extend(validate_label_name(as_str(req.get("key")), child(path, "key")))
    for i, v in enumerate(values):
        errs.extend(FieldError.invalid(index(child(path, "values"), i), v, m)
                    for m in is_valid_label_value(as_str(v)))
    return errs


def _validate_node_selector_term(term: dict[str, Any], path: str) -> Errors:
    errs: Errors = []
    for j, req in enumerate(as_list(term.get("matchExpressions"))):
        errs.extend(_validate_node_selector_requirement(as_dict(req),
                                                        index(child(path, "matchExpressions"), j)))
    for j, req in enumerate(as_list(term.get("matchFields"))):
        req = as_dict(req)
        p = index(child(path, "matchFields"), j)
        values = as_list(req.get("values"))
        if req.get("operator") in ("In", "NotIn"):
            if len(values) != 1:
                errs.append(FieldError.required(child(p, "values"), "must be only one value when "
                                                "`operator` is 'In' or 'NotIn' for node field "
                                                "selector"))
        else:
            errs.append(FieldError.invalid(child(p, "operator"), as_str(req.get("operator")),
                                           "not a valid selector operator"))
        if req.get("key") != "metadata.name":
            errs.append(FieldError.invalid(child(p, "key"), as_str(req.get("key")),
                                           "not a valid field selector key"))
        else:
            for i, v in enumerate(values):
                errs.extend(FieldError.invalid(index(child(p, "values"), i), v, m)
                            for m in name_is_dns_subdomain(as_str(v), False))
    return errs


def _validate_affinity(affinity: Any, path: str) -> Errors:
    if affinity is None:
        return []
    aff = as_dict(affinity)
    errs: Errors = []
    na = aff.get("nodeAffinity")
    if na is not None:
        np = child(path, "nodeAffinity")
        na = as_dict(na)
        required = na.get("requiredDuringSchedulingIgnoredDuringExecution")
        if required is not None:
            rp = child(np, "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms")
            terms = as_list(as_dict(required).get("nodeSelectorTerms"))
            if not terms:
                errs.append(FieldError.required(rp, "must have at least one node selector term"))
            for i, term in enumerate(terms):
                errs.extend(_validate_node_selector_term(as_dict(term), index(rp, i)))
        pp = child(np, "preferredDuringSchedulingIgnoredDuringExecution")
        preferred = as_list(na.get("preferredDuringSchedulingIgnoredDuringExecution"))
        for i, term in enumerate(preferred):
            term = as_dict(term)
            weight = as_int(term.get("weight"))
            if not 0 < weight <= 100:
                errs.append(FieldError.invalid(child(index(pp, i), "weight"), weight,
                                               "must be in the range 1-100"))
            errs.extend(_validate_node_selector_term(as_dict(term.get("preference")),
                                                     child(index(pp, i), "preference")))
    for kind in ("podAffinity", "podAntiAffinity"):
        pa = aff.get(kind)
        if pa is None:
            continue
        pa = as_dict(pa)
        kp = child(path, kind)
        rp = child(kp, "requiredDuringSchedulingIgnoredDuringExecution")
        for i, term in enumerate(as_list(pa.get("requiredDuringSchedulingIgnoredDuringExecution"))):
            errs.extend(_validate_pod_affinity_term(as_dict(term), index(rp, i)))
        wp = child(kp, "preferredDuringSchedulingIgnoredDuringExecution")
        for i, wt in enumerate(as_list(pa.get("preferredDuringSchedulingIgnoredDuringExecution"))):
            wt = as_dict(wt)
            weight = as_int(wt.get("weight"))
            if not 0 < weight <= 100:
                errs.append(FieldError.invalid(child(index(wp, i), "weight"), weight,
                                               "must be in the range 1-100"))
            errs.extend(_validate_pod_affinity_term(as_dict(wt.get("podAffinityTerm")),
                                                    child(index(wp, i), "podAffinityTerm")))
    return errs


def _validate_pod_affinity_term(term: dict[str, Any], path: str) -> Errors:
    errs = validate_label_selector(term.get("labelSelector"), child(path, "labelSelector"))
    errs.extend(validate_label_selector(term.get("namespaceSelector"),
                                        child(path, "namespaceSelector")))
    for ns in as_list(term.get("namespaces")):
        errs.extend(FieldError.invalid(child(path, "namespace"), ns, m)
                    for m in name_is_dns_label(as_str(ns), False))
    topology = as_str(term.get("topologyKey"))
    if not topology:
        errs.append(FieldError.required(child(path, "topologyKey"), "can not be empty"))
    errs.extend(validate_label_name(topology, child(path, "topologyKey")))
    return errs


def _validate_dns_config(dns: Any, policy: str, path: str) -> Errors:
    errs: Errors = []
    if policy == "None":
        if dns is None:
            return [FieldError.required(path, "must provide `dnsConfig` when `dnsPolicy` is None")]
        if not as_list(as_dict(dns).get("nameservers")):
            return [FieldError.required(child(path, "nameservers"), "must provide at least one DNS "
                                        "nameserver when `dnsPolicy` is None")]
    if dns is None:
        return errs
    cfg = as_dict(dns)
    nameservers = as_list(cfg.get("nameservers"))
    if len(nameservers) > 3:
        errs.append(FieldError.invalid(child(path, "nameservers"), nameservers,
                                       "must not have more than 3 nameservers"))
    for i, ns in enumerate(nameservers):
        errs.extend(is_valid_ip(index(child(path, "nameservers"), i), as_str(ns)))
    searches = [as_str(s) for s in as_list(cfg.get("searches"))]
    if len(searches) > 32:
        errs.append(FieldError.invalid(child(path, "searches"), searches,
                                       "must not have more than 32 search paths"))
    if len(" ".join(searches)) > 2048:
        errs.append(FieldError.invalid(child(path, "searches"), searches,
                                       "must not have more than 2048 characters (including "
                                       "spaces) in the search list"))
    for i, search in enumerate(searches):
        sp = index(child(path, "searches"), i)
        if RELAXED_DNS_SEARCH:
            if search != ".":
                trimmed = search.removesuffix(".")
                errs.extend(FieldError.invalid(sp, trimmed, m)
                            for m in _dns1123_subdomain_with_underscore(trimmed))
        else:
            errs.extend(validate_dns1123_subdomain(search.removesuffix("."), sp))
    for i, opt in enumerate(as_list(cfg.get("options"))):
        if not as_str(as_dict(opt).get("name")):
            errs.append(FieldError.required(index(child(path, "options"), i), "must not be empty"))
    return errs


def _dns1123_subdomain_with_underscore(value: str) -> list[str]:
    import re

    fmt = "_?[a-z0-9]([-_a-z0-9]*[a-z0-9])?(\\._?[a-z0-9]([-_a-z0-9]*[a-z0-9])?)*"
    errs = []
    if len(value) > 253:
        errs.append("must be no more than 253 characters")
    if not re.fullmatch(fmt, value):
        errs.append("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                    "characters, '_', '-' or '.', and must start and end with an alphanumeric "
                    f"character (e.g. 'example.com', regex used for validation is '{fmt}')")
    return errs


def _validate_pod_security_context(spec: dict[str, Any], path: str) -> Errors:
    sc = spec.get("securityContext")
    if sc is None:
        return []
    sc = as_dict(sc)
    errs: Errors = []
    p = child(path, "securityContext")
    for name, lo in (("fsGroup", 0), ("runAsUser", 0), ("runAsGroup", 0)):
        v = sc.get(name)
        if v is not None and not lo <= as_int(v, -1) <= MAX_INT32:
            errs.append(FieldError.invalid(child(p, name), v, inclusive_range_error(0, MAX_INT32)))
    for i, gid in enumerate(as_list(sc.get("supplementalGroups"))):
        if not 0 <= as_int(gid, -1) <= MAX_INT32:
            errs.append(FieldError.invalid(index(child(p, "supplementalGroups"), i), gid,
                                           inclusive_range_error(0, MAX_INT32)))
    if spec.get("shareProcessNamespace") is True and spec.get("hostPID") is True:
        errs.append(FieldError.invalid(child(p, "shareProcessNamespace"), True,
                                       "ShareProcessNamespace and HostPID cannot both be enabled"))
    policy = sc.get("fsGroupChangePolicy")
    if policy is not None and policy not in ("Always", "OnRootMismatch"):
        errs.append(FieldError.not_supported(child(p, "fsGroupChangePolicy"), policy,
                                             ["Always", "OnRootMismatch"]))
    sgp = sc.get("supplementalGroupsPolicy")
    if sgp is not None and sgp not in ("Merge", "Strict"):
        errs.append(FieldError.not_supported(child(p, "supplementalGroupsPolicy"), sgp,
                                             ["Merge", "Strict"]))
    errs.extend(_validate_seccomp_profile(sc.get("seccompProfile"), child(p, "seccompProfile")))
    errs.extend(_validate_apparmor(sc.get("appArmorProfile"), child(p, "appArmorProfile")))
    for i, sysctl in enumerate(as_list(sc.get("sysctls"))):
        name = as_str(as_dict(sysctl).get("name"))
        sp = index(child(p, "sysctls"), i)
        if not name:
            errs.append(FieldError.required(child(sp, "name")))
    return errs


def _host_users(spec: dict[str, Any]) -> bool:
    return spec.get("hostUsers") is not False


def validate_pod_spec(spec: dict[str, Any], pod_name: str | None, path: str,
                      opts: PodOpts) -> Errors:
    """Upstream ValidatePodSpec (pod_name is given only for real pods)."""
    errs: Errors = []
    grace_raw = spec.get("terminationGracePeriodSeconds")
    if grace_raw is None:
        errs.append(FieldError.required(child(path, "terminationGracePeriodSeconds")))
    grace = as_int(grace_raw) if grace_raw is not None else None
    host_users = _host_users(spec)
    restart_policy = as_str(spec.get("restartPolicy"))
    vols, verrs = _validate_volumes(as_list(spec.get("volumes")), pod_name,
                                    child(path, "volumes"), opts)
    errs.extend(verrs)
    claims = {as_str(as_dict(c).get("name")) for c in as_list(spec.get("resourceClaims"))
              if as_str(as_dict(c).get("name"))}
    errs.extend(_validate_pod_resource_claims(as_list(spec.get("resourceClaims")),
                                              child(path, "resourceClaims")))
    containers = [as_dict(c) for c in as_list(spec.get("containers"))]
    inits = [as_dict(c) for c in as_list(spec.get("initContainers"))]
    errs.extend(_validate_containers(containers, vols, claims, grace, child(path, "containers"),
                                     restart_policy, host_users))
    errs.extend(_validate_init_containers(inits, containers, vols, claims, grace,
                                          child(path, "initContainers"), restart_policy,
                                          host_users))
    errs.extend(_validate_ephemeral_containers(
        [as_dict(c) for c in as_list(spec.get("ephemeralContainers"))], containers, inits, vols,
        claims, child(path, "ephemeralContainers"), restart_policy, host_users))
    if POD_LEVEL_RESOURCES and spec.get("resources") is not None:
        errs.extend(_validate_pod_resources(spec, claims, child(path, "resources")))
    if spec.get("hostNetwork") is True:
        for i, ctr in enumerate(containers):
            for j, port in enumerate(as_list(ctr.get("ports"))):
                port = as_dict(port)
                hp, cp = as_int(port.get("hostPort")), as_int(port.get("containerPort"))
                if (opts.resource_is_pod or hp != 0) and hp != cp:
                    errs.append(FieldError.invalid(
                        child(index(child(index(child(path, "containers"), i), "ports"), j),
                              "hostPort"), hp, "must match `containerPort` when `hostNetwork` is "
                        "true"))
    if not restart_policy:
        errs.append(FieldError.required(child(path, "restartPolicy")))
    elif restart_policy not in ("Always", "OnFailure", "Never"):
        errs.append(FieldError.not_supported(child(path, "restartPolicy"), restart_policy,
                                             ["Always", "OnFailure", "Never"]))
    dns_policy = as_str(spec.get("dnsPolicy"))
    if not dns_policy:
        errs.append(FieldError.required(child(path, "dnsPolicy")))
    elif dns_policy not in ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"):
        errs.append(FieldError.not_supported(child(path, "dnsPolicy"), dns_policy,
                                             ["ClusterFirstWithHostNet", "ClusterFirst",
                                              "Default", "None"]))
    errs.extend(validate_labels(spec.get("nodeSelector"), child(path, "nodeSelector")))
    errs.extend(_validate_pod_security_context(spec, path))
    for i, secret in enumerate(as_list(spec.get("imagePullSecrets"))):
        secret = as_dict(secret)
        if set(secret) - {"name"}:
            errs.append(FieldError.invalid(index(child(path, "imagePullSecrets"), i), secret,
                                           "only name may be set"))
    errs.extend(_validate_affinity(spec.get("affinity"), child(path, "affinity")))
    errs.extend(_validate_dns_config(spec.get("dnsConfig"), dns_policy, child(path, "dnsConfig")))
    for i, gate in enumerate(as_list(spec.get("readinessGates"))):
        errs.extend(validate_qualified_name(as_str(as_dict(gate).get("conditionType")),
                                            child(index(child(path, "readinessGates"), i),
                                                  "conditionType")))
    seen_gates: set[str] = set()
    for i, gate in enumerate(as_list(spec.get("schedulingGates"))):
        gname = as_str(as_dict(gate).get("name"))
        gp = index(child(path, "schedulingGates"), i)
        errs.extend(validate_qualified_name(gname, gp))
        if gname in seen_gates:
            errs.append(FieldError.duplicate(gp, gname))
        seen_gates.add(gname)
    errs.extend(_validate_topology_spread(as_list(spec.get("topologySpreadConstraints")),
                                          child(path, "topologySpreadConstraints")))
    if not host_users:
        for name, label in (("hostNetwork", "hostNetwork"), ("hostPID", "HostPID"),
                            ("hostIPC", "HostIPC")):
            if spec.get(name) is True:
                errs.append(FieldError.forbidden(child(path, label),
                                                 "when `pod.Spec.HostUsers` is false"))
    for field_name, fn in (("serviceAccountName", name_is_dns_subdomain),
                           ("nodeName", name_is_dns_subdomain)):
        value = as_str(spec.get(field_name))
        if value:
            errs.extend(FieldError.invalid(child(path, field_name), value, m)
                        for m in fn(value, False))
    ads = spec.get("activeDeadlineSeconds")
    if ads is not None and not 1 <= as_int(ads) <= MAX_INT32:
        errs.append(FieldError.invalid(child(path, "activeDeadlineSeconds"), ads,
                                       inclusive_range_error(1, MAX_INT32)))
    for field_name in ("hostname", "subdomain"):
        value = as_str(spec.get(field_name))
        if value:
            errs.extend(validate_dns1123_label(value, child(path, field_name)))
    errs.extend(_validate_tolerations(as_list(spec.get("tolerations")), child(path, "tolerations")))
    for i, alias in enumerate(as_list(spec.get("hostAliases"))):
        alias = as_dict(alias)
        ap = index(child(path, "hostAliases"), i)
        errs.extend(is_valid_ip(child(ap, "ip"), as_str(alias.get("ip"))))
        for j, hn in enumerate(as_list(alias.get("hostnames"))):
            errs.extend(validate_dns1123_subdomain(as_str(hn), index(child(ap, "hostnames"), j)))
    pcn = as_str(spec.get("priorityClassName"))
    if pcn:
        errs.extend(FieldError.invalid(child(path, "priorityClassName"), pcn, m)
                    for m in name_is_dns_subdomain(pcn, False))
    rcn = spec.get("runtimeClassName")
    if rcn is not None:
        errs.extend(FieldError.invalid(child(path, "runtimeClassName"), rcn, m)
                    for m in name_is_dns_subdomain(as_str(rcn), False))
    pp = spec.get("preemptionPolicy")
    if pp is not None:
        if not pp:
            errs.append(FieldError.required(child(path, "preemptionPolicy")))
        elif pp not in ("PreemptLowerPriority", "Never"):
            errs.append(FieldError.not_supported(child(path, "preemptionPolicy"), pp,
                                                 ["PreemptLowerPriority", "Never"]))
    if spec.get("overhead") is not None:
        errs.extend(validate_container_resources({"limits": spec.get("overhead")},
                                                 child(path, "overhead")))
    os_spec = spec.get("os")
    if os_spec is not None:
        os_name = as_str(as_dict(os_spec).get("name"))
        if not os_name:
            errs.append(FieldError.required(child(path, "os", "name"), "cannot be empty"))
        elif os_name not in ("linux", "windows"):
            errs.append(FieldError.not_supported(child(path, "os"), os_name, ["linux", "windows"]))
    return errs


def _validate_pod_resource_claims(claims: list[Any], path: str) -> Errors:
    errs: Errors = []
    names: set[str] = set()
    for i, claim in enumerate(claims):
        claim = as_dict(claim)
        p = index(path, i)
        name = as_str(claim.get("name"))
        if not name:
            errs.append(FieldError.required(child(p, "name")))
        elif name in names:
            errs.append(FieldError.duplicate(child(p, "name"), name))
        else:
            errs.extend(validate_dns1123_label(name, child(p, "name")))
            names.add(name)
        has_name = claim.get("resourceClaimName") is not None
        has_template = claim.get("resourceClaimTemplateName") is not None
        if has_name and has_template:
            errs.append(FieldError.invalid(p, claim, "at most one of `resourceClaimName` or "
                                           "`resourceClaimTemplateName` may be specified"))
        if not has_name and not has_template:
            errs.append(FieldError.invalid(p, claim, "must specify one of: `resourceClaimName`, "
                                           "`resourceClaimTemplateName`"))
    return errs


def _validate_pod_resources(spec: dict[str, Any], claims: set[str], path: str) -> Errors:
    res = as_dict(spec.get("resources"))
    errs: Errors = []
    if res.get("claims") is not None:
        errs.append(FieldError.forbidden(child(path, "claims"),
                                         "claims cannot be set for Resources at pod-level"))
    errs.extend(_validate_resource_requirements(res, path, _validate_pod_resource_name, claims))
    pod_limits = as_dict(res.get("limits"))
    for i, ctr in enumerate(as_list(spec.get("containers"))):
        for rname, value in as_dict(get(ctr, "resources", "limits")).items():
            if rname not in pod_limits:
                continue
            cl, pl = _q(value), _q(pod_limits[rname])
            if cl is not None and pl is not None and cl > pl:
                p = child(key(index(child(path, "containers"), i), rname), "limits")
                errs.append(FieldError.invalid(p, str(cl), "must be less than or equal to pod "
                                               f"limits of {pl}"))
    return errs


def _validate_topology_spread(constraints: list[Any], path: str) -> Errors:
    errs: Errors = []
    seen: set[tuple[str, str]] = set()
    for i, c in enumerate(constraints):
        c = as_dict(c)
        p = index(path, i)
        skew = as_int(c.get("maxSkew"))
        if skew <= 0:
            errs.append(FieldError.invalid(child(p, "maxSkew"), skew, IS_NOT_POSITIVE))
        topology = as_str(c.get("topologyKey"))
        if not topology:
            errs.append(FieldError.required(child(p, "topologyKey"), "can not be empty"))
        else:
            errs.extend(validate_label_name(topology, child(p, "topologyKey")))
        action = as_str(c.get("whenUnsatisfiable"))
        if action not in ("DoNotSchedule", "ScheduleAnyway"):
            errs.append(FieldError.not_supported(child(p, "whenUnsatisfiable"), action,
                                                 ["DoNotSchedule", "ScheduleAnyway"]))
        pair = (topology, action)
        if pair in seen:
            errs.append(FieldError.duplicate(p, f"{{{topology}, {action}}}"))
        seen.add(pair)
        min_domains = c.get("minDomains")
        if min_domains is not None:
            if as_int(min_domains) <= 0:
                errs.append(FieldError.invalid(child(p, "minDomains"), min_domains,
                                               IS_NOT_POSITIVE))
            elif action != "DoNotSchedule":
                errs.append(FieldError.invalid(child(p, "minDomains"), min_domains,
                                               "can only use minDomains if whenUnsatisfiable="
                                               f"DoNotSchedule, not {action}"))
        errs.extend(validate_label_selector(c.get("labelSelector"), child(p, "labelSelector")))
    return errs


def validate_pod_template_spec(template: dict[str, Any], path: str, opts: PodOpts) -> Errors:
    """Upstream ValidatePodTemplateSpec."""
    meta = as_dict(template.get("metadata"))
    errs = validate_labels(meta.get("labels"), child(path, "labels"))
    errs.extend(validate_annotations(meta.get("annotations"), child(path, "annotations")))
    spec = as_dict(template.get("spec"))
    errs.extend(validate_pod_spec(spec, None, child(path, "spec"), opts))
    if as_list(spec.get("ephemeralContainers")):
        errs.append(FieldError.forbidden(child(path, "spec", "ephemeralContainers"),
                                         "ephemeral containers not allowed in pod template"))
    return errs


# ======================================================================= pods

UPDATABLE_POD_SPEC_FIELDS = [
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously "
    "negative)",
]


def _validate_pod_metadata_and_spec(pod: dict[str, Any]) -> Errors:
    meta = as_dict(pod.get("metadata"))
    spec = as_dict(pod.get("spec"))
    errs = validate_object_meta(pod, True, name_is_dns_subdomain)
    annotations = as_dict(meta.get("annotations"))
    if "kubernetes.io/config.mirror" in annotations and not as_str(spec.get("nodeName")):
        errs.append(FieldError.invalid(key(child("metadata", "annotations"),
                                           "kubernetes.io/config.mirror"),
                                       annotations["kubernetes.io/config.mirror"],
                                       "must set spec.nodeName if mirror pod annotation is set"))
    cost = annotations.get("controller.kubernetes.io/pod-deletion-cost")
    if cost is not None and not _is_int32(as_str(cost)):
        errs.append(FieldError.invalid(key(child("metadata", "annotations"),
                                           "controller.kubernetes.io/pod-deletion-cost"), cost,
                                       "must be a 32bit integer"))
    opts = PodOpts(resource_is_pod=True)
    errs.extend(validate_pod_spec(spec, as_str(meta.get("name")) or None, "spec", opts))
    if not as_str(spec.get("serviceAccountName")):
        for vi, vol in enumerate(as_list(spec.get("volumes"))):
            projected = as_dict(vol).get("projected")
            if projected is None:
                continue
            for si, source in enumerate(as_list(as_dict(projected).get("sources"))):
                if as_dict(source).get("serviceAccountToken") is not None:
                    errs.append(FieldError.forbidden(
                        f"spec.volumes[{vi}].projected.sources[{si}].serviceAccountToken",
                        "must not be specified when serviceAccountName is not set"))
    for kind in ("containers", "initContainers"):
        for i, ctr in enumerate(as_list(spec.get(kind))):
            image = as_str(as_dict(ctr).get("image"))
            if len(image) != len(image.strip()):
                errs.append(FieldError.invalid(f"spec.{kind}[{i}].image", image,
                                               "must not have leading or trailing whitespace"))
    return errs


def _is_int32(text: str) -> bool:
    try:
        return -(2**31) <= int(text, 10) <= MAX_INT32 and text.strip() == text
    except ValueError:
        return False


def validate_pod_create(pod: dict[str, Any]) -> Errors:
    errs = _validate_pod_metadata_and_spec(pod)
    spec = as_dict(pod.get("spec"))
    if as_list(spec.get("ephemeralContainers")):
        errs.append(FieldError.forbidden("spec.ephemeralContainers", "cannot be set on create"))
    if as_str(spec.get("nodeName")) and as_list(spec.get("schedulingGates")):
        errs.append(FieldError.forbidden("spec.nodeName", "cannot be set until all "
                                         "schedulingGates have been cleared"))
    return errs


def _validate_container_updates(new: list[Any], old: list[Any], path: str) -> tuple[Errors, bool]:
    if len(new) != len(old):
        return [FieldError.forbidden(path, "pod updates may not add or remove containers")], True
    errs: Errors = []
    for i, ctr in enumerate(new):
        image = as_str(as_dict(ctr).get("image"))
        if not image:
            errs.append(FieldError.required(child(index(path, i), "image")))
        if len(image.strip()) != len(image):
            errs.append(FieldError.invalid(child(index(path, i), "image"), image,
                                           "must not have leading or trailing whitespace"))
    return errs, False


def _toleration_without_seconds(tol: Any) -> dict[str, Any]:
    return {k: v for k, v in as_dict(tol).items() if k != "tolerationSeconds"}


def validate_pod_status_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    """A write of pods/status (upstream's ValidatePodStatusUpdate validates the metadata
    update, not the spec): the status strategy keeps the old spec, which is not validated
    again; a spec that differs anyway gets the full update validation."""
    if new.get("spec") != old.get("spec"):
        return validate_pod_update(new, old)
    return validate_object_meta_update(new, old)


def validate_pod_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    errs = validate_object_meta_update(new, old)
    errs.extend(_validate_pod_metadata_and_spec(new))
    new_ann = as_dict(get(new, "metadata", "annotations"))
    old_ann = as_dict(get(old, "metadata", "annotations"))
    mirror = "kubernetes.io/config.mirror"
    if mirror in old_ann and new_ann.get(mirror) != old_ann[mirror]:
        errs.append(FieldError.forbidden(key("metadata.annotations", mirror),
                                         "may not remove or update mirror pod annotation"))
    if mirror in new_ann and mirror not in old_ann:
        errs.append(FieldError.forbidden(key("metadata.annotations", mirror),
                                         "may not add mirror pod annotation"))
    ns, os_ = as_dict(new.get("spec")), as_dict(old.get("spec"))
    for kind in ("containers", "initContainers"):
        cerrs, stop = _validate_container_updates(as_list(ns.get(kind)), as_list(os_.get(kind)),
                                                  f"spec.{kind}")
        errs.extend(cerrs)
        if stop:
            return errs
    new_ads, old_ads = ns.get("activeDeadlineSeconds"), os_.get("activeDeadlineSeconds")
    if new_ads is not None:
        value = as_int(new_ads)
        if not 0 <= value <= MAX_INT32:
            errs.append(FieldError.invalid("spec.activeDeadlineSeconds", value,
                                           inclusive_range_error(0, MAX_INT32)))
            return errs
        if old_ads is not None and as_int(old_ads) < value:
            errs.append(FieldError.invalid("spec.activeDeadlineSeconds", value,
                                           "must be less than or equal to previous value"))
            return errs
    elif old_ads is not None:
        errs.append(FieldError.invalid("spec.activeDeadlineSeconds", None,
                                       "must not update from a positive integer to nil value"))
    new_tols = as_list(ns.get("tolerations"))
    for old_tol in as_list(os_.get("tolerations")):
        stripped = _toleration_without_seconds(old_tol)
        if not any(semantic_equal(stripped, _toleration_without_seconds(t)) for t in new_tols):
            errs.append(FieldError.forbidden("spec.tolerations", "existing toleration can not be "
                                             "modified except its tolerationSeconds"))
            break
    else:
        errs.extend(_validate_tolerations(new_tols, "spec.tolerations"))
    old_gates = {as_str(as_dict(g).get("name")) for g in as_list(os_.get("schedulingGates"))}
    for i, gate in enumerate(as_list(ns.get("schedulingGates"))):
        gname = as_str(as_dict(gate).get("name"))
        if gname not in old_gates:
            errs.append(FieldError.forbidden(f"spec.schedulingGates[{i}].name", "only deletion is "
                                             f"allowed, but found new scheduling gate '{gname}'"))
    if semantic_equal(ns, os_):
        return errs
    munged = dict(ns)
    munged["containers"] = [dict(as_dict(c), image=as_dict(o).get("image"))
                            for c, o in zip(as_list(ns.get("containers")),
                                            as_list(os_.get("containers")), strict=False)]
    if "initContainers" in ns or "initContainers" in os_:
        munged["initContainers"] = [dict(as_dict(c), image=as_dict(o).get("image"))
                                    for c, o in zip(as_list(ns.get("initContainers")),
                                                    as_list(os_.get("initContainers")),
                                                    strict=False)]
    for name in ("activeDeadlineSeconds", "schedulingGates", "tolerations"):
        munged.pop(name, None)
        if name in os_:
            munged[name] = os_[name]
    old_tgp = os_.get("terminationGracePeriodSeconds")
    if isinstance(old_tgp, int) and old_tgp < 0 and \
            munged.get("terminationGracePeriodSeconds") == 1:
        munged["terminationGracePeriodSeconds"] = old_tgp
    if as_list(os_.get("schedulingGates")):
        # Gated pods may gain node selector entries and node affinity.
        old_sel = as_dict(os_.get("nodeSelector"))
        new_sel = as_dict(munged.get("nodeSelector"))
        for k, v in old_sel.items():
            if new_sel.get(k) != v:
                errs.append(FieldError.invalid("spec.nodeSelector", new_sel,
                                               "only additions to spec.nodeSelector are allowed "
                                               "(no mutations or deletions)"))
                break
        munged.pop("nodeSelector", None)
        if "nodeSelector" in os_:
            munged["nodeSelector"] = os_["nodeSelector"]
        old_aff = as_dict(os_.get("affinity"))
        new_aff = dict(as_dict(munged.get("affinity")))
        new_aff.pop("nodeAffinity", None)
        if "nodeAffinity" in old_aff:
            new_aff["nodeAffinity"] = old_aff["nodeAffinity"]
        munged["affinity"] = new_aff
    if not semantic_equal(munged, os_):
        lines = diff(os_, munged, "spec")
        body = "\n".join(["  core.PodSpec{", *lines, "  }", ""])
        errs.append(FieldError.forbidden("spec", "pod updates may not change fields other than "
                                         f"{','.join(UPDATABLE_POD_SPEC_FIELDS)}\n{body}"))
    return errs


def validate_pod_ephemeral_containers_update(new: dict[str, Any], old: dict[str, Any]
                                             ) -> Errors:
    """Upstream ValidatePodEphemeralContainersUpdate (the `ephemeralcontainers` subresource,
    which changes nothing but spec.ephemeralContainers): the pod stays valid, and existing
    ephemeral containers are neither removed nor changed (matched by name: a patch may
    reorder them). Static pods take none."""
    errs = validate_object_meta_update(new, old)
    errs.extend(_validate_pod_metadata_and_spec(new))
    if "kubernetes.io/config.mirror" in as_dict(get(old, "metadata", "annotations")):
        return [FieldError.forbidden("", "static pods do not support ephemeral containers")]
    path = "spec.ephemeralContainers"
    fresh = {as_str(as_dict(c).get("name")): as_dict(c)
             for c in as_list(get(new, "spec", "ephemeralContainers"))}
    for before in as_list(get(old, "spec", "ephemeralContainers")):
        before = as_dict(before)
        name = as_str(before.get("name"))
        after = fresh.get(name)
        if after is None:
            errs.append(FieldError.forbidden(
                path, f'existing ephemeral containers "{name}" may not be removed\n'))
        elif not semantic_equal(before, after):
            changes = "\n".join(diff(before, after))
            errs.append(FieldError.forbidden(
                key(path, name),
                f'existing ephemeral containers "{name}" may not be changed\n{changes}'))
    return errs


def validate_pod_template(obj: dict[str, Any]) -> Errors:
    errs = validate_object_meta(obj, True, name_is_dns_subdomain)
    errs.extend(validate_pod_template_spec(as_dict(obj.get("template")), "template", PodOpts()))
    return errs


def validate_pod_template_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    errs = validate_object_meta_update(new, old)
    errs.extend(validate_pod_template_spec(as_dict(new.get("template")), "template", PodOpts()))
    return errs


# ======================================================================= services

_SERVICE_TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]


def _cluster_ips(svc: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    """spec.clusterIPs after upstream's NormalizeClusterIPs (strategy PrepareFor*)."""
    spec = as_dict(svc.get("spec"))
    ips = [as_str(ip) for ip in as_list(spec.get("clusterIPs"))]
    ip = as_str(spec.get("clusterIP"))
    if old is None:
        if ip and not ips:
            return [ip]
        return ips
    ospec = as_dict(old.get("spec"))
    old_ips = [as_str(x) for x in as_list(ospec.get("clusterIPs"))]
    old_ip = as_str(ospec.get("clusterIP"))
    if old_ips and not ips and old_ip == ip:
        ips = old_ips
    if old_ip != ip:
        same = ips == old_ips
        if old_ip and not ip:
            if same:
                ips = []
        elif same:
            ips = [ip]
    return ips


def _is_headless(ips: list[str]) -> bool:
    return len(ips) == 1 and ips[0] == "None"


def _externally_accessible(spec: dict[str, Any]) -> bool:
    typ = spec.get("type")
    return typ in ("LoadBalancer", "NodePort") or (
        typ == "ClusterIP" and bool(as_list(spec.get("externalIPs"))))


def _needs_health_check(spec: dict[str, Any]) -> bool:
    return spec.get("type") == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"


def validate_service(svc: dict[str, Any], old: dict[str, Any] | None = None) -> Errors:
    errs = validate_object_meta(svc, True, name_is_dns1035_label)
    spec = as_dict(svc.get("spec"))
    ips = _cluster_ips(svc, old)
    headless = _is_headless(ips)
    typ = as_str(spec.get("type"))
    ports = [as_dict(p) for p in as_list(spec.get("ports"))]
    if not ports and not headless and typ != "ExternalName":
        errs.append(FieldError.required("spec.ports"))
    if typ in ("LoadBalancer", "NodePort") and headless:
        errs.append(FieldError.invalid("spec.clusterIPs[0]", ips[0],
                                       f"may not be set to 'None' for {typ} services"))
    if typ == "ExternalName":
        if ips:
            errs.append(FieldError.forbidden("spec.clusterIPs",
                                             "may not be set for ExternalName services"))
        if as_list(spec.get("ipFamilies")):
            errs.append(FieldError.forbidden("spec.ipFamilies",
                                             "may not be set for ExternalName services"))
        if spec.get("ipFamilyPolicy") is not None:
            errs.append(FieldError.forbidden("spec.ipFamilyPolicy",
                                             "may not be set for ExternalName services"))
        cname = as_str(spec.get("externalName")).removesuffix(".")
        if cname:
            errs.extend(validate_dns1123_subdomain(cname, "spec.externalName"))
        else:
            errs.append(FieldError.required("spec.externalName"))
    names: set[str] = set()
    for i, port in enumerate(ports):
        errs.extend(_validate_service_port(port, len(ports) > 1, names, f"spec.ports[{i}]"))
    if spec.get("selector") is not None:
        errs.extend(validate_labels(spec.get("selector"), "spec.selector"))
    affinity = as_str(spec.get("sessionAffinity"))
    if not affinity:
        errs.append(FieldError.required("spec.sessionAffinity"))
    elif affinity not in ("ClientIP", "None"):
        errs.append(FieldError.not_supported("spec.sessionAffinity", affinity,
                                             ["ClientIP", "None"]))
    if affinity == "ClientIP":
        cfg = spec.get("sessionAffinityConfig")
        p = "spec.sessionAffinityConfig"
        if cfg is None:
            errs.append(FieldError.required(p, "when session affinity type is ClientIP"))
        elif as_dict(cfg).get("clientIP") is None:
            errs.append(FieldError.required(f"{p}.clientIP", "when session affinity type is "
                                            "ClientIP"))
        else:
            timeout = get(cfg, "clientIP", "timeoutSeconds")
            if timeout is None:
                errs.append(FieldError.required(f"{p}.clientIP.timeoutSeconds",
                                                "when session affinity type is ClientIP"))
            elif not 0 < as_int(timeout) <= 86400:
                errs.append(FieldError.invalid(f"{p}.clientIP.timeoutSeconds", timeout,
                                               "must be greater than 0 and less than 86400"))
    elif affinity == "None" and spec.get("sessionAffinityConfig") is not None:
        errs.append(FieldError.forbidden("spec.sessionAffinityConfig",
                                         "must not be set when session affinity is None"))
    errs.extend(_validate_cluster_ips_related(spec, ips))
    for i, ip in enumerate(as_list(spec.get("externalIPs"))):
        ip_errs = is_valid_ip(f"spec.externalIPs[{i}]", as_str(ip))
        errs.extend(ip_errs or _validate_non_special_ip(as_str(ip), f"spec.externalIPs[{i}]"))
    if not typ:
        errs.append(FieldError.required("spec.type"))
    elif typ not in _SERVICE_TYPES:
        errs.append(FieldError.not_supported("spec.type", typ, _SERVICE_TYPES))
    if typ == "ClusterIP":
        for i, port in enumerate(ports):
            if as_int(port.get("nodePort")) != 0:
                errs.append(FieldError.forbidden(f"spec.ports[{i}].nodePort",
                                                 "may not be used when `type` is 'ClusterIP'"))
    node_ports: set[tuple[str, int]] = set()
    for i, port in enumerate(ports):
        np = as_int(port.get("nodePort"))
        if np == 0:
            continue
        k = (as_str(port.get("protocol")), np)
        if k in node_ports:
            errs.append(FieldError.duplicate(f"spec.ports[{i}].nodePort", np))
        node_ports.add(k)
    seen_ports: set[tuple[str, int]] = set()
    for i, port in enumerate(ports):
        k = (as_str(port.get("protocol")), as_int(port.get("port")))
        if k in seen_ports:
            errs.append(FieldError.duplicate(f"spec.ports[{i}]", {"protocol": k[0], "port": k[1]}))
        seen_ports.add(k)
    ranges = as_list(spec.get("loadBalancerSourceRanges"))
    if ranges:
        if typ != "LoadBalancer":
            errs.append(FieldError.forbidden("spec.LoadBalancerSourceRanges",
                                             "may only be used when `type` is 'LoadBalancer'"))
        for i, value in enumerate(ranges):
            errs.extend(is_valid_cidr(f"spec.LoadBalancerSourceRanges[{i}]", as_str(value).strip()))
    if spec.get("allocateLoadBalancerNodePorts") is not None and typ != "LoadBalancer":
        errs.append(FieldError.forbidden("spec.allocateLoadBalancerNodePorts",
                                         "may only be used when `type` is 'LoadBalancer'"))
    if typ == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is None:
        errs.append(FieldError.required("allocateLoadBalancerNodePorts"))
    lbc = spec.get("loadBalancerClass")
    if typ == "LoadBalancer":
        if lbc is not None:
            errs.extend(validate_qualified_name(as_str(lbc), "spec.loadBalancerClass"))
    elif lbc is not None:
        errs.append(FieldError.forbidden("spec.loadBalancerClass",
                                         "may only be used when `type` is 'LoadBalancer'"))
    etp = as_str(spec.get("externalTrafficPolicy"))
    if not _externally_accessible(spec):
        if etp:
            errs.append(FieldError.invalid("spec.externalTrafficPolicy", etp,
                                           "may only be set for externally-accessible services"))
    elif not etp:
        errs.append(FieldError.required("spec.externalTrafficPolicy"))
    elif etp not in ("Cluster", "Local"):
        errs.append(FieldError.not_supported("spec.externalTrafficPolicy", etp,
                                             ["Cluster", "Local"]))
    hcnp = as_int(spec.get("healthCheckNodePort"))
    if not _needs_health_check(spec):
        if hcnp != 0:
            errs.append(FieldError.invalid("spec.healthCheckNodePort", hcnp,
                                           "may only be set when `type` is 'LoadBalancer' and "
                                           "`externalTrafficPolicy` is 'Local'"))
    elif hcnp == 0:
        errs.append(FieldError.required("spec.healthCheckNodePort"))
    else:
        errs.extend(FieldError.invalid("spec.healthCheckNodePort", hcnp, m)
                    for m in is_valid_port_num(hcnp))
    itp = spec.get("internalTrafficPolicy")
    if itp is None:
        if typ in ("NodePort", "LoadBalancer", "ClusterIP"):
            errs.append(FieldError.required("spec.internalTrafficPolicy"))
    elif itp not in ("Cluster", "Local"):
        errs.append(FieldError.not_supported("spec.internalTrafficPolicy", itp,
                                             ["Cluster", "Local"]))
    td = spec.get("trafficDistribution")
    if td is not None and td not in ("PreferClose", "PreferSameNode", "PreferSameZone"):
        errs.append(FieldError.not_supported("spec.trafficDistribution", td,
                                             ["PreferClose", "PreferSameNode", "PreferSameZone"]))
    errs.extend(_validate_node_port_range(ports, old))
    return errs


def _validate_node_port_range(ports: list[dict[str, Any]], old: dict[str, Any] | None) -> Errors:
    """The service REST allocator's check of requested node ports."""
    lo, hi = NODE_PORT_RANGE
    old_ports = {as_int(as_dict(p).get("nodePort")) for p in as_list(get(old, "spec", "ports"))}
    errs: Errors = []
    for i, port in enumerate(ports):
        np = as_int(port.get("nodePort"))
        if np != 0 and np not in old_ports and not lo <= np <= hi:
            errs.append(FieldError.invalid(f"spec.ports[{i}].nodePort", np,
                                           "provided port is not in the valid range. The range "
                                           f"of valid ports is {lo}-{hi}"))
    return errs


def _validate_service_port(sp: dict[str, Any], require_name: bool, names: set[str],
                           path: str) -> Errors:
    errs: Errors = []
    name = as_str(sp.get("name"))
    if require_name and not name:
        errs.append(FieldError.required(child(path, "name")))
    elif name:
        errs.extend(validate_dns1123_label(name, child(path, "name")))
        if name in names:
            errs.append(FieldError.duplicate(child(path, "name"), name))
        else:
            names.add(name)
    port = as_int(sp.get("port"))
    errs.extend(FieldError.invalid(child(path, "port"), port, m) for m in is_valid_port_num(port))
    proto = as_str(sp.get("protocol"))
    if not proto:
        errs.append(FieldError.required(child(path, "protocol")))
    elif proto not in SUPPORTED_PORT_PROTOCOLS:
        errs.append(FieldError.not_supported(child(path, "protocol"), proto,
                                             SUPPORTED_PORT_PROTOCOLS))
    errs.extend(_validate_port_num_or_name(sp.get("targetPort"), child(path, "targetPort")))
    if sp.get("appProtocol") is not None:
        errs.extend(validate_qualified_name(as_str(sp.get("appProtocol")),
                                            child(path, "appProtocol")))
    return errs


def _validate_cluster_ips_related(spec: dict[str, Any], ips: list[str]) -> Errors:
    if spec.get("type") == "ExternalName":
        return []
    errs: Errors = []
    ip = as_str(spec.get("clusterIP"))
    if ip:
        if not ips:
            errs.append(FieldError.required("spec.clusterIPs"))
        elif ips[0] != ip:
            errs.append(FieldError.invalid("spec.clusterIPs", ips,
                                           "first value must match `clusterIP`"))
    elif ips:
        errs.append(FieldError.invalid("spec.clusterIPs", ips,
                                       "must be empty when `clusterIP` is not specified"))
    families = [as_str(f) for f in as_list(spec.get("ipFamilies"))]
    seen: set[str] = set()
    for i, fam in enumerate(families):
        if fam not in ("IPv4", "IPv6"):
            errs.append(FieldError.not_supported(f"spec.ipFamilies[{i}]", fam, ["IPv4", "IPv6"]))
        if fam in seen:
            errs.append(FieldError.duplicate(f"spec.ipFamilies[{i}]", fam))
        seen.add(fam)
    policy = spec.get("ipFamilyPolicy")
    supported = ["PreferDualStack", "RequireDualStack", "SingleStack"]
    if policy is not None and policy not in supported:
        errs.append(FieldError.not_supported("spec.ipFamilyPolicy", policy, supported))
    invalid = False
    for i, cip in enumerate(ips):
        if i == 0 and cip == "None":
            if len(ips) > 1:
                invalid = True
                errs.append(FieldError.invalid("spec.clusterIPs", ips,
                                               "'None' must be the first and only value"))
            continue
        ip_errs = is_valid_ip(f"spec.clusterIPs[{i}]", cip)
        invalid = invalid or bool(ip_errs)
        errs.extend(ip_errs)
    if len(ips) > 2:
        errs.append(FieldError.invalid("spec.clusterIPs", ips, "may only hold up to 2 values"))
    if invalid:
        return errs
    if len(ips) > 1 and is_ipv6(ips[0]) == is_ipv6(ips[1]):
        errs.append(FieldError.invalid("spec.clusterIPs", ips,
                                       "may specify no more than one IP for each IP family"))
    if not _is_headless(ips) and ips and families:
        for i, cip in enumerate(ips[:len(families)]):
            if families[i] == "IPv4" and is_ipv6(cip):
                errs.append(FieldError.invalid(f"spec.clusterIPs[{i}]", cip, "expected an IPv4 "
                                               f"value as indicated by `ipFamilies[{i}]`"))
            if families[i] == "IPv6" and not is_ipv6(cip):
                errs.append(FieldError.invalid(f"spec.clusterIPs[{i}]", cip, "expected an IPv6 "
                                               f"value as indicated by `ipFamilies[{i}]`"))
    return errs


def _validate_non_special_ip(ip: str, path: str) -> Errors:
    import ipaddress

    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return [FieldError.invalid(path, ip, "must be a valid IP address")]
    errs: Errors = []
    if addr.is_unspecified:
        errs.append(FieldError.invalid(path, ip, f"may not be unspecified ({ip})"))
    if addr.is_loopback:
        errs.append(FieldError.invalid(path, ip, "may not be in the loopback range (127.0.0.0/8, "
                                       "::1/128)"))
    if addr.is_link_local:
        errs.append(FieldError.invalid(path, ip, "may not be in the link-local range "
                                       "(169.254.0.0/16, fe80::/10)"))
    link_mcast = ipaddress.ip_network("224.0.0.0/24") if addr.version == 4 else \
        ipaddress.ip_network("ff02::/16")
    if addr in link_mcast:
        errs.append(FieldError.invalid(path, ip, "may not be in the link-local multicast range "
                                       "(224.0.0.0/24, ff02::/10)"))
    return errs


def validate_service_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    errs = validate_object_meta_update(new, old)
    ns, os_ = as_dict(new.get("spec")), as_dict(old.get("spec"))
    new_ips = _cluster_ips(new, old)
    old_ips = [as_str(x) for x in as_list(os_.get("clusterIPs"))] or \
        ([as_str(os_.get("clusterIP"))] if as_str(os_.get("clusterIP")) else [])
    if "ExternalName" not in (ns.get("type"), os_.get("type")) and not (
            _is_headless(old_ips) and _is_headless(new_ips)):
        if len(old_ips) == len(new_ips):
            for i, ip in enumerate(old_ips):
                if ip != new_ips[i]:
                    errs.append(FieldError.invalid(f"spec.clusterIPs[{i}]", new_ips,
                                                   "may not change once set"))
        elif len(old_ips) > len(new_ips):
            if not new_ips:
                errs.append(FieldError.invalid("spec.clusterIPs[0]", new_ips,
                                               "primary clusterIP can not be unset"))
            elif new_ips[0] != old_ips[0]:
                errs.append(FieldError.invalid("spec.clusterIPs[0]", new_ips,
                                               "may not change once set"))
            if len(new_ips) == 1 and ns.get("ipFamilyPolicy") != "SingleStack":
                errs.append(FieldError.invalid("spec.ipFamilyPolicy", ns.get("ipFamilyPolicy"),
                                               "must be set to 'SingleStack' when releasing the "
                                               "secondary clusterIP"))
        elif old_ips and new_ips[0] != old_ips[0]:
            errs.append(FieldError.invalid("spec.clusterIPs[0]", new_ips,
                                           "may not change once set"))
    if os_.get("type") == "LoadBalancer" and ns.get("type") == "LoadBalancer" and \
            os_.get("loadBalancerClass") != ns.get("loadBalancerClass"):
        errs.append(FieldError.invalid("spec.loadBalancerClass", ns.get("loadBalancerClass"),
                                       "may not change once set"))
    if _needs_health_check(os_) and _needs_health_check(ns) and \
            as_int(ns.get("healthCheckNodePort")) != as_int(os_.get("healthCheckNodePort")):
        errs.append(FieldError.forbidden("spec.healthCheckNodePort", FIELD_IMMUTABLE))
    errs.extend(validate_service(new, old))
    return errs


# ======================================================================= config and secrets

def _decoded_len(value: Any) -> int:
    try:
        return len(base64.b64decode(as_str(value), validate=True))
    except (binascii.Error, ValueError):
        return len(as_str(value))


def validate_config_map(cm: dict[str, Any]) -> Errors:
    errs = validate_object_meta(cm, True, name_is_dns_subdomain)
    data, binary = as_dict(cm.get("data")), as_dict(cm.get("binaryData"))
    total = 0
    for k, v in data.items():
        errs.extend(FieldError.invalid(key("data", k), k, m) for m in is_config_map_key(k))
        if k in binary:
            errs.append(FieldError.invalid(key("data", k), k, "duplicate of key present in "
                                           "binaryData"))
        total += len(as_str(v).encode())
    for k, v in binary.items():
        errs.extend(FieldError.invalid(key("binaryData", k), k, m) for m in is_config_map_key(k))
        total += _decoded_len(v)
    if total > MAX_SECRET_SIZE:
        errs.append(too_long("", MAX_SECRET_SIZE))
    return errs


def _immutable_contents(new: dict[str, Any], old: dict[str, Any],
                        fields: tuple[str, ...]) -> Errors:
    errs: Errors = []
    if old.get("immutable") is True:
        if new.get("immutable") is not True:
            errs.append(FieldError.forbidden("immutable", "field is immutable when `immutable` is "
                                             "set"))
        for name in fields:
            if as_dict(new.get(name)) != as_dict(old.get(name)):
                errs.append(FieldError.forbidden(name, "field is immutable when `immutable` is "
                                                 "set"))
    return errs


def validate_config_map_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    errs = validate_object_meta_update(new, old)
    errs.extend(_immutable_contents(new, old, ("data", "binaryData")))
    errs.extend(validate_config_map(new))
    return errs


def validate_secret(secret: dict[str, Any]) -> Errors:
    errs = validate_object_meta(secret, True, name_is_dns_subdomain)
    data = as_dict(secret.get("data"))
    total = 0
    for k, v in data.items():
        errs.extend(FieldError.invalid(key("data", k), k, m) for m in is_config_map_key(k))
        total += _decoded_len(v)
    for k, v in as_dict(secret.get("stringData")).items():
        if k not in data:
            errs.extend(FieldError.invalid(key("data", k), k, m) for m in is_config_map_key(k))
        total += len(as_str(v).encode())
    if total > MAX_SECRET_SIZE:
        errs.append(too_long("data", MAX_SECRET_SIZE))
    keys = set(data) | set(as_dict(secret.get("stringData")))
    typ = as_str(secret.get("type"))
    if typ == "kubernetes.io/service-account-token":
        if not as_str(get(secret, "metadata", "annotations", "kubernetes.io/service-account.name")):
            errs.append(FieldError.required(key("metadata.annotations",
                                                "kubernetes.io/service-account.name")))
    elif typ == "kubernetes.io/dockercfg":
        if ".dockercfg" not in keys:
            errs.append(FieldError.required(key("data", ".dockercfg")))
    elif typ == "kubernetes.io/dockerconfigjson":
        if ".dockerconfigjson" not in keys:
            errs.append(FieldError.required(key("data", ".dockerconfigjson")))
    elif typ == "kubernetes.io/basic-auth":
        if "username" not in keys and "password" not in keys:
            errs.append(FieldError.required(key("data", "username")))
            errs.append(FieldError.required(key("data", "password")))
    elif typ == "kubernetes.io/ssh-auth":
        if "ssh-privatekey" not in keys:
            errs.append(FieldError.required(key("data", "ssh-privatekey")))
    elif typ == "kubernetes.io/tls":
        for k in ("tls.crt", "tls.key"):
            if k not in keys:
                errs.append(FieldError.required(key("data", k)))
    return errs


def validate_secret_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    errs = validate_object_meta_update(new, old)
    errs.extend(validate_immutable(as_str(new.get("type")), as_str(old.get("type")), "type"))
    errs.extend(_immutable_contents(new, old, ("data",)))
    errs.extend(validate_secret(new))
    return errs


# ======================================================================= namespaces, nodes, SAs

def validate_namespace(ns: dict[str, Any]) -> Errors:
    errs = validate_object_meta(ns, False, name_is_dns_label)
    for f in as_list(get(ns, "spec", "finalizers")):
        errs.extend(FieldError.invalid("spec.finalizers", f, m)
                    for m in is_qualified_name(as_str(f)))
        errs.extend(validate_kube_finalizer_name(as_str(f), "spec.finalizers"))
    return errs


def validate_namespace_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    return validate_object_meta_update(new, old)


def _validate_taints(taints: list[Any], path: str) -> Errors:
    errs: Errors = []
    unique: dict[str, set[str]] = {}
    for i, taint in enumerate(taints):
        taint = as_dict(taint)
        p = index(path, i)
        k, v, effect = as_str(taint.get("key")), as_str(taint.get("value")), \
            as_str(taint.get("effect"))
        errs.extend(validate_label_name(k, child(p, "key")))
        msgs = is_valid_label_value(v)
        if msgs:
            errs.append(FieldError.invalid(child(p, "value"), v, ";".join(msgs)))
        errs.extend(_validate_taint_effect(effect, False, child(p, "effect")))
        if k in unique.get(effect, set()):
            errs.append(FieldError(p, "FieldValueDuplicate",
                                   "taints must be unique by key and effect pair", taint))
            continue
        unique.setdefault(effect, set()).add(k)
    return errs


def _validate_node_resources(node: dict[str, Any]) -> Errors:
    errs: Errors = []
    for section in ("capacity", "allocatable"):
        for k, v in as_dict(get(node, "status", section)).items():
            errs.extend(validate_resource_quantity_value(k, v, f"status.{section}.{k}"))
    return errs


def _validate_pod_cidrs(cidrs: list[Any]) -> Errors:
    errs: Errors = []
    for i, cidr in enumerate(cidrs):
        errs.extend(is_valid_cidr(f"spec.podCIDRs[{i}]", as_str(cidr)))
    if len(cidrs) > 1:
        fams = [is_ipv6(as_str(c).split("/")[0]) for c in cidrs]
        if len(cidrs) > 2 or fams[0] == fams[1]:
            errs.append(FieldError.invalid("spec.podCIDRs", cidrs,
                                           "may specify no more than one CIDR for each IP family"))
        seen: set[str] = set()
        for i, cidr in enumerate(cidrs):
            if as_str(cidr) in seen:
                errs.append(FieldError.duplicate(f"spec.podCIDRs[{i}]", cidr))
            seen.add(as_str(cidr))
    return errs


def validate_node(node: dict[str, Any]) -> Errors:
    errs = validate_object_meta(node, False, name_is_dns_subdomain)
    taints = as_list(get(node, "spec", "taints"))
    if taints:
        errs.extend(_validate_taints(taints, "metadata.taints"))
    errs.extend(_validate_node_resources(node))
    errs.extend(_validate_pod_cidrs(as_list(get(node, "spec", "podCIDRs"))))
    return errs


def validate_node_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    errs = validate_object_meta_update(new, old)
    errs.extend(_validate_node_resources(new))
    seen: list[Any] = []
    for i, addr in enumerate(as_list(get(new, "status", "addresses"))):
        if addr in seen:
            errs.append(FieldError.duplicate(f"status.addresses[{i}]", addr))
        seen.append(addr)
    old_cidrs = as_list(get(old, "spec", "podCIDRs"))
    new_cidrs = as_list(get(new, "spec", "podCIDRs"))
    if old_cidrs:
        msg = 'node updates may not change podCIDR except from "" to valid'
        if len(old_cidrs) != len(new_cidrs):
            errs.append(FieldError.forbidden("spec.podCIDRs", msg))
        else:
            errs.extend(FieldError.forbidden("spec.podCIDRs", msg)
                        for o, n in zip(old_cidrs, new_cidrs, strict=True) if o != n)
    old_pid = as_str(get(old, "spec", "providerID"))
    if old_pid and old_pid != as_str(get(new, "spec", "providerID")):
        errs.append(FieldError.forbidden("spec.providerID", "node updates may not change "
                                         'providerID except from "" to valid'))
    taints = as_list(get(new, "spec", "taints"))
    if taints:
        errs.extend(_validate_taints(taints, "metadata.taints"))
    if as_str(get(new, "spec", "externalID")) != as_str(get(old, "spec", "externalID")):
        errs.append(FieldError.forbidden("spec.externalID", "may not be updated"))
    return errs


def validate_service_account(sa: dict[str, Any]) -> Errors:
    return validate_object_meta(sa, True, name_is_dns_subdomain)


def validate_service_account_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    return validate_object_meta_update(new, old) + validate_service_account(new)


# ======================================================================= events

def validate_event(event: dict[str, Any]) -> Errors:
    """core/v1 events get only upstream's legacy event checks."""
    errs: Errors = []
    namespace = as_str(get(event, "metadata", "namespace"))
    involved_ns = as_str(get(event, "involvedObject", "namespace"))
    if not event.get("eventTime"):
        if not involved_ns:
            if namespace not in ("", "default"):
                errs.append(FieldError.invalid("involvedObject.namespace", involved_ns,
                                               "does not match event.namespace"))
        elif namespace != involved_ns:
            errs.append(FieldError.invalid("involvedObject.namespace", involved_ns,
                                           "does not match event.namespace"))
    else:
        if not involved_ns and namespace not in ("default", "kube-system"):
            errs.append(FieldError.invalid("involvedObject.namespace", involved_ns,
                                           "does not match event.namespace"))
        controller = as_str(event.get("reportingComponent"))
        if not controller:
            errs.append(FieldError.required("reportingComponent"))
        errs.extend(validate_qualified_name(controller, "reportingComponent"))
        for name, limit in (("reportingInstance", 128), ("action", 128), ("reason", 128)):
            value = as_str(event.get(name))
            if not value:
                errs.append(FieldError.required(name))
            if len(value) > limit:
                errs.append(FieldError.invalid(name, "", f"can have at most {limit} characters"))
        if len(as_str(event.get("message"))) > 1024:
            errs.append(FieldError.invalid("message", "", "can have at most 1024 characters"))
    errs.extend(FieldError.invalid("namespace", namespace, m)
                for m in is_dns1123_subdomain(namespace))
    return errs


# ======================================================================= storage

_ACCESS_MODES = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"]
_VOLUME_MODES = ["Block", "Filesystem"]
_RECLAIM_POLICIES = ["Delete", "Recycle", "Retain"]


def _validate_access_modes(modes: list[Any], path: str, detail: str) -> Errors:
    errs: Errors = []
    if not modes:
        errs.append(FieldError.required(path, detail))
    rwop = other = False
    for mode in modes:
        if mode not in _ACCESS_MODES:
            errs.append(FieldError.not_supported(path, mode, _ACCESS_MODES))
        if mode == "ReadWriteOncePod":
            rwop = True
        elif mode in _ACCESS_MODES:
            other = True
    if rwop and other:
        errs.append(FieldError.forbidden(path, "may not use ReadWriteOncePod with other access "
                                         "modes"))
    return errs


def validate_pvc_spec(spec: dict[str, Any], path: str) -> Errors:
    errs = _validate_access_modes(as_list(spec.get("accessModes")), child(path, "accessModes"),
                                  "at least 1 access mode is required")
    if spec.get("selector") is not None:
        errs.extend(validate_label_selector(spec.get("selector"), child(path, "selector")))
    storage = as_dict(get(spec, "resources", "requests")).get("storage")
    sp = key(child(path, "resources"), "storage")
    if storage is None:
        errs.append(FieldError.required(sp))
    else:
        q = _q(storage)
        if q is None:
            errs.append(FieldError.invalid(sp, storage, _quantity_error(storage)))
        elif q.sign() <= 0:
            errs.append(FieldError.invalid(sp, str(q), IS_NOT_POSITIVE))
        else:
            errs.extend(validate_resource_quantity_value("storage", storage, sp))
    scn = spec.get("storageClassName")
    if scn:
        errs.extend(FieldError.invalid(child(path, "storageClassName"), scn, m)
                    for m in name_is_dns_subdomain(as_str(scn), False))
    mode = spec.get("volumeMode")
    if mode is not None and mode not in _VOLUME_MODES:
        errs.append(FieldError.not_supported(child(path, "volumeMode"), mode, _VOLUME_MODES))
    for name in ("dataSource", "dataSourceRef"):
        ds = spec.get(name)
        if ds is None:
            continue
        ds = as_dict(ds)
        dp = child(path, name)
        if not as_str(ds.get("name")):
            errs.append(FieldError.required(child(dp, "name")))
        if not as_str(ds.get("kind")):
            errs.append(FieldError.required(child(dp, "kind")))
        group = as_str(ds.get("apiGroup"))
        if not group and ds.get("kind") != "PersistentVolumeClaim":
            errs.append(FieldError.invalid(dp, as_str(ds.get("kind")), "must be "
                                           "'PersistentVolumeClaim' when referencing the default "
                                           "apiGroup"))
        if group:
            errs.extend(FieldError.invalid(child(dp, "apiGroup"), group, m)
                        for m in is_dns1123_subdomain(group))
    return errs


def validate_pvc(pvc: dict[str, Any]) -> Errors:
    errs = validate_object_meta(pvc, True, is_path_segment_name_fn)
    errs.extend(validate_pvc_spec(as_dict(pvc.get("spec")), "spec"))
    return errs


def is_path_segment_name_fn(name: str, prefix: bool) -> list[str]:
    from kybernetes.api.validation.meta import is_path_segment_name

    return is_path_segment_name(name, prefix)


def validate_pvc_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    errs = validate_object_meta_update(new, old)
    errs.extend(validate_pvc(new))
    ns, os_ = dict(as_dict(new.get("spec"))), dict(as_dict(old.get("spec")))
    if not as_str(os_.get("volumeName")):
        os_["volumeName"] = ns.get("volumeName")
    if os_.get("storageClassName") is None and ns.get("storageClassName") is not None:
        old_ann = as_str(get(old, "metadata", "annotations",
                             "volume.beta.kubernetes.io/storage-class"))
        if not old_ann or old_ann == ns.get("storageClassName"):
            ns["storageClassName"] = None
    new_req = dict(as_dict(get(ns, "resources", "requests")))
    old_req = as_dict(get(os_, "resources", "requests"))
    if get(new, "status", "phase") == "Bound" and "resources" in ns:
        new_req["storage"] = old_req.get("storage")
        ns["resources"] = dict(as_dict(ns.get("resources")), requests=new_req)
    ns["volumeAttributesClassName"] = os_.get("volumeAttributesClassName")
    if not semantic_equal(ns, os_):
        lines = diff(os_, ns, "spec")
        body = "\n".join(["  core.PersistentVolumeClaimSpec{", *lines, "  }", ""])
        errs.append(FieldError.forbidden("spec", "spec is immutable after creation except "
                                         "resources.requests and volumeAttributesClassName for "
                                         f"bound claims\n{body}"))
    new_size = _q(as_dict(get(new, "spec", "resources", "requests")).get("storage", "0"))
    old_size = _q(as_dict(get(old, "spec", "resources", "requests")).get("storage", "0"))
    status_size = _q(as_dict(get(old, "status", "capacity")).get("storage", "0"))
    if new_size is not None and old_size is not None and new_size < old_size and \
            status_size is not None and new_size <= status_size:
        errs.append(FieldError.forbidden("spec.resources.requests.storage",
                                         "field can not be less than status.capacity"))
    errs.extend(validate_immutable(get(new, "spec", "volumeMode"), get(old, "spec", "volumeMode"),
                                   "volumeMode"))
    return errs


_PV_SOURCES = ("gcePersistentDisk", "awsElasticBlockStore", "hostPath", "glusterfs", "nfs", "rbd",
               "iscsi", "cinder", "cephfs", "fc", "flocker", "flexVolume", "azureFile",
               "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk", "portworxVolume",
               "scaleIO", "local", "storageos", "csi")


def validate_pv(pv: dict[str, Any]) -> Errors:
    errs = validate_object_meta(pv, False, is_path_segment_name_fn)
    spec = as_dict(pv.get("spec"))
    errs.extend(_validate_access_modes(as_list(spec.get("accessModes")), "spec.accessModes", ""))
    capacity = as_dict(spec.get("capacity"))
    if not capacity:
        errs.append(FieldError.required("spec.capacity"))
    if "storage" not in capacity or len(capacity) > 1:
        errs.append(FieldError.not_supported("spec.capacity", capacity, ["storage"]))
    for r, qty in capacity.items():
        q = _q(qty)
        p = key("spec.capacity", r)
        if q is None:
            errs.append(FieldError.invalid(p, qty, _quantity_error(qty)))
            continue
        if q.int_value() < 0:
            errs.append(FieldError.invalid(p, q.int_value(), "must be a valid resource quantity"))
        if q.sign() <= 0:
            errs.append(FieldError.invalid(p, str(q), IS_NOT_POSITIVE))
    policy = as_str(spec.get("persistentVolumeReclaimPolicy"))
    if policy and policy not in _RECLAIM_POLICIES:
        errs.append(FieldError.not_supported("spec.persistentVolumeReclaimPolicy", policy,
                                             _RECLAIM_POLICIES))
    count = 0
    for name in _PV_SOURCES:
        if spec.get(name) is None:
            continue
        p = f"spec.{name}"
        if count > 0:
            errs.append(FieldError.forbidden(p, "may not specify more than 1 volume type"))
            continue
        count += 1
        src = as_dict(spec.get(name))
        if name == "hostPath":
            errs.extend(_validate_host_path(src, p))
        elif name == "nfs":
            if not as_str(src.get("server")):
                errs.append(FieldError.required(f"{p}.server"))
            if not as_str(src.get("path")):
                errs.append(FieldError.required(f"{p}.path"))
            if not as_str(src.get("path")).startswith("/"):
                errs.append(FieldError.invalid(f"{p}.path", as_str(src.get("path")),
                                               "must be an absolute path"))
        elif name == "local":
            if not as_str(src.get("path")):
                errs.append(FieldError.required(f"{p}.path"))
            else:
                errs.extend(_validate_path_no_backsteps(as_str(src.get("path")), f"{p}.path"))
            if spec.get("nodeAffinity") is None:
                errs.append(FieldError.required("spec.nodeAffinity", "Local volume requires "
                                                "node affinity"))
        elif name == "csi":
            if not as_str(src.get("driver")):
                errs.append(FieldError.required(f"{p}.driver"))
            if not as_str(src.get("volumeHandle")):
                errs.append(FieldError.required(f"{p}.volumeHandle"))
    if count == 0:
        errs.append(FieldError.required("spec", "must specify a volume type"))
    mode = spec.get("volumeMode")
    if mode is not None and mode not in _VOLUME_MODES:
        errs.append(FieldError.not_supported("spec.volumeMode", mode, _VOLUME_MODES))
    scn = as_str(spec.get("storageClassName"))
    if scn:
        errs.extend(FieldError.invalid("spec.storageClassName", scn, m)
                    for m in name_is_dns_subdomain(scn, False))
    return errs


def validate_pv_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    errs = validate_pv(new)
    errs.extend(validate_object_meta_update(new, old))
    ns, os_ = as_dict(new.get("spec")), as_dict(old.get("spec"))
    new_src = {k: ns.get(k) for k in _PV_SOURCES if ns.get(k) is not None}
    old_src = {k: os_.get(k) for k in _PV_SOURCES if os_.get(k) is not None}
    if "csi" in new_src and "csi" in old_src and \
            as_dict(old_src["csi"]).get("controllerExpandSecretRef") is None:
        new_src["csi"] = {k: v for k, v in as_dict(new_src["csi"]).items()
                          if k != "controllerExpandSecretRef"}
    if not semantic_equal(new_src, old_src):
        lines = diff(old_src, new_src, "spec")
        errs.append(FieldError.forbidden("spec.persistentvolumesource",
                                         "spec.persistentvolumesource is immutable after "
                                         "creation\n" + "\n".join(lines)))
    errs.extend(validate_immutable(ns.get("volumeMode"), os_.get("volumeMode"), "volumeMode"))
    return errs


# ======================================================================= quotas and limits

def validate_resource_quota(rq: dict[str, Any]) -> Errors:
    errs = validate_object_meta(rq, True, name_is_dns_subdomain)
    errs.extend(_validate_quota_spec(as_dict(rq.get("spec")), "spec"))
    for section in ("hard", "used"):
        for k, v in as_dict(get(rq, "status", section)).items():
            p = key(f"status.{section}", k)
            errs.extend(_validate_quota_resource_name(k, p))
            errs.extend(validate_resource_quantity_value(k, v, p))
    return errs


_QUOTA_SCOPES = ("Terminating", "NotTerminating", "BestEffort", "NotBestEffort", "PriorityClass",
                 "CrossNamespacePodAffinity", "VolumeAttributesClass")


def _validate_quota_spec(spec: dict[str, Any], path: str) -> Errors:
    errs: Errors = []
    hard = as_dict(spec.get("hard"))
    for k, v in hard.items():
        p = key(child(path, "hard"), k)
        errs.extend(_validate_quota_resource_name(k, p))
        errs.extend(validate_resource_quantity_value(k, v, p))
    scopes = [as_str(s) for s in as_list(spec.get("scopes"))]
    pod_resources = {"pods", "cpu", "memory", "limits.cpu", "limits.memory", "requests.cpu",
                     "requests.memory"}
    for scope in scopes:
        if scope not in _QUOTA_SCOPES:
            errs.append(FieldError.invalid(child(path, "scopes"), scopes, "unsupported scope"))
        for k in sorted(hard):
            standard = k in _STANDARD_QUOTA_RESOURCES or _is_quota_hugepage(k)
            if not standard:
                continue
            if scope in ("Terminating", "NotTerminating", "NotBestEffort", "PriorityClass",
                         "CrossNamespacePodAffinity"):
                valid = k in pod_resources
            elif scope == "BestEffort":
                valid = k == "pods"
            else:
                valid = True
            if not valid:
                errs.append(FieldError.invalid(child(path, "scopes"), scopes,
                                               "unsupported scope applied to resource"))
    for pair in (("BestEffort", "NotBestEffort"), ("Terminating", "NotTerminating")):
        if set(pair) <= set(scopes):
            errs.append(FieldError.invalid(child(path, "scopes"), scopes, "conflicting scopes"))
    return errs


def validate_resource_quota_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    errs = validate_object_meta_update(new, old)
    errs.extend(_validate_quota_spec(as_dict(new.get("spec")), "spec"))
    new_scopes = set(map(str, as_list(get(new, "spec", "scopes"))))
    old_scopes = set(map(str, as_list(get(old, "spec", "scopes"))))
    if new_scopes != old_scopes:
        errs.append(FieldError.invalid("spec.scopes", as_list(get(new, "spec", "scopes")),
                                       FIELD_IMMUTABLE))
    return errs


def validate_limit_range(lr: dict[str, Any]) -> Errors:
    errs = validate_object_meta(lr, True, name_is_dns_subdomain)
    seen_types: set[str] = set()
    for i, item in enumerate(as_list(get(lr, "spec", "limits"))):
        item = as_dict(item)
        p = f"spec.limits[{i}]"
        typ = as_str(item.get("type"))
        type_errs = [FieldError.invalid(child(p, "type"), typ, m) for m in is_qualified_name(typ)]
        if not type_errs and "/" not in typ and typ not in ("Pod", "Container",
                                                            "PersistentVolumeClaim"):
            type_errs.append(FieldError.invalid(child(p, "type"), typ,
                                                "must be a standard limit type or fully qualified"))
        errs.extend(type_errs)
        if typ in seen_types:
            errs.append(FieldError.duplicate(child(p, "type"), typ))
        seen_types.add(typ)

        def name_fn(name: str, rp: str, typ: str = typ) -> Errors:
            if typ in ("Pod", "Container"):
                return _validate_container_resource_name(name, rp)
            return _validate_resource_name(name, rp)

        values: dict[str, dict[str, Quantity]] = {}
        for section in ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio"):
            for rname, qty in as_dict(item.get(section)).items():
                rp = key(child(p, section), rname)
                errs.extend(name_fn(rname, rp))
                q = _q(qty)
                if q is None:
                    errs.append(FieldError.invalid(rp, qty, _quantity_error(qty)))
                    continue
                values.setdefault(section, {})[rname] = q
                errs.extend(validate_resource_quantity_value(rname, qty, rp))
        if typ == "Pod":
            for section in ("default", "defaultRequest"):
                if as_dict(item.get(section)):
                    errs.append(FieldError.forbidden(child(p, section),
                                                     f"may not be specified when `type` is "
                                                     f"'{typ}'"))
        keys = set().union(*(set(v) for v in values.values())) if values else set()
        for rname in sorted(keys):
            mx = values.get("max", {}).get(rname)
            mn = values.get("min", {}).get(rname)
            df = values.get("default", {}).get(rname)
            dr = values.get("defaultRequest", {}).get(rname)
            ratio = values.get("maxLimitRequestRatio", {}).get(rname)
            if mn is not None and mx is not None and mn > mx:
                errs.append(FieldError.invalid(key(child(p, "min"), rname), mn,
                                               f"min value {mn} is greater than max value {mx}"))
            if dr is not None and mx is not None and dr > mx:
                errs.append(FieldError.invalid(key(child(p, "defaultRequest"), rname), dr,
                                               f"default request value {dr} is greater than max "
                                               f"value {mx}"))
            if dr is not None and df is not None and dr > df:
                errs.append(FieldError.invalid(key(child(p, "defaultRequest"), rname), dr,
                                               f"default request value {dr} is greater than "
                                               f"default limit value {df}"))
            if df is not None and mn is not None and mn > df:
                errs.append(FieldError.invalid(key(child(p, "default"), rname), mn,
                                               f"min value {mn} is greater than default value "
                                               f"{df}"))
            if df is not None and mx is not None and df > mx:
                errs.append(FieldError.invalid(key(child(p, "default"), rname), mx,
                                               f"default value {df} is greater than max value "
                                               f"{mx}"))
            if ratio is not None and ratio.milli_value() < 1000:
                errs.append(FieldError.invalid(key(child(p, "maxLimitRequestRatio"), rname), ratio,
                                               f"ratio {ratio} is less than 1"))
    return errs


def validate_limit_range_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    return validate_object_meta_update(new, old) + validate_limit_range(new)


# ======================================================================= RCs and endpoints

def validate_replication_controller(rc: dict[str, Any]) -> Errors:
    errs = validate_object_meta(rc, True, name_is_dns_subdomain)
    errs.extend(_validate_rc_spec(as_dict(rc.get("spec"))))
    return errs


def _validate_rc_spec(spec: dict[str, Any]) -> Errors:
    errs = validate_nonnegative(as_int(spec.get("minReadySeconds")), "spec.minReadySeconds")
    selector = as_dict(spec.get("selector"))
    if not selector:
        errs.append(FieldError.required("spec.selector"))
    errs.extend(validate_nonnegative(as_int(spec.get("replicas")), "spec.replicas"))
    template = spec.get("template")
    if template is None:
        errs.append(FieldError.required("spec.template"))
        return errs
    template = as_dict(template)
    labels = as_dict(get(template, "metadata", "labels"))
    if selector and any(labels.get(k) != v for k, v in selector.items()):
        errs.append(FieldError.invalid("spec.template.metadata.labels", labels,
                                       "`selector` does not match template `labels`"))
    errs.extend(validate_pod_template_spec(template, "spec.template", PodOpts()))
    tspec = as_dict(template.get("spec"))
    if tspec.get("restartPolicy") != "Always":
        errs.append(FieldError.not_supported("spec.template.spec.restartPolicy",
                                             as_str(tspec.get("restartPolicy")), ["Always"]))
    if tspec.get("activeDeadlineSeconds") is not None:
        errs.append(FieldError.forbidden("spec.template.spec.activeDeadlineSeconds",
                                         "activeDeadlineSeconds in ReplicationController is not "
                                         "Supported"))
    return errs


def validate_replication_controller_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    return validate_object_meta_update(new, old) + _validate_rc_spec(as_dict(new.get("spec")))


def validate_endpoints(ep: dict[str, Any]) -> Errors:
    errs = validate_object_meta(ep, True, name_is_dns_subdomain)
    for i, subset in enumerate(as_list(ep.get("subsets"))):
        subset = as_dict(subset)
        p = f"subsets[{i}]"
        addresses = as_list(subset.get("addresses"))
        not_ready = as_list(subset.get("notReadyAddresses"))
        if not addresses and not not_ready:
            errs.append(FieldError.required(p, "must specify `addresses` or `notReadyAddresses`"))
        for kind, addrs in (("addresses", addresses), ("notReadyAddresses", not_ready)):
            for j, addr in enumerate(addrs):
                addr = as_dict(addr)
                ap = f"{p}.{kind}[{j}]"
                ip = as_str(addr.get("ip"))
                errs.extend(is_valid_ip(f"{ap}.ip", ip))
                if as_str(addr.get("hostname")):
                    errs.extend(validate_dns1123_label(as_str(addr.get("hostname")),
                                                       f"{ap}.hostname"))
                if addr.get("nodeName") is not None:
                    node = as_str(addr.get("nodeName"))
                    errs.extend(FieldError.invalid(f"{ap}.nodeName", node, m)
                                for m in name_is_dns_subdomain(node, False))
                errs.extend(_validate_non_special_ip(ip, f"{ap}.ip"))
        ports = as_list(subset.get("ports"))
        for j, port in enumerate(ports):
            port = as_dict(port)
            pp = f"{p}.ports[{j}]"
            name = as_str(port.get("name"))
            if len(ports) > 1 and not name:
                errs.append(FieldError.required(f"{pp}.name"))
            elif name:
                errs.extend(validate_dns1123_label(name, f"{pp}.name"))
            num = as_int(port.get("port"))
            errs.extend(FieldError.invalid(f"{pp}.port", num, m) for m in is_valid_port_num(num))
            proto = as_str(port.get("protocol"))
            if not proto:
                errs.append(FieldError.required(f"{pp}.protocol"))
            elif proto not in SUPPORTED_PORT_PROTOCOLS:
                errs.append(FieldError.not_supported(f"{pp}.protocol", proto,
                                                     SUPPORTED_PORT_PROTOCOLS))
            if port.get("appProtocol") is not None:
                errs.extend(validate_qualified_name(as_str(port.get("appProtocol")),
                                                    f"{pp}.appProtocol"))
    return errs


def validate_endpoints_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    return validate_object_meta_update(new, old) + validate_endpoints(new)
