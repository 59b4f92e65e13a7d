"""The EndpointSlice mirroring controller: upstream's `pkg/controller/endpointslicemirroring`
(`endpointslicemirroring_controller.go`, `reconciler.go`, `utils.go`).

A Service without a selector whose Endpoints someone else writes gets EndpointSlices
mirroring that Endpoints, so consumers of slices (kube-proxy, DNS) see it. Keys are
`namespace/name` of Endpoints (= of their Service); Endpoints and Service events enqueue
their key, events of slices this controller manages enqueue their Service unless they are
our own writes coming back.

`sync(key)`: nothing while the Service is missing; slices are deleted when the Service has
a selector, the Endpoints is gone, carries the `endpointslice.kubernetes.io/skip-mirror:
"true"` label or is a leader-election lock. Otherwise the repacked subsets are mirrored:
each distinct set of ports, per address type (IPv4/IPv6), gets one slice (labels of the
Endpoints plus `kubernetes.io/service-name` and `endpointslice.kubernetes.io/managed-by:
endpointslicemirroring-controller.k8s.io`, its annotations except the trigger time and
kubectl's last-applied configuration, owned by the Endpoints) of at most 1000 addresses
per subset (`--mirroring-max-endpoints-per-subset`): addresses first (ready), then
not-ready ones; anything that is not an IP is skipped, with a warning event on the
Endpoints, as are addresses over the limit. An existing slice that already matches is left
alone; the first slice of a port set is updated, extra ones deleted.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from typing import Any, ClassVar

from kybernetes.api.objects import meta
from kybernetes.client import ApiClient, EventRecorder, resource, split_key
from kybernetes.client.rest import ApiError, Obj, namespace_terminating
from kybernetes.controllers.base import ControllerContext, QueueController, Requeue
from kybernetes.controllers.endpoints import repack_subsets
from kybernetes.controllers.endpointslice.controller import (
    SERVICE_NAME_INDEX,
    STALE_RETRY,
    service_name_index,
)
from kybernetes.controllers.endpointslice.reconciler import (
    ENDPOINT_SLICES,
    delete_slices,
)
from kybernetes.controllers.endpointslice.tracker import EndpointSliceTracker
from kybernetes.controllers.endpointslice.utils import (
    IPV4,
    IPV6,
    LABEL_MANAGED_BY,
    LABEL_SERVICE_NAME,
    LABEL_SKIP_MIRROR,
    LAST_APPLIED_CONFIG,
    LAST_CHANGE_TRIGGER_TIME,
    LEADER_ANNOTATION,
    canonical,
    controller_reference,
    endpoint_key,
    ip_family,
    port_map_key,
    service_selector,
    slice_prefix,
)

log = logging.getLogger(__name__)

SERVICES = resource("", "v1", "services")
ENDPOINTS = resource("", "v1", "endpoints")
CONTROLLER_NAME = "endpointslicemirroring-controller.k8s.io"
# Upstream's --mirroring-max-endpoints-per-subset and --mirroring-concurrent-service-
# endpoint-syncs.
MAX_ENDPOINTS_PER_SUBSET = 1000
DEFAULT_WORKERS = 5


def should_mirror(endpoints: Obj) -> bool:
    endpoints_meta = meta(endpoints)
    return ((endpoints_meta.get("labels") or {}).get(LABEL_SKIP_MIRROR) != "true"
            and LEADER_ANNOTATION not in (endpoints_meta.get("annotations") or {}))


def slice_ports(ports: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Upstream's `epPortsToEpsPorts`."""
    converted = []
    for port in ports:
        entry: dict[str, Any] = {"name": port.get("name") or "", "port": port.get("port"),
                                 "protocol": port.get("protocol") or "TCP"}
        if port.get("appProtocol"):
            entry["appProtocol"] = port["appProtocol"]
        converted.append(entry)
    return converted


def address_to_endpoint(address: dict[str, Any], ready: bool) -> dict[str, Any]:
    endpoint: dict[str, Any] = {"addresses": [address["ip"]], "conditions": {"ready": ready}}
    if address.get("hostname"):
        endpoint["hostname"] = address["hostname"]
    if address.get("nodeName"):
        endpoint["nodeName"] = address["nodeName"]
    if address.get("targetRef"):
        endpoint["targetRef"] = address["targetRef"]
    return endpoint


def mirrored_annotations(endpoints: Obj) -> dict[str, str]:
    return {k: v for k, v in (meta(endpoints).get("annotations") or {}).items()
            if k not in (LAST_CHANGE_TRIGGER_TIME, LAST_APPLIED_CONFIG)}


