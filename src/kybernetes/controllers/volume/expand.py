"""The `persistentvolume-expander-controller`: upstream's
`pkg/controller/volume/expand/expand_controller.go`.

A Bound claim whose storage request grew beyond its status capacity is expanded by the
volume's plugin. kybernetes has no in-tree expandable plugin (upstream's hostPath and local
plugins are not expandable either), so, as upstream for those, this controller only says
that an external controller will do it (Normal event `ExternalExpanding`, "waiting for an
external controller to expand this PVC"); for local-path volumes that is the local-path
provisioner (controllers/localpath.py).
"""

from __future__ import annotations

import logging

from kybernetes.api import storagehelpers as sh
from kybernetes.client import EventRecorder, NotFoundError, resource
from kybernetes.client.rest import Obj
from kybernetes.controllers.base import ControllerContext, QueueController

log = logging.getLogger(__name__)

PVCS = resource("", "v1", "persistentvolumeclaims")
PVS = resource("", "v1", "persistentvolumes")


class NotBoundError(Exception):
    """The claim's volume is not bound to it (yet): retried."""


def requires_resize(claim: Obj) -> bool:
    """The claim asks for more than it has."""
    capacity = sh.storage_of((claim.get("status") or {}).get("capacity"))
    return capacity is not None and sh.claim_request(claim).amount > capacity.amount


class ExpandController(QueueController):
    name = "persistentvolume-expander-controller"

    def __init__(self, ctx: ControllerContext, *, workers: int = 1) -> None:
        super().__init__(workers=workers)
        self.client = ctx.client
        self.recorder = EventRecorder(ctx.client, "volume_expand")
        self.claims = ctx.informers.informer(PVCS)
        self.watch(self.claims, on_add=self._enqueue,
                   on_update=lambda _old, new: self._enqueue(new))

    def _enqueue(self, claim: Obj) -> None:
        if (claim.get("status") or {}).get("phase") == "Bound":
            self.enqueue_object(claim)

    async def sync(self, key: str) -> None:
        claim = self.claims.store.get(key)
        if claim is None or not requires_resize(claim):
            return
        volume_name = str((claim.get("spec") or {}).get("volumeName") or "")
        try:
            volume = await self.client.get(PVS, volume_name)
        except NotFoundError:
            raise NotBoundError(f"failed to get PV {volume_name!r}: not found") from None
        if not sh.is_bound_to_claim(volume, claim):
            raise NotBoundError(f"persistent Volume is not bound to PVC being updated : {key}")
        self.recorder.normal(claim, "ExternalExpanding",
                             "waiting for an external controller to expand this PVC")
