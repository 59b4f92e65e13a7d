"""Upstream's `StorageObjectInUseProtection` admission plugin (`plugin/pkg/admission/
storage/storageobjectinuseprotection`): every PersistentVolume created gets the
`kubernetes.io/pv-protection` finalizer and every PersistentVolumeClaim the
`kubernetes.io/pvc-protection` one, so neither goes away while in use; the pv-protection
and pvc-protection controllers remove them once it is safe."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kybernetes.apiserver.admission.chain import AdmissionRequest, Phase, Target

if TYPE_CHECKING:
    from kybernetes.apiserver.server import ApiServer

PV_PROTECTION_FINALIZER = "kubernetes.io/pv-protection"
PVC_PROTECTION_FINALIZER = "kubernetes.io/pvc-protection"
_FINALIZERS = {"persistentvolumes": PV_PROTECTION_FINALIZER,
               "persistentvolumeclaims": PVC_PROTECTION_FINALIZER}


class StorageObjectInUseProtection:
    name = "StorageObjectInUseProtection"

    def __init__(self, server: ApiServer) -> None:
        del server

    @staticmethod
    def handles(target: Target) -> Phase:
        return Phase.ADMIT if target.operation == "CREATE" and not target.subresource and \
            not target.group and target.resource in _FINALIZERS else Phase.NONE

    async def admit(self, request: AdmissionRequest) -> None:
        finalizer = _FINALIZERS.get(request.resource)
        if request.operation != "CREATE" or request.subresource or request.group or \
                finalizer is None or request.obj is None:
            return
        meta = request.obj.setdefault("metadata", {})
        finalizers = meta.get("finalizers") or []
        if finalizer not in finalizers:
            meta["finalizers"] = [*finalizers, finalizer]

    async def validate(self, request: AdmissionRequest) -> None:
        return None
