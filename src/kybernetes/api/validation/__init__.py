"""Object validation, as upstream's per-kind `Validate*` and `Validate*Update` functions.

`validate_create(resource, obj)` and `validate_update(resource, new, old)` dispatch on the
plural resource name and return upstream's field errors (paths such as
`spec.template.spec.containers[0].image`, details such as "`selector` does not match
template `labels`"); an empty list means valid. Objects are decoded JSON dicts after
defaulting (see `kybernetes.api.defaults`), with the namespace from the URL filled in and
any generated name already chosen. Kinds without specific rules get ObjectMeta checks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kybernetes.api.errors import FieldError
from kybernetes.api.registry import BUILTIN_RESOURCES
from kybernetes.api.validation import (
    admissionregistration,
    apiregistration,
    apps,
    batch,
    core,
    flowcontrol,
    misc,
    networking,
    node,
    rbac,
    resource,
    servicecidrs,
    storage,
)
from kybernetes.api.validation.meta import (
    is_path_segment_name,
    name_is_dns_subdomain,
    validate_object_meta,
    validate_object_meta_update,
)

__all__ = ["FieldError", "validate_create", "validate_update"]

Obj = dict[str, Any]
CreateFn = Callable[[Obj], list[FieldError]]
UpdateFn = Callable[[Obj, Obj], list[FieldError]]

_NAMESPACED = {info.plural: info.namespaced for info in BUILTIN_RESOURCES}
# Kinds whose names need only be valid path segments (upstream's name functions accept
# anything there: a CSR's `ValidateCertificateRequestName`). Their own rules are elsewhere
# (apiserver/csrvalidation.py).
_ANY_NAME = {"certificatesigningrequests"}

_CREATE: dict[str, CreateFn] = {
    "pods": core.validate_pod_create,
    "podtemplates": core.validate_pod_template,
    "services": core.validate_service,
    "configmaps": core.validate_config_map,
    "secrets": core.validate_secret,
    "namespaces": core.validate_namespace,
    "nodes": core.validate_node,
    "serviceaccounts": core.validate_service_account,
    "events": core.validate_event,
    "persistentvolumes": core.validate_pv,
    "persistentvolumeclaims": core.validate_pvc,
    "limitranges": core.validate_limit_range,
    "resourcequotas": core.validate_resource_quota,
    "replicationcontrollers": core.validate_replication_controller,
    "endpoints": core.validate_endpoints,
    "deployments": apps.validate_deployment,
    "replicasets": apps.validate_replica_set,
    "statefulsets": apps.validate_stateful_set,
    "daemonsets": apps.validate_daemon_set,
    "controllerrevisions": apps.validate_controller_revision,
    "jobs": batch.validate_job,
    "cronjobs": batch.validate_cron_job,
    "ingresses": networking.validate_ingress,
    "ingressclasses": networking.validate_ingress_class,
    "networkpolicies": networking.validate_network_policy,
    "endpointslices": networking.validate_endpoint_slice,
    "roles": lambda o: rbac.validate_role(o, True),
    "clusterroles": lambda o: rbac.validate_role(o, False),
    "rolebindings": lambda o: rbac.validate_role_binding(o, True),
    "clusterrolebindings": lambda o: rbac.validate_role_binding(o, False),
    "leases": misc.validate_lease,
    "poddisruptionbudgets": misc.validate_pdb,
    "priorityclasses": misc.validate_priority_class,
    "horizontalpodautoscalers": misc.validate_hpa,
    "storageclasses": misc.validate_storage_class,
    "csistoragecapacities": storage.validate_csi_storage_capacity,
    "csidrivers": storage.validate_csi_driver,
    "csinodes": storage.validate_csi_node,
    "volumeattachments": storage.validate_volume_attachment,
    "volumeattributesclasses": storage.validate_volume_attributes_class,
    "apiservices": apiregistration.validate_api_service,
    "flowschemas": flowcontrol.validate_flow_schema,
    "prioritylevelconfigurations": flowcontrol.validate_priority_level,
    "runtimeclasses": node.validate_runtime_class,
    "servicecidrs": servicecidrs.validate_service_cidr,
    "ipaddresses": servicecidrs.validate_ip_address,
    "mutatingwebhookconfigurations": admissionregistration.validate_mutating_webhooks,
    "validatingwebhookconfigurations": admissionregistration.validate_validating_webhooks,
    "validatingadmissionpolicies": admissionregistration.validate_policy,
    "validatingadmissionpolicybindings": admissionregistration.validate_policy_binding,
    "deviceclasses": resource.validate_device_class,
    "resourceclaims": resource.validate_resource_claim,
    "resourceclaimtemplates": resource.validate_resource_claim_template,
    "resourceslices": resource.validate_resource_slice,
}

_UPDATE: dict[str, UpdateFn] = {
    "pods": core.validate_pod_update,
    "podtemplates": core.validate_pod_template_update,
    "services": core.validate_service_update,
    "configmaps": core.validate_config_map_update,
    "secrets": core.validate_secret_update,
    "namespaces": core.validate_namespace_update,
    "nodes": core.validate_node_update,
    "serviceaccounts": core.validate_service_account_update,
    "events": lambda new, old: core.validate_event(new),
    "persistentvolumes": core.validate_pv_update,
    "persistentvolumeclaims": core.validate_pvc_update,
    "limitranges": core.validate_limit_range_update,
    "resourcequotas": core.validate_resource_quota_update,
    "replicationcontrollers": core.validate_replication_controller_update,
    "endpoints": core.validate_endpoints_update,
    "deployments": apps.validate_deployment_update,
    "replicasets": apps.validate_replica_set_update,
    "statefulsets": apps.validate_stateful_set_update,
    "daemonsets": apps.validate_daemon_set_update,
    "controllerrevisions": apps.validate_controller_revision_update,
    "jobs": batch.validate_job_update,
    "cronjobs": batch.validate_cron_job_update,
    "ingresses": networking.validate_ingress_update,
    "ingressclasses": networking.validate_ingress_class_update,
    "networkpolicies": networking.validate_network_policy_update,
    "endpointslices": networking.validate_endpoint_slice_update,
    "roles": lambda n, o: rbac.validate_role_update(n, o, True),
    "clusterroles": lambda n, o: rbac.validate_role_update(n, o, False),
    "rolebindings": lambda n, o: rbac.validate_role_binding_update(n, o, True),
    "clusterrolebindings": lambda n, o: rbac.validate_role_binding_update(n, o, False),
    "leases": misc.validate_lease_update,
    "poddisruptionbudgets": misc.validate_pdb_update,
    "priorityclasses": misc.validate_priority_class_update,
    "horizontalpodautoscalers": misc.validate_hpa_update,
    "storageclasses": misc.validate_storage_class_update,
    "csistoragecapacities": storage.validate_csi_storage_capacity_update,
    "csidrivers": storage.validate_csi_driver_update,
    "csinodes": storage.validate_csi_node_update,
    "volumeattachments": storage.validate_volume_attachment_update,
    "volumeattributesclasses": storage.validate_volume_attributes_class_update,
    "apiservices": apiregistration.validate_api_service_update,
    "flowschemas": flowcontrol.validate_flow_schema_update,
    "prioritylevelconfigurations": flowcontrol.validate_priority_level_update,
    "runtimeclasses": node.validate_runtime_class_update,
    "servicecidrs": servicecidrs.validate_service_cidr_update,
    "ipaddresses": servicecidrs.validate_ip_address_update,
    "mutatingwebhookconfigurations": admissionregistration.validate_mutating_webhooks_update,
    "validatingwebhookconfigurations":
        admissionregistration.validate_validating_webhooks_update,
    "validatingadmissionpolicies": admissionregistration.validate_policy_update,
    "validatingadmissionpolicybindings": admissionregistration.validate_policy_binding_update,
    "deviceclasses": resource.validate_device_class_update,
    "resourceclaims": resource.validate_resource_claim_update,
    "resourceclaimtemplates": resource.validate_resource_claim_template_update,
    "resourceslices": resource.validate_resource_slice_update,
}


def _resource_name(resource: str) -> str:
    """Accept `deployments`, `deployments.apps` or `apps/deployments`."""
    return resource.rsplit("/", 1)[-1].split(".", 1)[0]


def validate_create(resource: str, obj: Obj, *, namespaced: bool | None = None) -> list[FieldError]:
    """Field errors for creating `obj` as `resource` (plural name); empty when valid."""
    plural = _resource_name(resource)
    fn = _CREATE.get(plural)
    if fn is not None:
        return fn(obj)
    scoped = _NAMESPACED.get(plural, True) if namespaced is None else namespaced
    name_fn = is_path_segment_name if plural in _ANY_NAME else name_is_dns_subdomain
    return validate_object_meta(obj, scoped, name_fn, kube_finalizers=False)


def validate_update(resource: str, new: Obj, old: Obj, *,
                    namespaced: bool | None = None) -> list[FieldError]:
    """Field errors for replacing `old` with `new` as `resource`; empty when valid."""
    plural = _resource_name(resource)
    fn = _UPDATE.get(plural)
    if fn is not None:
        return fn(new, old)
    scoped = _NAMESPACED.get(plural, True) if namespaced is None else namespaced
    errs = validate_object_meta_update(new, old, kube_finalizers=False)
    name_fn = is_path_segment_name if plural in _ANY_NAME else name_is_dns_subdomain
    errs.extend(validate_object_meta(new, scoped, name_fn, kube_finalizers=False))
    return errs
