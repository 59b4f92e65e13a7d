"""The `ephemeral-volume-controller`: upstream's
`pkg/controller/volume/ephemeral/controller.go`.

A pod's `ephemeral` volume is a claim made for it: `<pod>-<volume>`, from the volume's
`volumeClaimTemplate` (labels, annotations, spec), owned by the pod (controller reference,
so the garbage collector deletes it with the pod). This controller creates the missing
ones for pods not being deleted; a claim of that name that the pod does not own is left
alone, logged (`PVC <ns>/<name> was not created for pod <ns>/<pod> (pod is not owner)`,
as the kubelet words its refusal) and looked at again with backoff, as upstream retries
it. A failed create is a `FailedBinding` Warning on the pod and is retried.

Keys are `namespace/name` of pods: added pods with ephemeral volumes, and the owner of a
claim that was deleted (its pod may still need it).
"""

from __future__ import annotations

import logging
from typing import Any

from kybernetes.client import AlreadyExistsError, ApiError, EventRecorder, resource
from kybernetes.client.informer import NAMESPACE_INDEX
from kybernetes.client.rest import Obj
from kybernetes.controllers.base import ControllerContext, QueueController, Requeue
from kybernetes.controllers.refmanager import controller_ref, owner_reference

log = logging.getLogger(__name__)

PODS = resource("", "v1", "pods")
PVCS = resource("", "v1", "persistentvolumeclaims")


def ephemeral_volumes(pod: Obj) -> list[dict[str, Any]]:
    return [v for v in (pod.get("spec") or {}).get("volumes") or () if "ephemeral" in v]


def claim_for(pod: Obj, volume: dict[str, Any]) -> Obj:
    """The claim an ephemeral volume asks for."""
    meta = pod.get("metadata") or {}
    template = (volume.get("ephemeral") or {}).get("volumeClaimTemplate") or {}
    template_meta = template.get("metadata") or {}
    claim_meta: Obj = {"name": f"{meta.get('name', '')}-{volume.get('name', '')}",
                       "ownerReferences": [owner_reference(pod, api_version="v1",
                                                           kind="Pod")]}
    for field in ("labels", "annotations"):
        if template_meta.get(field):
            claim_meta[field] = dict(template_meta[field])
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": claim_meta,
            "spec": dict(template.get("spec") or {})}


class EphemeralVolumeController(QueueController):
    name = "ephemeral-volume-controller"

    def __init__(self, ctx: ControllerContext, *, workers: int = 1) -> None:
        super().__init__(workers=workers)
        self.client = ctx.client
        self.recorder = EventRecorder(ctx.client, "ephemeral_volume")
        self.pods = ctx.informers.informer(PODS)
        self.claims = ctx.informers.informer(PVCS)
        self.watch(self.pods, on_add=self._on_pod)
        self.watch(self.claims, on_delete=self._on_claim_delete)

    def _on_pod(self, pod: Obj) -> None:
        if ephemeral_volumes(pod) and not (pod.get("metadata") or {}).get("deletionTimestamp"):
            self.enqueue_object(pod)

    def _on_claim_delete(self, claim: Obj) -> None:
        ref = controller_ref(claim)
        if ref is not None and ref.get("kind") == "Pod" and ref.get("apiVersion") == "v1":
            self.enqueue(f"{(claim.get('metadata') or {}).get('namespace', '')}/{ref['name']}")

    async def sync(self, key: str) -> None:
        pod = self.pods.store.get(key)
        if pod is None or (pod.get("metadata") or {}).get("deletionTimestamp"):
            return
        meta = pod.get("metadata") or {}
        namespace = str(meta.get("namespace") or "")
        existing = {str((c.get("metadata") or {}).get("name")): c
                    for c in self.claims.store.by_index(NAMESPACE_INDEX, namespace)}
        for volume in ephemeral_volumes(pod):
            wanted = claim_for(pod, volume)
            name = wanted["metadata"]["name"]
            claim = existing.get(name)
            if claim is not None:
                ref = controller_ref(claim)
                if ref is None or ref.get("uid") != meta.get("uid"):
                    message = (f"PVC {namespace}/{name} was not created for pod "
                               f"{namespace}/{meta.get('name')} (pod is not owner)")
                    log.warning("%s: %s", self.name, message)
                    raise Requeue(message)
                continue
            try:
                await self.client.create(PVCS, wanted, namespace)
            except AlreadyExistsError:
                continue  # the informer has yet to show it; checked on the next pass
            except ApiError as err:
                self.recorder.warning(pod, "FailedBinding",
                                      f"PVC creation failed: {err.message or err}")
                raise
            log.info("%s: created claim %s/%s for pod %s", self.name, namespace, name,
                     meta.get("name"))
