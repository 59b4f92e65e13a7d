"""Changing live objects: `label`, `annotate`, `patch` (json, merge, strategic), `edit`,
`scale`."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.cluster import Kubectl, assert_status, desired_state

pytestmark = pytest.mark.e2e
# These tests expect namespaces to hold only what they made: no root CA publisher.
SERVER_ARGS = ["--controllers", "*,-root-ca-certificate-publisher-controller"]


@pytest.fixture
def ns(ns: str, kubectl: Kubectl, manifests: Path) -> str:
    """The test's own namespace (conftest), with the app applied in it."""
    kubectl("apply", "-n", ns, "-f", str(manifests / "app.yaml"))
    return ns


def _get(kubectl: Kubectl, ns: str, *what: str) -> Any:
    return kubectl.json("get", "-n", ns, *what)


# -- label and annotate ------------------------------------------------------------------


def test_label(kubectl: Kubectl, ns: str) -> None:
    assert kubectl("label", "-n", ns, "configmap", "web-config", "color=blue").strip() == \
        "configmap/web-config labeled"
    assert _get(kubectl, ns, "configmap", "web-config")["metadata"]["labels"]["color"] == "blue"

    refused = kubectl.run("label", "-n", ns, "configmap", "web-config", "color=red",
                          check=False)
    assert refused.returncode != 0
    assert "already has a value (blue)" in refused.stderr
    kubectl("label", "-n", ns, "configmap", "web-config", "color=red", "--overwrite")
    assert _get(kubectl, ns, "configmap", "web-config")["metadata"]["labels"]["color"] == "red"

    assert kubectl("label", "-n", ns, "configmap", "web-config", "color-").strip() == \
        "configmap/web-config unlabeled"
    labels = _get(kubectl, ns, "configmap", "web-config")["metadata"]["labels"]
    assert labels == {"app": "web", "tier": "config"}


def test_label_many_by_selector(kubectl: Kubectl, ns: str) -> None:
    output = kubectl("label", "-n", ns, "configmaps,secrets", "-l", "tier=config",
                     "reviewed=yes")
    assert sorted(output.splitlines()) == ["configmap/web-config labeled",
                                           "secret/web-secret labeled"]
    names = kubectl("get", "-n", ns, "all,configmaps,secrets", "-l", "reviewed=yes",
                    "-o", "name").split()
    assert sorted(names) == ["configmap/web-config", "secret/web-secret"]


def test_annotate(kubectl: Kubectl, ns: str) -> None:
    before = _get(kubectl, ns, "deployment", "web")
    assert kubectl("annotate", "-n", ns, "deployment", "web",
                   "example.com/owner=team-a").strip() == "deployment.apps/web annotated"
    after = _get(kubectl, ns, "deployment", "web")
    assert after["metadata"]["annotations"]["example.com/owner"] == "team-a"
    # Metadata is not spec: the generation stays.
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert int(after["metadata"]["resourceVersion"]) > int(before["metadata"]["resourceVersion"])

    kubectl("annotate", "-n", ns, "deployment", "web", "example.com/owner=team-b",
            "--overwrite")
    assert _get(kubectl, ns, "deployment", "web")["metadata"]["annotations"][
        "example.com/owner"] == "team-b"
    kubectl("annotate", "-n", ns, "deployment", "web", "example.com/owner-")
    assert "example.com/owner" not in _get(kubectl, ns, "deployment", "web")["metadata"].get(
        "annotations", {})


# -- patch -------------------------------------------------------------------------------


def test_patch_json(kubectl: Kubectl, ns: str) -> None:
    patch = [{"op": "replace", "path": "/spec/replicas", "value": 5},
             {"op": "add", "path": "/metadata/labels/patched", "value": "json"}]
    output = kubectl("patch", "-n", ns, "deployment", "web", "--type=json",
                     "-p", json.dumps(patch))
    assert output.strip() == "deployment.apps/web patched"
    deployment = _get(kubectl, ns, "deployment", "web")
    assert deployment["spec"]["replicas"] == 5
    assert deployment["metadata"]["labels"]["patched"] == "json"
    assert deployment["metadata"]["generation"] == 2


