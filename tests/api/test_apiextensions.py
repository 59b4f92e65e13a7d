"""The CRD schema machinery: structural checks, validation, pruning, defaulting, CEL
rules, the CRD object's own validation and printer columns, with upstream's messages."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from kybernetes.api.apiextensions import (
    cel,
    columns,
    crdvalidation,
    defaulting,
    goregex,
    pruning,
    schemavalidation,
)
from kybernetes.api.apiextensions.structural import validate_structural
from kybernetes.api.printers import Context

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["image"],
            "x-kubernetes-validations": [
                {"rule": "self.replicas <= self.maxReplicas",
                 "message": "replicas must not exceed maxReplicas"},
            ],
            "properties": {
                "image": {"type": "string", "minLength": 1, "pattern": "^[a-z/:.0-9-]+$"},
                "replicas": {"type": "integer", "minimum": 0, "default": 1},
                "maxReplicas": {"type": "integer", "maximum": 10, "default": 5},
                "mode": {"type": "string", "enum": ["fast", "safe"]},
                "port": {"x-kubernetes-int-or-string": True},
                "uid": {"type": "string", "format": "uuid"},
                "note": {"type": "string", "nullable": True, "maxLength": 3},
                "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2,
                         "x-kubernetes-list-type": "set"},
                "ports": {"type": "array", "x-kubernetes-list-type": "map",
                          "x-kubernetes-list-map-keys": ["name"],
                          "items": {"type": "object", "required": ["name"],
                                    "properties": {"name": {"type": "string"},
                                                   "port": {"type": "integer"}}}},
                "labels": {"type": "object",
                           "additionalProperties": {"type": "string"}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "name": {"type": "string",
                         "x-kubernetes-validations": [
                             {"rule": "self == oldSelf", "message": "name is immutable"}]},
            },
        },
        "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
    },
}


def _messages(errs: list[Any]) -> list[str]:
    return [e.message() for e in errs]


def _cr(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w", "namespace": "default"}, "spec": spec}


# --- schema validation ---------------------------------------------------------------------

def test_valid_object_has_no_errors() -> None:
    obj = _cr(image="nginx:1", replicas=2, maxReplicas=3, mode="fast", port="http",
              uid="0b5f6c2e-8a40-4c5c-9a57-4a0f8d3f1a10", note=None, tags=["a", "b"],
              ports=[{"name": "a", "port": 1}], labels={"x": "y"}, free={"any": [1]})
    assert schemavalidation.validate(SCHEMA, obj) == []


def test_type_errors_read_as_upstream() -> None:
    errs = schemavalidation.validate(SCHEMA, _cr(image="x", replicas="two", note=5))
    assert _messages(errs) == [
        'spec.replicas: Invalid value: "string": spec.replicas in body must be of type '
        'integer: "string"',
        'spec.note: Invalid value: "integer": spec.note in body must be of type string: '
        '"integer"',
    ]


def test_required_enum_bounds_format_and_null() -> None:
    errs = schemavalidation.validate(SCHEMA, _cr(
        replicas=-1, maxReplicas=11, mode="slow", uid="nope", port=1.5, tags=["a", "a", "b"],
        note="long", labels={"a": None}))
    assert _messages(errs) == [
        "spec.image: Required value",
        "spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or "
        "equal to 0",
        "spec.maxReplicas: Invalid value: 11: spec.maxReplicas in body should be less than or "
        "equal to 10",
        'spec.mode: Unsupported value: "slow": supported values: "fast", "safe"',
        'spec.uid: Invalid value: "nope": spec.uid in body must be of type uuid: "nope"',
        'spec.port: Invalid value: "number": spec.port in body must be of type '
        'integer,string: "number"',
        "spec.tags: Too many: 3: must have at most 2 items",
        'spec.tags[1]: Duplicate value: "a"',
        "spec.note: Too long: may not be more than 3 bytes",
        'spec.labels.a: Invalid value: "null": spec.labels.a in body must be of type string: '
        '"null"',
    ]


def test_pattern_min_length_and_map_list_keys() -> None:
    errs = schemavalidation.validate(SCHEMA, _cr(image="", ports=[{"name": "a"},
                                                                  {"name": "a", "port": 2}]))
    assert _messages(errs) == [
        'spec.image: Invalid value: "": spec.image in body should be at least 1 chars long',
        "spec.image: Invalid value: \"\": spec.image in body should match "
        "'^[a-z/:.0-9-]+$'",
        'spec.ports[1]: Duplicate value: {"name":"a"}',
    ]


def test_root_metadata_name_may_be_restricted() -> None:
    schema = {"type": "object", "properties": {"metadata": {"type": "object", "properties": {
        "name": {"type": "string", "maxLength": 5}}}}}
    assert schemavalidation.validate(schema, {"metadata": {"name": "short"}}) == []
    assert _messages(schemavalidation.validate(schema, {"metadata": {"name": "too-long"}})) \
        == ["metadata.name: Too long: may not be more than 5 bytes"]


def test_embedded_resources_name_their_type() -> None:
    schema = {"type": "object", "properties": {"template": {
        "type": "object", "x-kubernetes-embedded-resource": True,
        "x-kubernetes-preserve-unknown-fields": True}}}
    assert schemavalidation.validate(schema, {"template": {"apiVersion": "v1",
                                                           "kind": "Pod"}}) == []
    assert _messages(schemavalidation.validate(schema, {"template": {"kind": ""}})) == [
        "template.apiVersion: Required value: must not be empty",
        'template.kind: Invalid value: "": must not be empty']


def test_go_patterns_are_translated() -> None:
    assert goregex.translate("a(?i)b|c") == "a(?i:b)|(?i:c)"
    assert goregex.translate("^((?i)sun|mon)day$") == "^((?i:sun)|(?i:mon))day$"
    assert goregex.translate("^(?i)(abort|warn)?$") == "^(?i:(abort|warn)?$)"
    assert goregex.translate(r"[[:alpha:]_]+\z") == r"[A-Za-z_]+\Z"
    assert goregex.compile_pattern("^((?i)sun|mon)day$").match("SUNday")
    assert not goregex.compile_pattern("^((?i)sun|mon)day$").match("sunDAY")
    schema = {"type": "string", "pattern": "^(?i)(abort|warn)?$"}
    assert schemavalidation.validate(schema, "WARN") == []
    assert validate_structural({"type": "object", "properties": {"a": schema}}, "s") == []


# --- pruning and defaulting -----------------------------------------------------------------

def test_pruning_drops_unknown_fields_but_keeps_preserved_ones() -> None:
    obj = _cr(image="x", unknown=1, free={"kept": {"deep": True}}, labels={"a": "b"})
    obj["extra"] = "gone"
    obj["metadata"]["labels"] = {"keep": "me"}
    dropped = pruning.prune(SCHEMA, obj)
    assert sorted(dropped) == ["extra", "spec.unknown"]
    assert obj["spec"] == {"image": "x", "free": {"kept": {"deep": True}},
                           "labels": {"a": "b"}}
    assert obj["metadata"]["labels"] == {"keep": "me"}


def test_pruning_of_embedded_resources_keeps_their_type_meta() -> None:
    schema = {"type": "object", "properties": {"template": {
        "type": "object", "x-kubernetes-embedded-resource": True,
        "properties": {"spec": {"type": "object"}}}}}
    obj = {"apiVersion": "v1", "kind": "K", "metadata": {},
           "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                        "spec": {}, "junk": 1}}
    assert pruning.prune(schema, obj) == ["template.junk"]
    assert obj["template"] == {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                               "spec": {}}


def test_defaulting_fills_missing_and_null_fields() -> None:
    obj = _cr(image="x", maxReplicas=None, ports=[{"name": "a"}])
    assert defaulting.has_defaults(SCHEMA)
    defaulting.default(SCHEMA, obj)
    assert obj["spec"]["replicas"] == 1
    assert obj["spec"]["maxReplicas"] == 5
    schema = {"type": "object", "properties": {"items": {"type": "array", "items": {
        "type": "object", "properties": {"weight": {"type": "integer", "default": 7}}}}}}
    value: dict[str, Any] = {"items": [{}, {"weight": 1}]}
    defaulting.default(schema, value)
    assert value == {"items": [{"weight": 7}, {"weight": 1}]}


# --- CEL ------------------------------------------------------------------------------------

def test_cel_rule_failure_uses_the_rule_message() -> None:
    tree = cel.compile_schema(SCHEMA)
    assert cel.validate(tree, _cr(image="x", replicas=2, maxReplicas=3)) == []
    errs = cel.validate(tree, _cr(image="x", replicas=4, maxReplicas=3))
    assert _messages(errs) == [
        'spec: Invalid value: "object": replicas must not exceed maxReplicas']


def test_cel_transition_rules_see_old_self_only_on_update() -> None:
    tree = cel.compile_schema(SCHEMA)
    new = _cr(image="x", replicas=1, maxReplicas=1, name="b")
    assert cel.validate(tree, new) == []
    old = _cr(image="x", replicas=1, maxReplicas=1, name="a")
    assert _messages(cel.validate(tree, new, old)) == [
        'spec.name: Invalid value: "string": name is immutable']
    assert cel.validate(tree, new, copy.deepcopy(new)) == []


def test_cel_message_expression_reason_field_path_and_default_message() -> None:
    schema = {"type": "object", "properties": {"spec": {
        "type": "object",
        "properties": {"size": {"type": "integer"}, "name": {"type": "string"},
                       "items": {"type": "array", "items": {"type": "string"}}},
        "x-kubernetes-validations": [
            {"rule": "self.size < 3", "messageExpression": "'size ' + string(self.size) + "
                                                            "' is too big'"},
            {"rule": "self.name.startsWith('a')", "reason": "FieldValueForbidden",
             "fieldPath": ".name", "message": "must start with a"},
            {"rule": "self.items.all(i, i.lowerAscii() == i)"},
            {"rule": "self.missing > 0"},
        ]}}}
    tree = cel.compile_schema(schema)
    errs = cel.validate(tree, {"spec": {"size": 5, "name": "b", "items": ["A"]}})
    assert _messages(errs) == [
        'spec: Invalid value: "object": size 5 is too big',
        "spec.name: Forbidden: must start with a",
        "spec: Invalid value: \"object\": failed rule: self.items.all(i, i.lowerAscii() == i)",
        'spec: Invalid value: "object": no such key: missing evaluating rule: '
        "self.missing > 0",
    ]


def test_cel_rules_at_the_root_see_name_but_not_other_metadata() -> None:
    schema = {"type": "object", "x-kubernetes-validations": [
        {"rule": "self.metadata.name.startsWith('ok') && !has(self.metadata.labels)",
         "message": "bad name"}]}
    tree = cel.compile_schema(schema)
    obj = {"metadata": {"name": "ok-1", "labels": {"a": "b"}}}
    assert cel.validate(tree, obj) == []
    assert _messages(cel.validate(tree, {"metadata": {"name": "no"}})) == [
        '<nil>: Invalid value: "object": bad name']


def test_cel_map_lists_correlate_by_key() -> None:
    schema = {"type": "object", "properties": {"ports": {
        "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
        "items": {"type": "object", "properties": {"name": {"type": "string"},
                                                   "port": {"type": "integer"}},
                  "x-kubernetes-validations": [{"rule": "self.port >= oldSelf.port",
                                                "message": "port may only grow"}]}}}}
    tree = cel.compile_schema(schema)
    old = {"ports": [{"name": "a", "port": 5}, {"name": "b", "port": 5}]}
    new = {"ports": [{"name": "b", "port": 6}, {"name": "a", "port": 4}, {"name": "c", "port": 1}]}
    assert _messages(cel.validate(tree, new, old)) == [
        'ports[1]: Invalid value: "object": port may only grow']


def test_schemas_without_rules_compile_to_nothing() -> None:
    assert cel.compile_schema({"type": "object", "properties": {"a": {"type": "string"}}}) \
        is None


# --- structural schemas ---------------------------------------------------------------------

def test_structural_messages() -> None:
    schema = {"type": "object", "properties": {
        "a": {"type": "array"},
        "b": {"type": "array", "items": {}},
        "c": {"description": "no type"},
        "metadata": {"type": "object", "properties": {"labels": {"type": "object"}}},
        "d": {"type": "string", "anyOf": [{"type": "string"}, {"type": "integer"}]},
        "e": {"x-kubernetes-int-or-string": True,
              "anyOf": [{"type": "integer"}, {"type": "string"}]},
    }}
    p = "spec.versions[0].schema.openAPIV3Schema"
    assert _messages(validate_structural(schema, p)) == sorted([
        f"{p}.properties[a].items: Required value: must be specified",
        f"{p}.properties[b].items.type: Required value: must not be empty for specified array "
        "items",
        f"{p}.properties[c].type: Required value: must not be empty for specified object "
        "fields",
        f"{p}.properties[metadata]: Forbidden: must not specify anything other than name and "
        "generateName, but metadata is implicitly specified",
        f"{p}.properties[d].anyOf[0].type: Forbidden: must be empty to be structural",
        f"{p}.properties[d].anyOf[1].type: Forbidden: must be empty to be structural",
    ])
    assert validate_structural(SCHEMA, p) == []
    assert _messages(validate_structural({"type": "string"}, p)) == [
        f'{p}.type: Invalid value: "string": must be object at the root']


# --- the CRD object -------------------------------------------------------------------------

def _crd(**changes: Any) -> dict[str, Any]:
    crd: dict[str, Any] = {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "kind": "Widget"},
                 "versions": [{"name": "v1", "served": True, "storage": True,
                               "schema": {"openAPIV3Schema": SCHEMA}}]}}
    crd["spec"].update(changes)
    crdvalidation.set_defaults(crd)
    return crd


def test_crd_defaults_and_valid_crd() -> None:
    crd = _crd()
    assert crd["spec"]["names"]["singular"] == "widget"
    assert crd["spec"]["names"]["listKind"] == "WidgetList"
    assert crd["spec"]["conversion"] == {"strategy": "None"}
    assert crdvalidation.validate_create(crd) == []
    assert crdvalidation.storage_version(crd) == "v1"


def test_crd_validation_messages() -> None:
    bad_schema = {"type": "object", "properties": {"spec": {
        "type": "object", "x-kubernetes-validations": [{"rule": "self.a ==="}],
        "properties": {"n": {"type": "integer", "default": "x"}}}}}
    crd = _crd(group="example", scope="Everywhere",
               versions=[{"name": "V1", "served": False, "storage": False,
                          "schema": {"openAPIV3Schema": bad_schema}}])
    msgs = _messages(crdvalidation.validate_create(crd))
    assert 'metadata.name: Invalid value: "widgets.example.com": must be ' \
        'spec.names.plural+"."+spec.group' in msgs
    assert 'spec.group: Invalid value: "example": should be a domain with at least one dot' \
        in msgs
    assert 'spec.scope: Unsupported value: "Everywhere": supported values: "Cluster", ' \
        '"Namespaced"' in msgs
    assert any(m.startswith('spec.versions[0].name: Invalid value: "V1": a DNS-1035 label')
               for m in msgs)
    assert any(m.startswith("spec.versions: Invalid value: ") and
               m.endswith("must have exactly one version marked as storage version")
               for m in msgs)
    assert any(m.startswith("spec.versions[0].schema.openAPIV3Schema.properties[spec]."
                            "x-kubernetes-validations[0].rule: Invalid value: \"self.a ===\": "
                            "compilation failed") for m in msgs)
    assert 'spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[n].default: ' \
        'Invalid value: "string": in body must be of type integer: "string"' in msgs


def test_crd_update_keeps_group_and_stored_versions() -> None:
    old = _crd()
    old["status"] = {"storedVersions": ["v1"]}
    new = _crd(group="other.com")
    new["metadata"]["name"] = "widgets.other.com"
    new["spec"]["versions"][0]["name"] = "v2"
    msgs = _messages(crdvalidation.validate_update(new, old))
    assert 'spec.group: Invalid value: "other.com": field is immutable' in msgs
    assert 'status.storedVersions[0]: Invalid value: "v1": must appear in spec.versions' in msgs


# --- printer columns ------------------------------------------------------------------------

def test_printer_columns_cells() -> None:
    printer = columns.printer([
        {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
        {"name": "Image", "type": "string", "jsonPath": ".spec.image", "priority": 1},
        {"name": "Tags", "type": "string", "jsonPath": ".spec.tags[*]"},
        {"name": "Label", "type": "string", "jsonPath": ".metadata.labels['a.b/c']"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        {"name": "Missing", "type": "string", "jsonPath": ".status.nothing"},
    ])
    assert [c["name"] for c in printer.columns] == [
        "Name", "Replicas", "Image", "Tags", "Label", "Age", "Missing"]
    assert printer.columns[2]["priority"] == 1
    obj = _cr(replicas=3, image="nginx", tags=["x", "y"])
    obj["metadata"]["labels"] = {"a.b/c": "v"}
    obj["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
    ctx = Context(now=datetime(2026, 1, 1, 0, 5, tzinfo=UTC), objects=[obj])
    assert printer.cells(obj, ctx) == ["w", 3, "nginx", "x,y", "v", "5m", None]
    default = columns.printer([])
    assert [c["name"] for c in default.columns] == ["Name", "Age"]
