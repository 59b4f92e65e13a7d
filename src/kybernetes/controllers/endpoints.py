"""The Endpoints controller: upstream's `pkg/controller/endpoint/endpoints_controller.go`
(with `pkg/api/v1/endpoints/util.go`'s `RepackSubsets`).

Keys are `namespace/name` of Services. Handlers only enqueue: Services on every event; the
Services selecting a pod that is added, deleted or changed in what its endpoint shows
(`services_to_update`); a Service whose Endpoints was deleted (to write it again). At start
every Endpoints without a Service (and not a leader-election lock) is enqueued so its sync
deletes it, as upstream's `checkLeftoverEndpoints`.

`sync(key)` is `syncService`:

- a Service that is gone: its Endpoints is deleted;
- an ExternalName or selector-less Service is left alone (its Endpoints is the user's);
- otherwise each pod its selector matches that has an IP of the Service's family and is
  not terminal (nor being deleted, unless `publishNotReadyAddresses`) gives an address, with
  `hostname` when the pod's subdomain is the Service's name, for each Service port resolved
  on that pod (named target ports resolve per pod; a pod without the port is skipped for
  it); ready pods (all, under `publishNotReadyAddresses`) go to `addresses`, the others to
  `notReadyAddresses`. A headless Service without ports lists its pods without ports. The
  subsets are repacked (one subset per distinct set of ports, addresses sorted).
- The Endpoints gets the Service's labels (plus `service.kubernetes.io/headless` for a
  headless Service), the `endpoints.kubernetes.io/last-change-trigger-time` annotation when
  a change triggered this write, and is truncated to 1000 addresses (ready ones first, each
  subset keeping its share) with `endpoints.kubernetes.io/over-capacity: truncated`. It is
  written only when its subsets, labels or capacity annotation differ.
"""

from __future__ import annotations

import ipaddress
import logging
import math
from collections.abc import Sequence
from typing import Any, ClassVar

from kybernetes.api.objects import meta, spec
from kybernetes.client import EventRecorder, resource, split_key
from kybernetes.client.informer import NAMESPACE_INDEX
from kybernetes.client.rest import ApiError, Obj, namespace_terminating
from kybernetes.controllers import podutil
from kybernetes.controllers.base import ControllerContext, QueueController
from kybernetes.controllers.endpointslice.triggertime import (
    TriggerTimeTracker,
    format_trigger_time,
)
from kybernetes.controllers.endpointslice.utils import (
    IPV4,
    IPV6,
    LABEL_HEADLESS,
    LAST_CHANGE_TRIGGER_TIME,
    LEADER_ANNOTATION,
    canonical,
    find_port,
    ip_family,
    is_service_ip_set,
    pod_ips,
    selects,
    service_selector,
    services_selecting,
    services_to_update,
    should_pod_be_in_endpoints,
    should_set_hostname,
)

log = logging.getLogger(__name__)

SERVICES = resource("", "v1", "services")
PODS = resource("", "v1", "pods")
ENDPOINTS = resource("", "v1", "endpoints")
OVER_CAPACITY = "endpoints.kubernetes.io/over-capacity"
TRUNCATED = "truncated"
MAX_CAPACITY = 1000
# Upstream's --concurrent-endpoint-syncs.
DEFAULT_WORKERS = 5


# ----------------------------------------------------------------------------- addresses


def service_family(service: Obj, pod: Obj) -> str:
    """The IP family the Service's addresses are of (upstream's
    `podToEndpointAddressForService`): its first ipFamily, else its ClusterIP's, else (a
    headless Service) the pod's IP's."""
    families = spec(service).get("ipFamilies") or ()
    if families:
        return str(families[0])
    if is_service_ip_set(service):
        return ip_family(str(spec(service)["clusterIP"])) or IPV4
    ips = pod_ips(pod)
    return (ip_family(ips[0]) or IPV4) if ips else IPV4


def pod_address(service: Obj, pod: Obj) -> dict[str, Any] | None:
    family = service_family(service, pod)
    ip = next((ip for ip in pod_ips(pod) if (ip_family(ip) == IPV6) == (family == IPV6)), None)
    if ip is None:
        return None
    pod_meta = meta(pod)
    address: dict[str, Any] = {"ip": ip}
    if spec(pod).get("nodeName"):
        address["nodeName"] = spec(pod)["nodeName"]
    address["targetRef"] = {"kind": "Pod", "namespace": pod_meta.get("namespace"),
                            "name": pod_meta.get("name"), "uid": pod_meta.get("uid")}
    if should_set_hostname(pod, service):
        address["hostname"] = spec(pod)["hostname"]
    return address


def endpoint_port(service_port: dict[str, Any], number: int) -> dict[str, Any]:
    port: dict[str, Any] = {"port": number, "protocol": service_port.get("protocol") or "TCP"}
    if service_port.get("name"):
        port["name"] = service_port["name"]
    if service_port.get("appProtocol"):
        port["appProtocol"] = service_port["appProtocol"]
    return port


