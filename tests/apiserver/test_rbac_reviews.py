"""The authorization API (SubjectAccessReview, LocalSubjectAccessReview,
SelfSubjectAccessReview, SelfSubjectRulesReview) through a real API server in this process
with static-token users; bob may view namespace `a`."""

from __future__ import annotations

from typing import Any

import httpx
from tests.apiserver.test_rbac_authorizer import (
    ADMIN,
    BOB,
    binding,
    create,
    http,
    namespaces,
    rolebindings,
    server,
    user,
)

__all__ = ["http", "server"]  # the fixtures

AUTHZ = "/apis/authorization.k8s.io/v1"
SAR = f"{AUTHZ}/subjectaccessreviews"
SSAR = f"{AUTHZ}/selfsubjectaccessreviews"
SSRR = f"{AUTHZ}/selfsubjectrulesreviews"


def lsar(namespace: str) -> str:
    return f"{AUTHZ}/namespaces/{namespace}/localsubjectaccessreviews"


def review(kind: str, spec: dict[str, Any], **meta: str) -> dict[str, Any]:
    return {"apiVersion": "authorization.k8s.io/v1", "kind": kind, "metadata": dict(meta),
            "spec": spec}


async def bob_views_a(http: httpx.AsyncClient) -> None:
    await namespaces(http, "a")
    await create(http, rolebindings("a"), binding("bob-view", "ClusterRole", "view",
                                                  user("bob")))


async def test_self_subject_access_review(http: httpx.AsyncClient) -> None:
    await bob_views_a(http)

    async def can_i(attrs: dict[str, Any], key: str = "resourceAttributes") -> dict[str, Any]:
        response = await create(http, SSAR, review("SelfSubjectAccessReview", {key: attrs}),
                                BOB)
        assert response.status_code == 201, response.text
        status: dict[str, Any] = response.json()["status"]
        return status

    assert await can_i({"verb": "list", "resource": "pods", "namespace": "a"}) == {
        "allowed": True, "reason": 'RBAC: allowed by RoleBinding "bob-view/a" of ClusterRole '
                                   '"view" to User "bob"'}
    assert await can_i({"verb": "delete", "resource": "pods", "namespace": "a"}) == {
        "allowed": False}
    assert await can_i({"verb": "list", "resource": "pods", "namespace": "b"}) == {
        "allowed": False}
    assert (await can_i({"verb": "get", "path": "/healthz"}, "nonResourceAttributes")
            )["allowed"] is True
    assert (await can_i({"verb": "get", "path": "/metrics"}, "nonResourceAttributes")
            )["allowed"] is False


async def test_subject_access_review_asks_about_the_named_subject(
        http: httpx.AsyncClient) -> None:
    await bob_views_a(http)
    spec = {"user": "bob", "resourceAttributes": {"verb": "get", "resource": "pods",
                                                  "namespace": "a", "name": "p"}}
    response = await create(http, SAR, review("SubjectAccessReview", spec))
    assert response.status_code == 201, response.text
    assert response.json()["status"]["allowed"] is True
    # The groups are those given: system:authenticated is not added.
    spec = {"user": "bob", "resourceAttributes": {"verb": "create", "group":
                                                  "authorization.k8s.io",
                                                  "resource": "selfsubjectaccessreviews"}}
    response = await create(http, SAR, review("SubjectAccessReview", spec))
    assert response.json()["status"] == {"allowed": False}
    spec["groups"] = ["system:authenticated"]
    response = await create(http, SAR, review("SubjectAccessReview", spec))
    assert response.json()["status"]["allowed"] is True
    # Creating one is a privilege: bob may not ask about others.
    refused = await create(http, SAR, review("SubjectAccessReview", spec), BOB)
    assert refused.status_code == 403


