"""The strategies of the core (legacy, group "") resources other than pods (pods.py).

Namespaces hold their deletion with `spec.finalizers` (changed only through `/finalize`)
and show phase Terminating while held; a Node's status comes from its kubelet at create.
"""

from __future__ import annotations

from kybernetes.api.defaults import core as defaults
from kybernetes.api.printers import core as printers
from kybernetes.api.validation import core as validation
from kybernetes.apiserver.strategies.base import Obj, ResourceStrategy
from kybernetes.apiserver.strategies.builtin import BuiltinStrategy, builtin_info
from kybernetes.apiserver.strategies.pods import PodStrategy


class NamespaceStrategy(BuiltinStrategy):
    def __init__(self) -> None:
        super().__init__("", "namespaces", printer=printers.NAMESPACES,
                         defaults=defaults.default_namespace, create=validation.validate_namespace,
                         update=validation.validate_namespace_update, returns_deleted=True,
                         initial_status={"phase": "Active"})

    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        defaults.default_namespace_finalizers(obj)

    def prepare_for_update(self, new: Obj, old: Obj, *, subresource: str = "") -> None:
        """spec.finalizers change only through `/finalize`."""
        if subresource != "finalize":
            if "finalizers" in (old.get("spec") or {}):
                new.setdefault("spec", {})["finalizers"] = list(old["spec"]["finalizers"])
            elif isinstance(new.get("spec"), dict):
                new["spec"].pop("finalizers", None)
        super().prepare_for_update(new, old, subresource=subresource)

    def spec_finalizers(self, obj: Obj) -> list[str]:
        return list((obj.get("spec") or {}).get("finalizers") or [])

    def mark_terminating(self, obj: Obj) -> None:
        obj.setdefault("status", {})["phase"] = "Terminating"


class NodeStrategy(BuiltinStrategy):
    status_set_on_create = True

    def __init__(self) -> None:
        super().__init__("", "nodes", printer=printers.NODES, defaults=defaults.default_node,
                         create=validation.validate_node, update=validation.validate_node_update)


def strategies() -> list[ResourceStrategy]:
    return [
        PodStrategy(),
        NamespaceStrategy(),
        NodeStrategy(),
        BuiltinStrategy("", "services", printer=printers.SERVICES,
                        defaults=defaults.default_service, create=validation.validate_service,
                        update=validation.validate_service_update, returns_deleted=True,
                        initial_status={"loadBalancer": {}}),
        BuiltinStrategy("", "endpoints", printer=printers.ENDPOINTS,
                        defaults=defaults.default_endpoints,
                        create=validation.validate_endpoints,
                        update=validation.validate_endpoints_update),
        BuiltinStrategy("", "configmaps", printer=printers.CONFIG_MAPS,
                        create=validation.validate_config_map,
                        update=validation.validate_config_map_update),
        BuiltinStrategy("", "secrets", printer=printers.SECRETS,
                        defaults=defaults.default_secret, create=validation.validate_secret,
                        update=validation.validate_secret_update),
        BuiltinStrategy("", "serviceaccounts", printer=printers.SERVICE_ACCOUNTS,
                        create=validation.validate_service_account,
                        update=validation.validate_service_account_update,
                        returns_deleted=True),
        BuiltinStrategy("", "events", printer=printers.EVENTS,
                        create=validation.validate_event,
                        update=lambda new, _old: validation.validate_event(new)),
        BuiltinStrategy("", "persistentvolumes", printer=printers.PERSISTENT_VOLUMES,
                        defaults=defaults.default_pv, create=validation.validate_pv,
                        update=validation.validate_pv_update, returns_deleted=True,
                        initial_status={"phase": "Pending"}),
        BuiltinStrategy("", "persistentvolumeclaims", printer=printers.PERSISTENT_VOLUME_CLAIMS,
                        defaults=defaults.default_pvc, create=validation.validate_pvc,
                        update=validation.validate_pvc_update, returns_deleted=True,
                        initial_status={"phase": "Pending"}),
        BuiltinStrategy("", "limitranges", defaults=defaults.default_limit_range,
                        create=validation.validate_limit_range,
                        update=validation.validate_limit_range_update),
        BuiltinStrategy("", "resourcequotas", printer=printers.RESOURCE_QUOTAS,
                        defaults=defaults.default_resource_quota,
                        create=validation.validate_resource_quota,
                        update=validation.validate_resource_quota_update, returns_deleted=True),
        BuiltinStrategy("", "replicationcontrollers", printer=printers.REPLICATION_CONTROLLERS,
                        defaults=defaults.default_replication_controller,
                        create=validation.validate_replication_controller,
                        update=validation.validate_replication_controller_update,
                        generation=True),
        BuiltinStrategy("", "podtemplates", printer=printers.POD_TEMPLATES,
                        defaults=defaults.default_pod_template,
                        create=validation.validate_pod_template,
                        update=validation.validate_pod_template_update, returns_deleted=True),
        # Computed on each read (apiserver/componentstatuses.py) and created only as a
        # pod's binding (apiserver/binding.py): nothing stored to default or validate.
        BuiltinStrategy("", "componentstatuses", printer=printers.COMPONENT_STATUSES),
        ResourceStrategy(builtin_info("", "bindings")),
    ]
