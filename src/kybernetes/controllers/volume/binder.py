"""The PersistentVolume binder: upstream's `pkg/controller/volume/persistentvolume`
(`pv_controller.go`, `pv_controller_base.go`), the `persistentvolume-binder-controller`.

One work queue holds both kinds of keys, `claim:<ns>/<name>` and `volume:<name>` (upstream
has a claim queue and a volume queue); every PVC and PV event enqueues its key, and every
`SYNC_PERIOD` (upstream's `--pvclaimbinder-sync-period`, 15 s) all of them are enqueued
again.

Claims (`sync_claim`, upstream's `syncClaim`):

- Unbound, no `spec.volumeName`: the smallest Available volume that fits
  (`storagehelpers.find_matching_volume`: capacity, access modes, class, selector,
  volumeMode; with WaitForFirstConsumer only a volume already pre-bound to it, e.g. by the
  scheduler) is bound. Without one: a WaitForFirstConsumer claim the scheduler has not
  picked a node for waits (event `WaitForFirstConsumer`), a claim of a class is handed to
  the class's provisioner (annotations `volume.kubernetes.io/storage-provisioner` and its
  beta twin, event `ExternalProvisioning`; there are no in-tree provisioners), a claim of
  no class gets `FailedBinding`. It stays Pending.
- Pre-bound (`spec.volumeName` set): bound to that volume when it is free and satisfies
  the claim (`VolumeMismatch` otherwise), Pending while it is missing or bound elsewhere.
- Bound (`pv.kubernetes.io/bind-completed`): Lost when its volume is gone or bound to
  another claim (`ClaimLost`, `ClaimMisbound`), otherwise its binding is completed.

Binding (`bind`) writes, in upstream's order, the volume's `claimRef` (annotated
`pv.kubernetes.io/bound-by-controller` when the controller chose it), the volume's phase
Bound, the claim's `volumeName` with `bind-completed` (and `bound-by-controller`), and the
claim's status (Bound, the volume's access modes and capacity). Each write carries the
cached resourceVersion, so a binding decided on a stale cache fails with a conflict and is
retried instead of binding one volume twice.

Volumes (`sync_volume`): without a claimRef (or only pre-bound by name) Available; bound to
a claim that exists with this volume: Bound; bound to a claim that is gone: Released, then
reclaimed: `Retain` keeps it, `Delete` of a dynamically provisioned volume is left to its
provisioner (quietly, as upstream does for every provisioner out of tree), `Delete` of any
other volume and `Recycle` fail (phase Failed, `VolumeFailedDelete`/`VolumeFailedRecycle`:
kybernetes has no in-tree deleter or recycler). A volume bound by the controller to a claim
that went to another volume is unbound.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from typing import Any

from kybernetes.api import storagehelpers as sh
from kybernetes.api.objects import meta as _meta
from kybernetes.client import EventRecorder, NotFoundError, resource
from kybernetes.client.rest import Obj
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.volume.claimsvolumes import (
    VOLUME_PREFIX,
    ClaimsAndVolumesController,
    claim_key,
    volume_key,
)

log = logging.getLogger(__name__)

PVCS = resource("", "v1", "persistentvolumeclaims")
PVS = resource("", "v1", "persistentvolumes")
STORAGE_CLASSES = resource("storage.k8s.io", "v1", "storageclasses")
SYNC_PERIOD = 15.0


def _phase(obj: Obj) -> str:
    return str((obj.get("status") or {}).get("phase") or "")


def claim_ref(claim: Obj) -> dict[str, Any]:
    meta = _meta(claim)
    return {"kind": "PersistentVolumeClaim", "namespace": meta.get("namespace", ""),
            "name": meta.get("name", ""), "uid": meta.get("uid", ""), "apiVersion": "v1",
            "resourceVersion": meta.get("resourceVersion", "")}


class PersistentVolumeBinder(ClaimsAndVolumesController):
    name = "persistentvolume-binder-controller"

    def __init__(self, ctx: ControllerContext, *, workers: int = 1,
                 sync_period: float = SYNC_PERIOD) -> None:
        super().__init__(workers=workers)
        self.client = ctx.client
        self.sync_period = sync_period
        self.recorder = EventRecorder(ctx.client, "persistentvolume-controller")
        self.claims = ctx.informers.informer(PVCS)
        self.volumes = ctx.informers.informer(PVS)
        self.classes = ctx.informers.informer(STORAGE_CLASSES)
        self.watch(self.claims, on_add=self._on_claim,
                   on_update=lambda _old, new: self._on_claim(new), on_delete=self._on_claim)
        self.watch(self.volumes, on_add=self._on_volume,
                   on_update=lambda _old, new: self._on_volume(new),
                   on_delete=self._on_volume_delete)
        self.watch(self.classes)

    # -- handlers -----------------------------------------------------------------------

    def _on_claim(self, claim: Obj) -> None:
        self.enqueue(claim_key(claim))
        # A claim that went away releases its volume.
        volume = str((claim.get("spec") or {}).get("volumeName") or "")
        if volume:
            self.enqueue(VOLUME_PREFIX + volume)

    def _on_volume(self, volume: Obj) -> None:
        self.enqueue(volume_key(volume))

    def _on_volume_delete(self, volume: Obj) -> None:
        ref = (volume.get("spec") or {}).get("claimRef") or {}
        if ref.get("name"):
            self.enqueue(claim_key({"metadata": ref}))

    async def run(self) -> None:
        resync = asyncio.create_task(self._resync_forever(), name=f"{self.name}:resync")
        try:
            await super().run()
        finally:
            resync.cancel()
            await asyncio.gather(resync, return_exceptions=True)

    async def _resync_forever(self) -> None:
        await self.wait_for_sync()
        while True:
            await asyncio.sleep(self.sync_period)
            for claim in self.claims.store.list():
                self.enqueue(claim_key(claim))
            for volume in self.volumes.store.list():
                self.enqueue(volume_key(volume))

    # -- sync ---------------------------------------------------------------------------

    def _class_map(self) -> dict[str, Obj]:
        return {str(_meta(c).get("name")): c for c in self.classes.store.list()}

    async def sync_claim(self, claim: Obj) -> None:
        if sh.ANN_BIND_COMPLETED in sh.annotations_of(claim):
            await self._sync_bound_claim(claim)
        else:
            await self._sync_unbound_claim(claim)

    async def _sync_unbound_claim(self, claim: Obj) -> None:
        volume_name = str((claim.get("spec") or {}).get("volumeName") or "")
        if not volume_name:
            classes = self._class_map()
            delay = sh.is_delay_binding_mode(claim, classes)
            volume = sh.find_matching_volume(claim, self.volumes.store.list(),
                                             delay_binding=delay)
            if volume is not None:
                await self.bind(volume, claim)
                return
            class_name = sh.claim_class(claim)
            if delay and sh.ANN_SELECTED_NODE not in sh.annotations_of(claim):
                self.recorder.normal(claim, "WaitForFirstConsumer",
                                     "waiting for first consumer to be created before binding")
            elif class_name:
                claim = await self._provision(claim, classes.get(class_name))
            else:
                self.recorder.normal(claim, "FailedBinding",
                                     "no persistent volumes available for this claim and no "
                                     "storage class is set")
            await self._set_claim_phase(claim, "Pending")
            return
        volume = self.volumes.store.get(volume_name)
        if volume is None:
            await self._set_claim_phase(claim, "Pending")
            return
        ref = (volume.get("spec") or {}).get("claimRef")
        if not ref:
            mismatch = sh.check_volume_satisfies_claim(volume, claim)
            if mismatch is not None:
                self.recorder.warning(claim, "VolumeMismatch",
                                      f"Cannot bind to requested volume \"{volume_name}\": "
                                      f"{mismatch}")
                await self._set_claim_phase(claim, "Pending")
                return
            await self.bind(volume, claim)
        elif sh.is_bound_to_claim(volume, claim):
            await self.bind(volume, claim)
        else:
            self.recorder.warning(claim, "FailedBinding",
                                  f"volume \"{volume_name}\" already bound to a different "
                                  "claim.")
            await self._set_claim_phase(claim, "Pending")

    async def _sync_bound_claim(self, claim: Obj) -> None:
        volume_name = str((claim.get("spec") or {}).get("volumeName") or "")
        if not volume_name:
            await self._claim_lost(claim, "ClaimLost", "Bound claim has lost reference to "
                                   "PersistentVolume. Data on the volume is lost!")
            return
        volume = self.volumes.store.get(volume_name)
        if volume is None:
            await self._claim_lost(claim, "ClaimLost", "Bound claim has lost its "
                                   "PersistentVolume. Data on the volume is lost!")
            return
        ref = (volume.get("spec") or {}).get("claimRef")
        if not ref or sh.is_bound_to_claim(volume, claim):
            await self.bind(volume, claim)
        else:
            await self._claim_lost(claim, "ClaimMisbound", "Two claims are bound to the same "
                                   "volume, this one is bound incorrectly")

    async def _claim_lost(self, claim: Obj, reason: str, message: str) -> None:
        if _phase(claim) != "Lost":
            self.recorder.warning(claim, reason, message)
        await self._set_claim_phase(claim, "Lost")

    async def _provision(self, claim: Obj, storage_class: Obj | None) -> Obj:
        """Upstream's provisionClaim for a provisioner out of tree: name it on the claim.
        Returns the claim as written."""
        if storage_class is None:
            self.recorder.warning(claim, "ProvisioningFailed",
                                  f"storageclass.storage.k8s.io \"{sh.claim_class(claim)}\" "
                                  "not found")
            return claim
        provisioner = str(storage_class.get("provisioner") or "")
        ann = sh.annotations_of(claim)
        if ann.get(sh.ANN_STORAGE_PROVISIONER) != provisioner or \
                ann.get(sh.ANN_BETA_STORAGE_PROVISIONER) != provisioner:
            updated = copy.deepcopy(claim)
            annotations = updated["metadata"].setdefault("annotations", {})
            annotations[sh.ANN_STORAGE_PROVISIONER] = provisioner
            annotations[sh.ANN_BETA_STORAGE_PROVISIONER] = provisioner
            claim = await self.client.update(PVCS, updated)
        self.recorder.normal(claim, "ExternalProvisioning",
                             "Waiting for a volume to be created either by the external "
                             f"provisioner '{provisioner}' or manually by the system "
                             "administrator. If volume creation is delayed, please verify "
                             "that the provisioner is running and correctly registered.")
        return claim

    # -- binding ------------------------------------------------------------------------

    async def bind(self, volume: Obj, claim: Obj) -> None:
        volume = await self._bind_volume_to_claim(volume, claim)
        if _phase(volume) != "Bound":
            volume = await self._set_volume_phase(volume, "Bound")
        claim = await self._bind_claim_to_volume(claim, volume)
        vspec = volume.get("spec") or {}
        status = dict(claim.get("status") or {})
        want = {**status, "phase": "Bound", "accessModes": vspec.get("accessModes") or [],
                "capacity": dict(vspec.get("capacity") or {})}
        if status != want:
            await self.client.update_status(PVCS, {**claim, "status": want})

    async def _bind_volume_to_claim(self, volume: Obj, claim: Obj) -> Obj:
        spec = volume.get("spec") or {}
        ref = spec.get("claimRef") or {}
        meta = _meta(claim)
        if ref.get("uid") == meta.get("uid") and ref.get("name") == meta.get("name") and \
                ref.get("namespace") == meta.get("namespace"):
            return volume
        updated = copy.deepcopy(volume)
        if not sh.is_bound_to_claim(volume, claim):
            updated["metadata"].setdefault("annotations", {})[sh.ANN_BOUND_BY_CONTROLLER] = \
                "yes"
        updated["spec"]["claimRef"] = claim_ref(claim)
        result: Obj = await self.client.update(PVS, updated)
        return result

    async def _bind_claim_to_volume(self, claim: Obj, volume: Obj) -> Obj:
        spec = claim.get("spec") or {}
        ann = sh.annotations_of(claim)
        volume_name = str(_meta(volume).get("name"))
        if spec.get("volumeName") == volume_name and sh.ANN_BIND_COMPLETED in ann:
            return claim
        updated = copy.deepcopy(claim)
        annotations = updated["metadata"].setdefault("annotations", {})
        if spec.get("volumeName") != volume_name:
            updated["spec"]["volumeName"] = volume_name
            annotations[sh.ANN_BOUND_BY_CONTROLLER] = "yes"
        annotations[sh.ANN_BIND_COMPLETED] = "yes"
        result: Obj = await self.client.update(PVCS, updated)
        return result

    async def _set_claim_phase(self, claim: Obj, phase: str) -> None:
        if _phase(claim) == phase:
            return
        status = dict(claim.get("status") or {})
        status["phase"] = phase
        if phase == "Lost":
            status.pop("capacity", None)
            status.pop("accessModes", None)
        await self.client.update_status(PVCS, {**claim, "status": status})

    async def _set_volume_phase(self, volume: Obj, phase: str, message: str = "") -> Obj:
        status = dict(volume.get("status") or {})
        if status.get("phase") == phase and status.get("message", "") == message:
            return volume
        status["phase"] = phase
        if message:
            status["message"] = message
        else:
            status.pop("message", None)
        result: Obj = await self.client.update_status(PVS, {**volume, "status": status})
        return result

    # -- volumes ------------------------------------------------------------------------

    async def sync_volume(self, volume: Obj) -> None:
        ref = (volume.get("spec") or {}).get("claimRef")
        if not ref or not ref.get("uid"):
            # Free, or pre-bound by name: the claim's sync binds it.
            await self._set_volume_phase(volume, "Available")
            if ref and ref.get("name"):
                self.enqueue(claim_key({"metadata": ref}))
            return
        claim = self.claims.store.get(f"{ref.get('namespace', '')}/{ref.get('name', '')}")
        if claim is not None and _meta(claim).get("uid") != ref.get("uid"):
            claim = None
        if claim is None:
            await self._release(volume)
            return
        claim_volume = (claim.get("spec") or {}).get("volumeName") or ""
        if not claim_volume:
            # The binding is half done (or the scheduler pre-bound it): finish it.
            self.enqueue(claim_key(claim))
            return
        if claim_volume == _meta(volume).get("name"):
            await self._set_volume_phase(volume, "Bound")
            return
        # The claim went to another volume.
        if sh.ANN_BOUND_BY_CONTROLLER in sh.annotations_of(volume):
            updated = copy.deepcopy(volume)
            updated["spec"].pop("claimRef", None)
            updated["metadata"]["annotations"].pop(sh.ANN_BOUND_BY_CONTROLLER, None)
        else:
            updated = copy.deepcopy(volume)
            updated["spec"]["claimRef"].pop("uid", None)
            updated["spec"]["claimRef"].pop("resourceVersion", None)
        volume = await self.client.update(PVS, updated)
        await self._set_volume_phase(volume, "Available")

    async def _release(self, volume: Obj) -> None:
        phase = _phase(volume)
        if phase == "Failed":
            return
        if phase != "Released":
            try:
                volume = await self._set_volume_phase(volume, "Released")
            except NotFoundError:
                return
        policy = (volume.get("spec") or {}).get("persistentVolumeReclaimPolicy") or "Retain"
        if policy == "Retain":
            return
        if policy == "Delete":
            if sh.annotations_of(volume).get(sh.ANN_DYNAMICALLY_PROVISIONED):
                return  # upstream: "external deleter for volume requested, ignoring"
            message = ("error getting deleter volume plugin for volume "
                       f"\"{_meta(volume).get('name')}\": no deletable volume plugin matched")
            self.recorder.warning(volume, "VolumeFailedDelete", message)
            await self._set_volume_phase(volume, "Failed", message)
            return
        message = "No recycler plugin found for the volume!"
        self.recorder.warning(volume, "VolumeFailedRecycle", message)
        await self._set_volume_phase(volume, "Failed", message)

