"""Every GA built-in API of Kubernetes 1.35 is served: discovery and OpenAPI checked
against upstream's 1.35 definitions (shipped by kubernetes-validate), then each kind added
for it created, read, listed, deleted and refused when invalid through a real API server in
this process; the objects the server keeps itself (local APIServices, the mandatory
flow-control configuration, the default ServiceCIDR), the computed componentstatuses and
the top-level bindings; and `kubectl api-resources` against a `kyb server`."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from tests.apiserver import inprocess
from tests.apiserver.inprocess import ok
from tests.e2e.cluster import Kubectl, Server, checked_server, find_kubectl

from kybernetes.api.schema import KUBERNETES_SCHEMA_RELEASE

pytestmark = pytest.mark.e2e

Obj = dict[str, Any]

# Kinds upstream's definitions carry a GA group/version/kind for that are not top-level
# resources one can list, each with the reason.
NOT_RESOURCES: dict[tuple[str, str], str] = {
    ("", "Status"): "the answer of failed requests and deletions",
    ("", "WatchEvent"): "a frame of a watch stream",
    ("", "DeleteOptions"): "the body of a DELETE",
    ("", "APIGroup"): "a discovery document",
    ("", "APIVersions"): "a discovery document",
    ("", "APIResourceList"): "a discovery document",
    ("", "APIGroupList"): "a discovery document",
    ("autoscaling", "Scale"): "the scale subresource's kind",
    ("policy", "Eviction"): "the pods/eviction subresource's kind",
    ("authentication.k8s.io", "TokenRequest"): "the serviceaccounts/token subresource's kind",
}
# Served kinds still missing, each with the reason; the test fails on any other.
EXPECTED_MISSING: dict[tuple[str, str, str], str] = {}


def upstream_ga_kinds() -> set[tuple[str, str, str]]:
    """(group, version, kind) of every GA top-level kind in upstream's 1.35 definitions."""
    folder = resources.files("kubernetes_validate") / "kubernetes-json-schema"
    raw = orjson.loads((folder / f"{KUBERNETES_SCHEMA_RELEASE}-local" / "_definitions.json")
                       .read_bytes())
    kinds: set[tuple[str, str, str]] = set()
    for body in raw["$defs"].values():
        for gvk in body.get("x-kubernetes-group-version-kind", []):
            group, version, kind = gvk["group"], gvk["version"], gvk["kind"]
            if re.search(r"alpha|beta", version) or kind.endswith("List"):
                continue
            if (group, kind) in NOT_RESOURCES or kind in ("DeleteOptions", "WatchEvent"):
                continue
            kinds.add((group, version, kind))
    return kinds


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Any]:
    # In-process over ASGI: no client certificate, so authorization is off; no
    # service-account controller, so its admission plugin is off too.
    async with inprocess.apiserver(tmp_path, authorization_mode="AlwaysAllow",
                                   disable_admission_plugins=["ServiceAccount"]) as running:
        yield running


