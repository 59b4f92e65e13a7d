"""Strategic merge patch: cases ported from upstream's strategicpatch/patch_test.go (apply
half, on a schema mirroring its `MergeItem`), plus real built-in kinds."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from kybernetes.api.errors import StatusError
from kybernetes.api.schema import definition_for_kind, definitions
from kybernetes.api.strategicpatch import json_merge_patch, strategic_merge_patch


def _merge_item_schema() -> dict[str, Any]:
    """Upstream's test struct `MergeItem` as an OpenAPI schema (self-referencing, inline)."""
    item: dict[str, Any] = {"type": "object"}
    scalar = {"type": "string"}
    merging = {"x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": "name"}
    int_list = {"type": "array", "items": {"type": "integer"}}
    simple_map = {"type": "object", "additionalProperties": {"type": "string"}}
    retain_item = {
        "type": "object",
        "x-kubernetes-patch-strategy": "retainKeys",
        "properties": {
            "name": scalar, "value": scalar, "other": scalar, "simpleMap": simple_map,
            "mergingIntList": {**int_list, "x-kubernetes-patch-strategy": "merge"},
            "mergingList": {"type": "array", "items": item, **merging},
            "nonMergingList": {"type": "array", "items": item},
        },
    }
    item["properties"] = {
        "name": scalar, "value": scalar, "other": scalar,
        "mergingList": {"type": "array", "items": item, **merging},
        "nonMergingList": {"type": "array", "items": item},
        "mergingIntList": {**int_list, "x-kubernetes-patch-strategy": "merge"},
        "nonMergingIntList": int_list,
        "mergeItemPtr": {"type": "array", "items": item, **merging},
        "simpleMap": simple_map,
        "replacingItem": {"type": "object", "x-kubernetes-patch-strategy": "replace"},
        "retainKeysMap": retain_item,
        "retainKeysMergingList": {
            "type": "array", "items": item, "x-kubernetes-patch-strategy": "merge,retainKeys",
            "x-kubernetes-patch-merge-key": "name",
        },
    }
    return item


MERGE_ITEM = _merge_item_schema()


def _apply(original: str, patch: str, schema: dict[str, Any] | None = MERGE_ITEM) -> Any:
    before = yaml.safe_load(original) or {}
    body = yaml.safe_load(patch) or {}
    frozen_before, frozen_body = copy.deepcopy(before), copy.deepcopy(body)
    result = strategic_merge_patch(before, body, schema)
    assert before == frozen_before and body == frozen_body, "inputs were mutated"
    return result


