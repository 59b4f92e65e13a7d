"""`spec.successPolicy` of Indexed Jobs: upstream's `pkg/controller/job/success_policy.go`.

The Job meets its success criteria (condition `SuccessCriteriaMet`, reason
`SuccessPolicy`, message `Matched rules at index <i>`) at the first rule whose
`succeededIndexes` have all succeeded, or at least `succeededCount` of them (of all
indexes when the rule names none).
"""

from __future__ import annotations

from typing import Any

from kybernetes.controllers.job.indexed import Intervals

RULES_MATCHED = "Matched rules at index"


def _overlap(rule: Intervals, succeeded: Intervals) -> int:
    count = 0
    for first, last in rule.items:
        for sfirst, slast in succeeded.items:
            count += max(0, min(last, slast) - max(first, sfirst) + 1)
    return count


def match(policy: dict[str, Any] | None, completions: int, succeeded: Intervals
          ) -> str | None:
    """The message when the policy is met, else None."""
    if not policy or not len(succeeded):
        return None
    for index, rule in enumerate(policy.get("rules") or ()):
        count = rule.get("succeededCount")
        if rule.get("succeededIndexes") is not None:
            required = Intervals.parse(rule["succeededIndexes"], completions)
            if not len(required):
                continue
            contains = _overlap(required, succeeded)
            if contains == required.total() or (count is not None and contains >= int(count)):
                return f"{RULES_MATCHED} {index}"
        elif count is not None and succeeded.total() >= int(count):
            return f"{RULES_MATCHED} {index}"
    return None
