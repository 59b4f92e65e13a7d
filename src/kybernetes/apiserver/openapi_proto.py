"""The protobuf form of `/openapi/v2`: gnostic's `openapi.v2.Document`, and who gets it.

kubectl (and client-go's discovery) ask `/openapi/v2` only for
`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`; without it client-side
validation (`kubectl apply -f` of a `kind: List`, or `--validate=strict` against a server
without field validation) fails. Upstream's handler (kube-openapi `pkg/handler`) parses the
JSON document with gnostic (`openapi_v2.ParseDocument`) and marshals the result; this
module does the same conversion from the JSON-shaped document, field by field after
gnostic-models' `openapiv2/OpenAPIv2.proto`: maps become ordered `Named*` pairs in the
document's key order, `x-` keys become `vendor_extension` entries, the `oneof` messages
(parameters, additionalProperties, security definitions, `$ref` or object) are chosen as
gnostic chooses them, and every free-form value (`default`, `enum`, `example`, extension
values) is an `Any` whose `yaml` is the value's JSON text (JSON is YAML; Go's YAML decoders
read it as gnostic's block YAML). Keys gnostic does not know are left out. Fields are
written in field-number order with proto3 defaults omitted, as Go's `proto.Marshal` does.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import orjson

# What upstream answers with (the `@` form is accepted in requests, never returned).
MEDIA_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
_ACCEPTED = {
    ("application", "json"): "application/json",
    ("application", "com.github.proto-openapi.spec.v2@v1.0+protobuf"): MEDIA_TYPE,
    ("application", "com.github.proto-openapi.spec.v2.v1.0+protobuf"): MEDIA_TYPE,
}


def negotiate(accept: str) -> str | None:
    """The media type to answer `/openapi/v2` with, or None (406), as kube-openapi's
    handler picks it: the first accepted type in the client's q-ordered clauses."""
    clauses: list[tuple[float, int, str, str]] = []
    for position, clause in enumerate((accept or "*/*").split(",")):
        media, *params = (part.strip() for part in clause.split(";"))
        kind, _, sub = media.partition("/")
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if kind and quality > 0:
            clauses.append((-quality, position, kind, sub))
    for _, _, kind, sub in sorted(clauses):
        for (want_kind, want_sub), answer in _ACCEPTED.items():
            if kind in (want_kind, "*") and sub in (want_sub, "*"):
                return answer
    return None


# --- wire format -----------------------------------------------------------------------

FieldEncoder = Callable[[int, Any], bytes]


def _uvarint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _tag(number: int, wire: int) -> bytes:
    return _uvarint(number << 3 | wire)


def _delimited(number: int, payload: bytes) -> bytes:
    return _tag(number, 2) + _uvarint(len(payload)) + payload


def _string(number: int, value: Any) -> bytes:
    return _delimited(number, str(value).encode()) if value else b""


def _bool(number: int, value: Any) -> bytes:
    return _tag(number, 0) + b"\x01" if value is True else b""


def _double(number: int, value: Any) -> bytes:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and value
    return _tag(number, 1) + struct.pack("<d", float(value)) if ok else b""


def _int64(number: int, value: Any) -> bytes:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and value
    return _tag(number, 0) + _uvarint(int(value) & 0xFFFF_FFFF_FFFF_FFFF) if ok else b""


def _strings(number: int, value: Any) -> bytes:
    items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return b"".join(_delimited(number, str(item).encode()) for item in items)


def _any(number: int, value: Any) -> bytes:
    """gnostic's `Any`: the value as YAML text in field 2."""
    return _delimited(number, _delimited(2, orjson.dumps(value)))


def _anys(number: int, value: Any) -> bytes:
    return b"".join(_any(number, item) for item in value) if isinstance(value, list) else b""


