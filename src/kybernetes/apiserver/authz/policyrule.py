"""RBAC policy rules: what one rule allows, and whether some rules cover others.

Upstream's rule evaluation (`pkg/apis/rbac/v1/evaluation_helpers.go` and the authorizer's
`RuleAllows`), the coverage check escalation prevention and reconciliation rely on
(`component-helpers/auth/rbac/validation/policy_comparator.go`: `Covers`,
`BreakdownRule`), the compaction of missing rules for error messages
(`pkg/registry/rbac/validation/policy_compact.go`) and `CompactString`, the rendering
those messages use.

Rules come from stored objects that any client may have written: parsing keeps the string
items of each list and ignores anything else, never raising.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from kybernetes.api.goquote import go_quote
from kybernetes.apiserver.authz.attributes import Attributes

ALL = "*"


@dataclass(frozen=True, slots=True)
class PolicyRule:
    verbs: tuple[str, ...] = ()
    api_groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, list[str]]:
        """The rule as the API writes it (empty lists left out, `verbs` always there)."""
        body: dict[str, list[str]] = {}
        for key, values in (("apiGroups", self.api_groups), ("resources", self.resources),
                            ("resourceNames", self.resource_names),
                            ("nonResourceURLs", self.non_resource_urls)):
            if values:
                body[key] = list(values)
        body["verbs"] = list(self.verbs)
        return body


def _strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(item for item in value if isinstance(item, str))


def rule_from_dict(rule: Any) -> PolicyRule:
    if not isinstance(rule, Mapping):
        return PolicyRule()
    return PolicyRule(_strings(rule.get("verbs")), _strings(rule.get("apiGroups")),
                      _strings(rule.get("resources")), _strings(rule.get("resourceNames")),
                      _strings(rule.get("nonResourceURLs")))


def rules_of(obj: Mapping[str, Any]) -> tuple[PolicyRule, ...]:
    """The `rules` of a Role or ClusterRole."""
    rules = obj.get("rules")
    return tuple(rule_from_dict(r) for r in rules) if isinstance(rules, list) else ()


# -- evaluation (evaluation_helpers.go, RuleAllows) ----------------------------------------


def verb_matches(rule: PolicyRule, verb: str) -> bool:
    return ALL in rule.verbs or verb in rule.verbs


def api_group_matches(rule: PolicyRule, group: str) -> bool:
    return ALL in rule.api_groups or group in rule.api_groups


def resource_matches(rule: PolicyRule, combined: str, subresource: str) -> bool:
    """`combined` is `resource` or `resource/subresource`; a rule names it, or `*`, or
    `*/subresource`."""
    if ALL in rule.resources or combined in rule.resources:
        return True
    return bool(subresource) and f"*/{subresource}" in rule.resources


def resource_name_matches(rule: PolicyRule, name: str) -> bool:
    return not rule.resource_names or name in rule.resource_names


def non_resource_url_matches(rule: PolicyRule, path: str) -> bool:
    for url in rule.non_resource_urls:
        if url in (ALL, path):
            return True
        if url.endswith("*") and path.startswith(url.rstrip("*")):
            return True
    return False


def rule_allows(attrs: Attributes, rule: PolicyRule) -> bool:
    if not verb_matches(rule, attrs.verb):
        return False
    if not attrs.resource_request:
        return non_resource_url_matches(rule, attrs.path)
    combined = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource \
        else attrs.resource
    return (api_group_matches(rule, attrs.api_group)
            and resource_matches(rule, combined, attrs.subresource)
            and resource_name_matches(rule, attrs.name))


# -- coverage (policy_comparator.go) --------------------------------------------------------


def breakdown(rule: PolicyRule) -> list[PolicyRule]:
    """The rule as rules of at most one group, resource, verb and name each (a
    non-resource rule as one URL and one verb each)."""
    parts: list[PolicyRule] = []
    for group in rule.api_groups:
        for resource in rule.resources:
            for verb in rule.verbs:
                if rule.resource_names:
                    parts.extend(PolicyRule((verb,), (group,), (resource,), (name,))
                                 for name in rule.resource_names)
                else:
                    parts.append(PolicyRule((verb,), (group,), (resource,)))
    for url in rule.non_resource_urls:
        parts.extend(PolicyRule((verb,), non_resource_urls=(url,)) for verb in rule.verbs)
    return parts


def _has_all(owned: Sequence[str], wanted: Sequence[str]) -> bool:
    return set(wanted) <= set(owned)


def _resources_cover(owned: Sequence[str], wanted: Sequence[str]) -> bool:
    if ALL in owned or _has_all(owned, wanted):
        return True
    for path in wanted:
        if path in owned:
            continue
        if "/" not in path or f"*/{path.split('/', 1)[1]}" not in owned:
            return False
    return True


def _url_covers(owner: str, path: str) -> bool:
    return owner == path or (owner.endswith("*") and path.startswith(owner.rstrip("*")))


def _urls_cover(owned: Sequence[str], wanted: Sequence[str]) -> bool:
    return all(any(_url_covers(owner, path) for owner in owned) for path in wanted)


def rule_covers(owner: PolicyRule, sub: PolicyRule) -> bool:
    """Whether `owner` allows everything `sub` (one broken-down rule) does."""
    verbs = ALL in owner.verbs or _has_all(owner.verbs, sub.verbs)
    groups = ALL in owner.api_groups or _has_all(owner.api_groups, sub.api_groups)
    if sub.resource_names:
        names = not owner.resource_names or _has_all(owner.resource_names, sub.resource_names)
    else:
        names = not owner.resource_names
    return (verbs and groups and names and _resources_cover(owner.resources, sub.resources)
            and _urls_cover(owner.non_resource_urls, sub.non_resource_urls))


def covers(owner_rules: Sequence[PolicyRule], servant_rules: Iterable[PolicyRule]
           ) -> tuple[bool, list[PolicyRule]]:
    """Whether `owner_rules` allow all `servant_rules` allow, and the broken-down rules
    they do not."""
    uncovered = [sub for rule in servant_rules for sub in breakdown(rule)
                 if not any(rule_covers(owner, sub) for owner in owner_rules)]
    return not uncovered, uncovered


# -- messages (policy_compact.go, CompactString) ---------------------------------------------


def compact_rules(rules: Iterable[PolicyRule]) -> list[PolicyRule]:
    """Rules of one group and one resource and nothing else, merged across verbs."""
    compacted: list[PolicyRule] = []
    simple: dict[tuple[str, str], PolicyRule] = {}
    for rule in rules:
        is_simple = (not rule.resource_names and not rule.non_resource_urls
                     and len(rule.api_groups) == 1 and len(rule.resources) == 1)
        if not is_simple:
            compacted.append(rule)
            continue
        key = (rule.api_groups[0], rule.resources[0])
        found = simple.get(key)
        simple[key] = rule if found is None else replace(found,
                                                          verbs=found.verbs + rule.verbs)
    return compacted + list(simple.values())


def go_strings(values: Sequence[str]) -> str:
    """Go's `%q` of a []string: `["a" "b"]`."""
    return "[" + " ".join(go_quote(v) for v in values) + "]"


def compact_string(rule: PolicyRule) -> str:
    """`{APIGroups:[""], Resources:["pods"], Verbs:["get"]}`, as upstream's CompactString."""
    parts = [f"{label}:{go_strings(values)}" for label, values in (
        ("APIGroups", rule.api_groups), ("Resources", rule.resources),
        ("NonResourceURLs", rule.non_resource_urls), ("ResourceNames", rule.resource_names),
        ("Verbs", rule.verbs)) if values]
    return "{" + ", ".join(parts) + "}"
