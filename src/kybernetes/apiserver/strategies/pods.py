"""The Pod strategy (upstream's pkg/registry/core/pod/strategy.go).

Besides the generic rules: a new pod starts Pending with its QoS class; the
`ephemeralcontainers` subresource takes only `spec.ephemeralContainers`
(apiserver/ephemeralcontainers.py); `/status` has its own validation; a pod bound to a
node is deleted gracefully, so that its kubelet can stop it first.
"""

from __future__ import annotations

from typing import Any

from kybernetes.api.defaults import core as defaults
from kybernetes.api.errors import FieldError
from kybernetes.api.printers import core as printers
from kybernetes.api.validation import core as validation
from kybernetes.apiserver import ephemeralcontainers
from kybernetes.apiserver.strategies.base import Obj
from kybernetes.apiserver.strategies.builtin import BuiltinStrategy


class PodStrategy(BuiltinStrategy):
    def __init__(self) -> None:
        super().__init__("", "pods", printer=printers.PODS, defaults=defaults.default_pod,
                         create=validation.validate_pod_create,
                         update=validation.validate_pod_update, generation=True,
                         returns_deleted=True)

    def initial_status(self, obj: Obj) -> Obj:
        return {"phase": "Pending", "qosClass": qos_class(obj.get("spec", {}))}

    def prepare_for_update(self, new: Obj, old: Obj, *, subresource: str = "") -> None:
        if subresource == ephemeralcontainers.SUBRESOURCE:
            ephemeralcontainers.prepare_for_update(new, old)
        super().prepare_for_update(new, old, subresource=subresource)

    def validate_update(self, new: Obj, old: Obj, *, subresource: str = "") -> list[FieldError]:
        if subresource == ephemeralcontainers.SUBRESOURCE:
            return ephemeralcontainers.validate_update(new, old)
        if subresource == "status":
            return validation.validate_pod_status_update(new, old)
        return super().validate_update(new, old, subresource=subresource)

    def grace_period(self, obj: Obj, requested: int | None) -> int:
        """Pods on a node get a grace period for the kubelet to stop them; a finished
        pod, or one never scheduled, goes at once."""
        if not obj.get("spec", {}).get("nodeName"):
            return 0
        if obj.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            return 0
        if requested is not None:
            return max(0, requested)
        return int(obj["spec"].get("terminationGracePeriodSeconds", 30))


def qos_class(spec: dict[str, Any]) -> str:
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
