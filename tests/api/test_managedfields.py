"""Field management and server-side apply, ported from upstream's tests.

Cases come from sigs.k8s.io/structured-merge-diff's merge tests (set_test.go, key_test.go,
multiple_appliers_test.go, leaf_test.go) and from k8s.io/apimachinery's managedfields tests
(fieldmanager_test.go, capmanagers_test.go, conflict_test.go, skipnonapplied_test.go), run
through the public API: an `FM` harness plays upstream's TestFieldManager (a live object,
each Apply/Update by a named manager, a clock).
"""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
import yaml

from kybernetes.api.errors import StatusError
from kybernetes.api.managedfields import (
    LAST_APPLIED_ANNOTATION,
    default_reset_fields,
    server_side_apply,
    track_update,
)
from kybernetes.api.managedfields import manager as manager_module
from kybernetes.api.schema import definition_for_kind, definitions


def schema_of(group: str, version: str, kind: str) -> dict[str, Any]:
    name = definition_for_kind(group, version, kind)
    assert name is not None
    return definitions()[name]


DEPLOYMENT = schema_of("apps", "v1", "Deployment")
POD = schema_of("", "v1", "Pod")


def _scribble(value: Any) -> None:
    if isinstance(value, dict):
        for v in value.values():
            _scribble(v)
        value["~scribbled"] = True
    elif isinstance(value, list):
        for v in value:
            _scribble(v)
        value.append("~scribbled")


class FM:
    """upstream's TestFieldManager: a live object and a clock."""

    def __init__(self, schema: dict[str, Any] | None, api_version: str = "v1",
                 kind: str = "Thing", subresource: str = "") -> None:
        self.schema = schema
        self.api_version = api_version
        self.kind = kind
        self.subresource = subresource
        self.live: dict[str, Any] | None = None
        self.clock = 0

    def now(self) -> str:
        self.clock += 1
        return f"2024-05-01T10:{self.clock // 60:02d}:{self.clock % 60:02d}Z"

    def obj(self, body: str | dict[str, Any]) -> dict[str, Any]:
        obj = yaml.safe_load(body) if isinstance(body, str) else copy.deepcopy(body)
        obj.setdefault("apiVersion", self.api_version)
        obj.setdefault("kind", self.kind)
        name = (self.live or {}).get("metadata", {}).get("name", "x")
        obj.setdefault("metadata", {}).setdefault("name", name)
        return obj

    def apply(self, manager: str, body: str | dict[str, Any], force: bool = False) -> None:
        applied = self.obj(body)
        previous = self.live
        frozen_live, frozen_applied = copy.deepcopy(previous), copy.deepcopy(applied)
        now = self.now()
        result = server_side_apply(previous, applied, manager=manager, force=force,
                                   schema=self.schema, api_version=self.api_version,
                                   now=now, subresource=self.subresource)
        assert previous == frozen_live, "the live object was modified"
        assert applied == frozen_applied, "the applied configuration was modified"
        _scribble(result)  # the result shares nothing with the inputs
        assert previous == frozen_live and applied == frozen_applied
        self.live = server_side_apply(previous, applied, manager=manager, force=force,
                                      schema=self.schema, api_version=self.api_version,
                                      now=now, subresource=self.subresource)

    def update(self, manager: str, body: str | dict[str, Any]) -> None:
        new = self.obj(body)
        frozen = copy.deepcopy(self.live)
        track_update(self.live, new, manager=manager, schema=self.schema,
                     api_version=self.api_version, now=self.now(),
                     subresource=self.subresource)
        assert self.live == frozen, "the live object was modified"
        entries = new["metadata"].get("managedFields")
        if entries is not None:  # they share nothing with the live object
            kept = copy.deepcopy(entries)
            _scribble(entries)
            assert self.live == frozen
            new["metadata"]["managedFields"] = kept
        self.live = new

    @property
    def entries(self) -> list[dict[str, Any]]:
        assert self.live is not None
        return list(self.live["metadata"].get("managedFields") or [])

    def fields(self) -> dict[str, Any]:
        return {e.get("manager", ""): e["fieldsV1"] for e in self.entries}

    def body(self) -> dict[str, Any]:
        assert self.live is not None
        out = {k: v for k, v in self.live.items() if k not in ("apiVersion", "kind", "metadata")}
        return out


def P(*paths: str) -> dict[str, Any]:
    """A fieldsV1 document from dotted paths (elements separated by '|')."""
    from kybernetes.api.managedfields import fieldpath as fp
    return fp.encode(fp.make_set([tuple(p.split("|")) for p in paths]))


# --- schemas of upstream's merge tests ---------------------------------------------------------

STRING = {"type": "string"}
NUMBER = {"type": "integer"}


def thing(**props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": {
        "apiVersion": STRING, "kind": STRING,
        "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
        **props}}


SET_SCHEMA = thing(list={"type": "array", "items": STRING, "x-kubernetes-list-type": "set"})
ASSOCIATIVE_SCHEMA = thing(list={
    "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
    "items": {"type": "object", "properties": {"name": STRING, "value": NUMBER}}})
ATOMIC_SCHEMA = thing(list={"type": "array", "items": STRING, "x-kubernetes-list-type": "atomic"},
                      plain={"type": "array", "items": STRING})
MAPS_SCHEMA = thing(
    granular={"type": "object", "additionalProperties": STRING},
    atomic={"type": "object", "additionalProperties": STRING, "x-kubernetes-map-type": "atomic"},
    struct={"type": "object", "x-kubernetes-map-type": "atomic",
            "properties": {"a": STRING, "b": STRING}})


# --- structured-merge-diff: sets (set_test.go) -------------------------------------------------