class _Message:
    """One message of OpenAPIv2.proto: JSON key -> (field number, encoder), and the number
    of its `repeated NamedAny vendor_extension` field (where `x-` keys go), if any."""

    def __init__(self, fields: dict[str, tuple[int, FieldEncoder]],
                 extensions: int | None = None) -> None:
        self.fields = fields
        self.extensions = extensions

    def payload(self, value: Any) -> bytes:
        if not isinstance(value, dict):
            return b""
        parts: list[tuple[int, bytes]] = []
        for key, item in value.items():
            field = self.fields.get(key)
            if field is not None:
                parts.append((field[0], field[1](field[0], item)))
            elif self.extensions is not None and key.startswith("x-"):
                parts.append((self.extensions,
                              _delimited(self.extensions, _string(1, key) + _any(2, item))))
        parts.sort(key=lambda part: part[0])
        return b"".join(encoded for _, encoded in parts)

    def __call__(self, number: int, value: Any) -> bytes:
        return _delimited(number, self.payload(value))


def _repeated(encoder: FieldEncoder) -> FieldEncoder:
    def encode(number: int, value: Any) -> bytes:
        items = value if isinstance(value, list) else []
        return b"".join(encoder(number, item) for item in items)
    return encode


def _named(encoder: FieldEncoder) -> FieldEncoder:
    """A JSON object as gnostic's ordered `Named*` pairs {name = 1, value = 2}."""
    def encode(number: int, value: Any) -> bytes:
        items = value.items() if isinstance(value, dict) else ()
        return b"".join(_delimited(number, _string(1, key) + encoder(2, item))
                        for key, item in items)
    return encode


def _wrapped(encoder: FieldEncoder) -> FieldEncoder:
    """A message whose only field (1) is `encoder`'s (Definitions, Properties, ...)."""
    def encode(number: int, value: Any) -> bytes:
        return _delimited(number, encoder(1, value))
    return encode


def _oneof(choose: Callable[[Any], tuple[int, FieldEncoder]]) -> FieldEncoder:
    def encode(number: int, value: Any) -> bytes:
        inner, encoder = choose(value)
        return _delimited(number, encoder(inner, value))
    return encode


# --- the messages ----------------------------------------------------------------------

_EXTERNAL_DOCS = _Message({"description": (1, _string), "url": (2, _string)}, 3)
_JSON_REFERENCE = _Message({"$ref": (1, _string), "description": (2, _string)})
_XML = _Message({"name": (1, _string), "namespace": (2, _string), "prefix": (3, _string),
                 "attribute": (4, _bool), "wrapped": (5, _bool)}, 6)
_NAMED_ANYS = _wrapped(_named(_any))

_SCHEMA = _Message({}, 31)


def _additional_properties(number: int, value: Any) -> bytes:
    if isinstance(value, bool):
        return _delimited(number, _tag(2, 0) + (b"\x01" if value else b"\x00"))
    return _delimited(number, _SCHEMA(1, value))


def _items(number: int, value: Any) -> bytes:
    schemas = value if isinstance(value, list) else [value]
    return _delimited(number, b"".join(_SCHEMA(1, schema) for schema in schemas))


_SCHEMA.fields.update({
    "$ref": (1, _string), "format": (2, _string), "title": (3, _string),
    "description": (4, _string), "default": (5, _any), "multipleOf": (6, _double),
    "maximum": (7, _double), "exclusiveMaximum": (8, _bool), "minimum": (9, _double),
    "exclusiveMinimum": (10, _bool), "maxLength": (11, _int64), "minLength": (12, _int64),
    "pattern": (13, _string), "maxItems": (14, _int64), "minItems": (15, _int64),
    "uniqueItems": (16, _bool), "maxProperties": (17, _int64), "minProperties": (18, _int64),
    "required": (19, _strings), "enum": (20, _anys),
    "additionalProperties": (21, _additional_properties), "type": (22, _wrapped(_strings)),
    "items": (23, _items), "allOf": (24, _repeated(_SCHEMA)),
    "properties": (25, _wrapped(_named(_SCHEMA))), "discriminator": (26, _string),
    "readOnly": (27, _bool), "xml": (28, _XML), "externalDocs": (29, _EXTERNAL_DOCS),
    "example": (30, _any),
})


