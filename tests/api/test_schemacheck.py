"""Tests for kybernetes.api.validation.schemacheck: upstream decoder errors and strict fields."""

from __future__ import annotations

import copy
import re
import time
from typing import Any

import pytest

from kybernetes.api import schema
from kybernetes.api.validation.schemacheck import (
    base64_error,
    check_schema,
    decode_error_message,
    strict_decoding_message,
    time_error,
)

DEPLOYMENT = "io.k8s.api.apps.v1.Deployment"
POD = "io.k8s.api.core.v1.Pod"


def _deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"},
                     "creationTimestamp": "2024-05-01T10:00:00Z"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{
                    "name": "nginx", "image": "nginx",
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "resources": {"limits": {"cpu": 1, "memory": "128Mi"},
                                  "requests": {"cpu": 0.5}},
                    "livenessProbe": {"httpGet": {"port": "http", "path": "/"}},
                }]},
            },
        },
    }


def test_valid_object_has_no_findings() -> None:
    unknown, errors = check_schema(_deployment(), schema.definitions()[DEPLOYMENT])
    assert unknown == []
    assert errors == []


def test_schema_given_by_name_or_ref() -> None:
    assert check_schema(_deployment(), DEPLOYMENT) == ([], [])
    assert check_schema(_deployment(), {"$ref": f"#/definitions/{DEPLOYMENT}"}) == ([], [])


def _set(obj: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    for part in parts[:-1]:
        obj = obj[int(part)] if part.isdigit() else obj.setdefault(part, {})  # type: ignore[index]
    last = parts[-1]
    if last.isdigit():
        obj[int(last)] = value  # type: ignore[index]
    else:
        obj[last] = value


@pytest.mark.parametrize(("path", "value", "message"), [
    ("spec.replicas", "3",
     "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type "
     "int32"),
    ("spec.replicas", 1.5,
     "json: cannot unmarshal number 1.5 into Go struct field DeploymentSpec.spec.replicas of "
     "type int32"),
    ("spec.replicas", 3_000_000_000,
     "json: cannot unmarshal number 3000000000 into Go struct field DeploymentSpec.spec.replicas "
     "of type int32"),
    ("spec.replicas", True,
     "json: cannot unmarshal bool into Go struct field DeploymentSpec.spec.replicas of type "
     "int32"),
    ("spec", "x",
     "json: cannot unmarshal string into Go struct field Deployment.spec of type "
     "v1.DeploymentSpec"),
    ("metadata.labels", ["a"],
     "json: cannot unmarshal array into Go struct field ObjectMeta.metadata.labels of type "
     "map[string]string"),
    ("metadata.labels.app", 1,
     "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type "
     "string"),
    ("metadata.creationTimestamp", 5,
     "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.creationTimestamp "
     "of type string"),
    ("metadata.creationTimestamp", "yesterday",
     'parsing time "yesterday" as "2006-01-02T15:04:05Z07:00": cannot parse "yesterday" as '
     '"2006"'),
    ("spec.strategy.rollingUpdate.maxSurge", True,
     "json: cannot unmarshal bool into Go struct field "
     "RollingUpdateDeployment.spec.strategy.rollingUpdate.maxSurge of type int32"),
    ("spec.strategy.rollingUpdate.maxSurge", 2.5,
     "json: cannot unmarshal number 2.5 into Go struct field "
     "RollingUpdateDeployment.spec.strategy.rollingUpdate.maxSurge of type int32"),
    ("spec.template.spec.containers", {"name": "x"},
     "json: cannot unmarshal object into Go struct field PodSpec.spec.template.spec.containers "
     "of type []v1.Container"),
    ("spec.template.spec.containers.0", "nginx",
     "json: cannot unmarshal string into Go struct field PodSpec.spec.template.spec.containers "
     "of type v1.Container"),
    ("spec.template.spec.containers.0.ports.0.containerPort", "80",
     "json: cannot unmarshal string into Go struct field "
     "ContainerPort.spec.template.spec.containers.ports.containerPort of type int32"),
    ("spec.template.spec.containers.0.resources.limits.cpu", "lots",
     "quantities must match the regular expression "
     "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"),
    ("spec.template.spec.containers.0.resources.limits", "1",
     "json: cannot unmarshal string into Go struct field "
     "ResourceRequirements.spec.template.spec.containers.resources.limits of type "
     "v1.ResourceList"),
    ("spec.template.spec.containers.0.resources.limits.memory", "1Kii",
     "unable to parse quantity's suffix"),
    ("spec.template.spec.containers.0.image", 7,
     "json: cannot unmarshal number into Go struct field "
     "Container.spec.template.spec.containers.image of type string"),
])
def test_type_errors(path: str, value: Any, message: str) -> None:
    obj = _deployment()
    _set(obj, path, value)
    unknown, errors = check_schema(obj, DEPLOYMENT)
    assert unknown == []
    assert [e.detail for e in errors] == [message]
    assert errors[0].field == re.sub(r"\.(\d+)(?=\.|$)", r"[\1]", path)
    assert errors[0].type == "FieldValueTypeInvalid"


def test_top_level_type_error_has_no_struct_context() -> None:
    _, errors = check_schema([], DEPLOYMENT)
    assert [e.detail for e in errors] == [
        "json: cannot unmarshal array into Go value of type v1.Deployment"]


@pytest.mark.parametrize(("path", "value", "expected"), [
    ("spec.replicass", 2, ["spec.replicass"]),
    ("Spec", {}, ["Spec"]),
    ("spec.template.spec.containers.0.imagee", "x", ["spec.template.spec.containers[0].imagee"]),
    ("spec.selector.matchLabels.extra", "y", []),  # map keys are free-form
    ("metadata.annotations.whatever", "v", []),
])
def test_unknown_fields(path: str, value: Any, expected: list[str]) -> None:
    obj = _deployment()
    _set(obj, path, value)
    unknown, errors = check_schema(obj, DEPLOYMENT)
    assert unknown == expected
    assert errors == []


def test_unknown_fields_inside_unknown_fields_are_not_walked() -> None:
    obj = _deployment()
    obj["spec"]["bogus"] = {"replicas": "x", "more": 1}
    assert check_schema(obj, DEPLOYMENT) == (["spec.bogus"], [])


def test_null_is_accepted_anywhere() -> None:
    obj = _deployment()
    obj["spec"]["replicas"] = None
    obj["metadata"]["labels"] = None
    assert check_schema(obj, DEPLOYMENT) == ([], [])


def test_free_form_and_byte_fields() -> None:
    cm: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
          "data": {"a": "b"}, "binaryData": {"k": "aGVsbG8="}}
    assert check_schema(cm, "io.k8s.api.core.v1.ConfigMap") == ([], [])
    cm["binaryData"]["k"] = "aGVsbG8"
    _, errors = check_schema(cm, "io.k8s.api.core.v1.ConfigMap")
    assert [e.detail for e in errors] == ["illegal base64 data at input byte 4"]
    secret: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                              "data": {"x": 5}}
    _, errors = check_schema(secret, "io.k8s.api.core.v1.Secret")
    assert [e.detail for e in errors] == [
        "json: cannot unmarshal number into Go struct field Secret.data of type []uint8"]
    crr = {"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": {"name": "r"},
           "data": {"anything": [1, {"goes": True}]}, "revision": 1}
    assert check_schema(crr, "io.k8s.api.apps.v1.ControllerRevision") == ([], [])


