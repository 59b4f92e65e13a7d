"""Label and field selectors: parsing, canonical strings, matching, field sets, validation.

Expected strings and messages are upstream's (k8s.io/apimachinery labels and fields
packages, the registry strategies and the field label conversion funcs).
"""

from __future__ import annotations

from typing import Any

import pytest

from kybernetes.api.errors import StatusError
from kybernetes.api.selectors import (
    FieldRequirement,
    FieldSelector,
    LabelSelector,
    Requirement,
    escape_field_value,
    field_set,
    label_selector_from_dict,
    label_selector_from_set,
    parse_field_selector,
    parse_label_selector,
    validate_field_selector,
)

KEY_NAME_ERR = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
    "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
    "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
VALUE_ERR = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)

# --------------------------------------------------------------------------------------
# Label selectors: parsing and canonical strings
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "canonical", "requirements"), [
    ("", "", ()),
    ("   ", "", ()),
    ("a=b", "a=b", (Requirement("a", "=", ("b",)),)),
    ("a==b", "a==b", (Requirement("a", "==", ("b",)),)),
    ("a!=b", "a!=b", (Requirement("a", "!=", ("b",)),)),
    ("a in (x,y)", "a in (x,y)", (Requirement("a", "in", ("x", "y")),)),
    ("a  in  ( y , x , y )", "a in (x,y)", (Requirement("a", "in", ("x", "y")),)),
    ("a notin (x)", "a notin (x)", (Requirement("a", "notin", ("x",)),)),
    ("a", "a", (Requirement("a", "exists"),)),
    ("!a", "!a", (Requirement("a", "!"),)),
    (" ! a ", "!a", (Requirement("a", "!"),)),
    ("a>1", "a>1", (Requirement("a", "gt", ("1",)),)),
    ("a<5", "a<5", (Requirement("a", "lt", ("5",)),)),
    ("a=", "a=", (Requirement("a", "=", ("",)),)),
    ("a=,b", "a=,b", (Requirement("a", "=", ("",)), Requirement("b", "exists"))),
    # requirements come out sorted by key
    ("z=1,a=2,m", "a=2,m,z=1", None),
    ("x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()", None),
    ("x in (,a)", "x in (,a)", None),
    ("x in (a,)", "x in (,a)", None),
    # keywords are plain identifiers where a value or key is expected
    ("in in (in)", "in in (in)", (Requirement("in", "in", ("in",)),)),
    ("notin=in", "notin=in", (Requirement("notin", "=", ("in",)),)),
    ("example.com/app=web", "example.com/app=web", None),
    ("a=b,\tc!=d\n", "a=b,c!=d", None),
])
def test_parse_label_selector(text: str, canonical: str,
                              requirements: tuple[Requirement, ...] | None) -> None:
    sel = parse_label_selector(text)
    assert str(sel) == canonical
    if requirements is not None:
        assert sel.requirements == requirements
    assert sel.empty == (canonical == "")
    # the canonical string parses back to the same selector
    assert parse_label_selector(canonical) == sel