@pytest.fixture
async def http(server: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with inprocess.http_client(server.app) as client:
        yield client


async def served_kinds(http: httpx.AsyncClient) -> dict[tuple[str, str, str], Obj]:
    """Discovery's resources by (group, version, kind), top-level ones only."""
    found: dict[tuple[str, str, str], Obj] = {}
    versions = [("", v) for v in ok(await http.get("/api"))["versions"]]
    for group in ok(await http.get("/apis"))["groups"]:
        versions.extend((group["name"], v["version"]) for v in group["versions"])
    for group, version in versions:
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        for entry in ok(await http.get(path))["resources"]:
            if "/" not in entry["name"]:
                found[(group, version, entry["kind"])] = entry
    return found


async def test_every_upstream_ga_resource_is_served(http: httpx.AsyncClient) -> None:
    served = await served_kinds(http)
    upstream = upstream_ga_kinds()
    missing = sorted(k for k in upstream - set(served) if k not in EXPECTED_MISSING)
    assert not missing, f"built-in resources not served: {missing}"
    assert not (set(EXPECTED_MISSING) & set(served)), "served now: drop from EXPECTED_MISSING"
    # Each has its upstream definition in the group/version's OpenAPI v3 document.
    for group, version, kind in sorted(upstream & set(served)):
        path = f"apis/{group}/{version}" if group else f"api/{version}"
        doc = ok(await http.get(f"/openapi/v3/{path}"))
        schemas = doc["components"]["schemas"].values()
        assert any({"group": group, "version": version, "kind": kind}
                   in s.get("x-kubernetes-group-version-kind", []) for s in schemas), \
            (group, version, kind)


# resource -> (short names, categories, verbs, namespaced, subresources), as
# `kubectl api-resources -o wide` shows them on 1.35.
ALL = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
UPSTREAM_DISCOVERY: dict[tuple[str, str], tuple[list[str], list[str], list[str], bool,
                                                 list[str]]] = {
    ("apiregistration.k8s.io", "apiservices"): ([], ["api-extensions"], ALL, False,
                                                ["status"]),
    ("flowcontrol.apiserver.k8s.io", "flowschemas"): ([], [], ALL, False, ["status"]),
    ("flowcontrol.apiserver.k8s.io", "prioritylevelconfigurations"): ([], [], ALL, False,
                                                                      ["status"]),
    ("node.k8s.io", "runtimeclasses"): ([], [], ALL, False, []),
    ("storage.k8s.io", "csistoragecapacities"): ([], [], ALL, True, []),
    ("storage.k8s.io", "volumeattributesclasses"): (["vac"], [], ALL, False, []),
    ("storage.k8s.io", "csidrivers"): ([], [], ALL, False, []),
    ("storage.k8s.io", "csinodes"): ([], [], ALL, False, []),
    ("storage.k8s.io", "volumeattachments"): ([], [], ALL, False, ["status"]),
    ("networking.k8s.io", "servicecidrs"): ([], [], ALL, False, ["status"]),
    ("networking.k8s.io", "ipaddresses"): (["ip"], [], ALL, False, []),
    ("admissionregistration.k8s.io", "mutatingwebhookconfigurations"):
        ([], ["api-extensions"], ALL, False, []),
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations"):
        ([], ["api-extensions"], ALL, False, []),
    ("admissionregistration.k8s.io", "validatingadmissionpolicies"):
        ([], ["api-extensions"], ALL, False, ["status"]),
    ("admissionregistration.k8s.io", "validatingadmissionpolicybindings"):
        ([], ["api-extensions"], ALL, False, []),
    ("resource.k8s.io", "deviceclasses"): ([], [], ALL, False, []),
    ("resource.k8s.io", "resourceclaims"): ([], [], ALL, True, ["status"]),
    ("resource.k8s.io", "resourceclaimtemplates"): ([], [], ALL, True, []),
    ("resource.k8s.io", "resourceslices"): ([], [], ALL, False, []),
    ("", "componentstatuses"): (["cs"], [], ["get", "list"], False, []),
    ("", "bindings"): ([], [], ["create"], True, []),
}


async def test_discovery_facts_match_upstream(http: httpx.AsyncClient) -> None:
    for (group, plural), (short, categories, verbs, namespaced, subs) in \
            UPSTREAM_DISCOVERY.items():
        path = f"/apis/{group}/v1" if group else "/api/v1"
        entries = {e["name"]: e for e in ok(await http.get(path))["resources"]}
        entry = entries[plural]
        assert entry.get("shortNames", []) == short, plural
        assert entry.get("categories", []) == categories, plural
        assert sorted(entry["verbs"]) == verbs, plural
        assert entry["namespaced"] is namespaced, plural
        assert sorted(n.split("/", 1)[1] for n in entries if n.startswith(plural + "/")) == \
            subs, plural


def _meta(name: str) -> Obj:
    return {"name": name}


_RULES = [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
           "resources": ["pods"]}]
_WEBHOOK = {"name": "hook.example.com", "sideEffects": "None",
            "admissionReviewVersions": ["v1"], "rules": _RULES,
            "clientConfig": {"service": {"namespace": "default", "name": "hook"}}}
_CLAIM_SPEC = {"devices": {"requests": [{"name": "gpu",
                                         "exactly": {"deviceClassName": "gpu.example.com"}}]}}

