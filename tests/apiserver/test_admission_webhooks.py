"""Admission webhooks in process: which requests a webhook sees (rules with subresources
and `*`, scope, matchPolicy, object and namespace selectors, matchConditions, the exempt
configuration resources), the checks on a webhook's answer, and the plugins against a
real API server and an HTTPS webhook server of the test's (mutation order and
reinvocation, dry run and sideEffects, matchConditions, failurePolicy on a bad answer)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.apiserver.test_admission_setup import http, namespace, ok, pod, refused, server
from tests.webhook_server import WebhookServer, json_patch, review_response

from kybernetes.api.errors import StatusError
from kybernetes.api.registry import builtin_registry
from kybernetes.apiserver.admission.chain import AdmissionRequest, Operation
from kybernetes.apiserver.admission.webhooks import configurations, matching
from kybernetes.apiserver.admission.webhooks.client import CallError, verify_response
from kybernetes.apiserver.admission.webhooks.configurations import (
    MatchCondition,
    Webhook,
    compile_webhook,
)
from kybernetes.apiserver.admission.webhooks.dispatch import (
    Invocation,
    ValidatingAdmissionWebhook,
)
from kybernetes.apiserver.admission.webhooks.review import View
from kybernetes.apiserver.server import ApiServer

__all__ = ["http", "server"]

REGISTRY = builtin_registry()


def request(resource: str = "pods", *, group: str = "", version: str = "v1",
            operation: Operation = "CREATE", namespace: str = "ns", subresource: str = "",
            obj: dict[str, Any] | None = None, old: dict[str, Any] | None = None
            ) -> AdmissionRequest:
    info = REGISTRY.get(group, version, resource)
    assert info is not None
    return AdmissionRequest(operation, info, namespace, "x", obj if obj is not None else {},
                            old, subresource=subresource)


def hook(**spec: Any) -> Webhook:
    rule = {"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
            "resources": ["pods"]}
    rule.update(spec.pop("rule", {}))
    return compile_webhook({"name": "h.example.com", "rules": [rule], **spec}, "uid/0",
                           mutating=False)


def matches(webhook: Webhook, req: AdmissionRequest) -> bool:
    versions = [v for v in REGISTRY.group_versions().get(req.group, ())
                if REGISTRY.get(req.group, v, req.resource)]
    return matching.matched_version(webhook.match, req, versions) is not None


def labelled(**labels: str) -> dict[str, Any]:
    return {"metadata": {"labels": labels}}


@pytest.mark.parametrize(("resources", "subresource", "expected"), [
    (["pods"], "", True), (["pods"], "status", False), (["pods/status"], "status", True),
    (["pods/status"], "", False), (["pods/*"], "status", True), (["pods/*"], "", True),
    (["*"], "", True), (["*"], "status", False), (["*/*"], "status", True),
    (["*/status"], "status", True), (["services"], "", False)])
def test_rules_match_resources_and_subresources(resources: list[str], subresource: str,
                                                expected: bool) -> None:
    assert matches(hook(rule={"resources": resources, "operations": ["UPDATE"]}),
                   request(operation="UPDATE", subresource=subresource)) is expected


def test_rules_match_operations_groups_and_versions() -> None:
    assert matches(hook(rule={"operations": ["*"]}), request(operation="DELETE"))
    assert not matches(hook(), request(operation="UPDATE"))
    assert not matches(hook(rule={"apiGroups": ["apps"]}), request())
    assert matches(hook(rule={"apiGroups": ["*"], "apiVersions": ["*"]}), request())
    assert not matches(hook(rule={"apiVersions": ["v2"]}), request())


def test_scope() -> None:
    namespaced, cluster = hook(rule={"scope": "Namespaced"}), hook(rule={"scope": "Cluster"})
    assert matches(namespaced, request()) and not matches(cluster, request())
    rule = {"apiGroups": [""], "resources": ["namespaces", "nodes"]}
    ns = request("namespaces", namespace="")
    node = request("nodes", namespace="")
    for req in (ns, node):
        assert matches(hook(rule={**rule, "scope": "Cluster"}), req)
        assert not matches(hook(rule={**rule, "scope": "Namespaced"}), req)


def test_match_policy_equivalent_takes_another_served_version() -> None:
    # HorizontalPodAutoscalers are stored as autoscaling/v2 and served as v1 too.
    req = request("horizontalpodautoscalers", group="autoscaling", version="v2")
    rule = {"apiGroups": ["autoscaling"], "apiVersions": ["v1"],
            "resources": ["horizontalpodautoscalers"]}
    equivalent = hook(rule=rule)
    versions = REGISTRY.group_versions()["autoscaling"]
    assert matching.matched_version(equivalent.match, req, versions) == "v1"
    assert not matches(hook(rule=rule, matchPolicy="Exact"), req)


def test_resource_names_and_exclude_rules() -> None:
    named = configurations.constraints({}, [{"operations": ["*"], "apiGroups": [""],
                                             "apiVersions": ["v1"], "resources": ["pods"],
                                             "resourceNames": ["x"]}])
    assert matching.matched_version(named, request(), ["v1"]) == "v1"
    other = request()
    other.name = "y"
    assert matching.matched_version(named, other, ["v1"]) is None
    rules = [{"operations": ["*"], "apiGroups": ["*"], "apiVersions": ["*"],
              "resources": ["*"]}]
    excluding = configurations.constraints({}, rules, [{**rules[0], "resources": ["pods"]}])
    assert matching.matched_version(excluding, request(), ["v1"]) is None
    assert matching.matched_version(excluding, request("services"), ["v1"]) == "v1"


def test_object_selector_matches_the_new_or_the_old_object() -> None:
    selective = hook(objectSelector={"matchLabels": {"app": "a"}},
                     rule={"operations": ["UPDATE"]})
    assert matching.object_selector_matches(selective.match, request(obj=labelled(app="a")))
    assert matching.object_selector_matches(
        selective.match, request(operation="UPDATE", obj=labelled(), old=labelled(app="a")))
    assert not matching.object_selector_matches(selective.match, request(obj=labelled(app="b")))
    assert matching.object_selector_matches(hook().match, request(obj=labelled()))


def test_namespace_selector_reads_a_namespace_own_labels() -> None:
    selective = hook(namespaceSelector={"matchLabels": {"team": "a"}})
    assert matching.needs_namespace_labels(selective.match, request())
    # Cluster-scoped objects other than namespaces are never exempted.
    assert not matching.needs_namespace_labels(selective.match, request("nodes", namespace=""))
    ns = request("namespaces", namespace="", obj=labelled(team="a"))
    assert matching.needs_namespace_labels(selective.match, ns)
    assert matching.own_namespace_labels(ns) == {"team": "a"}
    gone = request("namespaces", namespace="", operation="DELETE", old=labelled(team="b"))
    gone.obj = None
    assert matching.own_namespace_labels(gone) == {"team": "b"}
    assert matching.own_namespace_labels(request()) is None
    assert not matching.needs_namespace_labels(hook().match, request())


def test_match_conditions() -> None:
    def conditions(*expressions: str) -> tuple[MatchCondition, ...]:
        return hook(matchConditions=[{"name": f"c{i}", "expression": e}
                                     for i, e in enumerate(expressions)]).conditions

    variables = {"object": labelled(app="a"), "oldObject": None,
                 "request": {"operation": "CREATE", "namespace": "ns"}}
    assert matching.conditions_match(conditions(
        "object.metadata.labels.app == 'a'", "oldObject == null",
        "request.operation == 'CREATE'"), variables)
    assert not matching.conditions_match(conditions("request.namespace == 'other'"),
                                         variables)
    # A false condition wins over one that fails.
    assert not matching.conditions_match(conditions("object.spec.x == 1", "false"),
                                         variables)
    with pytest.raises(matching.MatchError) as raised:
        matching.conditions_match(conditions("object.spec.x == 1"), variables)
    assert str(raised.value) == ("expression 'object.spec.x == 1' resulted in error: "
                                 "no such key: spec")
    with pytest.raises(matching.MatchError, match=r"^compilation failed: "):
        matching.conditions_match(conditions("object.("), variables)
    with pytest.raises(matching.MatchError, match=r"^\[expression ''yes'' resulted in "
                       "non-boolean value, compilation failed"):
        matching.conditions_match(conditions("'yes'", "object.("), variables)
    # Under failurePolicy Ignore an error skips the webhook.
    assert not matching.conditions_match(conditions("object.spec.x == 1"), variables,
                                         fail_closed=False)


def test_configuration_resources_are_exempt() -> None:
    group = "admissionregistration.k8s.io"
    assert matching.exempt(request("validatingwebhookconfigurations", group=group,
                                   namespace=""))
    assert not matching.exempt(request())


def test_defaults_and_timeout_bounds() -> None:
    plain = hook()
    assert (plain.timeout, plain.fail_closed, plain.match.match_policy) == (10, True, "Equivalent")
    assert hook(timeoutSeconds=90).timeout == 30
    assert not hook(failurePolicy="Ignore").fail_closed


@pytest.mark.parametrize(("body", "mutating", "why"), [
    ({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview", "response": {}},
     False, "expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got "
     "admission.k8s.io/v1beta1, Kind=AdmissionReview"),
    ({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
      "response": {"uid": "other"}}, False, 'expected response.uid="u", got "other"'),
    ({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
      "response": {"uid": "u", "patch": "W10="}}, True,
     'response.patchType must be "JSONPatch", got ""'),
    ({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
      "response": {"uid": "u", "patchType": "JSONPatch", "patch": "W10="}}, False,
     "validating webhook may not return response.patch"),
])
def test_invalid_responses(body: dict[str, Any], mutating: bool, why: str) -> None:
    with pytest.raises(CallError, match="received invalid webhook response: ") as raised:
        verify_response(body, "u", mutating=mutating)
    assert why in str(raised.value)


# ---- the plugins against a webhook server -------------------------------------------------

CALLS: list[str] = []


def label(labels: dict[str, str], key: str, value: str) -> dict[str, str]:
    """A JSONPatch setting one label."""
    if not labels:
        return json_patch([{"op": "add", "path": "/metadata/labels", "value": {key: value}}])
    return json_patch([{"op": "add", "path": f"/metadata/labels/{key}", "value": value}])


def answer(path: str, review: dict[str, Any]) -> dict[str, Any]:
    """`/first` labels `first=<n>` with n the value of `second` (reinvocation shows);
    `/second` labels `second=1`; `/garbage` answers nonsense; `/deny` denies."""
    CALLS.append(path)
    labels = review["request"]["object"]["metadata"].get("labels") or {}
    if path.startswith("/first"):
        return review_response(review, **label(labels, "first", labels.get("second", "none")))
    if path.startswith("/second"):
        return review_response(review, **label(labels, "second", "1"))
    if path.startswith("/garbage"):
        return {"kind": "Nonsense"}
    return review_response(review, allowed=False, status={"message": "no"})


@pytest.fixture(scope="module")
def hooks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebhookServer]:
    running = WebhookServer(tmp_path_factory.mktemp("webhooks"), answer)
    yield running
    running.stop()


def configuration(kind: str, hooks: WebhookServer, *entries: tuple[str, dict[str, Any]]
                  ) -> dict[str, Any]:
    webhooks = [{"name": f"{path.strip('/')}.example.com",
                 "clientConfig": {"url": hooks.url(path), "caBundle": hooks.ca_bundle},
                 "rules": [{"operations": ["CREATE"], "apiGroups": [""],
                            "apiVersions": ["v1"], "resources": ["pods"]}],
                 "sideEffects": "None", "admissionReviewVersions": ["v1"], **extra}
                for path, extra in entries]
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind,
            "metadata": {"name": kind.lower()}, "webhooks": webhooks}


async def install(server: ApiServer, http: httpx.AsyncClient, body: dict[str, Any]) -> None:
    """Create the configuration and wait for the watch cache (which the plugins read)."""
    plural = body["kind"].lower() + "s"
    created = ok(await http.post(f"/apis/admissionregistration.k8s.io/v1/{plural}",
                                 json=body))
    await server.cache.wait_fresh(int(created["metadata"]["resourceVersion"]))


async def test_mutations_in_order_with_reinvocation(server: ApiServer, http: httpx.AsyncClient,
                                                    hooks: WebhookServer,
                                                    tmp_path: Path) -> None:
    await namespace(http, "mut")
    await install(server, http, configuration("MutatingWebhookConfiguration", hooks,
                                      ("/first", {"reinvocationPolicy": "IfNeeded"}),
                                      ("/second", {})))
    CALLS.clear()
    created = ok(await http.post("/api/v1/namespaces/mut/pods", json=pod("p")))
    # /first ran before /second labelled the pod, so it ran once more and saw the label.
    assert created["metadata"]["labels"] == {"first": "1", "second": "1"}
    assert CALLS == ["/first?timeout=10s", "/second?timeout=10s", "/first?timeout=10s"]


async def test_dry_run_and_side_effects(server: ApiServer, http: httpx.AsyncClient,
                                        hooks: WebhookServer) -> None:
    await namespace(http, "dry")
    await install(server, http, configuration("ValidatingWebhookConfiguration", hooks,
                                               ("/deny", {"sideEffects": "NoneOnDryRun"})))
    response = await http.post("/api/v1/namespaces/dry/pods?dryRun=All", json=pod("p"))
    assert refused(response, 400) == 'admission webhook "deny.example.com" denied the ' \
                                     "request: no"
    # Side effects v1 no longer accepts (Unknown, Some) refuse every dry run.
    plugin = ValidatingAdmissionWebhook(server)
    unknown = compile_webhook({"name": "unknown.example.com", "sideEffects": "Unknown",
                               "failurePolicy": "Ignore"}, "u/0", mutating=False)
    dry = request()
    dry.dry_run = True
    with pytest.raises(StatusError) as raised:
        await plugin.call(Invocation(unknown, View(dry.info), {}), dry)
    assert (raised.value.code, raised.value.message) == (
        400, 'admission webhook "unknown.example.com" does not support dry run')


async def test_match_conditions_and_failure_policy(server: ApiServer, http: httpx.AsyncClient,
                                                   hooks: WebhookServer) -> None:
    await namespace(http, "cond")
    only_a = [{"name": "only-a", "expression": "object.metadata.name == 'a'"}]
    await install(server, http, configuration(
        "ValidatingWebhookConfiguration", hooks, ("/deny", {"matchConditions": only_a}),
        ("/garbage", {"failurePolicy": "Ignore"})))
    ok(await http.post("/api/v1/namespaces/cond/pods", json=pod("b")))
    response = await http.post("/api/v1/namespaces/cond/pods", json=pod("a"))
    assert refused(response, 400) == 'admission webhook "deny.example.com" denied the ' \
                                     "request: no"
    body = configuration("ValidatingWebhookConfiguration", hooks, ("/garbage", {}))
    body["metadata"]["name"] = "fails"
    await install(server, http, body)
    response = await http.post("/api/v1/namespaces/cond/pods", json=pod("c"))
    assert refused(response, 500) == (
        'Internal error occurred: failed calling webhook "garbage.example.com": received '
        "invalid webhook response: expected webhook response of admission.k8s.io/v1, "
        "Kind=AdmissionReview, got , Kind=Nonsense")


async def test_a_failing_match_condition_refuses_under_fail(server: ApiServer,
                                                            http: httpx.AsyncClient,
                                                            hooks: WebhookServer) -> None:
    await namespace(http, "broken")
    broken = [{"name": "broken", "expression": "object.spec.nothing == 1"}]
    await install(server, http, configuration("ValidatingWebhookConfiguration", hooks,
                                              ("/deny", {"matchConditions": broken})))
    response = await http.post("/api/v1/namespaces/broken/pods", json=pod("p"))
    assert refused(response) == ('pods "p" is forbidden: expression '
                                 "'object.spec.nothing == 1' resulted in error: no such key: "
                                 "nothing")
