"""`kubectl get` output formats, label and field selectors, `describe`, and events."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest
import yaml

from tests.e2e.cluster import Kubectl, make_namespace

pytestmark = pytest.mark.e2e
# These tests expect namespaces to hold only what they made: no root CA publisher.
SERVER_ARGS = ["--controllers", "*,-root-ca-certificate-publisher-controller"]

SHOP = "shop"
LABELS = "labels"


@pytest.fixture(scope="module", autouse=True)
def objects(kubectl: Kubectl, api: httpx.Client, manifests: Path) -> None:
    make_namespace(api, SHOP)
    kubectl("apply", "-n", SHOP, "-f", str(manifests / "app.yaml"))
    make_namespace(api, LABELS)
    kubectl("apply", "-n", LABELS, "-f", str(manifests / "selectors.yaml"))


def _table(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines() if line.strip()]


# -- output formats --------------------------------------------------------------------


def test_get_default_columns(kubectl: Kubectl) -> None:
    rows = _table(kubectl("get", "-n", SHOP, "deployments"))
    assert rows[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    # No node runs its pods: none ready or available (UP-TO-DATE depends on how far the
    # deployment controller got).
    assert rows[1][:2] == ["web", "0/2"] and rows[1][3] == "0"
    assert len(rows) == 2
    rows = _table(kubectl("get", "-n", SHOP, "secrets"))
    assert rows[0] == ["NAME", "TYPE", "DATA", "AGE"]
    assert rows[1][:3] == ["web-secret", "Opaque", "1"]
    rows = _table(kubectl("get", "-n", SHOP, "configmaps", "web-config"))
    assert rows[0] == ["NAME", "DATA", "AGE"]
    assert rows[1][:2] == ["web-config", "2"]


def test_get_wide(kubectl: Kubectl) -> None:
    rows = _table(kubectl("get", "-n", SHOP, "deployment", "web", "-o", "wide"))
    assert rows[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS",
                       "IMAGES", "SELECTOR"]
    assert rows[1][0] == "web"
    assert rows[1][-3:] == ["nginx", "nginx:1.27", "app=web"]
    rows = _table(kubectl("get", "-n", SHOP, "service", "web", "-o", "wide"))
    assert rows[0] == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE",
                       "SELECTOR"]
    name, kind, cluster_ip, external, ports, _age, selector = rows[1]
    assert (name, kind, external, ports, selector) == (
        "web", "ClusterIP", "<none>", "80/TCP", "app=web")
    assert cluster_ip.startswith("10.43.")


def test_get_yaml(kubectl: Kubectl) -> None:
    deployment = yaml.safe_load(kubectl("get", "-n", SHOP, "deployment", "web", "-o", "yaml"))
    assert deployment["apiVersion"] == "apps/v1"
    assert deployment["kind"] == "Deployment"
    meta = deployment["metadata"]
    assert (meta["name"], meta["namespace"]) == ("web", SHOP)
    assert isinstance(meta["resourceVersion"], str) and meta["resourceVersion"]
    assert meta["uid"] and meta["creationTimestamp"].endswith("Z")
    assert meta["labels"] == {"app": "web", "tier": "frontend"}
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"


def test_get_json_list_of_several_kinds(kubectl: Kubectl) -> None:
    listed = kubectl.json("get", "-n", SHOP, "configmaps,secrets", "-l", "app=web")
    assert listed["kind"] == "List"
    assert [(i["kind"], i["metadata"]["name"]) for i in listed["items"]] == [
        ("ConfigMap", "web-config"), ("Secret", "web-secret")]
    secret = listed["items"][1]
    assert base64.b64decode(secret["data"]["password"]) == b"s3cr3t"


def test_get_jsonpath(kubectl: Kubectl) -> None:
    names = kubectl("get", "-n", LABELS, "configmaps", "-l", "env",
                    "-o", "jsonpath={.items[*].metadata.name}")
    assert names.split() == ["alpha", "beta", "delta", "gamma"]
    image = kubectl("get", "-n", SHOP, "deployment", "web", "-o",
                    "jsonpath={.spec.template.spec.containers[0].image}")
    assert image == "nginx:1.27"
    port = kubectl("get", "-n", SHOP, "service", "web", "-o",
                   "jsonpath={.spec.ports[?(@.name=='http')].port}")
    assert port == "80"


def test_get_custom_columns_and_name(kubectl: Kubectl) -> None:
    rows = _table(kubectl("get", "-n", SHOP, "deployments", "-o",
                          "custom-columns=NAME:.metadata.name,REPLICAS:.spec.replicas"))
    assert rows == [["NAME", "REPLICAS"], ["web", "2"]]
    assert kubectl("get", "-n", SHOP, "service", "web", "-o", "name").strip() == "service/web"


def test_get_across_namespaces(kubectl: Kubectl) -> None:
    rows = _table(kubectl("get", "configmaps", "-A"))
    assert rows[0][:2] == ["NAMESPACE", "NAME"]
    pairs = {(row[0], row[1]) for row in rows[1:]}
    assert {(SHOP, "web-config"), (LABELS, "alpha"), (LABELS, "epsilon")} <= pairs


def test_get_show_labels(kubectl: Kubectl) -> None:
    rows = _table(kubectl("get", "-n", LABELS, "configmap", "beta", "--show-labels"))
    assert rows[0][-1] == "LABELS"
    assert rows[1][-1] == "env=prod,tier=backend"


def test_get_missing_object(kubectl: Kubectl) -> None:
    result = kubectl.run("get", "-n", SHOP, "configmap", "nosuch", check=False)
    assert result.returncode == 1
    assert 'Error from server (NotFound): configmaps "nosuch" not found' in result.stderr
    result = kubectl.run("get", "-n", SHOP, "configmap", "nosuch", "--ignore-not-found",
                         check=False)
    assert (result.returncode, result.stdout) == (0, "")


# -- selectors ---------------------------------------------------------------------------


@pytest.mark.parametrize(("selector", "expected"), [
    ("env=prod", {"alpha", "beta"}),
    ("env==prod", {"alpha", "beta"}),
    ("env!=prod", {"gamma", "delta", "epsilon"}),
    ("env=prod,tier=backend", {"beta"}),
    ("env in (staging,dev)", {"gamma", "delta"}),
    ("env notin (prod)", {"gamma", "delta", "epsilon"}),
    ("tier", {"alpha", "beta", "gamma"}),
    ("!tier", {"delta", "epsilon"}),
    ("env in (prod,staging),tier!=frontend", {"beta", "gamma"}),
    ("release=canary,!env", {"epsilon"}),
    ("env=nowhere", set()),
])
def test_label_selector(kubectl: Kubectl, selector: str, expected: set[str]) -> None:
    names = kubectl("get", "-n", LABELS, "configmaps", "-l", selector, "-o", "name").split()
    assert {n.removeprefix("configmap/") for n in names} == expected


def test_bad_label_selector_is_a_400(kubectl: Kubectl) -> None:
    result = kubectl.run("get", "-n", LABELS, "configmaps", "-l", "env in (prod", check=False)
    assert result.returncode != 0
    assert "BadRequest" in result.stderr or "unable to parse requirement" in result.stderr


def test_field_selector(kubectl: Kubectl) -> None:
    names = kubectl("get", "-n", LABELS, "configmaps", "--field-selector",
                    "metadata.name=gamma", "-o", "name").split()
    assert names == ["configmap/gamma"]
    names = kubectl("get", "configmaps", "-A", "--field-selector",
                    f"metadata.namespace={LABELS},metadata.name!=gamma", "-o", "name").split()
    assert sorted(names) == ["configmap/alpha", "configmap/beta", "configmap/delta",
                             "configmap/epsilon"]


def test_unknown_field_selector_is_rejected(kubectl: Kubectl) -> None:
    result = kubectl.run("get", "-n", LABELS, "configmaps", "--field-selector",
                         "spec.nothing=1", check=False)
    assert result.returncode != 0
    assert "spec.nothing" in result.stderr


# -- describe ----------------------------------------------------------------------------


def _fields(text: str) -> dict[str, str]:
    """`Key:   value` lines of `kubectl describe` (first occurrence of each key)."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith(" "):
            key, _, value = line.partition(":")
            found.setdefault(key.strip(), value.strip())
    return found


