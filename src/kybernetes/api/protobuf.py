"""Decoding `application/vnd.kubernetes.protobuf` request bodies into JSON-shaped dicts.

kubectl's typed clients send objects as upstream's protobuf envelope: the magic `k8s\\0`,
then a `runtime.Unknown` {typeMeta {apiVersion, kind}, raw, contentEncoding, contentType}.
`raw` is decoded with the field table in `protobuf_fields.json` (derived from kubectl's Go
struct metadata by `tools/extract_proto_fields.py`) into exactly the dict that Go's JSON
encoding of the same object gives: zero non-pointer `omitempty` fields dropped, absent
non-`omitempty` ones present as their zero value (`null` for nil slices, maps, pointers).
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import orjson

from kybernetes.api import errors, schema

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"

# Value type codes.
(STRING, BOOL, INT32, INT64, UINT32, UINT64, FLOAT64, FLOAT32, BYTES, MESSAGE, QUANTITY,
 INT_OR_STRING, TIME, MICRO_TIME, DURATION, RAW_JSON, LIST, MAP, WRAP) = range(19)
_CODES = {
    "string": STRING, "bool": BOOL, "int32": INT32, "int64": INT64, "uint32": UINT32,
    "uint64": UINT64, "float64": FLOAT64, "float32": FLOAT32, "bytes": BYTES,
    "Quantity": QUANTITY, "IntOrString": INT_OR_STRING, "Time": TIME, "MicroTime": MICRO_TIME,
    "Duration": DURATION, "RawJSON": RAW_JSON,
}
_VARINT_CODES = frozenset((BOOL, INT32, INT64, UINT32, UINT64))
_SCALAR_CODES = _VARINT_CODES | {STRING, FLOAT64, FLOAT32}
_SEQ_CODES = frozenset((BYTES, LIST, MAP, WRAP))
_SCALAR_ZERO: dict[int, Any] = {STRING: "", BOOL: False, INT32: 0, INT64: 0, UINT32: 0,
                                UINT64: 0, FLOAT64: 0.0, FLOAT32: 0.0}
# Wire types.
VARINT, I64, LEN, SGROUP, EGROUP, I32 = 0, 1, 2, 3, 4, 5

F_OMITEMPTY, F_OMITZERO, F_POINTER = 1, 2, 4
_MASK32, _MASK64 = (1 << 32) - 1, (1 << 64) - 1
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MAX_ENVELOPE_DEPTH = 16
_ABSENT: Any = object()

Spec = tuple[int, Any]  # (code, payload): message key, element spec, or (key, value) specs


@dataclass(slots=True)
class _Field:
    name: str  # "" for an inlined (embedded) struct
    number: int
    flags: int
    spec: Spec


@dataclass(slots=True)
class _Message:
    fields: list[_Field]
    by_number: dict[int, _Field]
    json_form: Callable[[dict[str, Any]], Any] | None = None


def is_protobuf(content_type: str) -> bool:
    """Whether a Content-Type names Kubernetes' protobuf encoding."""
    return content_type.split(";", 1)[0].strip().lower() == MEDIA_TYPE


def decode_kubernetes_protobuf(body: bytes) -> dict[str, Any]:
    """Decode a protobuf-encoded object into the dict its JSON encoding would give."""
    return _decode_envelope(bytes(body), 0)


def _bad(detail: str) -> errors.StatusError:
    return errors.bad_request(f"unable to decode protobuf body: {detail}")


def _decode_envelope(body: bytes, depth: int) -> dict[str, Any]:
    if not body.startswith(MAGIC):
        raise _bad("missing the k8s\\x00 prefix")
    if depth > _MAX_ENVELOPE_DEPTH:
        raise _bad("objects nested too deeply")
    try:
        return _decode_unknown(body, depth)
    except (IndexError, ValueError, OverflowError, RecursionError, struct.error) as err:
        raise _bad(str(err) or type(err).__name__) from None


