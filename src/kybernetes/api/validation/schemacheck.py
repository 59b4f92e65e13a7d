"""Typed structural check of a decoded object against its OpenAPI schema.

Mirrors what upstream's JSON decoder (sigs.k8s.io/json, case-sensitive and strict) reports
when a body is decoded into the Go type: unknown fields, as the paths of its strict-decoding
errors (`spec.replicass`, `spec.template.spec.containers[0].imagee`), and type errors with
its exact messages, e.g. `json: cannot unmarshal string into Go struct field
DeploymentSpec.spec.replicas of type int32`. Upstream answers type errors with 400
BadRequest (`<Kind> in version "<v>" cannot be handled as a <Kind>: <message>`) and
unknown fields with 400 under `fieldValidation=Strict` (`strict decoding error: unknown
field "spec.replicass"`) or warnings under `Warn`.

Schemas are compiled once per definition, and each object is walked once.
"""

from __future__ import annotations

import re
from typing import Any

from kybernetes.api import schema as openapi
from kybernetes.api.errors import FieldError
from kybernetes.api.quantity import Quantity, QuantityError

TYPE_ERROR = "FieldValueTypeInvalid"

# node kinds
_ANY, _STRUCT, _MAP, _ARRAY, _STRING, _BYTES, _INT, _FLOAT, _BOOL = range(9)
_QUANTITY, _INTSTR, _TIME, _MICROTIME = range(9, 13)

_QUANTITY_REF = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_INTSTR_REF = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_TIME_REF = "io.k8s.apimachinery.pkg.apis.meta.v1.Time"
_MICROTIME_REF = "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime"
_ANY_REFS = frozenset({
    "io.k8s.apimachinery.pkg.runtime.RawExtension",
    "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray",
})
_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


class _Node:
    __slots__ = ("elem", "go_type", "hi", "kind", "lo", "name", "preserve", "props", "raw")

    def __init__(self, kind: int, go_type: str) -> None:
        self.kind = kind
        self.go_type = go_type
        self.name = ""  # the Go struct name, for error context
        self.props: dict[str, Any] = {}  # name -> raw schema, compiled lazily to _Node
        self.elem: _Node | None = None
        self.preserve = False
        self.lo = 0
        self.hi = 0
        self.raw: dict[str, Any] = {}


_compiled: dict[str, _Node] = {}


def _go_name(definition: str) -> tuple[str, str]:
    """(`pkg.Type`, `Type`) for an upstream definition name."""
    parts = definition.split(".")
    return f"{parts[-2]}.{parts[-1]}", parts[-1]


def _ref_name(node: dict[str, Any]) -> str | None:
    ref = node.get("$ref")
    if ref is None and len(node.get("allOf", [])) == 1:
        ref = node["allOf"][0].get("$ref")
    return ref.removeprefix(openapi.REF_PREFIX) if isinstance(ref, str) else None


def _compile_ref(name: str) -> _Node:
    node = _compiled.get(name)
    if node is not None:
        return node
    if name == _QUANTITY_REF:
        node = _Node(_QUANTITY, "resource.Quantity")
    elif name == _INTSTR_REF:
        node = _Node(_INTSTR, "int32")
    elif name == _TIME_REF:
        node = _Node(_TIME, "string")
    elif name == _MICROTIME_REF:
        node = _Node(_MICROTIME, "string")
    elif name in _ANY_REFS:
        node = _Node(_ANY, "")
    else:
        go_type, short = _go_name(name)
        body = openapi.definitions().get(name)
        if body is None:
            node = _Node(_ANY, go_type)
        else:
            node = _compile_inline(body, go_type)
            node.name = short
    _compiled[name] = node
    return node


def _compile(raw: dict[str, Any]) -> _Node:
    name = _ref_name(raw)
    if name is not None:
        return _compile_ref(name)
    return _compile_inline(raw, "")


