"""Pod field selectors of the downward API: upstream's pkg/fieldpath
(`ExtractFieldPathAsString`, `FormatMap`, `SplitMaybeSubscriptedPath`) and
pkg/apis/core/pods `ConvertDownwardAPIFieldLabel`.

Only the pod metadata is read here; `spec.nodeName`, `status.podIP` and friends are the
kubelet's runtime values and are resolved by `kybernetes.kubelet.envvars`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kybernetes.api.goquote import go_quote

_SUPPORTED_LABELS = frozenset({
    "metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace",
    "metadata.uid", "spec.nodeName", "spec.restartPolicy", "spec.serviceAccountName",
    "spec.schedulerName", "status.phase", "status.hostIP", "status.hostIPs",
    "status.podIP", "status.podIPs"})


class FieldPathError(ValueError):
    """An unsupported or malformed field path; the message is upstream's."""


def split_maybe_subscripted_path(field_path: str) -> tuple[str, str, bool]:
    """`metadata.labels['k']` -> ("metadata.labels", "k", True)."""
    if not field_path.endswith("']"):
        return field_path, "", False
    head, sep, subscript = field_path[:-2].partition("['")
    if not sep or not head:
        return field_path, "", False
    return head, subscript, True


def convert_downward_api_field_label(version: str, label: str) -> str:
    """The internal field path for a pod fieldRef (`spec.host` is the old `spec.nodeName`)."""
    if version != "v1":
        raise FieldPathError(f"unsupported pod version: {version}")
    path, _, subscripted = split_maybe_subscripted_path(label)
    if subscripted:
        if path in ("metadata.annotations", "metadata.labels"):
            return label
        raise FieldPathError(f"field label does not support subscript: {label}")
    if label in _SUPPORTED_LABELS:
        return label
    if label == "spec.host":
        return "spec.nodeName"
    raise FieldPathError(f"field label not supported: {label}")




def format_map(values: Mapping[str, str]) -> str:
    """`k="v"` lines in key order, as the downward API writes labels and annotations."""
    return "\n".join(f"{key}={go_quote(values[key])}" for key in sorted(values))


def extract_field_path_as_string(obj: Mapping[str, Any], field_path: str) -> str:
    """The value of a metadata field path of `obj`."""
    meta = obj.get("metadata") or {}
    path, subscript, subscripted = split_maybe_subscripted_path(field_path)
    if subscripted:
        if path == "metadata.annotations":
            return str((meta.get("annotations") or {}).get(subscript, ""))
        if path == "metadata.labels":
            return str((meta.get("labels") or {}).get(subscript, ""))
        raise FieldPathError(f"fieldPath {go_quote(field_path)} does not support subscript")
    if field_path == "metadata.annotations":
        return format_map(meta.get("annotations") or {})
    if field_path == "metadata.labels":
        return format_map(meta.get("labels") or {})
    if field_path in ("metadata.name", "metadata.namespace", "metadata.uid"):
        return str(meta.get(field_path.removeprefix("metadata.")) or "")
    raise FieldPathError(f"unsupported fieldPath: {field_path}")
