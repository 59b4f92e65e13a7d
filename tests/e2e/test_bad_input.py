"""Bad input, over plain HTTPS and through kubectl: every refusal is a `Status` with
upstream's code and reason and a message naming the field; nothing is half written; and
the server never answers 5xx (checked from /metrics at the end of the module)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.cluster import Kubectl, Server, assert_status, desired_state, make_namespace

pytestmark = pytest.mark.e2e

NS = "bad-input"
CONFIGMAPS = f"/api/v1/namespaces/{NS}/configmaps"
DEPLOYMENTS = f"/apis/apps/v1/namespaces/{NS}/deployments"
PODS = f"/api/v1/namespaces/{NS}/pods"
JSON = {"content-type": "application/json"}
MERGE = {"content-type": "application/merge-patch+json"}
MIB = 1024 * 1024


@pytest.fixture(scope="module", autouse=True)
def namespace(api: httpx.Client) -> str:
    return make_namespace(api, NS)


def _configmap(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def _deployment(name: str, replicas: Any = 1) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}


def _pod(name: str, **container: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "nginx", **container}]}}


def _create(api: httpx.Client, path: str, obj: dict[str, Any]) -> dict[str, Any]:
    response = api.post(path, json=obj)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _absent(api: httpx.Client, path: str, name: str) -> None:
    """Nothing was written: the object does not exist."""
    assert_status(api.get(f"{path}/{name}"), 404, "NotFound")


def _current(api: httpx.Client, path: str, name: str) -> dict[str, Any]:
    response = api.get(f"{path}/{name}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


@pytest.fixture
def existing(api: httpx.Client, request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """A ConfigMap that bad updates must leave exactly as it is."""
    name = request.node.name.removeprefix("test_").replace("_", "-")[:50].strip("-")
    created = _create(api, CONFIGMAPS, _configmap(name, keep="me"))
    yield created
    assert _current(api, CONFIGMAPS, name) == created, "a refused update changed the object"


# -- malformed bodies --------------------------------------------------------------------


def test_malformed_json_is_a_400(api: httpx.Client) -> None:
    body = b'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "broken-json"'
    status = assert_status(api.post(CONFIGMAPS, content=body, headers=JSON), 400,
                           "BadRequest")
    assert "json" in status["message"].lower()
    _absent(api, CONFIGMAPS, "broken-json")


def test_malformed_yaml_is_a_400(api: httpx.Client) -> None:
    body = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken-yaml\ndata: [a, b\n"
    status = assert_status(api.post(CONFIGMAPS, content=body,
                                    headers={"content-type": "application/yaml"}),
                           400, "BadRequest")
    assert "yaml" in status["message"].lower()
    _absent(api, CONFIGMAPS, "broken-yaml")


def test_a_body_that_is_not_an_object_is_a_400(api: httpx.Client) -> None:
    assert_status(api.post(CONFIGMAPS, content=b'["not", "an", "object"]', headers=JSON),
                  400, "BadRequest")
    assert_status(api.post(CONFIGMAPS, content=b"", headers=JSON), 400, "BadRequest")


def test_malformed_updates_change_nothing(api: httpx.Client, existing: dict[str, Any]
                                          ) -> None:
    path = f"{CONFIGMAPS}/{existing['metadata']['name']}"
    broken = b'{"data": {"keep": "changed"'
    assert_status(api.put(path, content=broken, headers=JSON), 400, "BadRequest")
    for patch_type in ("merge-patch", "strategic-merge-patch", "json-patch"):
        assert_status(api.patch(path, content=broken, headers={
            "content-type": f"application/{patch_type}+json"}), 400, "BadRequest")


def test_unsupported_media_type_is_a_415(api: httpx.Client) -> None:
    assert_status(api.post(CONFIGMAPS, content=b"name=x",
                           headers={"content-type": "text/plain"}),
                  415, "UnsupportedMediaType")


def test_kind_or_namespace_not_matching_the_url_is_a_400(api: httpx.Client) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "wrong-kind"}}
    assert_status(api.post(CONFIGMAPS, json=secret), 400, "BadRequest")
    _absent(api, CONFIGMAPS, "wrong-kind")
    elsewhere = _configmap("wrong-namespace")
    elsewhere["metadata"]["namespace"] = "default"
    assert_status(api.post(CONFIGMAPS, json=elsewhere), 400, "BadRequest")
    _absent(api, CONFIGMAPS, "wrong-namespace")


# -- wrong types -------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "obj", "field"), [
    (DEPLOYMENTS, _deployment("replicas-three", replicas="three"), "spec.replicas"),
    (CONFIGMAPS, {**_configmap("number-data"), "data": {"a": 1}}, "ConfigMap.data"),
    (PODS, {**_pod("string-containers"), "spec": {"containers": "nginx"}}, "spec.containers"),
    (PODS, _pod("port-words", ports=[{"containerPort": "eighty"}]),
     "spec.containers.ports.containerPort"),
], ids=["replicas", "data", "containers", "containerPort"])
def test_a_wrong_type_is_a_400_naming_the_field(api: httpx.Client, path: str,
                                                obj: dict[str, Any], field: str) -> None:
    status = assert_status(api.post(path, json=obj), 400, "BadRequest")
    assert field in status["message"]
    _absent(api, path, obj["metadata"]["name"])


def test_a_wrong_type_in_an_update_changes_nothing(api: httpx.Client) -> None:
    created = _create(api, DEPLOYMENTS, _deployment("typed-update"))
    wrong = json.loads(json.dumps(created))
    wrong["spec"]["replicas"] = "three"
    status = assert_status(api.put(f"{DEPLOYMENTS}/typed-update", json=wrong), 400,
                           "BadRequest")
    assert "spec.replicas" in status["message"]
    assert desired_state(_current(api, DEPLOYMENTS, "typed-update")) == desired_state(created)


def test_kubectl_apply_of_a_wrong_type(kubectl: Kubectl, api: httpx.Client) -> None:
    result = kubectl.run("apply", "-n", NS, "-f", "-", check=False,
                         input=json.dumps(_deployment("kubectl-three", replicas="three")))
    assert result.returncode != 0
    assert "Error from server (BadRequest)" in result.stderr
    assert "spec.replicas" in result.stderr
    _absent(api, DEPLOYMENTS, "kubectl-three")


# -- unknown fields and fieldValidation --------------------------------------------------


def _with_unknown_fields(name: str) -> dict[str, Any]:
    obj = _deployment(name)
    obj["spec"]["replicaz"] = 3
    obj["spec"]["template"]["spec"]["containers"][0]["imagePullPolice"] = "Always"
    return obj


def test_unknown_field_with_strict_validation_is_a_400(api: httpx.Client) -> None:
    response = api.post(DEPLOYMENTS, params={"fieldValidation": "Strict"},
                        json=_with_unknown_fields("strict"))
    status = assert_status(response, 400, "BadRequest")
    assert 'unknown field "spec.replicaz"' in status["message"]
    assert 'unknown field "spec.template.spec.containers[0].imagePullPolice"' in \
        status["message"]
    _absent(api, DEPLOYMENTS, "strict")


def test_strict_create_error_reads_as_upstream(api: httpx.Client) -> None:
    response = api.post(DEPLOYMENTS, params={"fieldValidation": "Strict"},
                        json=_with_unknown_fields("strict-message"))
    status = assert_status(response, 400, "BadRequest")
    assert status["message"].startswith(
        'Deployment in version "v1" cannot be handled as a Deployment: strict decoding '
        'error: unknown field "')


def test_unknown_field_with_warn_validation_warns(api: httpx.Client) -> None:
    for mode in ("Warn", ""):
        name = f"warn-{mode.lower() or 'default'}"
        response = api.post(DEPLOYMENTS, params={"fieldValidation": mode} if mode else {},
                            json=_with_unknown_fields(name))
        assert response.status_code == 201, response.text
        warnings = response.headers.get_list("warning")
        assert any('unknown field \\"spec.replicaz\\"' in w for w in warnings), warnings
        assert "replicaz" not in response.text
        assert "replicaz" not in json.dumps(_current(api, DEPLOYMENTS, name))


def test_unknown_field_with_ignore_validation_is_dropped(api: httpx.Client) -> None:
    response = api.post(DEPLOYMENTS, params={"fieldValidation": "Ignore"},
                        json=_with_unknown_fields("ignore"))
    assert response.status_code == 201, response.text
    assert "warning" not in response.headers
    assert "replicaz" not in json.dumps(_current(api, DEPLOYMENTS, "ignore"))


def test_unsupported_field_validation_value_is_a_400(api: httpx.Client) -> None:
    response = api.post(CONFIGMAPS, params={"fieldValidation": "Sometimes"},
                        json=_configmap("sometimes"))
    assert_status(response, 400, "BadRequest")
    _absent(api, CONFIGMAPS, "sometimes")


def test_unknown_field_in_a_strict_patch_changes_nothing(api: httpx.Client,
                                                         existing: dict[str, Any]) -> None:
    path = f"{CONFIGMAPS}/{existing['metadata']['name']}"
    response = api.patch(path, params={"fieldValidation": "Strict"}, headers=MERGE,
                         content=json.dumps({"data": {"keep": "x"}, "dataz": {"a": "b"}}))
    status = assert_status(response, 400, "BadRequest")
    assert 'unknown field "dataz"' in status["message"]


def test_kubectl_apply_validates_strictly_by_default(kubectl: Kubectl, api: httpx.Client
                                                     ) -> None:
    manifest = json.dumps(_with_unknown_fields("kubectl-strict"))
    result = kubectl.run("apply", "-n", NS, "-f", "-", input=manifest, check=False)
    assert result.returncode != 0
    assert "Error from server (BadRequest)" in result.stderr
    assert 'unknown field "spec.replicaz"' in result.stderr
    _absent(api, DEPLOYMENTS, "kubectl-strict")

    # On an existing object apply patches, with the same validation.
    kubectl("apply", "-n", NS, "-f", "-", input=json.dumps(_deployment("kubectl-strict")))
    before = _current(api, DEPLOYMENTS, "kubectl-strict")
    result = kubectl.run("apply", "-n", NS, "-f", "-", input=manifest, check=False)
    assert result.returncode != 0
    assert 'unknown field "spec.replicaz"' in result.stderr
    assert desired_state(_current(api, DEPLOYMENTS, "kubectl-strict")) == desired_state(before)

    # --validate=false lets the server drop the field.
    kubectl("apply", "-n", NS, "-f", "-", "--validate=false", input=manifest)
    assert "replicaz" not in json.dumps(_current(api, DEPLOYMENTS, "kubectl-strict")["spec"])


# -- missing required fields and invalid values ------------------------------------------


def _causes(status: dict[str, Any]) -> list[str]:
    return [c["field"] for c in status["details"]["causes"]]


def test_a_pod_without_containers_is_a_422(api: httpx.Client) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "no-containers"},
           "spec": {"restartPolicy": "Never"}}
    status = assert_status(api.post(PODS, json=pod), 422, "Invalid")
    assert "spec.containers" in _causes(status)
    cause = status["details"]["causes"][_causes(status).index("spec.containers")]
    assert cause["reason"] == "FieldValueRequired"
    assert status["details"]["name"] == "no-containers"
    assert status["details"]["kind"] == "Pod"
    assert 'Pod "no-containers" is invalid: spec.containers: Required value' in \
        status["message"]
    _absent(api, PODS, "no-containers")


@pytest.mark.parametrize(("path", "obj", "fields"), [
    (DEPLOYMENTS, {**_deployment("no-selector"), "spec": {
        "template": _deployment("no-selector")["spec"]["template"]}}, ["spec.selector"]),
    (f"/api/v1/namespaces/{NS}/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "no-ports"},
        "spec": {"selector": {"app": "x"}}}, ["spec.ports"]),
    (CONFIGMAPS, _configmap("Not_A_Name"), ["metadata.name"]),
    (PODS, _pod("no-image", image=""), ["spec.containers[0].image"]),
], ids=["deployment-selector", "service-ports", "name", "image"])
def test_invalid_objects_are_a_422_naming_each_field(api: httpx.Client, path: str,
                                                     obj: dict[str, Any], fields: list[str]
                                                     ) -> None:
    status = assert_status(api.post(path, json=obj), 422, "Invalid")
    for field in fields:
        assert field in _causes(status), status
        assert field in status["message"]
    _absent(api, path, obj["metadata"]["name"])


def test_kubectl_create_of_an_invalid_pod(kubectl: Kubectl, api: httpx.Client) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "kubectl-invalid"},
           "spec": {"containers": []}}
    result = kubectl.run("create", "-n", NS, "-f", "-", input=json.dumps(pod), check=False)
    assert result.returncode != 0
    assert 'The Pod "kubectl-invalid" is invalid: spec.containers: Required value' in \
        result.stderr
    _absent(api, PODS, "kubectl-invalid")


def test_an_invalid_update_changes_nothing(api: httpx.Client) -> None:
    created = _create(api, DEPLOYMENTS, _deployment("invalid-update"))
    response = api.patch(f"{DEPLOYMENTS}/invalid-update", headers=MERGE,
                         content=json.dumps({"spec": {"replicas": -1}}))
    status = assert_status(response, 422, "Invalid")
    assert _causes(status) == ["spec.replicas"]
    assert desired_state(_current(api, DEPLOYMENTS, "invalid-update")) == desired_state(created)


# -- conflicts and missing objects -------------------------------------------------------


def test_a_stale_resource_version_on_put_is_a_409(api: httpx.Client,
                                                  existing: dict[str, Any]) -> None:
    name = existing["metadata"]["name"]
    stale = json.loads(json.dumps(existing))
    stale["metadata"]["resourceVersion"] = str(int(existing["metadata"]["resourceVersion"])
                                               - 1)
    stale["data"] = {"keep": "overwritten"}
    status = assert_status(api.put(f"{CONFIGMAPS}/{name}", json=stale), 409, "Conflict")
    assert status["message"] == (
        f'Operation cannot be fulfilled on configmaps "{name}": the object has been '
        "modified; please apply your changes to the latest version and try again")
    assert status["details"]["name"] == name
    assert status["details"]["kind"] == "configmaps"


def test_a_stale_write_after_a_concurrent_update_is_a_409(api: httpx.Client) -> None:
    """Two clients read the same version; the second writer loses."""
    first = _create(api, CONFIGMAPS, _configmap("race", v="0"))
    mine, theirs = json.loads(json.dumps(first)), json.loads(json.dumps(first))
    theirs["data"]["v"] = "theirs"
    response = api.put(f"{CONFIGMAPS}/race", json=theirs)
    assert response.status_code == 200, response.text
    winner = response.json()
    mine["data"]["v"] = "mine"
    assert_status(api.put(f"{CONFIGMAPS}/race", json=mine), 409, "Conflict")
    assert _current(api, CONFIGMAPS, "race") == winner


def test_a_stale_resource_version_in_a_patch_or_delete_is_a_409(
        api: httpx.Client, existing: dict[str, Any]) -> None:
    path = f"{CONFIGMAPS}/{existing['metadata']['name']}"
    stale = str(int(existing["metadata"]["resourceVersion"]) - 1)
    patch = {"metadata": {"resourceVersion": stale}, "data": {"keep": "patched"}}
    assert_status(api.patch(path, headers=MERGE, content=json.dumps(patch)), 409, "Conflict")
    response = api.request("DELETE", path, json={
        "kind": "DeleteOptions", "apiVersion": "v1",
        "preconditions": {"resourceVersion": stale}})
    assert_status(response, 409, "Conflict")


def test_kubectl_replace_with_a_stale_object(kubectl: Kubectl, api: httpx.Client) -> None:
    _create(api, CONFIGMAPS, _configmap("replaced", v="0"))
    old = kubectl("get", "-n", NS, "configmap", "replaced", "-o", "json")
    kubectl("patch", "-n", NS, "configmap", "replaced", "--type=merge",
            "-p", '{"data": {"v": "1"}}')
    result = kubectl.run("replace", "-n", NS, "-f", "-", input=old, check=False)
    assert result.returncode != 0
    assert "Error from server (Conflict)" in result.stderr
    assert "the object has been modified" in result.stderr
    assert _current(api, CONFIGMAPS, "replaced")["data"] == {"v": "1"}


def test_creating_an_existing_object_is_a_409(api: httpx.Client,
                                              existing: dict[str, Any]) -> None:
    name = existing["metadata"]["name"]
    status = assert_status(api.post(CONFIGMAPS, json=_configmap(name, keep="other")),
                           409, "AlreadyExists")
    assert status["message"] == f'configmaps "{name}" already exists'


def test_missing_objects_are_a_404(api: httpx.Client) -> None:
    status = assert_status(api.get(f"{CONFIGMAPS}/nosuch"), 404, "NotFound")
    assert status["message"] == 'configmaps "nosuch" not found'
    assert status["details"] == {"name": "nosuch", "kind": "configmaps"}
    status = assert_status(api.get(f"{DEPLOYMENTS}/nosuch"), 404, "NotFound")
    assert status["message"] == 'deployments.apps "nosuch" not found'
    assert status["details"]["group"] == "apps"
    assert_status(api.put(f"{CONFIGMAPS}/nosuch", json=_configmap("nosuch")), 404,
                  "NotFound")
    _absent(api, CONFIGMAPS, "nosuch")
    assert_status(api.patch(f"{CONFIGMAPS}/nosuch", headers=MERGE, content="{}"), 404,
                  "NotFound")
    assert_status(api.delete(f"{CONFIGMAPS}/nosuch"), 404, "NotFound")
    assert_status(api.get(f"/api/v1/namespaces/{NS}/nosuchresources"), 404, "NotFound")
    assert_status(api.get("/apis/nosuch.example.com/v1"), 404, "NotFound")


def test_creating_in_a_missing_namespace_is_a_404(api: httpx.Client) -> None:
    status = assert_status(api.post("/api/v1/namespaces/nowhere/configmaps",
                                    json=_configmap("lost")), 404, "NotFound")
    assert status["message"] == 'namespaces "nowhere" not found'
    _absent(api, "/api/v1/namespaces/nowhere/configmaps", "lost")


# -- oversized objects and bodies --------------------------------------------------------


def test_a_2mib_configmap_is_refused(api: httpx.Client) -> None:
    """Upstream validates a ConfigMap's data to at most 1 MiB (ValidateConfigMap), which
    refuses a 2 MiB one with 422 before its size could matter to storage."""
    response = api.post(CONFIGMAPS, json=_configmap("two-mib", blob="x" * (2 * MIB)))
    status = assert_status(response, 422, "Invalid")
    assert status["details"]["causes"][0]["reason"] == "FieldValueTooLong"
    assert "1048576" in status["message"]
    _absent(api, CONFIGMAPS, "two-mib")


def test_an_object_too_large_to_store_is_a_413(api: httpx.Client) -> None:
    """A valid object over storage's 1.5 MiB limit (etcd's): 413, not 500."""
    response = api.post(PODS, json=_pod("huge-args", args=["x" * (2 * MIB)]))
    status = assert_status(response, 413, "RequestEntityTooLarge")
    assert "too large" in status["message"]
    _absent(api, PODS, "huge-args")


def test_an_update_too_large_to_store_changes_nothing(api: httpx.Client) -> None:
    created = _create(api, DEPLOYMENTS, _deployment("grows"))
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "c", "args": ["x" * (2 * MIB)]}]}}}}
    response = api.patch(f"{DEPLOYMENTS}/grows", content=json.dumps(patch),
                         headers={"content-type": "application/strategic-merge-patch+json"})
    assert_status(response, 413, "RequestEntityTooLarge")
    assert desired_state(_current(api, DEPLOYMENTS, "grows")) == desired_state(created)


def test_a_body_over_3mib_is_a_413(api: httpx.Client) -> None:
    response = api.post(CONFIGMAPS, json=_configmap("over-3mib", blob="x" * (3 * MIB)))
    status = assert_status(response, 413, "RequestEntityTooLarge")
    assert status["message"] == "Request entity too large: limit is 3145728"
    _absent(api, CONFIGMAPS, "over-3mib")


def test_a_chunked_body_over_3mib_is_a_413(api: httpx.Client) -> None:
    """Without a Content-Length the limit is enforced while reading."""
    def body() -> Iterator[bytes]:
        yield b'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "chunked"}, '
        yield b'"data": {"blob": "'
        for _ in range(32):
            yield b"x" * (128 * 1024)
        yield b'"}}'

    response = api.post(CONFIGMAPS, content=body(), headers=JSON)
    assert "content-length" not in response.request.headers
    assert_status(response, 413, "RequestEntityTooLarge")
    _absent(api, CONFIGMAPS, "chunked")


def test_kubectl_apply_of_an_object_too_large(kubectl: Kubectl, api: httpx.Client,
                                              tmp_path: Path) -> None:
    manifest = tmp_path / "huge.json"
    manifest.write_text(json.dumps(_pod("kubectl-huge", args=["x" * (2 * MIB)])))
    result = kubectl.run("apply", "-n", NS, "-f", str(manifest), check=False)
    assert result.returncode != 0
    assert "RequestEntityTooLarge" in result.stderr
    _absent(api, PODS, "kubectl-huge")


# -- the server held up ------------------------------------------------------------------


def test_every_refusal_was_a_4xx_and_none_a_5xx(server: Server) -> None:
    """Runs last in this module: the codes this module provoked were counted, none 5xx.
    (conftest checks every module for 5xx at teardown; this also proves the count works.)"""
    counts = server.request_counts()
    codes = {code for (_verb, code) in counts}
    assert {400, 404, 409, 413, 415, 422} <= codes, counts
    assert not {key: n for key, n in counts.items() if key[1] >= 500}, counts
