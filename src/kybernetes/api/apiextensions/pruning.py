"""Dropping the fields a structural schema does not specify (upstream's
apiserver/schema/pruning): unknown fields go unless a node says
`x-kubernetes-preserve-unknown-fields`; at the root and in embedded resources
(`x-kubernetes-embedded-resource`) `apiVersion`, `kind` and `metadata` always stay. Nulls
of non-nullable fields without a default go too (upstream's
PruneNonNullableNullsWithoutDefaults); `defaulting.py` fills the others.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

_RESOURCE_FIELDS = ("apiVersion", "kind", "metadata")


def prune(schema: Schema, obj: dict[str, Any]) -> list[str]:
    """Prunes the object (a resource root) in place; returns the paths dropped, as
    upstream reports them in warnings (`unknown field "spec.foo"`)."""
    dropped: list[str] = []
    _prune_object(schema, obj, "", dropped, resource=True)
    return dropped


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _prune(schema: Schema | None, value: Any, path: str, dropped: list[str]) -> None:
    if schema is None:
        return
    if isinstance(value, dict):
        _prune_object(schema, value, path, dropped,
                      resource=bool(schema.get("x-kubernetes-embedded-resource")))
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(value):
                _prune(items, item, f"{path}[{i}]", dropped)


def _prune_object(schema: Schema, obj: dict[str, Any], path: str, dropped: list[str], *,
                  resource: bool) -> None:
    properties: dict[str, Schema] = schema.get("properties") or {}
    additional = schema.get("additionalProperties")
    preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
    for key in list(obj):
        if resource and key in _RESOURCE_FIELDS:
            if key == "metadata" and key in properties and isinstance(obj[key], dict):
                _prune_metadata(obj[key])
            continue
        child = properties.get(key)
        if child is None and isinstance(additional, dict):
            child = additional
        if child is None:
            if not preserve and additional is not True:
                dropped.append(_join(path, key))
                del obj[key]
            continue
        if obj[key] is None and not child.get("nullable") and "default" not in child:
            del obj[key]
            continue
        _prune(child, obj[key], _join(path, key), dropped)


def _prune_metadata(meta: dict[str, Any]) -> None:
    """ObjectMeta keeps its own fields; nothing in it is pruned by the schema."""
    for key in [k for k, v in meta.items() if v is None]:
        del meta[key]
