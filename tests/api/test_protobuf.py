"""Tests for kybernetes.api.protobuf: the wire decoder, and agreement with the real kubectl.

The kubectl tests run kubectl 1.35 against a throwaway plain-HTTP server in this process:
request bodies it sends as protobuf must decode to what `--dry-run=client -o json` prints,
and protobuf responses we encode from our table must print (kubectl decodes them with its
generated Go code) exactly as our decoder renders them.
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from kybernetes.api import protobuf
from kybernetes.api.errors import StatusError
from kybernetes.api.protobuf import decode_kubernetes_protobuf, is_protobuf

pytestmark = pytest.mark.e2e

PB = "application/vnd.kubernetes.protobuf"

# -- hand-built protobuf ------------------------------------------------------------------


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def key(number: int, wire: int) -> bytes:
    return varint(number << 3 | wire)


def ld(number: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return key(number, 2) + varint(len(data)) + data


def vi(number: int, value: int) -> bytes:
    return key(number, 0) + varint(value)


def envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    meta = ld(1, api_version) + ld(2, kind)
    return b"k8s\x00" + ld(1, meta) + ld(2, raw) + ld(3, b"") + ld(4, b"")


# -- an encoder from JSON, driven by the same table (the kubectl tests check it) ----------

TABLE: dict[str, list[list[Any]]] = protobuf._table()


def encode_object(obj: dict[str, Any]) -> bytes:
    group, _, version = obj["apiVersion"].rpartition("/")
    from kybernetes.api import schema
    name = schema.definition_for_kind(group, version, obj["kind"])
    assert name is not None
    return envelope(obj["apiVersion"], obj["kind"], encode_message(name, obj, top=True))


def encode_message(name: str, obj: dict[str, Any], top: bool = False) -> bytes:
    out = bytearray()
    known = {"apiVersion", "kind"} if top else set()
    for json_name, number, _wire, _flags, vtype in TABLE[name]:
        if not json_name:
            inner = {k: v for k, v in obj.items() if k in _json_names(vtype)}
            known |= inner.keys()
            if number:
                out += ld(number, encode_message(vtype, inner))
            continue
        known.add(json_name)
        if json_name in obj and obj[json_name] is not None:
            out += encode_field(number, vtype, obj[json_name])
    unknown = obj.keys() - known
    assert not unknown, f"{name} has no fields {unknown}"
    return bytes(out)


def _json_names(name: str) -> set[str]:
    names: set[str] = set()
    for row in TABLE[name]:
        names |= _json_names(row[4]) if not row[0] else {row[0]}
    return names


def encode_field(number: int, vtype: Any, value: Any) -> bytes:
    if isinstance(vtype, list) and vtype[0] == "list":
        return b"".join(encode_field(number, vtype[1], item) for item in value)
    if isinstance(vtype, list) and vtype[0] == "map":
        return b"".join(ld(number, encode_field(1, vtype[1], k) + encode_field(2, vtype[2], v))
                        for k, v in value.items())
    if isinstance(vtype, list):  # wrap
        return ld(number, encode_field(1, ["list", vtype[1]], value))
    if vtype in ("bool", "int32", "int64", "uint32", "uint64"):
        return vi(number, int(value))
    if vtype == "float64":
        return key(number, 1) + struct.pack("<d", value)
    if vtype == "string":
        return ld(number, value)
    if vtype == "bytes":
        return ld(number, base64.b64decode(value))
    if vtype == "Quantity":
        return ld(number, ld(1, value))
    if vtype == "IntOrString":
        body = vi(1, 1) + ld(3, value) if isinstance(value, str) else vi(1, 0) + vi(2, value)
        return ld(number, body)
    if vtype in ("Time", "MicroTime"):
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        seconds = int(moment.replace(microsecond=0).timestamp())
        return ld(number, vi(1, seconds) + (vi(2, moment.microsecond * 1000)
                                            if moment.microsecond else b""))
    if vtype == "RawJSON":
        return ld(number, ld(1, json.dumps(value, separators=(",", ":"))))
    return ld(number, encode_message(vtype, value))


# -- wire decoding on hand-built bytes -----------------------------------------------------


def test_is_protobuf() -> None:
    assert is_protobuf(PB)
    assert is_protobuf("Application/VND.kubernetes.protobuf; charset=binary")
    assert is_protobuf("application/vnd.kubernetes.protobuf;stream=watch")
    assert not is_protobuf("application/json")
    assert not is_protobuf("")


def test_namespace_minimal() -> None:
    raw = ld(1, ld(1, "demo"))
    assert decode_kubernetes_protobuf(envelope("v1", "Namespace", raw)) == {
        "kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "demo"},
        # non-pointer structs are always encoded by Go, so their zero JSON is present
        "spec": {}, "status": {},
    }


def test_scalars_pointers_and_omitempty() -> None:
    spec = (vi(1, 0)  # replicas: *int32 -> kept although zero
            + vi(5, 0)  # minReadySeconds: int32 omitempty -> dropped when zero
            + vi(7, 0)  # paused: bool omitempty -> dropped when false
            + vi(6, -1)  # revisionHistoryLimit: negative int32 (10-byte varint)
            + ld(3, ld(2, ld(2, ld(1, "c")) + vi(21, 0) + vi(4, -30))))
    obj = decode_kubernetes_protobuf(envelope("apps/v1", "Deployment", ld(2, spec)))
    assert obj["spec"]["replicas"] == 0
    assert "minReadySeconds" not in obj["spec"] and "paused" not in obj["spec"]
    assert obj["spec"]["revisionHistoryLimit"] == -1
    pod = obj["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False  # *bool false kept
    assert pod["terminationGracePeriodSeconds"] == -30  # int64
    # Container.name has no omitempty: its zero value is kept; resources is a struct.
    assert pod["containers"] == [{"name": "c", "resources": {}}]
    assert obj["metadata"] == {}
    assert obj["spec"]["selector"] is None  # nil pointer without omitempty -> null
    assert "progressDeadlineSeconds" not in obj["spec"]  # nil pointer, omitempty


def test_non_omitempty_absent_fields_render_as_go_zero_values() -> None:
    obj = decode_kubernetes_protobuf(envelope("v1", "Pod", ld(2, b"")))
    assert obj["spec"] == {"containers": None}  # nil slice without omitempty -> null


def test_special_types() -> None:
    container = (ld(1, "c")
                 + ld(8, ld(1, ld(1, "cpu") + ld(2, ld(1, "500m"))))  # resources.limits
                 + ld(10, ld(1, ld(2, ld(1, "/h") + ld(2, vi(1, 1) + ld(3, "http"))))))
    pod = ld(1, ld(8, vi(1, 1700000000) + vi(2, 5)) + ld(9, b"")) + ld(2, ld(2, container))
    obj = decode_kubernetes_protobuf(envelope("v1", "Pod", pod))
    assert obj["metadata"]["creationTimestamp"] == "2023-11-14T22:13:20Z"
    assert obj["metadata"]["deletionTimestamp"] is None  # empty Timestamp = zero time
    c = obj["spec"]["containers"][0]
    assert c["resources"] == {"limits": {"cpu": "500m"}}
    assert c["livenessProbe"]["httpGet"] == {"path": "/h", "port": "http"}
    strategy = ld(2, ld(1, vi(1, 0) + vi(2, 3)) + ld(2, vi(1, 1) + ld(3, "25%")))
    spec = decode_kubernetes_protobuf(envelope("apps/v1", "Deployment", ld(2, ld(4, strategy))))
    assert spec["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 3, "maxSurge": "25%"}


def test_micro_time_and_negative_time() -> None:
    event = (ld(1, ld(1, "e")) + ld(10, vi(1, 1700000000) + vi(2, 123456789))
             + ld(7, vi(1, -86400)))
    obj = decode_kubernetes_protobuf(envelope("v1", "Event", event))
    assert obj["eventTime"] == "2023-11-14T22:13:20.123456Z"
    assert obj["lastTimestamp"] == "1969-12-31T00:00:00Z"
    assert obj["firstTimestamp"] is None  # non-pointer zero Time, no omitzero -> null
    assert "creationTimestamp" not in obj["metadata"]  # omitzero


def test_bytes_maps_and_raw_json() -> None:
    secret = ld(1, ld(1, "s")) + ld(2, ld(1, "k") + ld(2, b"\x00\xff")) + ld(2, ld(1, "e"))
    obj = decode_kubernetes_protobuf(envelope("v1", "Secret", secret))
    assert obj["data"] == {"k": "AP8=", "e": ""}
    revision = ld(2, ld(1, b'{"spec":{"a":[1,2]}}')) + vi(3, 4)
    obj = decode_kubernetes_protobuf(envelope("apps/v1", "ControllerRevision", revision))
    assert obj["data"] == {"spec": {"a": [1, 2]}}
    assert obj["revision"] == 4
    empty = decode_kubernetes_protobuf(envelope("apps/v1", "ControllerRevision", b""))
    assert empty["data"] is None and empty["revision"] == 0


def test_packed_and_unpacked_repeated_scalars() -> None:
    groups = [1, 2, -3, 1 << 40]
    packed = ld(4, b"".join(varint(g) for g in groups))
    unpacked = b"".join(vi(4, g) for g in groups)
    for body in (packed, unpacked):
        obj = decode_kubernetes_protobuf(envelope("v1", "Pod", ld(2, ld(14, body))))
        assert obj["spec"]["securityContext"]["supplementalGroups"] == groups


def test_wrapped_named_slices_and_floats() -> None:
    extra = ld(1, "groups") + ld(2, ld(1, "a") + ld(1, "b"))
    review = ld(2, ld(5, extra) + ld(3, "alice"))
    obj = decode_kubernetes_protobuf(
        envelope("authorization.k8s.io/v1", "SubjectAccessReview", review))
    assert obj["spec"]["extra"] == {"groups": ["a", "b"]}
    props = key(9, 1) + struct.pack("<d", 2.5) + ld(20, ld(1, b'"x"'))
    crd_version = ld(1, "v1") + ld(4, ld(1, props))
    crd = ld(2, ld(1, "example.com") + ld(7, crd_version))
    obj = decode_kubernetes_protobuf(envelope(
        "apiextensions.k8s.io/v1", "CustomResourceDefinition", crd))
    schema = obj["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert schema == {"maximum": 2.5, "enum": ["x"]}


def test_json_schema_unions() -> None:
    inner = ld(5, "string")  # JSONSchemaProps.type
    props = (ld(24, ld(1, inner))  # items: OrArray with a schema
             + ld(30, vi(1, 1))  # additionalProperties: OrBool true
             + ld(33, ld(2, inner))  # additionalItems: OrBool with a schema
             + ld(32, ld(1, "a") + ld(2, ld(2, "b"))))  # dependencies: OrStringArray
    crd = ld(2, ld(7, ld(1, "v1") + ld(4, ld(1, props))))
    obj = decode_kubernetes_protobuf(envelope(
        "apiextensions.k8s.io/v1", "CustomResourceDefinition", crd))
    schema = obj["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert schema == {"items": {"type": "string"}, "additionalProperties": True,
                      "additionalItems": {"type": "string"}, "dependencies": {"a": ["b"]}}


def test_every_custom_json_struct_is_rendered() -> None:
    custom = json.loads(
        (Path(protobuf.__file__).parent / "protobuf_fields.json").read_bytes())["customJSON"]
    assert {name.rpartition(".")[2] for name in custom} <= protobuf.JSON_FORMS.keys()


def test_every_builtin_kind_has_a_table_matching_its_openapi_properties() -> None:
    from kybernetes.api import schema
    from kybernetes.api.registry import BUILTIN_RESOURCES

    gvks = {(r.group, r.version, k) for r in BUILTIN_RESOURCES
            for k in ((r.kind, r.list_kind) if "list" in r.verbs else (r.kind,))}
    for gvk in gvks:
        name = schema.definition_for_kind(*gvk)
        assert name is not None and name in TABLE, gvk
    # Subresource bodies (Eviction, Binding, Scale, TokenRequest); *Options kinds are only
    # query parameters and have no definition.
    for r in BUILTIN_RESOURCES:
        for sub in r.subresources:
            name = schema.definition_for_kind(sub.group or r.group, sub.version or r.version,
                                              sub.kind)
            assert name is None or name in TABLE, sub
    for name, body in schema.definitions().items():
        if name in TABLE and "properties" in body:
            assert _json_names(name) == set(body["properties"]), name


def test_unknown_fields_and_groups_are_skipped() -> None:
    unknown = (vi(99, 7) + ld(98, "x") + key(97, 1) + b"\0" * 8 + key(96, 5) + b"\0" * 4
               + key(95, 3) + vi(1, 1) + key(95, 4))
    obj = decode_kubernetes_protobuf(envelope("v1", "ConfigMap", unknown + ld(1, ld(1, "c"))))
    assert obj == {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "c"}}


def test_repeated_message_occurrences_merge() -> None:
    meta = ld(1, ld(1, "a")) + ld(1, ld(3, "ns"))
    obj = decode_kubernetes_protobuf(envelope("v1", "ConfigMap", meta))
    assert obj["metadata"] == {"name": "a", "namespace": "ns"}


def test_delete_options() -> None:
    body = b"k8s\x00\n\x13\n\x02v1\x12\rDeleteOptions\x12\x02\x08\x05\x1a\x00\"\x00"
    assert decode_kubernetes_protobuf(body) == {
        "kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 5}


def test_go_duration_strings() -> None:
    ns, us, ms, s, m, h = 1, 1000, 10**6, 10**9, 60 * 10**9, 3600 * 10**9
    for text, value in [
        ("0s", 0), ("1ns", 1 * ns), ("1.1µs", 1100 * ns), ("2.2ms", 2200 * us),
        ("3.3s", 3300 * ms), ("4m5s", 4 * m + 5 * s), ("4m5.001s", 4 * m + 5001 * ms),
        ("5h6m7.001s", 5 * h + 6 * m + 7001 * ms), ("8m0.000000001s", 8 * m + 1 * ns),
        ("1h0m0s", h), ("2562047h47m16.854775807s", (1 << 63) - 1),
        ("-2562047h47m16.854775808s", -(1 << 63)), ("-1.5s", -1500 * ms),
    ]:
        assert protobuf._go_duration(value) == text


@pytest.mark.parametrize(("body", "fragment"), [
    (b"", "prefix"),
    (b"{}", "prefix"),
    (b"k8s\x00", "Kind"),
    (b"k8s\x00" + ld(1, ld(2, "Namespace")), "apiVersion"),
    (b"k8s\x00\x0a\x05", "end of data"),
    (b"k8s\x00" + b"\xff" * 11, "overflow"),
    (b"k8s\x00" + vi(1, 1), "wire type"),
    (envelope("v1", "Namespace", b"\x0a\x02\x0a"), "end of data"),
    (envelope("v1", "Namespace", vi(1, 1)), "wire type"),  # metadata as a varint
    (envelope("v1", "Namespace", key(9, 6)), "wire type"),
    (envelope("v1", "Namespace", key(9, 4)), "end group"),
    (envelope("v1", "Namespace", b"\x00"), "field number 0"),
    (envelope("apps/v1", "ControllerRevision", ld(2, ld(1, b"{nope"))), "JSON"),
    (envelope("v1", "Event", ld(10, vi(1, 1 << 62))), "out of range"),
    (b"k8s\x00" + ld(1, ld(1, "v1") + ld(2, "Namespace")) + ld(3, "gzip"), "encoding"),
])
def test_malformed_is_bad_request(body: bytes, fragment: str) -> None:
    with pytest.raises(StatusError) as err:
        decode_kubernetes_protobuf(body)
    assert err.value.code == 400
    assert fragment in err.value.message


def test_unknown_kind_is_unsupported_media_type() -> None:
    with pytest.raises(StatusError) as err:
        decode_kubernetes_protobuf(envelope("example.com/v1", "Widget", b""))
    assert err.value.code == 415


SAMPLES: dict[str, dict[str, Any]] = {}


def _deployment_sample() -> dict[str, Any]:
    probe = {"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP",
                         "httpHeaders": [{"name": "X", "value": "y"}]},
             "initialDelaySeconds": 3, "periodSeconds": 10, "failureThreshold": 0,
             "terminationGracePeriodSeconds": 0}
    container = {
        "name": "web", "image": "nginx:1.27", "command": ["/bin/sh"], "args": ["-c", "run"],
        "workingDir": "/w",
        "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP", "hostPort": 0}],
        "env": [{"name": "A", "value": "b"},
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "MEM", "valueFrom": {"resourceFieldRef": {
                    "resource": "limits.memory", "divisor": "1Mi"}}}],
        "envFrom": [{"configMapRef": {"name": "cm", "optional": False}, "prefix": "P_"}],
        "resources": {"limits": {"cpu": "500m", "memory": "128Mi"},
                      "requests": {"cpu": "250m", "ephemeral-storage": "1Gi"},
                      "claims": [{"name": "gpu"}]},
        "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": True,
                          "subPath": "x", "mountPropagation": "None"}],
        "livenessProbe": probe,
        "readinessProbe": {"exec": {"command": ["true"]}, "successThreshold": 1},
        "startupProbe": {"tcpSocket": {"port": "http"}, "timeoutSeconds": 2},
        "lifecycle": {"preStop": {"sleep": {"seconds": 5}},
                      "postStart": {"httpGet": {"port": 1, "host": "h"}}},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File", "imagePullPolicy": "IfNotPresent",
        "securityContext": {"runAsUser": 1000, "runAsNonRoot": True,
                            "allowPrivilegeEscalation": False,
                            "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]},
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "stdin": False, "tty": True, "restartPolicy": "Always",
    }
    return {
        "kind": "Deployment", "apiVersion": "apps/v1",
        "metadata": {
            "name": "web", "namespace": "default", "uid": "6f1c7c1e-0000-4000-8000-000000000001",
            "resourceVersion": "42", "generation": 3,
            "creationTimestamp": "2025-01-02T03:04:05Z",
            "deletionTimestamp": "2025-01-02T03:05:05Z", "deletionGracePeriodSeconds": 30,
            "labels": {"app": "web", "tier": "front"}, "annotations": {"a": "1"},
            "ownerReferences": [{"apiVersion": "v1", "kind": "Thing", "name": "t",
                                 "uid": "u", "controller": True,
                                 "blockOwnerDeletion": False}],
            "finalizers": ["example.com/f"],
            "managedFields": [{"manager": "kubectl", "operation": "Update",
                               "apiVersion": "apps/v1", "time": "2025-01-02T03:04:05Z",
                               "fieldsType": "FieldsV1",
                               "fieldsV1": {"f:spec": {"f:replicas": {}}},
                               "subresource": "scale"}],
        },
        "spec": {
            "replicas": 0, "minReadySeconds": 5, "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600, "paused": True,
            "selector": {"matchLabels": {"app": "web"}, "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["front", "back"]}]},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 1}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [container],
                    "initContainers": [{"name": "init", "image": "busybox",
                                        "restartPolicy": "Always", "resources": {}}],
                    "volumes": [
                        {"name": "data", "persistentVolumeClaim": {"claimName": "pvc"}},
                        {"name": "cfg", "configMap": {"name": "cm", "defaultMode": 420,
                                                      "items": [{"key": "k", "path": "p"}]}},
                        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
                        {"name": "proj", "projected": {"sources": [
                            {"serviceAccountToken": {"path": "token",
                                                     "expirationSeconds": 3600}},
                            {"downwardAPI": {"items": [{"path": "l", "fieldRef": {
                                "apiVersion": "v1", "fieldPath": "metadata.labels"}}]}}]}},
                        {"name": "host", "hostPath": {"path": "/var", "type": ""}},
                    ],
                    "restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
                    "activeDeadlineSeconds": 100, "dnsPolicy": "ClusterFirst",
                    "nodeSelector": {"disk": "ssd"}, "serviceAccountName": "sa",
                    "automountServiceAccountToken": False, "hostNetwork": True,
                    "shareProcessNamespace": False,
                    "securityContext": {"fsGroup": 2000, "supplementalGroups": [1, 2],
                                        "sysctls": [{"name": "a.b", "value": "1"}]},
                    "imagePullSecrets": [{"name": "reg"}], "hostname": "h",
                    "subdomain": "s",
                    "affinity": {
                        "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [{"matchExpressions": [
                                {"key": "k", "operator": "Exists"}]}]}},
                        "podAntiAffinity": {
                            "preferredDuringSchedulingIgnoredDuringExecution": [
                                {"weight": 50, "podAffinityTerm": {
                                    "topologyKey": "zone",
                                    "labelSelector": {"matchLabels": {"app": "web"}}}}]}},
                    "schedulerName": "default-scheduler",
                    "tolerations": [{"key": "k", "operator": "Equal", "value": "v",
                                     "effect": "NoExecute", "tolerationSeconds": 60}],
                    "hostAliases": [{"ip": "1.2.3.4", "hostnames": ["a"]}],
                    "priorityClassName": "high", "priority": -5,
                    "dnsConfig": {"nameservers": ["1.1.1.1"],
                                  "options": [{"name": "ndots", "value": "2"}]},
                    "readinessGates": [{"conditionType": "x"}],
                    "runtimeClassName": "rc", "enableServiceLinks": True,
                    "preemptionPolicy": "Never", "overhead": {"cpu": "10m"},
                    "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone",
                                                   "whenUnsatisfiable": "DoNotSchedule",
                                                   "minDomains": 2}],
                    "os": {"name": "linux"}, "hostUsers": False,
                    "schedulingGates": [{"name": "g"}],
                    "resourceClaims": [{"name": "gpu", "resourceClaimName": "c"}],
                },
            },
        },
        "status": {
            "observedGeneration": 3, "replicas": 2, "updatedReplicas": 1,
            "readyReplicas": 1, "availableReplicas": 1, "unavailableReplicas": 1,
            "conditions": [{"type": "Available", "status": "True",
                            "lastUpdateTime": "2025-01-02T03:04:05Z",
                            "lastTransitionTime": "2025-01-02T03:04:06Z",
                            "reason": "MinimumReplicasAvailable", "message": "ok"}],
            "collisionCount": 0,
        },
    }


SAMPLES["deployment"] = _deployment_sample()


def test_encoded_sample_round_trips() -> None:
    sample = SAMPLES["deployment"]
    decoded = decode_kubernetes_protobuf(encode_object(sample))
    assert decoded["spec"]["template"]["spec"]["containers"][0]["env"] == \
        sample["spec"]["template"]["spec"]["containers"][0]["env"]
    assert decoded["metadata"] == sample["metadata"]
    assert decoded["spec"]["strategy"] == sample["spec"]["strategy"]


def test_fuzz_truncations_and_flips_only_raise_bad_request() -> None:
    rng = random.Random(1234)
    bodies = [encode_object(SAMPLES["deployment"]),
              encode_object({"kind": "Secret", "apiVersion": "v1", "metadata": {"name": "s"},
                             "data": {"a": "AAE="}, "type": "Opaque"})]
    for body in bodies:
        cases = [body[:n] for n in range(len(body))]
        for _ in range(3000):
            mutated = bytearray(body)
            for _ in range(rng.randint(1, 4)):
                at = rng.randrange(4, len(mutated))
                mutated[at] = rng.randrange(256)
            cases.append(bytes(mutated))
            cases.append(body[:4] + bytes(rng.randrange(256) for _ in range(rng.randint(0, 40))))
        for case in cases:
            try:
                decode_kubernetes_protobuf(case)
            except StatusError as err:
                assert err.code in (400, 415)


# -- the real kubectl ---------------------------------------------------------------------


def _find_kubectl() -> str | None:
    path = os.environ.get("KUBECTL") or str(Path.home() / ".local" / "bin" / "kubectl")
    if not os.access(path, os.X_OK):
        return None
    try:
        out = subprocess.run([path, "version", "--client", "-o", "json"], capture_output=True,
                             text=True, timeout=30, check=False).stdout
        minor = json.loads(out)["clientVersion"]["minor"]
    except (OSError, ValueError, KeyError, subprocess.SubprocessError):
        return None
    return path if re.match(r"35\b", minor) else None


KUBECTL = _find_kubectl()
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl 1.35 not found")


@needs_kubectl
def test_table_is_what_the_generator_derives(tmp_path: Path) -> None:
    assert KUBECTL is not None
    helm = Path(KUBECTL).parent / "helm"
    if not helm.exists():
        pytest.skip("helm (for the apiextensions types) not found beside kubectl")
    tool = Path(__file__).resolve().parents[2] / "tools" / "extract_proto_fields.py"
    out = tmp_path / "fields.json"
    subprocess.run([sys.executable, str(tool), "--out", str(out), KUBECTL, str(helm)],
                   check=True, capture_output=True, timeout=120)
    committed = Path(protobuf.__file__).parent / "protobuf_fields.json"
    assert json.loads(out.read_bytes()) == json.loads(committed.read_bytes())

_GROUPS = {"apps": ["deployments"], "batch": ["jobs", "cronjobs"], "policy": [
    "poddisruptionbudgets"], "rbac.authorization.k8s.io": ["roles", "clusterroles"],
    "scheduling.k8s.io": ["priorityclasses"], "networking.k8s.io": ["ingresses"]}
_KINDS = {"deployments": "Deployment", "jobs": "Job", "cronjobs": "CronJob",
          "poddisruptionbudgets": "PodDisruptionBudget", "roles": "Role",
          "clusterroles": "ClusterRole", "priorityclasses": "PriorityClass",
          "ingresses": "Ingress", "pods": "Pod", "namespaces": "Namespace",
          "configmaps": "ConfigMap", "secrets": "Secret", "services": "Service",
          "nodes": "Node", "resourcequotas": "ResourceQuota", "serviceaccounts": "ServiceAccount"}
_CLUSTER = {"namespaces", "nodes", "clusterroles", "priorityclasses"}


def _resources(gv: str, plurals: list[str]) -> dict[str, Any]:
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": [
        {"name": p, "singularName": "", "namespaced": p not in _CLUSTER, "kind": _KINDS[p],
         "verbs": ["create", "delete", "get", "list", "patch", "update"]} for p in plurals]}


_DISCOVERY: dict[str, Any] = {
    "/api": {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []},
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
        {"name": g, "versions": [{"groupVersion": f"{g}/v1", "version": "v1"}],
         "preferredVersion": {"groupVersion": f"{g}/v1", "version": "v1"}} for g in _GROUPS]},
    "/api/v1": _resources("v1", ["pods", "namespaces", "configmaps", "secrets", "services",
                                 "nodes", "resourcequotas", "serviceaccounts"]),
    **{f"/apis/{g}/v1": _resources(f"{g}/v1", p) for g, p in _GROUPS.items()},
}


class FakeServer:
    """A plain-HTTP API server stub: discovery, recorded writes, canned responses."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str, bytes]] = []
        self.docs: dict[str, Any] = dict(_DISCOVERY)
        self.reply: tuple[str, bytes] | None = None  # (content type, body) for writes
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, content_type: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                doc = outer.docs.get(self.path.split("?")[0])
                if isinstance(doc, tuple):
                    self._send(200, *doc)
                elif doc is None:
                    self._send(404, "application/json", json.dumps({
                        "kind": "Status", "apiVersion": "v1", "status": "Failure",
                        "reason": "NotFound", "code": 404, "message": "not found"}).encode())
                else:
                    self._send(200, "application/json", json.dumps(doc).encode())

            def _write(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.requests.append((self.command, self.path,
                                       self.headers.get("Content-Type", ""), body))
                if outer.reply is not None:
                    self._send(201, *outer.reply)
                elif self.command == "PATCH":
                    self._send(200, "application/json", json.dumps(
                        outer.docs["/api/v1/nodes/n1"]).encode())
                else:
                    self._send(201, "application/json", json.dumps({
                        "kind": "Status", "apiVersion": "v1", "status": "Success",
                        "metadata": {}}).encode())

            do_POST = do_PUT = do_PATCH = do_DELETE = _write

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[FakeServer]:
    fake = FakeServer()
    yield fake
    fake.close()


def kubectl(server: FakeServer, tmp_path: Path, *args: str, extra: tuple[str, ...] = ()) -> str:
    assert KUBECTL is not None
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path),
           "KUBECONFIG": str(tmp_path / "none")}
    argv = [*args, *extra]
    if "--" in args:  # flags go before the container command
        split = args.index("--")
        argv = [*args[:split], *extra, *args[split:]]
    result = subprocess.run([KUBECTL, "--server", server.url, *argv], env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


COMMANDS = [
    ["create", "namespace", "demo"],
    ["create", "deployment", "web", "--image=nginx", "--replicas=0"],
    ["create", "deployment", "multi", "--image=nginx", "--image=redis:7", "--port=80",
     "-n", "team"],
    ["create", "configmap", "c", "--from-literal=a=b", "--from-literal=x=y z"],
    ["create", "secret", "generic", "s", "--from-literal=p=q", "--type=Opaque"],
    ["create", "secret", "docker-registry", "reg", "--docker-server=r.io",
     "--docker-username=u", "--docker-password=p"],
    ["create", "service", "clusterip", "svc", "--tcp=80:8080", "--tcp=443:http"],
    ["create", "job", "j", "--image=busybox", "--", "echo", "hi"],
    ["create", "cronjob", "cj", "--image=busybox", "--schedule=*/5 * * * *"],
    ["create", "pdb", "pdb", "--selector=app=web", "--min-available=50%"],
    ["create", "priorityclass", "high", "--value=1000", "--description=d",
     "--preemption-policy=Never"],
    ["create", "quota", "q", "--hard=cpu=1,memory=1Gi,pods=10"],
    ["create", "serviceaccount", "sa"],
    ["create", "role", "r", "--verb=get,list", "--resource=pods,deployments.apps"],
    ["create", "clusterrole", "cr", "--verb=get", "--non-resource-url=/healthz"],
    ["create", "ingress", "ing", "--rule=foo.com/bar*=svc:8080,tls=secret"],
    ["run", "p", "--image=busybox", "--restart=Never", "--labels=a=b", "--", "sleep", "10"],
]


@needs_kubectl
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: "-".join(c[:3]))
def test_kubectl_request_bodies_decode_to_its_json(server: FakeServer, tmp_path: Path,
                                                  command: list[str]) -> None:
    expected = json.loads(kubectl(server, tmp_path, *command,
                                     extra=("--dry-run=client", "-o", "json")))
    kubectl(server, tmp_path, *command)
    [(method, _path, content_type, body)] = [r for r in server.requests if r[0] == "POST"]
    assert method == "POST"
    if command[0] == "run":  # kubectl run sends through the dynamic client, as JSON
        assert content_type == "application/json"
        assert json.loads(body) == expected
        return
    assert content_type == PB
    assert decode_kubernetes_protobuf(body) == expected