def test_describe_deployment(kubectl: Kubectl) -> None:
    text = kubectl("describe", "-n", SHOP, "deployment", "web")
    fields = _fields(text)
    assert fields["Name"] == "web"
    assert fields["Namespace"] == SHOP
    assert fields["Selector"] == "app=web"
    assert fields["Replicas"].startswith("2 desired")
    assert fields["StrategyType"] == "RollingUpdate"
    assert fields["RollingUpdateStrategy"] == "25% max unavailable, 25% max surge"
    assert "Image:         nginx:1.27" in text
    assert "app=web" in fields["Labels"]


def test_describe_service_and_secret(kubectl: Kubectl) -> None:
    service = _fields(kubectl("describe", "-n", SHOP, "service", "web"))
    assert service["Type"] == "ClusterIP"
    assert service["Selector"] == "app=web"
    assert service["IP"].startswith("10.43.")
    assert service["Port"] == "http  80/TCP"
    assert service["TargetPort"] == "80/TCP"
    secret = kubectl("describe", "-n", SHOP, "secret", "web-secret")
    assert "password:  6 bytes" in secret
    assert "s3cr3t" not in secret


def test_describe_configmap_by_label(kubectl: Kubectl) -> None:
    text = kubectl("describe", "-n", LABELS, "configmaps", "-l", "env=prod")
    names = [line.split()[1] for line in text.splitlines() if line.startswith("Name:")]
    assert names == ["alpha", "beta"]


