"""The `persistentvolume-protection-controller`: upstream's
`pkg/controller/volume/pvprotection/pv_protection_controller.go`.

A volume keeps the `kubernetes.io/pv-protection` finalizer (added here when missing) while
it lives; once it is being deleted the finalizer is removed when the volume is not Bound
(its phase, which the binder keeps), so a volume in use by a claim outlives its deletion
until the claim lets go of it.
"""

from __future__ import annotations

import copy
import logging

from kybernetes.api.storagehelpers import PV_PROTECTION_FINALIZER
from kybernetes.client import NotFoundError, resource
from kybernetes.client.rest import Obj
from kybernetes.controllers.base import ControllerContext, QueueController

log = logging.getLogger(__name__)

PVS = resource("", "v1", "persistentvolumes")


class PvProtectionController(QueueController):
    name = "persistentvolume-protection-controller"

    def __init__(self, ctx: ControllerContext, *, workers: int = 1) -> None:
        super().__init__(workers=workers)
        self.client = ctx.client
        self.volumes = ctx.informers.informer(PVS)
        self.watch(self.volumes, on_add=self.enqueue_object,
                   on_update=lambda _old, new: self.enqueue_object(new))

    async def sync(self, key: str) -> None:
        volume = self.volumes.store.get(key)
        if volume is None:
            return
        meta = volume.get("metadata") or {}
        finalizers = list(meta.get("finalizers") or ())
        if not meta.get("deletionTimestamp"):
            if PV_PROTECTION_FINALIZER not in finalizers:
                await self._set_finalizers(volume, [*finalizers, PV_PROTECTION_FINALIZER])
            return
        if PV_PROTECTION_FINALIZER not in finalizers or \
                (volume.get("status") or {}).get("phase") == "Bound":
            return
        await self._set_finalizers(volume, [f for f in finalizers
                                            if f != PV_PROTECTION_FINALIZER])
        log.info("%s: removed the protection finalizer of volume %s", self.name, key)

    async def _set_finalizers(self, volume: Obj, finalizers: list[str]) -> None:
        updated = copy.deepcopy(volume)
        updated["metadata"]["finalizers"] = finalizers
        try:
            await self.client.update(PVS, updated)
        except NotFoundError:
            return
