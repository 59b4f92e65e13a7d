"""An object against a custom resource's OpenAPI v3 schema.

Upstream validates with kube-openapi's schema validator and turns its results into field
errors (apiserver/validation.ValidateCustomResource and kubeOpenAPIResultToFieldErrors):
paths such as `spec.items[0].name`, details such as `spec.replicas in body must be of type
integer: "string"`; required fields are `Required value`, enums `Unsupported value`, too
long strings `Too long`, too many items or properties `Too many`. The list-type checks
(`x-kubernetes-list-type: set | map`) follow apiserver/schema/listtype. CEL rules are
`cel.py`'s; metadata at the root is ObjectMeta's own validation.
"""

from __future__ import annotations

import math
import re
from typing import Any

import orjson

from kybernetes.api.apiextensions import formats, goregex
from kybernetes.api.errors import FieldError

Schema = dict[str, Any]

_IN = "body"


def json_type(value: Any) -> str:
    """The JSON type name of a decoded value (kube-openapi's schemaInfoForType)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _type_ok(wanted: str, value: Any) -> bool:
    actual = json_type(value)
    if wanted == actual:
        return True
    if wanted == "number":
        return actual == "integer"
    return wanted == "integer" and actual == "number" and float(value).is_integer()


def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _invalid_type(path: str, type_name: str, value: Any, data: Any) -> FieldError:
    name = path or "."
    if isinstance(data, str):
        text = f"{name} in {_IN} must be of type {type_name}: {orjson.dumps(data).decode()}"
    else:
        text = f"{name} in {_IN} must be of type {type_name}"
    return FieldError(path or "<nil>", "FieldValueTypeInvalid", text, value)


def _invalid(path: str, value: Any, text: str) -> FieldError:
    return FieldError.invalid(path or "<nil>", value, text)


def _pattern(pattern: str) -> re.Pattern[str] | None:
    try:
        return goregex.compile_pattern(pattern)
    except re.error:
        return None


def _number(value: float) -> str:
    """A bound as Go's %v prints a float64."""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e21 else repr(value)


def validate(schema: Schema, value: Any, path: str = "") -> list[FieldError]:
    """Field errors of `value` under `schema` (empty when valid); `path` names `value`."""
    errs: list[FieldError] = []
    _validate(schema, value, path, errs)
    return errs


def _validate(schema: Schema, value: Any, path: str, errs: list[FieldError]) -> None:
    if value is None:
        if not schema.get("nullable") and (schema.get("type") or
                                           schema.get("x-kubernetes-int-or-string")):
            type_name = schema.get("type") or "integer,string"
            errs.append(_invalid_type(path, type_name, "null", "null"))
        return
    if schema.get("x-kubernetes-int-or-string"):
        if json_type(value) not in ("integer", "string"):
            errs.append(_invalid_type(path, "integer,string", json_type(value),
                                      json_type(value)))
            return
    elif (wanted := schema.get("type")) and not _type_ok(wanted, value):
        errs.append(_invalid_type(path, wanted, json_type(value), json_type(value)))
        return
    if "enum" in schema and not any(_equal(value, e) for e in schema["enum"] or []):
        supported = [e if isinstance(e, str) else orjson.dumps(e).decode()
                     for e in schema["enum"] or []]
        errs.append(FieldError.not_supported(path or "<nil>", value, supported))
    if isinstance(value, str):
        _validate_string(schema, value, path, errs)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        _validate_number(schema, value, path, errs)
    elif isinstance(value, list):
        _validate_array(schema, value, path, errs)
    elif isinstance(value, dict):
        _validate_object(schema, value, path, errs)
    _validate_combinators(schema, value, path, errs)


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return bool(a == b)


def _validate_string(schema: Schema, value: str, path: str, errs: list[FieldError]) -> None:
    name = path or "."
    max_length = schema.get("maxLength")
    if isinstance(max_length, int) and len(value) > max_length:
        errs.append(FieldError(path or "<nil>", "FieldValueTooLong",
                               f"may not be more than {max_length} bytes", value))
    min_length = schema.get("minLength")
    if isinstance(min_length, int) and len(value) < min_length:
        errs.append(_invalid(path, value,
                             f"{name} in {_IN} should be at least {min_length} chars long"))
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        compiled = _pattern(pattern)
        if compiled is not None and not compiled.search(value):
            errs.append(_invalid(path, value, f"{name} in {_IN} should match '{pattern}'"))
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt and not formats.valid(fmt, value):
        errs.append(_invalid_type(path, fmt, value, value))


def _validate_number(schema: Schema, value: float, path: str, errs: list[FieldError]) -> None:
    name = path or "."
    maximum = schema.get("maximum")
    if isinstance(maximum, (int, float)):
        exclusive = bool(schema.get("exclusiveMaximum"))
        if value > maximum or (exclusive and value == maximum):
            op = "less than" if exclusive else "less than or equal to"
            errs.append(_invalid(path, value, f"{name} in {_IN} should be {op} "
                                              f"{_number(maximum)}"))
    minimum = schema.get("minimum")
    if isinstance(minimum, (int, float)):
        exclusive = bool(schema.get("exclusiveMinimum"))
        if value < minimum or (exclusive and value == minimum):
            op = "greater than" if exclusive else "greater than or equal to"
            errs.append(_invalid(path, value, f"{name} in {_IN} should be {op} "
                                              f"{_number(minimum)}"))
    multiple = schema.get("multipleOf")
    if isinstance(multiple, (int, float)) and multiple > 0:
        quotient = value / multiple
        if not math.isclose(quotient, round(quotient), rel_tol=0, abs_tol=1e-9):
            errs.append(_invalid(path, value, f"{name} in {_IN} should be a multiple of "
                                              f"{_number(multiple)}"))


