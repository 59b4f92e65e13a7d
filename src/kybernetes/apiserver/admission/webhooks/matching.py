"""Which requests a webhook sees (upstream's `webhook/predicates` and `generic/webhook.go`
ShouldCallHook): its rules (operations, groups, versions, resources with subresources and
`*`, scope), matchPolicy, namespaceSelector, objectSelector and matchConditions.

The generic store converts a request to its resource's storage version before admission,
so the request's version here is the storage version. With matchPolicy `Equivalent` a
webhook whose rules name another served version of the same resource matches too, and is
sent the object converted to that version (upstream's equivalent-resource conversion);
`Exact` matches the storage version only.

matchConditions are CEL (the same library as CRD validation rules) over `object`,
`oldObject` and `request` (the AdmissionReview's request); no `authorizer`. All must be
true; one that fails to compile or evaluate refuses the request under failurePolicy Fail
and skips the webhook under Ignore.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import cel
from cel.stdlib import EXTENSIONS

from kybernetes.apiserver.admission.chain import AdmissionRequest
from kybernetes.apiserver.admission.webhooks.configurations import (
    Constraints,
    MatchCondition,
    Rule,
)

# Upstream's IsExemptAdmissionConfigurationResource: webhooks never see the objects that
# configure admission, so a broken webhook cannot lock itself in.
_EXEMPT = frozenset({"validatingwebhookconfigurations", "mutatingwebhookconfigurations",
                     "validatingadmissionpolicies", "validatingadmissionpolicybindings",
                     "mutatingadmissionpolicies", "mutatingadmissionpolicybindings"})
FUNCTIONS: dict[str, Any] = {name: fn for library in EXTENSIONS.values()
                              for name, fn in library.items()}


class MatchError(Exception):
    """A webhook's matching could not be decided (a bad selector or condition)."""


def exempt(request: AdmissionRequest) -> bool:
    return request.group == "admissionregistration.k8s.io" and request.resource in _EXEMPT


def is_namespace(request: AdmissionRequest) -> bool:
    return request.resource == "namespaces" and not request.group


def _any(values: Sequence[str], value: str) -> bool:
    return "*" in values or value in values


def _resource_matches(patterns: Sequence[str], resource: str, subresource: str) -> bool:
    for pattern in patterns:
        res, _, sub = pattern.partition("/")
        if (res == "*" or res == resource) and (sub == "*" or sub == subresource):
            return True
    return False


def _scope_matches(scope: str, request: AdmissionRequest) -> bool:
    if scope == "Namespaced":
        return not is_namespace(request) and bool(request.namespace)
    if scope == "Cluster":
        return is_namespace(request) or not request.namespace
    return True


def rule_matches(rule: Rule, request: AdmissionRequest, version: str) -> bool:
    """Upstream's rules.Matcher, for the request seen as `version` of its resource."""
    return (_scope_matches(rule.scope, request) and _any(rule.operations, request.operation)
            and _any(rule.groups, request.group) and _any(rule.versions, version)
            and _resource_matches(rule.resources, request.resource, request.subresource)
            and (not rule.names or request.name in rule.names))


def matched_version(match: Constraints, request: AdmissionRequest, versions: Sequence[str]
                    ) -> str | None:
    """The version of the request's resource it is seen as: the request's own if a rule
    matches it, else (Equivalent) the first other served version one matches; None when
    the rules do not take it (or an exclude rule does)."""
    own = request.info.version
    candidates = [own] if match.match_policy == "Exact" else \
        [own, *(v for v in versions if v != own)]
    if any(rule_matches(rule, request, v) for rule in match.exclude for v in candidates):
        return None
    for version in candidates:
        if any(rule_matches(rule, request, version) for rule in match.rules):
            return version
    return None


def _labels(obj: Mapping[str, Any] | None) -> dict[str, str]:
    meta = (obj or {}).get("metadata") or {}
    labels = meta.get("labels") or {}
    return labels if isinstance(labels, dict) else {}


def object_selector_matches(match: Constraints, request: AdmissionRequest) -> bool:
    """Upstream's MatchObjectSelector: the new or the old object's labels match."""
    selector = match.object_selector
    if isinstance(selector, str):
        raise MatchError(selector)
    if selector.empty:
        return True
    return any(obj is not None and selector.matches(_labels(obj))
               for obj in (request.obj, request.old))


def needs_namespace_labels(match: Constraints, request: AdmissionRequest) -> bool:
    """Whether the namespaceSelector needs the request's namespace's labels: not for
    cluster-scoped objects other than namespaces (never exempted), nor an empty selector."""
    selector = match.namespace_selector
    if isinstance(selector, str):
        raise MatchError(selector)
    if not request.namespace and not is_namespace(request):
        return False
    return not selector.empty


def own_namespace_labels(request: AdmissionRequest) -> dict[str, str] | None:
    """A namespace's own labels when the request is about that namespace (the new object,
    or the old one on delete), else None (they are read from the namespace)."""
    if not is_namespace(request) or request.subresource:
        return None
    return _labels(request.obj if request.obj is not None else request.old)


def namespace_selector_matches(match: Constraints, labels: Mapping[str, str]) -> bool:
    selector = match.namespace_selector
    if isinstance(selector, str):
        raise MatchError(selector)
    return selector.matches(labels)


def conditions_match(conditions: Sequence[MatchCondition], variables: dict[str, Any], *,
                     fail_closed: bool = True) -> bool:
    """Upstream's matchConditions matcher: a false condition skips the webhook (even if
    another failed); otherwise errors raise (failurePolicy Fail) or skip it (Ignore); all
    true calls it."""
    if not conditions:
        return True
    context = cel.Context(variables=variables, functions=FUNCTIONS)
    errors: list[str] = []
    for condition in conditions:
        if condition.program is None:
            errors.append(f"compilation failed: {condition.error}")
            continue
        try:
            result = condition.program.execute(context)
        except Exception as err:  # the interpreter raises anything an expression meets
            errors.append(f"expression '{condition.expression}' resulted in error: "
                          f"{describe(err)}")
            continue
        if result is False:
            return False
        if result is not True:
            errors.append(f"expression '{condition.expression}' resulted in non-boolean "
                          "value")
    if errors and fail_closed:
        # Upstream's NewAggregate: one error as itself, several in brackets.
        raise MatchError(errors[0] if len(errors) == 1 else f"[{', '.join(errors)}]")
    return not errors


def describe(err: Exception) -> str:
    """An interpreter error in cel-go's words where they are known."""
    if isinstance(err, KeyError):
        return f"no such key: {err.args[0] if err.args else ''}"
    return str(err).split("\n", 1)[0]
