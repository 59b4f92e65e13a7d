"""`spec.podFailurePolicy`: upstream's `pkg/controller/job/pod_failure_policy.go`.

The first rule matching a failed pod decides: `FailJob` fails the Job (with upstream's
message naming the container and exit code, or the pod condition, and the rule's index),
`Ignore` does not count the failure against `backoffLimit`, `Count` counts it,
`FailIndex` fails the pod's index (with `backoffLimitPerIndex`). A rule matches on the exit
codes of terminated (init) containers (`In`/`NotIn`, never exit code 0) or on pod
conditions. No rule matching: the failure counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kybernetes.api.objects import meta, status
from kybernetes.client.rest import Obj

FAIL_JOB = "FailJob"
FAIL_INDEX = "FailIndex"
IGNORE = "Ignore"
COUNT = "Count"


@dataclass(frozen=True)
class Match:
    """What the policy says of one failed pod: a message when the Job must fail, whether
    the failure counts, and the action of the matching rule (None: no rule matched)."""

    fail_job_message: str | None
    count_failed: bool
    action: str | None


NO_MATCH = Match(None, True, None)


def _matching_container(statuses: Any, requirement: dict[str, Any]) -> dict[str, Any] | None:
    name = requirement.get("containerName")
    values = {int(v) for v in requirement.get("values") or ()}
    for cs in statuses or ():
        if not isinstance(cs, dict):
            continue
        terminated = (cs.get("state") or {}).get("terminated")
        if not isinstance(terminated, dict):
            continue  # still terminating: no exit code to match yet
        if name is not None and name != cs.get("name"):
            continue
        code = int(terminated.get("exitCode") or 0)
        if code == 0:
            continue
        if (code in values) == (requirement.get("operator") == "In"):
            return cs
    return None


def _matching_condition(pod_status: dict[str, Any], patterns: Any) -> dict[str, Any] | None:
    for pattern in patterns or ():
        for cond in pod_status.get("conditions") or ():
            if isinstance(cond, dict) and cond.get("type") == pattern.get("type") and \
                    cond.get("status") == (pattern.get("status") or "True"):
                return cond
    return None


def match(policy: dict[str, Any] | None, pod: Obj) -> Match:
    """Upstream's matchPodFailurePolicy for a failed pod."""
    if not policy:
        return NO_MATCH
    pmeta, pod_status = meta(pod), status(pod)
    who = f"{pmeta.get('namespace')}/{pmeta.get('name')}"
    for index, rule in enumerate(policy.get("rules") or ()):
        action = rule.get("action")
        on_exit = rule.get("onExitCodes")
        if on_exit is not None:
            cs = _matching_container(pod_status.get("containerStatuses"), on_exit) or \
                _matching_container(pod_status.get("initContainerStatuses"), on_exit)
            if cs is None:
                continue
            message = (f"Container {cs.get('name')} for pod {who} failed with exit code "
                       f"{cs['state']['terminated'].get('exitCode')} matching {action} rule "
                       f"at index {index}")
        else:
            cond = _matching_condition(pod_status, rule.get("onPodConditions"))
            if cond is None:
                continue
            message = (f"Pod {who} has condition {cond.get('type')} matching {action} rule "
                       f"at index {index}")
        if action == IGNORE:
            return Match(None, False, IGNORE)
        if action == FAIL_JOB:
            return Match(message, True, FAIL_JOB)
        if action in (COUNT, FAIL_INDEX):
            return Match(None, True, action)
    return NO_MATCH
