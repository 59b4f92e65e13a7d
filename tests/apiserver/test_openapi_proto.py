"""The gnostic protobuf form of `/openapi/v2`: the wire bytes of a small document field by
field (read back with a minimal wire-format reader), the `oneof` choices gnostic makes, and
kube-openapi's content negotiation."""

from __future__ import annotations

import struct
from typing import Any

import orjson
import pytest

from kybernetes.api.registry import Registry, ResourceInfo, builtin_registry
from kybernetes.apiserver import openapi
from kybernetes.apiserver.openapi_proto import MEDIA_TYPE, encode_document, negotiate

Fields = list[tuple[int, Any]]


@pytest.fixture(scope="module")
def registry() -> Registry:
    return builtin_registry()


def read(buf: bytes) -> Fields:
    """Wire-format fields in order: varints as ints, fixed64 as floats, others as bytes."""
    out: Fields = []
    pos = 0

    def varint() -> int:
        nonlocal pos
        value = shift = 0
        while True:
            byte = buf[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value

    while pos < len(buf):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            out.append((number, varint()))
        elif wire == 1:
            out.append((number, struct.unpack("<d", buf[pos:pos + 8])[0]))
            pos += 8
        else:
            assert wire == 2
            length = varint()
            out.append((number, buf[pos:pos + length]))
            pos += length
    return out


def one(fields: Fields, number: int) -> Any:
    values = [value for n, value in fields if n == number]
    assert len(values) == 1, (number, fields)
    return values[0]


def named(fields: Fields, number: int) -> dict[str, Fields]:
    """`Named*` pairs (name = 1, value = 2) of field `number`, the values read."""
    pairs = [read(value) for n, value in fields if n == number]
    return {one(p, 1).decode(): read(one(p, 2)) for p in pairs}


def test_document_schema_fields() -> None:
    doc = {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "v1.35.0"},
        "definitions": {
            "a.Thing": {
                "description": "A thing.",
                "type": "object",
                "required": ["spec"],
                "properties": {
                    "spec": {"$ref": "#/definitions/a.Spec"},
                    "count": {"type": "integer", "format": "int32", "minimum": -1,
                              "maximum": 2.5, "default": 0},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "open": {"type": "object", "additionalProperties": False},
                    "tags": {"type": "array", "items": {"type": "string"},
                             "x-kubernetes-list-type": "set"},
                    "mode": {"type": "string", "enum": ["A", "B"]},
                    "ignored": {"nullable": True},
                },
                "x-kubernetes-group-version-kind": [{"group": "", "kind": "Thing",
                                                     "version": "v1"}],
            },
        },
    }
    top = read(encode_document(doc))
    assert [number for number, _ in top] == [1, 2, 9]
    assert one(top, 1) == b"2.0"
    assert read(one(top, 2)) == [(1, b"Kubernetes"), (2, b"v1.35.0")]
    thing = named(read(one(top, 9)), 1)["a.Thing"]
    # Fields in field-number order, x- keys last as NamedAny with JSON (YAML) text.
    assert [n for n, _ in thing] == [4, 19, 22, 25, 31]
    assert one(thing, 4) == b"A thing."
    assert one(thing, 19) == b"spec"
    assert read(one(thing, 22)) == [(1, b"object")]
    extension = read(one(thing, 31))
    assert one(extension, 1) == b"x-kubernetes-group-version-kind"
    assert orjson.loads(one(read(one(extension, 2)), 2)) == [
        {"group": "", "kind": "Thing", "version": "v1"}]
    props = named(read(one(thing, 25)), 1)
    assert props["spec"] == [(1, b"#/definitions/a.Spec")]
    count = props["count"]
    assert one(count, 2) == b"int32"
    assert orjson.loads(one(read(one(count, 5)), 2)) == 0  # default: an Any, even when zero
    assert one(count, 7) == 2.5
    assert one(count, 9) == -1.0
    # additionalProperties is a oneof: a schema (1), or a boolean (2) written even if false.
    labels_ap = read(one(props["labels"], 21))
    assert read(one(labels_ap, 1)) == [(22, bytes([10, 6]) + b"string")]
    assert read(one(props["open"], 21)) == [(2, 0)]
    tags = props["tags"]
    assert read(one(read(one(tags, 23)), 1)) == [(22, bytes([10, 6]) + b"string")]
    assert one(read(one(tags, 31)), 1) == b"x-kubernetes-list-type"
    assert [orjson.loads(one(read(v), 2)) for n, v in props["mode"] if n == 20] == ["A", "B"]
    assert props["ignored"] == []  # keys gnostic does not know are left out


