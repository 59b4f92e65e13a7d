"""What a user may do in a namespace, as rules (upstream's `authorizer.RuleResolver` and
its union in `authorizerfactory`): the answer of SelfSubjectRulesReview and of
`kubectl auth can-i --list`.

Each authorization mode that can list rules contributes its own: RBAC the rules of the
user's bindings, AlwaysAllow everything. A mode that cannot enumerate what it allows says
the list is incomplete, with an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from kybernetes.apiserver.authn.user import UserInfo
from kybernetes.apiserver.authz.policyrule import ALL, PolicyRule


@dataclass(frozen=True)
class SubjectRules:
    resource_rules: tuple[PolicyRule, ...] = ()
    non_resource_rules: tuple[PolicyRule, ...] = ()
    incomplete: bool = False
    errors: tuple[str, ...] = ()

    @property
    def evaluation_error(self) -> str:
        """The errors as upstream's aggregate error prints them."""
        return aggregate(self.errors)


def aggregate(errors: Sequence[str]) -> str:
    """`utilerrors.NewAggregate(errs).Error()`: one error as itself, several in brackets."""
    if len(errors) == 1:
        return errors[0]
    return f"[{', '.join(errors)}]" if errors else ""


def split_rules(rules: Sequence[PolicyRule]) -> SubjectRules:
    """Resource rules and non-resource rules of a list of policy rules (a rule with both
    counts as both, as upstream's RBAC RulesFor does)."""
    return SubjectRules(tuple(r for r in rules if r.resources),
                        tuple(r for r in rules if r.non_resource_urls))


class RuleResolver(Protocol):
    def rules_for(self, user: UserInfo, namespace: str) -> SubjectRules: ...


class AlwaysAllowRules:
    """`--authorization-mode=AlwaysAllow`: every verb on everything."""

    def rules_for(self, user: UserInfo, namespace: str) -> SubjectRules:
        return SubjectRules((PolicyRule((ALL,), (ALL,), (ALL,)),),
                            (PolicyRule((ALL,), non_resource_urls=(ALL,)),))


class UnionRuleResolver:
    def __init__(self, resolvers: Sequence[RuleResolver]) -> None:
        self.resolvers = tuple(resolvers)

    def rules_for(self, user: UserInfo, namespace: str) -> SubjectRules:
        resource: list[PolicyRule] = []
        non_resource: list[PolicyRule] = []
        incomplete = False
        errors: list[str] = []
        for resolver in self.resolvers:
            found = resolver.rules_for(user, namespace)
            resource.extend(found.resource_rules)
            non_resource.extend(found.non_resource_rules)
            incomplete = incomplete or found.incomplete
            if found.errors:
                errors.append(found.evaluation_error)
        return SubjectRules(tuple(resource), tuple(non_resource), incomplete, tuple(errors))