def _compile_inline(raw: dict[str, Any], go_type: str) -> _Node:
    typ = raw.get("type")
    fmt = raw.get("format")
    preserve = raw.get("x-kubernetes-preserve-unknown-fields") is True
    if typ == "object" or (typ is None and "properties" in raw):
        props = raw.get("properties")
        extra = raw.get("additionalProperties")
        if props:
            node = _Node(_STRUCT, go_type or "struct")
            node.props = dict(props)
            node.preserve = preserve
            return node
        if isinstance(extra, dict):
            elem = _compile(extra)
            elem_type = elem.go_type or "interface {}"
            node = _Node(_MAP, "v1.ResourceList" if elem.kind == _QUANTITY
                         else f"map[string]{elem_type}")
            node.elem = elem
            return node
        return _Node(_ANY, go_type)
    if typ == "array":
        items = raw.get("items")
        elem = _compile(items) if isinstance(items, dict) else _Node(_ANY, "")
        node = _Node(_ARRAY, f"[]{elem.go_type or 'interface {}'}")
        node.elem = elem
        return node
    if typ == "string":
        if fmt == "int-or-string":
            return _Node(_INTSTR, "int32")
        if fmt == "byte":
            return _Node(_BYTES, "[]uint8")
        return _Node(_STRING, "string")
    if typ == "integer":
        bits = fmt if fmt in _INT_RANGES else "int64"
        node = _Node(_INT, bits)
        node.lo, node.hi = _INT_RANGES[bits]
        return node
    if typ == "number":
        return _Node(_FLOAT, "float32" if fmt == "float" else "float64")
    if typ == "boolean":
        return _Node(_BOOL, "bool")
    return _Node(_ANY, go_type)


def _prop(node: _Node, name: str) -> _Node | None:
    value = node.props.get(name)
    if value is None:
        return None
    if not isinstance(value, _Node):
        value = _compile(value)
        node.props[name] = value
    return value


def _root(schema: dict[str, Any] | str) -> _Node:
    if isinstance(schema, str):
        return _compile_ref(schema.removeprefix(openapi.REF_PREFIX))
    name = _ref_name(schema)
    if name is not None:
        return _compile_ref(name)
    for def_name, body in openapi.definitions().items():
        if body is schema:
            return _compile_ref(def_name)
    return _compile_inline(schema, "")


# ---------------------------------------------------------------- value checks

def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _number_text(value: int | float) -> str:
    if isinstance(value, float):
        return repr(value).replace("e+", "e")
    return str(value)


_B64 = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def base64_error(text: str) -> str | None:
    """Go's `base64.StdEncoding.Decode` error for `text`, or None when it decodes."""
    src = text.encode()
    si = 0
    n = len(src)
    while si < n:
        j = 0
        while j < 4:
            if si == n:
                if j == 0:
                    return None
                return f"illegal base64 data at input byte {si - j}"
            ch = src[si]
            si += 1
            if ch in _B64:
                j += 1
                continue
            if ch in (0x0A, 0x0D):
                continue
            if ch != 0x3D:  # '='
                return f"illegal base64 data at input byte {si - 1}"
            if j in (0, 1):
                return f"illegal base64 data at input byte {si - 1}"
            if j == 2:
                while si < n and src[si] in (0x0A, 0x0D):
                    si += 1
                if si == n:
                    return f"illegal base64 data at input byte {n}"
                if src[si] != 0x3D:
                    return f"illegal base64 data at input byte {si - 1}"
                si += 1
            while si < n and src[si] in (0x0A, 0x0D):
                si += 1
            if si < n:
                return f"illegal base64 data at input byte {si}"
            return None
    return None


_RFC3339 = ("2006", "-", "01", "-", "02", "T", "15", ":", "04", ":", "05", "Z07:00")
_RFC3339_MICRO = ("2006", "-", "01", "-", "02", "T", "15", ":", "04", ":", "05", ".000000",
                  "Z07:00")
_DIGITS = re.compile(r"\d+")
_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


# The form servers and clients write (`2006-01-02T15:04:05Z`, MicroTime with `.000000`):
# such a value with its fields in range parses, without walking the layout.
_PLAIN_TIME = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z")
_PLAIN_MICROTIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})\.[0-9]{6}Z")


def _plain_time(value: str, micro: bool) -> bool:
    m = (_PLAIN_MICROTIME if micro else _PLAIN_TIME).fullmatch(value)
    if m is None:
        return False
    year, month, day, hour, minute, second = map(int, m.groups())
    if not (1 <= month <= 12 and 1 <= day <= _DAYS[month - 1] and hour <= 23
            and minute <= 59 and second <= 59):
        return False
    return month != 2 or day != 29 or (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0))