# -- events ------------------------------------------------------------------------------


def test_events_are_listed_and_described(kubectl: Kubectl, manifests: Path) -> None:
    uid = kubectl("get", "-n", SHOP, "deployment", "web", "-o", "jsonpath={.metadata.uid}")
    event = (manifests / "event.yaml").read_text().replace("INVOLVED_UID", uid) \
        .replace("INVOLVED_NAMESPACE", SHOP)
    output = kubectl("create", "-n", SHOP, "-f", "-", input=event)
    assert output.strip() == "event/web.e2e-scaled created"

    # The controllers record events of their own in the namespace too; this one is ours.
    rows = _table(kubectl("get", "-n", SHOP, "events", "--field-selector",
                          "metadata.name=web.e2e-scaled"))
    assert rows[0] == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert len(rows) == 2
    assert rows[1][1:4] == ["Normal", "ScalingReplicaSet", "deployment/web"]
    assert " ".join(rows[1][4:]) == "Scaled up replica set web-7d4b9c to 2"

    listed = kubectl.json("get", "-n", SHOP, "events", "--field-selector",
                          "involvedObject.kind=Deployment,involvedObject.name=web")
    assert "web.e2e-scaled" in [e["metadata"]["name"] for e in listed["items"]]
    assert {e["involvedObject"]["name"] for e in listed["items"]} == {"web"}
    none = kubectl("get", "-n", SHOP, "events", "--field-selector",
                   "involvedObject.name=other", "-o", "name")
    assert none == ""

    described = kubectl("describe", "-n", SHOP, "deployment", "web")
    events = described[described.index("\nEvents:"):]
    assert "ScalingReplicaSet" in events
    assert "Scaled up replica set web-7d4b9c to 2" in events
    assert "deployment-controller" in events

    # The Service has none of its own.
    described = kubectl("describe", "-n", SHOP, "service", "web")
    assert described.rstrip().endswith("Events:                   <none>")

    text = kubectl("events", "-n", SHOP, "--for", "deployment/web")
    assert "ScalingReplicaSet" in text
    assert "Deployment/web" in text
    raw = json.loads(kubectl("get", "-n", SHOP, "event", "web.e2e-scaled", "-o", "json"))
    assert raw["involvedObject"]["kind"] == "Deployment"
    assert raw["count"] == 1
