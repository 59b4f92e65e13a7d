"""Builds the API server's authorizer chain from `--authorization-mode`, and registers the
authorization API (SubjectAccessReview and the self/local/rules reviews)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kybernetes.apiserver.admission.chain import AdmissionPlugin
from kybernetes.apiserver.authz.authorizer import AlwaysAllow, Authorizer, PrivilegedGroups, Union

if TYPE_CHECKING:
    from kybernetes.apiserver.server import ApiServer

MODES = ("AlwaysAllow", "Node", "RBAC")


def install(server: ApiServer) -> Authorizer:
    modes = [m.strip() for m in server.config.authorization_mode.split(",") if m.strip()]
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise ValueError(f"--authorization-mode: unknown mode(s) {', '.join(unknown)}; "
                         f"supported: {', '.join(MODES)}")
    chain: list[Authorizer] = [PrivilegedGroups()]
    if "AlwaysAllow" in modes:
        chain.append(AlwaysAllow())
    return Union(chain)


def write_guards(server: ApiServer) -> list[AdmissionPlugin]:
    """Checks on writes of roles and bindings (escalation and bind prevention)."""
    return []


async def bootstrap(server: ApiServer) -> None:
    """Reconcile the bootstrap policy (default roles and bindings) at start."""
