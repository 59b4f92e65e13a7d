"""Upstream's OpenAPI schema definitions for the built-in kinds.

The definitions come from the `kubernetes-validate` package, which ships upstream's swagger
definitions (converted to JSON Schema) for each release; we read the release kubectl 1.35
speaks. They are normalised back to OpenAPI v2 form (`type` a single string, refs as
`#/definitions/<name>`, int-or-string as upstream writes it) because the OpenAPI endpoints,
strategic merge patch (`x-kubernetes-patch-*`) and field validation all read them.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import orjson

KUBERNETES_SCHEMA_RELEASE = "v1.35.0"
_REF_PREFIX = "#/$defs/"
REF_PREFIX = "#/definitions/"

Schema = dict[str, Any]


@functools.cache
def definitions() -> dict[str, Schema]:
    """All definitions by upstream name, e.g. `io.k8s.api.apps.v1.Deployment`."""
    folder = resources.files("kubernetes_validate") / "kubernetes-json-schema"
    raw = orjson.loads((folder / f"{KUBERNETES_SCHEMA_RELEASE}-local" / "_definitions.json")
                       .read_bytes())
    return {name: _normalise(body) for name, body in raw["$defs"].items()}


def _normalise(node: Any) -> Any:
    if isinstance(node, list):
        return [_normalise(n) for n in node]
    if not isinstance(node, dict):
        return node
    one_of = node.get("oneOf")
    if one_of and len(one_of) == 2:
        kinds = {_single_type(alt.get("type")) for alt in one_of}
        if kinds == {"string", "integer"}:
            return {"type": "string", "format": "int-or-string"}
        if kinds == {"string", "number"}:
            return {"type": "string"}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref":
            out[key] = REF_PREFIX + value.removeprefix(_REF_PREFIX)
        elif key == "type":
            out[key] = _single_type(value)
        elif key == "properties":
            out[key] = {name: _property(name, prop) for name, prop in value.items()}
        else:
            out[key] = _normalise(value)
    return out


def _property(name: str, prop: Any) -> Any:
    cleaned = _normalise(prop)
    # The conversion pinned apiVersion and kind with an enum; upstream's schema has none.
    if name in ("apiVersion", "kind") and isinstance(cleaned, dict):
        cleaned.pop("enum", None)
    return cleaned


def _single_type(value: Any) -> Any:
    if isinstance(value, list):
        rest = [v for v in value if v != "null"]
        return rest[0] if len(rest) == 1 else rest
    return value


@functools.cache
def definition_for_kind(group: str, version: str, kind: str) -> str | None:
    """The definition name whose `x-kubernetes-group-version-kind` is this GVK."""
    for name, body in definitions().items():
        for gvk in body.get("x-kubernetes-group-version-kind", []):
            if (gvk.get("group", ""), gvk["version"], gvk["kind"]) == (group, version, kind):
                return name
    return None


def resolve(node: Schema) -> Schema:
    """Follow a `$ref` (possibly nested in `allOf`) to its definition."""
    ref = node.get("$ref")
    if ref is None and len(node.get("allOf", [])) == 1:
        ref = node["allOf"][0].get("$ref")
    if ref is None:
        return node
    return definitions()[ref.removeprefix(REF_PREFIX)]


def property_schema(node: Schema, name: str) -> Schema | None:
    """The schema of property `name` of an object schema, resolved, or None if unknown."""
    node = resolve(node)
    prop = node.get("properties", {}).get(name)
    if prop is not None:
        return resolve(prop) | {k: v for k, v in prop.items() if k.startswith("x-kubernetes")}
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        return resolve(extra)
    return None
