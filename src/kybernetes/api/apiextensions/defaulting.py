"""Filling `default`s from a structural schema (upstream's
apiserver/schema/defaulting.Default): a missing property with a default gets a copy of it,
and so does a null one that is not nullable; defaults apply inside lists and
additionalProperties maps too, at every depth, after the parents' own defaults.
"""

from __future__ import annotations

import copy
from typing import Any

Schema = dict[str, Any]


def has_defaults(schema: Any) -> bool:
    """Whether any node of the schema carries a default (no walk needed otherwise)."""
    if not isinstance(schema, dict):
        return False
    children = [*(schema.get("properties") or {}).values(), schema.get("items"),
                schema.get("additionalProperties")]
    return "default" in schema or any(has_defaults(c) for c in children)


def default(schema: Schema, value: Any) -> None:
    """Applies the schema's defaults to `value` in place."""
    if isinstance(value, dict):
        properties: dict[str, Schema] = schema.get("properties") or {}
        for key, child in properties.items():
            if "default" not in child:
                continue
            if key not in value or (value[key] is None and not child.get("nullable")):
                value[key] = copy.deepcopy(child["default"])
        additional = schema.get("additionalProperties")
        for key, item in value.items():
            sub = properties.get(key)
            if sub is None and isinstance(additional, dict):
                sub = additional
            if sub is not None:
                default(sub, item)
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for item in value:
                default(items, item)