# (group, plural, namespaced, valid object, bad object, the field the 422 names)
KINDS: list[tuple[str, str, bool, Obj, Obj, str]] = [
    ("apiregistration.k8s.io", "apiservices", False,
     {"kind": "APIService", "metadata": _meta("v1alpha1.example.com"),
      "spec": {"group": "example.com", "version": "v1alpha1", "groupPriorityMinimum": 1000,
               "versionPriority": 15, "service": {"namespace": "default", "name": "api"}}},
     {"kind": "APIService", "metadata": _meta("v1.wrong.com"),
      "spec": {"group": "example.com", "version": "v1", "groupPriorityMinimum": 1000,
               "versionPriority": 15}}, "metadata.name"),
    ("flowcontrol.apiserver.k8s.io", "flowschemas", False,
     {"kind": "FlowSchema", "metadata": _meta("mine"),
      "spec": {"priorityLevelConfiguration": {"name": "catch-all"}, "matchingPrecedence": 500,
               "rules": [{"subjects": [{"kind": "User", "user": {"name": "alice"}}],
                          "nonResourceRules": [{"verbs": ["get"],
                                                "nonResourceURLs": ["/x"]}]}]}},
     {"kind": "FlowSchema", "metadata": _meta("bad"),
      "spec": {"priorityLevelConfiguration": {"name": "catch-all"},
               "matchingPrecedence": 20000}}, "spec.matchingPrecedence"),
    ("flowcontrol.apiserver.k8s.io", "prioritylevelconfigurations", False,
     {"kind": "PriorityLevelConfiguration", "metadata": _meta("mine"),
      "spec": {"type": "Limited", "limited": {"limitResponse": {
          "type": "Queue", "queuing": {"queues": 16}}}}},
     {"kind": "PriorityLevelConfiguration", "metadata": _meta("bad"),
      "spec": {"type": "Limited"}}, "spec.limited"),
    ("node.k8s.io", "runtimeclasses", False,
     {"kind": "RuntimeClass", "metadata": _meta("gvisor"), "handler": "runsc"},
     {"kind": "RuntimeClass", "metadata": _meta("bad"), "handler": "Not_A_Label"},
     "handler"),
    ("storage.k8s.io", "csistoragecapacities", True,
     {"kind": "CSIStorageCapacity", "metadata": _meta("cap"), "storageClassName": "standard",
      "capacity": "10Gi"},
     {"kind": "CSIStorageCapacity", "metadata": _meta("bad"), "storageClassName": "standard",
      "capacity": "-1Gi"}, "capacity"),
    ("storage.k8s.io", "volumeattributesclasses", False,
     {"kind": "VolumeAttributesClass", "metadata": _meta("gold"),
      "driverName": "csi.example.com", "parameters": {"iops": "1000"}},
     {"kind": "VolumeAttributesClass", "metadata": _meta("bad")}, "driverName"),
    ("storage.k8s.io", "csidrivers", False,
     {"kind": "CSIDriver", "metadata": _meta("csi.example.com"), "spec": {}},
     {"kind": "CSIDriver", "metadata": _meta("csi.example.com"),
      "spec": {"fsGroupPolicy": "Sometimes"}}, "spec.fsGroupPolicy"),
    ("storage.k8s.io", "csinodes", False,
     {"kind": "CSINode", "metadata": _meta("n1"),
      "spec": {"drivers": [{"name": "csi.example.com", "nodeID": "n1"}]}},
     {"kind": "CSINode", "metadata": _meta("n2"),
      "spec": {"drivers": [{"name": "csi.example.com"}]}}, "spec.drivers[0].nodeID"),
    ("storage.k8s.io", "volumeattachments", False,
     {"kind": "VolumeAttachment", "metadata": _meta("va"),
      "spec": {"attacher": "csi.example.com", "nodeName": "n1",
               "source": {"persistentVolumeName": "pv-1"}}},
     {"kind": "VolumeAttachment", "metadata": _meta("bad"),
      "spec": {"attacher": "csi.example.com", "nodeName": "n1", "source": {}}},
     "spec.source"),
    ("networking.k8s.io", "servicecidrs", False,
     {"kind": "ServiceCIDR", "metadata": _meta("extra"), "spec": {"cidrs": ["10.44.0.0/16"]}},
     {"kind": "ServiceCIDR", "metadata": _meta("bad"), "spec": {"cidrs": ["10.44.0.1/16"]}},
     "spec.cidrs[0]"),
    ("networking.k8s.io", "ipaddresses", False,
     {"kind": "IPAddress", "metadata": _meta("10.43.0.50"),
      "spec": {"parentRef": {"group": "", "resource": "services", "namespace": "default",
                             "name": "web"}}},
     {"kind": "IPAddress", "metadata": _meta("10.43.0.51"), "spec": {}}, "spec.parentRef"),
    ("admissionregistration.k8s.io", "mutatingwebhookconfigurations", False,
     {"kind": "MutatingWebhookConfiguration", "metadata": _meta("m"), "webhooks": [_WEBHOOK]},
     {"kind": "MutatingWebhookConfiguration", "metadata": _meta("bad"),
      "webhooks": [{**_WEBHOOK, "timeoutSeconds": 60}]}, "webhooks[0].timeoutSeconds"),
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations", False,
     {"kind": "ValidatingWebhookConfiguration", "metadata": _meta("v"),
      "webhooks": [_WEBHOOK]},
     {"kind": "ValidatingWebhookConfiguration", "metadata": _meta("bad"),
      "webhooks": [{k: v for k, v in _WEBHOOK.items() if k != "sideEffects"}]},
     "webhooks[0].sideEffects"),
    ("admissionregistration.k8s.io", "validatingadmissionpolicies", False,
     {"kind": "ValidatingAdmissionPolicy", "metadata": _meta("p"),
      "spec": {"matchConstraints": {"resourceRules": _RULES},
               "validations": [{"expression": "object.metadata.name != 'x'"}]}},
     {"kind": "ValidatingAdmissionPolicy", "metadata": _meta("bad"),
      "spec": {"matchConstraints": {"resourceRules": _RULES}}}, "spec.validations"),
    ("admissionregistration.k8s.io", "validatingadmissionpolicybindings", False,
     {"kind": "ValidatingAdmissionPolicyBinding", "metadata": _meta("b"),
      "spec": {"policyName": "p", "validationActions": ["Deny"]}},
     {"kind": "ValidatingAdmissionPolicyBinding", "metadata": _meta("bad"),
      "spec": {"policyName": "p", "validationActions": ["Deny", "Warn"]}},
     "spec.validationActions"),
    ("resource.k8s.io", "deviceclasses", False,
     {"kind": "DeviceClass", "metadata": _meta("gpu.example.com"),
      "spec": {"selectors": [{"cel": {"expression": "device.driver == 'gpu.example.com'"}}]}},
     {"kind": "DeviceClass", "metadata": _meta("bad"),
      "spec": {"selectors": [{"cel": {"expression": ""}}]}}, "spec.selectors[0].cel.expression"),
    ("resource.k8s.io", "resourceclaims", True,
     {"kind": "ResourceClaim", "metadata": _meta("claim"), "spec": _CLAIM_SPEC},
     {"kind": "ResourceClaim", "metadata": _meta("bad"),
      "spec": {"devices": {"requests": [{"name": "gpu"}]}}}, "spec.devices.requests[0]"),
    ("resource.k8s.io", "resourceclaimtemplates", True,
     {"kind": "ResourceClaimTemplate", "metadata": _meta("tmpl"), "spec": {"spec": _CLAIM_SPEC}},
     {"kind": "ResourceClaimTemplate", "metadata": _meta("bad"),
      "spec": {"spec": {"devices": {"requests": [
          {"name": "Bad_Name", "exactly": {"deviceClassName": "gpu"}}]}}}},
     "spec.spec.devices.requests[0].name"),
    ("resource.k8s.io", "resourceslices", False,
     {"kind": "ResourceSlice", "metadata": _meta("slice"),
      "spec": {"driver": "gpu.example.com", "nodeName": "n1",
               "pool": {"name": "n1", "resourceSliceCount": 1},
               "devices": [{"name": "gpu-0"}]}},
     {"kind": "ResourceSlice", "metadata": _meta("bad"),
      "spec": {"driver": "gpu.example.com", "pool": {"name": "n1", "resourceSliceCount": 1}}},
     "spec"),
]


