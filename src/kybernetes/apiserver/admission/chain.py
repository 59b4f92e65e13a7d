"""The admission chain (upstream's `k8s.io/apiserver/pkg/admission`): plugins that see
every write after authorization, in kube-apiserver's order, first all mutating phases then
all validating ones.

The store calls `admit` after defaulting and before validation, and `validate` after
validation, right before the write: on create, update (every path: PUT, patch, apply,
status, scale) and delete. A plugin refuses with a `StatusError` (usually 403 Forbidden
with upstream's message); a mutating plugin changes `request.obj` in place. The requester
is `request.user` (from `requestcontext`), warnings go through `requestcontext.add_warning`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from kybernetes.api import errors
from kybernetes.api.registry import ResourceInfo
from kybernetes.apiserver import requestcontext
from kybernetes.apiserver.authn.user import UserInfo

Operation = Literal["CREATE", "UPDATE", "DELETE", "CONNECT"]


@dataclass
class AdmissionRequest:
    operation: Operation
    info: ResourceInfo
    namespace: str
    name: str
    # The object to write (None on delete) and the stored one (None on create).
    obj: dict[str, Any] | None
    old: dict[str, Any] | None = None
    subresource: str = ""
    dry_run: bool = False
    user: UserInfo = field(default_factory=requestcontext.current_user)

    @property
    def resource(self) -> str:
        return self.info.plural

    @property
    def group(self) -> str:
        return self.info.group

    def is_pod(self) -> bool:
        return self.info.plural == "pods" and not self.info.group

    def forbidden(self, why: str) -> errors.StatusError:
        """Upstream's `admission.NewForbidden`: `<resource> "<name>" is forbidden: <why>`."""
        return errors.forbidden(self.group, self.resource, self.name, why)


class AdmissionPlugin(Protocol):
    """A plugin implements either or both phases; one it does not need is a no-op."""

    @property
    def name(self) -> str: ...

    async def admit(self, request: AdmissionRequest) -> None:
        """Mutating phase: may change `request.obj`."""
        ...

    async def validate(self, request: AdmissionRequest) -> None:
        """Validating phase: may only refuse."""
        ...


class AdmissionChain:
    def __init__(self, plugins: Sequence[AdmissionPlugin] = ()) -> None:
        self.plugins = list(plugins)

    async def admit(self, request: AdmissionRequest) -> None:
        for plugin in self.plugins:
            await plugin.admit(request)

    async def validate(self, request: AdmissionRequest) -> None:
        for plugin in self.plugins:
            await plugin.validate(request)
