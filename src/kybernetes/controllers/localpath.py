"""The local-path provisioner: k3s' `rancher/local-path-provisioner` (`provisioner.go`,
on sig-storage-lib-external-provisioner's `controller.go`), as a controller of the
manager (`local-path-provisioner`, account
`kube-system/local-path-provisioner-service-account`, role from
apiserver/localstorage.py).

**Provisioning.** A claim is provisioned when the binder has handed it to
`rancher.io/local-path` (annotation `volume.kubernetes.io/storage-provisioner`), its class
names this provisioner, it is not bound nor being deleted, and a node is chosen
(`volume.kubernetes.io/selected-node`, which the scheduler's VolumeBinding sets for
WaitForFirstConsumer claims): the volume `pvc-<claim uid>` is created pre-bound to it
(claimRef with uid, `pv.kubernetes.io/provisioned-by`), of the claim's size, access modes
and volumeMode, the class' reclaim policy and mount options, as a hostPath
`<local-path-dir>/<pv>_<namespace>_<claim>` of type DirectoryOrCreate with required node
affinity `kubernetes.io/hostname In [<node>]`. Events are the library's (`Provisioning`,
`ProvisioningSucceeded`, `ProvisioningFailed`); selectors and access modes other than
ReadWriteOnce/ReadWriteOncePod are refused as k3s refuses them.

**Deleting.** A volume it provisioned that is Released with reclaim policy Delete is
deleted (the PV object). Its directory is the node's business: k3s runs a helper pod
(busybox, `rm -rf`) on the node, which needs an image on every node; kybernetes keeps this
controller an API client without any image instead, and the kubelet removes directories
under its `<data-dir>/storage` whose volume no longer exists (kubelet/volumes/
localpath.py). The directory is made by the kubelet the first time a pod mounts the volume
(hostPath DirectoryOrCreate), so nothing here touches a node's disk. The server's
`<data-dir>/storage` is the default path: an agent must use the same data dir for its
volumes to be cleaned.

**Resizing.** The class allows volume expansion (a directory has no size to grow, so it
always can; k3s' class does not offer it): a Bound claim whose request grew beyond its
capacity gets, as from sig-storage's external resizer, its volume's capacity and then its
status capacity (and `allocatedResources`) raised to the request, with events `Resizing`
and `VolumeResizeSuccessful`. Nothing on the node changes.

Keys: `claim:<ns>/<name>` and `volume:<name>`.
"""

from __future__ import annotations

import copy
import logging
from pathlib import PurePosixPath

from kybernetes.api import storagehelpers as sh
from kybernetes.api.objects import meta as _meta
from kybernetes.client import AlreadyExistsError, EventRecorder, NotFoundError, resource
from kybernetes.client.rest import Obj
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.volume.claimsvolumes import (
    ClaimsAndVolumesController,
    claim_key,
    volume_key,
)
from kybernetes.controllers.volume.expand import requires_resize

log = logging.getLogger(__name__)

PVCS = resource("", "v1", "persistentvolumeclaims")
PVS = resource("", "v1", "persistentvolumes")
STORAGE_CLASSES = resource("storage.k8s.io", "v1", "storageclasses")
PROVISIONER = "rancher.io/local-path"
DEFAULT_PATH = PurePosixPath("/var/lib/kybernetes/storage")
SUPPORTED_MODES = ("ReadWriteOnce", "ReadWriteOncePod")


def volume_name(claim: Obj) -> str:
    """The library's naming: `pvc-<claim uid>`."""
    return f"pvc-{_meta(claim).get('uid', '')}"


def volume_path(root: PurePosixPath, claim: Obj) -> PurePosixPath:
    meta = _meta(claim)
    return root / f"{volume_name(claim)}_{meta.get('namespace', '')}_{meta.get('name', '')}"


def provision_error(claim: Obj) -> str | None:
    """Why k3s' provisioner refuses the claim, or None."""
    spec = claim.get("spec") or {}
    if spec.get("selector"):
        return "claim Selector is not supported"
    for mode in spec.get("accessModes") or ():
        if mode not in SUPPORTED_MODES:
            return ("NodePath only supports ReadWriteOnce and ReadWriteOncePod (1.22+) "
                    "access modes")
    if not sh.annotations_of(claim).get(sh.ANN_SELECTED_NODE):
        return "configuration error, no node was specified"
    return None


def make_volume(claim: Obj, storage_class: Obj, root: PurePosixPath) -> Obj:
    meta, spec = _meta(claim), claim.get("spec") or {}
    node = sh.annotations_of(claim)[sh.ANN_SELECTED_NODE]
    request = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "0")
    volume: Obj = {
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": volume_name(claim),
                     "annotations": {sh.ANN_DYNAMICALLY_PROVISIONED: PROVISIONER}},
        "spec": {
            "capacity": {"storage": request},
            "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
            "persistentVolumeReclaimPolicy": storage_class.get("reclaimPolicy") or "Delete",
            "storageClassName": _meta(storage_class).get("name", ""),
            "volumeMode": sh.volume_mode(spec),
            "claimRef": {"kind": "PersistentVolumeClaim", "apiVersion": "v1",
                         "namespace": meta.get("namespace", ""), "name": meta.get("name", ""),
                         "uid": meta.get("uid", ""),
                         "resourceVersion": meta.get("resourceVersion", "")},
            "hostPath": {"path": str(volume_path(root, claim)), "type": "DirectoryOrCreate"},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}},
        },
    }
    if storage_class.get("mountOptions"):
        volume["spec"]["mountOptions"] = list(storage_class["mountOptions"])
    return volume


