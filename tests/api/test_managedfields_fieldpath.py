"""Field path sets and their fieldsV1 form: cases from structured-merge-diff's fieldpath tests
(set_test.go, serialize_test.go, serialize-pe_test.go, element_test.go)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from kybernetes.api.managedfields import fieldpath as fp


def S(*paths: str) -> fp.Node:
    """A set from dotted paths of serialised elements separated by '|'."""
    return fp.make_set([tuple(p.split("|")) for p in paths])


def J(s: fp.Node) -> str:
    return orjson.dumps(fp.encode(s)).decode()


def paths(s: fp.Node) -> list[str]:
    return ["|".join(p) for p in fp.iterate_paths(s)]


@pytest.mark.parametrize(("pe", "expected"), [
    (fp.field("spec"), "f:spec"),
    (fp.key_element({"name": "web"}), 'k:{"name":"web"}'),
    (fp.key_element({"protocol": "TCP", "containerPort": 80}),
     'k:{"containerPort":80,"protocol":"TCP"}'),
    (fp.value_element("example.com/fin"), 'v:"example.com/fin"'),
    (fp.value_element(3), "v:3"),
    (fp.value_element(1.5), "v:1.5"),
    (fp.value_element(2.0), "v:2"),
    (fp.value_element(True), "v:true"),
    (fp.value_element("<a&b>"), 'v:"\\u003ca\\u0026b\\u003e"'),
    (fp.value_element("tab\there"), 'v:"tab\\there"'),
    (fp.value_element(1e-7), "v:1e-7"),
    (fp.value_element(1e21), "v:1e+21"),
])
def test_serialize_path_element(pe: str, expected: str) -> None:
    assert pe == expected


@pytest.mark.parametrize(("path", "expected"), [
    (("f:spec", "f:replicas"), ".spec.replicas"),
    (("f:spec", "f:containers", 'k:{"name":"web"}', "f:image"),
     '.spec.containers[name="web"].image'),
    (("f:ports", 'k:{"containerPort":80,"protocol":"TCP"}'),
     '.ports[containerPort=80,protocol="TCP"]'),
    (("f:metadata", "f:finalizers", 'v:"a/b"'), '.metadata.finalizers[="a/b"]'),
    (("f:list", "i:3"), ".list[3]"),
])
def test_path_string(path: tuple[str, ...], expected: str) -> None:
    assert fp.path_string(path) == expected


def test_serialisation_has_dot_only_for_members_with_children() -> None:
    s = S("f:metadata|f:labels", "f:metadata|f:labels|f:app", "f:spec|f:replicas",
          'f:spec|f:containers|k:{"name":"web"}', 'f:spec|f:containers|k:{"name":"web"}|f:image')
    assert J(s) == ('{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:containers":'
                    '{"k:{\\"name\\":\\"web\\"}":{".":{},"f:image":{}}},"f:replicas":{}}}')


def test_serialisation_orders_like_upstream() -> None:
    # upstream orders field names < keys < values < indices, and keys/values by value
    # (numbers numerically), not by their serialised text.
    s = S('f:ports|k:{"containerPort":10,"protocol":"TCP"}',
          'f:ports|k:{"containerPort":9,"protocol":"TCP"}',
          'f:ports|k:{"containerPort":9,"protocol":"SCTP"}',
          "f:set|v:10", "f:set|v:9", 'f:set|v:"a"', "f:set|v:true", "f:z", "f:a")
    assert list(fp.encode(s)) == ["f:a", "f:ports", "f:set", "f:z"]
    assert list(fp.encode(s)["f:ports"]) == [
        'k:{"containerPort":9,"protocol":"SCTP"}', 'k:{"containerPort":9,"protocol":"TCP"}',
        'k:{"containerPort":10,"protocol":"TCP"}']
    assert list(fp.encode(s)["f:set"]) == ["v:9", "v:10", 'v:"a"', "v:true"]


def test_canonicalize_round_trip() -> None:
    raw = orjson.loads('{"f:spec":{"f:replicas":{},".":{},"f:a":{"f:b":{}}},'
                       '"f:metadata":{"f:labels":{".":{}}},"x:unknown":{}}')
    # "." alone means a member; unknown element types are dropped, as upstream does.
    assert orjson.dumps(fp.canonicalize(raw)).decode() == (
        '{"f:metadata":{"f:labels":{}},"f:spec":{".":{},"f:a":{"f:b":{}},"f:replicas":{}}}')
    with pytest.raises(fp.PathError):
        fp.canonicalize({"nocolon": {}})
    with pytest.raises(fp.PathError):
        fp.canonicalize({"k:{bad json": {}})


SET_CASES: list[tuple[str, Any, Any, Any, Any, Any]] = [
    # name, a, b, union, intersection, difference (as path lists)
    ("disjoint", ["f:a"], ["f:b"], ["f:a", "f:b"], [], ["f:a"]),
    ("member_and_child", ["f:a"], ["f:a|f:b"], ["f:a", "f:a|f:b"], [], ["f:a"]),
    ("child_and_member", ["f:a|f:b"], ["f:a"], ["f:a", "f:a|f:b"], [], ["f:a|f:b"]),
    ("both", ["f:a", "f:a|f:b", "f:c"], ["f:a", "f:a|f:b"], ["f:a", "f:c", "f:a|f:b"],
     ["f:a", "f:a|f:b"], ["f:c"]),
    ("difference_keeps_children_of_removed_member", ["f:a", "f:a|f:b|f:c"], ["f:a"],
     ["f:a", "f:a|f:b|f:c"], ["f:a"], ["f:a|f:b|f:c"]),
]


@pytest.mark.parametrize(("name", "a", "b", "union", "inter", "diff"), SET_CASES,
                         ids=[c[0] for c in SET_CASES])
def test_set_operations(name: str, a: list[str], b: list[str], union: list[str],
                        inter: list[str], diff: list[str]) -> None:
    sa, sb = S(*a), S(*b)
    assert sorted(paths(fp.union(sa, sb))) == sorted(union)
    assert sorted(paths(fp.intersection(sa, sb))) == sorted(inter)
    assert sorted(paths(fp.difference(sa, sb))) == sorted(diff)
    # inputs are values: never modified
    assert sorted(paths(sa)) == sorted(a) and sorted(paths(sb)) == sorted(b)


def test_recursive_difference() -> None:
    s = S("f:spec|f:replicas", "f:status|f:replicas", "f:status|f:conditions|k:{\"type\":\"A\"}")
    assert paths(fp.recursive_difference(s, S("f:status"))) == ["f:spec|f:replicas"]
    assert paths(fp.difference(s, S("f:status"))) == paths(s)


def test_unchanged_operands_are_returned_as_is() -> None:
    s = S("f:a|f:b", "f:c")
    assert fp.difference(s, S("f:x")) is s
    assert fp.union(s, S("f:c")) is s
    assert fp.recursive_difference(s, S("f:x|f:y")) is s


def test_iterate_order_is_members_then_children() -> None:
    s = S("f:b|f:x", "f:a", "f:c", "f:b")
    assert paths(s) == ["f:a", "f:b", "f:c", "f:b|f:x"]
    assert fp.has(s, ("f:b", "f:x")) and fp.has(s, ("f:b",)) and not fp.has(s, ("f:x",))