# (description, original, patch, expected) -- upstream's customStrategicMergePatchTestCaseData
# and the "current + threeWay -> result" halves of strategicMergePatchRawTestCases.
MERGE_ITEM_CASES = [
    ("unique scalars when merging lists",
     "mergingIntList: [1, 2]", "mergingIntList: [2, 3]", "mergingIntList: [1, 2, 3]"),
    ("delete map from nested map",
     "simpleMap: {key1: 1, key2: 1}", "simpleMap: {$patch: delete}", "simpleMap: {}"),
    ("delete all items from merging list",
     "mergingList: [{name: 1}, {name: 2}]", "mergingList: [{$patch: replace}]",
     "mergingList: []"),
    ("merge empty merging lists", "mergingList: []", "mergingList: []", "mergingList: []"),
    ("delete all keys from map", "{name: 1, value: 1}", "$patch: replace", "{}"),
    ("add key and delete all keys from map",
     "{name: 1, value: 1}", "{other: a, $patch: replace}", "other: a"),
    ("delete all duplicate entries in a merging list",
     "mergingList: [{name: 1}, {name: 1}, {name: 2, value: a}, {name: 3}, {name: 3}]",
     "mergingList: [{name: 1, $patch: delete}, {name: 3, $patch: delete}]",
     "mergingList: [{name: 2, value: a}]"),
    ("retainKeys map merge an empty map",
     "retainKeysMap: {name: foo, value: a}", "retainKeysMap: {}",
     "retainKeysMap: {name: foo, value: a}"),
    ("retainKeys list can delete a field when no retainKeys directive present",
     "retainKeysMergingList: [{name: bar}, {name: foo, value: a}]",
     "retainKeysMergingList: [{name: foo, value: null}]",
     "retainKeysMergingList: [{name: bar}, {name: foo}]"),
    ("preserve the order from the patch in a merging list",
     "mergingList: [{name: 1}, {name: 2, value: b}, {name: 3}]",
     "mergingList: [{name: 3, value: c}, {name: 1, value: a}, {name: 2, other: x}]",
     "mergingList: [{name: 3, value: c}, {name: 1, value: a}, {name: 2, value: b, other: x}]"),
    ("preserve the order from the patch in a merging list 2",
     "mergingList: [{name: 1}, {name: 2, value: b}, {name: 3}]",
     "mergingList: [{name: 3, value: c}, {name: 1, value: a}]",
     "mergingList: [{name: 2, value: b}, {name: 3, value: c}, {name: 1, value: a}]"),
    ("preserve the order from the patch in a merging int list",
     "mergingIntList: [1, 2, 3]", "mergingIntList: [3, 1]", "mergingIntList: [2, 3, 1]"),
    ("$setElementOrder contains item that is not present in the list to be merged",
     "mergingList: [{name: 1}, {name: 3}]",
     """
     $setElementOrder/mergingList: [{name: 3}, {name: 2}, {name: 1}]
     mergingList: [{name: 3, value: 3}, {name: 1, value: 1}]
     """,
     "mergingList: [{name: 3, value: 3}, {name: 1, value: 1}]"),
    ("$setElementOrder contains item that is not present in the int list to be merged",
     "mergingIntList: [1, 3]", "$setElementOrder/mergingIntList: [3, 2, 1]",
     "mergingIntList: [3, 1]"),
    ("$deleteFromPrimitiveList of nonexistent item should not add the item",
     "mergingIntList: [1, 2]", "$deleteFromPrimitiveList/mergingIntList: [3]",
     "mergingIntList: [1, 2]"),
    ("$deleteFromPrimitiveList on empty primitive list should not add the item",
     "mergingIntList: null", "$deleteFromPrimitiveList/mergingIntList: [3]",
     "mergingIntList: null"),
    ("$deleteFromPrimitiveList on nonexistent primitive list should not add the list",
     "foo: [bar]", "$deleteFromPrimitiveList/mergingIntList: [3]", "foo: [bar]"),
    ("$deleteFromPrimitiveList on a list without merge patch strategy",
     "nonMergingIntList: [1, 2, 3]", "$deleteFromPrimitiveList/nonMergingIntList: [2]",
     "nonMergingIntList: [1, 3]"),
    ("add field and delete field from map",
     "{name: 1, other: a}", "{name: null, value: 1}", "{value: 1, other: a}"),
    ("delete field from nested map",
     "simpleMap: {key1: 1, key2: 1, other: a}", "simpleMap: {key2: null}",
     "simpleMap: {key1: 1, other: a}"),
    ("replace list of scalars",
     "nonMergingIntList: [1, 4]", "nonMergingIntList: [2, 3]", "nonMergingIntList: [2, 3]"),
    ("defined null values should propagate overwrite current fields",
     "{name: a, other: a}", "{name: 1, value: 1, other: null}", "{name: 1, value: 1}"),
    ("delete items in lists of scalars",
     "mergingIntList: [1, 2, 3, 4]",
     """
     $setElementOrder/mergingIntList: [1, 2]
     $deleteFromPrimitiveList/mergingIntList: [3]
     """,
     "mergingIntList: [1, 2, 4]"),
    ("delete all duplicate items in lists of scalars",
     "mergingIntList: [1, 2, 3, 3, 4]",
     """
     $setElementOrder/mergingIntList: [1, 2]
     $deleteFromPrimitiveList/mergingIntList: [3]
     """,
     "mergingIntList: [1, 2, 4]"),
    ("merge lists of maps",
     "mergingList: [{name: 1, other: a}, {name: 2, value: 2, other: b}]",
     """
     $setElementOrder/mergingList: [{name: 4}, {name: 1}, {name: 2}, {name: 3}]
     mergingList: [{name: 4, value: 4}, {name: 3, value: 3}]
     """,
     """
     mergingList: [{name: 4, value: 4}, {name: 1, other: a},
                   {name: 2, value: 2, other: b}, {name: 3, value: 3}]
     """),
    ("add field to map in merging list with conflict",
     "mergingList: [{name: 1, other: a}, {name: 3, value: 2, other: b}]",
     """
     $setElementOrder/mergingList: [{name: 1}, {name: 2}]
     mergingList: [{name: 1, value: 1}, {name: 2, value: 2}]
     """,
     """
     mergingList: [{name: 1, value: 1, other: a}, {name: 2, value: 2},
                   {name: 3, value: 2, other: b}]
     """),
    ("delete missing map from merging list with conflict",
     "mergingList: [{name: 3, other: a}]",
     """
     $setElementOrder/mergingList: [{name: 2}]
     mergingList: [{name: 2}, {name: 1, $patch: delete}]
     """,
     "mergingList: [{name: 2}, {name: 3, other: a}]"),
    ("add map and delete map from merging list",
     "mergingList: [{name: 1}, {name: 2, other: b}, {name: 4, other: c}]",
     """
     $setElementOrder/mergingList: [{name: 2}, {name: 3}]
     mergingList: [{name: 3}, {name: 1, $patch: delete}]
     """,
     "mergingList: [{name: 2, other: b}, {name: 4, other: c}, {name: 3}]"),
    ("add map and delete map from merging list with conflict",
     "mergingList: [{name: 1, other: a}, {name: 4, other: c}]",
     """
     $setElementOrder/mergingList: [{name: 2}, {name: 3}]
     mergingList: [{name: 2}, {name: 3}, {name: 1, $patch: delete}]
     """,
     "mergingList: [{name: 4, other: c}, {name: 2}, {name: 3}]"),
    ("replace non merging list nested in merging list",
     """
     mergingList:
     - {name: 1, other: a, nonMergingList: [{name: 1}, {name: 2, value: 2}]}
     - {name: 2, other: b}
     """,
     """
     $setElementOrder/mergingList: [{name: 1}, {name: 2}]
     mergingList: [{name: 1, nonMergingList: [{name: 1, value: 1}]}]
     """,
     """
     mergingList:
     - {name: 1, other: a, nonMergingList: [{name: 1, value: 1}]}
     - {name: 2, other: b}
     """),
    ("add field to map in merging list nested in merging list with deletion conflict",
     """
     mergingList:
     - {name: 1, other: a, mergingList: [{name: 2, value: 2, other: d}]}
     - {name: 2, other: b}
     """,
     """
     $setElementOrder/mergingList: [{name: 1}, {name: 2}]
     mergingList:
     - $setElementOrder/mergingList: [{name: 2}, {name: 1}]
       name: 1
       mergingList: [{name: 1, value: 1}]
     """,
     """
     mergingList:
     - {name: 1, other: a, mergingList: [{name: 2, value: 2, other: d}, {name: 1, value: 1}]}
     - {name: 2, other: b}
     """),
    ("merge lists of scalars",
     "mergingIntList: [1, 2, 4]",
     "{$setElementOrder/mergingIntList: [1, 2, 3], mergingIntList: [3]}",
     "mergingIntList: [1, 2, 3, 4]"),
    ("add an item in a list of primitives and preserve order",
     "mergingIntList: [1, 4, 2]",
     "{$setElementOrder/mergingIntList: [3, 1, 2], mergingIntList: [3]}",
     "mergingIntList: [3, 1, 4, 2]"),
    ("delete an item in a list of primitives and preserve order",
     "mergingIntList: [1, 2, 3]",
     "{$setElementOrder/mergingIntList: [2, 1], $deleteFromPrimitiveList/mergingIntList: [3]}",
     "mergingIntList: [2, 1]"),
    ("add and delete an item in a int list and preserve order",
     "mergingIntList: [1, 2, 3]",
     """
     $setElementOrder/mergingIntList: [4, 2, 1]
     mergingIntList: [4]
     $deleteFromPrimitiveList/mergingIntList: [3]
     """,
     "mergingIntList: [4, 2, 1]"),
    ("delete an item in a list and preserve order",
     "mergingList: [{name: 1, other: a}, {name: 2, value: 2, other: b}, {name: 3, value: 3}]",
     """
     $setElementOrder/mergingList: [{name: 2}, {name: 1}]
     mergingList: [{name: 3, $patch: delete}]
     """,
     "mergingList: [{name: 2, value: 2, other: b}, {name: 1, other: a}]"),
    ("add and delete an item in a list and preserve order",
     "mergingList: [{name: 1, other: a}, {name: 2, value: 2, other: b}, {name: 3, value: 3}]",
     """
     $setElementOrder/mergingList: [{name: 4}, {name: 2}, {name: 1}]
     mergingList: [{name: 4, value: 4}, {name: 3, $patch: delete}]
     """,
     "mergingList: [{name: 4, value: 4}, {name: 2, value: 2, other: b}, {name: 1, other: a}]"),
    ("set elements order in a list with server-only items 3",
     """
     mergingList: [{name: 1, other: a}, {name: 2, value: 2}, {name: 7}, {name: 9}, {name: 8},
                   {name: 3, value: 3}, {name: 4, value: 4}]
     """,
     "$setElementOrder/mergingList: [{name: 2}, {name: 1}, {name: 4}, {name: 3}]",
     """
     mergingList: [{name: 2, value: 2}, {name: 1, other: a}, {name: 7}, {name: 9}, {name: 8},
                   {name: 4, value: 4}, {name: 3, value: 3}]
     """),
    ("set elements order in a int list with server-only items 2",
     "mergingIntList: [1, 2, 9, 3, 4]", "$setElementOrder/mergingIntList: [2, 1, 4, 3]",
     "mergingIntList: [2, 1, 9, 4, 3]"),
    ("behavior of set element order for a merging list with duplicate",
     """
     mergingList: [{name: 1}, {name: 2, value: dup1}, {name: 3}, {name: 2, value: dup2},
                   {name: 4}]
     """,
     "$setElementOrder/mergingList: [{name: 2}, {name: 1}, {name: 4}, {name: 3}, {name: 2}]",
     """
     mergingList: [{name: 2, value: dup1}, {name: 2, value: dup2}, {name: 1}, {name: 4},
                   {name: 3}]
     """),
    ("behavior of set element order for a merging int list with duplicate",
     "mergingIntList: [1, 2, 3, 2, 4]", "$setElementOrder/mergingIntList: [2, 1, 4, 3, 2]",
     "mergingIntList: [2, 2, 1, 4, 3]"),
    ("retainKeys map should clear defaulted field with conflict (discriminated union)",
     "retainKeysMap: {name: type1, value: foo}",
     "retainKeysMap: {$retainKeys: [name, other], name: type2, other: bar}",
     "retainKeysMap: {name: type2, other: bar}"),
    ("retainKeys map deletes a field and clears a field",
     "retainKeysMap: {name: foo, value: bar, other: a}",
     "retainKeysMap: {$retainKeys: [name], value: null}",
     "retainKeysMap: {name: foo}"),
    ("retainKeys map adds an item and deletes an item in nested merging int list",
     "retainKeysMap: {name: foo, mergingIntList: [1, 2, 3, 4]}",
     """
     retainKeysMap:
       $retainKeys: [mergingIntList, name]
       mergingIntList: [5]
       $deleteFromPrimitiveList/mergingIntList: [2]
       $setElementOrder/mergingIntList: [1, 3, 5]
     """,
     "retainKeysMap: {name: foo, mergingIntList: [1, 3, 5, 4]}"),
    ("retainKeys map deletes an item in nested merging list",
     "retainKeysMap: {name: foo, mergingList: [{name: a}, {name: b}, {name: x}]}",
     """
     retainKeysMap:
       $retainKeys: [mergingList, name]
       $setElementOrder/mergingList: [{name: a}]
       mergingList: [{name: b, $patch: delete}]
     """,
     "retainKeysMap: {name: foo, mergingList: [{name: a}, {name: x}]}"),
    ("retainKeys list of maps changes a field and clear a field",
     "retainKeysMergingList: [{name: bar}, {name: foo, value: old, other: x}]",
     """
     $setElementOrder/retainKeysMergingList: [{name: bar}, {name: foo}]
     retainKeysMergingList: [{$retainKeys: [name, value], name: foo, value: new}]
     """,
     "retainKeysMergingList: [{name: bar}, {name: foo, value: new}]"),
    ("replace RawExtension field and merge list",
     """
     name: my-object
     mergingList: [{name: 1}, {name: 3}]
     replacingItem: {Some: Generic, Yaml: Inside, Field: Period}
     """,
     """
     $setElementOrder/mergingList: [{name: 1}, {name: 2}]
     mergingList: [{name: 2}]
     replacingItem: {Newly: Modified, Yaml: Inside}
     """,
     """
     name: my-object
     mergingList: [{name: 1}, {name: 2}, {name: 3}]
     replacingItem: {Newly: Modified, Yaml: Inside}
     """),
    # TestUnknownField: added values lose their nulls, nulls already stored are kept.
    ("discard nulls in nested and adds not nulls",
     "name: foo", "complex_nullable: {key: {keynotnull: value, keynull: null}}",
     "{name: foo, complex_nullable: {key: {keynotnull: value}}}"),
    ("filter nulls from nested slices",
     "{}", "complex_nullable: [{inner_one: {key_one: foo, key_two: null}}]",
     "complex_nullable: [{inner_one: {key_one: foo}}]"),
    ("not filter nulls from non-associative slice",
     "{}", "complex_nullable: [key1, null, key2]", "complex_nullable: [key1, null, key2]"),
    ("nested null values in original are preserved",
     "{complex: {key: null}, thing: null}", "nested: {value: 5}",
     "{complex: {key: null}, nested: {value: 5}, thing: null}"),
    ("added values drop maps carrying a directive",
     "name: foo", "mergingList: [{name: 1}, {name: 2, $patch: delete}]",
     "{name: foo, mergingList: [{name: 1}]}"),
    ("merge into a null original", "", "simpleMap: {a: b}", "simpleMap: {a: b}"),
    # Upstream quirk (checked against upstream's Go): with an empty $setElementOrder its sort
    # comparator answers "less" for every pair, and Go's stable sort then reverses the list.
    ("empty $setElementOrder reverses an added list",
     "name: z", "{mergingList: [{name: 4, value: a}, {name: b}, {name: 2}], "
     "$setElementOrder/mergingList: []}",
     "{name: z, mergingList: [{name: 2}, {name: b}, {name: 4, value: a}]}"),
    ("empty $setElementOrder reverses merged primitives",
     "mergingIntList: []", "{mergingIntList: [4, 1, 6, 5], $setElementOrder/mergingIntList: []}",
     "mergingIntList: [5, 6, 1, 4]"),
]