def test_microtime() -> None:
    event = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"},
             "involvedObject": {}, "eventTime": "2024-01-01T00:00:00.000000Z"}
    assert check_schema(event, "io.k8s.api.core.v1.Event") == ([], [])
    event["eventTime"] = "2024-01-01T00:00:00Z"
    _, errors = check_schema(event, "io.k8s.api.core.v1.Event")
    assert [e.detail for e in errors] == [
        'parsing time "2024-01-01T00:00:00Z" as "2006-01-02T15:04:05.000000Z07:00": cannot '
        'parse "Z" as ".000000"']


@pytest.mark.parametrize(("value", "expected"), [
    ("2024-01-01T00:00:00Z", None),
    ("2024-01-01T00:00:00.5+02:00", None),
    ("2024-13-01T00:00:00Z", 'parsing time "2024-13-01T00:00:00Z": month out of range'),
    ("2023-02-29T00:00:00Z", 'parsing time "2023-02-29T00:00:00Z": day out of range'),
    ("2024-01-01", 'parsing time "2024-01-01" as "2006-01-02T15:04:05Z07:00": cannot parse "" '
     'as "T"'),
    ("2024-01-01T00:00:00Zx", 'parsing time "2024-01-01T00:00:00Zx" as '
     '"2006-01-02T15:04:05Z07:00": extra text: "x"'),
])
def test_time_errors(value: str, expected: str | None) -> None:
    assert time_error(value) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("", None), ("aGVsbG8=", None), ("aGVs\nbG8=", None), ("aGVsbA==", None),
    ("aGVsbG8", "illegal base64 data at input byte 4"),
    ("a!b=", "illegal base64 data at input byte 1"),
    ("====", "illegal base64 data at input byte 0"),
    ("aGVsbA=", "illegal base64 data at input byte 7"),
    ("aGVsbA==x", "illegal base64 data at input byte 8"),
])
def test_base64_errors(value: str, expected: str | None) -> None:
    assert base64_error(value) == expected


def test_messages() -> None:
    assert strict_decoding_message(["spec.replicass", "spec.x"]) == (
        'strict decoding error: unknown field "spec.replicass", unknown field "spec.x"')
    obj = _deployment()
    obj["spec"]["replicas"] = "3"
    _, errors = check_schema(obj, DEPLOYMENT)
    assert decode_error_message("Deployment", "v1", errors[0]) == (
        'Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal '
        "string into Go struct field DeploymentSpec.spec.replicas of type int32")


def test_is_fast_enough_for_every_write() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "p", "labels": {str(i): "v" for i in range(20)}},
           "spec": {"containers": [
               {"name": f"c{i}", "image": "x",
                "env": [{"name": f"E{j}", "value": "v"} for j in range(20)],
                "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
                "ports": [{"containerPort": 80}]} for i in range(10)]}}
    check_schema(pod, POD)
    copies = [copy.deepcopy(pod) for _ in range(50)]
    start = time.perf_counter()
    for obj in copies:
        assert check_schema(obj, POD) == ([], [])
    assert (time.perf_counter() - start) / len(copies) < 0.02
