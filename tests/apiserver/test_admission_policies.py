"""ValidatingAdmissionPolicy in process: a bound policy's CEL validations deny (with the
message, messageExpression or failed expression, and the reason's code) or warn, per the
binding's validationActions; variables and matchConditions; parameters by name and by
selector, with parameterNotFoundAction; failurePolicy on an expression that fails; the
binding's matchResources narrows the policy."""

from __future__ import annotations

from typing import Any

import httpx
from tests.apiserver.test_admission_setup import http, namespace, ok, refused, server, warnings

from kybernetes.apiserver.server import ApiServer

__all__ = ["http", "server"]

BASE = "/apis/admissionregistration.k8s.io/v1"
RULES = [{"operations": ["CREATE", "UPDATE"], "apiGroups": [""], "apiVersions": ["v1"],
          "resources": ["configmaps"]}]


def configmap(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
            "data": data}


async def create(server: ApiServer, http: httpx.AsyncClient, plural: str,
                 body: dict[str, Any]) -> None:
    """Create a policy or binding, and wait for the watch cache (which the plugin reads)."""
    created = ok(await http.post(f"{BASE}/{plural}", json=body))
    await server.cache.wait_fresh(int(created["metadata"]["resourceVersion"]))


async def policy(server: ApiServer, http: httpx.AsyncClient, name: str,
                 validations: list[dict[str, Any]], **spec: Any) -> None:
    await create(server, http, "validatingadmissionpolicies", {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {"matchConstraints": {"resourceRules": RULES}, "validations": validations,
                 **spec}})


async def binding(server: ApiServer, http: httpx.AsyncClient, name: str, policy_name: str,
                  actions: list[str], **spec: Any) -> None:
    await create(server, http, "validatingadmissionpolicybindings", {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": name},
        "spec": {"policyName": policy_name, "validationActions": actions, **spec}})


async def test_deny_and_warn(server: ApiServer, http: httpx.AsyncClient) -> None:
    await namespace(http, "vap", account=False)
    await policy(server, http, "small", [
        {"expression": "!has(object.data) || object.data.size() <= 2"},
        {"expression": "!has(object.data) || !('secret' in object.data)",
         "message": "no secrets in config maps", "reason": "Forbidden"}])
    await binding(server, http, "small-deny", "small", ["Deny"],
                  matchResources={"namespaceSelector": {"matchLabels": {"strict": "yes"}}})
    await binding(server, http, "small-warn", "small", ["Warn"])
    response = await http.post("/api/v1/namespaces/vap/configmaps",
                               json=configmap("big", a="1", b="2", c="3"))
    ok(response)
    assert warnings(response) == [
        "Validation failed for ValidatingAdmissionPolicy 'small' with binding 'small-warn': "
        "failed expression: !has(object.data) || object.data.size() <= 2"]
    ok(await http.patch("/api/v1/namespaces/vap",
                        json={"metadata": {"labels": {"strict": "yes"}}},
                        headers={"Content-Type": "application/merge-patch+json"}))
    await server.cache.wait_fresh()
    response = await http.post("/api/v1/namespaces/vap/configmaps",
                               json=configmap("big2", a="1", b="2", c="3"))
    message = ("configmaps \"big2\" is forbidden: ValidatingAdmissionPolicy 'small' with "
               "binding 'small-deny' denied request: failed expression: !has(object.data) || "
               "object.data.size() <= 2")
    assert refused(response, 422) == message
    assert response.json()["reason"] == "Invalid"
    assert response.json()["details"]["causes"] == [{"message": message.split(": ", 1)[1]}]
    response = await http.post("/api/v1/namespaces/vap/configmaps",
                               json=configmap("s", secret="x"))
    assert refused(response, 403).endswith("denied request: no secrets in config maps")


async def test_variables_message_expression_and_match_conditions(
        server: ApiServer, http: httpx.AsyncClient) -> None:
    await namespace(http, "vars", account=False)
    await policy(server, http, "named", [
        {"expression": "variables.prefixed",
         "messageExpression": "'name ' + object.metadata.name + ' lacks the prefix'"}],
        variables=[{"name": "prefixed",
                    "expression": "object.metadata.name.startsWith('app-')"}],
        matchConditions=[{"name": "not-exempt",
                          "expression": "!has(object.metadata.labels) || "
                                        "!('exempt' in object.metadata.labels)"}])
    await binding(server, http, "named", "named", ["Deny"])
    ok(await http.post("/api/v1/namespaces/vars/configmaps", json=configmap("app-one")))
    response = await http.post("/api/v1/namespaces/vars/configmaps", json=configmap("two"))
    assert refused(response, 422).endswith("denied request: name two lacks the prefix")
    exempt = configmap("three")
    exempt["metadata"]["labels"] = {"exempt": "yes"}
    ok(await http.post("/api/v1/namespaces/vars/configmaps", json=exempt))