@pytest.mark.parametrize(("original", "patch", "expected"),
                         [c[1:] for c in MERGE_ITEM_CASES], ids=[c[0] for c in MERGE_ITEM_CASES])
def test_merge_item_cases(original: str, patch: str, expected: str) -> None:
    assert _apply(original, patch) == (yaml.safe_load(expected) or {})


ERROR_CASES = [
    ("should check if order in $setElementOrder and patch list match",
     "mergingList: [{name: 1}, {name: 3}, {name: 2}]",
     """
     $setElementOrder/mergingList: [{name: 1}, {name: 2}, {name: 3}]
     mergingList: [{name: 3, value: 3}, {name: 1, value: 1}]
     """,
     "doesn't match $setElementOrder list"),
    ("order mismatch in an int list",
     "mergingIntList: [1, 3, 2]",
     "{$setElementOrder/mergingIntList: [1, 2, 3], mergingIntList: [3, 1]}",
     "doesn't match"),
    ("missing merge key should error out",
     "mergingList: [{name: 1, value: a}]", "mergingList: [{value: b}]",
     "map: map[value:b] does not contain declared merge key: name"),
    ("delete directive without merge key",
     "mergingList: [{name: 1}]", "mergingList: [{$patch: delete, value: b}]",
     "does not contain declared merge key: name"),
    ("merge directive in a list",
     "mergingList: [{name: 1}]", "mergingList: [{$patch: merge, name: 1}]",
     "merging lists cannot yet be specified in the patch"),
    ("unknown directive in a list item",
     "mergingList: [{name: 1}]", "mergingList: [{$patch: frobnicate, name: 1}]",
     "unknown patch type: frobnicate in map: map[$patch:frobnicate name:1]"),
    ("unknown directive in a map",
     "simpleMap: {a: b}", "simpleMap: {$patch: merge}",
     "unknown patch type: merge in map: map[$patch:merge]"),
    ("retainKeys must list every patched field",
     "retainKeysMap: {name: a}", "retainKeysMap: {$retainKeys: [name], value: b}",
     "invalid patch format of retainKeys"),
    ("retainKeys must be a list",
     "retainKeysMap: {name: a}", "retainKeysMap: {$retainKeys: name}",
     "invalid patch format of retainKeys"),
    ("setElementOrder must be a list",
     "mergingIntList: [1]", "$setElementOrder/mergingIntList: 1",
     "expected a []interface {}, but received a int64"),
    ("malformed setElementOrder key",
     "mergingIntList: [1]", "$setElementOrderX: [1]",
     "invalid patch format of setElementOrder list"),
    ("malformed deleteFromPrimitiveList key",
     "mergingIntList: [1]", "$deleteFromPrimitiveList: [1]",
     "invalid patch format of primitive list"),
    ("mixed element types",
     "mergingIntList: [1, 2]", "mergingIntList: [a]",
     "list element types are not identical: [[1 2] [a]]"),
    ("lists of lists", "mergingIntList: [[1]]", "mergingIntList: [[2]]",
     "lists of lists are not supported"),
]