@pytest.mark.parametrize(("text", "labels", "expected"), [
    ("", {}, True),
    ("", {"a": "b"}, True),
    ("a=b", {"a": "b"}, True),
    ("a=b", {"a": "c"}, False),
    ("a=b", {}, False),
    ("a==b", {"a": "b", "x": "y"}, True),
    ("a!=b", {"a": "c"}, True),
    ("a!=b", {}, True),
    ("a!=b", {"a": "b"}, False),
    ("a=", {"a": ""}, True),
    ("a=", {}, False),
    ("a in (x,y)", {"a": "y"}, True),
    ("a in (x,y)", {"a": "z"}, False),
    ("a in (x,y)", {}, False),
    ("a in (x)", {"a": "x"}, True),
    ("a notin (x,y)", {"a": "z"}, True),
    ("a notin (x,y)", {}, True),
    ("a notin (x,y)", {"a": "x"}, False),
    ("a notin (x)", {"a": "x"}, False),
    ("a", {"a": ""}, True),
    ("a", {"b": "a"}, False),
    ("!a", {"b": "c"}, True),
    ("!a", {"a": ""}, False),
    ("a>1", {"a": "2"}, True),
    ("a>1", {"a": "1"}, False),
    ("a>1", {"a": "x"}, False),
    ("a>1", {}, False),
    ("a<5", {"a": "4"}, True),
    ("a<5", {"a": "-7"}, True),
    ("a<5", {"a": "5"}, False),
    ("a<5", {"a": "99999999999999999999"}, False),  # not an int64
    ("a=b,c in (d,e),!f", {"a": "b", "c": "e"}, True),
    ("a=b,c in (d,e),!f", {"a": "b", "c": "e", "f": "1"}, False),
    ("a=b,c in (d,e),!f", {"a": "b", "c": "x"}, False),
])
def test_label_selector_matches(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_label_selector(text).matches(labels) is expected


@pytest.mark.parametrize(("text", "message"), [
    ("a in", "unable to parse requirement: found '' expected: '('"),
    ("a in x", "unable to parse requirement: found 'x' expected: '('"),
    ("a in (x", "unable to parse requirement: found '', expected: ',' or ')'"),
    ("a in (x y)", "unable to parse requirement: found 'y', expected: ',' or ')'"),
    ("a in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier"),
    ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
    ("a=(", "unable to parse requirement: found '(', expected: identifier"),
    ("a>=1", "unable to parse requirement: found '=', expected: identifier"),
    ("!", "unable to parse requirement: found '', expected: identifier"),
    ("!!a", "unable to parse requirement: found '!', expected: identifier"),
    ("a=b c", "found 'c', expected: ',' or 'end of string'"),
    ("!a=b", "found '=', expected: ',' or 'end of string'"),
    ("a,", "found '', expected: identifier after ','"),
    ("a,,b", "found ',', expected: identifier after ','"),
    (",", "found ',', expected: !, identifier, or 'end of string'"),
    ("=a", "found '=', expected: !, identifier, or 'end of string'"),
    ("-a", f'unable to parse requirement: <nil>: Invalid value: "-a": {KEY_NAME_ERR}'),
    ("a=-b", f'unable to parse requirement: values[0][a]: Invalid value: "-b": {VALUE_ERR}'),
    # values are sorted before validation, so "b-" is values[0]
    ("a in (ok,b-)",
     f'unable to parse requirement: values[0][a]: Invalid value: "b-": {VALUE_ERR}'),
    ("a=" + "x" * 64,
     f'unable to parse requirement: values[0][a]: Invalid value: "{"x" * 64}": '
     "must be no more than 63 bytes"),
    ("a>x", 'unable to parse requirement: values[0]: Invalid value: "x": '
            "for 'Gt', 'Lt' operators, the value must be an integer"),
    ("a<1.5", 'unable to parse requirement: values[0]: Invalid value: "1.5": '
              "for 'Gt', 'Lt' operators, the value must be an integer"),
    ("/a", 'unable to parse requirement: <nil>: Invalid value: "/a": '
           "prefix part must be non-empty"),
    ("Bad_Prefix/a", 'unable to parse requirement: <nil>: Invalid value: "Bad_Prefix/a": '
                     "prefix part a lowercase RFC 1123 subdomain must consist of lower case "
                     "alphanumeric characters, '-' or '.', and must start and end with an "
                     "alphanumeric character (e.g. 'example.com', regex used for validation is "
                     "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"),
])
def test_parse_label_selector_errors(text: str, message: str) -> None:
    with pytest.raises(StatusError) as info:
        parse_label_selector(text)
    assert info.value.code == 400
    assert info.value.reason == "BadRequest"
    assert info.value.message == message


def test_label_key_with_two_slashes_and_long_names() -> None:
    with pytest.raises(StatusError) as info:
        parse_label_selector("a/b/c=d")
    assert info.value.message.startswith(
        'unable to parse requirement: <nil>: Invalid value: "a/b/c": a valid label key must')
    with pytest.raises(StatusError) as info:
        parse_label_selector("n" * 64)
    assert "name part must be no more than 63 bytes" in info.value.message
    # 63 characters is fine, as is a 253-character DNS prefix
    assert parse_label_selector("n" * 63).matches({"n" * 63: "v"})


def test_gt_lt_value_also_validated_as_label_value() -> None:
    # ParseInt accepts "-1", but "-1" is not a valid label value.
    with pytest.raises(StatusError) as info:
        parse_label_selector("a>-1")
    assert info.value.message == (
        f'unable to parse requirement: values[0][a]: Invalid value: "-1": {VALUE_ERR}')


# --------------------------------------------------------------------------------------
# Label selectors from metav1.LabelSelector dicts and sets
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("selector", "canonical", "labels", "expected"), [
    (None, "", {}, False),
    (None, "", {"a": "b"}, False),
    ({}, "", {}, True),
    ({"matchLabels": {}, "matchExpressions": []}, "", {"a": "b"}, True),
    ({"matchLabels": None}, "", {"a": "b"}, True),
    ({"matchLabels": {"app": "web"}}, "app=web", {"app": "web"}, True),
    ({"matchLabels": {"tier": "fe", "app": "web"}}, "app=web,tier=fe", {"app": "web"}, False),
    ({"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]}]},
     "env in (dev,prod)", {"env": "dev"}, True),
    ({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]},
     "env notin (prod)", {}, True),
    ({"matchExpressions": [{"key": "env", "operator": "Exists"}]}, "env", {"env": "x"}, True),
    ({"matchExpressions": [{"key": "env", "operator": "DoesNotExist", "values": []}]},
     "!env", {"env": "x"}, False),
    ({"matchLabels": {"z": "1"},
      "matchExpressions": [{"key": "a", "operator": "Exists"}]}, "a,z=1", {"a": "", "z": "1"},
     True),
])
def test_label_selector_from_dict(selector: dict[str, Any] | None, canonical: str,
                                  labels: dict[str, str], expected: bool) -> None:
    sel = label_selector_from_dict(selector)
    assert str(sel) == canonical
    assert sel.matches(labels) is expected
    assert sel.empty == (selector is not None and canonical == "")
    assert sel.matches_nothing == (selector is None)