def new_mirrored_slice(endpoints: Obj, ports: list[dict[str, Any]], address_type: str,
                       name: str) -> dict[str, Any]:
    """Upstream's `newEndpointSlice` of the mirroring controller."""
    endpoints_meta = meta(endpoints)
    labels = {**(endpoints_meta.get("labels") or {}),
              LABEL_SERVICE_NAME: str(endpoints_meta.get("name")),
              LABEL_MANAGED_BY: CONTROLLER_NAME}
    slice_meta: dict[str, Any] = {"namespace": endpoints_meta.get("namespace"),
                                  "labels": labels,
                                  "ownerReferences": [controller_reference(endpoints,
                                                                           "Endpoints")]}
    annotations = mirrored_annotations(endpoints)
    if annotations:
        slice_meta["annotations"] = annotations
    if name:
        slice_meta["name"] = name
    else:
        slice_meta["generateName"] = slice_prefix(str(endpoints_meta.get("name")))
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": slice_meta, "addressType": address_type, "ports": ports,
            "endpoints": []}


class Desired:
    """Upstream's `desiredCalc`: endpoints and ports by (address type, ports) key."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.endpoints: dict[str, dict[str, dict[str, Any]]] = {}
        self.ports: dict[str, tuple[str, list[dict[str, Any]]]] = {}
        self.invalid = 0
        self.skipped = 0

    def add_subset(self, subset: dict[str, Any]) -> None:
        ports = slice_ports(subset.get("ports") or ())
        keys = {}
        for address_type in (IPV4, IPV6):
            key = port_map_key(ports, address_type)
            keys[address_type] = key
            self.endpoints.setdefault(key, {})
            self.ports[key] = (address_type, ports)
        added = total = 0
        for field, ready in (("addresses", True), ("notReadyAddresses", False)):
            for address in subset.get(field) or ():
                total += 1
                if added >= self.limit:
                    continue
                family = ip_family(str(address.get("ip")))
                if family is None:
                    self.invalid += 1
                    continue
                endpoint = address_to_endpoint(address, ready)
                self.endpoints[keys[family]][endpoint_key(endpoint)] = endpoint
                added += 1
        self.skipped += total - added


class EndpointSliceMirroringController(QueueController):
    name: ClassVar[str] = "endpointslice-mirroring-controller"

    def __init__(self, ctx: ControllerContext, *, workers: int = DEFAULT_WORKERS,
                 max_endpoints_per_subset: int = MAX_ENDPOINTS_PER_SUBSET) -> None:
        super().__init__(workers=workers)
        self.client: ApiClient = ctx.client
        self.limit = max_endpoints_per_subset
        self.recorder = EventRecorder(ctx.client, "endpointslice-mirroring-controller")
        self.services = ctx.informers.informer(SERVICES)
        self.endpoints = ctx.informers.informer(ENDPOINTS)
        self.slices = ctx.informers.informer(ENDPOINT_SLICES, indexers={
            SERVICE_NAME_INDEX: service_name_index})
        self.tracker = EndpointSliceTracker()
        for informer in (self.services, self.endpoints):
            self.watch(informer, on_add=self.enqueue_object,
                       on_update=lambda _old, new: self.enqueue_object(new),
                       on_delete=self.enqueue_object)
        self.watch(self.slices, on_add=self._slice_changed,
                   on_update=lambda _old, new: self._slice_changed(new),
                   on_delete=self._slice_deleted)

    async def run(self) -> None:
        try:
            await super().run()
        finally:
            await self.recorder.aclose()

    def _managed(self, slice_: Obj) -> bool:
        return (meta(slice_).get("labels") or {}).get(LABEL_MANAGED_BY) == CONTROLLER_NAME

    def _slice_changed(self, slice_: Obj) -> None:
        keys = service_name_index(slice_)
        if keys and self._managed(slice_) and self.tracker.should_sync(slice_):
            self.enqueue(keys[0])

    def _slice_deleted(self, slice_: Obj) -> None:
        keys = service_name_index(slice_)
        if not keys or not self._managed(slice_):
            return
        if self.tracker.has(slice_) and self.tracker.handle_deletion(slice_):
            return
        self.enqueue(keys[0])

    def _mirrored(self, key: str) -> list[Obj]:
        return [s for s in self.slices.store.by_index(SERVICE_NAME_INDEX, key)
                if self._managed(s)]

    async def sync(self, key: str) -> None:
        namespace, _ = split_key(key)
        service = self.services.store.get(key)
        if service is None:
            self.tracker.delete_service(key)
            return
        endpoints = self.endpoints.store.get(key)
        existing = self._mirrored(key)
        if service_selector(service) is not None or endpoints is None or \
                not should_mirror(endpoints):
            await self._delete(namespace, existing)
            return
        if meta(service).get("deletionTimestamp"):
            return
        existing = [s for s in existing if not meta(s).get("deletionTimestamp")]
        if self.tracker.stale(key, existing):
            raise Requeue("the informer has not seen this controller's last writes yet",
                          after=STALE_RETRY)
        await self.reconcile(endpoints, existing)

    async def reconcile(self, endpoints: Obj, existing: Sequence[Obj]) -> None:
        desired = Desired(self.limit)
        for subset in repack_subsets(endpoints.get("subsets") or ()):
            desired.add_subset(subset)
        if desired.invalid:
            self.recorder.warning(endpoints, "InvalidIPAddress",
                                  f"Skipped {desired.invalid} invalid IP addresses when "
                                  "mirroring to EndpointSlices")
        if desired.skipped > desired.invalid:
            self.recorder.warning(endpoints, "TooManyAddressesToMirror",
                                  f"A max of {self.limit} addresses can be mirrored to "
                                  "EndpointSlices per Endpoints subset. "
                                  f"{desired.skipped - desired.invalid} addresses were "
                                  "skipped")
        existing_by_key: dict[str, list[Obj]] = {}
        for slice_ in existing:
            existing_by_key.setdefault(port_map_key(slice_.get("ports") or (), str(
                slice_.get("addressType"))), []).append(slice_)
        create: list[dict[str, Any]] = []
        update: list[dict[str, Any]] = []
        delete: list[Obj] = []
        for key in sorted(desired.endpoints):
            address_type, ports = desired.ports[key]
            c, u, d = self._port_mapping(endpoints, existing_by_key.get(key, []),
                                         desired.endpoints[key], ports, address_type)
            create += c
            update += u
            delete += d
        for key, slices in existing_by_key.items():
            if key not in desired.endpoints:
                delete += slices
        await self._finalize(endpoints, create, update, delete)

    def _port_mapping(self, endpoints: Obj, existing: Sequence[Obj],
                      wanted: dict[str, dict[str, Any]], ports: list[dict[str, Any]],
                      address_type: str
                      ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[Obj]]:
        """Upstream's `reconcileByPortMapping`: one slice per port mapping."""
        if not wanted:
            return [], [], list(existing)
        delete: list[Obj] = list(existing[1:])
        name = ""
        if existing:
            first = existing[0]
            name = str(meta(first).get("name"))
            labels = {k: v for k, v in (meta(first).get("labels") or {}).items()
                      if k not in (LABEL_MANAGED_BY, LABEL_SERVICE_NAME)}
            have = {endpoint_key(e): canonical(e) for e in first.get("endpoints") or ()}
            if (have == {k: canonical(e) for k, e in wanted.items()}
                    and labels == (meta(endpoints).get("labels") or {})
                    and mirrored_annotations(endpoints) == (meta(first).get("annotations")
                                                            or {})):
                return [], [], delete
        new = new_mirrored_slice(endpoints, ports, address_type, name)
        new["endpoints"] = [wanted[k] for k in sorted(wanted)][:self.limit]
        return ([], [new], delete) if name else ([new], [], delete)

    async def _finalize(self, endpoints: Obj, create: list[dict[str, Any]],
                        update: list[dict[str, Any]], delete: list[Obj]) -> None:
        namespace = str(meta(endpoints).get("namespace"))
        i = 0
        while i < len(delete) and create:
            if delete[i].get("addressType") == create[-1].get("addressType"):
                reused = copy.deepcopy(create.pop())
                reused["metadata"].pop("generateName", None)
                reused["metadata"]["name"] = meta(delete[i]).get("name")
                update.append(reused)
                del delete[i]
            else:
                i += 1
        if not meta(endpoints).get("deletionTimestamp"):
            for slice_ in create:
                try:
                    self.tracker.update(await self.client.create(ENDPOINT_SLICES, slice_,
                                                                 namespace))
                except ApiError as err:
                    if namespace_terminating(err):
                        return
                    raise
        for slice_ in update:
            self.tracker.update(await self.client.update(ENDPOINT_SLICES, slice_, namespace))
        await self._delete(namespace, delete)

    async def _delete(self, namespace: str, slices: Sequence[Obj]) -> None:
        await delete_slices(self.client, self.tracker, namespace, slices)