def test_parameters_responses_and_security() -> None:
    doc = {
        "paths": {
            "/api/v1/pods": {
                "get": {
                    "operationId": "listPods",
                    "parameters": [{"$ref": "#/parameters/limit"}],
                    "responses": {"200": {"description": "OK",
                                          "schema": {"$ref": "#/definitions/PodList"}},
                                  "401": {"description": "Unauthorized"}},
                    "x-kubernetes-action": "list",
                },
                "parameters": [
                    {"name": "pretty", "in": "query", "type": "string", "uniqueItems": True},
                    {"name": "namespace", "in": "path", "required": True, "type": "string"},
                    {"name": "body", "in": "body", "required": True,
                     "schema": {"type": "object"}},
                ],
            },
        },
        "securityDefinitions": {"BearerToken": {"type": "apiKey", "name": "authorization",
                                                "in": "header"}},
        "security": [{"BearerToken": []}],
    }
    top = read(encode_document(doc))
    paths = read(one(top, 8))
    item = named(paths, 2)["/api/v1/pods"]
    get = read(one(item, 2))
    assert one(get, 5) == b"listPods"
    parameter_ref = read(one(get, 8))
    assert read(one(parameter_ref, 2)) == [(1, b"#/parameters/limit")]  # JsonReference
    codes = named(read(one(get, 9)), 1)
    assert list(codes) == ["200", "401"]
    ok = read(one(codes["200"], 1))  # ResponseValue.response
    assert one(ok, 1) == b"OK"
    assert read(one(read(one(ok, 2)), 1)) == [(1, b"#/definitions/PodList")]  # SchemaItem
    assert one(read(one(get, 13)), 1) == b"x-kubernetes-action"
    query, path, body = (read(one(read(value), 1)) for n, value in item if n == 9)
    pretty = read(one(read(one(query, 2)), 3))  # NonBodyParameter.query_parameter_sub_schema
    assert (one(pretty, 2), one(pretty, 4), one(pretty, 6), one(pretty, 20)) == (
        b"query", b"pretty", b"string", 1)
    namespace = read(one(read(one(path, 2)), 4))  # path_parameter_sub_schema
    assert (one(namespace, 1), one(namespace, 5)) == (1, b"string")
    body_parameter = read(one(body, 1))
    assert (one(body_parameter, 2), one(body_parameter, 4)) == (b"body", 1)
    schemes = named(read(one(top, 13)), 1)
    api_key = read(one(schemes["BearerToken"], 2))
    assert (one(api_key, 1), one(api_key, 2), one(api_key, 3)) == (
        b"apiKey", b"authorization", b"header")
    requirement = named(read(one(top, 12)), 1)
    assert requirement == {"BearerToken": []}


def test_whole_v2_document_encodes(registry: Registry) -> None:
    encoded = openapi.openapi_v2_protobuf(registry)
    assert encoded is openapi.openapi_v2_protobuf(registry)
    definitions = named(read(one(read(encoded), 9)), 1)
    assert set(definitions) == set(openapi.openapi_v2(registry)["definitions"])


@pytest.mark.parametrize(("accept", "expected"), [
    ("application/com.github.proto-openapi.spec.v2@v1.0+protobuf", MEDIA_TYPE),
    ("application/com.github.proto-openapi.spec.v2.v1.0+protobuf", MEDIA_TYPE),
    ("application/json", "application/json"),
    ("", "application/json"),
    ("*/*", "application/json"),
    ("application/json;q=0.5, application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
     MEDIA_TYPE),
    ("application/com.github.proto-openapi.spec.v2@v1.0+protobuf;q=0.9, application/json",
     "application/json"),
    ("text/html", None),
    ("application/vnd.kubernetes.protobuf", None),
])
def test_negotiation(accept: str, expected: str | None) -> None:
    assert negotiate(accept) == expected


def test_v2_custom_resource_schema_is_kubectl_digestible() -> None:
    """A CRD's schema in /openapi/v2 as apiextensions' ToStructuralOpenAPIV2 makes it (v3
    keeps it whole), and a root that preserves unknown fields is a bare object."""
    spec = {"type": "object", "required": ["size", "note"], "properties": {
        "size": {"type": "string", "oneOf": [{"pattern": "^s"}], "enum": ["s", "l"]},
        "note": {"type": "string", "nullable": True},
        "blob": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                 "properties": {"a": {"type": "string"}}},
        "list": {"type": "array", "x-kubernetes-preserve-unknown-fields": True,
                 "items": {"type": "string"}},
        "tags": {"type": "array", "items": {"type": "string", "nullable": True}},
    }}
    reg = builtin_registry()
    reg.add(ResourceInfo("kyb.example.com", "v1", "Thing", "things", "thing", True,
                         openapi_schema=orjson.dumps(
                             {"type": "object", "properties": {"spec": spec}}).decode()))
    reg.add(ResourceInfo("kyb.example.com", "v1", "Open", "opens", "open", True,
                         openapi_schema='{"type": "object", '
                                        '"x-kubernetes-preserve-unknown-fields": true}'))
    definitions = openapi.openapi_v2(reg)["definitions"]
    v2 = definitions["com.example.kyb.v1.Thing"]["properties"]["spec"]
    assert v2["required"] == ["size"]
    assert v2["properties"]["size"] == {"type": "string", "enum": ["s", "l"]}
    assert v2["properties"]["note"] == {}
    assert v2["properties"]["blob"] == {"x-kubernetes-preserve-unknown-fields": True}
    # Without items an array loses its type too (kubectl insists on items for arrays).
    assert v2["properties"]["list"] == {"x-kubernetes-preserve-unknown-fields": True}
    assert v2["properties"]["tags"] == {"type": "array", "items": {}}
    assert definitions["com.example.kyb.v1.Open"] == {
        "type": "object", "x-kubernetes-group-version-kind": [
            {"group": "kyb.example.com", "kind": "Open", "version": "v1"}]}
    v3 = openapi.openapi_v3_document(reg, "kyb.example.com", "v1")
    assert v3 is not None
    kept = v3["components"]["schemas"]["com.example.kyb.v1.Thing"]["properties"]["spec"]
    assert kept["properties"]["note"]["nullable"] is True