@pytest.mark.parametrize(("selector", "message"), [
    ({"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["b"]}]},
     '"Equals" is not a valid label selector operator'),
    ({"matchExpressions": [{"key": "a", "operator": "in", "values": ["b"]}]},
     '"in" is not a valid label selector operator'),
    ({"matchExpressions": [{"key": "a", "operator": "In"}]},
     "values: Invalid value: []string(nil): for 'in', 'notin' operators, "
     "values set can't be empty"),
    ({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x", "y"]}]},
     'values: Invalid value: []string{"x", "y"}: '
     "values set must be empty for exists and does not exist"),
    ({"matchLabels": {"a": "b c"}}, f'values[0][a]: Invalid value: "b c": {VALUE_ERR}'),
    ({"matchLabels": {"-a": "b"}}, f'key: Invalid value: "-a": {KEY_NAME_ERR}'),
    ({"matchLabels": {"-a": "b?"}},
     f'[key: Invalid value: "-a": {KEY_NAME_ERR}, '
     f'values[0][-a]: Invalid value: "b?": {VALUE_ERR}]'),
])
def test_label_selector_from_dict_errors(selector: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as info:
        label_selector_from_dict(selector)
    assert str(info.value) == message


def test_label_selector_from_set_and_constants() -> None:
    assert label_selector_from_set(None).empty
    assert label_selector_from_set({}).matches({"x": "y"})
    sel = label_selector_from_set({"b": "2", "a": "1"})
    assert str(sel) == "a=1,b=2"
    assert sel.matches({"a": "1", "b": "2", "c": "3"})
    assert not sel.matches({"a": "1"})
    assert LabelSelector.everything().matches({})
    assert LabelSelector.everything().empty
    assert not LabelSelector.nothing().matches({})
    assert not LabelSelector.nothing().empty
    assert str(LabelSelector.nothing()) == ""


@pytest.mark.parametrize(("text", "key", "value"), [
    ("a=b", "a", "b"),
    ("a==b", "a", "b"),
    ("a in (b)", "a", "b"),
    ("a in (b,c)", "a", None),
    ("a!=b", "a", None),
    ("a=b", "c", None),
    ("x,a=b", "a", "b"),
])
def test_label_requires_exact_match(text: str, key: str, value: str | None) -> None:
    assert parse_label_selector(text).requires_exact_match(key) == value


def test_selectors_are_immutable_and_hashable() -> None:
    sel = parse_label_selector("a=b")
    with pytest.raises(AttributeError):
        sel._nothing = True
    assert hash(sel) == hash(parse_label_selector(" a = b "))
    fsel = parse_field_selector("a=b")
    with pytest.raises(AttributeError):
        fsel._requirements = ()
    assert {fsel, parse_field_selector("a==b")} == {fsel}


# --------------------------------------------------------------------------------------
# Field selectors
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "canonical", "requirements"), [
    ("", "", []),
    (",", "", []),
    ("a=b", "a=b", [("a", "=", "b")]),
    ("a==b", "a=b", [("a", "=", "b")]),
    ("a!=b", "a!=b", [("a", "!=", "b")]),
    ("a=", "a=", [("a", "=", "")]),
    # terms sorted as raw strings
    ("b==c,a!=d", "a!=d,b=c", [("a", "!=", "d"), ("b", "=", "c")]),
    ("spec.nodeName=,status.phase!=Running",
     "spec.nodeName=,status.phase!=Running",
     [("spec.nodeName", "=", ""), ("status.phase", "!=", "Running")]),
    (r"x=a\,b\=c\\d", r"x=a\,b\=c\\d", [("x", "=", "a,b=c\\d")]),
    (",,a=b,", "a=b", [("a", "=", "b")]),
    ("a = b", "a = b", [("a ", "=", " b")]),  # no trimming, as upstream
])
def test_parse_field_selector(text: str, canonical: str,
                              requirements: list[tuple[str, str, str]]) -> None:
    sel = parse_field_selector(text)
    assert str(sel) == canonical
    assert sel.requirements == [FieldRequirement(*r) for r in requirements]
    assert sel.empty == (not requirements)
    assert parse_field_selector(canonical) == sel


@pytest.mark.parametrize(("text", "fields", "expected"), [
    ("", {}, True),
    ("a=b", {"a": "b"}, True),
    ("a=b", {"a": "c"}, False),
    ("a=b", {}, False),
    ("a=", {}, True),  # a missing field reads as ""
    ("a!=b", {}, True),
    ("a!=b", {"a": "b"}, False),
    ("a!=", {}, False),
    ("a=b,c!=d", {"a": "b", "c": "e"}, True),
    ("a=b,c!=d", {"a": "b", "c": "d"}, False),
    (r"a=x\,y", {"a": "x,y"}, True),
])
def test_field_selector_matches(text: str, fields: dict[str, str], expected: bool) -> None:
    assert parse_field_selector(text).matches(fields) is expected


@pytest.mark.parametrize(("text", "message"), [
    ("abc", "invalid selector: 'abc'; can't understand 'abc'"),
    ("a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"),
    ("a=b=c", "invalid field selector: unescaped character in value: 61"),
    ("a=b\\", "invalid field selector: invalid escape sequence: \\"),
    (r"a=\x", "invalid field selector: invalid escape sequence: \\x"),
])
def test_parse_field_selector_errors(text: str, message: str) -> None:
    with pytest.raises(StatusError) as info:
        parse_field_selector(text)
    assert info.value.code == 400
    assert info.value.message == message


def test_field_escaping_and_exact_match() -> None:
    assert escape_field_value("a,b=c\\d") == r"a\,b\=c\\d"
    sel = FieldSelector([("x", "==", "a,b"), ("y", "!=", "c")])
    assert str(sel) == r"x=a\,b,y!=c"
    assert sel.requires_exact_match("x") == "a,b"
    assert sel.requires_exact_match("y") is None
    assert FieldSelector.everything().empty


# --------------------------------------------------------------------------------------
# Field sets (GetAttrs) and field label validation (conversion funcs)
# --------------------------------------------------------------------------------------

POD = {
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {"nodeName": "n1", "restartPolicy": "Always", "schedulerName": "default-scheduler",
             "serviceAccountName": "sa", "hostNetwork": True},
    "status": {"phase": "Running", "podIPs": [{"ip": "10.42.0.5"}],
               "nominatedNodeName": "n2"},
}
EVENT = {
    "metadata": {"name": "web.1", "namespace": "default"},
    "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web", "uid": "u1",
                       "apiVersion": "v1", "resourceVersion": "7", "fieldPath": "spec"},
    "reason": "Scheduled", "type": "Normal", "reportingComponent": "default-scheduler",
    "source": {},
}


