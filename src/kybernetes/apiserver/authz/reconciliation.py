"""What reconciling an expected role or binding with the stored one takes (upstream's
pkg/registry/rbac/reconciliation, in its union mode: nothing the stored object has is
taken away).

A role gets the expected annotations and labels it lacks (its own values win), the
expected rules its rules do not cover (as the broken-down rules `covers` reports), and the
aggregation selectors it lacks; an aggregationRule the expected role does not have is
removed. A binding gets the missing annotations, labels and subjects; a binding whose
roleRef differs is recreated. An existing object annotated
`rbac.authorization.kubernetes.io/autoupdate: "false"` is protected: the result says what
it lacks, and it is left alone.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Literal

from kybernetes.apiserver.authz.policyrule import PolicyRule, covers, rules_of

AUTOUPDATE_ANNOTATION = "rbac.authorization.kubernetes.io/autoupdate"

Operation = Literal["create", "update", "recreate", "none"]


@dataclass
class RoleResult:
    role: dict[str, Any]
    operation: Operation
    protected: bool = False
    missing_rules: list[PolicyRule] = field(default_factory=list)


@dataclass
class BindingResult:
    binding: dict[str, Any]
    operation: Operation
    protected: bool = False
    missing_subjects: list[dict[str, Any]] = field(default_factory=list)


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _protected(existing: dict[str, Any]) -> bool:
    return (_meta(existing).get("annotations") or {}).get(AUTOUPDATE_ANNOTATION) == "false"


def _merge_metadata(result: dict[str, Any], expected: dict[str, Any]) -> bool:
    """Add the expected annotations and labels `result` lacks; whether any was added."""
    changed = False
    meta = result.setdefault("metadata", {})
    for key in ("annotations", "labels"):
        wanted = _meta(expected).get(key) or {}
        have = meta.get(key) or {}
        merged = {**wanted, **have}
        if merged != have:
            meta[key] = merged
            changed = True
    return changed


def _selectors(role: dict[str, Any]) -> list[Any] | None:
    """The aggregation rule's selectors; None without an aggregation rule."""
    rule = role.get("aggregationRule")
    if not isinstance(rule, dict):
        return None
    selectors = rule.get("clusterRoleSelectors")
    return list(selectors) if isinstance(selectors, list) else []


def reconcile_role(existing: dict[str, Any] | None, expected: dict[str, Any]) -> RoleResult:
    if existing is None:
        return RoleResult(copy.deepcopy(expected), "create",
                          missing_rules=list(rules_of(expected)))
    result = RoleResult(copy.deepcopy(existing), "none", _protected(existing))
    role = result.role
    if _merge_metadata(role, expected):
        result.operation = "update"
    _, result.missing_rules = covers(rules_of(existing), rules_of(expected))
    if result.missing_rules:
        role["rules"] = [*(r for r in existing.get("rules") or [] if isinstance(r, dict)),
                         *(rule.to_dict() for rule in result.missing_rules)]
        result.operation = "update"
    wanted, have = _selectors(expected), _selectors(existing)
    if wanted is None and have is not None:
        del role["aggregationRule"]
        result.operation = "update"
    elif wanted is not None:
        missing = [s for s in wanted if s not in (have or [])]
        if missing:
            role["aggregationRule"] = {"clusterRoleSelectors": [*(have or []), *missing]}
            result.operation = "update"
    return result


def _subject_key(subject: Any) -> tuple[str, str, str, str]:
    s = subject if isinstance(subject, dict) else {}
    return (str(s.get("kind", "")), str(s.get("apiGroup", "")), str(s.get("name", "")),
            str(s.get("namespace", "")))


def reconcile_binding(existing: dict[str, Any] | None, expected: dict[str, Any]
                      ) -> BindingResult:
    if existing is None:
        return BindingResult(copy.deepcopy(expected), "create",
                             missing_subjects=list(expected.get("subjects") or []))
    protected = _protected(existing)
    if existing.get("roleRef") != expected.get("roleRef"):
        return BindingResult(copy.deepcopy(expected), "recreate", protected)
    result = BindingResult(copy.deepcopy(existing), "none", protected)
    if _merge_metadata(result.binding, expected):
        result.operation = "update"
    have = existing.get("subjects") or []
    have_keys = {_subject_key(s) for s in have}
    for subject in expected.get("subjects") or []:
        if _subject_key(subject) not in have_keys:
            have_keys.add(_subject_key(subject))
            result.missing_subjects.append(subject)
    if result.missing_subjects:
        result.binding["subjects"] = [*have, *result.missing_subjects]
        result.operation = "update"
    return result