SET_CASES: list[tuple[str, list[tuple[str, str, str]], list[str], dict[str, list[str]]]] = [
    ("apply_twice",
     [("apply", "default", "list: [a, c]"), ("apply", "default", "list: [a, b, c, d]")],
     ["a", "b", "c", "d"],
     {"default": ['f:list|v:"a"', 'f:list|v:"b"', 'f:list|v:"c"', 'f:list|v:"d"']}),
    ("apply_update_apply_no_overlap",
     [("apply", "default", "list: [a, c]"), ("update", "controller", "list: [a, b, c, d]"),
      ("apply", "default", "list: [a, aprime, c, cprime]")],
     ["a", "b", "aprime", "c", "d", "cprime"],
     {"default": ['f:list|v:"a"', 'f:list|v:"aprime"', 'f:list|v:"c"', 'f:list|v:"cprime"'],
      "controller": ['f:list|v:"b"', 'f:list|v:"d"']}),
    ("apply_update_apply_with_overlap",
     [("apply", "default", "list: [a, c]"), ("update", "controller", "list: [a, b, c, d]"),
      ("apply", "default", "list: [a, b, c]")],
     ["a", "b", "c", "d"],
     {"default": ['f:list|v:"a"', 'f:list|v:"b"', 'f:list|v:"c"'],
      "controller": ['f:list|v:"b"', 'f:list|v:"d"']}),
    ("apply_twice_reorder",
     [("apply", "default", "list: [a, b, c, d]"), ("apply", "default", "list: [a, d, c, b]")],
     ["a", "d", "c", "b"],
     {"default": ['f:list|v:"a"', 'f:list|v:"b"', 'f:list|v:"c"', 'f:list|v:"d"']}),
    ("apply_update_apply_reorder",
     [("apply", "default", "list: [a, b, c, d]"), ("update", "controller", "list: [a, d, c, b]"),
      ("apply", "default", "list: [a, b, c, d]")],
     ["a", "b", "c", "d"],
     {"default": ['f:list|v:"a"', 'f:list|v:"b"', 'f:list|v:"c"', 'f:list|v:"d"']}),
    ("apply_remove_item",
     [("apply", "default", "list: [a, b, c]"), ("apply", "default", "list: [a, c]")],
     ["a", "c"],
     {"default": ['f:list|v:"a"', 'f:list|v:"c"']}),
    ("apply_update_remove_shared_item",
     [("apply", "default", "list: [a, b]"), ("update", "controller", "list: [a, b, c]"),
      ("apply", "default", "list: [a]")],
     ["a", "c"],
     {"default": ['f:list|v:"a"'], "controller": ['f:list|v:"c"']}),
]


@pytest.mark.parametrize(("name", "ops", "expected", "managed"), SET_CASES,
                         ids=[c[0] for c in SET_CASES])
def test_set_lists(name: str, ops: list[tuple[str, str, str]], expected: list[str],
                   managed: dict[str, list[str]]) -> None:
    f = FM(SET_SCHEMA)
    for op, manager, body in ops:
        getattr(f, op)(manager, body)
    assert f.body() == {"list": expected}
    assert f.fields() == {m: P(*paths) for m, paths in managed.items()}


# --- structured-merge-diff: list-maps (key_test.go, multiple_appliers_test.go) ----------------

NAME_A, NAME_B, NAME_C, NAME_D = (f'k:{{"name":"{n}"}}' for n in "abcd")

ASSOCIATIVE_CASES: list[tuple[str, list[tuple[str, str, str]], Any, dict[str, list[str]]]] = [
    ("remove_one",
     [("apply", "apply-one", "list: [{name: a}, {name: b}]"),
      ("apply", "apply-two", "list: [{name: c}]"),
      ("apply", "apply-one", "list: [{name: a}]")],
     [{"name": "a"}, {"name": "c"}],
     {"apply-one": [f"f:list|{NAME_A}", f"f:list|{NAME_A}|f:name"],
      "apply-two": [f"f:list|{NAME_C}", f"f:list|{NAME_C}|f:name"]}),
    ("same_value_no_conflict",
     [("apply", "apply-one", "list: [{name: a, value: 0}]"),
      ("apply", "apply-two", "list: [{name: a, value: 0}]")],
     [{"name": "a", "value": 0}],
     {m: [f"f:list|{NAME_A}", f"f:list|{NAME_A}|f:name", f"f:list|{NAME_A}|f:value"]
      for m in ("apply-one", "apply-two")}),
    ("remove_one_keep_one",
     [("apply", "apply-one", "list: [{name: a}, {name: b}, {name: c}]"),
      ("apply", "apply-two", "list: [{name: c}, {name: d}]"),
      ("apply", "apply-one", "list: [{name: a}]")],
     [{"name": "a"}, {"name": "c"}, {"name": "d"}],
     {"apply-one": [f"f:list|{NAME_A}", f"f:list|{NAME_A}|f:name"],
      "apply-two": [f"f:list|{NAME_C}", f"f:list|{NAME_D}", f"f:list|{NAME_C}|f:name",
                    f"f:list|{NAME_D}|f:name"]}),
    ("applier_stops_applying_field_owned_by_updater",
     [("apply", "apply-one", "list: [{name: a, value: 1}]"),
      ("update", "controller", "list: [{name: a, value: 2}]"),
      ("apply", "apply-one", "list: [{name: a}]")],
     [{"name": "a", "value": 2}],
     {"apply-one": [f"f:list|{NAME_A}", f"f:list|{NAME_A}|f:name"],
      "controller": [f"f:list|{NAME_A}|f:value"]}),
]


@pytest.mark.parametrize(("name", "ops", "expected", "managed"), ASSOCIATIVE_CASES,
                         ids=[c[0] for c in ASSOCIATIVE_CASES])
def test_associative_lists(name: str, ops: list[tuple[str, str, str]], expected: Any,
                           managed: dict[str, list[str]]) -> None:
    f = FM(ASSOCIATIVE_SCHEMA)
    for op, manager, body in ops:
        getattr(f, op)(manager, body)
    assert f.body() == {"list": expected}
    assert f.fields() == {m: P(*paths) for m, paths in managed.items()}


