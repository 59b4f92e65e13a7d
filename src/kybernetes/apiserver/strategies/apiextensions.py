"""The strategy of apiextensions.k8s.io CustomResourceDefinitions (upstream's
apiextensions-apiserver registry/customresourcedefinition: strategy.go and the REST
Delete of etcd.go): generation tracked, status through `/status` only, the storage version
recorded in `status.storedVersions`, the CRD's own defaults and validation
(api/apiextensions/crdvalidation.py), and a first delete that only marks the CRD: it gets
the cleanup finalizer and a Terminating condition, and goes once apiserver/crds.py has
deleted its objects and removed the finalizer. What a CRD serves is apiserver/crds.py's."""

from __future__ import annotations

from kybernetes.api import timeutil
from kybernetes.api.apiextensions import crdvalidation
from kybernetes.api.errors import FieldError
from kybernetes.apiserver.strategies.base import Obj, ResourceStrategy
from kybernetes.apiserver.strategies.builtin import builtin_info

# Holds a CRD's deletion until its objects are gone (apiserver/crds.py removes it).
FINALIZER = "customresourcecleanup.apiextensions.k8s.io"


class CustomResourceDefinitionStrategy(ResourceStrategy):
    tracks_generation = True

    def __init__(self) -> None:
        super().__init__(builtin_info("apiextensions.k8s.io", "customresourcedefinitions"))

    def default(self, obj: Obj) -> None:
        crdvalidation.set_defaults(obj)

    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        _record_storage_version(obj)

    def prepare_for_update(self, new: Obj, old: Obj, *, subresource: str = "") -> None:
        super().prepare_for_update(new, old, subresource=subresource)
        _record_storage_version(new)

    def validate_create(self, obj: Obj) -> list[FieldError]:
        return super().validate_create(obj) + crdvalidation.validate_create(obj)

    def validate_update(self, new: Obj, old: Obj, *, subresource: str = "") -> list[FieldError]:
        errs = super().validate_update(new, old, subresource=subresource)
        return errs + crdvalidation.validate_update(new, old)

    def spec_finalizers(self, obj: Obj) -> list[str]:
        """A CRD not yet marked for deletion is not deleted at once: the first delete
        marks it (`mark_terminating`)."""
        return [] if obj["metadata"].get("deletionTimestamp") else [FINALIZER]

    def mark_terminating(self, obj: Obj) -> None:
        finalizers = obj["metadata"].setdefault("finalizers", [])
        if FINALIZER not in finalizers:
            finalizers.append(FINALIZER)
        status = obj.setdefault("status", {})
        conditions = [c for c in status.get("conditions") or [] if c.get("type") != "Terminating"]
        conditions.append({
            "type": "Terminating", "status": "True",
            "lastTransitionTime": timeutil.now_rfc3339(), "reason": "InstanceDeletionPending",
            "message": "CustomResourceDefinition marked for deletion; CustomResource deletion "
                       "will begin soon"})
        status["conditions"] = conditions


def _record_storage_version(crd: Obj) -> None:
    """The storage version joins status.storedVersions (objects may now be stored in it)."""
    version = crdvalidation.storage_version(crd)
    if not version:
        return
    status = crd.setdefault("status", {})
    if not isinstance(status, dict):
        return
    stored = status.setdefault("storedVersions", [])
    if isinstance(stored, list) and version not in stored:
        stored.append(version)


def strategies() -> list[ResourceStrategy]:
    return [CustomResourceDefinitionStrategy()]
