"""Turns a Service and its pods into EndpointSlices with as few writes as possible:
upstream's `staging/src/k8s.io/endpointslice/reconciler.go` (with `trafficdist` for hints).

Per address type of the Service (`IPv4`, `IPv6`; slices of a type it no longer has are
deleted), the pods' endpoints are grouped by their port mapping (a named targetPort can
resolve to different numbers on different pods; each distinct set of ports gets slices of
its own), and each group is packed as upstream packs it (`reconcile_port_mapping`):

1. existing slices keep the endpoints still desired (updated in place when their
   conditions, node, zone or target changed), and lose the others; a slice left empty is
   deleted, one whose labels drifted from the Service's is updated;
2. endpoints not placed yet first fill the slices that are being updated anyway, fullest
   first, up to `max_endpoints_per_slice`;
3. the rest go, when fewer than a slice's worth, into the unchanged slice they fill
   closest to full, else into new slices (`generateName: <service>-`).

`finalize` then turns creations into updates of slices that would be deleted (same address
type, owned by this Service), creates (not for a Service being deleted), updates and
deletes, recording each write in the tracker. A Service with no endpoints keeps one empty
placeholder slice. Endpoints carry `ready` (serving and not terminating, or
`publishNotReadyAddresses`), `serving`, `terminating`, `nodeName`, `zone` (the node's
`topology.kubernetes.io/zone`), `hostname` for pods in the Service's subdomain, and
`hints` for `trafficDistribution` PreferClose / PreferSameZone (their zone) and
PreferSameNode (their zone and node); other Services' slices carry no hints.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kybernetes.api.objects import meta, spec
from kybernetes.client import ApiClient, resource
from kybernetes.client.informer import Store
from kybernetes.client.rest import ApiError, Obj, namespace_terminating
from kybernetes.controllers import podutil
from kybernetes.controllers.endpointslice.tracker import EndpointSliceTracker
from kybernetes.controllers.endpointslice.triggertime import format_trigger_time
from kybernetes.controllers.endpointslice.utils import (
    LABEL_TOPOLOGY_ZONE,
    LAST_CHANGE_TRIGGER_TIME,
    address_types_for_service,
    canonical,
    controller_reference,
    endpoint_key,
    find_port,
    ip_family,
    owned_by,
    pod_ips,
    port_map_key,
    should_pod_be_in_endpoints,
    should_set_hostname,
    slice_labels,
    slice_prefix,
)

log = logging.getLogger(__name__)

ENDPOINT_SLICES = resource("discovery.k8s.io", "v1", "endpointslices")
CONTROLLER_NAME = "endpointslice-controller.k8s.io"
# Upstream's --max-endpoints-per-slice default.
MAX_ENDPOINTS_PER_SLICE = 100
ZONE_DISTRIBUTIONS = ("PreferClose", "PreferSameZone")
NODE_DISTRIBUTION = "PreferSameNode"


class NodeMissing(Exception):
    """A pod's node is not (yet) in the cache: the Service is synced again later."""




# ----------------------------------------------------------------------------- endpoints


def endpoint_ports(service: Obj, pod: Obj) -> list[dict[str, Any]]:
    """Upstream's `getEndpointPorts`: the Service's ports resolved on this pod (ports that
    do not resolve are left out); none for a headless Service without ports."""
    ports: list[dict[str, Any]] = []
    for service_port in spec(service).get("ports") or ():
        number = find_port(pod, service_port)
        if number is None:
            continue
        port: dict[str, Any] = {"name": service_port.get("name") or "", "port": number,
                                "protocol": service_port.get("protocol") or "TCP"}
        if service_port.get("appProtocol"):
            port["appProtocol"] = service_port["appProtocol"]
        ports.append(port)
    return ports