@pytest.mark.parametrize(("resource", "obj", "expected"), [
    ("pods", POD, {
        "metadata.name": "web", "metadata.namespace": "default", "spec.nodeName": "n1",
        "spec.restartPolicy": "Always", "spec.schedulerName": "default-scheduler",
        "spec.serviceAccountName": "sa", "spec.hostNetwork": "true", "status.phase": "Running",
        "status.podIP": "10.42.0.5", "status.nominatedNodeName": "n2"}),
    ("pods", {"metadata": {"name": "p"}, "spec": {"serviceAccount": "old"}}, {
        "metadata.name": "p", "metadata.namespace": "", "spec.nodeName": "",
        "spec.restartPolicy": "", "spec.schedulerName": "", "spec.serviceAccountName": "old",
        "spec.hostNetwork": "false", "status.phase": "", "status.podIP": "",
        "status.nominatedNodeName": ""}),
    ("events", EVENT, {
        "metadata.name": "web.1", "metadata.namespace": "default",
        "involvedObject.kind": "Pod", "involvedObject.namespace": "default",
        "involvedObject.name": "web", "involvedObject.uid": "u1",
        "involvedObject.apiVersion": "v1", "involvedObject.resourceVersion": "7",
        "involvedObject.fieldPath": "spec", "reason": "Scheduled",
        "reportingComponent": "default-scheduler", "source": "default-scheduler",
        "type": "Normal"}),
    ("secrets", {"metadata": {"name": "s", "namespace": "ns"}, "type": "Opaque"},
     {"metadata.name": "s", "metadata.namespace": "ns", "type": "Opaque"}),
    ("nodes", {"metadata": {"name": "n1"}, "spec": {"unschedulable": True}},
     {"metadata.name": "n1", "spec.unschedulable": "true"}),
    ("nodes", {"metadata": {"name": "n1"}}, {"metadata.name": "n1", "spec.unschedulable": "false"}),
    ("namespaces", {"metadata": {"name": "kube-system"}, "status": {"phase": "Active"}},
     {"metadata.name": "kube-system", "status.phase": "Active", "name": "kube-system"}),
    ("replicasets", {"metadata": {"name": "r", "namespace": "d"}, "status": {"replicas": 3}},
     {"metadata.name": "r", "metadata.namespace": "d", "status.replicas": "3"}),
    ("replicationcontrollers", {"metadata": {"name": "r", "namespace": "d"}},
     {"metadata.name": "r", "metadata.namespace": "d", "status.replicas": "0"}),
    ("jobs", {"metadata": {"name": "j", "namespace": "d"}, "status": {"succeeded": 1}},
     {"metadata.name": "j", "metadata.namespace": "d", "status.successful": "1"}),
    ("services", {"metadata": {"name": "k", "namespace": "default"},
                  "spec": {"clusterIP": "10.43.0.1", "type": "ClusterIP"}},
     {"metadata.name": "k", "metadata.namespace": "default", "spec.clusterIP": "10.43.0.1",
      "spec.type": "ClusterIP"}),
    ("persistentvolumes", {"metadata": {"name": "pv1"}},
     {"metadata.name": "pv1", "name": "pv1"}),
    ("persistentvolumeclaims", {"metadata": {"name": "c", "namespace": "d"}},
     {"metadata.name": "c", "metadata.namespace": "d", "name": "c"}),
    ("certificatesigningrequests", {"metadata": {"name": "csr"},
                                    "spec": {"signerName": "kubernetes.io/kubelet-serving"}},
     {"metadata.name": "csr", "spec.signerName": "kubernetes.io/kubelet-serving"}),
    ("configmaps", {"metadata": {"name": "c", "namespace": "d"}},
     {"metadata.name": "c", "metadata.namespace": "d"}),
    ("clusterroles", {"metadata": {"name": "admin"}}, {"metadata.name": "admin"}),
])
def test_field_set(resource: str, obj: dict[str, Any], expected: dict[str, str]) -> None:
    assert field_set(resource, obj) == expected