@pytest.mark.parametrize(("original", "patch", "message"),
                         [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES])
def test_errors(original: str, patch: str, message: str) -> None:
    with pytest.raises(StatusError) as caught:
        _apply(original, patch)
    assert caught.value.code == 400
    assert caught.value.reason == "BadRequest"
    assert message in caught.value.message


# --- built-in kinds, with upstream's schema --------------------------------------------------


def _schema(group: str, version: str, kind: str) -> dict[str, Any]:
    name = definition_for_kind(group, version, kind)
    assert name is not None
    return definitions()[name]


DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web, tier: front}
  finalizers: [a.example.com/x, b.example.com/y]
spec:
  replicas: 2
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 25%, maxUnavailable: 25%}
  template:
    spec:
      containers:
      - name: web
        image: nginx:1.25
        env: [{name: A, value: "1"}, {name: B, value: "2"}]
        ports: [{containerPort: 80, protocol: TCP}]
        args: [--one, --two]
      - name: sidecar
        image: busybox
      volumes:
      - name: data
        emptyDir: {}
"""

K8S_CASES = [
    ("containers merged by name",
     "spec: {template: {spec: {containers: [{name: web, image: 'nginx:1.27'}]}}}",
     lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image="nginx:1.27")),
    ("new container goes first without $setElementOrder",
     "spec: {template: {spec: {containers: [{name: log, image: fluent}]}}}",
     lambda d: d["spec"]["template"]["spec"]["containers"].insert(
         0, {"name": "log", "image": "fluent"})),
    ("new container placed by $setElementOrder",
     """
     spec:
       template:
         spec:
           $setElementOrder/containers: [{name: web}, {name: sidecar}, {name: log}]
           containers: [{name: log, image: fluent}]
     """,
     lambda d: d["spec"]["template"]["spec"]["containers"].append(
         {"name": "log", "image": "fluent"})),
    ("env merged by name",
     """
     spec:
       template:
         spec:
           containers:
           - name: web
             $setElementOrder/env: [{name: A}, {name: B}, {name: C}]
             env: [{name: B, value: "3"}, {name: C, value: "4"}]
     """,
     lambda d: d["spec"]["template"]["spec"]["containers"][0].update(
         env=[{"name": "A", "value": "1"}, {"name": "B", "value": "3"},
              {"name": "C", "value": "4"}])),
    ("ports merged by containerPort",
     """
     spec: {template: {spec: {containers: [
       {name: web, ports: [{containerPort: 80, name: http}, {containerPort: 443}]}]}}}
     """,
     lambda d: d["spec"]["template"]["spec"]["containers"][0].update(
         ports=[{"containerPort": 80, "protocol": "TCP", "name": "http"},
                {"containerPort": 443}])),
    ("args replaced (no patch strategy)",
     "spec: {template: {spec: {containers: [{name: web, args: [--three]}]}}}",
     lambda d: d["spec"]["template"]["spec"]["containers"][0].update(args=["--three"])),
    ("$patch delete of a container",
     "spec: {template: {spec: {containers: [{name: sidecar, $patch: delete}]}}}",
     lambda d: d["spec"]["template"]["spec"]["containers"].pop()),
    ("$patch replace of the container list",
     "spec: {template: {spec: {containers: [{name: only, image: x}, {$patch: replace}]}}}",
     lambda d: d["spec"]["template"]["spec"].update(containers=[{"name": "only", "image": "x"}])),
    ("$patch replace of a map",
     "metadata: {labels: {$patch: replace, app: other}}",
     lambda d: d["metadata"].update(labels={"app": "other"})),
    ("finalizers are a union",
     "metadata: {finalizers: [b.example.com/y, c.example.com/z]}",
     lambda d: d["metadata"].update(
         finalizers=["a.example.com/x", "b.example.com/y", "c.example.com/z"])),
    ("$deleteFromPrimitiveList removes finalizers",
     "metadata: {$deleteFromPrimitiveList/finalizers: [a.example.com/x]}",
     lambda d: d["metadata"].update(finalizers=["b.example.com/y"])),
    ("labels merge as a map, null deletes",
     "metadata: {labels: {tier: null, version: v2}}",
     lambda d: d["metadata"].update(labels={"app": "web", "version": "v2"})),
    ("strategy RollingUpdate -> Recreate with $retainKeys",
     "spec: {strategy: {$retainKeys: [type], type: Recreate, rollingUpdate: null}}",
     lambda d: d["spec"].update(strategy={"type": "Recreate"})),
    ("strategy switch clears rollingUpdate even without null",
     "spec: {strategy: {$retainKeys: [type], type: Recreate}}",
     lambda d: d["spec"].update(strategy={"type": "Recreate"})),
    ("volume source switched with $retainKeys",
     """
     spec:
       template:
         spec:
           volumes: [{$retainKeys: [name, configMap], name: data, configMap: {name: cfg}}]
     """,
     lambda d: d["spec"]["template"]["spec"].update(
         volumes=[{"name": "data", "configMap": {"name": "cfg"}}])),
    ("unknown fields merge like a JSON merge patch",
     "spec: {extra: {a: 1, b: null}, replicas: 3}",
     lambda d: d["spec"].update(extra={"a": 1}, replicas=3)),
]


@pytest.mark.parametrize(("patch", "change"), [c[1:] for c in K8S_CASES],
                         ids=[c[0] for c in K8S_CASES])
def test_deployment(patch: str, change: Any) -> None:
    expected = yaml.safe_load(DEPLOYMENT)
    change(expected)
    assert _apply(DEPLOYMENT, patch, _schema("apps", "v1", "Deployment")) == expected


def test_kubectl_apply_style_patch_on_pod() -> None:
    live = """
    apiVersion: v1
    kind: Pod
    metadata: {name: p, annotations: {a: "1"}}
    spec:
      containers:
      - name: app
        image: app:1
        env: [{name: X, value: x}, {name: Y, value: y}]
        volumeMounts: [{name: v, mountPath: /v}]
      tolerations: [{key: k, operator: Exists}]
    """
    patch = """
    metadata:
      annotations: {kubectl.kubernetes.io/last-applied-configuration: "{}"}
    spec:
      $setElementOrder/containers: [{name: app}]
      containers:
      - name: app
        image: app:2
        $setElementOrder/env: [{name: Z}, {name: X}]
        env: [{name: Z, value: z}, {name: Y, $patch: delete}]
      tolerations: [{key: other, operator: Exists}]
    """
    result = _apply(live, patch, _schema("", "v1", "Pod"))
    container = result["spec"]["containers"][0]
    assert container["image"] == "app:2"
    assert container["env"] == [{"name": "Z", "value": "z"}, {"name": "X", "value": "x"}]
    assert container["volumeMounts"] == [{"name": "v", "mountPath": "/v"}]
    assert result["spec"]["tolerations"] == [{"key": "other", "operator": "Exists"}]
    assert result["metadata"]["annotations"] == {
        "a": "1", "kubectl.kubernetes.io/last-applied-configuration": "{}"}


def test_empty_set_element_order_on_a_long_list() -> None:
    # Past 20 items Go's stable sort merges blocks (SymMerge); result checked against Go.
    patch = {"mergingIntList": list(range(1, 31)), "$setElementOrder/mergingIntList": []}
    result = strategic_merge_patch({"mergingIntList": [31, 32]}, patch, MERGE_ITEM)
    assert result == {"mergingIntList": [31, 32, *range(30, 0, -1)]}


def test_top_level_delete_directive() -> None:
    assert _apply("metadata: {name: a}", "$patch: delete", _schema("", "v1", "Pod")) == {}


def test_result_shares_nothing_with_inputs() -> None:
    original = {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c"}]}}
    patch = {"spec": {"containers": [{"name": "d", "env": [{"name": "E"}]}]}}
    result = strategic_merge_patch(original, patch, _schema("", "v1", "Pod"))
    result["metadata"]["labels"]["x"] = "y"
    result["spec"]["containers"][0]["env"][0]["value"] = "v"
    assert original == {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c"}]}}
    assert patch == {"spec": {"containers": [{"name": "d", "env": [{"name": "E"}]}]}}


def test_go_types_do_not_compare_equal() -> None:
    # In Go 1 (int64), 1.0 (float64) and true are distinct values.
    result = _apply("mergingIntList: [1, 2]", "nonMergingIntList: [1]")
    assert result == {"mergingIntList": [1, 2], "nonMergingIntList": [1]}
    with pytest.raises(StatusError, match="not identical"):
        _apply("mergingIntList: [1, 2]", "mergingIntList: [1.0]")


# --- no schema: RFC 7386 --------------------------------------------------------------------

RFC7386_CASES = [  # RFC 7386 appendix A
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("original", "patch", "expected"), RFC7386_CASES)
def test_json_merge_patch(original: Any, patch: Any, expected: Any) -> None:
    frozen = copy.deepcopy(original)
    assert json_merge_patch(original, patch) == expected
    assert original == frozen


def test_no_schema_is_json_merge_patch() -> None:
    original = {"spec": {"list": [{"name": "a", "x": 1}], "keep": True}}
    patch = {"spec": {"list": [{"name": "b"}], "$patch": "replace"}}
    assert strategic_merge_patch(original, patch, None) == {
        "spec": {"list": [{"name": "b"}], "keep": True, "$patch": "replace"}}