def pod_to_endpoint(pod: Obj, node: Obj | None, service: Obj, address_type: str
                    ) -> dict[str, Any]:
    """Upstream's `podToEndpoint`."""
    serving = podutil.is_pod_ready(pod)
    terminating = bool(meta(pod).get("deletionTimestamp"))
    ready = bool(spec(service).get("publishNotReadyAddresses")) or (serving and not terminating)
    pod_meta = meta(pod)
    endpoint: dict[str, Any] = {
        "addresses": [ip for ip in pod_ips(pod) if ip_family(ip) == address_type],
        "conditions": {"ready": ready, "serving": serving, "terminating": terminating},
        "targetRef": {"kind": "Pod", "namespace": pod_meta.get("namespace"),
                      "name": pod_meta.get("name"), "uid": pod_meta.get("uid")},
    }
    node_name = spec(pod).get("nodeName")
    if node_name:
        endpoint["nodeName"] = node_name
    zone = (meta(node).get("labels") or {}).get(LABEL_TOPOLOGY_ZONE) if node else None
    if zone:
        endpoint["zone"] = zone
    if should_set_hostname(pod, service):
        endpoint["hostname"] = spec(pod)["hostname"]
    return endpoint


def new_slice(service: Obj, ports: list[dict[str, Any]], address_type: str,
              controller_name: str) -> dict[str, Any]:
    """Upstream's `newEndpointSlice`: no name yet (`generateName`), owned by the Service."""
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"generateName": slice_prefix(str(meta(service).get("name"))),
                     "namespace": meta(service).get("namespace"),
                     "labels": slice_labels(None, service, controller_name),
                     "ownerReferences": [controller_reference(service, "Service")]},
        "addressType": address_type, "ports": ports, "endpoints": [],
    }


def _hints(endpoint: dict[str, Any], distribution: str | None) -> dict[str, Any] | None:
    zone = endpoint.get("zone")
    if distribution in ZONE_DISTRIBUTIONS and zone:
        return {"forZones": [{"name": zone}]}
    if distribution == NODE_DISTRIBUTION and zone and endpoint.get("nodeName"):
        return {"forZones": [{"name": zone}], "forNodes": [{"name": endpoint["nodeName"]}]}
    return None


def _apply_hints(slice_: dict[str, Any], distribution: str | None) -> bool:
    """Set or clear every endpoint's hints; True when anything changed."""
    changed = False
    for endpoint in slice_.get("endpoints") or ():
        hints = _hints(endpoint, distribution)
        if endpoint.get("hints") != hints:
            changed = True
            if hints is None:
                endpoint.pop("hints", None)
            else:
                endpoint["hints"] = hints
    return changed


# ----------------------------------------------------------------------------- plan


@dataclass
class Plan:
    create: list[dict[str, Any]] = field(default_factory=list)
    update: list[dict[str, Any]] = field(default_factory=list)
    delete: list[Obj] = field(default_factory=list)
    unchanged: list[Obj] = field(default_factory=list)

    def extend(self, other: Plan) -> None:
        self.create += other.create
        self.update += other.update
        self.delete += other.delete
        self.unchanged += other.unchanged