def test_field_set_event_shapes_and_scope_override() -> None:
    # An events.k8s.io/v1 shaped Event yields the same (core-named) fields.
    v1_event = {
        "metadata": {"name": "e", "namespace": "d"},
        "regarding": {"kind": "Node", "name": "n1"},
        "reportingController": "kubelet", "deprecatedSource": {"component": "kubelet-old"},
        "reason": "Ready", "type": "Normal",
    }
    fields = field_set("events", v1_event, group="events.k8s.io")
    assert fields["involvedObject.kind"] == "Node"
    assert fields["reportingComponent"] == "kubelet"
    assert fields["source"] == "kubelet-old"
    # pod IP falls back from podIP to podIPs[0]
    assert field_set("pods", {"status": {"podIP": "1.2.3.4"}})["status.podIP"] == "1.2.3.4"
    # an unknown group for a known plural gets the default fields
    assert field_set("jobs", {"metadata": {"name": "j"}}, group="example.com",
                     namespaced=True) == {"metadata.name": "j", "metadata.namespace": ""}
    assert field_set("widgets", {"metadata": {"name": "w", "namespace": "d"}},
                     namespaced=False) == {"metadata.name": "w"}


@pytest.mark.parametrize(("resource", "group", "text"), [
    ("pods", None, "spec.nodeName=n1,status.phase!=Succeeded,status.phase!=Failed"),
    ("pods", None, "metadata.namespace=default,spec.hostNetwork=true,status.podIPs="),
    ("events", None, "involvedObject.kind=Pod,reason=Scheduled,reportingComponent=x"),
    ("secrets", None, "type=kubernetes.io/service-account-token"),
    ("nodes", None, "metadata.name=n1,spec.unschedulable=false"),
    ("namespaces", None, "status.phase=Active"),
    ("services", None, "spec.clusterIP!=None,spec.type=NodePort"),
    ("replicationcontrollers", None, "status.replicas=0"),
    ("jobs", None, "status.successful=1"),
    ("certificatesigningrequests", None, "spec.signerName=kubernetes.io/kube-apiserver-client"),
    ("configmaps", None, "metadata.name=c,metadata.namespace=d"),
    ("widgets", "example.com", "metadata.name=w"),
    ("pods", None, ""),
])
def test_validate_field_selector_accepts(resource: str, group: str | None, text: str) -> None:
    sel = parse_field_selector(text)
    assert validate_field_selector(resource, sel, group=group) == sel


