"""The `persistentvolumeclaim-protection-controller`: upstream's
`pkg/controller/volume/pvcprotection/pvc_protection_controller.go`.

A claim keeps the `kubernetes.io/pvc-protection` finalizer (added here too when the
StorageObjectInUseProtection admission plugin did not) while it lives; once it is being
deleted the finalizer is removed as soon as no pod uses it. A pod uses a claim when it is
scheduled, not terminated (phase Succeeded or Failed), and names the claim in a
`persistentVolumeClaim` volume (or an `ephemeral` one, `<pod>-<volume>`). As upstream, the
informer's answer "unused" is confirmed by a live list of the namespace's pods before the
finalizer goes, so a pod the cache has not seen yet still protects the claim.

Keys are `namespace/name` of claims; pod events enqueue the claims they name.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable

from kybernetes.api.storagehelpers import PVC_PROTECTION_FINALIZER, pod_claim_names
from kybernetes.client import NotFoundError, resource, split_key
from kybernetes.client.informer import NAMESPACE_INDEX
from kybernetes.client.rest import Obj
from kybernetes.controllers.base import ControllerContext, QueueController

log = logging.getLogger(__name__)

PVCS = resource("", "v1", "persistentvolumeclaims")
PODS = resource("", "v1", "pods")


def pod_uses_claim(pod: Obj, claim_name: str) -> bool:
    if not (pod.get("spec") or {}).get("nodeName"):
        return False
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return False
    return claim_name in pod_claim_names(pod)


def in_use(pods: Iterable[Obj], claim_name: str) -> bool:
    return any(pod_uses_claim(pod, claim_name) for pod in pods)


class PvcProtectionController(QueueController):
    name = "persistentvolumeclaim-protection-controller"

    def __init__(self, ctx: ControllerContext, *, workers: int = 1) -> None:
        super().__init__(workers=workers)
        self.client = ctx.client
        self.claims = ctx.informers.informer(PVCS)
        self.pods = ctx.informers.informer(PODS)
        self.watch(self.claims, on_add=self.enqueue_object,
                   on_update=lambda _old, new: self.enqueue_object(new))
        self.watch(self.pods, on_add=self._on_pod, on_update=self._on_pod_update,
                   on_delete=self._on_pod)

    def _on_pod(self, pod: Obj) -> None:
        namespace = (pod.get("metadata") or {}).get("namespace", "")
        for name in pod_claim_names(pod):
            self.enqueue(f"{namespace}/{name}")

    def _on_pod_update(self, old: Obj, new: Obj) -> None:
        self._on_pod(new)

    async def sync(self, key: str) -> None:
        claim = self.claims.store.get(key)
        if claim is None:
            return
        meta = claim.get("metadata") or {}
        finalizers = list(meta.get("finalizers") or ())
        if not meta.get("deletionTimestamp"):
            if PVC_PROTECTION_FINALIZER not in finalizers:
                await self._set_finalizers(claim, [*finalizers, PVC_PROTECTION_FINALIZER])
            return
        if PVC_PROTECTION_FINALIZER not in finalizers:
            return
        namespace, name = split_key(key)
        if in_use(self.pods.store.by_index(NAMESPACE_INDEX, namespace), name):
            return
        live = await self.client.list(PODS, namespace)
        if in_use(live, name):
            return
        await self._set_finalizers(claim, [f for f in finalizers
                                           if f != PVC_PROTECTION_FINALIZER])
        log.info("%s: removed the protection finalizer of claim %s", self.name, key)

    async def _set_finalizers(self, claim: Obj, finalizers: list[str]) -> None:
        updated = copy.deepcopy(claim)
        updated["metadata"]["finalizers"] = finalizers
        try:
            await self.client.update(PVCS, updated)
        except NotFoundError:
            return
