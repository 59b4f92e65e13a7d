"""The admission chain (upstream's `k8s.io/apiserver/pkg/admission`): plugins that see
every write after authorization, in kube-apiserver's order, first all mutating phases then
all validating ones.

The store calls `admit` after defaulting and before validation, and `validate` after
validation, right before the write: on create, update (every path: PUT, patch, apply,
status, scale) and delete. A plugin refuses with a `StatusError` (usually 403 Forbidden
with upstream's message); a mutating plugin changes `request.obj` in place. The requester
is `request.user` (from `requestcontext`), warnings go through `requestcontext.add_warning`.

Each plugin declares, per `Target` (group, resource, subresource, operation), the phases it
can act in (upstream's `Handles(operation)` plus the resource checks a plugin starts with);
the chain decides once per target which plugins to run in each phase and awaits only those.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Flag, auto
from typing import Any, Literal, NamedTuple, Protocol

from kybernetes.api import errors
from kybernetes.api.registry import ResourceInfo
from kybernetes.apiserver import requestcontext
from kybernetes.apiserver.authn.user import UserInfo

Operation = Literal["CREATE", "UPDATE", "DELETE", "CONNECT"]


class Phase(Flag):
    """The phases a plugin acts in for a target."""
    NONE = 0
    ADMIT = auto()
    VALIDATE = auto()
    BOTH = ADMIT | VALIDATE


class Target(NamedTuple):
    """What a request writes, all a plugin's `handles` may look at."""
    group: str
    resource: str
    subresource: str
    operation: Operation


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

    @property
    def target(self) -> Target:
        return Target(self.info.group, self.info.plural, self.subresource, self.operation)

    def is_pod(self) -> bool:
        return self.info.plural == "pods" and not self.info.group

    def forbidden(self, why: str) -> errors.StatusError:
        """Upstream's `admission.NewForbidden`: `<resource> "<name>" is forbidden: <why>`."""
        return errors.forbidden(self.group, self.resource, self.name, why)


class AdmissionPlugin(Protocol):
    """A plugin implements either or both phases; one it does not need is a no-op."""

    @property
    def name(self) -> str: ...

    def handles(self, target: Target) -> Phase:
        """The phases in which the plugin may act on a request for `target`: it is not
        called in the others."""
        ...

    async def admit(self, request: AdmissionRequest) -> None:
        """Mutating phase: may change `request.obj`."""
        ...

    async def validate(self, request: AdmissionRequest) -> None:
        """Validating phase: may only refuse."""
        ...


class AdmissionChain:
    """The plugins, in order; `plugins` is replaced as a whole (never changed in place),
    which forgets the per-target decisions."""

    def __init__(self, plugins: Sequence[AdmissionPlugin] = ()) -> None:
        self.plugins = plugins

    @property
    def plugins(self) -> tuple[AdmissionPlugin, ...]:
        return self._plugins

    @plugins.setter
    def plugins(self, plugins: Sequence[AdmissionPlugin]) -> None:
        self._plugins = tuple(plugins)
        self._mutating: dict[Target, tuple[AdmissionPlugin, ...]] = {}
        self._validating: dict[Target, tuple[AdmissionPlugin, ...]] = {}

    def _decide(self, target: Target) -> None:
        phases = [(plugin, plugin.handles(target)) for plugin in self._plugins]
        self._mutating[target] = tuple(p for p, phase in phases if Phase.ADMIT in phase)
        self._validating[target] = tuple(p for p, phase in phases if Phase.VALIDATE in phase)

    def mutating(self, target: Target) -> tuple[AdmissionPlugin, ...]:
        """The plugins whose `admit` runs for `target`, in order."""
        if target not in self._mutating:
            self._decide(target)
        return self._mutating[target]

    def validating(self, target: Target) -> tuple[AdmissionPlugin, ...]:
        """The plugins whose `validate` runs for `target`, in order."""
        if target not in self._validating:
            self._decide(target)
        return self._validating[target]

    async def admit(self, request: AdmissionRequest) -> None:
        for plugin in self.mutating(request.target):
            await plugin.admit(request)

    async def validate(self, request: AdmissionRequest) -> None:
        for plugin in self.validating(request.target):
            await plugin.validate(request)
