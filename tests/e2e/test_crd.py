"""CustomResourceDefinitions with the real kubectl against `kyb server`: a CRD becomes
Established and its resource is discovered (short name, category); its schema validates,
prunes and defaults; a CEL rule refuses an object with the rule's message and a transition
rule guards a field; `kubectl get` prints its additionalPrinterColumns; a second version
is served (conversion None); `kubectl explain` reads its schema; status and scale
subresources, selectable fields, patches of every kind (strategic merge refused as
upstream), server-side apply and watches work; the garbage collector deletes the
dependents of a custom resource; deleting the CRD deletes its objects."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.cluster import Kubectl, LineReader, wait_until

pytestmark = pytest.mark.e2e

CRD = "widgets.kyb.example.com"


def widget(name: str, **spec: Any) -> str:
    return json.dumps({"apiVersion": "kyb.example.com/v1", "kind": "Widget",
                       "metadata": {"name": name}, "spec": spec})


@pytest.fixture(scope="module")
def crd(kubectl: Kubectl, manifests: Path) -> Iterator[str]:
    kubectl("apply", "-f", str(manifests / "widgets-crd.yaml"))
    kubectl("wait", "--for", "condition=established", f"crd/{CRD}", "--timeout=60s")
    yield CRD


def test_crd_is_established_and_discovered(kubectl: Kubectl, crd: str) -> None:
    status = kubectl.json("get", "crd", crd)["status"]
    conditions = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert conditions == {"NamesAccepted": ("True", "NoConflicts"),
                          "Established": ("True", "InitialNamesAccepted")}
    assert status["acceptedNames"]["listKind"] == "WidgetList"
    assert status["storedVersions"] == ["v1"]
    lines = kubectl("api-resources", "--api-group", "kyb.example.com").splitlines()
    assert lines[1].split() == ["widgets", "wd", "kyb.example.com/v1", "true", "Widget"]
    # Each served group/version has its local APIService.
    lines = kubectl("get", "apiservices", "-l",
                    "kube-aggregator.kubernetes.io/automanaged=true").splitlines()
    assert [line.split()[:3] for line in lines[1:] if "kyb.example.com" in line] == [
        ["v1.kyb.example.com", "Local", "True"], ["v1beta1.kyb.example.com", "Local", "True"]]


def test_cel_rule_refuses_with_its_message(kubectl: Kubectl, crd: str, ns: str) -> None:
    result = kubectl.run("apply", "-n", ns, "-f", "-", check=False,
                         input=widget("big", size="small", replicas=5, maxReplicas=3))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        'The Widget "big" is invalid: spec: Invalid value: "object": replicas must not '
        "exceed maxReplicas")


def test_schema_validation_pruning_and_defaults(kubectl: Kubectl, crd: str, ns: str) -> None:
    result = kubectl.run("create", "-n", ns, "-f", "-", check=False,
                         input=widget("odd", size="medium", replicas=-1))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        'The Widget "odd" is invalid: \n'
        "* spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or "
        "equal to 0\n"
        '* spec.size: Unsupported value: "medium": supported values: "small", "large"')
    # kubectl asks for strict field validation: unknown fields are refused, or reported and
    # pruned when it asks for warnings.
    result = kubectl.run("create", "-n", ns, "-f", "-", check=False,
                         input=widget("w", size="small", extra=True))
    assert result.stderr.strip() == (
        'Error from server (BadRequest): error when creating "STDIN": Widget in version "v1" '
        'cannot be handled as a Widget: strict decoding error: unknown field "spec.extra"')
    result = kubectl.run("create", "--validate=warn", "-n", ns, "-f", "-",
                         input=widget("w", size="small", extra=True))
    assert result.stderr.strip() == 'Warning: unknown field "spec.extra"'
    assert kubectl.json("get", "widget", "w", "-n", ns)["spec"] == {
        "size": "small", "replicas": 1, "maxReplicas": 3}


def test_get_prints_the_printer_columns(kubectl: Kubectl, crd: str, ns: str) -> None:
    kubectl("create", "-n", ns, "-f", "-", input=widget("a", size="large", replicas=2))
    lines = kubectl("get", "wd", "-n", ns).splitlines()
    assert lines[0].split() == ["NAME", "SIZE", "REPLICAS", "AGE"]
    assert lines[1].split()[:3] == ["a", "large", "2"]
    # The category lists it too.
    assert kubectl("get", "gadgets", "-n", ns, "-o", "name") == "widget.kyb.example.com/a\n"
    # Its selectable field selects.
    kubectl("create", "-n", ns, "-f", "-", input=widget("b", size="small"))
    assert kubectl("get", "wd", "-n", ns, "--field-selector", "spec.size=small",
                   "-o", "name") == "widget.kyb.example.com/b\n"
    result = kubectl.run("get", "wd", "-n", ns, "--field-selector", "spec.color=red",
                         check=False)
    assert result.stderr.strip() == \
        'Error from server (BadRequest): Unable to find "kyb.example.com/v1, ' \
        'Resource=widgets" that match label selector "", field selector "spec.color=red": ' \
        "field label not supported: spec.color"


def test_a_second_version_is_served(kubectl: Kubectl, crd: str, ns: str) -> None:
    kubectl("create", "-n", ns, "-f", "-", input=json.dumps({
        "apiVersion": "kyb.example.com/v1beta1", "kind": "Widget",
        "metadata": {"name": "old"}, "spec": {"size": "small"}}))
    beta = kubectl.json("get", "widgets.v1beta1.kyb.example.com", "old", "-n", ns)
    assert beta["apiVersion"] == "kyb.example.com/v1beta1"
    stable = kubectl.json("get", "widgets.v1.kyb.example.com", "old", "-n", ns)
    assert stable["apiVersion"] == "kyb.example.com/v1"
    assert stable["spec"] == {"size": "small", "replicas": 1, "maxReplicas": 3}
    assert stable["metadata"]["uid"] == beta["metadata"]["uid"]


def test_explain_reads_the_schema(kubectl: Kubectl, crd: str) -> None:
    out = kubectl("explain", "widgets.spec")
    assert "KIND:       Widget\nVERSION:    v1" in out
    assert "What the widget should be." in out
    assert "size\t<string> -required-" in out
    assert "How big the widget is." in out


def test_status_scale_patches_and_transition_rules(kubectl: Kubectl, crd: str,
                                                   ns: str) -> None:
    kubectl("create", "-n", ns, "-f", "-", input=widget("p", size="small", color="red"))
    # The main endpoint ignores status; /status writes it and nothing else.
    kubectl("patch", "widget", "p", "-n", ns, "--type=merge",
            "-p", '{"spec":{"replicas":2},"status":{"phase":"Ignored"}}')
    kubectl("patch", "widget", "p", "-n", ns, "--subresource=status", "--type=merge",
            "-p", '{"status":{"replicas":2,"phase":"Ready"},"spec":{"replicas":3}}')
    got = kubectl.json("get", "widget", "p", "-n", ns)
    assert got["status"] == {"replicas": 2, "phase": "Ready"}
    assert got["spec"]["replicas"] == 2
    assert got["metadata"]["generation"] == 2
    kubectl("scale", "widget", "p", "-n", ns, "--replicas=0")
    scale = kubectl.json("get", "widget", "p", "-n", ns, "--subresource=scale")
    assert (scale["kind"], scale["spec"], scale["status"]) == \
        ("Scale", {"replicas": 0}, {"replicas": 2})
    kubectl("patch", "widget", "p", "-n", ns, "--type=json",
            "-p", '[{"op":"replace","path":"/spec/size","value":"large"}]')
    result = kubectl.run("patch", "widget", "p", "-n", ns, "--type=merge",
                         "-p", '{"spec":{"color":"blue"}}', check=False)
    assert result.stderr.strip() == ('The Widget "p" is invalid: spec.color: Invalid value: '
                                     '"string": color is immutable')
    result = kubectl.run("patch", "widget", "p", "-n", ns, "-p", '{"spec":{"size":"small"}}',
                         check=False)
    assert result.stderr.strip() == (
        "error: application/strategic-merge-patch+json is not supported by "
        "kyb.example.com/v1, Kind=Widget: the body of the request was in an unknown format - "
        "accepted media types include: application/json-patch+json, "
        "application/merge-patch+json, application/apply-patch+yaml")
    # The scale wrote spec.replicas (as its own manager): apply takes it over.
    kubectl("apply", "--server-side", "--force-conflicts", "-n", ns, "-f", "-",
            input=widget("p", size="large", color="red", replicas=1))
    got = kubectl.json("get", "widget", "p", "-n", ns, "--show-managed-fields")
    assert got["spec"] == {"size": "large", "color": "red", "replicas": 1, "maxReplicas": 3}
    assert "kubectl" in {m["manager"] for m in got["metadata"]["managedFields"]}


def test_watch_sees_changes(kubectl: Kubectl, crd: str, ns: str) -> None:
    watch = kubectl.popen("get", "widgets", "-n", ns, "-w", "--output-watch-events")
    try:
        lines = LineReader(watch.stdout)  # type: ignore[arg-type]
        kubectl("create", "-n", ns, "-f", "-", input=widget("seen", size="small"))
        lines.wait_for(lambda line: line.split()[:3] == ["ADDED", "seen", "small"])
        kubectl("patch", "widget", "seen", "-n", ns, "--type=merge",
                "-p", '{"spec":{"size":"large"}}')
        lines.wait_for(lambda line: line.split()[:3] == ["MODIFIED", "seen", "large"])
    finally:
        watch.kill()
        watch.wait()


def test_garbage_collector_deletes_dependents(kubectl: Kubectl, api: httpx.Client, crd: str,
                                              ns: str) -> None:
    kubectl("create", "-n", ns, "-f", "-", input=widget("owner", size="small"))
    owner = kubectl.json("get", "widget", "owner", "-n", ns)
    kubectl("create", "-n", ns, "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dependent",
        "ownerReferences": [{"apiVersion": "kyb.example.com/v1", "kind": "Widget",
                             "name": "owner", "uid": owner["metadata"]["uid"]}]}}))
    kubectl("delete", "widget", "owner", "-n", ns)
    wait_until(lambda: api.get(f"/api/v1/namespaces/{ns}/configmaps/dependent")
               .status_code == 404, "the garbage collector to delete the dependent")


def test_deleting_the_crd_deletes_its_objects(kubectl: Kubectl, api: httpx.Client,
                                              manifests: Path, ns: str) -> None:
    gizmos = (manifests / "widgets-crd.yaml").read_text().replace(
        "widgets", "gizmos").replace("widget", "gizmo").replace("Widget", "Gizmo").replace(
        "[wd]", "[gz]").replace("gadgets", "gizmostuff")
    kubectl("apply", "-f", "-", input=gizmos)
    kubectl("wait", "--for", "condition=established", "crd/gizmos.kyb.example.com",
            "--timeout=60s")
    for name in ("g1", "g2"):
        kubectl("create", "-n", ns, "-f", "-", input=json.dumps({
            "apiVersion": "kyb.example.com/v1", "kind": "Gizmo", "metadata": {"name": name},
            "spec": {"size": "small"}}))
    assert len(kubectl.json("get", "gizmos", "-n", ns)["items"]) == 2
    kubectl("delete", "crd", "gizmos.kyb.example.com", "--timeout=60s")
    assert api.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
                   "gizmos.kyb.example.com").status_code == 404
    assert api.get("/apis/kyb.example.com/v1/gizmos").status_code == 404
    # The objects went with it: a new CRD of the same name starts empty.
    kubectl("apply", "-f", "-", input=gizmos)
    kubectl("wait", "--for", "condition=established", "crd/gizmos.kyb.example.com",
            "--timeout=60s")
    assert kubectl.json("get", "gizmos", "-n", ns)["items"] == []
    kubectl("delete", "crd", "gizmos.kyb.example.com", "--timeout=60s")