async def test_parameters(server: ApiServer, http: httpx.AsyncClient) -> None:
    await namespace(http, "params", account=False)
    await namespace(http, "limited", account=False)
    await policy(server, http, "limit", [
        {"expression": "!has(object.data) || object.data.size() <= int(params.data.max)"}],
        paramKind={"apiVersion": "v1", "kind": "ConfigMap"},
        matchConstraints={"resourceRules": RULES,
                          "namespaceSelector": {"matchLabels": {
                              "kubernetes.io/metadata.name": "limited"}}})
    await binding(server, http, "limit", "limit", ["Deny"],
                  paramRef={"name": "limits", "namespace": "params",
                            "parameterNotFoundAction": "Deny"})
    response = await http.post("/api/v1/namespaces/limited/configmaps", json=configmap("a"))
    assert refused(response, 422).endswith(
        "denied request: no params found for policy binding with `Deny` "
        "parameterNotFoundAction")
    ok(await http.post("/api/v1/namespaces/params/configmaps",
                       json=configmap("limits", max="1")))
    await server.cache.wait_fresh()
    ok(await http.post("/api/v1/namespaces/limited/configmaps", json=configmap("b", x="1")))
    response = await http.post("/api/v1/namespaces/limited/configmaps",
                               json=configmap("c", x="1", y="2"))
    assert refused(response, 422).endswith("denied request: failed expression: "
                                           "!has(object.data) || object.data.size() <= "
                                           "int(params.data.max)")


async def test_parameters_by_selector_each_checked(server: ApiServer,
                                                   http: httpx.AsyncClient) -> None:
    await namespace(http, "sel", account=False)
    await policy(server, http, "banned", [
        {"expression": "!has(object.data) || !(params.data.word in object.data)",
         "messageExpression": "'uses ' + params.data.word"}],
        paramKind={"apiVersion": "v1", "kind": "ConfigMap"},
        matchConstraints={"resourceRules": RULES,
                          "objectSelector": {"matchExpressions": [
                              {"key": "banned-word", "operator": "DoesNotExist"}]}})
    # Parameters in the request's own namespace, by selector; none found: allowed.
    await binding(server, http, "banned", "banned", ["Deny"],
                  paramRef={"selector": {"matchLabels": {"kind": "banned"}},
                            "parameterNotFoundAction": "Allow"})
    ok(await http.post("/api/v1/namespaces/sel/configmaps", json=configmap("free", foo="1")))
    for word in ("foo", "bar"):
        param = configmap(f"ban-{word}", word=word)
        param["metadata"]["labels"] = {"kind": "banned", "banned-word": "yes"}
        ok(await http.post("/api/v1/namespaces/sel/configmaps", json=param))
    await server.cache.wait_fresh()
    response = await http.post("/api/v1/namespaces/sel/configmaps",
                               json=configmap("x", bar="1"))
    assert refused(response, 422).endswith("denied request: uses bar")


async def test_failure_policy(server: ApiServer, http: httpx.AsyncClient) -> None:
    await namespace(http, "fp", account=False)
    await policy(server, http, "lenient", [{"expression": "object.data.missing == 'x'"}],
                 failurePolicy="Ignore")
    await binding(server, http, "lenient", "lenient", ["Deny"])
    ok(await http.post("/api/v1/namespaces/fp/configmaps", json=configmap("a", k="v")))
    await policy(server, http, "strict", [{"expression": "object.data.missing == 'x'"}])
    await binding(server, http, "strict", "strict", ["Deny"])
    response = await http.post("/api/v1/namespaces/fp/configmaps", json=configmap("b", k="v"))
    assert refused(response, 422).endswith(
        "ValidatingAdmissionPolicy 'strict' with binding 'strict' denied request: "
        "expression 'object.data.missing == 'x'' resulted in error: no such key: missing")