def test_change_value_conflicts_with_other_applier() -> None:
    f = FM(ASSOCIATIVE_SCHEMA)
    f.apply("apply-one", "list: [{name: a, value: 0}]")
    with pytest.raises(StatusError) as err:
        f.apply("apply-two", "list: [{name: a, value: 1}]")
    assert err.value.code == 409 and err.value.reason == "Conflict"
    assert err.value.message == \
        'Apply failed with 1 conflict: conflict with "apply-one": .list[name="a"].value'
    assert err.value.details == {"causes": [{
        "reason": "FieldManagerConflict", "message": 'conflict with "apply-one"',
        "field": '.list[name="a"].value'}]}
    assert f.body() == {"list": [{"name": "a", "value": 0}]}
    f.apply("apply-two", "list: [{name: a, value: 1}]", force=True)
    assert f.body() == {"list": [{"name": "a", "value": 1}]}
    assert f.fields() == {
        "apply-one": P(f"f:list|{NAME_A}", f"f:list|{NAME_A}|f:name"),
        "apply-two": P(f"f:list|{NAME_A}", f"f:list|{NAME_A}|f:name",
                       f"f:list|{NAME_A}|f:value")}


def test_duplicate_keys_in_applied_configuration_are_rejected() -> None:
    f = FM(ASSOCIATIVE_SCHEMA)
    with pytest.raises(StatusError) as err:
        f.apply("a", "list: [{name: a}, {name: a}]")
    assert err.value.code == 400
    assert '.list: duplicate entries for key [name="a"]' in err.value.message


def test_duplicate_keys_in_live_object_are_tolerated() -> None:
    f = FM(ASSOCIATIVE_SCHEMA)
    f.update("writer", "list: [{name: a, value: 1}, {name: a, value: 2}]")
    # Duplicated items are owned as a whole; the list is new, hence its "." entry.
    assert f.fields() == {"writer": P("f:list", f"f:list|{NAME_A}")}
    f.apply("applier", "list: [{name: b}]")
    assert f.body()["list"] == [{"name": "a", "value": 1}, {"name": "a", "value": 2},
                                {"name": "b"}]


# --- atomic lists, granular and atomic maps ---------------------------------------------------


def test_atomic_lists_are_owned_as_a_whole() -> None:
    f = FM(ATOMIC_SCHEMA)
    f.apply("one", "list: [a, b]\nplain: [x]")
    assert f.fields() == {"one": P("f:list", "f:plain")}
    with pytest.raises(StatusError) as err:
        f.apply("two", "list: [a]")
    assert err.value.message == 'Apply failed with 1 conflict: conflict with "one": .list'
    f.apply("two", "list: [a, b]")  # same value: shared, no conflict
    assert f.fields() == {"one": P("f:list", "f:plain"), "two": P("f:list")}
    f.update("editor", "list: [c]\nplain: [x]")
    assert f.fields() == {"one": P("f:plain"), "editor": P("f:list")}


def test_granular_and_atomic_maps() -> None:
    f = FM(MAPS_SCHEMA)
    f.apply("one", "granular: {a: '1'}\natomic: {a: '1'}\nstruct: {a: x}")
    assert f.fields() == {"one": P("f:granular|f:a", "f:atomic", "f:struct")}
    f.apply("two", "granular: {b: '2'}\natomic: {a: '1'}")
    assert f.body()["granular"] == {"a": "1", "b": "2"}
    with pytest.raises(StatusError) as err:
        f.apply("two", "granular: {b: '2'}\natomic: {b: '2'}")
    assert err.value.message == 'Apply failed with 1 conflict: conflict with "one": .atomic'
    f.apply("two", "granular: {b: '2'}\natomic: {b: '2'}", force=True)
    assert f.body()["atomic"] == {"b": "2"}  # atomic maps are replaced, not merged
    assert f.fields() == {"one": P("f:granular|f:a", "f:struct"),
                          "two": P("f:granular|f:b", "f:atomic")}


def test_schemaless_custom_resource_maps_granular_lists_atomic() -> None:
    f = FM(None, api_version="example.com/v1", kind="Widget")
    f.apply("one", "spec: {size: 1, tags: [a, b], nested: {x: 1}}")
    # Deduced maps own each key as a member (the keys are not declared fields).
    assert f.fields() == {"one": P("f:spec", "f:spec|f:size", "f:spec|f:tags",
                                   "f:spec|f:nested", "f:spec|f:nested|f:x")}
    assert orjson.dumps(f.fields()["one"]).decode() == (
        '{"f:spec":{".":{},"f:nested":{".":{},"f:x":{}},"f:size":{},"f:tags":{}}}')
    f.apply("one", "spec: {size: 2, tags: [c]}")
    assert f.body() == {"spec": {"size": 2, "tags": ["c"]}}


# --- apply: create, no-op, removal ------------------------------------------------------------

NGINX = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx
  labels: {app: nginx}
spec:
  replicas: 2
  selector:
    matchLabels: {app: nginx}
  template:
    metadata:
      labels: {app: nginx}
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
        ports:
        - containerPort: 80