def time_error(value: str, micro: bool = False) -> str | None:
    """Go's `time.Parse(RFC3339[Micro], value)` error text, or None when it parses."""
    if _plain_time(value, micro):
        return None
    layout_elems = _RFC3339_MICRO if micro else _RFC3339
    layout = "".join(layout_elems)
    rest = value
    year = month = day = 0

    def bad(elem: str) -> str:
        return f'parsing time "{value}" as "{layout}": cannot parse "{rest}" as "{elem}"'

    def out_of_range(what: str) -> str:
        return f'parsing time "{value}": {what} out of range'

    for elem in layout_elems:
        if elem in ("-", ":", "T"):
            if not rest.startswith(elem):
                return bad(elem)
            rest = rest[1:]
        elif elem == "2006":
            if len(rest) < 4 or not rest[:4].isdigit() or not rest[:4].isascii():
                return bad(elem)
            year, rest = int(rest[:4]), rest[4:]
        elif elem in ("01", "02", "04", "05", "15"):
            m = _DIGITS.match(rest)
            width = len(m.group()) if m else 0
            if elem == "15":
                if width == 0:
                    return bad(elem)
                width = min(width, 2)
            elif width < 2 or not rest[:2].isascii():
                return bad(elem)
            else:
                width = 2
            num, rest = int(rest[:width]), rest[width:]
            limits = {"01": (1, 12, "month"), "02": (1, 31, "day"), "15": (0, 23, "hour"),
                      "04": (0, 59, "minute"), "05": (0, 59, "second")}[elem]
            if not limits[0] <= num <= limits[1]:
                return out_of_range(limits[2])
            if elem == "01":
                month = num
            elif elem == "02":
                day = num
            if elem == "05" and not micro and len(rest) >= 2 and rest[0] in ".," and \
                    rest[1].isdigit():
                m = _DIGITS.match(rest, 1)
                rest = rest[m.end() if m else 1:]
        elif elem == ".000000":
            if len(rest) < 7 or rest[0] not in ".," or not rest[1:7].isdigit():
                return bad(elem)
            rest = rest[7:]
        else:  # Z07:00
            if rest[:1] == "Z":
                rest = rest[1:]
            elif len(rest) >= 6 and rest[0] in "+-" and rest[3] == ":" and \
                    rest[1:3].isdigit() and rest[4:6].isdigit():
                if int(rest[1:3]) > 24 or int(rest[4:6]) > 60:
                    return out_of_range("time zone offset")
                rest = rest[6:]
            else:
                return bad(elem)
    if rest:
        return f'parsing time "{value}" as "{layout}": extra text: "{rest}"'
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if day > _DAYS[month - 1] or (month == 2 and day == 29 and not leap):
        return out_of_range("day")
    return None


# ---------------------------------------------------------------- the walk

def _fits(value: Any, node: _Node) -> bool:
    """Whether a leaf is plainly of its type (no walk needed: nothing to report); False
    means "walk it", not "wrong"."""
    kind = node.kind
    if kind == _ANY:
        return True
    if kind == _STRING:
        return type(value) is str
    if kind == _BOOL:
        return type(value) is bool
    if kind == _INT:
        return type(value) is int and node.lo <= value <= node.hi
    return False


