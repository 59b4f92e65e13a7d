"""Upstream's `DefaultStorageClass` admission plugin (`plugin/pkg/admission/storage/
storageclass/setdefault`): a claim created without a storage class (neither
`spec.storageClassName` nor the beta annotation, not even empty) gets the default one, the
StorageClass annotated `storageclass.kubernetes.io/is-default-class: "true"` (or its beta
form); when several are, the newest wins, then the first by name."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from kybernetes.apiserver.admission import lookup
from kybernetes.apiserver.admission.chain import AdmissionRequest, Phase, Target

if TYPE_CHECKING:
    from kybernetes.apiserver.server import ApiServer

DEFAULT_CLASS_ANNOTATIONS = ("storageclass.kubernetes.io/is-default-class",
                             "storageclass.beta.kubernetes.io/is-default-class")
BETA_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"


def has_class(claim: Mapping[str, Any]) -> bool:
    annotations = (claim.get("metadata") or {}).get("annotations") or {}
    return BETA_CLASS_ANNOTATION in annotations or \
        (claim.get("spec") or {}).get("storageClassName") is not None


def _created(obj: Mapping[str, Any]) -> datetime:
    text = str((obj.get("metadata") or {}).get("creationTimestamp", ""))
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return datetime.min


def default_class(classes: list[dict[str, Any]],
                  annotations: tuple[str, ...] = DEFAULT_CLASS_ANNOTATIONS
                  ) -> dict[str, Any] | None:
    """The class marked default by one of `annotations`: the newest, then the first by
    name, when several are."""
    marked = [c for c in classes if any(
        ((c.get("metadata") or {}).get("annotations") or {}).get(key) == "true"
        for key in annotations)]
    # Newest first, then by name.
    marked.sort(key=lambda c: str((c.get("metadata") or {}).get("name", "")))
    marked.sort(key=_created, reverse=True)
    return marked[0] if marked else None


class DefaultStorageClass:
    name = "DefaultStorageClass"

    def __init__(self, server: ApiServer) -> None:
        self.store = server.store
        info = server.registry.get("storage.k8s.io", "v1", "storageclasses")
        assert info is not None
        self.classes = info

    @staticmethod
    def handles(target: Target) -> Phase:
        return Phase.ADMIT if target == ("", "persistentvolumeclaims", "", "CREATE") \
            else Phase.NONE

    async def admit(self, request: AdmissionRequest) -> None:
        if request.operation != "CREATE" or request.subresource or request.group or \
                request.resource != "persistentvolumeclaims" or request.obj is None or \
                has_class(request.obj):
            return
        chosen = default_class(lookup.cached_list(self.store, self.classes, ""))
        if chosen is not None:
            request.obj.setdefault("spec", {})["storageClassName"] = \
                chosen["metadata"]["name"]

    async def validate(self, request: AdmissionRequest) -> None:
        return None