def desired_subsets(service: Obj, pods: Sequence[Obj]) -> list[dict[str, Any]]:
    """The Service's subsets before repacking: one per (pod, port)."""
    publish = bool(spec(service).get("publishNotReadyAddresses"))
    ports = spec(service).get("ports") or []
    subsets: list[dict[str, Any]] = []
    for pod in pods:
        if not should_pod_be_in_endpoints(pod, publish):
            continue
        address = pod_address(service, pod)
        if address is None:
            log.debug("no address of the Service's family for pod %s",
                      meta(pod).get("name"))
            continue
        field = "addresses" if publish or podutil.is_pod_ready(pod) else "notReadyAddresses"
        if not ports:
            if spec(service).get("clusterIP") == "None":
                subsets.append({field: [address], "ports": []})
            continue
        for service_port in ports:
            number = find_port(pod, service_port)
            if number is None:
                continue
            subsets.append({field: [address], "ports": [endpoint_port(service_port, number)]})
    return subsets


# ----------------------------------------------------------------------------- repacking


def _address_order(address: dict[str, Any]) -> tuple[int, int, str]:
    parsed = ipaddress.ip_address(address["ip"])
    return (parsed.version, int(parsed), str((address.get("targetRef") or {}).get("uid")))


def repack_subsets(subsets: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Upstream's `RepackSubsets`: addresses grouped by the exact set of ports they offer,
    an address ready if it is ready anywhere; subsets, ports and addresses sorted."""
    addresses: dict[tuple[str, str], dict[str, Any]] = {}
    # port (canonical, or "" for none) -> address key -> ready
    by_port: dict[str, dict[tuple[str, str], bool]] = {}
    ports: dict[str, dict[str, Any]] = {}
    for subset in subsets:
        subset_ports = [canonical(p) for p in subset.get("ports") or ()] or [""]
        for port in subset.get("ports") or ():
            ports[canonical(port)] = port
        for field, is_ready in (("addresses", True), ("notReadyAddresses", False)):
            for address in subset.get(field) or ():
                key = (str(address.get("ip")), str((address.get("targetRef") or {}).get("uid")))
                addresses.setdefault(key, address)
                for port in subset_ports:
                    readiness = by_port.setdefault(port, {})
                    readiness[key] = readiness.get(key, False) or is_ready
    # address set -> ports offered by exactly that set
    groups: dict[str, tuple[dict[tuple[str, str], bool], list[str]]] = {}
    for port, readiness in by_port.items():
        group = groups.setdefault(canonical(sorted(readiness.items())), (readiness, []))
        if port:
            group[1].append(port)
    final = []
    for readiness, port_keys in groups.values():
        packed: dict[str, Any] = {}
        ready = sorted((addresses[k] for k, r in readiness.items() if r), key=_address_order)
        not_ready = sorted((addresses[k] for k, r in readiness.items() if not r),
                           key=_address_order)
        if ready:
            packed["addresses"] = ready
        if not_ready:
            packed["notReadyAddresses"] = not_ready
        if port_keys:
            packed["ports"] = [ports[p] for p in sorted(port_keys)]
        final.append(packed)
    return sorted(final, key=canonical)


def truncate(subsets: list[dict[str, Any]]) -> bool:
    """Upstream's `truncateEndpoints`: cut to `MAX_CAPACITY` addresses, not-ready ones
    first; each subset keeps its proportional share (rounded up). True when cut."""
    ready = sum(len(s.get("addresses") or ()) for s in subsets)
    not_ready = sum(len(s.get("notReadyAddresses") or ()) for s in subsets)
    if ready + not_ready <= MAX_CAPACITY:
        return False
    truncate_ready = ready > MAX_CAPACITY
    limit = MAX_CAPACITY if truncate_ready else MAX_CAPACITY - ready
    total = ready if truncate_ready else not_ready
    room = limit
    for subset in subsets:
        field = "addresses" if truncate_ready else "notReadyAddresses"
        present = subset.get(field) or []
        share = min(math.ceil(len(present) / total * limit), room)
        subset[field] = present[:share]
        if truncate_ready:
            subset.pop("notReadyAddresses", None)
        room -= len(subset[field])
        if not subset[field]:
            del subset[field]
    return True


def capacity_annotation_correct(annotations: dict[str, str],
                                subsets: Sequence[dict[str, Any]]) -> bool:
    count = sum(len(s.get("addresses") or ()) + len(s.get("notReadyAddresses") or ())
                for s in subsets)
    if count > MAX_CAPACITY:
        return annotations.get(OVER_CAPACITY) == TRUNCATED
    return OVER_CAPACITY not in annotations


# ----------------------------------------------------------------------------- controller


class EndpointsController(QueueController):
    name: ClassVar[str] = "endpoints-controller"

    def __init__(self, ctx: ControllerContext, *, workers: int = DEFAULT_WORKERS) -> None:
        super().__init__(workers=workers)
        self.client = ctx.client
        self.recorder = EventRecorder(ctx.client, "endpoint-controller")
        self.services = ctx.informers.informer(SERVICES)
        self.pods = ctx.informers.informer(PODS)
        self.endpoints = ctx.informers.informer(ENDPOINTS)
        self.trigger_times = TriggerTimeTracker()
        self.watch(self.services, on_add=self.enqueue_object,
                   on_update=lambda _old, new: self.enqueue_object(new),
                   on_delete=self.enqueue_object)
        self.watch(self.pods, on_add=self._pod_changed, on_update=self._update_pod,
                   on_delete=self._pod_changed)
        self.watch(self.endpoints, on_delete=self.enqueue_object)

    async def run(self) -> None:
        try:
            await self.wait_for_sync()
            self.check_leftover_endpoints()
            await super().run()
        finally:
            await self.recorder.aclose()

    def check_leftover_endpoints(self) -> None:
        """Enqueue every Endpoints that has no Service (its sync deletes it)."""
        for endpoints in self.endpoints.store.list():
            if LEADER_ANNOTATION in (meta(endpoints).get("annotations") or {}):
                continue
            key = f"{meta(endpoints).get('namespace')}/{meta(endpoints).get('name')}"
            if key not in self.services.store:
                self.enqueue(key)

    def _pod_changed(self, pod: Obj) -> None:
        for service in services_selecting(self.services.store, pod):
            self.enqueue_object(service)

    def _update_pod(self, old: Obj, new: Obj) -> None:
        for service in services_to_update(self.services.store, old, new):
            self.enqueue_object(service)

    async def sync(self, key: str) -> None:
        namespace, name = split_key(key)
        service = self.services.store.get(key)
        if service is None:
            self.trigger_times.delete_service(key)
            try:
                await self.client.delete(ENDPOINTS, name, namespace)
            except ApiError as err:
                if err.code != 404:
                    raise
            return
        if spec(service).get("type") == "ExternalName":
            return
        selector = service_selector(service)
        if selector is None:
            return
        pods = [p for p in self.pods.store.by_index(NAMESPACE_INDEX, namespace)
                if selects(selector, meta(p).get("labels"))]
        trigger_time = self.trigger_times.compute(key, service, pods)
        subsets = repack_subsets(desired_subsets(service, pods))

        current = self.endpoints.store.get(key)
        service_labels = dict(meta(service).get("labels") or {})
        if current is not None:
            current_meta = meta(current)
            labels = dict(current_meta.get("labels") or {})
            labels.pop(LABEL_HEADLESS, None)
            if (canonical(current.get("subsets") or []) == canonical(subsets)
                    and labels == service_labels
                    and capacity_annotation_correct(current_meta.get("annotations") or {},
                                                    current.get("subsets") or [])):
                return
        endpoints = self._desired(current, key, service_labels, service, subsets,
                                  trigger_time)
        try:
            if current is None:
                await self.client.create(ENDPOINTS, endpoints, namespace)
            else:
                await self.client.update(ENDPOINTS, endpoints, namespace)
        except ApiError as err:
            if current is None and namespace_terminating(err):
                return
            if current is None:
                self.recorder.warning(endpoints, "FailedToCreateEndpoint",
                                      f"Failed to create endpoint for service {key}: "
                                      f"{err.message or err}")
            else:
                self.recorder.warning(endpoints, "FailedToUpdateEndpoint",
                                      f"Failed to update endpoint {key}: {err.message or err}")
            raise

    @staticmethod
    def _desired(current: Obj | None, key: str, labels: dict[str, str], service: Obj,
                 subsets: list[dict[str, Any]], trigger_time: Any) -> dict[str, Any]:
        namespace, name = split_key(key)
        if current is None:
            endpoints: dict[str, Any] = {"apiVersion": "v1", "kind": "Endpoints",
                                         "metadata": {"name": name, "namespace": namespace}}
        else:
            endpoints = {**current, "metadata": dict(meta(current))}
        endpoint_meta = endpoints["metadata"]
        annotations = dict(endpoint_meta.get("annotations") or {})
        if trigger_time is not None:
            annotations[LAST_CHANGE_TRIGGER_TIME] = format_trigger_time(trigger_time)
        else:
            annotations.pop(LAST_CHANGE_TRIGGER_TIME, None)
        if truncate(subsets):
            annotations[OVER_CAPACITY] = TRUNCATED
        else:
            annotations.pop(OVER_CAPACITY, None)
        if not is_service_ip_set(service):
            labels = {**labels, LABEL_HEADLESS: ""}
        endpoint_meta["labels"] = labels
        endpoint_meta["annotations"] = annotations
        endpoints["subsets"] = subsets
        return endpoints