def _primitive_fields(first: int) -> dict[str, tuple[int, FieldEncoder]]:
    """The validation keywords shared by items, headers and non-body parameters, numbered
    from `first` (the `type` field) on as in every such message of the proto."""
    names = ("type", "format", "items", "collectionFormat", "default", "maximum",
             "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength", "minLength",
             "pattern", "maxItems", "minItems", "uniqueItems", "enum", "multipleOf")
    encoders: tuple[FieldEncoder, ...] = (
        _string, _string, _PRIMITIVES_ITEMS, _string, _any, _double, _bool, _double, _bool,
        _int64, _int64, _string, _int64, _int64, _bool, _anys, _double)
    return {name: (first + i, encoder) for i, (name, encoder) in enumerate(zip(names, encoders,
                                                                                strict=True))}


_PRIMITIVES_ITEMS = _Message({}, 18)
_PRIMITIVES_ITEMS.fields.update(_primitive_fields(1))
_HEADER = _Message({**_primitive_fields(1), "description": (18, _string)}, 19)

_PARAMETER_HEAD: dict[str, tuple[int, FieldEncoder]] = {
    "required": (1, _bool), "in": (2, _string), "description": (3, _string),
    "name": (4, _string)}
# header and path parameters have no allowEmptyValue; formData and query ones do (5).
_HEADER_OR_PATH = _Message({**_PARAMETER_HEAD, **_primitive_fields(5)}, 22)
_QUERY_OR_FORM = _Message({**_PARAMETER_HEAD, "allowEmptyValue": (5, _bool),
                           **_primitive_fields(6)}, 23)
_NON_BODY_IN = {"header": (1, _HEADER_OR_PATH), "formData": (2, _QUERY_OR_FORM),
                "query": (3, _QUERY_OR_FORM), "path": (4, _HEADER_OR_PATH)}
_BODY_PARAMETER = _Message({"description": (1, _string), "name": (2, _string),
                            "in": (3, _string), "required": (4, _bool),
                            "schema": (5, _SCHEMA)}, 6)


def _non_body(number: int, value: Any) -> bytes:
    inner, message = _NON_BODY_IN.get(value.get("in"), (3, _QUERY_OR_FORM))
    return _delimited(number, message(inner, value))


_PARAMETER = _oneof(lambda value: (1, _BODY_PARAMETER) if value.get("in") == "body"
                    else (2, _non_body))
_PARAMETERS_ITEM = _oneof(lambda value: (2, _JSON_REFERENCE) if "$ref" in value
                          else (1, _PARAMETER))

_FILE_SCHEMA = _Message({"format": (1, _string), "title": (2, _string),
                         "description": (3, _string), "default": (4, _any),
                         "required": (5, _strings), "type": (6, _string),
                         "readOnly": (7, _bool), "externalDocs": (8, _EXTERNAL_DOCS),
                         "example": (9, _any)}, 10)
_SCHEMA_ITEM = _oneof(lambda value: (2, _FILE_SCHEMA) if value.get("type") == "file"
                      else (1, _SCHEMA))
_RESPONSE = _Message({"description": (1, _string), "schema": (2, _SCHEMA_ITEM),
                      "headers": (3, _wrapped(_named(_HEADER))), "examples": (4, _NAMED_ANYS)},
                     5)
_RESPONSE_VALUE = _oneof(lambda value: (2, _JSON_REFERENCE) if "$ref" in value
                         else (1, _RESPONSE))
_RESPONSES = _Message({}, 2)


def _response_codes(number: int, value: Any) -> bytes:
    """`responses`: status codes (and `default`) are NamedResponseValue (1), `x-` keys
    vendor extensions (2)."""
    codes = {key: item for key, item in value.items() if not key.startswith("x-")}
    extensions = {key: item for key, item in value.items() if key.startswith("x-")}
    return _delimited(number, _named(_RESPONSE_VALUE)(1, codes)
                      + _RESPONSES.payload(extensions))


_SECURITY_REQUIREMENT = _wrapped(_named(_wrapped(_strings)))
_OPERATION = _Message({
    "tags": (1, _strings), "summary": (2, _string), "description": (3, _string),
    "externalDocs": (4, _EXTERNAL_DOCS), "operationId": (5, _string),
    "produces": (6, _strings), "consumes": (7, _strings),
    "parameters": (8, _repeated(_PARAMETERS_ITEM)), "responses": (9, _response_codes),
    "schemes": (10, _strings), "deprecated": (11, _bool),
    "security": (12, _repeated(_SECURITY_REQUIREMENT))}, 13)