class LocalPathProvisioner(ClaimsAndVolumesController):
    name = "local-path-provisioner"

    def __init__(self, ctx: ControllerContext, *, path: PurePosixPath = DEFAULT_PATH,
                 workers: int = 1) -> None:
        super().__init__(workers=workers)
        self.client = ctx.client
        self.path = path
        self.recorder = EventRecorder(ctx.client, f"{PROVISIONER}_{self.name}")
        self.claims = ctx.informers.informer(PVCS)
        self.volumes = ctx.informers.informer(PVS)
        self.classes = ctx.informers.informer(STORAGE_CLASSES)
        self.watch(self.claims, on_add=self._on_claim,
                   on_update=lambda _old, new: self._on_claim(new))
        self.watch(self.volumes, on_add=self._on_volume,
                   on_update=lambda _old, new: self._on_volume(new))
        self.watch(self.classes)

    def _on_claim(self, claim: Obj) -> None:
        self.enqueue(claim_key(claim))

    def _on_volume(self, volume: Obj) -> None:
        self.enqueue(volume_key(volume))

    async def sync_claim(self, claim: Obj) -> None:
        bound_to = str((claim.get("spec") or {}).get("volumeName") or "")
        if bound_to:
            volume = self.volumes.store.get(bound_to)
            if volume is not None and requires_resize(claim) and \
                    sh.annotations_of(volume).get(sh.ANN_DYNAMICALLY_PROVISIONED) == PROVISIONER \
                    and sh.is_bound_to_claim(volume, claim):
                await self.resize(claim, volume)
            return
        ann = sh.annotations_of(claim)
        if ann.get(sh.ANN_STORAGE_PROVISIONER, ann.get(sh.ANN_BETA_STORAGE_PROVISIONER)) \
                != PROVISIONER or _meta(claim).get("deletionTimestamp"):
            return
        storage_class = self.classes.store.get(sh.claim_class(claim))
        if storage_class is None or storage_class.get("provisioner") != PROVISIONER:
            return
        name = volume_name(claim)
        if self.volumes.store.get(name) is not None:
            return
        meta = _meta(claim)
        self.recorder.normal(claim, "Provisioning", "External provisioner is provisioning "
                             f"volume for claim \"{meta.get('namespace')}/{meta.get('name')}\"")
        refused = provision_error(claim)
        if refused is not None:
            self.recorder.warning(claim, "ProvisioningFailed",
                                  f"failed to provision volume with StorageClass "
                                  f"\"{_meta(storage_class).get('name')}\": {refused}")
            return
        try:
            await self.client.create(PVS, make_volume(claim, storage_class, self.path))
        except AlreadyExistsError:
            return
        log.info("%s: provisioned %s for claim %s/%s", self.name, name,
                 meta.get("namespace"), meta.get("name"))
        self.recorder.normal(claim, "ProvisioningSucceeded",
                             f"Successfully provisioned volume {name}")

    async def resize(self, claim: Obj, volume: Obj) -> None:
        """Grow the volume to the claim's request: a directory has no size to change, so
        this is the external resizer's bookkeeping, the volume's capacity and then the
        claim's status capacity."""
        size = ((claim.get("spec") or {}).get("resources") or {}).get("requests", {})["storage"]
        name = str(_meta(volume).get("name"))
        self.recorder.normal(claim, "Resizing", f"External resizer is resizing volume {name}")
        capacity = sh.storage_of((volume.get("spec") or {}).get("capacity"))
        if capacity is None or capacity.amount < sh.claim_request(claim).amount:
            updated = copy.deepcopy(volume)
            updated["spec"]["capacity"] = {**updated["spec"].get("capacity", {}),
                                           "storage": size}
            await self.client.update(PVS, updated)
        status = dict(claim.get("status") or {})
        status["capacity"] = {**(status.get("capacity") or {}), "storage": size}
        status["allocatedResources"] = {**(status.get("allocatedResources") or {}),
                                        "storage": size}
        await self.client.update_status(PVCS, {**claim, "status": status})
        log.info("%s: resized %s to %s", self.name, name, size)
        self.recorder.normal(claim, "VolumeResizeSuccessful", "Resize volume succeeded")

    async def sync_volume(self, volume: Obj) -> None:
        meta, spec = _meta(volume), volume.get("spec") or {}
        if sh.annotations_of(volume).get(sh.ANN_DYNAMICALLY_PROVISIONED) != PROVISIONER or \
                meta.get("deletionTimestamp") or \
                (volume.get("status") or {}).get("phase") != "Released" or \
                spec.get("persistentVolumeReclaimPolicy") != "Delete":
            return
        try:
            await self.client.delete(PVS, str(meta.get("name")))
        except NotFoundError:
            return
        log.info("%s: deleted released volume %s", self.name, meta.get("name"))
