"""Reading an object as the API serves it (a plain dict): its `metadata`, `spec` and
`status`, each an empty dict when absent or not a map, so callers chain `.get` without
checks. The accessors every controller and component share.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _part(obj: Mapping[str, Any], field: str) -> dict[str, Any]:
    value = obj.get(field)
    return value if isinstance(value, dict) else {}


def meta(obj: Mapping[str, Any]) -> dict[str, Any]:
    return _part(obj, "metadata")


def spec(obj: Mapping[str, Any]) -> dict[str, Any]:
    return _part(obj, "spec")


def status(obj: Mapping[str, Any]) -> dict[str, Any]:
    return _part(obj, "status")


def find_condition(status_: Mapping[str, Any], type_: str) -> dict[str, Any] | None:
    """The condition of `type_` in a status' `conditions`, or None (the GetCondition
    helpers upstream writes per kind)."""
    for condition in status_.get("conditions") or ():
        if isinstance(condition, dict) and condition.get("type") == type_:
            return condition
    return None