"""


def deployment_fm() -> FM:
    return FM(DEPLOYMENT, api_version="apps/v1", kind="Deployment")


def test_apply_creates_with_upstream_fields_v1() -> None:
    f = deployment_fm()
    f.apply("kubectl", NGINX)
    (entry,) = f.entries
    assert entry == {
        "manager": "kubectl", "operation": "Apply", "apiVersion": "apps/v1",
        "time": "2024-05-01T10:00:01Z", "fieldsType": "FieldsV1", "fieldsV1": entry["fieldsV1"]}
    assert orjson.dumps(entry["fieldsV1"]).decode() == (
        '{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:replicas":{},"f:selector":{},'
        '"f:template":{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:containers":'
        '{"k:{\\"name\\":\\"nginx\\"}":{".":{},"f:image":{},"f:name":{},"f:ports":'
        '{"k:{\\"containerPort\\":80,\\"protocol\\":\\"TCP\\"}":{".":{},"f:containerPort":{}}}'
        '}}}}}}')
    assert f.live is not None and f.live["spec"]["replicas"] == 2


def test_reapply_is_a_no_op() -> None:
    f = deployment_fm()
    f.apply("kubectl", NGINX)
    before = copy.deepcopy(f.live)
    f.apply("kubectl", NGINX)
    assert f.live == before  # not even the time moves


def test_apply_removes_fields_it_stopped_applying() -> None:
    f = deployment_fm()
    f.apply("kubectl", NGINX)
    smaller = yaml.safe_load(NGINX)
    del smaller["spec"]["replicas"]
    del smaller["metadata"]["labels"]
    del smaller["spec"]["template"]["spec"]["containers"][0]["ports"]
    f.apply("kubectl", smaller)
    assert f.live is not None
    assert "replicas" not in f.live["spec"] and "labels" not in f.live["metadata"]
    assert f.live["spec"]["template"]["spec"]["containers"] == [
        {"name": "nginx", "image": "nginx:1.25"}]
    assert f.entries[0]["time"] == "2024-05-01T10:00:02Z"


def test_apply_keeps_fields_it_stopped_applying_that_another_manager_owns() -> None:
    f = deployment_fm()
    f.apply("helm", NGINX)
    f.apply("other", {"apiVersion": "apps/v1", "kind": "Deployment",
                      "metadata": {"name": "nginx"}, "spec": {"replicas": 2}})
    smaller = yaml.safe_load(NGINX)
    del smaller["spec"]["replicas"]
    f.apply("helm", smaller)
    assert f.live is not None and f.live["spec"]["replicas"] == 2
    assert f.fields()["other"] == P("f:spec|f:replicas")
    assert "f:replicas" not in f.fields()["helm"]["f:spec"]


def test_apply_keeps_fields_an_updater_changed() -> None:
    f = deployment_fm()
    f.apply("helm", NGINX)
    scaled = copy.deepcopy(f.live)
    assert scaled is not None
    scaled["spec"]["replicas"] = 5
    f.update("kubectl-scale", scaled)
    assert f.fields()["kubectl-scale"] == P("f:spec|f:replicas")
    assert "f:replicas" not in f.fields()["helm"]["f:spec"]  # taken from the applier
    smaller = yaml.safe_load(NGINX)
    del smaller["spec"]["replicas"]
    f.apply("helm", smaller)
    assert f.live is not None and f.live["spec"]["replicas"] == 5


def test_two_appliers_share_a_field_and_the_last_keeps_it() -> None:
    f = deployment_fm()
    f.apply("a", NGINX)
    f.apply("b", NGINX)
    shared = P("f:spec|f:replicas")
    assert all(f.fields()[m]["f:spec"]["f:replicas"] == {} for m in "ab")
    smaller = yaml.safe_load(NGINX)
    del smaller["spec"]["replicas"]
    f.apply("a", smaller)
    assert f.live is not None and f.live["spec"]["replicas"] == 2  # b still applies it
    f.apply("b", smaller)
    assert "replicas" not in f.live["spec"]
    assert shared  # (documented expectation above)


def test_applying_to_a_new_object_without_time_when_it_does_not_change() -> None:
    # upstream (TestNoOpChanges): a no-op apply by a new manager adds its entry, without time.
    f = deployment_fm()
    f.apply("first", NGINX)
    f.apply("second", NGINX)
    second = next(e for e in f.entries if e["manager"] == "second")
    assert "time" not in second


# --- conflicts with Update managers (fieldmanager_test.go) ------------------------------------


def test_update_then_apply_conflicts() -> None:
    # TestUpdateApplyConflict
    f = deployment_fm()
    f.update("fieldmanager_test", NGINX)
    with pytest.raises(StatusError) as err:
        f.apply("fieldmanager_conflict", {
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "nginx"},
            "spec": {"replicas": 101}})
    assert err.value.code == 409
    assert err.value.message == ('Apply failed with 1 conflict: conflict with '
                                 '"fieldmanager_test" using apps/v1: .spec.replicas')
    assert err.value.status()["details"]["causes"] == [{
        "reason": "FieldManagerConflict",
        "message": 'conflict with "fieldmanager_test" using apps/v1',
        "field": ".spec.replicas"}]


def test_conflict_message_lists_managers_sorted() -> None:
    f = deployment_fm()
    f.update("kubectl-client-side-apply", NGINX)
    f.apply("bar", {"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": "nginx", "labels": {"tier": "web"}}})
    with pytest.raises(StatusError) as err:
        f.apply("helm", {"apiVersion": "apps/v1", "kind": "Deployment",
                         "metadata": {"name": "nginx", "labels": {"tier": "db", "app": "x"}},
                         "spec": {"replicas": 3}})
    assert err.value.message == (
        'Apply failed with 3 conflicts: conflicts with "bar":\n'
        "- .metadata.labels.tier\n"
        'conflicts with "kubectl-client-side-apply" using apps/v1:\n'
        "- .metadata.labels.app\n"
        "- .spec.replicas")
    assert [c["field"] for c in err.value.details["causes"]] == [
        ".metadata.labels.tier", ".metadata.labels.app", ".spec.replicas"]


def test_force_takes_ownership_from_an_updater() -> None:
    f = deployment_fm()
    f.update("kubectl-client-side-apply", NGINX)
    f.apply("helm", {"apiVersion": "apps/v1", "kind": "Deployment",
                     "metadata": {"name": "nginx"}, "spec": {"replicas": 3}}, force=True)
    assert f.live is not None and f.live["spec"]["replicas"] == 3
    assert f.fields()["helm"] == P("f:spec|f:replicas")
    assert "f:replicas" not in f.fields()["kubectl-client-side-apply"]["f:spec"]


def test_update_takes_changed_fields_from_other_managers() -> None:
    f = deployment_fm()
    f.apply("helm", NGINX)
    edited = copy.deepcopy(f.live)
    assert edited is not None
    edited["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.26"
    edited["metadata"]["labels"]["extra"] = "yes"
    del edited["spec"]["template"]["spec"]["containers"][0]["ports"]
    f.update("kubectl-edit", edited)
    container = 'k:{"name":"nginx"}'
    assert f.fields()["kubectl-edit"] == P(
        "f:metadata|f:labels|f:extra",
        f"f:spec|f:template|f:spec|f:containers|{container}|f:image")
    helm = f.fields()["helm"]["f:spec"]["f:template"]["f:spec"]["f:containers"][container]
    assert helm == {".": {}, "f:name": {}}  # image taken, removed ports gone


def test_subresource_updates_ignore_request_managed_fields() -> None:
    # TestUpdateViaSubresources
    f = FM(POD, kind="Pod", subresource="scale")
    obj = {"metadata": {"name": "x", "labels": {"a": "b"}, "managedFields": [{
        "manager": "test", "operation": "Apply", "apiVersion": "apps/v1",
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:metadata": {"f:labels": {"f:another_field": {}}}}}]}}
    f.update("fieldmanager_test_subresource", obj)
    assert [(e["manager"], e.get("subresource")) for e in f.entries] == [
        ("fieldmanager_test_subresource", "scale")]
    reset = copy.deepcopy(obj)
    reset["metadata"]["managedFields"] = []
    f.update("fieldmanager_test_subresource", reset)
    assert len(f.entries) == 1


# --- managedFields lifecycle ------------------------------------------------------------------


def test_apply_strips_meta_fields() -> None:
    # TestApplyStripsFields: the identity fields are never owned.
    f = deployment_fm()
    f.update("fieldmanager_test", {
        "metadata": {"name": "b", "namespace": "b", "uid": "b", "generation": 0,
                     "resourceVersion": "b", "creationTimestamp": "2024-01-01T00:00:00Z",
                     "managedFields": [{"manager": "update", "operation": "Apply",
                                        "apiVersion": "apps/v1"}]}})
    assert f.entries == []


def test_apply_does_not_strip_labels() -> None:
    f = FM(POD, kind="Pod")
    f.apply("fieldmanager_test", {"metadata": {"labels": {"a": "b"}}})
    assert f.fields() == {"fieldmanager_test": P("f:metadata|f:labels|f:a")}


@pytest.mark.parametrize("reset", [[], [{}]], ids=["empty_list", "empty_item"])
def test_reset_managed_fields(reset: list[Any]) -> None:
    # TestResetManagedFieldsEmptyList / EmptyItem
    f = FM(POD, kind="Pod")
    f.apply("fieldmanager_test_apply", {"metadata": {"labels": {"a": "b"}}})
    f.update("update_manager", {"metadata": {"labels": {"a": "b"}, "managedFields": reset}})
    assert f.entries == []


def test_no_tracking_after_reset_until_apply() -> None:
    # TestNoTrackManagedFieldsForClientSideApply
    f = deployment_fm()
    body: dict[str, Any] = {"metadata": {"name": "my-deployment", "labels": {"app": "my-app"}},
                            "spec": {"replicas": 100}}
    f.update("test_kubectl_create", body)
    assert f.entries
    stop = copy.deepcopy(body)
    stop["metadata"]["managedFields"] = []
    stop["metadata"]["uid"] = "nonempty"
    f.update("test_kubectl_replace", stop)
    assert f.entries == []
    again = copy.deepcopy(body)
    again["metadata"]["uid"] = "nonempty"
    f.update("test_k_client_side_apply", again)
    assert f.entries == []
    f.apply("test_server_side_apply_without_upgrade", body)
    assert [e["manager"] for e in f.entries] == [
        "test_server_side_apply_without_upgrade", "before-first-apply"]
    assert f.fields()["before-first-apply"] == P(
        "f:metadata|f:labels", "f:metadata|f:labels|f:app", "f:spec|f:replicas")


def test_first_apply_to_untracked_object_conflicts_with_before_first_apply() -> None:
    f = deployment_fm()
    f.live = {"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": "x", "uid": "u"}, "spec": {"replicas": 1}}
    with pytest.raises(StatusError) as err:
        f.apply("helm", {"spec": {"replicas": 2}})
    assert 'conflict with "before-first-apply" using apps/v1: .spec.replicas' in \
        err.value.message


def test_no_op_update_does_not_change_managed_fields() -> None:
    # TestUpdateDoesNotChangeManagedFields / TestApplyDoesNotChangeManagedFields
    f = deployment_fm()
    f.update("fieldmanager_z", NGINX)
    before = copy.deepcopy(f.entries)
    f.update("fieldmanager_z", NGINX)
    assert f.entries == before
    g = deployment_fm()
    initial = yaml.safe_load(NGINX)
    del initial["spec"]["replicas"]
    g.apply("fieldmanager_z", initial)
    g.apply("fieldmanager_b", {"spec": {"replicas": 101}})
    before = copy.deepcopy(g.entries)
    g.apply("fieldmanager_z", initial)
    assert g.entries == before


def test_update_without_changes_by_new_manager_adds_no_entry() -> None:
    f = deployment_fm()
    f.apply("helm", NGINX)
    before = copy.deepcopy(f.entries)
    f.update("kube-controller-manager", copy.deepcopy(f.live) or {})
    assert f.entries == before


def test_update_entry_time_moves_only_on_change() -> None:
    f = deployment_fm()
    f.update("editor", NGINX)
    first = f.entries[0]["time"]
    f.update("editor", NGINX)
    assert f.entries[0]["time"] == first
    changed = yaml.safe_load(NGINX)
    changed["spec"]["replicas"] = 4
    f.update("editor", changed)
    assert f.entries[0]["time"] != first


def test_managed_fields_sorted_like_upstream() -> None:
    # sortEncodedManagedFields: operation, then time, then manager, version, subresource.
    f = deployment_fm()
    f.update("zeta", {"metadata": {"labels": {"z": "1"}}})
    f.apply("beta", {"metadata": {"labels": {"b": "1"}}})
    f.update("alpha", {"metadata": {"labels": {"z": "1", "b": "1", "a": "1"}}})
    f.apply("aardvark", {"metadata": {"labels": {"aa": "1"}}})
    assert [(e["operation"], e["manager"]) for e in f.entries] == [
        ("Apply", "beta"), ("Apply", "aardvark"), ("Update", "zeta"), ("Update", "alpha")]
    assert list(f.entries[0]) == ["manager", "operation", "apiVersion", "time", "fieldsType",
                                  "fieldsV1"]


# --- capping (capmanagers_test.go) ------------------------------------------------------------


def hour(order: int) -> str:
    return f"0001-01-01T{order:02d}:00:00Z"


def entry(name: str, version: str, order: int, *fields: str) -> dict[str, Any]:
    return {"manager": name, "operation": "Update", "apiVersion": version, "time": hour(order),
            "fieldsType": "FieldsV1", "fieldsV1": P(*(f"f:{f}" for f in fields))}


CAP_CASES = [
    ("one version, no ancient changes",
     [entry("update-manager1", "v1", 1, "a"), entry("update-manager2", "v1", 2, "b"),
      entry("update-manager3", "v1", 3, "c"), entry("update-manager4", "v1", 4, "d")],
     [entry("ancient-changes", "v1", 2, "a", "b"), entry("update-manager3", "v1", 3, "c"),
      entry("update-manager4", "v1", 4, "d")]),
    ("one version, one ancient changes",
     [entry("ancient-changes", "v1", 2, "a", "b"), entry("update-manager3", "v1", 3, "c"),
      entry("update-manager4", "v1", 4, "d"), entry("update-manager5", "v1", 5, "e")],
     [entry("ancient-changes", "v1", 3, "a", "b", "c"), entry("update-manager4", "v1", 4, "d"),
      entry("update-manager5", "v1", 5, "e")]),
    ("two versions, no ancient changes",
     [entry("update-manager1", "v1", 1, "a"), entry("update-manager2", "v2", 2, "b"),
      entry("update-manager3", "v1", 3, "c"), entry("update-manager4", "v1", 4, "d"),
      entry("update-manager5", "v1", 5, "e")],
     [entry("update-manager2", "v2", 2, "b"), entry("ancient-changes", "v1", 4, "a", "c", "d"),
      entry("update-manager5", "v1", 5, "e")]),
    ("three versions, one ancient changes",
     [entry("update-manager2", "v2", 2, "b"), entry("ancient-changes", "v1", 4, "a", "c", "d"),
      entry("update-manager5", "v1", 5, "e"), entry("update-manager6", "v3", 6, "f"),
      entry("update-manager7", "v2", 7, "g")],
     [entry("ancient-changes", "v1", 5, "a", "c", "d", "e"),
      entry("update-manager6", "v3", 6, "f"), entry("ancient-changes", "v2", 7, "b", "g")]),
    ("three versions, two ancient changes",
     [entry("ancient-changes", "v1", 5, "a", "c", "d", "e"),
      entry("update-manager6", "v3", 6, "f"), entry("ancient-changes", "v2", 7, "b", "g"),
      entry("update-manager8", "v3", 8, "h")],
     [entry("ancient-changes", "v1", 5, "a", "c", "d", "e"),
      entry("ancient-changes", "v2", 7, "b", "g"), entry("ancient-changes", "v3", 8, "f", "h")]),
    ("four versions, two ancient changes",
     [entry("ancient-changes", "v1", 5, "a", "c", "d", "e"),
      entry("update-manager6", "v3", 6, "f"), entry("ancient-changes", "v2", 7, "b", "g"),
      entry("update-manager8", "v4", 8, "h")],
     [entry("ancient-changes", "v1", 5, "a", "c", "d", "e"),
      entry("update-manager6", "v3", 6, "f"), entry("ancient-changes", "v2", 7, "b", "g"),
      entry("update-manager8", "v4", 8, "h")]),
]


@pytest.mark.parametrize(("name", "given", "expected"), CAP_CASES, ids=[c[0] for c in CAP_CASES])
def test_cap_update_managers(monkeypatch: pytest.MonkeyPatch, name: str,
                             given: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    monkeypatch.setattr(manager_module, "MAX_UPDATE_MANAGERS", 3)
    live: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod",
                            "metadata": {"name": "x", "uid": "u", "managedFields": given}}
    new = copy.deepcopy(live)
    track_update(live, new, manager="no-op-update", schema=POD, api_version="v1",
                 now="2024-01-01T00:00:00Z")
    assert new["metadata"]["managedFields"] == expected
    again = copy.deepcopy(new)
    track_update(new, again, manager="no-op-update", schema=POD, api_version="v1",
                 now="2024-01-01T00:00:00Z")
    assert again == new  # idempotent


def test_cap_merges_oldest_updaters(monkeypatch: pytest.MonkeyPatch) -> None:
    # TestCapManagersManagerMergesEntries
    monkeypatch.setattr(manager_module, "MAX_UPDATE_MANAGERS", 3)
    f = FM(POD, kind="Pod")
    labels: list[str] = []
    for i, label in enumerate(["one", "two", "three", "four"], start=1):
        labels.append(label)
        f.update(f"fieldmanager_test_update_{i}",
                 {"metadata": {"labels": dict.fromkeys(labels, "true")}})
    assert [e["manager"] for e in f.entries] == [
        "ancient-changes", "fieldmanager_test_update_3", "fieldmanager_test_update_4"]
    assert f.fields()["ancient-changes"] == P(
        "f:metadata|f:labels", "f:metadata|f:labels|f:one", "f:metadata|f:labels|f:two")


def test_default_cap_is_ten() -> None:
    f = FM(POD, kind="Pod")
    for i in range(12):
        f.update(f"m{i:02d}", {"metadata": {"labels": {f"l{j}": "x" for j in range(i + 1)}}})
    names = [e["manager"] for e in f.entries]
    assert len(names) == 10 and names[0] == "ancient-changes"


# --- client-side apply upgrade (lastapplied*) -------------------------------------------------

CSA = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: my-deployment
  labels:
    app: my-app
spec:
  replicas: 100
  selector:
    matchLabels:
      app: my-app
  template:
    metadata:
      labels:
        app: my-app
    spec:
      containers:
      - name: my-c
        image: my-image-v1
"""