@pytest.mark.parametrize(("resource", "group", "text", "message"), [
    ("pods", None, "spec.foo=x", "field label not supported: spec.foo"),
    ("pods", None, "status.podIP=1,spec.containers=x",
     "field label not supported: spec.containers"),
    ("nodes", None, "metadata.namespace=x", "field label not supported: metadata.namespace"),
    ("namespaces", None, "name=x", "field label not supported: name"),
    ("secrets", None, "data=x", "field label not supported: data"),
    ("events", None, "regarding.kind=Pod", "field label not supported: regarding.kind"),
    ("events", "events.k8s.io", "involvedObject.kind=Pod",
     "field label not supported: involvedObject.kind"),
    ("jobs", None, "status.succeeded=1",
     'field label "status.succeeded" not supported for batchv1.Job'),
    ("configmaps", None, "data.x=y",
     '"data.x" is not a known field selector: only "metadata.name", "metadata.namespace"'),
    # apps/v1 registers no conversion: status.replicas is in the field set but not accepted
    ("replicasets", None, "status.replicas=1",
     '"status.replicas" is not a known field selector: only "metadata.name", '
     '"metadata.namespace"'),
    ("persistentvolumes", None, "name=pv1",
     '"name" is not a known field selector: only "metadata.name", "metadata.namespace"'),
    ("resourceslices", None, "spec.pool=x",
     "field label not supported for resource.k8s.io/v1, Kind=ResourceSlice: spec.pool"),
])
def test_validate_field_selector_rejects(resource: str, group: str | None, text: str,
                                         message: str) -> None:
    with pytest.raises(StatusError) as info:
        validate_field_selector(resource, parse_field_selector(text), group=group)
    assert info.value.code == 400
    assert info.value.reason == "BadRequest"
    assert info.value.message == message


@pytest.mark.parametrize(("resource", "group", "text", "converted"), [
    ("pods", None, "spec.host=n1", "spec.nodeName=n1"),
    ("events", "events.k8s.io", "regarding.kind=Pod,reportingController=kubelet",
     "involvedObject.kind=Pod,reportingComponent=kubelet"),
])
def test_validate_field_selector_converts_labels(resource: str, group: str | None, text: str,
                                                 converted: str) -> None:
    sel = validate_field_selector(resource, parse_field_selector(text), group=group)
    assert str(sel) == converted


def test_end_to_end_pod_filtering() -> None:
    sel = validate_field_selector("pods", parse_field_selector("spec.host=n1,status.phase=Running"))
    assert sel.matches(field_set("pods", POD))
    other = {**POD, "spec": {**POD["spec"], "nodeName": "n9"}}  # type: ignore[dict-item]
    assert not sel.matches(field_set("pods", other))
    labels = parse_label_selector("app in (web,api),!canary")
    assert labels.matches({"app": "web"})
    assert not labels.matches({"app": "web", "canary": "true"})
