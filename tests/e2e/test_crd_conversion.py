"""CRD webhook conversion with the real kubectl against `kyb server`: the test serves a
conversion webhook over HTTPS on loopback (its own CA, passed as caBundle) that renames
`spec.size` (v1, the storage version) to `spec.dimension` (v2). A widget created as v1 is
read as v2 and one created as v2 read as v1; both versions list both; a watch as v2 sees
converted objects; a failing webhook fails the read with upstream's 500 message; each
version's schema validates its own requests; deleting the CRD ends the watch and its
resource is then not found."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.cluster import (
    Kubectl,
    LineReader,
    wait_until,
)
from tests.webhook_server import WebhookServer

pytestmark = pytest.mark.e2e

GROUP = "kyb.example.com"
CRD = f"widgets.{GROUP}"
V1, V2 = f"widgets.v1.{GROUP}", f"widgets.v2.{GROUP}"
# The webhook fails its reviews while this holds a message.
FAILING: list[str] = []
# The 500s the server may answer (failed conversions), by verb (conftest's server).
EXPECTED_5XX: Counter[tuple[str, int]] = Counter()


def _converted(obj: dict[str, Any], desired: str) -> dict[str, Any]:
    spec = dict(obj.get("spec") or {})
    if desired.endswith("/v2") and "size" in spec:
        spec["dimension"] = spec.pop("size")
    if desired.endswith("/v1") and "dimension" in spec:
        spec["size"] = spec.pop("dimension")
    return {**obj, "apiVersion": desired, "spec": spec}


def answer(_path: str, review: dict[str, Any]) -> dict[str, Any]:
    request = review["request"]
    result = {"status": "Failure", "message": FAILING[0]} if FAILING else \
        {"status": "Success"}
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
            "response": {"uid": request["uid"], "result": result, "convertedObjects": [
                _converted(o, request["desiredAPIVersion"]) for o in request["objects"]]}}


@pytest.fixture(scope="module")
def hooks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebhookServer]:
    running = WebhookServer(tmp_path_factory.mktemp("conversion"), answer)
    yield running
    running.stop()


def _schema(size_field: str, count_max: int) -> dict[str, Any]:
    return {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        size_field: {"type": "string"},
        "count": {"type": "integer", "minimum": 0, "maximum": count_max}}}}}


@pytest.fixture(scope="module")
def crd(kubectl: Kubectl, hooks: WebhookServer) -> str:
    kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD},
        "spec": {"group": GROUP, "scope": "Namespaced",
                 "names": {"plural": "widgets", "kind": "Widget"},
                 "conversion": {"strategy": "Webhook", "webhook": {
                     "conversionReviewVersions": ["v1"],
                     "clientConfig": {"url": hooks.url("/convert"),
                                      "caBundle": hooks.ca_bundle}}},
                 "versions": [
                     {"name": "v1", "served": True, "storage": True,
                      "schema": {"openAPIV3Schema": _schema("size", 100)}},
                     {"name": "v2", "served": True, "storage": False,
                      "schema": {"openAPIV3Schema": _schema("dimension", 10)}}]}}))
    kubectl("wait", "--for", "condition=established", f"crd/{CRD}", "--timeout=60s")
    return CRD


def widget(version: str, name: str, labels: dict[str, str] | None = None, **spec: Any) -> str:
    metadata: dict[str, Any] = {"name": name, **({"labels": labels} if labels else {})}
    return json.dumps({"apiVersion": f"{GROUP}/{version}", "kind": "Widget",
                       "metadata": metadata, "spec": spec})


def test_objects_are_read_and_listed_in_either_version(kubectl: Kubectl, crd: str,
                                                       hooks: WebhookServer, ns: str) -> None:
    listed_label = {"listed": "yes"}
    kubectl("create", "-n", ns, "-f", "-", input=widget("v1", "old", listed_label, size="big"))
    kubectl("create", "-n", ns, "-f", "-",
            input=widget("v2", "new", listed_label, dimension="small"))
    kubectl("create", "-n", ns, "-f", "-", input=widget("v1", "other", size="odd"))
    assert kubectl.json("get", V2, "old", "-n", ns)["spec"] == {"dimension": "big"}
    assert kubectl.json("get", V1, "new", "-n", ns)["spec"] == {"size": "small"}
    hooks.reviews.clear()
    listed = kubectl.json("get", V2, "-n", ns, "-l", "listed=yes")
    assert [(o["apiVersion"], o["metadata"]["name"], o["spec"]) for o in listed["items"]] == [
        (f"{GROUP}/v2", "new", {"dimension": "small"}),
        (f"{GROUP}/v2", "old", {"dimension": "big"})]
    # The list was converted in one review, both objects together (not one per object), and
    # once. The webhook also hears other clients: the controller manager's garbage collector
    # and quota monitors list and watch every resource they discover (in its preferred
    # version, v2) from their periodic rediscovery (30s) on, which may fall in this window
    # (it once did on a loaded CI machine: two reviews). A review does not name its API
    # request, so this request's is told apart by its objects: the server converts what its
    # label selector keeps, any other list of the namespace also holds the unlabelled
    # `other`, and a watch converts the creations in their order (old, new, other).
    reviews = [[o["metadata"]["name"] for o in r["request"]["objects"]] for r in hooks.reviews]
    assert reviews.count(["new", "old"]) == 1, reviews
    listed = kubectl.json("get", V1, "-n", ns, "-l", "listed=yes")
    assert [o["spec"]["size"] for o in listed["items"]] == ["small", "big"]


def test_each_version_is_validated_with_its_schema(kubectl: Kubectl, crd: str,
                                                   ns: str) -> None:
    kubectl("create", "-n", ns, "-f", "-", input=widget("v1", "many", size="s", count=50))
    result = kubectl.run("create", "-n", ns, "-f", "-", check=False,
                         input=widget("v2", "many2", dimension="s", count=50))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        'The Widget "many2" is invalid: spec.count: Invalid value: 50: spec.count in body '
        "should be less than or equal to 10")


def test_a_failing_webhook_fails_the_read(kubectl: Kubectl, crd: str, ns: str) -> None:
    kubectl("create", "-n", ns, "-f", "-", input=widget("v1", "w", size="big"))
    FAILING.append("the dimension is unknown")
    try:
        EXPECTED_5XX[("GET", 500)] += 1
        result = kubectl.run("get", V2, "w", "-n", ns, check=False)
    finally:
        FAILING.clear()
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"Error from server: conversion webhook for {GROUP}/v1, Kind=Widget failed: the "
        "dimension is unknown")


def test_a_watch_as_v2_ends_when_the_crd_goes(kubectl: Kubectl, api: httpx.Client,
                                              crd: str, ns: str) -> None:
    watch = kubectl.popen("get", V2, "-n", ns, "-w", "-o",
                          'jsonpath={.metadata.name} {.spec.dimension}{"\\n"}')
    try:
        lines = LineReader(watch.stdout)  # type: ignore[arg-type]
        kubectl("create", "-n", ns, "-f", "-", input=widget("v1", "watched", size="tiny"))
        lines.wait_for(lambda line: line == "watched tiny")
        kubectl("delete", "crd", crd, "--wait=false")
        watch.wait(timeout=60)
    finally:
        watch.kill()
        watch.wait()
    wait_until(lambda: api.get(f"/apis/{GROUP}/v2/namespaces/{ns}/widgets").status_code
               == 404, "the resource to be gone")
