"""Per-resource behaviour of the generic store, as upstream's REST strategies.

A strategy decides what a create or an update may change: for kinds with a `status`
subresource, the main endpoint ignores status and the `/status` endpoint ignores everything
but status; `metadata.generation` counts spec changes; some kinds set initial status (a Pod
starts Pending, a Namespace Active); every write that stores status fills the fields
upstream always serialises (`api/statusdefaults.py`). `RETURNS_DELETED_OBJECT` says which
kinds answer a delete with the object. Defaulting and validation are delegated to `api/`.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson

from kybernetes.api import defaults, validation
from kybernetes.api.errors import FieldError
from kybernetes.api.registry import ResourceInfo
from kybernetes.api.statusdefaults import fill_status
from kybernetes.api.validation import core as core_validation
from kybernetes.apiserver import ephemeralcontainers

# Fields of metadata a client can never set or change through an update.
_SYSTEM_METADATA = ("uid", "creationTimestamp", "deletionTimestamp",
                    "deletionGracePeriodSeconds", "generation")

# Top-level fields other than metadata and status that hold no desired state.
_NOT_SPEC = {"apiVersion", "kind", "metadata", "status"}


def _spec_view(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in _NOT_SPEC}


# Kinds whose strategies track metadata.generation (custom resources do too).
_GENERATION_TRACKED = {
    "pods", "deployments", "replicasets", "statefulsets", "daemonsets", "jobs", "cronjobs",
    "replicationcontrollers", "networkpolicies", "ingresses", "poddisruptionbudgets",
    "customresourcedefinitions", "horizontalpodautoscalers",
    "flowschemas", "prioritylevelconfigurations", "mutatingwebhookconfigurations",
    "validatingwebhookconfigurations", "validatingadmissionpolicies",
    "validatingadmissionpolicybindings", "deviceclasses", "resourceslices",
}


def tracks_generation(info: ResourceInfo) -> bool:
    return info.plural in _GENERATION_TRACKED or bool(info.storage_prefix)


def prepare_for_create(info: ResourceInfo, obj: dict[str, Any]) -> None:
    meta = obj["metadata"]
    if tracks_generation(info):
        meta["generation"] = 1
    if info.has_status and info.plural not in _STATUS_SET_ON_CREATE:
        initial = _INITIAL_STATUS.get(info.plural)
        obj["status"] = initial(obj) if initial else {}
    fill_status(obj)
    defaults.apply_defaults(info.plural, obj)
    defaults.prepare_for_create(info.plural, obj)
    if info.plural == "daemonsets":
        _set_template_generation(obj, max(_template_generation(obj), 1))


def spec_finalizers(info: ResourceInfo, obj: dict[str, Any]) -> list[str]:
    """A namespace's `spec.finalizers`, which hold its deletion as metadata ones do."""
    if info.plural != "namespaces":
        return []
    return list((obj.get("spec") or {}).get("finalizers") or [])


def prepare_for_update(info: ResourceInfo, new: dict[str, Any], old: dict[str, Any], *,
                       subresource: str = "") -> None:
    """Main-endpoint update: keep system metadata and (if it has a subresource) status.
    A namespace's spec.finalizers change only through `/finalize`."""
    _keep_system_metadata(new, old)
    if info.plural == "pods" and subresource == ephemeralcontainers.SUBRESOURCE:
        ephemeralcontainers.prepare_for_update(new, old)
    if info.plural == "namespaces" and subresource != "finalize":
        if "finalizers" in (old.get("spec") or {}):
            new.setdefault("spec", {})["finalizers"] = list(old["spec"]["finalizers"])
        elif isinstance(new.get("spec"), dict):
            new["spec"].pop("finalizers", None)
    if info.has_status and subresource not in _STATUS_WRITING_SUBRESOURCES:
        if "status" in old:
            new["status"] = copy.deepcopy(old["status"])
        else:
            new.pop("status", None)
    fill_status(new)
    defaults.apply_defaults(info.plural, new)
    if tracks_generation(info):
        generation = old["metadata"].get("generation", 1)
        if _spec_view(new) != _spec_view(old):
            generation += 1
        new["metadata"]["generation"] = generation
    if info.plural == "daemonsets":
        template_changed = (new.get("spec") or {}).get("template") != \
            (old.get("spec") or {}).get("template")
        _set_template_generation(new, _template_generation(old) + int(template_changed))


# A DaemonSet's spec.templateGeneration (upstream's internal field) is the annotation
# `deprecated.daemonset.template.generation` in apps/v1: 1 on create, one more at each
# template change, never set by users (upstream's daemonSetStrategy and conversion).
_TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"


def _template_generation(obj: dict[str, Any]) -> int:
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(_TEMPLATE_GENERATION)
    try:
        return int(value) if value is not None else 0
    except (TypeError, ValueError):
        return 0


def _set_template_generation(obj: dict[str, Any], generation: int) -> None:
    annotations = obj["metadata"].get("annotations")
    if not isinstance(annotations, dict):
        annotations = obj["metadata"]["annotations"] = {}
    annotations[_TEMPLATE_GENERATION] = str(generation)


