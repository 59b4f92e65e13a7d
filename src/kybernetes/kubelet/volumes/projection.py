"""The payloads of configMap, secret and downwardAPI volumes and projections (upstream's
`configmap.MakePayload`, `secret.MakePayload`, `downwardapi.CollectData`): which files
with which bytes and modes, as `AtomicWriter` writes them. Pure functions over objects
already read from the API.

Without `items` every key becomes a file named after it; with `items` only the listed keys
are projected, to their `path` and `mode` (else the volume's `defaultMode`). A listed key
the object lacks fails the volume unless it is `optional`.
"""

from __future__ import annotations

import base64
import posixpath
from collections.abc import Mapping, Sequence
from typing import Any

from kybernetes.kubelet.volumes.atomic_writer import FileProjection
from kybernetes.kubelet.volumes.fieldpath import FieldPathError, extract_field_path_as_string
from kybernetes.kubelet.volumes.resource import ResourceFieldError, resource_value

DEFAULT_MODE = 0o644

Payload = dict[str, FileProjection]


class PayloadError(ValueError):
    """The payload cannot be made; the message is upstream's."""


def _mode(item: Mapping[str, Any], default_mode: int) -> int:
    mode = item.get("mode")
    return int(mode) if mode is not None else default_mode


def configmap_payload(items: Sequence[Mapping[str, Any]], configmap: Mapping[str, Any],
                      default_mode: int, optional: bool) -> Payload:
    data: Mapping[str, str] = configmap.get("data") or {}
    binary: Mapping[str, str] = configmap.get("binaryData") or {}
    if not items:
        payload = {key: FileProjection(value.encode(), default_mode)
                   for key, value in data.items()}
        payload.update({key: FileProjection(base64.b64decode(value), default_mode)
                        for key, value in binary.items()})
        return payload
    payload = {}
    for item in items:
        key, path = str(item.get("key") or ""), str(item.get("path") or "")
        if key in data:
            content = data[key].encode()
        elif key in binary:
            content = base64.b64decode(binary[key])
        elif optional:
            continue
        else:
            raise PayloadError(f"configmap references non-existent config key: {key}")
        payload[path] = FileProjection(content, _mode(item, default_mode))
    return payload


def secret_payload(items: Sequence[Mapping[str, Any]], secret: Mapping[str, Any],
                   default_mode: int, optional: bool) -> Payload:
    data: Mapping[str, str] = secret.get("data") or {}
    if not items:
        return {key: FileProjection(base64.b64decode(value), default_mode)
                for key, value in data.items()}
    payload = {}
    for item in items:
        key, path = str(item.get("key") or ""), str(item.get("path") or "")
        if key not in data:
            if optional:
                continue
            raise PayloadError(f"references non-existent secret key: {key}")
        payload[path] = FileProjection(base64.b64decode(data[key]), _mode(item, default_mode))
    return payload


def downward_payload(items: Sequence[Mapping[str, Any]], pod: Mapping[str, Any],
                     default_mode: int, allocatable: Mapping[str, Any]) -> Payload:
    """Every item is collected; all failures are reported together (an aggregate)."""
    payload: Payload = {}
    errors: list[str] = []
    for item in items:
        path = posixpath.normpath(str(item.get("path") or ""))
        content = b""
        try:
            if item.get("fieldRef"):
                content = extract_field_path_as_string(
                    pod, str(item["fieldRef"].get("fieldPath") or "")).encode()
            elif item.get("resourceFieldRef"):
                content = resource_value(item["resourceFieldRef"], pod, None,
                                         allocatable).encode()
        except (FieldPathError, ResourceFieldError) as err:
            errors.append(str(err))
        payload[path] = FileProjection(content, _mode(item, default_mode))
    if errors:
        raise PayloadError(aggregate(errors))
    return payload


def aggregate(errors: Sequence[str]) -> str:
    """apimachinery's `utilerrors.NewAggregate(...).Error()` wording."""
    unique = list(dict.fromkeys(errors))
    return unique[0] if len(unique) == 1 else f"[{', '.join(unique)}]"