@needs_kubectl
def test_kubectl_drain_delete_options(server: FakeServer, tmp_path: Path) -> None:
    server.docs["/api/v1/nodes/n1"] = {"kind": "Node", "apiVersion": "v1",
                                       "metadata": {"name": "n1"}, "spec": {}}
    server.docs["/api/v1/pods"] = {"kind": "PodList", "apiVersion": "v1", "metadata": {},
                                   "items": [{"metadata": {"name": "p", "namespace": "default"},
                                              "spec": {"nodeName": "n1", "containers": [
                                                  {"name": "c", "image": "i"}]}}]}
    kubectl(server, tmp_path, "drain", "n1", "--force", "--grace-period=7", "--timeout=20s")
    [(_, path, content_type, body)] = [r for r in server.requests if r[0] == "DELETE"]
    assert path.startswith("/api/v1/namespaces/default/pods/p")
    assert content_type == PB
    assert decode_kubernetes_protobuf(body) == {
        "kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 7}


@needs_kubectl
def test_kubectl_create_token_request(server: FakeServer, tmp_path: Path) -> None:
    server.reply = (PB, encode_object({"kind": "TokenRequest",
                                       "apiVersion": "authentication.k8s.io/v1",
                                       "metadata": {}, "status": {"token": "t0k"}}))
    assert kubectl(server, tmp_path, "create", "token", "sa", "--audience=a").strip() == "t0k"
    [(_, path, content_type, body)] = server.requests
    assert path.startswith("/api/v1/namespaces/default/serviceaccounts/sa/token")
    assert content_type == PB
    # Go's JSON of the same TokenRequest: nil pointers and slices without omitempty -> null.
    assert decode_kubernetes_protobuf(body) == {
        "kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1", "metadata": {},
        "spec": {"audiences": ["a"], "expirationSeconds": None, "boundObjectRef": None},
        "status": {"token": "", "expirationTimestamp": None}}


@needs_kubectl
def test_kubectl_events_list_with_micro_times(server: FakeServer, tmp_path: Path) -> None:
    event = {
        "kind": "Event", "apiVersion": "v1", "metadata": {"name": "e1", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default", "uid": "u",
                           "apiVersion": "v1", "resourceVersion": "1",
                           "fieldPath": "spec.containers{c}"},
        "reason": "Pulled", "message": "m", "source": {"component": "kubelet", "host": "n1"},
        "firstTimestamp": "2025-01-02T03:04:05Z", "lastTimestamp": "2025-01-02T03:04:06Z",
        "count": 3, "type": "Normal", "eventTime": "2025-01-02T03:04:05.123456Z",
        "series": {"count": 2, "lastObservedTime": "2025-01-02T03:04:07.000001Z"},
        "action": "Pull", "related": {"kind": "Node", "name": "n1"},
        "reportingComponent": "kubelet", "reportingInstance": "n1"}
    body = encode_object({"kind": "EventList", "apiVersion": "v1", "metadata": {},
                          "items": [{k: v for k, v in event.items()
                                     if k not in ("kind", "apiVersion")}]})
    server.docs["/api/v1/namespaces/default/events"] = (PB, body)
    printed = json.loads(kubectl(server, tmp_path, "events", extra=("-o", "json")))
    ours = decode_kubernetes_protobuf(body)
    assert ours["items"] == [{k: v for k, v in item.items() if k not in ("kind", "apiVersion")}
                             for item in printed["items"]]
    assert printed["items"] == [event]


def _pod_template(pod_spec: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": "x"}}, "spec": pod_spec}


_SIMPLE_POD = {"containers": [{"name": "c", "image": "busybox", "resources": {}}],
               "restartPolicy": "OnFailure"}

# Objects kubectl decodes from our protobuf responses: (command, object to answer with).
RESPONSES: list[tuple[list[str], dict[str, Any]]] = [
    (["create", "deployment", "web", "--image=nginx"], SAMPLES["deployment"]),
    (["create", "namespace", "demo"], {
        "kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "demo"},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Terminating", "conditions": [
            {"type": "NamespaceDeletionContentFailure", "status": "False",
             "lastTransitionTime": "2025-05-06T07:08:09Z", "reason": "r", "message": "m"}]}}),
    (["create", "configmap", "c"], {
        "kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "c"},
        "data": {"a": "b", "empty": ""}, "binaryData": {"bin": "AAECAw=="},
        "immutable": False}),
    (["create", "secret", "generic", "s"], {
        "kind": "Secret", "apiVersion": "v1", "metadata": {"name": "s"},
        "data": {"p": "cQ==", "e": ""}, "type": "Opaque", "immutable": True}),
    (["create", "service", "clusterip", "svc", "--tcp=80:8080"], {
        "kind": "Service", "apiVersion": "v1", "metadata": {"name": "svc"},
        "spec": {"ports": [{"name": "http", "protocol": "TCP", "port": 80,
                            "targetPort": "web", "nodePort": 30000, "appProtocol": "h2c"}],
                 "selector": {"app": "x"}, "clusterIP": "10.0.0.1",
                 "clusterIPs": ["10.0.0.1"], "type": "NodePort",
                 "sessionAffinity": "ClientIP",
                 "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}},
                 "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                 "externalTrafficPolicy": "Local", "healthCheckNodePort": 31000,
                 "allocateLoadBalancerNodePorts": True, "internalTrafficPolicy": "Cluster",
                 "trafficDistribution": "PreferClose"},
        "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4", "ipMode": "VIP",
                                                 "ports": [{"port": 80, "protocol": "TCP"}]}]},
                   "conditions": [{"type": "Ready", "status": "True",
                                   "observedGeneration": 1,
                                   "lastTransitionTime": "2025-05-06T07:08:09Z",
                                   "reason": "r", "message": "m"}]}}),
    (["create", "job", "j", "--image=busybox"], {
        "kind": "Job", "apiVersion": "batch/v1", "metadata": {"name": "j"},
        "spec": {"parallelism": 2, "completions": 4, "activeDeadlineSeconds": 60,
                 "backoffLimit": 0, "backoffLimitPerIndex": 1, "maxFailedIndexes": 2,
                 "completionMode": "Indexed", "suspend": False, "manualSelector": False,
                 "ttlSecondsAfterFinished": 100, "podReplacementPolicy": "Failed",
                 "podFailurePolicy": {"rules": [
                     {"action": "FailJob", "onExitCodes": {
                         "containerName": "c", "operator": "In", "values": [1, 42]}},
                     {"action": "Ignore", "onPodConditions": [
                         {"type": "DisruptionTarget", "status": "True"}]}]},
                 "successPolicy": {"rules": [{"succeededIndexes": "0-2",
                                              "succeededCount": 1}]},
                 "template": _pod_template(_SIMPLE_POD)},
        "status": {"startTime": "2025-05-06T07:08:09Z", "active": 1, "failed": 0,
                   "ready": 0, "terminating": 0, "completedIndexes": "1",
                   "uncountedTerminatedPods": {"succeeded": ["u1"]}}}),
    (["create", "cronjob", "cj", "--image=busybox", "--schedule=* * * * *"], {
        "kind": "CronJob", "apiVersion": "batch/v1", "metadata": {"name": "cj"},
        "spec": {"schedule": "* * * * *", "timeZone": "Etc/UTC",
                 "startingDeadlineSeconds": 10, "concurrencyPolicy": "Forbid",
                 "suspend": True, "successfulJobsHistoryLimit": 0,
                 "failedJobsHistoryLimit": 1, "jobTemplate": {
                     "metadata": {"labels": {"a": "b"}},
                     "spec": {"template": _pod_template(_SIMPLE_POD)}}},
        "status": {"active": [{"kind": "Job", "name": "j1", "namespace": "d"}],
                   "lastScheduleTime": "2025-05-06T07:08:09Z"}}),
    (["create", "pdb", "pdb", "--selector=app=web", "--min-available=1"], {
        "kind": "PodDisruptionBudget", "apiVersion": "policy/v1", "metadata": {"name": "pdb"},
        "spec": {"minAvailable": "50%", "selector": {"matchLabels": {"app": "web"}},
                 "unhealthyPodEvictionPolicy": "AlwaysAllow"},
        "status": {"observedGeneration": 1,
                   "disruptedPods": {"p1": "2025-05-06T07:08:09Z"},
                   "disruptionsAllowed": 0, "currentHealthy": 1, "desiredHealthy": 1,
                   "expectedPods": 2}}),
    (["create", "priorityclass", "high", "--value=1"], {
        "kind": "PriorityClass", "apiVersion": "scheduling.k8s.io/v1",
        "metadata": {"name": "high"}, "value": -100, "globalDefault": False,
        "description": "d", "preemptionPolicy": "Never"}),
    (["create", "quota", "q", "--hard=pods=1"], {
        "kind": "ResourceQuota", "apiVersion": "v1", "metadata": {"name": "q"},
        "spec": {"hard": {"pods": "10", "requests.cpu": "1500m"},
                 "scopes": ["BestEffort"], "scopeSelector": {"matchExpressions": [
                     {"scopeName": "PriorityClass", "operator": "In", "values": ["a"]}]}},
        "status": {"hard": {"pods": "10"}, "used": {"pods": "0"}}}),
    (["create", "role", "r", "--verb=get", "--resource=pods"], {
        "kind": "Role", "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": {"name": "r"},
        "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"],
                   "resourceNames": ["a"]}]}),
    (["create", "clusterrole", "cr", "--verb=get", "--resource=pods"], {
        "kind": "ClusterRole", "apiVersion": "rbac.authorization.k8s.io/v1",
        "metadata": {"name": "cr"},
        "rules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}],
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"a": "b"}}]}}),
    (["create", "ingress", "ing", "--rule=foo.com/=svc:80"], {
        "kind": "Ingress", "apiVersion": "networking.k8s.io/v1", "metadata": {"name": "ing"},
        "spec": {"ingressClassName": "nginx",
                 "defaultBackend": {"resource": {"apiGroup": "k8s.example.com",
                                                 "kind": "Bucket", "name": "b"}},
                 "tls": [{"hosts": ["foo.com"], "secretName": "s"}],
                 "rules": [{"host": "foo.com", "http": {"paths": [
                     {"path": "/", "pathType": "Prefix", "backend": {"service": {
                         "name": "svc", "port": {"number": 80}}}},
                     {"path": "/n", "pathType": "Exact", "backend": {"service": {
                         "name": "svc", "port": {"name": "http"}}}}]}}]},
        "status": {"loadBalancer": {"ingress": [{"hostname": "lb", "ports": [
            {"port": 443, "protocol": "TCP", "error": "e"}]}]}}}),
    (["create", "token", "sa"], {
        "kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": "sa"},
        "spec": {"audiences": ["a"], "expirationSeconds": 600, "boundObjectRef": {
            "kind": "Pod", "apiVersion": "v1", "name": "p", "uid": "u"}},
        "status": {"token": "tok", "expirationTimestamp": "2025-01-02T03:04:05Z"}}),
    (["create", "serviceaccount", "sa"], {
        "kind": "ServiceAccount", "apiVersion": "v1", "metadata": {"name": "sa"},
        "secrets": [{"kind": "Secret", "name": "s", "fieldPath": "f"}],
        "imagePullSecrets": [{"name": "reg"}], "automountServiceAccountToken": False}),
]


