"""Upstream's `DefaultTolerationSeconds` admission plugin
(`plugin/pkg/admission/defaulttolerationseconds`): every pod created gets tolerations of
the node lifecycle controller's NoExecute taints `node.kubernetes.io/not-ready` and
`node.kubernetes.io/unreachable` for `tolerationSeconds` (300 by default, kube-apiserver's
`--default-not-ready-toleration-seconds` / `--default-unreachable-toleration-seconds`),
unless it already tolerates them (a toleration with that key or no key, and effect
NoExecute or no effect). So a pod outlives a short node outage instead of being evicted
the moment its node is tainted, and is evicted five minutes into a long one.

It runs in the admission chain, on pod creation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kybernetes.apiserver.admission.chain import AdmissionRequest, Phase, Target

NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
DEFAULT_TOLERATION_SECONDS = 300


def _tolerates(toleration: Any, key: str) -> bool:
    if not isinstance(toleration, dict):
        return False
    return toleration.get("key", "") in (key, "") and \
        toleration.get("effect", "") in ("NoExecute", "")


@dataclass(frozen=True, kw_only=True)
class DefaultTolerationSeconds:
    not_ready_seconds: int = DEFAULT_TOLERATION_SECONDS
    unreachable_seconds: int = DEFAULT_TOLERATION_SECONDS
    name: str = "DefaultTolerationSeconds"

    @staticmethod
    def handles(target: Target) -> Phase:
        return Phase.ADMIT if target == ("", "pods", "", "CREATE") else Phase.NONE

    async def admit(self, request: AdmissionRequest) -> None:
        if request.operation == "CREATE" and request.is_pod() and not request.subresource \
                and request.obj is not None:
            self.add_tolerations(request.obj)

    async def validate(self, request: AdmissionRequest) -> None:
        return None

    def add_tolerations(self, pod: dict[str, Any]) -> None:
        """Add the missing default tolerations to a pod being created."""
        spec = pod.setdefault("spec", {})
        tolerations = spec.get("tolerations")
        if not isinstance(tolerations, list):
            tolerations = []
        added = list(tolerations)
        for key, seconds in ((NOT_READY_TAINT, self.not_ready_seconds),
                             (UNREACHABLE_TAINT, self.unreachable_seconds)):
            if not any(_tolerates(t, key) for t in tolerations):
                added.append({"key": key, "operator": "Exists", "effect": "NoExecute",
                              "tolerationSeconds": seconds})
        spec["tolerations"] = added