# Subresources other than `/status` that write status: a CSR's `/approval` sets its
# conditions (apiserver/certificates.py keeps the rest of the status).
_STATUS_WRITING_SUBRESOURCES = {"approval"}


# Kinds whose `/status` takes annotation changes too: upstream's deployment status strategy
# resets only spec and labels, and the deployment controller records
# `deployment.kubernetes.io/revision` through it.
_STATUS_WRITES_ANNOTATIONS = {"deployments"}


def prepare_for_status_update(new: dict[str, Any], old: dict[str, Any], *,
                              plural: str = "") -> dict[str, Any]:
    """`/status` update: only status (and, as upstream, labels/annotations are kept old,
    except the annotations of the kinds in `_STATUS_WRITES_ANNOTATIONS`)."""
    # A JSON round trip copies a decoded object several times faster than deepcopy; the old
    # status is replaced, so it is left out of the copy.
    merged: dict[str, Any] = orjson.loads(
        orjson.dumps({k: v for k, v in old.items() if k != "status"}))
    if "status" in new:
        merged["status"] = new["status"]
    else:
        merged.pop("status", None)
    if plural in _STATUS_WRITES_ANNOTATIONS:
        annotations = (new.get("metadata") or {}).get("annotations")
        if annotations:
            merged["metadata"]["annotations"] = copy.deepcopy(annotations)
        else:
            merged["metadata"].pop("annotations", None)
    fill_status(merged)
    return merged


def _keep_system_metadata(new: dict[str, Any], old: dict[str, Any]) -> None:
    meta = new.setdefault("metadata", {})
    for name in _SYSTEM_METADATA:
        if name == "uid" and meta.get("uid"):
            # As upstream's BeforeUpdate: the old uid only fills an empty one; a different
            # uid fails validation (field is immutable), so a uid in a patch or update is a
            # precondition (controllers adopt and release with it).
            continue
        if name in old["metadata"]:
            meta[name] = old["metadata"][name]
        else:
            meta.pop(name, None)


def validate_create(info: ResourceInfo, obj: dict[str, Any]) -> list[FieldError]:
    return validation.validate_create(info.plural, obj)


def validate_update(info: ResourceInfo, new: dict[str, Any], old: dict[str, Any], *,
                    subresource: str = "") -> list[FieldError]:
    if info.plural == "pods" and subresource == ephemeralcontainers.SUBRESOURCE:
        return ephemeralcontainers.validate_update(new, old)
    if info.plural == "pods" and subresource == "status":
        return core_validation.validate_pod_status_update(new, old)
    return validation.validate_update(info.plural, new, old)


def _pod_status(obj: dict[str, Any]) -> dict[str, Any]:
    return {"phase": "Pending", "qosClass": _qos_class(obj.get("spec", {}))}


def _qos_class(spec: dict[str, Any]) -> str:
    """Upstream's GetPodQOS: Guaranteed when every container's requests equal its limits
    for cpu and memory, BestEffort when none sets any, Burstable otherwise."""
    containers = list(spec.get("containers", [])) + list(spec.get("initContainers", []))
    requests: list[dict[str, Any]] = []
    limits: list[dict[str, Any]] = []
    for container in containers:
        resources = container.get("resources") or {}
        requests.append({k: v for k, v in (resources.get("requests") or {}).items()
                         if k in ("cpu", "memory")})
        limits.append({k: v for k, v in (resources.get("limits") or {}).items()
                       if k in ("cpu", "memory")})
    if not any(requests) and not any(limits):
        return "BestEffort"
    guaranteed = all(
        set(lim) == {"cpu", "memory"} and all(req.get(k, lim[k]) == lim[k] for k in lim)
        for req, lim in zip(requests, limits, strict=True)
    )
    return "Guaranteed" if guaranteed else "Burstable"


# Kinds whose storage sets upstream's `ReturnDeletedObject`: a delete that removes the
# object answers with it rather than with a `Status` (pkg/registry/**/storage/storage.go).
# Keyed by group-resource.
RETURNS_DELETED_OBJECT = {
    "pods", "services", "serviceaccounts", "namespaces", "podtemplates", "resourcequotas",
    "persistentvolumes", "persistentvolumeclaims",
    "storageclasses.storage.k8s.io", "csidrivers.storage.k8s.io", "csinodes.storage.k8s.io",
    "volumeattachments.storage.k8s.io",
}


def returns_deleted_object(info: ResourceInfo) -> bool:
    return info.group_resource in RETURNS_DELETED_OBJECT


# Kinds whose creator reports status itself (the kubelet registering its Node).
_STATUS_SET_ON_CREATE = {"nodes"}

# Status a new object starts with, where upstream sets more than an empty status.
_INITIAL_STATUS: dict[str, Any] = {
    "pods": _pod_status,
    "namespaces": lambda _obj: {"phase": "Active"},
    "persistentvolumeclaims": lambda _obj: {"phase": "Pending"},
    "persistentvolumes": lambda _obj: {"phase": "Pending"},
    "services": lambda _obj: {"loadBalancer": {}},
}
