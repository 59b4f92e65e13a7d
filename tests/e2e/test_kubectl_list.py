"""`kubectl apply -f` / `create -f` of a `kind: List` with client-side validation on, as on
upstream: kubectl validates each item against `/openapi/v2`, which it asks for in gnostic
protobuf; an unknown field in an item is refused by kubectl itself, with upstream's
message, before anything reaches the server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cluster import Kubectl

pytestmark = pytest.mark.e2e
ANY_BACKEND = True  # kubectl's client-side validation, whatever the storage (conftest.py)


def as_list(*items: dict[str, Any]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": list(items)})


def config_map(name: str, **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
            "data": {"k": name}, **extra}


def widget(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "kyb.example.com/v1", "kind": "Widget", "metadata": {"name": name},
            "spec": spec}


@pytest.fixture(scope="module")
def crd(kubectl: Kubectl, manifests: Path) -> None:
    kubectl("apply", "-f", str(manifests / "widgets-crd.yaml"))
    kubectl("wait", "--for", "condition=established", "crd/widgets.kyb.example.com",
            "--timeout=60s")


def test_apply_and_create_a_list(kubectl: Kubectl, ns: str, crd: None) -> None:
    listed = as_list(config_map("one"), config_map("two"), widget("w", size="small"))
    out = kubectl("apply", "-n", ns, "-f", "-", input=listed)
    assert out.splitlines() == ["configmap/one created", "configmap/two created",
                                "widget.kyb.example.com/w created"]
    assert kubectl("apply", "-n", ns, "-f", "-", input=listed).splitlines() == [
        "configmap/one unchanged", "configmap/two unchanged",
        "widget.kyb.example.com/w unchanged"]
    out = kubectl("create", "-n", ns, "-f", "-", input=as_list(config_map("three")))
    assert out.strip() == "configmap/three created"
    assert kubectl("get", "configmap", "three", "-n", ns, "-o",
                   "jsonpath={.data.k}") == "three"


def test_unknown_field_in_an_item_is_refused_by_kubectl(kubectl: Kubectl, ns: str,
                                                        crd: None) -> None:
    listed = as_list(config_map("ok"), config_map("bad", bogus=1))
    result = kubectl.run("apply", "-n", ns, "-f", "-", input=listed, check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        'error: error validating "STDIN": error validating data: ValidationError(ConfigMap): '
        'unknown field "bogus" in io.k8s.api.core.v1.ConfigMap; if you choose to ignore '
        "these errors, turn validation off with --validate=false")
    # Nothing was sent: validation happens before the first item is applied.
    assert kubectl.run("get", "configmap", "ok", "-n", ns, check=False).returncode == 1
    # A custom resource item is checked against its CRD's schema, and a wrong type too.
    listed = as_list(widget("w2", size="small", colour="red"),
                     {**config_map("c"), "data": None,
                      "immutable": "yes"})
    result = kubectl.run("create", "-n", ns, "-f", "-", input=listed, check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        'error: error validating "STDIN": error validating data: [ValidationError(Widget.spec): '
        'unknown field "colour" in com.example.kyb.v1.Widget.spec, '
        "ValidationError(ConfigMap.immutable): invalid type for "
        'io.k8s.api.core.v1.ConfigMap.immutable: got "string", expected "boolean"]; '
        "if you choose to ignore these errors, turn validation off with --validate=false")
    # --validate=false skips it; the server's own field validation still applies.
    result = kubectl.run("create", "-n", ns, "--validate=false", "-f", "-",
                         input=as_list(config_map("skipped", bogus=1)), check=False)
    assert result.returncode == 0, result.stderr
