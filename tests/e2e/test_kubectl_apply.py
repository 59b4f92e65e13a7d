"""`kubectl apply -f` of a multi-document manifest: created, unchanged, configured.

Client-side apply sends a create, then strategic merge patches computed three ways from the
`kubectl.kubernetes.io/last-applied-configuration` annotation, the manifest and the live
object; "unchanged" means kubectl computed an empty patch, so it proves that the server
stored and returned exactly what upstream would (defaults included).
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.e2e.cluster import Kubectl, desired_state, make_namespace

pytestmark = pytest.mark.e2e
# These tests expect namespaces to hold only what they made: no root CA publisher.
SERVER_ARGS = ["--controllers", "*,-root-ca-certificate-publisher-controller"]

NAMES = ["deployment.apps/web", "service/web", "configmap/web-config", "secret/web-secret"]


def _verbs(output: str) -> dict[str, str]:
    """`kind/name verb` lines of kubectl apply, by kind/name."""
    result: dict[str, str] = {}
    for line in output.splitlines():
        name, _, verb = line.partition(" ")
        result[name] = verb
    return result


def _changed(manifest: str) -> str:
    """The app with two changes: more replicas, and a ConfigMap key changed, one removed."""
    changed = manifest.replace("replicas: 2", "replicas: 3")
    changed = changed.replace("greeting: hello", "greeting: bonjour")
    changed = changed.replace('  mode: "production"\n', "")
    assert changed.count("\n") == manifest.count("\n") - 1
    return changed


def test_apply_create_unchanged_configured(kubectl: Kubectl, api: httpx.Client,
                                          manifests: Path, tmp_path: Path) -> None:
    ns = make_namespace(api, "apply-flow")
    app = manifests / "app.yaml"

    first = kubectl("apply", "-n", ns, "-f", str(app))
    assert _verbs(first) == dict.fromkeys(NAMES, "created"), first
    deployment = kubectl.json("get", "-n", ns, "deployment", "web")
    assert deployment["metadata"]["generation"] == 1
    assert deployment["spec"]["replicas"] == 2

    again = kubectl("apply", "-n", ns, "-f", str(app))
    assert _verbs(again) == dict.fromkeys(NAMES, "unchanged"), again
    unchanged = kubectl.json("get", "-n", ns, "deployment", "web")
    # Nothing written by the apply (the deployment controller writes status meanwhile).
    last_applied = "kubectl.kubernetes.io/last-applied-configuration"
    assert unchanged["metadata"]["generation"] == 1
    assert unchanged["metadata"]["annotations"][last_applied] == \
        deployment["metadata"]["annotations"][last_applied]
    assert unchanged["spec"] == deployment["spec"]

    changed = tmp_path / "app-changed.yaml"
    changed.write_text(_changed(app.read_text()))
    third = kubectl("apply", "-n", ns, "-f", str(changed))
    assert _verbs(third) == {
        "deployment.apps/web": "configured", "service/web": "unchanged",
        "configmap/web-config": "configured", "secret/web-secret": "unchanged"}, third

    deployment = kubectl.json("get", "-n", ns, "deployment", "web")
    assert deployment["spec"]["replicas"] == 3
    assert deployment["metadata"]["generation"] == 2
    config = kubectl.json("get", "-n", ns, "configmap", "web-config")
    # A key dropped from the manifest is deleted from the object (three-way merge).
    assert config["data"] == {"greeting": "bonjour"}
    applied = json.loads(config["metadata"]["annotations"][
        "kubectl.kubernetes.io/last-applied-configuration"])
    assert applied["data"] == {"greeting": "bonjour"}

    fourth = kubectl("apply", "-n", ns, "-f", str(changed))
    assert _verbs(fourth) == dict.fromkeys(NAMES, "unchanged"), fourth


def test_apply_keeps_fields_it_does_not_own(kubectl: Kubectl, api: httpx.Client,
                                            manifests: Path) -> None:
    """A label added by someone else survives a re-apply; one in the manifest is restored."""
    ns = make_namespace(api, "apply-merge")
    app = str(manifests / "app.yaml")
    kubectl("apply", "-n", ns, "-f", app)
    kubectl("label", "-n", ns, "configmap", "web-config", "owner=someone-else")
    kubectl("label", "-n", ns, "configmap", "web-config", "tier=changed", "--overwrite")
    output = kubectl("apply", "-n", ns, "-f", app)
    assert _verbs(output)["configmap/web-config"] == "configured"
    labels = kubectl.json("get", "-n", ns, "configmap", "web-config")["metadata"]["labels"]
    assert labels == {"app": "web", "tier": "config", "owner": "someone-else"}


def test_apply_server_dry_run_changes_nothing(kubectl: Kubectl, api: httpx.Client,
                                              manifests: Path, tmp_path: Path) -> None:
    ns = make_namespace(api, "apply-dry-run")
    app = manifests / "app.yaml"
    output = kubectl("apply", "-n", ns, "-f", str(app), "--dry-run=server")
    assert _verbs(output) == dict.fromkeys(NAMES, "created (server dry run)"), output
    assert kubectl("get", "-n", ns, "deployments,services,configmaps,secrets",
                   "-o", "name") == ""

    kubectl("apply", "-n", ns, "-f", str(app))
    before = kubectl.json("get", "-n", ns, "deployment", "web")
    changed = tmp_path / "app-changed.yaml"
    changed.write_text(_changed(app.read_text()))
    output = kubectl("apply", "-n", ns, "-f", str(changed), "--dry-run=server")
    assert _verbs(output)["deployment.apps/web"] == "configured (server dry run)"
    after = kubectl.json("get", "-n", ns, "deployment", "web")
    assert desired_state(after) == desired_state(before)


def test_apply_fills_upstream_defaults(kubectl: Kubectl, api: httpx.Client,
                                       manifests: Path) -> None:
    ns = make_namespace(api, "apply-defaults")
    kubectl("apply", "-n", ns, "-f", str(manifests / "app.yaml"))
    spec = kubectl.json("get", "-n", ns, "deployment", "web")["spec"]
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {
        "maxUnavailable": "25%", "maxSurge": "25%"}}
    assert spec["revisionHistoryLimit"] == 10
    assert spec["progressDeadlineSeconds"] == 600
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Always"
    assert pod["dnsPolicy"] == "ClusterFirst"
    assert pod["containers"][0]["terminationMessagePath"] == "/dev/termination-log"
    assert pod["containers"][0]["ports"][0]["protocol"] == "TCP"
    service = kubectl.json("get", "-n", ns, "service", "web")["spec"]
    assert service["type"] == "ClusterIP"
    assert service["clusterIP"].startswith("10.43.")
    assert service["ports"][0]["protocol"] == "TCP"


def test_configmaps_and_namespaces_have_no_generation(kubectl: Kubectl, api: httpx.Client,
                                                     manifests: Path) -> None:
    ns = make_namespace(api, "apply-generation")
    kubectl("apply", "-n", ns, "-f", str(manifests / "app.yaml"))
    assert "generation" not in kubectl.json("get", "-n", ns, "configmap",
                                            "web-config")["metadata"]
    assert "generation" not in kubectl.json("get", "namespace", ns)["metadata"]
