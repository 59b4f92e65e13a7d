"""`BuiltinStrategy`: a built-in resource whose rules are functions of `kybernetes.api`.

Most built-in strategies differ only in which defaulting, validation and printer they use
and in a few switches; they are instances of this class, made by the group modules beside
it. Resources with rules of their own (pods, namespaces, DaemonSets...) subclass it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from kybernetes.api.errors import FieldError
from kybernetes.api.printers import Printer
from kybernetes.api.registry import BUILTIN_RESOURCES, ResourceInfo
from kybernetes.apiserver.strategies.base import Obj, ResourceStrategy

DefaultFn = Callable[[Obj], None]
CreateFn = Callable[[Obj], list[FieldError]]
UpdateFn = Callable[[Obj, Obj], list[FieldError]]


def builtin_info(group: str, resource: str) -> ResourceInfo:
    """The first served version of a built-in resource (all share scope and names)."""
    return next(i for i in BUILTIN_RESOURCES if i.group == group and i.plural == resource)


class BuiltinStrategy(ResourceStrategy):
    """`defaults`, `create` and `update` are the api/ functions of the kind (None: none,
    and ObjectMeta checks only); `generation`, `returns_deleted` set `tracks_generation`
    and `returns_deleted_object`; `initial_status` is the status a new object starts with
    (None: empty)."""

    def __init__(self, group: str, resource: str, *, printer: Printer | None = None,
                 defaults: DefaultFn | None = None, create: CreateFn | None = None,
                 update: UpdateFn | None = None, generation: bool = False,
                 returns_deleted: bool = False, initial_status: Obj | None = None) -> None:
        super().__init__(builtin_info(group, resource), printer=printer)
        self._defaults = defaults
        self._create = create
        self._update = update
        self._initial_status = initial_status or {}
        self.tracks_generation = generation
        self.returns_deleted_object = returns_deleted

    def default(self, obj: Obj) -> None:
        if self._defaults is not None:
            self._defaults(obj)

    def initial_status(self, obj: Obj) -> Obj:
        return copy.deepcopy(self._initial_status)

    def validate_create(self, obj: Obj) -> list[FieldError]:
        if self._create is None:
            return super().validate_create(obj)
        return self._create(obj)

    def validate_update(self, new: Obj, old: Obj, *, subresource: str = "") -> list[FieldError]:
        if self._update is None:
            return super().validate_update(new, old, subresource=subresource)
        return self._update(new, old)