def _collection(group: str, plural: str, namespaced: bool) -> str:
    prefix = f"/apis/{group}/v1" if group else "/api/v1"
    return f"{prefix}/namespaces/default/{plural}" if namespaced else f"{prefix}/{plural}"


@pytest.mark.parametrize(("group", "plural", "namespaced", "good", "bad", "field"), KINDS,
                         ids=[k[1] for k in KINDS])
async def test_create_get_list_delete_and_refuse(
        http: httpx.AsyncClient, group: str, plural: str, namespaced: bool, good: Obj,
        bad: Obj, field: str) -> None:
    url = _collection(group, plural, namespaced)
    api_version = f"{group}/v1" if group else "v1"
    created = ok(await http.post(url, json={"apiVersion": api_version, **good}))
    name = good["metadata"]["name"]
    assert created["metadata"]["name"] == name
    assert ok(await http.get(f"{url}/{name}"))["metadata"]["uid"] == \
        created["metadata"]["uid"]
    listed = ok(await http.get(url))
    assert listed["kind"] == f"{good['kind']}List"
    assert name in [i["metadata"]["name"] for i in listed["items"]]
    table = ok(await http.get(url, headers={
        "accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}))
    assert name in [row["cells"][0] for row in table["rows"]]
    ok(await http.delete(f"{url}/{name}"))
    assert (await http.get(f"{url}/{name}")).status_code == 404
    refused = await http.post(url, json={"apiVersion": api_version, **bad})
    assert refused.status_code == 422, refused.text
    causes = refused.json()["details"]["causes"]
    assert field in [c["field"] for c in causes], causes


async def test_defaults(http: httpx.AsyncClient) -> None:
    level = ok(await http.post(_collection("flowcontrol.apiserver.k8s.io",
                                           "prioritylevelconfigurations", False), json={
        "apiVersion": "flowcontrol.apiserver.k8s.io/v1", "kind": "PriorityLevelConfiguration",
        "metadata": _meta("q"), "spec": {"type": "Limited", "limited": {
            "limitResponse": {"type": "Queue", "queuing": {}}}}}))
    assert level["spec"]["limited"] == {
        "nominalConcurrencyShares": 30, "lendablePercent": 0,
        "limitResponse": {"type": "Queue",
                          "queuing": {"queues": 64, "handSize": 8, "queueLengthLimit": 50}}}
    assert level["metadata"]["generation"] == 1
    hook = ok(await http.post(_collection("admissionregistration.k8s.io",
                                          "mutatingwebhookconfigurations", False), json={
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration", "metadata": _meta("m"),
        "webhooks": [_WEBHOOK]}))["webhooks"][0]
    assert (hook["failurePolicy"], hook["matchPolicy"], hook["timeoutSeconds"],
            hook["reinvocationPolicy"], hook["rules"][0]["scope"],
            hook["clientConfig"]["service"]["port"]) == \
        ("Fail", "Equivalent", 10, "Never", "*", 443)
    driver = ok(await http.post(_collection("storage.k8s.io", "csidrivers", False), json={
        "apiVersion": "storage.k8s.io/v1", "kind": "CSIDriver", "metadata": _meta("d.io"),
        "spec": {"podInfoOnMount": True}}))
    assert driver["spec"] == {
        "attachRequired": True, "podInfoOnMount": True, "storageCapacity": False,
        "fsGroupPolicy": "ReadWriteOnceWithFSType", "requiresRepublish": False,
        "volumeLifecycleModes": ["Persistent"]}
    claim = ok(await http.post(_collection("resource.k8s.io", "resourceclaims", True), json={
        "apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim", "metadata": _meta("c"),
        "spec": _CLAIM_SPEC}))
    exactly = claim["spec"]["devices"]["requests"][0]["exactly"]
    assert (exactly["allocationMode"], exactly["count"]) == ("ExactCount", 1)


async def test_local_apiservices(http: httpx.AsyncClient, server: Any) -> None:
    items = ok(await http.get("/apis/apiregistration.k8s.io/v1/apiservices"))["items"]
    by_name = {i["metadata"]["name"]: i for i in items}
    assert by_name["v1."]["spec"] == {"group": "", "version": "v1",
                                      "groupPriorityMinimum": 18000, "versionPriority": 1}
    assert by_name["v1.apps"]["spec"]["groupPriorityMinimum"] == 17800
    assert by_name["v1.flowcontrol.apiserver.k8s.io"]["spec"]["versionPriority"] == 21
    served = {(g, v) for g, vs in server.registry.group_versions().items() for v in vs
              if g != "apiregistration.k8s.io"}
    assert {(i["spec"].get("group", ""), i["spec"]["version"]) for i in items} == served
    condition = by_name["v1.apps"]["status"]["conditions"][0]
    assert (condition["type"], condition["status"], condition["reason"],
            condition["message"]) == ("Available", "True", "Local",
                                      "Local APIServices are always available")
    table = ok(await http.get("/apis/apiregistration.k8s.io/v1/apiservices/v1.apps", headers={
        "accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}))
    assert table["rows"][0]["cells"][:3] == ["v1.apps", "Local", "True"]


async def test_apiservices_are_kept_at_start(tmp_path: Path) -> None:
    async with inprocess.apiserver(tmp_path, authorization_mode="AlwaysAllow") as server, \
            inprocess.http_client(server.app) as http:
        url = "/apis/apiregistration.k8s.io/v1/apiservices"
        changed = ok(await http.get(f"{url}/v1.apps"))
        changed["spec"]["groupPriorityMinimum"] = 100
        ok(await http.put(f"{url}/v1.apps", json=changed))
        ok(await http.post(url, json={
            "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
            "metadata": {"name": "v1.gone.example.com",
                         "labels": {"kube-aggregator.kubernetes.io/automanaged": "onstart"}},
            "spec": {"group": "gone.example.com", "version": "v1",
                     "groupPriorityMinimum": 100, "versionPriority": 1}}))
    async with inprocess.apiserver(tmp_path, authorization_mode="AlwaysAllow") as server, \
            inprocess.http_client(server.app) as http:
        assert ok(await http.get(f"{url}/v1.apps"))["spec"]["groupPriorityMinimum"] == 17800
        assert (await http.get(f"{url}/v1.gone.example.com")).status_code == 404


async def test_mandatory_flow_control_configuration(http: httpx.AsyncClient) -> None:
    base = "/apis/flowcontrol.apiserver.k8s.io/v1"
    levels = {i["metadata"]["name"]: i
              for i in ok(await http.get(f"{base}/prioritylevelconfigurations"))["items"]}
    assert levels["exempt"]["spec"] == {
        "type": "Exempt", "exempt": {"nominalConcurrencyShares": 0, "lendablePercent": 0}}
    assert levels["catch-all"]["spec"]["limited"] == {
        "nominalConcurrencyShares": 5, "lendablePercent": 0, "limitResponse": {"type": "Reject"}}
    schemas = {i["metadata"]["name"]: i
               for i in ok(await http.get(f"{base}/flowschemas"))["items"]}
    assert schemas["exempt"]["spec"]["matchingPrecedence"] == 1
    assert schemas["catch-all"]["spec"]["matchingPrecedence"] == 10000
    assert schemas["catch-all"]["spec"]["distinguisherMethod"] == {"type": "ByUser"}
    assert schemas["exempt"]["metadata"]["annotations"] == {
        "apf.kubernetes.io/autoupdate-spec": "true"}
    dangling = schemas["exempt"]["status"]["conditions"][0]
    assert (dangling["type"], dangling["status"], dangling["reason"]) == \
        ("Dangling", "False", "Found")
    table = ok(await http.get(f"{base}/flowschemas", headers={
        "accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}))
    assert [r["cells"][0] for r in table["rows"]] == ["exempt", "catch-all"]
    assert table["rows"][0]["cells"][-1] == "False"


async def test_default_service_cidr(http: httpx.AsyncClient) -> None:
    cidr = ok(await http.get("/apis/networking.k8s.io/v1/servicecidrs/kubernetes"))
    assert cidr["spec"] == {"cidrs": ["10.43.0.0/16"]}
    ready = cidr["status"]["conditions"][0]
    assert (ready["type"], ready["status"], ready["message"]) == \
        ("Ready", "True", "Kubernetes default Service CIDR is ready")


async def test_component_statuses(http: httpx.AsyncClient, server: Any) -> None:
    server.app.liveness["scheduler"] = lambda: None
    answer = await http.get("/api/v1/componentstatuses")
    assert answer.headers["warning"] == '299 - "v1 ComponentStatus is deprecated in v1.19+"'
    listed = ok(answer)
    assert listed["kind"] == "ComponentStatusList"
    health = {i["metadata"]["name"]: i["conditions"][0] for i in listed["items"]}
    assert set(health) == {"scheduler", "controller-manager", "etcd-0"}
    assert (health["scheduler"]["status"], health["scheduler"]["message"]) == ("True", "ok")
    assert health["etcd-0"]["status"] == "True"
    assert health["controller-manager"]["status"] == "False"
    table = ok(await http.get("/api/v1/componentstatuses", headers={
        "accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}))
    assert [c["name"] for c in table["columnDefinitions"]] == [
        "Name", "Status", "Message", "Error"]
    rows = {r["cells"][0]: r["cells"] for r in table["rows"]}
    assert rows["scheduler"] == ["scheduler", "Healthy", "ok", ""]
    assert rows["controller-manager"][1] == "Unhealthy"
    assert ok(await http.get("/api/v1/componentstatuses/etcd-0"))["metadata"]["name"] == \
        "etcd-0"
    assert (await http.get("/api/v1/componentstatuses/nope")).status_code == 404
    assert (await http.post("/api/v1/componentstatuses", json={})).status_code == 405
    assert (await http.delete("/api/v1/componentstatuses/etcd-0")).status_code == 405


async def test_top_level_binding(http: httpx.AsyncClient) -> None:
    pods = "/api/v1/namespaces/default/pods"
    ok(await http.post(pods, json={"apiVersion": "v1", "kind": "Pod", "metadata": _meta("p"),
                                   "spec": {"containers": [{"name": "c", "image": "x"}]}}))
    bindings = "/api/v1/namespaces/default/bindings"
    answer = await http.post(bindings, json={
        "apiVersion": "v1", "kind": "Binding", "metadata": _meta("p"),
        "target": {"kind": "Node", "name": "n1"}})
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "Success"
    assert ok(await http.get(f"{pods}/p"))["spec"]["nodeName"] == "n1"
    again = await http.post(bindings, json={
        "apiVersion": "v1", "kind": "Binding", "metadata": _meta("p"),
        "target": {"kind": "Node", "name": "n2"}})
    assert again.status_code == 409
    missing = await http.post(bindings, json={
        "apiVersion": "v1", "kind": "Binding", "metadata": _meta("nope"),
        "target": {"kind": "Node", "name": "n1"}})
    assert missing.status_code == 404
    assert (await http.get(bindings)).status_code == 405


# -- kubectl against a `kyb server` ------------------------------------------------------


@pytest.fixture(scope="module")
def kyb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with checked_server(tmp_path_factory.mktemp("kyb-apis")) as running:
        yield running


def test_kubectl_api_resources(kyb: Server) -> None:
    kubectl = Kubectl(kyb.kubeconfig, find_kubectl())
    rows = {}
    for line in kubectl("api-resources", "--no-headers").splitlines():
        fields = line.split()
        api_version = next(f for f in fields if "/" in f or f == "v1")
        group = api_version.rpartition("/")[0]
        rows[f"{fields[0]}.{group}" if group else fields[0]] = fields
    assert rows["componentstatuses"] == ["componentstatuses", "cs", "v1", "false",
                                         "ComponentStatus"]
    assert rows["bindings"] == ["bindings", "v1", "true", "Binding"]
    assert rows["ipaddresses.networking.k8s.io"] == [
        "ipaddresses", "ip", "networking.k8s.io/v1", "false", "IPAddress"]
    assert rows["volumeattributesclasses.storage.k8s.io"][1] == "vac"
    assert rows["apiservices.apiregistration.k8s.io"] == [
        "apiservices", "apiregistration.k8s.io/v1", "false", "APIService"]
    for name in ("flowschemas.flowcontrol.apiserver.k8s.io",
                 "validatingadmissionpolicies.admissionregistration.k8s.io",
                 "resourceclaims.resource.k8s.io", "runtimeclasses.node.k8s.io",
                 "servicecidrs.networking.k8s.io", "csistoragecapacities.storage.k8s.io"):
        assert name in rows, name
    extensions = kubectl("api-resources", "--categories=api-extensions", "--no-headers")
    assert {line.split()[0] for line in extensions.splitlines()} >= {
        "apiservices", "mutatingwebhookconfigurations", "validatingwebhookconfigurations",
        "validatingadmissionpolicies", "validatingadmissionpolicybindings"}
    cs = kubectl("get", "componentstatuses")
    assert "etcd-0" in cs and "Healthy" in cs
    apiservices = kubectl("get", "apiservices")
    assert re.search(r"^v1\.apps\s+Local\s+True\s", apiservices, re.M), apiservices