def test_patch_json_failed_test_changes_nothing(kubectl: Kubectl, api: httpx.Client,
                                                ns: str) -> None:
    before = _get(kubectl, ns, "deployment", "web")
    patch = [{"op": "replace", "path": "/spec/replicas", "value": 7},
             {"op": "test", "path": "/spec/replicas", "value": 99}]
    response = api.patch(f"/apis/apps/v1/namespaces/{ns}/deployments/web", content=json.dumps(
        patch), headers={"content-type": "application/json-patch+json"})
    assert_status(response, 422, "Invalid")
    assert desired_state(_get(kubectl, ns, "deployment", "web")) == desired_state(before)


def test_patch_merge(kubectl: Kubectl, ns: str) -> None:
    patch = {"metadata": {"labels": {"tier": None, "patched": "merge"}},
             "data": {"mode": None, "extra": "1"}}
    output = kubectl("patch", "-n", ns, "configmap", "web-config", "--type=merge",
                     "-p", json.dumps(patch))
    assert output.strip() == "configmap/web-config patched"
    config = _get(kubectl, ns, "configmap", "web-config")
    assert config["metadata"]["labels"] == {"app": "web", "patched": "merge"}
    assert config["data"] == {"greeting": "hello", "extra": "1"}


def test_patch_merge_replaces_lists(kubectl: Kubectl, ns: str) -> None:
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "image": "busybox:1.36"}]}}}}
    kubectl("patch", "-n", ns, "deployment", "web", "--type=merge", "-p", json.dumps(patch))
    containers = _get(kubectl, ns, "deployment", "web")["spec"]["template"]["spec"][
        "containers"]
    assert [c["name"] for c in containers] == ["sidecar"]


