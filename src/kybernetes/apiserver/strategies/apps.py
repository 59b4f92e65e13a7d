"""The strategies of apps/v1: Deployments (whose `/status` also takes annotations, for the
controller's revision), ReplicaSets, StatefulSets, DaemonSets (with their template
generation) and ControllerRevisions."""

from __future__ import annotations

from kybernetes.api.defaults import apps as defaults
from kybernetes.api.printers import apps as printers
from kybernetes.api.validation import apps as validation
from kybernetes.apiserver.strategies.base import Obj, ResourceStrategy
from kybernetes.apiserver.strategies.builtin import BuiltinStrategy

# A DaemonSet's spec.templateGeneration (upstream's internal field) is the annotation
# `deprecated.daemonset.template.generation` in apps/v1: 1 on create, one more at each
# template change, never set by users (upstream's daemonSetStrategy and conversion).
TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"


class DeploymentStrategy(BuiltinStrategy):
    # Upstream's deployment status strategy resets only spec and labels: the deployment
    # controller records `deployment.kubernetes.io/revision` through `/status`.
    status_writes_annotations = True

    def __init__(self) -> None:
        super().__init__("apps", "deployments", printer=printers.DEPLOYMENTS,
                         defaults=defaults.default_deployment,
                         create=validation.validate_deployment,
                         update=validation.validate_deployment_update, generation=True)


class DaemonSetStrategy(BuiltinStrategy):
    def __init__(self) -> None:
        super().__init__("apps", "daemonsets", printer=printers.DAEMON_SETS,
                         defaults=defaults.default_daemon_set,
                         create=validation.validate_daemon_set,
                         update=validation.validate_daemon_set_update, generation=True)

    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        _set_template_generation(obj, max(_template_generation(obj), 1))

    def prepare_for_update(self, new: Obj, old: Obj, *, subresource: str = "") -> None:
        super().prepare_for_update(new, old, subresource=subresource)
        template_changed = (new.get("spec") or {}).get("template") != \
            (old.get("spec") or {}).get("template")
        _set_template_generation(new, _template_generation(old) + int(template_changed))


def _template_generation(obj: Obj) -> int:
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(TEMPLATE_GENERATION)
    try:
        return int(value) if value is not None else 0
    except (TypeError, ValueError):
        return 0


def _set_template_generation(obj: Obj, generation: int) -> None:
    annotations = obj["metadata"].get("annotations")
    if not isinstance(annotations, dict):
        annotations = obj["metadata"]["annotations"] = {}
    annotations[TEMPLATE_GENERATION] = str(generation)


def strategies() -> list[ResourceStrategy]:
    return [
        DeploymentStrategy(),
        DaemonSetStrategy(),
        BuiltinStrategy("apps", "replicasets", printer=printers.REPLICA_SETS,
                        defaults=defaults.default_replica_set,
                        create=validation.validate_replica_set,
                        update=validation.validate_replica_set_update, generation=True),
        BuiltinStrategy("apps", "statefulsets", printer=printers.STATEFUL_SETS,
                        defaults=defaults.default_stateful_set,
                        create=validation.validate_stateful_set,
                        update=validation.validate_stateful_set_update, generation=True),
        BuiltinStrategy("apps", "controllerrevisions", printer=printers.CONTROLLER_REVISIONS,
                        create=validation.validate_controller_revision,
                        update=validation.validate_controller_revision_update),
    ]
