"""The authorizer interface and the chain (upstream's `authorizer.Authorizer` and
`union`): each authorizer allows, denies or has no opinion; the first that decides wins,
and a request no one allows is forbidden.

Authorizers answer from memory (indexes over the watch cache), synchronously: they run on
every request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from kybernetes.api import errors
from kybernetes.api.goquote import go_quote
from kybernetes.apiserver.authn.user import SYSTEM_MASTERS
from kybernetes.apiserver.authz.attributes import Attributes

Verdict = Literal["allow", "deny", "no-opinion"]


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str = ""

    @property
    def allowed(self) -> bool:
        return self.verdict == "allow"


NO_OPINION = Decision("no-opinion")


class Authorizer(Protocol):
    def authorize(self, attrs: Attributes) -> Decision: ...


class PrivilegedGroups:
    """`system:masters` may do anything (upstream's privileged group authorizer, first in
    kube-apiserver's chain)."""

    def authorize(self, attrs: Attributes) -> Decision:
        if SYSTEM_MASTERS in attrs.user.groups:
            return Decision("allow")
        return NO_OPINION


class AlwaysAllow:
    """`--authorization-mode=AlwaysAllow`: every request is allowed."""

    def authorize(self, attrs: Attributes) -> Decision:
        return Decision("allow")


class Union:
    def __init__(self, authorizers: Sequence[Authorizer]) -> None:
        self.authorizers = tuple(authorizers)

    def authorize(self, attrs: Attributes) -> Decision:
        reasons: list[str] = []
        for authorizer in self.authorizers:
            decision = authorizer.authorize(attrs)
            if decision.verdict != "no-opinion":
                return decision
            if decision.reason:
                reasons.append(decision.reason)
        return Decision("no-opinion", ", ".join(reasons))


def forbidden_message(attrs: Attributes, reason: str = "") -> str:
    """Upstream's message for a refused request (`responsewriters.forbiddenMessage`)."""
    who = f"User {go_quote(attrs.user.name)}"
    if not attrs.resource_request:
        text = f"{who} cannot {attrs.verb} path {go_quote(attrs.path)}"
    else:
        resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource \
            else attrs.resource
        text = (f"{who} cannot {attrs.verb} resource {go_quote(resource)} in API group "
                f"{go_quote(attrs.api_group)}")
        text += f" in the namespace {go_quote(attrs.namespace)}" if attrs.namespace \
            else " at the cluster scope"
    return f"{text}: {reason}" if reason else text


def forbidden_error(attrs: Attributes, reason: str = "") -> errors.StatusError:
    """The 403 `Status` of a refused request, with upstream's message and details."""
    message = forbidden_message(attrs, reason)
    if not attrs.resource_request:
        return errors.StatusError(403, "Forbidden", f"forbidden: {message}")
    resource = attrs.resource
    subject = f'{resource} "{attrs.name}"' if attrs.name else resource
    if attrs.api_group:
        subject = f'{resource}.{attrs.api_group} "{attrs.name}"' if attrs.name \
            else f"{resource}.{attrs.api_group}"
    details = {"name": attrs.name, "group": attrs.api_group, "kind": resource}
    return errors.StatusError(403, "Forbidden", f"{subject} is forbidden: {message}",
                              {k: v for k, v in details.items() if v})
