"""The strategy of `pods/ephemeralcontainers` (upstream's podEphemeralContainersStrategy,
pkg/registry/core/pod/strategy.go).

The subresource is how `kubectl debug` adds a container to a running pod: its get, update
and patch act on the whole Pod, but an update keeps the stored spec, status, labels,
annotations, finalizers and owners, taking only `spec.ephemeralContainers` (and the
metadata the generic update already guards, such as managedFields) from the request. It is
validated by `validate_pod_ephemeral_containers_update`: ephemeral containers may be added,
never removed or changed. The pod's generation moves as for any spec change.
"""

from __future__ import annotations

import copy
from typing import Any

from kybernetes.api.errors import FieldError
from kybernetes.api.validation.core import validate_pod_ephemeral_containers_update

SUBRESOURCE = "ephemeralcontainers"


# What upstream's ResetObjectMetaForStatus takes back from the stored object.
_RESET_METADATA = ("deletionTimestamp", "generation", "labels", "annotations", "finalizers",
                   "ownerReferences")


def prepare_for_update(new: dict[str, Any], old: dict[str, Any]) -> None:
    """Upstream's dropNonEphemeralContainerUpdates: `new` becomes the stored pod with only
    its ephemeral containers taken from the request (and the metadata that metadata
    validation judges: a different uid is refused, as upstream)."""
    containers = (new.get("spec") or {}).get("ephemeralContainers")
    meta = new.get("metadata") or {}
    kept = copy.deepcopy(old)
    for name, value in meta.items():
        if name not in _RESET_METADATA:
            kept["metadata"][name] = value
    if containers:
        kept.setdefault("spec", {})["ephemeralContainers"] = containers
    else:
        kept.get("spec", {}).pop("ephemeralContainers", None)
    new.clear()
    new.update(kept)


def validate_update(new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    return validate_pod_ephemeral_containers_update(new, old)