def test_patch_strategic_merges_lists_by_key(kubectl: Kubectl, ns: str) -> None:
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "image": "busybox:1.36"},
        {"name": "nginx", "image": "nginx:1.28"}]}}}}
    output = kubectl("patch", "-n", ns, "deployment", "web", "-p", json.dumps(patch))
    assert output.strip() == "deployment.apps/web patched"
    containers = _get(kubectl, ns, "deployment", "web")["spec"]["template"]["spec"][
        "containers"]
    by_name = {c["name"]: c for c in containers}
    assert set(by_name) == {"nginx", "sidecar"}
    assert by_name["nginx"]["image"] == "nginx:1.28"
    # Fields the patch did not mention are kept: the list was merged, not replaced.
    assert by_name["nginx"]["ports"] == [{"containerPort": 80, "protocol": "TCP"}]

    # `$patch: delete` removes one element by its merge key.
    delete = {"spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "$patch": "delete"}]}}}}
    kubectl("patch", "-n", ns, "deployment", "web", "--type=strategic", "-p",
            json.dumps(delete))
    containers = _get(kubectl, ns, "deployment", "web")["spec"]["template"]["spec"][
        "containers"]
    assert [c["name"] for c in containers] == ["nginx"]


def test_patch_with_no_change(kubectl: Kubectl, ns: str) -> None:
    before = _get(kubectl, ns, "configmap", "web-config")
    output = kubectl("patch", "-n", ns, "configmap", "web-config", "--type=merge",
                     "-p", '{"data": {"greeting": "hello"}}')
    assert output.strip() == "configmap/web-config patched (no change)"
    assert _get(kubectl, ns, "configmap", "web-config") == before


def test_patch_missing_object(kubectl: Kubectl, ns: str) -> None:
    result = kubectl.run("patch", "-n", ns, "configmap", "nosuch", "--type=merge",
                         "-p", '{"data": {"a": "1"}}', check=False)
    assert result.returncode != 0
    assert 'configmaps "nosuch" not found' in result.stderr


# -- edit --------------------------------------------------------------------------------


def _editor(tmp_path: Path, body: str) -> str:
    """An executable that kubectl runs as `$KUBE_EDITOR <file>`: it edits the file."""
    script = tmp_path / "editor.py"
    script.write_text(f"#!{sys.executable}\nimport sys\nfrom pathlib import Path\n"
                      f"path = Path(sys.argv[1])\ntext = path.read_text()\n{body}\n"
                      "path.write_text(text)\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def test_edit(kubectl: Kubectl, ns: str, tmp_path: Path) -> None:
    editor = _editor(tmp_path, "text = text.replace('greeting: hello', 'greeting: edited')\n"
                               "assert 'greeting: edited' in text")
    result = kubectl.run("edit", "-n", ns, "configmap", "web-config",
                         env={"KUBE_EDITOR": editor, "EDITOR": editor})
    assert result.stdout.strip() == "configmap/web-config edited"
    assert _get(kubectl, ns, "configmap", "web-config")["data"]["greeting"] == "edited"


def test_edit_a_deployment_as_json(kubectl: Kubectl, ns: str, tmp_path: Path) -> None:
    editor = _editor(tmp_path, "import json\nobj = json.loads(text)\n"
                               "obj['spec']['replicas'] = 4\n"
                               "obj['metadata']['labels']['edited'] = 'yes'\n"
                               "text = json.dumps(obj)")
    result = kubectl.run("edit", "-n", ns, "deployment", "web", "-o", "json",
                         env={"KUBE_EDITOR": editor})
    # With -o json, kubectl prints the object the server answered.
    assert json.loads(result.stdout)["spec"]["replicas"] == 4
    deployment = _get(kubectl, ns, "deployment", "web")
    assert deployment["spec"]["replicas"] == 4
    assert deployment["metadata"]["labels"]["edited"] == "yes"


def test_edit_without_changes(kubectl: Kubectl, ns: str, tmp_path: Path) -> None:
    before = _get(kubectl, ns, "service", "web")
    result = kubectl.run("edit", "-n", ns, "service", "web",
                         env={"KUBE_EDITOR": _editor(tmp_path, "pass")})
    assert "Edit cancelled, no changes made." in result.stdout + result.stderr
    assert _get(kubectl, ns, "service", "web") == before


# -- scale -------------------------------------------------------------------------------


def test_scale(kubectl: Kubectl, api: httpx.Client, ns: str) -> None:
    assert kubectl("scale", "-n", ns, "deployment", "web", "--replicas=3").strip() == \
        "deployment.apps/web scaled"
    deployment = _get(kubectl, ns, "deployment", "web")
    assert deployment["spec"]["replicas"] == 3
    assert deployment["metadata"]["generation"] == 2

    scale = api.get(f"/apis/apps/v1/namespaces/{ns}/deployments/web/scale").json()
    assert scale["kind"] == "Scale"
    assert scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"] == {"replicas": 3}
    assert scale["status"]["selector"] == "app=web"

    kubectl("scale", "-n", ns, "deployment", "web", "--replicas=0")
    assert _get(kubectl, ns, "deployment", "web")["spec"]["replicas"] == 0


def test_scale_with_a_wrong_precondition(kubectl: Kubectl, ns: str) -> None:
    result = kubectl.run("scale", "-n", ns, "deployment", "web", "--current-replicas=5",
                         "--replicas=1", check=False)
    assert result.returncode != 0
    assert _get(kubectl, ns, "deployment", "web")["spec"]["replicas"] == 2


def test_scale_a_replicaset(kubectl: Kubectl, ns: str) -> None:
    replicaset = {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "rs", "labels": {"app": "rs"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "rs"}},
                 "template": {"metadata": {"labels": {"app": "rs"}},
                              "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}
    kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(replicaset))
    kubectl("scale", "-n", ns, "replicaset", "rs", "--replicas=2")
    assert _get(kubectl, ns, "replicaset", "rs")["spec"]["replicas"] == 2


def test_scale_to_a_negative_count_is_refused(api: httpx.Client, kubectl: Kubectl,
                                              ns: str) -> None:
    response = api.patch(f"/apis/apps/v1/namespaces/{ns}/deployments/web/scale",
                         content='{"spec": {"replicas": -1}}',
                         headers={"content-type": "application/merge-patch+json"})
    status = assert_status(response, 422, "Invalid")
    assert [c["field"] for c in status["details"]["causes"]] == ["spec.replicas"]
    assert _get(kubectl, ns, "deployment", "web")["spec"]["replicas"] == 2

