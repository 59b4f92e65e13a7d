"""What one served version of a resource needs to be converted to and from its storage
version: the two conversion functions, and the version's own validation rules.

Upstream stores each resource in one version and converts every other version through the
internal type on the way in and out; here the storage version plays the internal type's
part, so each conversion is a pair of pure functions between the served version's JSON and
the storage version's. Neither mutates its argument (objects come from the watch cache).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kybernetes.api.errors import FieldError

Obj = dict[str, Any]


def _no_errors(*_objects: Obj) -> list[FieldError]:
    return []


@dataclass(frozen=True)
class Conversion:
    """A served version (`group`/`version`, `resource`) stored as another
    (`storage_group`/`storage_version`), with rules that apply only to requests of the
    served version (upstream's strategies read the request's version for these), given
    the storage version's objects."""

    group: str
    version: str
    resource: str
    storage_group: str
    storage_version: str
    to_storage: Callable[[Obj], Obj]
    from_storage: Callable[[Obj], Obj]
    validate_create: Callable[[Obj], list[FieldError]] = _no_errors
    validate_update: Callable[[Obj, Obj], list[FieldError]] = _no_errors

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def storage_group_version(self) -> str:
        return f"{self.storage_group}/{self.storage_version}" if self.storage_group \
            else self.storage_version
