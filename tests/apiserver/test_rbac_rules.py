"""RBAC rule evaluation and coverage, as tables (upstream's evaluation_helpers_test.go,
rbac_test.go's rule cases and policy_comparator_test.go)."""

from __future__ import annotations

import pytest

from kybernetes.apiserver.authn.user import UserInfo
from kybernetes.apiserver.authz.attributes import Attributes
from kybernetes.apiserver.authz.policyrule import (
    PolicyRule,
    compact_rules,
    compact_string,
    covers,
    rule_allows,
    rule_from_dict,
)

USER = UserInfo("u", groups=("system:authenticated",))


def resource(verb: str, resource: str, group: str = "", *, subresource: str = "",
             name: str = "", namespace: str = "ns") -> Attributes:
    return Attributes(USER, verb, True, api_group=group, namespace=namespace,
                      resource=resource, subresource=subresource, name=name)


def path(verb: str, url: str) -> Attributes:
    return Attributes(USER, verb, False, path=url)


def rule(verbs: list[str], groups: list[str] | None = None, resources: list[str] | None = None,
         names: list[str] | None = None, urls: list[str] | None = None) -> PolicyRule:
    return rule_from_dict({"verbs": verbs, "apiGroups": groups or [],
                           "resources": resources or [], "resourceNames": names or [],
                           "nonResourceURLs": urls or []})


@pytest.mark.parametrize(("policy", "attrs", "allowed"), [
    # verbs
    (rule(["get"], [""], ["pods"]), resource("get", "pods"), True),
    (rule(["get"], [""], ["pods"]), resource("list", "pods"), False),
    (rule(["*"], [""], ["pods"]), resource("deletecollection", "pods"), True),
    # API groups
    (rule(["get"], [""], ["deployments"]), resource("get", "deployments", "apps"), False),
    (rule(["get"], ["apps"], ["deployments"]), resource("get", "deployments", "apps"), True),
    (rule(["get"], ["*"], ["deployments"]), resource("get", "deployments", "apps"), True),
    # resources and subresources
    (rule(["get"], [""], ["*"]), resource("get", "secrets"), True),
    (rule(["get"], [""], ["*"]), resource("get", "pods", subresource="log"), True),
    (rule(["get"], [""], ["pods"]), resource("get", "pods", subresource="log"), False),
    (rule(["get"], [""], ["pods/log"]), resource("get", "pods", subresource="log"), True),
    (rule(["get"], [""], ["pods/log"]), resource("get", "pods"), False),
    (rule(["get"], [""], ["pods/log"]), resource("get", "pods", subresource="exec"), False),
    # "pods/*" is no wildcard upstream: only "*" and "*/<subresource>" are.
    (rule(["get"], [""], ["pods/*"]), resource("get", "pods", subresource="log"), False),
    (rule(["get"], ["*"], ["*/scale"]), resource("get", "deployments", "apps",
                                                  subresource="scale"), True),
    (rule(["get"], ["*"], ["*/scale"]), resource("get", "deployments", "apps"), False),
    (rule(["get"], ["*"], ["*/scale"]), resource("get", "deployments", "apps",
                                                  subresource="status"), False),
    # resource names
    (rule(["get"], [""], ["configmaps"], ["a"]), resource("get", "configmaps", name="a"), True),
    (rule(["get"], [""], ["configmaps"], ["a"]), resource("get", "configmaps", name="b"), False),
    (rule(["list"], [""], ["configmaps"], ["a"]), resource("list", "configmaps"), False),
    (rule(["get"], [""], ["configmaps"]), resource("get", "configmaps", name="b"), True),
    # non-resource URLs
    (rule(["get"], urls=["/healthz"]), path("get", "/healthz"), True),
    (rule(["get"], urls=["/healthz"]), path("get", "/healthz/etcd"), False),
    (rule(["get"], urls=["/healthz"]), path("post", "/healthz"), False),
    (rule(["get"], urls=["/apis/*"]), path("get", "/apis/apps/v1"), True),
    (rule(["get"], urls=["/apis/*"]), path("get", "/apis"), False),
    (rule(["get"], urls=["/apis*"]), path("get", "/apis"), True),
    (rule(["*"], urls=["*"]), path("delete", "/anything"), True),
    # a resource rule never allows a path, nor a path rule a resource
    (rule(["get"], ["*"], ["*"]), path("get", "/healthz"), False),
    (rule(["get"], urls=["*"]), resource("get", "pods"), False),
])
def test_rule_allows(policy: PolicyRule, attrs: Attributes, allowed: bool) -> None:
    assert rule_allows(attrs, policy) is allowed


@pytest.mark.parametrize(("owner", "servant", "covered"), [
    ([rule(["*"], ["*"], ["*"])], [rule(["get", "delete"], ["apps"], ["deployments"])], True),
    ([rule(["get"], [""], ["pods"])], [rule(["get", "list"], [""], ["pods"])], False),
    ([rule(["get"], [""], ["pods"]), rule(["list"], [""], ["pods"])],
     [rule(["get", "list"], [""], ["pods"])], True),
    ([rule(["get"], ["*"], ["*/scale"])], [rule(["get"], ["apps"], ["deployments/scale"])],
     True),
    ([rule(["get"], ["*"], ["*/scale"])], [rule(["get"], ["apps"], ["deployments"])], False),
    # names: an owner restricted to names covers only those names
    ([rule(["get"], [""], ["secrets"], ["a", "b"])],
     [rule(["get"], [""], ["secrets"], ["a"])], True),
    ([rule(["get"], [""], ["secrets"], ["a"])], [rule(["get"], [""], ["secrets"])], False),
    ([rule(["get"], [""], ["secrets"])], [rule(["get"], [""], ["secrets"], ["z"])], True),
    # URLs: a trailing star covers the paths under it
    ([rule(["get"], urls=["/api/*"])], [rule(["get"], urls=["/api/v1", "/api/v1/x"])], True),
    ([rule(["get"], urls=["/api/*"])], [rule(["get"], urls=["/apis"])], False),
    ([rule(["get"], [""], ["*"])], [rule(["get"], urls=["/healthz"])], False),
])
def test_covers(owner: list[PolicyRule], servant: list[PolicyRule], covered: bool) -> None:
    assert covers(owner, servant)[0] is covered


def test_uncovered_rules_are_the_broken_down_missing_ones() -> None:
    ok, missing = covers([rule(["get"], [""], ["pods"])],
                         [rule(["get", "delete"], ["", "apps"], ["pods"])])
    assert not ok
    assert missing == [rule(["delete"], [""], ["pods"]), rule(["get"], ["apps"], ["pods"]),
                       rule(["delete"], ["apps"], ["pods"])]


def test_missing_rules_are_described_compactly_as_upstream() -> None:
    _, missing = covers([], [rule(["get", "list"], [""], ["nodes"]),
                             rule(["get"], [""], ["secrets"], ["s1"]),
                             rule(["get"], urls=["/metrics"])])
    described = sorted({compact_string(r) for r in compact_rules(missing)})
    assert described == [
        '{APIGroups:[""], Resources:["nodes"], Verbs:["get" "list"]}',
        '{APIGroups:[""], Resources:["secrets"], ResourceNames:["s1"], Verbs:["get"]}',
        '{NonResourceURLs:["/metrics"], Verbs:["get"]}',
    ]


def test_malformed_rules_allow_nothing() -> None:
    for body in (None, "x", {"verbs": "get", "resources": ["pods"]},
                 {"verbs": [1, None], "apiGroups": [""], "resources": ["pods"]}):
        assert not rule_allows(resource("get", "pods"), rule_from_dict(body))