def with_last_applied(body: str) -> dict[str, Any]:
    obj: dict[str, Any] = yaml.safe_load(body)
    annotation = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS).decode() + "\n"
    obj["metadata"]["annotations"] = {LAST_APPLIED_ANNOTATION: annotation}
    return obj


def test_interop_client_side_then_server_side_apply() -> None:
    # TestInteropForClientSideApplyAndServerSideApply
    f = deployment_fm()
    f.update("kubectl-client-side-apply", with_last_applied(CSA))
    v2 = (CSA.replace("my-app", "my-app-v2").replace("100", "8")
          .replace("my-image-v1", "my-image-v2"))
    f.apply("kubectl", v2)
    assert f.live is not None
    annotation = f.live["metadata"]["annotations"][LAST_APPLIED_ANNOTATION]
    assert "my-image-v2" in annotation and annotation.endswith("}\n")
    assert annotation == orjson.dumps(yaml.safe_load(v2), option=orjson.OPT_SORT_KEYS).decode() \
        + "\n"
    assert f.live["spec"]["replicas"] == 8


def test_invalid_last_applied_gives_conflicts_until_forced() -> None:
    # TestServerSideApplyWithInvalidLastApplied
    f = deployment_fm()
    obj = yaml.safe_load("metadata: {name: my-deployment, labels: {app: my-app-v1}}\n"
                         "spec: {replicas: 1}")
    obj["metadata"]["annotations"] = {LAST_APPLIED_ANNOTATION: "invalid-object"}
    f.update("kubectl-client-side-apply-test", obj)
    applied = "metadata: {name: my-deployment, labels: {app: my-app-v2}}\nspec: {replicas: 100}"
    with pytest.raises(StatusError) as err:
        f.apply("kubectl", applied)
    assert err.value.code == 409
    assert f.live is not None
    assert f.live["metadata"]["annotations"][LAST_APPLIED_ANNOTATION] == "invalid-object"
    f.apply("kubectl", applied, force=True)
    assert "my-app-v2" in f.live["metadata"]["annotations"][LAST_APPLIED_ANNOTATION]


