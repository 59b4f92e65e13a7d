"""The EndpointSlice controller: upstream's `pkg/controller/endpointslice/
endpointslice_controller.go`.

Keys are `namespace/name` of Services. Handlers only enqueue:

- Services: every add, update and delete.
- Pods: the Services selecting a pod that is added or deleted, and on an update those
  whose endpoints it changes (`services_to_update`).
- EndpointSlices managed by this controller: the Service they belong to (label
  `kubernetes.io/service-name`), unless the event is our own write coming back
  (`EndpointSliceTracker.should_sync`) or a deletion we made.

`sync(key)`: a Service that is gone is forgotten (its slices are deleted by the garbage
collector through their owner reference); an ExternalName or selector-less Service is left
alone (the mirroring controller serves the latter). Otherwise the pods its selector matches
and the slices it has (this controller's, not being deleted) go to the `Reconciler`, unless
the informer has not yet seen our last writes (retried shortly instead), with the
last-change trigger time of `TriggerTimeTracker`.
"""

from __future__ import annotations

import logging
from typing import ClassVar

from kybernetes.api.objects import meta, spec
from kybernetes.client import resource, split_key
from kybernetes.client.informer import NAMESPACE_INDEX
from kybernetes.client.rest import Obj
from kybernetes.controllers.base import ControllerContext, QueueController, Requeue
from kybernetes.controllers.endpointslice.reconciler import (
    CONTROLLER_NAME,
    ENDPOINT_SLICES,
    MAX_ENDPOINTS_PER_SLICE,
    NodeMissing,
    Reconciler,
)
from kybernetes.controllers.endpointslice.tracker import EndpointSliceTracker
from kybernetes.controllers.endpointslice.triggertime import TriggerTimeTracker
from kybernetes.controllers.endpointslice.utils import (
    LABEL_MANAGED_BY,
    LABEL_SERVICE_NAME,
    selects,
    service_selector,
    services_selecting,
    services_to_update,
)

log = logging.getLogger(__name__)

SERVICES = resource("", "v1", "services")
PODS = resource("", "v1", "pods")
NODES = resource("", "v1", "nodes")
# The slice index by owning Service: `namespace/service-name` of a slice's label.
SERVICE_NAME_INDEX = "serviceName"
# Upstream's --concurrent-service-endpoint-syncs.
DEFAULT_WORKERS = 5
# How soon a sync that found the informer behind its own writes looks again.
STALE_RETRY = 0.1


def service_name_index(slice_: Obj) -> list[str]:
    slice_meta = meta(slice_)
    name = (slice_meta.get("labels") or {}).get(LABEL_SERVICE_NAME)
    return [f"{slice_meta.get('namespace')}/{name}"] if name else []


class EndpointSliceController(QueueController):
    name: ClassVar[str] = "endpointslice-controller"

    def __init__(self, ctx: ControllerContext, *, workers: int = DEFAULT_WORKERS,
                 max_endpoints_per_slice: int = MAX_ENDPOINTS_PER_SLICE) -> None:
        super().__init__(workers=workers)
        self.services = ctx.informers.informer(SERVICES)
        self.pods = ctx.informers.informer(PODS)
        self.nodes = ctx.informers.informer(NODES)
        self.slices = ctx.informers.informer(ENDPOINT_SLICES, indexers={
            SERVICE_NAME_INDEX: service_name_index})
        self.tracker = EndpointSliceTracker()
        self.trigger_times = TriggerTimeTracker()
        self.reconciler = Reconciler(ctx.client, self.nodes.store, self.tracker,
                                     max_endpoints_per_slice=max_endpoints_per_slice,
                                     controller_name=CONTROLLER_NAME)
        self.watch(self.services, on_add=self.enqueue_object,
                   on_update=lambda _old, new: self.enqueue_object(new),
                   on_delete=self.enqueue_object)
        self.watch(self.pods, on_add=self._pod_changed, on_update=self._update_pod,
                   on_delete=self._pod_changed)
        self.watch(self.nodes)
        self.watch(self.slices, on_add=self._slice_changed,
                   on_update=lambda _old, new: self._slice_changed(new),
                   on_delete=self._slice_deleted)

    # -- handlers -----------------------------------------------------------------------

    def _pod_changed(self, pod: Obj) -> None:
        for service in services_selecting(self.services.store, pod):
            self.enqueue_object(service)

    def _update_pod(self, old: Obj, new: Obj) -> None:
        for service in services_to_update(self.services.store, old, new):
            self.enqueue_object(service)

    def _managed(self, slice_: Obj) -> bool:
        return (meta(slice_).get("labels") or {}).get(LABEL_MANAGED_BY) == CONTROLLER_NAME

    def _slice_changed(self, slice_: Obj) -> None:
        keys = service_name_index(slice_)
        if keys and self._managed(slice_) and self.tracker.should_sync(slice_):
            self.enqueue(keys[0])

    def _slice_deleted(self, slice_: Obj) -> None:
        if not self._managed(slice_) or not service_name_index(slice_):
            return
        if self.tracker.has(slice_) and self.tracker.handle_deletion(slice_):
            return
        self.enqueue(service_name_index(slice_)[0])

    # -- sync ---------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        namespace, _ = split_key(key)
        service = self.services.store.get(key)
        if service is None:
            self.tracker.delete_service(key)
            self.trigger_times.delete_service(key)
            return
        if spec(service).get("type") == "ExternalName":
            return
        selector = service_selector(service)
        if selector is None:
            return
        pods = [p for p in self.pods.store.by_index(NAMESPACE_INDEX, namespace)
                if selects(selector, meta(p).get("labels"))]
        slices = [s for s in self.slices.store.by_index(SERVICE_NAME_INDEX, key)
                  if self._managed(s) and not meta(s).get("deletionTimestamp")]
        if self.tracker.stale(key, slices):
            raise Requeue("the informer has not seen this controller's last writes yet",
                          after=STALE_RETRY)
        trigger_time = self.trigger_times.compute(key, service, pods)
        try:
            await self.reconciler.reconcile(service, pods, slices, trigger_time)
        except NodeMissing as err:
            raise Requeue(str(err)) from None
