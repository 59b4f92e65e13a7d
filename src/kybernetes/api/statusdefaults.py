"""The zero values upstream always writes in a kind's status.

Upstream serialises Go structs: a status field without `omitempty` is written even when
zero, so a new DaemonSet comes back with `numberReady: 0` and a ReplicaSet with
`replicas: 0`. Typed clients (the Python client's models) require those fields, since
upstream's OpenAPI marks them `required`. `fill_status` adds the missing ones to an
object about to be stored, whatever wrote it (our controllers may omit them).
"""

from __future__ import annotations

import functools
from typing import Any

from kybernetes.api import schema

# Zero values of the scalar types a required status field can have.
_ZERO: dict[str, Any] = {"integer": 0, "boolean": False, "string": ""}

# Status fields without `omitempty` that the OpenAPI still calls optional (`+optional`
# with a plain json tag): StatefulSetStatus.AvailableReplicas in apps/v1 types.go.
_ALSO_WITHOUT_OMITEMPTY: dict[str, dict[str, Any]] = {
    "io.k8s.api.apps.v1.StatefulSet": {"availableReplicas": 0},
}


@functools.cache
def status_zero_values(group: str, version: str, kind: str) -> dict[str, Any]:
    """The scalar status fields upstream always writes for this kind, at their zero."""
    name = schema.definition_for_kind(group, version, kind)
    if name is None:
        return {}
    status = schema.property_schema(schema.definitions()[name], "status")
    if status is None:
        return {}
    zeros: dict[str, Any] = {}
    properties = status.get("properties", {})
    for field in status.get("required", []):
        zero = _ZERO.get(str(properties.get(field, {}).get("type")))
        if zero is not None:
            zeros[field] = zero
    return zeros | _ALSO_WITHOUT_OMITEMPTY.get(name, {})


def fill_status(obj: dict[str, Any]) -> None:
    """Add the always-written status fields `obj` lacks (by its apiVersion and kind)."""
    api_version = obj.get("apiVersion")
    kind = obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return
    group, _, version = api_version.rpartition("/")
    zeros = status_zero_values(group, version, kind)
    if not zeros:
        return
    status = obj.get("status")
    if status is None:
        status = obj["status"] = {}
    elif not isinstance(status, dict):
        return  # a malformed status is validation's to report
    for field, zero in zeros.items():
        status.setdefault(field, zero)