def _validate_array(schema: Schema, value: list[Any], path: str,
                    errs: list[FieldError]) -> None:
    name = path or "."
    items = schema.get("items")
    if isinstance(items, dict):
        for i, item in enumerate(value):
            _validate(items, item, f"{path}[{i}]", errs)
    _check_count(schema.get("minItems"), schema.get("maxItems"), len(value), "items", path,
                 errs)
    if schema.get("uniqueItems") and _has_duplicates(value):
        errs.append(_invalid(path, value, f"{name} in {_IN} shouldn't contain duplicates"))
    list_type = schema.get("x-kubernetes-list-type")
    if list_type == "set":
        _check_set(value, path, errs)
    elif list_type == "map":
        _check_map(value, list(schema.get("x-kubernetes-list-map-keys") or []), items, path,
                   errs)


def _check_count(minimum: Any, maximum: Any, count: int, what: str, path: str,
                 errs: list[FieldError]) -> None:
    """minItems/maxItems of an array, minProperties/maxProperties of an object (`what`:
    "items" or "properties"); upstream says "items" of both maxima."""
    if isinstance(minimum, int) and count < minimum:
        errs.append(_invalid(path, count,
                             f"{path or '.'} in {_IN} should have at least {minimum} {what}"))
    if isinstance(maximum, int) and count > maximum:
        errs.append(FieldError(path or "<nil>", "FieldValueTooMany",
                               f"must have at most {maximum} items", count))


def _canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _has_duplicates(value: list[Any]) -> bool:
    seen = {_canonical(v) for v in value}
    return len(seen) != len(value)


def _check_set(value: list[Any], path: str, errs: list[FieldError]) -> None:
    """apiserver/schema/listtype: a set holds each item once."""
    seen: set[bytes] = set()
    for i, item in enumerate(value):
        key = _canonical(item)
        if key in seen:
            errs.append(FieldError.duplicate(f"{path}[{i}]", item))
        seen.add(key)


def _check_map(value: list[Any], keys: list[str], items: Any, path: str,
               errs: list[FieldError]) -> None:
    """apiserver/schema/listtype: a map list holds each combination of its keys once (a
    key's default counts where the item leaves it out)."""
    defaults = {k: ((items or {}).get("properties") or {}).get(k, {}).get("default")
                for k in keys} if isinstance(items, dict) else {}
    seen: set[bytes] = set()
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            continue
        key_values = {k: item.get(k, defaults.get(k)) for k in keys
                      if k in item or defaults.get(k) is not None}
        key = _canonical(key_values)
        if key in seen:
            errs.append(FieldError.duplicate(f"{path}[{i}]", key_values))
        seen.add(key)


def _validate_object(schema: Schema, value: dict[str, Any], path: str,
                     errs: list[FieldError]) -> None:
    properties: dict[str, Schema] = schema.get("properties") or {}
    for required in schema.get("required") or []:
        if required not in value:
            errs.append(FieldError.required(_child(path, required)))
    _check_count(schema.get("minProperties"), schema.get("maxProperties"), len(value),
                 "properties", path, errs)
    if schema.get("x-kubernetes-embedded-resource"):
        _validate_embedded(value, path, errs)
    additional = schema.get("additionalProperties")
    for key, child in value.items():
        child_schema = properties.get(key)
        if child_schema is not None:
            if not path and key == "metadata":
                _validate_root_metadata(child_schema, child, errs)
            else:
                _validate(child_schema, child, _child(path, key), errs)
        elif isinstance(additional, dict):
            _validate(additional, child, _child(path, key), errs)


def _validate_root_metadata(schema: Schema, meta: Any, errs: list[FieldError]) -> None:
    """ObjectMeta is validated as such; the schema may only restrict name and
    generateName (structural.py), which are checked here."""
    if not isinstance(meta, dict):
        return
    for name, sub in (schema.get("properties") or {}).items():
        if name in ("name", "generateName") and name in meta and isinstance(sub, dict):
            _validate(sub, meta[name], f"metadata.{name}", errs)


def _validate_embedded(value: dict[str, Any], path: str, errs: list[FieldError]) -> None:
    """An embedded resource names its apiVersion and kind (upstream's
    validateEmbeddedResource); its metadata is optional."""
    for name in ("apiVersion", "kind"):
        if name not in value:
            errs.append(FieldError.required(_child(path, name), "must not be empty"))
        elif not isinstance(value[name], str):
            errs.append(FieldError.invalid(_child(path, name), value[name], "must be a string"))
        elif not value[name]:
            errs.append(FieldError.invalid(_child(path, name), "", "must not be empty"))


def _validate_combinators(schema: Schema, value: Any, path: str,
                          errs: list[FieldError]) -> None:
    name = path or "."
    for sub in schema.get("allOf") or []:
        _validate(sub, value, path, errs)
    any_of = schema.get("anyOf")
    if any_of and not any(not validate(sub, value, path) for sub in any_of):
        errs.append(_invalid(path, value, f"{name} in {_IN} must validate at least one "
                                          "schema (anyOf)"))
    one_of = schema.get("oneOf")
    if one_of and sum(1 for sub in one_of if not validate(sub, value, path)) != 1:
        errs.append(_invalid(path, value, f"{name} in {_IN} must validate one and only one "
                                          "schema (oneOf)"))
    negated = schema.get("not")
    if isinstance(negated, dict) and not validate(negated, value, path):
        errs.append(_invalid(path, value, f"{name} in {_IN} must not validate the schema "
                                          "(not)"))
