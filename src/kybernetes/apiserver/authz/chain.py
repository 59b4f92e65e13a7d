"""The API server's authorizer chain as `install` builds it from `--authorization-mode`:
the authorizers in order, the rule resolvers of the modes that can list rules
(SelfSubjectRulesReview), and the RBAC evaluator, which escalation prevention uses whatever
the modes (upstream's RBAC storage checks escalation even when RBAC does not authorize)."""

from __future__ import annotations

from collections.abc import Sequence

from kybernetes.apiserver.authz.authorizer import Authorizer, Union
from kybernetes.apiserver.authz.rbac import RBACAuthorizer
from kybernetes.apiserver.authz.ruleresolver import RuleResolver, UnionRuleResolver


class AuthorizerChain(Union):
    def __init__(self, authorizers: Sequence[Authorizer], resolvers: Sequence[RuleResolver],
                 rbac: RBACAuthorizer) -> None:
        super().__init__(authorizers)
        self.rules = UnionRuleResolver(resolvers)
        self.rbac = rbac