async def test_subject_access_review_validation(http: httpx.AsyncClient) -> None:
    cases = [
        ({"user": "x"}, "spec.resourceAttributes: Invalid value: \"null\": exactly one of "
                        "nonResourceAttributes or resourceAttributes must be specified"),
        ({"resourceAttributes": {"verb": "get"}}, 'spec.user: Invalid value: "": at least one '
                                                  "of user or group must be specified"),
    ]
    for spec, message in cases:
        response = await create(http, SAR, review("SubjectAccessReview", spec))
        assert response.status_code == 422, response.text
        assert response.json()["message"] == \
            f'SubjectAccessReview.authorization.k8s.io "" is invalid: {message}'
    both = await create(http, SAR, review("SubjectAccessReview", {
        "user": "x", "resourceAttributes": {"verb": "get"},
        "nonResourceAttributes": {"verb": "get", "path": "/"}}))
    assert both.status_code == 422
    assert "cannot be specified in combination with resourceAttributes" in \
        both.json()["message"]
    named = await create(http, SAR, review("SubjectAccessReview", {
        "user": "x", "resourceAttributes": {"verb": "get"}}, name="n"))
    assert named.status_code == 422
    assert "metadata: Invalid value" in named.json()["message"]
    assert named.json()["message"].endswith(": must be empty")


async def test_local_subject_access_review(http: httpx.AsyncClient) -> None:
    await bob_views_a(http)
    spec = {"user": "bob", "resourceAttributes": {"verb": "list", "resource": "pods",
                                                  "namespace": "a"}}
    response = await create(http, lsar("a"), review("LocalSubjectAccessReview", spec))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["metadata"]["namespace"] == "a"
    assert body["status"]["allowed"] is True
    mismatched = await create(http, lsar("b"), review("LocalSubjectAccessReview", spec))
    assert mismatched.status_code == 422
    assert mismatched.json()["message"] == (
        'LocalSubjectAccessReview.authorization.k8s.io "" is invalid: '
        'spec.resourceAttributes.namespace: Invalid value: "a": must match metadata.namespace')
    other = await create(http, lsar("b"), review("LocalSubjectAccessReview", spec,
                                                 namespace="a"))
    assert other.status_code == 400
    assert other.json()["message"] == ("the namespace of the provided object does not match "
                                       "the namespace sent on the request")
    path_review = await create(http, lsar("a"), review("LocalSubjectAccessReview", {
        "user": "bob", "nonResourceAttributes": {"verb": "get", "path": "/"}}))
    assert path_review.status_code == 422
    assert "disallowed on this kind of request" in path_review.json()["message"]


async def test_self_subject_rules_review(http: httpx.AsyncClient) -> None:
    await bob_views_a(http)
    response = await create(http, SSRR, review("SelfSubjectRulesReview", {"namespace": "a"}),
                            BOB)
    assert response.status_code == 201, response.text
    status = response.json()["status"]
    assert status["incomplete"] is False
    assert "evaluationError" not in status
    rules = status["resourceRules"]
    assert {"verbs": ["create"], "apiGroups": ["authorization.k8s.io"],
            "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]} in rules
    pods = [r for r in rules if "pods" in r.get("resources", []) and "" in r["apiGroups"]]
    assert pods and all(set(r["verbs"]) <= {"get", "list", "watch"} for r in pods)
    assert {"verbs": ["get"], "nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version",
                                                  "/version/"]} in status["nonResourceRules"]
    elsewhere = await create(http, SSRR, review("SelfSubjectRulesReview",
                                                {"namespace": "b"}), BOB)
    assert not [r for r in elsewhere.json()["status"]["resourceRules"]
                if "pods" in r.get("resources", [])]
    missing = await create(http, SSRR, review("SelfSubjectRulesReview", {}), BOB)
    assert missing.status_code == 400
    assert missing.json()["message"] == "no namespace on request"


async def test_rules_review_reports_unresolved_roles(http: httpx.AsyncClient) -> None:
    await namespaces(http, "a")
    await create(http, rolebindings("a"), binding("dangling", "ClusterRole", "nope",
                                                  user("bob")))
    response = await create(http, SSRR, review("SelfSubjectRulesReview", {"namespace": "a"}),
                            BOB)
    assert response.json()["status"]["evaluationError"] == \
        'clusterrole.rbac.authorization.k8s.io "nope" not found'
    admin = await create(http, SSRR, review("SelfSubjectRulesReview", {"namespace": "a"}),
                         ADMIN)
    assert {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]} in \
        admin.json()["status"]["resourceRules"]