def test_last_applied_upgrade_only_for_kubectl() -> None:
    f = deployment_fm()
    f.update("kubectl-client-side-apply", with_last_applied(CSA))
    with pytest.raises(StatusError):
        f.apply("helm", CSA.replace("100", "8"))


# --- validation of the request ----------------------------------------------------------------


def test_version_check() -> None:
    # TestVersionCheck / TestVersionCheckDoesNotPanic
    f = deployment_fm()
    f.apply("fieldmanager_test", {})
    with pytest.raises(StatusError) as err:
        f.apply("fieldmanager_test", {"apiVersion": "apps/v1beta1"})
    assert err.value.code == 400
    assert err.value.message == "invalid object type: apps/v1beta1, Kind=Deployment"
    with pytest.raises(StatusError) as err:
        server_side_apply(f.live, {}, manager="m", force=False, schema=DEPLOYMENT,
                          api_version="apps/v1", now="2024-01-01T00:00:00Z")
    assert err.value.message == "invalid object type: /, Kind="


def test_apply_fails_with_managed_fields() -> None:
    f = FM(POD, kind="Pod")
    with pytest.raises(StatusError) as err:
        f.apply("fieldmanager_test", {"metadata": {"managedFields": [{"manager": "test"}]}})
    assert err.value.code == 400 and err.value.message == "metadata.managedFields must be nil"


