"""PodDisruptionBudget helpers shared by the eviction subresource and the disruption
controller: upstream's `k8s.io/component-helpers/apps/poddisruptionbudget` and the
`metav1.Condition` setter of `apimachinery/pkg/api/meta/conditions.go`, over plain dicts.

- `update_disruption_allowed_condition`: the `DisruptionAllowed` condition follows
  `status.disruptionsAllowed` (True/SufficientPods when positive, else
  False/InsufficientPods), stamped with `status.observedGeneration`.
- `conditions_are_up_to_date`: whether that condition already says so.
- `set_status_condition`: `meta.SetStatusCondition` (lastTransitionTime moves only when
  the status changes).
- `scaled_value`: `intstr.GetScaledValueFromIntOrPercent` for minAvailable/maxUnavailable.
"""

from __future__ import annotations

import math
from typing import Any

from kybernetes.api import timeutil
from kybernetes.api.objects import find_condition

DISRUPTION_ALLOWED = "DisruptionAllowed"
SUFFICIENT_PODS = "SufficientPods"
INSUFFICIENT_PODS = "InsufficientPods"
SYNC_FAILED = "SyncFailed"
# policyv1.DisruptionBudgetCause: the StatusCause type of a refused eviction.
DISRUPTION_BUDGET_CAUSE = "DisruptionBudget"


def set_status_condition(status: dict[str, Any], condition: dict[str, Any]) -> None:
    """Upstream's `meta.SetStatusCondition` on `status["conditions"]`."""
    conditions = status.get("conditions")
    if not isinstance(conditions, list):
        conditions = status["conditions"] = []
    existing = find_condition(status, condition["type"])
    transition = condition.get("lastTransitionTime") or timeutil.now_rfc3339()
    if existing is None:
        conditions.append({"type": condition["type"], "status": condition["status"],
                           "observedGeneration": condition.get("observedGeneration", 0),
                           "lastTransitionTime": transition,
                           "reason": condition.get("reason", ""),
                           "message": condition.get("message", "")})
        return
    if existing.get("status") != condition["status"]:
        existing["status"] = condition["status"]
        existing["lastTransitionTime"] = transition
    existing["reason"] = condition.get("reason", "")
    existing["message"] = condition.get("message", "")
    existing["observedGeneration"] = condition.get("observedGeneration", 0)


def update_disruption_allowed_condition(pdb: dict[str, Any]) -> None:
    status = pdb.setdefault("status", {})
    allowed = int(status.get("disruptionsAllowed") or 0) > 0
    set_status_condition(status, {
        "type": DISRUPTION_ALLOWED,
        "status": "True" if allowed else "False",
        "reason": SUFFICIENT_PODS if allowed else INSUFFICIENT_PODS,
        "observedGeneration": int(status.get("observedGeneration") or 0)})


def conditions_are_up_to_date(pdb: dict[str, Any]) -> bool:
    status = pdb.get("status") or {}
    condition = find_condition(status, DISRUPTION_ALLOWED)
    if condition is None:
        return False
    if int(status.get("observedGeneration") or 0) != \
            int((pdb.get("metadata") or {}).get("generation") or 0):
        return False
    if int(status.get("disruptionsAllowed") or 0) > 0:
        return condition.get("status") == "True" and condition.get("reason") == SUFFICIENT_PODS
    return condition.get("status") == "False" and condition.get("reason") == INSUFFICIENT_PODS


def scaled_value(value: int | str, total: int, *, round_up: bool) -> int:
    """An int, or a percentage of `total`; raises ValueError with upstream's message."""
    if isinstance(value, bool):
        raise ValueError(f"invalid value for IntOrString: invalid type: {value!r}")
    if isinstance(value, int):
        return value
    if not value.endswith("%"):
        raise ValueError(f"invalid value for IntOrString: invalid type: string is not a "
                         f"percentage: {value}")
    try:
        percent = int(value[:-1])
    except ValueError:
        raise ValueError(f'invalid value "{value}": must be an integer percentage') from None
    if round_up:
        return math.ceil(percent * total / 100)
    return math.floor(percent * total / 100)