class _Walk:
    __slots__ = ("errors", "unknown", "unknown_at")

    def __init__(self) -> None:
        self.unknown: list[str] = []
        # Where each unknown field is: its object and key (for dropping it).
        self.unknown_at: list[tuple[dict[str, Any], str]] = []
        self.errors: list[FieldError] = []

    def type_error(self, value: Any, what: str, go_type: str, struct: str,
                   fields: list[str], path: str) -> None:
        if struct or fields:
            msg = (f"json: cannot unmarshal {what} into Go struct field "
                   f"{struct}.{'.'.join(fields)} of type {go_type}")
        else:
            msg = f"json: cannot unmarshal {what} into Go value of type {go_type}"
        self.errors.append(FieldError(path, TYPE_ERROR, msg, value))

    def plain_error(self, value: Any, msg: str, path: str) -> None:
        self.errors.append(FieldError(path, TYPE_ERROR, msg, value))

    def walk(self, value: Any, node: _Node, struct: str, fields: list[str], path: str) -> None:
        if value is None:
            return
        kind = node.kind
        if kind == _ANY:
            return
        if kind == _STRUCT:
            if not isinstance(value, dict):
                self.type_error(value, _json_kind(value), node.go_type, struct, fields, path)
                return
            for key, item in value.items():
                sub = _prop(node, key)
                if sub is None:
                    if not node.preserve:
                        self.unknown.append(f"{path}.{key}" if path else key)
                        self.unknown_at.append((value, key))
                    continue
                if item is None or _fits(item, sub):
                    continue
                fields.append(key)
                self.walk(item, sub, node.name, fields, f"{path}.{key}" if path else key)
                fields.pop()
            return
        if kind == _MAP:
            if not isinstance(value, dict):
                self.type_error(value, _json_kind(value), node.go_type, struct, fields, path)
                return
            elem = node.elem
            if elem is None or elem.kind == _ANY:
                return
            for key, item in value.items():
                if not _fits(item, elem):
                    self.walk(item, elem, struct, fields, f"{path}.{key}" if path else key)
            return
        if kind == _ARRAY:
            if not isinstance(value, list):
                self.type_error(value, _json_kind(value), node.go_type, struct, fields, path)
                return
            elem = node.elem
            if elem is None or elem.kind == _ANY:
                return
            for i, item in enumerate(value):
                if not _fits(item, elem):
                    self.walk(item, elem, struct, fields, f"{path}[{i}]")
            return
        if kind == _STRING:
            if not isinstance(value, str):
                self.type_error(value, _json_kind(value), "string", struct, fields, path)
            return
        if kind == _INT:
            if isinstance(value, int) and not isinstance(value, bool):
                if not node.lo <= value <= node.hi:
                    self.type_error(value, f"number {value}", node.go_type, struct, fields, path)
            elif isinstance(value, float):
                self.type_error(value, f"number {_number_text(value)}", node.go_type, struct,
                                fields, path)
            else:
                self.type_error(value, _json_kind(value), node.go_type, struct, fields, path)
            return
        if kind == _BOOL:
            if not isinstance(value, bool):
                self.type_error(value, _json_kind(value), "bool", struct, fields, path)
            return
        if kind == _FLOAT:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self.type_error(value, _json_kind(value), node.go_type, struct, fields, path)
            return
        if kind == _QUANTITY:
            self.check_quantity(value, path)
            return
        if kind == _INTSTR:
            if isinstance(value, str):
                return
            if isinstance(value, int) and not isinstance(value, bool):
                if not -(2**31) <= value < 2**31:
                    self.type_error(value, f"number {value}", "int32", struct, fields, path)
            elif isinstance(value, float):
                self.type_error(value, f"number {_number_text(value)}", "int32", struct, fields,
                                path)
            else:
                self.type_error(value, _json_kind(value), "int32", struct, fields, path)
            return
        if kind in (_TIME, _MICROTIME):
            if not isinstance(value, str):
                self.type_error(value, _json_kind(value), "string", struct, fields, path)
                return
            msg = time_error(value, kind == _MICROTIME)
            if msg:
                self.plain_error(value, msg, path)
            return
        if kind == _BYTES:
            if isinstance(value, str):
                msg = base64_error(value)
                if msg:
                    self.plain_error(value, msg, path)
            elif not isinstance(value, list):
                self.type_error(value, _json_kind(value), "[]uint8", struct, fields, path)

    def check_quantity(self, value: Any, path: str) -> None:
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (int, float)):
            text = _number_text(value)
        elif isinstance(value, str):
            text = value
        else:
            text = "{"
        try:
            Quantity.parse(text)
        except QuantityError as e:
            self.plain_error(value, str(e), path)


def check_schema(obj: Any, schema: dict[str, Any] | str) -> tuple[list[str], list[FieldError]]:
    """(unknown field paths, type errors) for `obj` decoded into the type `schema` describes.

    `schema` is an upstream definition body from `kybernetes.api.schema.definitions()`,
    a `{"$ref": ...}` node, or a definition name. Unknown paths are in sigs.k8s.io/json's
    form (`spec.replicass`, `spec.containers[0].imagee`, map keys as `.key`). Each type error
    is a FieldError whose `detail` is the decoder's full message (upstream reports only the
    first, in document order); its `field` is the path of the offending value.
    """
    walk = _Walk()
    walk.walk(obj, _root(schema), "", [], "")
    return walk.unknown, walk.errors


def drop_unknown_fields(obj: Any, schema: dict[str, Any] | str) -> None:
    """Remove from `obj` every field `check_schema` reports unknown (fieldValidation
    Ignore and Warn), whatever characters its key holds."""
    walk = _Walk()
    walk.walk(obj, _root(schema), "", [], "")
    for container, key in walk.unknown_at:
        container.pop(key, None)


def strict_decoding_message(unknown: list[str]) -> str:
    """Upstream's `strict decoding error: unknown field "a", unknown field "b"` text."""
    return "strict decoding error: " + ", ".join(f'unknown field "{p}"' for p in unknown)


def decode_error_message(kind: str, version: str, error: FieldError) -> str:
    """Upstream's 400 message for a type error: `Deployment in version "v1" cannot be ...`."""
    return f'{kind} in version "{version}" cannot be handled as a {kind}: {error.detail}'
