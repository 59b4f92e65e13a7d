"""The OpenAPI documents, checked the way kubectl 1.35 reads them.

The helpers below mirror the Go consumers: cli-runtime's `supportsQueryParamV3`
(`--validate=strict`), kubectl apply's `gvkSupportsPatchOpenAPIV3` and
`strategicpatch.PatchMetaFromOpenAPIV3`, and the `kubectl explain` plaintext template.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import pytest

from kybernetes.api.registry import (
    Registry,
    ResourceInfo,
    Subresource,
    builtin_registry,
)
from kybernetes.api.schema import definitions
from kybernetes.apiserver import openapi

V3 = "#/components/schemas/"
Doc = dict[str, Any]


@pytest.fixture(scope="module")
def registry() -> Registry:
    return builtin_registry()


def _gvs(registry: Registry) -> list[tuple[str, str]]:
    return [(g, v) for g, versions in registry.group_versions().items() for v in versions]


def _doc(registry: Registry, group: str, version: str) -> Doc:
    doc = openapi.openapi_v3_document(registry, group, version)
    assert doc is not None
    return doc


def _gvk(info: ResourceInfo) -> dict[str, str]:
    return {"group": info.group, "kind": info.kind, "version": info.version}


def _refs(node: Any, found: list[str]) -> list[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                found.append(value)
            else:
                _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)
    return found


# --- cli-runtime query_param_verifier_v3.go ----------------------------------------------

def supports_query_param_v3(doc: Doc, gvk: dict[str, str], param: str) -> bool:
    """supportsQueryParamV3; Go ranges over a map, so every matching PATCH must qualify."""
    verdicts = []
    for item in doc["paths"].values():
        op = item.get("patch")
        if op is None or op.get("x-kubernetes-group-version-kind") != gvk:
            continue
        verdicts.append(any(p["name"] == param for p in op.get("parameters", [])))
    return bool(verdicts) and all(verdicts)


def test_every_kind_supports_field_validation(registry: Registry) -> None:
    for info in registry.resources.values():
        if "patch" not in info.verbs:
            continue
        doc = _doc(registry, info.group, info.version)
        assert supports_query_param_v3(doc, _gvk(info), "fieldValidation"), info.kind


def test_namespace_fallback_for_custom_resources(registry: Registry) -> None:
    # For CRDs missing from /openapi/v3, the verifier checks core/v1 Namespace instead.
    doc = _doc(registry, "", "v1")
    assert supports_query_param_v3(doc, {"group": "", "kind": "Namespace", "version": "v1"},
                                   "fieldValidation")


def test_deployment_patch_operation(registry: Registry) -> None:
    doc = _doc(registry, "apps", "v1")
    item = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
    op = item["patch"]
    assert op["x-kubernetes-action"] == "patch"
    assert op["x-kubernetes-group-version-kind"] == {"group": "apps", "kind": "Deployment",
                                                     "version": "v1"}
    assert op["operationId"] == "patchAppsV1NamespacedDeployment"
    assert op["tags"] == ["apps_v1"]
    names = [p["name"] for p in op["parameters"]]
    assert names == ["dryRun", "fieldManager", "fieldValidation", "force"]
    assert all(p["in"] == "query" and p["schema"]["uniqueItems"] for p in op["parameters"])
    content = op["requestBody"]["content"]
    assert set(content) == set(openapi.PATCH_CONTENT_TYPES)
    assert content["application/strategic-merge-patch+json"]["schema"] == {
        "$ref": V3 + "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}
    assert set(op["responses"]) == {"200", "201", "401"}
    path_params = {(p["name"], p["in"]) for p in item["parameters"]}
    assert path_params == {("name", "path"), ("namespace", "path"), ("pretty", "query")}
    assert all(p["required"] for p in item["parameters"] if p["in"] == "path")


def test_collection_and_item_operations(registry: Registry) -> None:
    doc = _doc(registry, "apps", "v1")
    paths = doc["paths"]
    collection = paths["/apis/apps/v1/namespaces/{namespace}/deployments"]
    assert {m for m in collection if m != "parameters"} == {"get", "post", "delete"}
    listing = collection["get"]
    assert listing["x-kubernetes-action"] == "list"
    assert {"labelSelector", "fieldSelector", "watch", "limit", "continue",
            "resourceVersion", "sendInitialEvents", "allowWatchBookmarks"} <= {
        p["name"] for p in listing["parameters"]}
    assert listing["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": V3 + "io.k8s.api.apps.v1.DeploymentList"}
    assert "application/json;stream=watch" in listing["responses"]["200"]["content"]
    create = collection["post"]
    assert create["x-kubernetes-action"] == "post"
    assert {p["name"] for p in create["parameters"]} == {"dryRun", "fieldManager",
                                                         "fieldValidation"}
    assert create["requestBody"]["required"] is True
    assert collection["delete"]["x-kubernetes-action"] == "deletecollection"
    assert collection["delete"]["requestBody"]["content"]["*/*"]["schema"] == {
        "$ref": V3 + "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"}
    item = paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
    assert {m for m in item if m != "parameters"} == {"get", "put", "patch", "delete"}
    assert item["get"]["operationId"] == "readAppsV1NamespacedDeployment"
    assert item["put"]["x-kubernetes-action"] == "put"
    assert item["delete"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": V3 + "io.k8s.apimachinery.pkg.apis.meta.v1.Status"}
    everywhere = paths["/apis/apps/v1/deployments"]["get"]
    assert everywhere["operationId"] == "listAppsV1DeploymentForAllNamespaces"
    watch = paths["/apis/apps/v1/watch/namespaces/{namespace}/deployments/{name}"]["get"]
    assert watch["x-kubernetes-action"] == "watch"
    assert watch["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": V3 + "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent"}
    resources = paths["/apis/apps/v1/"]["get"]
    assert resources["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": V3 + "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList"}


def test_status_and_scale_subresources(registry: Registry) -> None:
    paths = _doc(registry, "apps", "v1")["paths"]
    status = paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status"]
    assert {m for m in status if m != "parameters"} == {"get", "put", "patch"}
    assert status["patch"]["x-kubernetes-group-version-kind"]["kind"] == "Deployment"
    assert status["patch"]["operationId"] == "patchAppsV1NamespacedDeploymentStatus"
    scale = paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]
    assert scale["get"]["x-kubernetes-group-version-kind"] == {
        "group": "autoscaling", "kind": "Scale", "version": "v1"}
    assert scale["get"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": V3 + "io.k8s.api.autoscaling.v1.Scale"}
    assert "fieldValidation" in {p["name"] for p in scale["patch"]["parameters"]}


def test_core_paths(registry: Registry) -> None:
    doc = _doc(registry, "", "v1")
    paths = doc["paths"]
    # Cluster scoped: no namespace segment, no namespace parameter.
    namespaces = paths["/api/v1/namespaces"]
    assert namespaces["get"]["operationId"] == "listCoreV1Namespace"
    assert "deletecollection" not in {op.get("x-kubernetes-action")
                                      for op in namespaces.values() if isinstance(op, dict)}
    node = paths["/api/v1/nodes/{name}"]
    assert {p["name"] for p in node["parameters"]} == {"name", "pretty"}
    assert node["patch"]["tags"] == ["core_v1"]
    assert node["get"]["x-kubernetes-group-version-kind"] == {"group": "", "kind": "Node",
                                                              "version": "v1"}
    assert "put" in paths["/api/v1/namespaces/{name}/finalize"]
    # Streaming and connect subresources.
    log = paths["/api/v1/namespaces/{namespace}/pods/{name}/log"]
    assert log["get"]["responses"]["200"]["content"]["text/plain"]["schema"] == {
        "type": "string"}
    assert {"follow", "container", "tailLines"} <= {p["name"] for p in log["parameters"]}
    exec_ = paths["/api/v1/namespaces/{namespace}/pods/{name}/exec"]
    assert exec_["get"]["x-kubernetes-action"] == "connect"
    assert exec_["get"]["operationId"] == "connectCoreV1GetNamespacedPodExec"
    assert exec_["get"]["x-kubernetes-group-version-kind"]["kind"] == "PodExecOptions"
    assert {"command", "stdin", "tty"} <= {p["name"] for p in exec_["parameters"]}
    eviction = paths["/api/v1/namespaces/{namespace}/pods/{name}/eviction"]["post"]
    assert eviction["requestBody"]["content"]["*/*"]["schema"] == {
        "$ref": V3 + "io.k8s.api.policy.v1.Eviction"}
    assert "io.k8s.api.policy.v1.Eviction" in doc["components"]["schemas"]
    token = paths["/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token"]["post"]
    assert token["x-kubernetes-group-version-kind"] == {
        "group": "authentication.k8s.io", "kind": "TokenRequest", "version": "v1"}
    assert "/api/v1/namespaces/{namespace}/pods/{name}/proxy/{path}" in paths


def test_operation_ids_are_unique(registry: Registry) -> None:
    for group, version in _gvs(registry):
        ids = [op["operationId"] for item in _doc(registry, group, version)["paths"].values()
               for key, op in item.items() if key != "parameters"]
        assert len(ids) == len(set(ids)), (group, version)
    assert _doc(registry, "rbac.authorization.k8s.io", "v1")["paths"][
        "/apis/rbac.authorization.k8s.io/v1/clusterroles"]["get"]["tags"] == [
        "rbacAuthorization_v1"]


# --- schemas -------------------------------------------------------------------------------

def test_no_dangling_refs(registry: Registry) -> None:
    for group, version in _gvs(registry):
        doc = _doc(registry, group, version)
        schemas = doc["components"]["schemas"]
        for ref in _refs(doc, []):
            assert ref.startswith(V3), ref
            assert ref.removeprefix(V3) in schemas, (group, version, ref)


def test_ref_siblings_wrapped_in_all_of(registry: Registry) -> None:
    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                assert set(node) == {"$ref"}, node
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    doc = _doc(registry, "apps", "v1")
    walk(doc["components"]["schemas"])
    strategy = doc["components"]["schemas"]["io.k8s.api.apps.v1.DeploymentSpec"][
        "properties"]["strategy"]
    assert strategy["allOf"] == [{"$ref": V3 + "io.k8s.api.apps.v1.DeploymentStrategy"}]
    assert strategy["x-kubernetes-patch-strategy"] == "retainKeys"
    assert strategy["description"]


def test_components_are_reachable_and_carry_gvk(registry: Registry) -> None:
    for info in registry.resources.values():
        schemas = _doc(registry, info.group, info.version)["components"]["schemas"]
        kinds = [s for s in schemas.values()
                 if _gvk(info) in s.get("x-kubernetes-group-version-kind", [])]
        assert len(kinds) == 1, info.kind
        if "list" not in info.verbs:
            continue  # reviews are created only: no list kind
        lists = [s for s in schemas.values() if {**_gvk(info), "kind": info.list_kind}
                 in s.get("x-kubernetes-group-version-kind", [])]
        assert len(lists) == 1, info.list_kind
    schemas = _doc(registry, "apps", "v1")["components"]["schemas"]
    for meta in ("Status", "DeleteOptions", "WatchEvent", "APIResourceList", "Patch",
                 "ObjectMeta"):
        assert f"io.k8s.apimachinery.pkg.apis.meta.v1.{meta}" in schemas
    # Only what the group-version reaches: no batch kinds in apps/v1.
    assert not any(name.startswith("io.k8s.api.batch.") for name in schemas)


def test_int_or_string_and_quantity(registry: Registry) -> None:
    apps = _doc(registry, "apps", "v1")["components"]["schemas"]
    ios = apps["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]
    assert ios["format"] == "int-or-string"
    assert ios["oneOf"] == [{"type": "integer"}, {"type": "string"}]
    assert "type" not in ios
    core = _doc(registry, "", "v1")["components"]["schemas"]
    assert core["io.k8s.apimachinery.pkg.api.resource.Quantity"]["oneOf"] == [
        {"type": "string"}, {"type": "number"}]
    for name, schema in {**apps, **core}.items():
        if name != "io.k8s.apimachinery.pkg.util.intstr.IntOrString":
            assert b'"int-or-string"' not in orjson.dumps(schema), name


def test_inline_int_or_string_becomes_v3_form() -> None:
    converted = openapi._v3_convert({"properties": {"port": {
        "type": "string", "format": "int-or-string", "description": "d"}}})
    assert converted["properties"]["port"] == {
        "description": "d", "x-kubernetes-int-or-string": True,
        "anyOf": [{"type": "integer"}, {"type": "string"}]}


def test_property_names_are_not_keywords(registry: Registry) -> None:
    # JSONSchemaProps has properties named "$ref" and "format"; they stay properties.
    converted = openapi._v3_convert(definitions()[
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps"])
    assert converted["properties"]["$ref"] == {"type": "string"}
    assert "allOf" not in converted["properties"]["$ref"]


# --- kubectl apply: strategic merge patch metadata from OpenAPI v3 -------------------------

class PatchMetaV3:
    """strategicpatch.PatchMetaFromOpenAPIV3."""

    def __init__(self, schema: Doc, schemas: dict[str, Doc]) -> None:
        self.schema, self.schemas = schema, schemas

    def _traverse(self, key: str) -> PatchMetaV3:
        props = self.schema.get("properties") or {}
        if key not in props:
            raise KeyError(f'unable to find api field "{key}"')
        return PatchMetaV3(props[key], self.schemas)

    def _resolve(self) -> None:
        if self.schema.get("allOf"):
            self.schema = self.schema["allOf"][0]
        ref = self.schema.get("$ref", "")
        if ref:
            self.schema = self.schemas[ref.removeprefix(V3)]

    def _meta(self) -> tuple[str, list[str]]:
        strategy = self.schema.get("x-kubernetes-patch-strategy")
        return (self.schema.get("x-kubernetes-patch-merge-key", ""),
                strategy.split(",") if strategy else [])

    def for_struct(self, key: str) -> tuple[PatchMetaV3, tuple[str, list[str]]]:
        sub = self._traverse(key)
        meta = sub._meta()
        sub._resolve()
        return sub, meta

    def for_slice(self, key: str) -> tuple[PatchMetaV3, tuple[str, list[str]]]:
        sub = self._traverse(key)
        meta = sub._meta()
        if "items" in sub.schema:
            sub.schema = sub.schema["items"]
        sub._resolve()
        return sub, meta


def _kind_schema(doc: Doc, gvk: dict[str, str]) -> Doc:
    """buildStrategicMergePatchFromOpenAPIV3: the component whose GVK array has the kind."""
    found: list[Doc] = [s for s in doc["components"]["schemas"].values()
                        if gvk in s.get("x-kubernetes-group-version-kind", [])]
    assert len(found) == 1
    return found[0]


def gvk_supports_smp(doc: Doc, gvk: dict[str, str]) -> bool:
    """gvkSupportsPatchOpenAPIV3."""
    for item in doc["paths"].values():
        op = item.get("patch")
        if op and op.get("x-kubernetes-group-version-kind") == gvk:
            return "application/strategic-merge-patch+json" in op["requestBody"]["content"]
    return False


def test_strategic_merge_patch_metadata(registry: Registry) -> None:
    doc = _doc(registry, "apps", "v1")
    gvk = {"group": "apps", "kind": "Deployment", "version": "v1"}
    assert gvk_supports_smp(doc, gvk)
    root = PatchMetaV3(_kind_schema(doc, gvk), doc["components"]["schemas"])
    spec, _ = root.for_struct("spec")
    strategy_meta = spec.for_struct("strategy")[1]
    assert strategy_meta == ("", ["retainKeys"])
    template, _ = spec.for_struct("template")
    pod_spec, _ = template.for_struct("spec")
    container, meta = pod_spec.for_slice("containers")
    assert meta == ("name", ["merge"])
    assert "image" in container.schema["properties"]
    ports_meta = container.for_slice("ports")[1]
    assert ports_meta == ("containerPort", ["merge"])
    env, env_meta = container.for_slice("env")
    assert env_meta == ("name", ["merge"])
    assert "valueFrom" in env.schema["properties"]
    volumes_meta = pod_spec.for_slice("volumes")[1]
    assert volumes_meta == ("name", ["merge", "retainKeys"])
    metadata, _ = root.for_struct("metadata")
    owners_meta = metadata.for_slice("ownerReferences")[1]
    assert owners_meta == ("uid", ["merge"])


def test_every_builtin_kind_supports_smp(registry: Registry) -> None:
    for info in registry.resources.values():
        if "patch" in info.verbs:
            doc = _doc(registry, info.group, info.version)
            assert gvk_supports_smp(doc, _gvk(info)), info.kind


# --- kubectl explain (plaintext.tmpl) --------------------------------------------------------

def _resolve_ref(ref: Any, doc: Doc) -> Doc | None:
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return None
    cur: Any = doc
    for part in ref[2:].split("/"):
        if not isinstance(cur, dict) or not isinstance(cur.get(part), dict):
            return None
        cur = cur[part]
    return dict(cur)


def explain_gvk(doc: Doc, group: str, version: str, resource: str) -> dict[str, str] | None:
    prefix = f"/apis/{group}" if group else "/api"
    searches = [f"{prefix}/{version}/{resource}", f"{prefix}/{version}/{resource}/{{name}}",
                f"{prefix}/{version}/namespaces/{{namespace}}/{resource}",
                f"{prefix}/{version}/namespaces/{{namespace}}/{resource}/{{name}}"]
    for path in searches:
        item = doc["paths"].get(path)
        for method in ("get", "post", "put", "patch", "delete"):
            if item and method in item and item[method].get("x-kubernetes-group-version-kind"):
                gvk: dict[str, str] = item[method]["x-kubernetes-group-version-kind"]
                return gvk
    return None


def explain_field(doc: Doc, gvk: dict[str, str], field_path: list[str]) -> tuple[str, Doc]:
    """The "schema" and "output" templates: returns (typeGuess, resolved schema)."""
    root = next(s for _, s in sorted(doc["components"]["schemas"].items())
                if gvk in (s.get("x-kubernetes-group-version-kind") or []))
    schema: Doc = root
    type_guess = "Object"
    path = list(field_path)
    while path:
        resolved = _resolve_ref(schema.get("$ref"), doc) or schema
        props = resolved.get("properties") or {}
        if path[0] in props:
            schema = props[path[0]]
            if len(path) == 1:
                type_guess = explain_type(schema, doc)
            path = path[1:]
        elif "items" in resolved:
            schema = resolved["items"]
        elif isinstance(resolved.get("additionalProperties"), dict):
            schema = resolved["additionalProperties"]
        elif resolved.get("allOf"):
            schema = resolved["allOf"][0]
        else:
            raise KeyError(f'field "{path[0]}" does not exist')
    while True:  # the final schema, as explain prints its fields
        resolved = _resolve_ref(schema.get("$ref"), doc) or schema
        if resolved.get("allOf") and not resolved.get("properties"):
            schema = resolved["allOf"][0]
        elif "items" in resolved and not resolved.get("properties"):
            schema = resolved["items"]
        else:
            return type_guess, resolved


def explain_type(schema: Doc, doc: Doc) -> str:
    """The "typeGuess" template."""
    if "items" in schema:
        return "[]" + explain_type(schema["items"], doc)
    if isinstance(schema.get("additionalProperties"), dict):
        return "map[string]" + explain_type(schema["additionalProperties"], doc)
    if schema.get("allOf") and not schema.get("properties") and len(schema["allOf"]) == 1:
        return explain_type(schema["allOf"][0], doc)
    if "$ref" in schema:
        target = _resolve_ref(schema["$ref"], doc)
        if not target or not target.get("type") or target["type"] == "object":
            return str(schema["$ref"]).split("/")[-1].split(".")[-1] or "Object"
        return str(target["type"])
    return "Object" if schema.get("type", "object") == "object" else str(schema["type"])


def test_explain_deployment_spec(registry: Registry) -> None:
    doc = openapi.openapi_v3_path_document(registry, "apis/apps/v1")
    assert doc is not None
    gvk = explain_gvk(doc, "apps", "v1", "deployments")
    assert gvk == {"group": "apps", "kind": "Deployment", "version": "v1"}
    type_guess, spec = explain_field(doc, gvk, ["spec"])
    assert type_guess == "DeploymentSpec"
    assert {"replicas", "selector", "template", "strategy"} <= set(spec["properties"])
    assert "template" in spec["required"]
    type_guess, containers = explain_field(doc, gvk, ["spec", "template", "spec", "containers"])
    assert type_guess == "[]Container"
    assert "image" in containers["properties"]
    assert explain_field(doc, gvk, ["spec", "strategy", "rollingUpdate", "maxSurge"])[0] == \
        "IntOrString"
    assert explain_field(doc, gvk, ["metadata", "creationTimestamp"])[0] == "string"
    assert explain_field(doc, gvk, ["metadata", "labels"])[0] == "map[string]string"
    resources = ["spec", "template", "spec", "containers", "resources", "limits"]
    assert explain_field(doc, gvk, resources)[0] == "map[string]Quantity"
    with pytest.raises(KeyError):
        explain_field(doc, gvk, ["spec", "nonsense"])


def test_explain_core_and_cluster_scoped(registry: Registry) -> None:
    doc = _doc(registry, "", "v1")
    gvk = explain_gvk(doc, "", "v1", "pods")
    assert gvk == {"group": "", "kind": "Pod", "version": "v1"}
    assert "containers" in explain_field(doc, gvk, ["spec"])[1]["properties"]
    gvk = explain_gvk(doc, "", "v1", "namespaces")
    assert gvk == {"group": "", "kind": "Namespace", "version": "v1"}
    assert "finalizers" in explain_field(doc, gvk, ["spec"])[1]["properties"]
    for info in registry.resources.values():
        gv_doc = _doc(registry, info.group, info.version)
        assert explain_gvk(gv_doc, info.group, info.version, info.plural) == _gvk(info)


# --- index, hashes, other documents ----------------------------------------------------------

def test_index(registry: Registry) -> None:
    index = openapi.openapi_v3_index(registry)
    paths = index["paths"]
    assert {"api", "api/v1", "apis", "apis/apps", "apis/apps/v1", "version",
            "apis/rbac.authorization.k8s.io/v1", "apis/autoscaling/v2"} <= set(paths)
    for key, entry in paths.items():
        url = entry["serverRelativeURL"]
        assert url.startswith(f"/openapi/v3/{key}?hash=")
        found = openapi.openapi_v3_path_json(registry, key)
        assert found is not None, key
        body, etag = found
        assert etag == hashlib.sha512(body).hexdigest().upper()
        assert url.endswith(f"?hash={etag}")
        assert body == orjson.dumps(openapi.openapi_v3_path_document(registry, key))
    assert list(paths) == sorted(paths)


def test_index_group_versions_parse_like_client_go(registry: Registry) -> None:
    """openapi3.PathToGroupVersion: every served GV appears, the other keys do not parse."""
    parsed = set()
    for key in openapi.openapi_v3_index(registry)["paths"]:
        parts = key.split("/")
        if parts[0] == "apis" and len(parts) >= 3:
            parsed.add((parts[1], parts[2]))
        elif parts[0] == "api" and len(parts) >= 2:
            parsed.add(("", parts[1]))
    assert parsed == set(_gvs(registry))


def test_discovery_documents(registry: Registry) -> None:
    api = openapi.openapi_v3_path_document(registry, "api")
    assert api is not None
    assert api["paths"]["/api/"]["get"]["operationId"] == "getCoreAPIVersions"
    apis = openapi.openapi_v3_path_document(registry, "apis")
    assert apis is not None and "/apis/" in apis["paths"]
    group = openapi.openapi_v3_path_document(registry, "apis/apps")
    assert group is not None
    assert group["paths"]["/apis/apps/"]["get"]["operationId"] == "getAppsAPIGroup"
    version = openapi.openapi_v3_path_document(registry, "version")
    assert version is not None and "io.k8s.apimachinery.pkg.version.Info" in version[
        "components"]["schemas"]
    assert openapi.openapi_v3_path_document(registry, "apis/nope") is None
    assert openapi.openapi_v3_path_document(registry, "apis/nope/v1") is None
    assert openapi.openapi_v3_path_document(registry, "logs") is None
    assert openapi.openapi_v3_document(registry, "apps", "v2") is None
    assert openapi.openapi_v3_path_json(registry, "apis/apps/v9") is None


def test_document_header(registry: Registry) -> None:
    doc = _doc(registry, "batch", "v1")
    assert doc["openapi"] == "3.0.0"
    assert doc["info"] == {"title": "Kubernetes", "version": "unversioned"}
    assert doc["components"]["securitySchemes"]["BearerToken"]["type"] == "apiKey"
    orjson.dumps(doc)


# --- caching and custom resources ------------------------------------------------------------

def _crontabs() -> ResourceInfo:
    return ResourceInfo(
        "stable.example.com", "v1", "CronTab", "crontabs", "crontab", True,
        short_names=("ct",), subresources=(
            Subresource("status", "CronTab", ("get", "patch", "update")),
            Subresource("scale", "Scale", ("get", "patch", "update"), "autoscaling", "v1")),
        has_status=True, storage_prefix="/registry/stable.example.com/crontabs/")


def test_documents_are_cached(registry: Registry) -> None:
    assert openapi.openapi_v3_document(registry, "apps", "v1") is \
        openapi.openapi_v3_document(builtin_registry(), "apps", "v1")
    assert openapi.openapi_v3_index(registry) is openapi.openapi_v3_index(registry)
    assert openapi.openapi_v2(registry) is openapi.openapi_v2(registry)
    assert openapi.openapi_v2_json(registry) is openapi.openapi_v2_json(registry)


def test_custom_resource_added_and_removed() -> None:
    reg = builtin_registry()
    before = openapi.openapi_v3_index(reg)
    apps_before = openapi.openapi_v3_document(reg, "apps", "v1")
    assert openapi.openapi_v3_document(reg, "stable.example.com", "v1") is None

    reg.add(_crontabs())
    index = openapi.openapi_v3_index(reg)
    assert index is not before
    assert {"apis/stable.example.com", "apis/stable.example.com/v1"} <= set(index["paths"])
    # Other group-versions keep their documents and hashes.
    assert openapi.openapi_v3_document(reg, "apps", "v1") is apps_before
    assert index["paths"]["apis/apps/v1"] == before["paths"]["apis/apps/v1"]

    doc = _doc(reg, "stable.example.com", "v1")
    gvk = {"group": "stable.example.com", "kind": "CronTab", "version": "v1"}
    schema = doc["components"]["schemas"]["com.example.stable.v1.CronTab"]
    assert schema["x-kubernetes-group-version-kind"] == [gvk]
    assert schema["x-kubernetes-preserve-unknown-fields"] is True
    assert "com.example.stable.v1.CronTabList" in doc["components"]["schemas"]
    assert supports_query_param_v3(doc, gvk, "fieldValidation")
    # Custom resources take merge patches: no strategic merge patch content type.
    assert not gvk_supports_smp(doc, gvk)
    item = doc["paths"]["/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}"]
    assert "application/merge-patch+json" in item["patch"]["requestBody"]["content"]
    assert item["patch"]["operationId"] == "patchStableExampleComV1NamespacedCronTab"
    assert item["patch"]["tags"] == ["stableExampleCom_v1"]
    scale = doc["paths"][
        "/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}/scale"]["get"]
    assert scale["x-kubernetes-group-version-kind"]["kind"] == "Scale"
    assert "io.k8s.api.autoscaling.v1.Scale" in doc["components"]["schemas"]
    assert explain_gvk(doc, "stable.example.com", "v1", "crontabs") == gvk
    for ref in _refs(doc, []):
        assert ref.removeprefix(V3) in doc["components"]["schemas"]
    v2 = openapi.openapi_v2(reg)
    assert "com.example.stable.v1.CronTab" in v2["definitions"]

    reg.remove("stable.example.com", "v1", "crontabs")
    assert openapi.openapi_v3_index(reg) == before
    assert openapi.openapi_v3_document(reg, "stable.example.com", "v1") is None


# --- swagger 2.0 ---------------------------------------------------------------------------

def test_v2_document(registry: Registry) -> None:
    doc = openapi.openapi_v2(registry)
    assert doc["swagger"] == "2.0"
    assert set(definitions()) <= set(doc["definitions"])
    for ref in _refs(doc, []):
        assert ref.startswith("#/definitions/"), ref
        assert ref.removeprefix("#/definitions/") in doc["definitions"], ref
    item = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
    patch = item["patch"]
    assert "application/strategic-merge-patch+json" in patch["consumes"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "apps", "kind": "Deployment",
                                                        "version": "v1"}
    names = {p["name"] for p in patch["parameters"]}
    assert {"body", "fieldValidation", "fieldManager", "dryRun", "force"} == names
    body = next(p for p in patch["parameters"] if p["in"] == "body")
    assert body["schema"] == {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}
    assert {"/api/", "/apis/", "/apis/apps/", "/api/v1/", "/version/"} <= set(doc["paths"])
    containers = doc["definitions"]["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert orjson.loads(openapi.openapi_v2_json(registry)) == doc


def test_v2_does_not_share_schema_objects(registry: Registry) -> None:
    doc = openapi.openapi_v2(registry)
    name = "io.k8s.api.apps.v1.Deployment"
    assert doc["definitions"][name] == definitions()[name]
    assert doc["definitions"][name] is not definitions()[name]
