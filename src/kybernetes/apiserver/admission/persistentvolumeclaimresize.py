"""Upstream's `PersistentVolumeClaimResize` admission plugin (`plugin/pkg/admission/
storage/persistentvolume/resize`): a claim's storage request may only grow when its
StorageClass (unchanged, not empty) has `allowVolumeExpansion: true`. (Upstream's check
that the claim is Bound is left out: validation, which runs first, already refuses to
change the request of an unbound claim.)"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kybernetes.api.storagehelpers import claim_class, claim_request
from kybernetes.apiserver.admission import lookup
from kybernetes.apiserver.admission.chain import AdmissionRequest, Phase, Target

if TYPE_CHECKING:
    from kybernetes.apiserver.server import ApiServer


class PersistentVolumeClaimResize:
    name = "PersistentVolumeClaimResize"

    def __init__(self, server: ApiServer) -> None:
        self.store = server.store
        info = server.registry.get("storage.k8s.io", "v1", "storageclasses")
        assert info is not None
        self.classes = info

    @staticmethod
    def handles(target: Target) -> Phase:
        return Phase.VALIDATE if target == ("", "persistentvolumeclaims", "", "UPDATE") \
            else Phase.NONE

    async def admit(self, request: AdmissionRequest) -> None:
        return None

    async def validate(self, request: AdmissionRequest) -> None:
        if request.operation != "UPDATE" or request.subresource or request.group or \
                request.resource != "persistentvolumeclaims" or request.obj is None or \
                request.old is None:
            return
        if claim_request(request.obj).amount <= claim_request(request.old).amount:
            return
        if not self._allow_resize(claim_class(request.obj), claim_class(request.old)):
            raise request.forbidden("only dynamically provisioned pvc can be resized and the "
                                    "storageclass that provisions the pvc must support resize")

    def _allow_resize(self, new_class: str, old_class: str) -> bool:
        if not new_class or new_class != old_class:
            return False
        found = lookup.cached(self.store, self.classes, "", new_class)
        return bool(found and found.get("allowVolumeExpansion"))

