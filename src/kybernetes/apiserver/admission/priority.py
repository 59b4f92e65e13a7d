"""Upstream's `Priority` admission plugin (`plugin/pkg/admission/priority`) and the system
PriorityClasses the API server creates at start (`system-node-critical`,
`system-cluster-critical`, upstream's scheduling bootstrap hook).

A new pod's `priorityClassName` resolves to `spec.priority` and `spec.preemptionPolicy`
(the global default class, the lowest-valued one if several claim it, when the pod names
none; priority 0 and PreemptLowerPriority without one); a pod naming an unknown class, or
stating a priority or preemption policy other than its class's, is refused. The system
classes may only be used in kube-system (upstream's rule before quota-based limits).
Updates keep the priority set at creation. Only one PriorityClass may be the global
default.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from kybernetes.api import errors
from kybernetes.apiserver.admission import lookup
from kybernetes.apiserver.admission.chain import AdmissionRequest, Phase, Target

if TYPE_CHECKING:
    from kybernetes.apiserver.server import ApiServer

SYSTEM_NAMESPACE = "kube-system"
SYSTEM_PRIORITY_CLASSES: tuple[dict[str, Any], ...] = (
    {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
     "metadata": {"name": "system-node-critical"}, "value": 2_000_001_000,
     "description": "Used for system critical pods that must not be moved from their "
                    "current node."},
    {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
     "metadata": {"name": "system-cluster-critical"}, "value": 2_000_000_000,
     "description": "Used for system critical pods that must run in the cluster, but can be "
                    "moved to another node if necessary."},
)
_SYSTEM_NAMES = frozenset(pc["metadata"]["name"] for pc in SYSTEM_PRIORITY_CLASSES)
DEFAULT_PREEMPTION_POLICY = "PreemptLowerPriority"


async def create_system_priority_classes(server: ApiServer) -> None:
    """Create the system PriorityClasses that are missing."""
    info = server.registry.get("scheduling.k8s.io", "v1", "priorityclasses")
    assert info is not None
    for pc in SYSTEM_PRIORITY_CLASSES:
        if lookup.cached(server.store, info, "", pc["metadata"]["name"]) is None:
            with contextlib.suppress(errors.StatusError):
                await server.store.create(info, "", {**pc, "metadata": dict(pc["metadata"])},
                                          manager="kube-apiserver")


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


class Priority:
    name = "Priority"

    def __init__(self, server: ApiServer) -> None:
        self.store = server.store
        info = server.registry.get("scheduling.k8s.io", "v1", "priorityclasses")
        assert info is not None
        self.classes = info

    @staticmethod
    def handles(target: Target) -> Phase:
        if target.subresource or target.operation not in ("CREATE", "UPDATE"):
            return Phase.NONE
        if (target.group, target.resource) == ("", "pods"):
            return Phase.ADMIT
        if (target.group, target.resource) == ("scheduling.k8s.io", "priorityclasses"):
            return Phase.VALIDATE
        return Phase.NONE

    async def admit(self, request: AdmissionRequest) -> None:
        if request.subresource or not request.is_pod() or request.obj is None:
            return
        spec = request.obj.setdefault("spec", {})
        if request.operation == "UPDATE" and request.old is not None:
            # Set on creation and immutable: an update that omits them keeps them.
            old_spec = request.old.get("spec") or {}
            for field in ("priority", "preemptionPolicy"):
                if spec.get(field) is None and old_spec.get(field) is not None:
                    spec[field] = old_spec[field]
        elif request.operation == "CREATE":
            await self._resolve(request, spec)

    async def validate(self, request: AdmissionRequest) -> None:
        if request.subresource or request.operation not in ("CREATE", "UPDATE") or \
                (request.group, request.resource) != ("scheduling.k8s.io", "priorityclasses") \
                or request.obj is None or request.obj.get("globalDefault") is not True:
            return
        # A rare write: worth a consistent read, so two defaults made in a row are caught.
        await self.store.cache.wait_fresh()
        current = self._global_default()
        if current is not None and (request.operation == "CREATE" or
                                    _name(current) != request.name):
            raise request.forbidden(f"PriorityClass {_name(current)} is already marked as "
                                    "default. Only one default can exist")

    async def _resolve(self, request: AdmissionRequest, spec: dict[str, Any]) -> None:
        class_name = str(spec.get("priorityClassName") or "")
        if not class_name:
            default = self._global_default()
            value = int(default.get("value", 0)) if default is not None else 0
            policy = str(default.get("preemptionPolicy") or DEFAULT_PREEMPTION_POLICY) \
                if default is not None else DEFAULT_PREEMPTION_POLICY
            if default is not None:
                spec["priorityClassName"] = _name(default)
        else:
            if class_name in _SYSTEM_NAMES and request.namespace != SYSTEM_NAMESPACE:
                raise request.forbidden(f"pods with {class_name} priorityClass is not "
                                        f"permitted in {request.namespace} namespace")
            found = lookup.cached(self.store, self.classes, "", class_name) or \
                await lookup.live(self.store, self.classes, "", class_name)
            if found is None:
                raise request.forbidden(f"no PriorityClass with name {class_name} was found")
            value = int(found.get("value", 0))
            policy = str(found.get("preemptionPolicy") or DEFAULT_PREEMPTION_POLICY)
        stated = spec.get("priority")
        if stated is not None and stated != value:
            raise request.forbidden(
                f"the integer value of priority ({stated}) must not be provided in pod spec; "
                f"priority admission controller computed {value} from the given "
                "PriorityClass name")
        spec["priority"] = value
        stated_policy = spec.get("preemptionPolicy")
        if stated_policy is not None and stated_policy != policy:
            raise request.forbidden(
                f"the string value of PreemptionPolicy ({stated_policy}) must not be provided "
                f"in pod spec; priority admission controller computed {policy} from the given "
                "PriorityClass name")
        spec["preemptionPolicy"] = policy

    def _global_default(self) -> dict[str, Any] | None:
        """The global default class; the lowest-valued one if a race made several."""
        defaults = [pc for pc in lookup.cached_list(self.store, self.classes, "")
                    if pc.get("globalDefault") is True]
        return min(defaults, key=lambda pc: int(pc.get("value", 0)), default=None)
