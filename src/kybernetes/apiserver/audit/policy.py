"""The audit Policy (audit.k8s.io/v1) of `--audit-policy-file`: which requests are recorded,
at which level, and which stages are left out (upstream's audit/policy reader and checker).

Rules are tried in order and the first that matches gives the level; a request no rule
matches is not audited (level None). A rule matches when every field it sets matches:
`users`, `userGroups` (any group), `verbs`, then either `namespaces`/`resources` (group,
resources such as `pods`, `pods/log`, `*`, `pods/*`, `*/scale`, and `resourceNames`) for
resource requests or `nonResourceURLs` (exact, `*`, or a trailing `*` prefix) for the rest.
The policy's `omitStages` add to each rule's; a rule's `omitManagedFields` overrides the
policy's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kybernetes.api.errors import FieldError
from kybernetes.api.goquote import go_quote
from kybernetes.api.validation.meta import name_is_dns_subdomain
from kybernetes.apiserver.authn.user import UserInfo
from kybernetes.apiserver.authz.attributes import Attributes

API_VERSION = "audit.k8s.io/v1"
LEVELS = ("None", "Metadata", "Request", "RequestResponse")
STAGES = ("RequestReceived", "ResponseStarted", "ResponseComplete", "Panic")


class PolicyError(ValueError):
    """The audit policy file cannot be used."""


@dataclass(frozen=True)
class RequestAuditConfig:
    """What the policy says of one request."""

    level: str
    omit_stages: frozenset[str] = frozenset()
    omit_managed_fields: bool = False

    def at_least(self, level: str) -> bool:
        return LEVELS.index(self.level) >= LEVELS.index(level)


@dataclass(frozen=True)
class GroupResources:
    group: str = ""
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class PolicyRule:
    level: str
    users: tuple[str, ...] = ()
    user_groups: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ()
    resources: tuple[GroupResources, ...] = ()
    namespaces: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()
    omit_stages: frozenset[str] = frozenset()
    omit_managed_fields: bool | None = None

    def matches(self, user: UserInfo | None, attrs: Attributes) -> bool:
        if self.users and (user is None or user.name not in self.users):
            return False
        if self.user_groups and (user is None
                                 or not any(g in self.user_groups for g in user.groups)):
            return False
        if self.verbs and attrs.verb not in self.verbs:
            return False
        if self.namespaces or self.resources:
            return self._matches_resource(attrs)
        if self.non_resource_urls:
            return not attrs.resource_request and any(
                _path_matches(attrs.path, spec) for spec in self.non_resource_urls)
        return True

    def _matches_resource(self, attrs: Attributes) -> bool:
        if not attrs.resource_request:
            return False
        if self.namespaces and attrs.namespace not in self.namespaces:
            return False
        if not self.resources:
            return True
        combined = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource \
            else attrs.resource
        for group in self.resources:
            if group.group != attrs.api_group:
                continue
            if not group.resources:
                return True
            if group.resource_names and attrs.name not in group.resource_names:
                continue
            for spec in group.resources:
                if spec in (combined, "*") or \
                        (attrs.subresource and spec == f"*/{attrs.subresource}") or \
                        (spec.endswith("/*") and spec[:-2] == attrs.resource):
                    return True
        return False


@dataclass(frozen=True)
class Policy:
    rules: tuple[PolicyRule, ...]
    omit_stages: frozenset[str] = frozenset()
    omit_managed_fields: bool = False

    def evaluate(self, user: UserInfo | None, attrs: Attributes) -> RequestAuditConfig:
        """The level and stages of a request by `user` (None: not authenticated)."""
        for rule in self.rules:
            if rule.matches(user, attrs):
                omit = self.omit_managed_fields if rule.omit_managed_fields is None \
                    else rule.omit_managed_fields
                return RequestAuditConfig(rule.level, rule.omit_stages | self.omit_stages, omit)
        return RequestAuditConfig("None", self.omit_stages, self.omit_managed_fields)


def _path_matches(path: str, spec: str) -> bool:
    return spec in ("*", path) or (spec.endswith("*") and path.startswith(spec.rstrip("*")))


# ---------------------------------------------------------------------------- loading


def load_policy(path: Path) -> Policy:
    """The policy in the file at `path` (YAML or JSON), checked as upstream does."""
    try:
        text = path.read_bytes()
    except OSError as err:
        raise PolicyError(f"failed to read file path {go_quote(str(path))}: {err}") from None
    try:
        return parse_policy(text)
    except PolicyError as err:
        raise PolicyError(f"{err}: from file {path}") from None


def parse_policy(text: bytes) -> Policy:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise PolicyError(f"failed decoding: error converting YAML to JSON: {err}") from None
    if not isinstance(document, dict):
        raise PolicyError("failed decoding: the policy is not an object")
    if document.get("kind") != "Policy" or document.get("apiVersion") != API_VERSION:
        raise PolicyError(f"unknown group version field {document.get('apiVersion', '')}, "
                          f"Kind={document.get('kind', '')} in policy")
    problems = [e.message() for e in _validate(document)]
    if problems:
        raise PolicyError(problems[0] if len(problems) == 1 else f"[{', '.join(problems)}]")
    rules = tuple(_rule(r) for r in _list(document.get("rules")))
    if not rules:
        raise PolicyError("loaded illegal policy with 0 rules")
    return Policy(rules, frozenset(_strings(document.get("omitStages"))),
                  document.get("omitManagedFields") is True)


def _rule(rule: dict[str, Any]) -> PolicyRule:
    omit_managed = rule.get("omitManagedFields")
    return PolicyRule(
        level=rule["level"], users=_strings(rule.get("users")),
        user_groups=_strings(rule.get("userGroups")), verbs=_strings(rule.get("verbs")),
        resources=tuple(GroupResources(str(g.get("group") or ""), _strings(g.get("resources")),
                                       _strings(g.get("resourceNames")))
                        for g in _list(rule.get("resources")) if isinstance(g, dict)),
        namespaces=_strings(rule.get("namespaces")),
        non_resource_urls=_strings(rule.get("nonResourceURLs")),
        omit_stages=frozenset(_strings(rule.get("omitStages"))),
        omit_managed_fields=omit_managed if isinstance(omit_managed, bool) else None)


def _validate(document: dict[str, Any]) -> list[FieldError]:
    errors = _validate_stages(_strings(document.get("omitStages")), "omitStages")
    for i, rule in enumerate(_list(document.get("rules"))):
        at = f"rules[{i}]"
        if not isinstance(rule, dict):
            errors.append(FieldError.invalid(at, rule, "must be an object"))
            continue
        level = rule.get("level") or ""
        if not level:
            errors.append(FieldError.required(f"{at}.level"))
        elif level not in LEVELS:
            errors.append(FieldError.not_supported(f"{at}.level", level, list(LEVELS)))
        urls = _strings(rule.get("nonResourceURLs"))
        for j, url in enumerate(urls):
            if url == "*":
                continue
            if not url.startswith("/"):
                errors.append(FieldError.invalid(
                    f"{at}.nonResourceURLs[{j}]", url,
                    "non-resource URL rules must begin with a '/' character"))
            if url and "*" in url[:-1]:
                errors.append(FieldError.invalid(
                    f"{at}.nonResourceURLs[{j}]", url,
                    "non-resource URL wildcards '*' must be the final character of the rule"))
        for group in _list(rule.get("resources")):
            group = group if isinstance(group, dict) else {}
            name = str(group.get("group") or "")
            if name:
                messages = name_is_dns_subdomain(name, False)
                if messages:
                    errors.append(FieldError.invalid(f"{at}.resources.group", name,
                                                     ",".join(messages)))
            names = _strings(group.get("resourceNames"))
            if names and not _strings(group.get("resources")):
                errors.append(FieldError.invalid(f"{at}.resources.resourceNames", list(names),
                                                 "using resourceNames requires at least one "
                                                 "resource"))
        errors += _validate_stages(_strings(rule.get("omitStages")), f"{at}.omitStages")
        if urls and (rule.get("resources") or rule.get("namespaces")):
            errors.append(FieldError.invalid(f"{at}.nonResourceURLs", list(urls),
                                             "rules cannot apply to both regular resources and "
                                             "non-resource URLs"))
    return errors


def _validate_stages(stages: Sequence[str], at: str) -> list[FieldError]:
    return [FieldError.invalid(f"{at}[{i}]", stage, f"allowed stages are {','.join(STAGES)}")
            for i, stage in enumerate(stages) if stage not in STAGES]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in _list(value))