@needs_kubectl
@pytest.mark.parametrize(("command", "obj"), RESPONSES, ids=lambda v: str(v[:3])
                         if isinstance(v, list) else "")
def test_kubectl_decodes_our_encoding_as_we_do(server: FakeServer, tmp_path: Path,
                                               command: list[str], obj: dict[str, Any]) -> None:
    """Bytes built from our table mean to kubectl's generated Go code what they mean to us."""
    body = encode_object(obj)
    server.reply = (PB, body)
    printed = json.loads(kubectl(server, tmp_path, *command,
                                 extra=("-o", "json", "--show-managed-fields")))
    assert decode_kubernetes_protobuf(body) == printed
    # And nothing in the sample was lost or renamed on the way.
    assert _subset(obj, printed), (obj, printed)


def _subset(ours: Any, theirs: Any) -> bool:
    """Every value in `ours` is in `theirs` (which may add Go zero values)."""
    if isinstance(ours, dict):
        return isinstance(theirs, dict) and all(
            k in theirs and _subset(v, theirs[k]) for k, v in ours.items()
            if v not in (False, 0, "", None) or k in theirs)
    if isinstance(ours, list):
        return isinstance(theirs, list) and len(ours) == len(theirs) and all(
            _subset(a, b) for a, b in zip(ours, theirs, strict=True))
    return bool(ours == theirs)