def test_apply_to_status_is_reset_on_the_main_resource() -> None:
    f = deployment_fm()
    f.apply("helm", {**yaml.safe_load(NGINX), "status": {"replicas": 9}})
    assert "f:status" not in f.fields()["helm"]
    assert default_reset_fields(DEPLOYMENT) == (("status",),)
    assert default_reset_fields(DEPLOYMENT, "status") == (("spec",),)
    assert default_reset_fields(None) == ()


# --- Update entries exactly as upstream writes them -------------------------------------------

DEFAULTED = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx
  namespace: default
  labels: {app: nginx}
spec:
  progressDeadlineSeconds: 600
  replicas: 1
  revisionHistoryLimit: 10
  selector:
    matchLabels: {app: nginx}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 25%, maxUnavailable: 25%}
  template:
    metadata:
      labels: {app: nginx}
    spec:
      containers:
      - name: nginx
        image: nginx
        imagePullPolicy: Always
        resources: {}
        terminationMessagePath: /dev/termination-log
        terminationMessagePolicy: File
      dnsPolicy: ClusterFirst
      restartPolicy: Always
      schedulerName: default-scheduler
      securityContext: {}
      terminationGracePeriodSeconds: 30
status: {}
"""


def test_kubectl_create_update_entry_matches_upstream() -> None:
    # `kubectl create deployment nginx --image=nginx` as a 1.35 API server records it: Go
    # structs (spec, strategy, template) exist in the empty object, so only maps, lists and
    # pointers (labels, rollingUpdate, list items) get a "." entry.
    new = yaml.safe_load(DEFAULTED)
    track_update(None, new, manager="kubectl-create", schema=DEPLOYMENT, api_version="apps/v1",
                 now="2024-05-01T10:00:00Z")
    (e,) = new["metadata"]["managedFields"]
    assert orjson.dumps(e).decode() == (
        '{"manager":"kubectl-create","operation":"Update","apiVersion":"apps/v1",'
        '"time":"2024-05-01T10:00:00Z","fieldsType":"FieldsV1","fieldsV1":{'
        '"f:metadata":{"f:labels":{".":{},"f:app":{}}},'
        '"f:spec":{"f:progressDeadlineSeconds":{},"f:replicas":{},"f:revisionHistoryLimit":{},'
        '"f:selector":{},"f:strategy":{"f:rollingUpdate":{".":{},"f:maxSurge":{},'
        '"f:maxUnavailable":{}},"f:type":{}},"f:template":{"f:metadata":{"f:labels":'
        '{".":{},"f:app":{}}},"f:spec":{"f:containers":{"k:{\\"name\\":\\"nginx\\"}":'
        '{".":{},"f:image":{},"f:imagePullPolicy":{},"f:name":{},"f:resources":{},'
        '"f:terminationMessagePath":{},"f:terminationMessagePolicy":{}}},"f:dnsPolicy":{},'
        '"f:restartPolicy":{},"f:schedulerName":{},"f:securityContext":{},'
        '"f:terminationGracePeriodSeconds":{}}}}}}')


def test_controller_status_update_entry_matches_upstream() -> None:
    old = yaml.safe_load(DEFAULTED)
    old["metadata"]["uid"] = "u"
    track_update(None, old, manager="kubectl-create", schema=DEPLOYMENT,
                 api_version="apps/v1", now="2024-05-01T10:00:00Z")
    new = copy.deepcopy(old)
    new["status"] = {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
                     "conditions": [{"type": "Available", "status": "True", "reason": "R"}]}
    track_update(old, new, manager="kube-controller-manager", schema=DEPLOYMENT,
                 api_version="apps/v1", now="2024-05-01T10:00:05Z", subresource="status")
    e = new["metadata"]["managedFields"][1]
    assert (e["manager"], e["subresource"]) == ("kube-controller-manager", "status")
    assert orjson.dumps(e["fieldsV1"]).decode() == (
        '{"f:status":{"f:conditions":{".":{},"k:{\\"type\\":\\"Available\\"}":{".":{},'
        '"f:reason":{},"f:status":{},"f:type":{}}},"f:observedGeneration":{},"f:replicas":{},'
        '"f:updatedReplicas":{}}}')


def test_finalizers_are_a_set() -> None:
    f = FM(POD, kind="Pod")
    f.apply("a", {"metadata": {"finalizers": ["example.com/a"]}})
    f.apply("b", {"metadata": {"finalizers": ["example.com/b"]}})
    assert f.live is not None
    assert f.live["metadata"]["finalizers"] == ["example.com/a", "example.com/b"]
    assert f.fields()["b"] == P('f:metadata|f:finalizers|v:"example.com/b"')
    f.apply("a", {"metadata": {}})
    assert f.live["metadata"]["finalizers"] == ["example.com/b"]


def test_bad_stored_managed_fields_do_not_break_updates() -> None:
    live = yaml.safe_load(DEFAULTED)
    live["metadata"]["uid"] = "u"
    live["metadata"]["managedFields"] = [{"manager": "x", "operation": "Bogus"}]
    new = copy.deepcopy(live)
    new["spec"]["replicas"] = 3
    track_update(live, new, manager="m", schema=DEPLOYMENT, api_version="apps/v1",
                 now="2024-05-01T10:00:00Z")
    assert "managedFields" not in new["metadata"]  # undecodable: treated as untracked


# --- subresources and client-sent managed fields ----------------------------------------------


def test_scale_subresource_update_then_apply_conflicts() -> None:
    # `kubectl scale` writes through /scale; a later apply of replicas conflicts with it.
    f = deployment_fm()
    f.apply("helm", NGINX)
    scaled = copy.deepcopy(f.live)
    assert scaled is not None
    scaled["spec"]["replicas"] = 7
    f.subresource = "scale"
    f.update("kubectl", scaled)
    f.subresource = ""
    scale = next(e for e in f.entries if e.get("subresource") == "scale")
    assert (scale["manager"], scale["operation"], scale["fieldsV1"]) == (
        "kubectl", "Update", P("f:spec|f:replicas"))
    with pytest.raises(StatusError) as err:
        f.apply("helm", NGINX)
    assert err.value.message == ('Apply failed with 1 conflict: conflict with "kubectl" with '
                                 'subresource "scale" using apps/v1: .spec.replicas')


def test_apply_to_status_subresource() -> None:
    f = deployment_fm()
    f.apply("helm", NGINX)
    f.subresource = "status"
    f.apply("my-controller", {"spec": {"replicas": 9}, "status": {"replicas": 2}})
    mine = next(e for e in f.entries if e["manager"] == "my-controller")
    assert (mine["subresource"], mine["fieldsV1"]) == ("status", P("f:status|f:replicas"))


def test_kubectl_run_pod_entry_matches_upstream() -> None:
    pod = yaml.safe_load("""
