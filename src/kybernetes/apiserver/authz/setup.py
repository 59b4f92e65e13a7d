"""Builds the API server's authorizer chain from `--authorization-mode`, the RBAC checks on
writes of roles and bindings, and the authorization API (SubjectAccessReview and the
self/local/rules reviews); reconciles the bootstrap policy at start."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kybernetes.apiserver.admission.chain import AdmissionPlugin
from kybernetes.apiserver.authz import bootstrappolicy
from kybernetes.apiserver.authz.authorizer import AlwaysAllow, Authorizer, PrivilegedGroups
from kybernetes.apiserver.authz.chain import AuthorizerChain
from kybernetes.apiserver.authz.escalation import RBACEscalationPrevention
from kybernetes.apiserver.authz.node import NodeAuthorizer
from kybernetes.apiserver.authz.rbac import RBACAuthorizer
from kybernetes.apiserver.authz.reviews import AccessReviews
from kybernetes.apiserver.authz.ruleresolver import AlwaysAllowRules, RuleResolver

if TYPE_CHECKING:
    from kybernetes.apiserver.server import ApiServer

MODES = ("AlwaysAllow", "Node", "RBAC")


def install(server: ApiServer) -> AuthorizerChain:
    """system:masters first, then each mode in the order the flag names them."""
    modes = [m.strip() for m in server.config.authorization_mode.split(",") if m.strip()]
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise ValueError(f"--authorization-mode: unknown mode(s) {', '.join(unknown)}; "
                         f"supported: {', '.join(MODES)}")
    if len(set(modes)) != len(modes):
        raise ValueError(f"--authorization-mode: {server.config.authorization_mode!r} has "
                         "mode specified more than once")
    rbac = RBACAuthorizer(server.cache)
    authorizers: list[Authorizer] = [PrivilegedGroups()]
    resolvers: list[RuleResolver] = []
    for mode in modes:
        if mode == "Node":
            node = NodeAuthorizer(server)
            authorizers.append(node)
            resolvers.append(node)
        elif mode == "RBAC":
            authorizers.append(rbac)
            resolvers.append(rbac)
        elif mode == "AlwaysAllow":
            authorizers.append(AlwaysAllow())
            resolvers.append(AlwaysAllowRules())
    return AuthorizerChain(authorizers, resolvers, rbac)


def register(server: ApiServer) -> None:
    """The access review endpoints (once the app exists), answering from the chain
    `install` built."""
    chain = server.app.authorizer
    assert isinstance(chain, AuthorizerChain)
    AccessReviews(chain, chain.rules).register(server.app.resources)


def write_guards(server: ApiServer) -> list[AdmissionPlugin]:
    """Checks on writes of roles and bindings (escalation and bind prevention)."""
    chain = server.app.authorizer
    assert isinstance(chain, AuthorizerChain)
    return [RBACEscalationPrevention(chain.rbac, chain)]


async def bootstrap(server: ApiServer) -> None:
    """Reconcile the bootstrap policy (default roles and bindings) at start."""
    await bootstrappolicy.reconcile(server)
