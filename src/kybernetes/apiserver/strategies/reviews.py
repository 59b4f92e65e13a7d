"""The strategies of the review resources of authentication.k8s.io and
authorization.k8s.io: created and answered (apiserver/authn, apiserver/authz), never stored,
so they have only the generic rules."""

from __future__ import annotations

from kybernetes.api.registry import BUILTIN_RESOURCES
from kybernetes.apiserver.strategies.base import ResourceStrategy

GROUPS = ("authentication.k8s.io", "authorization.k8s.io")


def strategies() -> list[ResourceStrategy]:
    return [ResourceStrategy(info) for info in BUILTIN_RESOURCES if info.group in GROUPS]