_PATH_ITEM = _Message({
    "$ref": (1, _string), "get": (2, _OPERATION), "put": (3, _OPERATION),
    "post": (4, _OPERATION), "delete": (5, _OPERATION), "options": (6, _OPERATION),
    "head": (7, _OPERATION), "patch": (8, _OPERATION),
    "parameters": (9, _repeated(_PARAMETERS_ITEM))}, 10)
_PATHS = _Message({}, 1)


def _paths(number: int, value: Any) -> bytes:
    """`paths`: `/...` keys are NamedPathItem (2), `x-` keys vendor extensions (1)."""
    paths = {key: item for key, item in value.items() if key.startswith("/")}
    extensions = {key: item for key, item in value.items() if key.startswith("x-")}
    return _delimited(number, _PATHS.payload(extensions) + _named(_PATH_ITEM)(2, paths))


_SCOPES = _wrapped(_named(_string))
_BASIC_SECURITY = _Message({"type": (1, _string), "description": (2, _string)}, 3)
_API_KEY_SECURITY = _Message({"type": (1, _string), "name": (2, _string), "in": (3, _string),
                              "description": (4, _string)}, 5)
_OAUTH2_HEAD: dict[str, tuple[int, FieldEncoder]] = {
    "type": (1, _string), "flow": (2, _string), "scopes": (3, _SCOPES)}
_OAUTH2_IMPLICIT = _Message({**_OAUTH2_HEAD, "authorizationUrl": (4, _string),
                             "description": (5, _string)}, 6)
_OAUTH2_TOKEN = _Message({**_OAUTH2_HEAD, "tokenUrl": (4, _string),
                          "description": (5, _string)}, 6)
_OAUTH2_ACCESS_CODE = _Message({**_OAUTH2_HEAD, "authorizationUrl": (4, _string),
                                "tokenUrl": (5, _string), "description": (6, _string)}, 7)
_OAUTH2_FLOWS: dict[Any, tuple[int, FieldEncoder]] = {
    "implicit": (3, _OAUTH2_IMPLICIT), "password": (4, _OAUTH2_TOKEN),
    "application": (5, _OAUTH2_TOKEN), "accessCode": (6, _OAUTH2_ACCESS_CODE)}


def _security_scheme(value: Any) -> tuple[int, FieldEncoder]:
    if value.get("type") == "basic":
        return 1, _BASIC_SECURITY
    if value.get("type") == "oauth2":
        return _OAUTH2_FLOWS.get(value.get("flow"), (3, _OAUTH2_IMPLICIT))
    return 2, _API_KEY_SECURITY


_CONTACT = _Message({"name": (1, _string), "url": (2, _string), "email": (3, _string)}, 4)
_LICENSE = _Message({"name": (1, _string), "url": (2, _string)}, 3)
_INFO = _Message({"title": (1, _string), "version": (2, _string), "description": (3, _string),
                  "termsOfService": (4, _string), "contact": (5, _CONTACT),
                  "license": (6, _LICENSE)}, 7)
_TAG = _Message({"name": (1, _string), "description": (2, _string),
                 "externalDocs": (3, _EXTERNAL_DOCS)}, 4)
_DOCUMENT = _Message({
    "swagger": (1, _string), "info": (2, _INFO), "host": (3, _string),
    "basePath": (4, _string), "schemes": (5, _strings), "consumes": (6, _strings),
    "produces": (7, _strings), "paths": (8, _paths),
    "definitions": (9, _wrapped(_named(_SCHEMA))),
    "parameters": (10, _wrapped(_named(_PARAMETER))),
    "responses": (11, _wrapped(_named(_RESPONSE))),
    "security": (12, _repeated(_SECURITY_REQUIREMENT)),
    "securityDefinitions": (13, _wrapped(_named(_oneof(_security_scheme)))),
    "tags": (14, _repeated(_TAG)), "externalDocs": (15, _EXTERNAL_DOCS)}, 16)


def encode_document(document: dict[str, Any]) -> bytes:
    """A swagger 2.0 document (JSON-shaped) as the bytes of gnostic's `openapi.v2.Document`."""
    return _DOCUMENT.payload(document)