def _decode_unknown(body: bytes, depth: int) -> dict[str, Any]:
    api_version = kind = encoding = ""
    raw: bytes | None = None
    pos, end = len(MAGIC), len(body)
    while pos < end:
        key, pos = _varint(body, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _bad("illegal field number 0")
        if number in (1, 2, 3, 4) and wire == LEN:
            start, pos = _length(body, pos, end)
            if number == 1:
                api_version, kind = _type_meta(body, start, pos)
            elif number == 2:
                raw = body[start:pos]
            elif number == 3:
                encoding = _text(body, start, pos)
        elif number in (1, 2, 3, 4):
            raise _bad(f"wrong wire type {wire} for field {number} of runtime.Unknown")
        else:
            pos = _skip(body, pos, end, wire)
    if not kind:
        raise _bad("Object 'Kind' is missing")
    if not api_version:
        raise _bad("Object 'apiVersion' is missing")
    if encoding:
        raise _bad(f"unsupported content encoding {encoding!r}")
    group, _, version = api_version.rpartition("/")
    name = schema.definition_for_kind(group, version, kind)
    if name is None or name not in _table():
        raise errors.unsupported_media_type(MEDIA_TYPE)
    data = raw or b""
    decoded: dict[str, Any] = _decode_message(_message(name), data, 0, len(data), depth)
    return {"kind": kind, "apiVersion": api_version, **decoded}


def _type_meta(buf: bytes, pos: int, end: int) -> tuple[str, str]:
    api_version = kind = ""
    while pos < end:
        key, pos = _varint(buf, pos, end)
        if key in (0x0A, 0x12):
            start, pos = _length(buf, pos, end)
            if key == 0x0A:
                api_version = _text(buf, start, pos)
            else:
                kind = _text(buf, start, pos)
        else:
            pos = _skip(buf, pos, end, key & 7)
    return api_version, kind


# -- wire primitives ---------------------------------------------------------------------


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    if pos >= end:
        raise _bad("unexpected end of data")
    byte = buf[pos]
    if byte < 0x80:
        return byte, pos + 1
    value = byte & 0x7F
    shift = 7
    pos += 1
    while True:
        if pos >= end:
            raise _bad("unexpected end of data")
        if shift >= 64:
            raise _bad("integer overflow")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value & _MASK64, pos
        shift += 7


def _length(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """Read a length prefix; return (start, end) of the payload."""
    size, pos = _varint(buf, pos, end)
    if size > end - pos:
        raise _bad("unexpected end of data")
    return pos, pos + size


def _skip(buf: bytes, pos: int, end: int, wire: int) -> int:
    depth = 0
    while True:
        if wire == VARINT:
            pos = _varint(buf, pos, end)[1]
        elif wire == I64:
            pos += 8
        elif wire == LEN:
            pos = _length(buf, pos, end)[1]
        elif wire == I32:
            pos += 4
        elif wire == SGROUP:
            depth += 1
        elif wire == EGROUP:
            if depth == 0:
                raise _bad("unexpected end group")
            depth -= 1
        else:
            raise _bad(f"illegal wire type {wire}")
        if pos > end:
            raise _bad("unexpected end of data")
        if depth == 0:
            return pos
        key, pos = _varint(buf, pos, end)
        wire = key & 7


def _text(buf: bytes, start: int, end: int) -> str:
    # Go's JSON encoding replaces invalid UTF-8 with U+FFFD.
    return buf[start:end].decode("utf-8", "replace")


def _signed32(value: int) -> int:
    value &= _MASK32
    return value - (1 << 32) if value >> 31 else value


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >> 63 else value


def _scalar(code: int, buf: bytes, pos: int, end: int, wire: int) -> tuple[Any, int]:
    """Decode one scalar of a non-LEN wire type."""
    if code in _VARINT_CODES:
        if wire != VARINT:
            raise _bad(f"wrong wire type {wire} for a varint field")
        value, pos = _varint(buf, pos, end)
        if code == INT32:
            return _signed32(value), pos
        if code == INT64:
            return _signed64(value), pos
        if code == BOOL:
            return value != 0, pos
        return (value & _MASK32 if code == UINT32 else value), pos
    size, fmt = (8, "<d") if code == FLOAT64 else (4, "<f")
    if wire != (I64 if code == FLOAT64 else I32):
        raise _bad(f"wrong wire type {wire} for a floating point field")
    if pos + size > end:
        raise _bad("unexpected end of data")
    number = struct.unpack_from(fmt, buf, pos)[0]
    if not math.isfinite(number):
        raise _bad("unsupported value: non-finite float")
    return number, pos + size


# -- values ------------------------------------------------------------------------------


def _value(spec: Spec, buf: bytes, start: int, end: int, depth: int) -> Any:
    """Decode a length-delimited payload buf[start:end] of this (non-scalar) type."""
    code = spec[0]
    if code == STRING:
        return _text(buf, start, end)
    if code == BYTES:
        return base64.b64encode(buf[start:end]).decode()
    if code == MESSAGE:
        return _decode_message(_message(spec[1]), buf, start, end, depth)
    if code == WRAP:
        return _wrapped(spec[1], buf, start, end, depth)
    return _special(code, buf, start, end, depth)


def _wrapped(elem: Spec, buf: bytes, pos: int, end: int, depth: int) -> list[Any]:
    """A named slice: message {repeated T items = 1}."""
    items: list[Any] = []
    while pos < end:
        key, pos = _varint(buf, pos, end)
        if key >> 3 == 1:
            pos = _append(elem, items, buf, pos, end, key & 7, depth)
        else:
            pos = _skip(buf, pos, end, key & 7)
    return items


def _append(elem: Spec, items: list[Any], buf: bytes, pos: int, end: int, wire: int,
            depth: int) -> int:
    """Decode one occurrence of a repeated field (packed or not) onto items."""
    code = elem[0]
    if code in _VARINT_CODES or code in (FLOAT64, FLOAT32):
        if wire != LEN:
            value, pos = _scalar(code, buf, pos, end, wire)
            items.append(value)
            return pos
        start, pos = _length(buf, pos, end)
        element_wire = VARINT if code in _VARINT_CODES else I64 if code == FLOAT64 else I32
        while start < pos:
            value, start = _scalar(code, buf, start, pos, element_wire)
            items.append(value)
        return pos
    if wire != LEN:
        raise _bad(f"wrong wire type {wire} for a length-delimited field")
    start, pos = _length(buf, pos, end)
    items.append(_value(elem, buf, start, pos, depth))
    return pos


def _map_entry(spec: Spec, target: dict[str, Any], buf: bytes, pos: int, end: int,
               depth: int) -> None:
    key_spec, value_spec = spec[1]
    key: Any = _ABSENT
    value: Any = _ABSENT
    while pos < end:
        tag, pos = _varint(buf, pos, end)
        number, wire = tag >> 3, tag & 7
        if number in (1, 2):
            field_spec = key_spec if number == 1 else value_spec
            if field_spec[0] in _SCALAR_CODES and field_spec[0] != STRING:
                decoded, pos = _scalar(field_spec[0], buf, pos, end, wire)
            elif wire != LEN:
                raise _bad(f"wrong wire type {wire} for a map entry")
            else:
                start, pos = _length(buf, pos, end)
                decoded = _value(field_spec, buf, start, pos, depth)
            if number == 1:
                key = decoded
            else:
                value = decoded
        else:
            pos = _skip(buf, pos, end, wire)
    if key is _ABSENT:
        key = _zero(key_spec)
    if value is _ABSENT:
        value = _zero(value_spec) if value_spec[0] != BYTES else ""
    if isinstance(key, bool):
        key = "true" if key else "false"
    target[key if isinstance(key, str) else str(key)] = value


def _special(code: int, buf: bytes, pos: int, end: int, depth: int) -> Any:
    """Types whose protobuf and JSON forms upstream writes by hand."""
    empty = pos == end
    fields: dict[int, Any] = {}
    while pos < end:
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if wire == LEN:
            start, pos = _length(buf, pos, end)
            fields[number] = (start, pos)
        elif wire == VARINT:
            fields[number], pos = _varint(buf, pos, end)
        else:
            pos = _skip(buf, pos, end, wire)
    if code == QUANTITY:  # {string = 1}
        span = fields.get(1)
        return _text(buf, *span) if isinstance(span, tuple) else "0"
    if code == INT_OR_STRING:  # {type = 1, intVal = 2, strVal = 3}
        if _int_field(fields, 1) == 1:
            span = fields.get(3)
            return _text(buf, *span) if isinstance(span, tuple) else ""
        return _signed32(_int_field(fields, 2))
    if code in (TIME, MICRO_TIME):  # Timestamp {seconds = 1, nanos = 2}; empty = zero time
        if empty:
            return None
        return _timestamp(code, _signed64(_int_field(fields, 1)),
                          _signed32(_int_field(fields, 2)))
    if code == DURATION:  # {duration = 1} nanoseconds
        return _go_duration(_signed64(_int_field(fields, 1)))
    span = fields.get(1)  # RAW_JSON: {raw = 1}
    if not isinstance(span, tuple) or span[0] == span[1]:
        return None
    raw = buf[span[0]:span[1]]
    if raw.startswith(MAGIC):
        return _decode_envelope(raw, depth + 1)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise _bad(f"embedded object is not JSON: {err}") from None


def _int_field(fields: dict[int, Any], number: int) -> int:
    value = fields.get(number, 0)
    if not isinstance(value, int):
        raise _bad(f"wrong wire type for field {number}")
    return value


def _timestamp(code: int, seconds: int, nanos: int) -> str:
    seconds += nanos // 1_000_000_000
    nanos %= 1_000_000_000
    try:
        moment = _EPOCH + dt.timedelta(seconds=seconds)
    except OverflowError:
        raise _bad("timestamp out of range") from None
    text = (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
            f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}")
    if code == MICRO_TIME:
        text += f".{nanos // 1000:06d}"
    return text + "Z"


def _go_duration(nanos: int) -> str:
    """Go's `time.Duration.String()`, e.g. `1h0m0s`, `1.5s`, `300ms`."""
    if nanos == 0:
        return "0s"
    negative, u = nanos < 0, abs(nanos)
    if u < 1_000_000_000:
        prec, unit = (0, "ns") if u < 1000 else (3, "µs") if u < 1_000_000 else (6, "ms")
        text = _fraction(u, prec) + unit
    else:
        minutes = u // 60_000_000_000
        text = _fraction(u % 60_000_000_000, 9) + "s"
        if minutes:
            text = f"{minutes % 60}m{text}"
            if minutes >= 60:
                text = f"{minutes // 60}h{text}"
    return "-" + text if negative else text


def _fraction(value: int, prec: int) -> str:
    if not prec:
        return str(value)
    whole, frac = divmod(value, 10**prec)
    digits = f"{frac:0{prec}d}".rstrip("0")
    return f"{whole}.{digits}" if digits else str(whole)


def _zero(spec: Spec) -> Any:
    """The JSON of a Go zero value of this type (as a non-pointer field)."""
    code = spec[0]
    if code in _SCALAR_ZERO:
        return _SCALAR_ZERO[code]
    if code in _SEQ_CODES:
        return None
    if code == MESSAGE:
        return _decode_message(_message(spec[1]), b"", 0, 0, 0)
    return _special(code, b"", 0, 0, 0)


# -- messages ----------------------------------------------------------------------------


def _decode_message(msg: _Message, buf: bytes, pos: int, end: int, depth: int) -> Any:
    found: dict[int, Any] = {}
    by_number = msg.by_number
    while pos < end:
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        field = by_number.get(number)
        if field is None:
            if number == 0:
                raise _bad("illegal field number 0")
            pos = _skip(buf, pos, end, wire)
            continue
        spec = field.spec
        code = spec[0]
        if code == LIST:
            items = found.get(number)
            if items is None:
                items = found[number] = []
            pos = _append(spec[1], items, buf, pos, end, wire, depth)
        elif code in _SCALAR_CODES and code != STRING:
            found[number], pos = _scalar(code, buf, pos, end, wire)
        elif wire != LEN:
            raise _bad(f"wrong wire type {wire} for field {number}")
        else:
            start, pos = _length(buf, pos, end)
            if code == MAP:
                entries = found.get(number)
                if entries is None:
                    entries = found[number] = {}
                _map_entry(spec, entries, buf, start, pos, depth)
            elif code == MESSAGE:
                # Repeated occurrences merge, as proto's Unmarshal does: decode them joined.
                segments = found.get(number)
                if segments is None:
                    found[number] = [buf[start:pos]]
                else:
                    segments.append(buf[start:pos])
            else:
                found[number] = _value(spec, buf, start, pos, depth)
    out: dict[str, Any] = {}
    for field in msg.fields:
        flags = field.flags
        spec = field.spec
        code = spec[0]
        value = found.get(field.number, _ABSENT)
        if value is _ABSENT or (code == LIST and not value):  # absent
            if flags & F_POINTER:
                if field.name and not flags & (F_OMITEMPTY | F_OMITZERO):
                    out[field.name] = None
                continue
            if code in _SEQ_CODES or code in _SCALAR_ZERO:
                if not flags & (F_OMITEMPTY | F_OMITZERO):
                    out[field.name] = _zero(spec)
                continue
            if flags & F_OMITZERO:
                continue
            value = _zero(spec)
        elif code == MESSAGE:
            data = value[0] if len(value) == 1 else b"".join(value)
            value = _decode_message(_message(spec[1]), data, 0, len(data), depth)
        if not field.name:  # an inlined embedded struct
            if isinstance(value, dict):
                out.update(value)
            continue
        if not flags & F_POINTER:
            if flags & F_OMITEMPTY and (code in _SCALAR_ZERO or code in _SEQ_CODES) \
                    and not value and value is not None:
                continue
            if flags & F_OMITZERO and _is_zero(spec, value):
                continue
        out[field.name] = value
    return msg.json_form(out) if msg.json_form else out


def _is_zero(spec: Spec, value: Any) -> bool:
    code = spec[0]
    if code in _SCALAR_ZERO:
        return not value
    if code in _SEQ_CODES:
        return value is None
    return bool(value == _zero(spec))


# -- the field table ---------------------------------------------------------------------


@functools.cache
def _table() -> dict[str, list[list[Any]]]:
    path = resources.files("kybernetes.api") / "protobuf_fields.json"
    types: dict[str, list[list[Any]]] = orjson.loads(path.read_bytes())["types"]
    return types


_MESSAGES: dict[str, _Message] = {}


def _message(name: str) -> _Message:
    msg = _MESSAGES.get(name)
    if msg is None:
        fields = [_Field(row[0], row[1], row[3], _spec(row[4])) for row in _table()[name]]
        msg = _MESSAGES[name] = _Message(
            fields, {f.number: f for f in fields if f.number},
            JSON_FORMS.get(name.rpartition(".")[2]))
    return msg


# Structs whose MarshalJSON upstream writes by hand (apiextensions' JSONSchemaProps unions),
# by Go type name; the generic decode of their fields (Go names) is rendered here.
JSON_FORMS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "JSONSchemaPropsOrArray": lambda d: d["JSONSchemas"] or d["Schema"],
    "JSONSchemaPropsOrBool": lambda d: d["Schema"] if d["Schema"] is not None else d["Allows"],
    "JSONSchemaPropsOrStringArray": lambda d: d["Property"] or d["Schema"],
}


def _spec(kind: Any) -> Spec:
    if isinstance(kind, list):
        if kind[0] == "map":
            return MAP, (_spec(kind[1]), _spec(kind[2]))
        return (LIST if kind[0] == "list" else WRAP), _spec(kind[1])
    code = _CODES.get(kind)
    return (code, None) if code is not None else (MESSAGE, kind)
