"""Defaulting, as upstream's `SetObjectDefaults_*` for each served kind.

`apply_defaults(resource, obj)` mutates a decoded object in place, dispatching on the
plural resource name; it is what upstream runs on every decode (create, update, and reads
from storage), so it is idempotent. `prepare_for_create(resource, obj)` adds what upstream
sets only on create, outside defaulting: the Job selector (strategy) and the namespace
`kubernetes` finalizer (strategy). A pod's priority is the Priority admission plugin's
(apiserver/admission/priority.py), not a default. `apply_defaults` also
applies those create-only settings to objects that look new (no `resourceVersion` and no
`creationTimestamp`), except the Job selector, which needs the object's uid.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kybernetes.api.defaults import apiconfig, apps, batch, core, other, resource, storage

__all__ = ["apply_defaults", "prepare_for_create"]

_DEFAULTS: dict[str, Callable[[dict[str, Any]], None]] = {
    "pods": core.default_pod,
    "podtemplates": core.default_pod_template,
    "services": core.default_service,
    "secrets": core.default_secret,
    "namespaces": core.default_namespace,
    "nodes": core.default_node,
    "persistentvolumes": core.default_pv,
    "persistentvolumeclaims": core.default_pvc,
    "endpoints": core.default_endpoints,
    "limitranges": core.default_limit_range,
    "resourcequotas": core.default_resource_quota,
    "replicationcontrollers": core.default_replication_controller,
    "deployments": apps.default_deployment,
    "replicasets": apps.default_replica_set,
    "statefulsets": apps.default_stateful_set,
    "daemonsets": apps.default_daemon_set,
    "jobs": batch.default_job,
    "cronjobs": batch.default_cron_job,
    "networkpolicies": other.default_network_policy,
    "endpointslices": other.default_endpoint_slice,
    "rolebindings": other.default_role_binding,
    "clusterrolebindings": other.default_role_binding,
    "priorityclasses": other.default_priority_class,
    "horizontalpodautoscalers": other.default_hpa,
    "storageclasses": other.default_storage_class,
    "mutatingwebhookconfigurations": apiconfig.default_mutating_webhooks,
    "validatingwebhookconfigurations": apiconfig.default_validating_webhooks,
    "validatingadmissionpolicies": apiconfig.default_validating_admission_policy,
    "apiservices": apiconfig.default_api_service,
    "flowschemas": apiconfig.default_flow_schema,
    "prioritylevelconfigurations": apiconfig.default_priority_level,
    "resourceclaims": resource.default_resource_claim,
    "resourceclaimtemplates": resource.default_resource_claim_template,
    "csidrivers": storage.default_csi_driver,
}


def _resource_name(resource: str) -> str:
    return resource.rsplit("/", 1)[-1].split(".", 1)[0]


def _looks_new(obj: dict[str, Any]) -> bool:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return True
    return not meta.get("resourceVersion") and not meta.get("creationTimestamp")


def apply_defaults(resource: str, obj: dict[str, Any]) -> None:
    """Fill in upstream's defaults for `resource` (plural name) in `obj`, in place."""
    plural = _resource_name(resource)
    fn = _DEFAULTS.get(plural)
    if fn is not None:
        fn(obj)
    if _looks_new(obj):
        _create_only(plural, obj)


def _create_only(plural: str, obj: dict[str, Any]) -> None:
    if plural == "namespaces":
        core.default_namespace_finalizers(obj)


def prepare_for_create(resource: str, obj: dict[str, Any]) -> None:
    """The create-only mutations upstream makes before validating a new object.

    Call after `apply_defaults` and after the uid and name are assigned.
    """
    plural = _resource_name(resource)
    _create_only(plural, obj)
    if plural == "jobs":
        batch.generate_job_selector(obj)