apiVersion: v1
kind: Pod
metadata: {name: nginx, namespace: default, labels: {run: nginx}}
spec:
  containers:
  - {name: nginx, image: nginx, imagePullPolicy: Always, resources: {},
     terminationMessagePath: /dev/termination-log, terminationMessagePolicy: File}
  dnsPolicy: ClusterFirst
  enableServiceLinks: true
  restartPolicy: Always
  schedulerName: default-scheduler
  securityContext: {}
  terminationGracePeriodSeconds: 30
status: {}
""")
    track_update(None, pod, manager="kubectl-run", schema=POD, api_version="v1",
                 now="2024-05-01T10:00:00Z")
    assert orjson.dumps(pod["metadata"]["managedFields"][0]["fieldsV1"]).decode() == (
        '{"f:metadata":{"f:labels":{".":{},"f:run":{}}},"f:spec":{"f:containers":'
        '{"k:{\\"name\\":\\"nginx\\"}":{".":{},"f:image":{},"f:imagePullPolicy":{},"f:name":{},'
        '"f:resources":{},"f:terminationMessagePath":{},"f:terminationMessagePolicy":{}}},'
        '"f:dnsPolicy":{},"f:enableServiceLinks":{},"f:restartPolicy":{},"f:schedulerName":{},'
        '"f:securityContext":{},"f:terminationGracePeriodSeconds":{}}}')


def test_client_sent_managed_fields_are_canonicalised() -> None:
    old: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod",
                           "metadata": {"name": "p", "uid": "u", "labels": {"a": "1"}}}
    new = copy.deepcopy(old)
    new["metadata"]["managedFields"] = [{
        "manager": "restored", "operation": "Update", "apiVersion": "v1",
        "fieldsType": "FieldsV1", "time": "2024-01-01T00:00:00Z",
        "fieldsV1": {"f:metadata": {"f:labels": {"f:a": {}, ".": {}}}}}]
    track_update(old, new, manager="m", schema=POD, api_version="v1",
                 now="2024-05-01T10:00:00Z")
    (e,) = new["metadata"]["managedFields"]
    assert orjson.dumps(e["fieldsV1"]).decode() == '{"f:metadata":{"f:labels":{".":{},"f:a":{}}}}'