def _pop(desired: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return desired.pop(next(iter(desired)))


def _equal_beyond_hash(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Upstream's `EndpointsEqualBeyondHash`, hints aside (they are reconciled after
    packing)."""
    return canonical({k: v for k, v in a.items() if k != "hints"}) == \
        canonical({k: v for k, v in b.items() if k != "hints"})


def slice_to_fill(slices: Sequence[Obj], count: int, limit: int) -> Obj | None:
    """Upstream's `getSliceToFill`: the slice that `count` more endpoints fill closest to
    `limit` without passing it."""
    closest, best = limit, None
    for candidate in slices:
        diff = limit - (count + len(candidate.get("endpoints") or ()))
        if 0 <= diff < closest:
            closest, best = diff, candidate
            if diff == 0:
                break
    return best


def reconcile_port_mapping(service: Obj, existing: Sequence[Obj],
                           desired: dict[str, dict[str, Any]], ports: list[dict[str, Any]],
                           address_type: str, controller_name: str, limit: int) -> Plan:
    """Upstream's `reconcileByPortMapping`. `desired` (endpoint key -> endpoint) is
    consumed."""
    by_name: dict[str, dict[str, Any]] = {}
    unchanged: list[str] = []
    to_update: list[str] = []
    to_delete: list[str] = []
    for slice_ in existing:
        name = str(meta(slice_).get("name"))
        kept: list[dict[str, Any]] = []
        endpoint_updated = False
        for endpoint in slice_.get("endpoints") or ():
            want = desired.pop(endpoint_key(endpoint), None)
            if want is not None:
                kept.append(want)
                endpoint_updated = endpoint_updated or not _equal_beyond_hash(want, endpoint)
        labels = slice_labels(slice_, service, controller_name)
        labels_changed = labels != (meta(slice_).get("labels") or {})
        if endpoint_updated or len(kept) != len(slice_.get("endpoints") or ()):
            if not kept:
                to_delete.append(name)
                by_name[name] = dict(slice_)
                continue
            updated = copy.deepcopy(slice_)
            updated["endpoints"] = kept
            updated["metadata"]["labels"] = labels
            by_name[name] = updated
            to_update.append(name)
        elif labels_changed:
            updated = copy.deepcopy(slice_)
            updated["metadata"]["labels"] = labels
            by_name[name] = updated
            to_update.append(name)
        else:
            by_name[name] = dict(slice_)
            unchanged.append(name)

    # 2. Fill the slices being updated anyway, fullest first.
    if desired and to_update:
        for updated in sorted((by_name[n] for n in to_update),
                              key=lambda s: -len(s["endpoints"])):
            while desired and len(updated["endpoints"]) < limit:
                updated["endpoints"].append(_pop(desired))

    # 3. The rest: into the unchanged slice they fill best, else into new slices.
    plan = Plan()
    while desired:
        target: dict[str, Any] | None = None
        if len(desired) < limit and unchanged:
            found = slice_to_fill([by_name[n] for n in unchanged], len(desired), limit)
            if found is not None:
                target = copy.deepcopy(found)
                target["endpoints"] = list(target.get("endpoints") or ())
                by_name[str(meta(target).get("name"))] = target
        if target is None:
            target = new_slice(service, ports, address_type, controller_name)
        while desired and len(target["endpoints"]) < limit:
            target["endpoints"].append(_pop(desired))
        target_name = meta(target).get("name")
        if target_name:
            to_update.append(str(target_name))
            unchanged.remove(str(target_name))
        else:
            plan.create.append(target)
    plan.update = [by_name[n] for n in to_update]
    plan.delete = [by_name[n] for n in to_delete]
    plan.unchanged = [by_name[n] for n in unchanged]
    return plan


def _is_placeholder(slice_: Obj, placeholder: dict[str, Any]) -> bool:
    """Upstream's `placeholderSliceCompare`: same namespace, labels, address type, no ports
    and no endpoints."""
    return (meta(slice_).get("namespace") == placeholder["metadata"]["namespace"]
            and (meta(slice_).get("labels") or {}) == placeholder["metadata"]["labels"]
            and slice_.get("addressType") == placeholder["addressType"]
            and not slice_.get("ports") and not slice_.get("endpoints"))


# ----------------------------------------------------------------------------- reconciler


class Reconciler:
    def __init__(self, client: ApiClient, nodes: Store, tracker: EndpointSliceTracker, *,
                 max_endpoints_per_slice: int = MAX_ENDPOINTS_PER_SLICE,
                 controller_name: str = CONTROLLER_NAME) -> None:
        self.client = client
        self.nodes = nodes
        self.tracker = tracker
        self.limit = max_endpoints_per_slice
        self.controller_name = controller_name

    async def reconcile(self, service: Obj, pods: Sequence[Obj], existing: Sequence[Obj],
                        trigger_time: datetime | None) -> None:
        """Write the slices of `service` for `pods`. Raises `NodeMissing` (after writing
        everything else) when a pod's node is not known yet."""
        supported = address_types_for_service(service)
        plan = Plan()
        by_type: dict[str, list[Obj]] = {t: [] for t in supported}
        for slice_ in existing:
            address_type = slice_.get("addressType")
            if address_type in by_type:
                by_type[str(address_type)].append(slice_)
            else:
                plan.delete.append(slice_)
        missing: list[str] = []
        for address_type in supported:
            plan.extend(self._plan_address_type(service, pods, by_type[address_type],
                                                address_type, missing))
        await self.finalize(service, plan, trigger_time)
        if missing:
            raise NodeMissing(f"skipping pods {', '.join(missing)} of Service "
                              f"{meta(service).get('namespace')}/{meta(service).get('name')}:"
                              " node not found")

    def _plan_address_type(self, service: Obj, pods: Sequence[Obj], existing: list[Obj],
                           address_type: str, missing: list[str]) -> Plan:
        plan = Plan()
        existing_by_ports: dict[str, list[Obj]] = {}
        for slice_ in existing:
            if owned_by(slice_, service):
                existing_by_ports.setdefault(
                    port_map_key(slice_.get("ports") or []), []).append(slice_)
            else:
                plan.delete.append(slice_)

        desired: dict[str, dict[str, dict[str, Any]]] = {}
        ports_of: dict[str, list[dict[str, Any]]] = {}
        publish = bool(spec(service).get("publishNotReadyAddresses"))
        for pod in pods:
            if not should_pod_be_in_endpoints(pod, True):
                continue
            ports = endpoint_ports(service, pod)
            key = port_map_key(ports)
            group = desired.setdefault(key, {})
            ports_of.setdefault(key, ports)
            node = self.nodes.get(str(spec(pod).get("nodeName") or ""))
            if node is None and not publish:
                missing.append(str(meta(pod).get("name")))
                continue
            endpoint = pod_to_endpoint(pod, node, service, address_type)
            if endpoint["addresses"]:
                group[endpoint_key(endpoint)] = endpoint

        for key in sorted(desired):
            plan.extend(reconcile_port_mapping(
                service, existing_by_ports.get(key, []), desired[key], ports_of[key],
                address_type, self.controller_name, self.limit))
        for key, slices in existing_by_ports.items():
            if key not in desired:
                plan.delete.extend(slices)

        # A Service without endpoints keeps one placeholder slice.
        if len(existing) == len(plan.delete) and not plan.create:
            placeholder = new_slice(service, [], address_type, self.controller_name)
            if len(plan.delete) == 1 and _is_placeholder(plan.delete[0], placeholder):
                plan.delete = []
            else:
                plan.create.append(placeholder)

        distribution = spec(service).get("trafficDistribution")
        for slice_ in [*plan.create, *plan.update]:
            _apply_hints(slice_, distribution)
        still: list[Obj] = []
        for slice_ in plan.unchanged:
            candidate = copy.deepcopy(slice_)
            if _apply_hints(candidate, distribution):
                plan.update.append(candidate)
            else:
                still.append(slice_)
        plan.unchanged = still
        return plan

    async def finalize(self, service: Obj, plan: Plan, trigger_time: datetime | None) -> None:
        """Upstream's `finalize`: reuse slices to delete for creations, then write."""
        namespace = str(meta(service).get("namespace"))
        create, update, delete = list(plan.create), list(plan.update), list(plan.delete)
        i = 0
        while i < len(delete) and create:
            doomed = delete[i]
            if doomed.get("addressType") == create[-1].get("addressType") and \
                    owned_by(doomed, service):
                reused = create.pop()
                reused["metadata"].pop("generateName", None)
                reused["metadata"]["name"] = meta(doomed).get("name")
                update.append(reused)
                del delete[i]
            else:
                i += 1
        if not meta(service).get("deletionTimestamp"):
            for slice_ in create:
                _set_trigger_time(slice_, trigger_time)
                try:
                    created = await self.client.create(ENDPOINT_SLICES, slice_, namespace)
                except ApiError as err:
                    if namespace_terminating(err):
                        return
                    raise
                self.tracker.update(created)
        for slice_ in update:
            _set_trigger_time(slice_, trigger_time)
            self.tracker.update(await self.client.update(ENDPOINT_SLICES, slice_, namespace))
        await delete_slices(self.client, self.tracker, namespace, delete)


async def delete_slices(client: ApiClient, tracker: EndpointSliceTracker, namespace: str,
                        slices: Sequence[Obj]) -> None:
    """Delete `slices` (one already gone is fine) and tell `tracker` to expect it, as both
    the EndpointSlice and the mirroring controllers do."""
    for slice_ in slices:
        try:
            await client.delete(ENDPOINT_SLICES, str(meta(slice_).get("name")), namespace)
        except ApiError as err:
            if err.code != 404:
                raise
        tracker.expect_deletion(slice_)


def _set_trigger_time(slice_: dict[str, Any], trigger_time: datetime | None) -> None:
    annotations = slice_["metadata"].setdefault("annotations", {})
    if trigger_time is not None:
        annotations[LAST_CHANGE_TRIGGER_TIME] = format_trigger_time(trigger_time)
    else:
        annotations.pop(LAST_CHANGE_TRIGGER_TIME, None)
    if not annotations:
        del slice_["metadata"]["annotations"]

