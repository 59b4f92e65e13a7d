"""Is a CRD's schema structural (upstream's apiserver/schema.ValidateStructural)?

Every node names its type (except int-or-string and preserve-unknown-fields nodes);
arrays give items; the root is an object without additionalProperties and restricts
metadata to name and generateName at most; value validations under allOf/anyOf/oneOf/not
carry no structure (no type, default, description, nullable or extensions). Messages and
their sorted order are upstream's.
"""

from __future__ import annotations

import re
from typing import Any

from kybernetes.api.apiextensions import goregex
from kybernetes.api.errors import FieldError

Schema = dict[str, Any]

_ROOT, _ITEM, _FIELD = "root", "item", "field"
_INT_OR_STRING_ANY_OF = [{"type": "integer"}, {"type": "string"}]


def validate_structural(schema: Schema, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    _invariants(schema, _ROOT, path, errs)
    return sorted(errs, key=lambda e: e.message())


def _invariants(s: Schema, level: str, path: str, errs: list[FieldError]) -> None:
    type_ = s.get("type") or ""
    if "$ref" in s:
        errs.append(FieldError.forbidden(f"{path}.$ref", "$ref is not supported"))
    if type_ == "array" and not isinstance(s.get("items"), dict):
        errs.append(FieldError.required(f"{path}.items", "must be specified"))
    if isinstance(s.get("items"), dict):
        _invariants(s["items"], _ITEM, f"{path}.items", errs)
    for key, child in (s.get("properties") or {}).items():
        if isinstance(child, dict):
            _invariants(child, _FIELD, f"{path}.properties[{key}]", errs)
    additional = s.get("additionalProperties")
    if additional is not None and additional is not True:
        if level == _ROOT:
            errs.append(FieldError.forbidden(f"{path}.additionalProperties",
                                             "must not be used at the root"))
        if s.get("properties"):
            errs.append(FieldError.forbidden(
                f"{path}.additionalProperties",
                "additionalProperties and properties are mutual exclusive"))
        if isinstance(additional, dict):
            _invariants(additional, _FIELD, f"{path}.additionalProperties", errs)
    int_or_string = bool(s.get("x-kubernetes-int-or-string"))
    preserve = bool(s.get("x-kubernetes-preserve-unknown-fields"))
    embedded = bool(s.get("x-kubernetes-embedded-resource"))
    if int_or_string and preserve:
        errs.append(FieldError.invalid(f"{path}.x-kubernetes-preserve-unknown-fields", True,
                                       "must be false if x-kubernetes-int-or-string is true"))
    if int_or_string and embedded:
        errs.append(FieldError.invalid(f"{path}.x-kubernetes-embedded-resource", True,
                                       "must be false if x-kubernetes-int-or-string is true"))
    if int_or_string and type_:
        errs.append(FieldError.invalid(f"{path}.type", type_,
                                       "must be empty if x-kubernetes-int-or-string is true"))
    _value_validation(s, level, path, errs)
    if embedded and type_ != "object":
        text = "must be object if x-kubernetes-embedded-resource is true"
        errs.append(FieldError.required(f"{path}.type", text) if not type_
                    else FieldError.invalid(f"{path}.type", type_, text))
    elif not type_ and not int_or_string and not preserve:
        text = {_ROOT: "must not be empty at the root",
                _ITEM: "must not be empty for specified array items",
                _FIELD: "must not be empty for specified object fields"}[level]
        errs.append(FieldError.required(f"{path}.type", text))
    if embedded and additional is not None:
        errs.append(FieldError.forbidden(f"{path}.additionalProperties",
                                         "must not be used if x-kubernetes-embedded-resource "
                                         "is set"))
    if level == _ROOT and type_ and type_ != "object":
        errs.append(FieldError.invalid(f"{path}.type", type_, "must be object at the root"))
    _list_type(s, path, errs)
    properties = s.get("properties") or {}
    if level == _ROOT or embedded:
        for name, wanted in (("kind", "string"), ("apiVersion", "string"),
                             ("metadata", "object")):
            child = properties.get(name)
            if isinstance(child, dict) and child.get("type") != wanted:
                errs.append(FieldError.invalid(f"{path}.properties[{name}].type",
                                               child.get("type") or "", f"must be {wanted}"))
    metadata = properties.get("metadata")
    if level == _ROOT and isinstance(metadata, dict) and not _plain_metadata(metadata):
        errs.append(FieldError.forbidden(
            f"{path}.properties[metadata]",
            "must not specify anything other than name and generateName, but metadata is "
            "implicitly specified"))
    if embedded and not preserve and not properties:
        errs.append(FieldError.required(
            f"{path}.properties", "must not be empty if x-kubernetes-embedded-resource is "
                                  "true without x-kubernetes-preserve-unknown-fields"))


def _plain_metadata(metadata: Schema) -> bool:
    """Root metadata may only say it is an object and restrict name and generateName."""
    allowed = {"type", "properties", "description", "default"}
    if set(metadata) - allowed:
        return False
    return set(metadata.get("properties") or {}) <= {"name", "generateName"}


def _list_type(s: Schema, path: str, errs: list[FieldError]) -> None:
    list_type = s.get("x-kubernetes-list-type")
    if list_type is None:
        return
    if list_type not in ("atomic", "set", "map"):
        errs.append(FieldError.not_supported(f"{path}.x-kubernetes-list-type", list_type,
                                             ["atomic", "set", "map"]))
        return
    if s.get("type") != "array":
        errs.append(FieldError.invalid(f"{path}.type", s.get("type") or "",
                                       "must be array if x-kubernetes-list-type is specified"))
        return
    keys = s.get("x-kubernetes-list-map-keys") or []
    if list_type == "map":
        if not keys:
            errs.append(FieldError.required(
                f"{path}.x-kubernetes-list-map-keys",
                "must not be empty if x-kubernetes-list-type is map"))
        given = s.get("items")
        items: Schema = given if isinstance(given, dict) else {}
        if items.get("type") != "object":
            errs.append(FieldError.invalid(f"{path}.items.type", items.get("type") or "",
                                           "must be object if parent array's "
                                           "x-kubernetes-list-type is map"))
        props = items.get("properties") or {}
        for i, key in enumerate(keys):
            if key not in props:
                errs.append(FieldError.invalid(
                    f"{path}.x-kubernetes-list-map-keys[{i}]", key,
                    "entries must all be names of item properties"))
    elif keys:
        errs.append(FieldError.forbidden(f"{path}.x-kubernetes-list-map-keys",
                                         "must be empty if x-kubernetes-list-type is not map"))


_STRUCTURE = (("type", "must be empty to be structural"),
              ("additionalProperties", "must be undefined to be structural"),
              ("default", "must be undefined to be structural"),
              ("title", "must be empty to be structural"),
              ("description", "must be empty to be structural"),
              ("x-kubernetes-list-map-keys", "must be empty to be structural"),
              ("x-kubernetes-list-type", "must be undefined to be structural"))
_FLAGS = ("nullable", "x-kubernetes-preserve-unknown-fields", "x-kubernetes-embedded-resource",
          "x-kubernetes-int-or-string")


def _value_validation(s: Schema, level: str, path: str, errs: list[FieldError]) -> None:
    skip_any_of = s.get("anyOf") == _INT_OR_STRING_ANY_OF
    all_of = s.get("allOf") or []
    skip_first_all_of = bool(all_of) and isinstance(all_of[0], dict) and \
        all_of[0].get("anyOf") == _INT_OR_STRING_ANY_OF
    if not skip_any_of:
        for i, sub in enumerate(s.get("anyOf") or []):
            _nested(sub, level, f"{path}.anyOf[{i}]", errs, skip_any_of=False)
    for i, sub in enumerate(all_of):
        _nested(sub, level, f"{path}.allOf[{i}]", errs,
                skip_any_of=skip_first_all_of and i == 0)
    for i, sub in enumerate(s.get("oneOf") or []):
        _nested(sub, level, f"{path}.oneOf[{i}]", errs, skip_any_of=False)
    if isinstance(s.get("not"), dict):
        _nested(s["not"], level, f"{path}.not", errs, skip_any_of=False)
    pattern = s.get("pattern")
    if isinstance(pattern, str) and pattern:
        try:
            goregex.compile_pattern(pattern)
        except re.error as err:
            errs.append(FieldError.invalid(
                f"{path}.pattern", pattern,
                f"must be a valid regular expression, but isn't: {err}"))


def _nested(v: Any, level: str, path: str, errs: list[FieldError], *,
            skip_any_of: bool) -> None:
    if not isinstance(v, dict):
        return
    stripped = dict(v)
    if skip_any_of:
        stripped.pop("anyOf", None)
    _value_validation(stripped, level, path, errs)
    if isinstance(v.get("items"), dict):
        _nested(v["items"], level, f"{path}.items", errs, skip_any_of=False)
    for key, child in (v.get("properties") or {}).items():
        _nested(child, _FIELD, f"{path}.properties[{key}]", errs, skip_any_of=False)
    for name, text in _STRUCTURE:
        if v.get(name) not in (None, "", []):
            errs.append(FieldError.forbidden(f"{path}.{name}", text))
    for name in _FLAGS:
        if v.get(name):
            errs.append(FieldError.forbidden(f"{path}.{name}", "must be false to be structural"))
    if "metadata" in (v.get("properties") or {}):
        errs.append(FieldError.forbidden(f"{path}.properties[metadata]",
                                         "must not be specified in a nested context"))
