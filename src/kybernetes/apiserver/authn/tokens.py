"""Bearer-token authenticators: their interface, and audiences (upstream's
`authenticator.Token`, `authenticator.Audiences` and `WrapAudienceAgnosticToken`).

A token authenticator answers for one kind of token: the identity and the audiences the
token is good for (a `TokenResponse`), None for a token it does not know, or `InvalidToken`
for one it recognises but refuses (expired, tampered, its service account deleted); the
message is what a TokenReview reports. Each is asked with the audiences the caller targets:
the API's own on requests, a TokenReview's `spec.audiences` otherwise.

Static and bootstrap tokens carry no audience: upstream accepts them only where the target
audiences include the API's (`AudienceAgnostic`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from kybernetes.apiserver.authn.user import UserInfo


@dataclass(frozen=True)
class TokenResponse:
    user: UserInfo
    audiences: tuple[str, ...] = ()


class InvalidToken(Exception):
    """A token an authenticator recognised and refused."""


class TokenAuthenticator(Protocol):
    async def authenticate_token(self, token: str, audiences: Sequence[str]
                                 ) -> TokenResponse | None:
        """The token's identity for these target audiences; None for an unknown token."""
        ...


def intersect(left: Sequence[str], right: Sequence[str]) -> tuple[str, ...]:
    """The audiences in both, in `left`'s order (upstream's `Audiences.Intersect`)."""
    wanted = set(right)
    return tuple(a for a in left if a in wanted)


class AudienceAgnostic:
    """A token authenticator whose tokens are good for the API audiences only."""

    def __init__(self, delegate: TokenAuthenticator, implicit: Sequence[str]) -> None:
        self.delegate = delegate
        self.implicit = tuple(implicit)

    async def authenticate_token(self, token: str, audiences: Sequence[str]
                                 ) -> TokenResponse | None:
        common = intersect(self.implicit, audiences)
        if not common:
            return None
        found = await self.delegate.authenticate_token(token, audiences)
        return None if found is None else TokenResponse(found.user, common)
