"""ServiceLB: `type: LoadBalancer` without a cloud, as k3s' `pkg/cloudprovider/servicelb.go`,
but without its DaemonSet of `klipper-lb` pods: kube-proxy already answers a LoadBalancer
Service's port on every node's addresses, so the load balancer is the nodes themselves.

For each Service of type LoadBalancer with no `loadBalancerClass` (a class means another
implementation owns it, as the cloud service controller's filter), `status.loadBalancer.
ingress` lists the addresses of the eligible nodes, `ipMode: VIP`, kept up to date as nodes
come, go, turn ready or not ready:

- eligible nodes are those whose Ready condition is True; if any node carries the label
  `svccontroller.k3s.cattle.io/enablelb`, only those where it is `"true"` (and, for a
  Service labelled `svccontroller.k3s.cattle.io/lbpool`, whose pool label matches);
- with `externalTrafficPolicy: Local`, only nodes with a ready endpoint of the Service (from
  its EndpointSlices), since other nodes drop the traffic;
- ExternalIP addresses when any eligible node has one, else InternalIP addresses, sorted,
  per the Service's `ipFamilies` in order.

A change is written through `services/status` with k3s' events (`UpdatedLoadBalancer`,
or the warning `UnAvailableLoadBalancer` when no node is left). A Service that stops being
type LoadBalancer (and has no class) gets its ingress cleared.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from kybernetes.api.objects import meta, spec
from kybernetes.client import EventRecorder, resource
from kybernetes.client.rest import Obj
from kybernetes.controllers.base import ControllerContext, QueueController
from kybernetes.controllers.endpointslice.controller import (
    SERVICE_NAME_INDEX,
    service_name_index,
)
from kybernetes.controllers.endpointslice.reconciler import ENDPOINT_SLICES
from kybernetes.controllers.endpointslice.utils import IPV4, ip_family

log = logging.getLogger(__name__)

SERVICES = resource("", "v1", "services")
NODES = resource("", "v1", "nodes")
ENABLE_LB_LABEL = "svccontroller.k3s.cattle.io/enablelb"
LB_POOL_LABEL = "svccontroller.k3s.cattle.io/lbpool"
DEFAULT_WORKERS = 1


def _wants_lb(service: Obj) -> bool:
    return spec(service).get("type") == "LoadBalancer" and not spec(service).get(
        "loadBalancerClass")


def _ingress(service: Obj) -> list[dict[str, Any]]:
    return list(((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or [])


def _node_ready(node: Obj) -> bool:
    if meta(node).get("deletionTimestamp"):
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or ())


def _addresses(node: Obj, kind: str) -> list[str]:
    return [str(a.get("address")) for a in (node.get("status") or {}).get("addresses") or ()
            if a.get("type") == kind and a.get("address")]


class ServiceLBController(QueueController):
    name: ClassVar[str] = "service-lb-controller"

    def __init__(self, ctx: ControllerContext, *, workers: int = DEFAULT_WORKERS) -> None:
        super().__init__(workers=workers)
        self.client = ctx.client
        self.recorder = EventRecorder(ctx.client, "service-lb-controller")
        self.services = ctx.informers.informer(SERVICES)
        self.nodes = ctx.informers.informer(NODES)
        self.slices = ctx.informers.informer(ENDPOINT_SLICES, indexers={
            SERVICE_NAME_INDEX: service_name_index})
        self.watch(self.services, on_add=self._service_changed,
                   on_update=lambda _old, new: self._service_changed(new))
        self.watch(self.nodes, on_add=self._node_changed, on_update=self._update_node,
                   on_delete=self._node_changed)
        self.watch(self.slices, on_add=self._slice_changed,
                   on_update=lambda _old, new: self._slice_changed(new),
                   on_delete=self._slice_changed)

    async def run(self) -> None:
        try:
            await super().run()
        finally:
            await self.recorder.aclose()

    # -- handlers -----------------------------------------------------------------------

    def _service_changed(self, service: Obj) -> None:
        if _wants_lb(service) or _ingress(service):
            self.enqueue_object(service)

    def _node_changed(self, _node: Obj) -> None:
        for service in self.services.store.list():
            if _wants_lb(service):
                self.enqueue_object(service)

    def _update_node(self, old: Obj, new: Obj) -> None:
        def view(node: Obj) -> Any:
            return (_node_ready(node), (node.get("status") or {}).get("addresses"),
                    (meta(node).get("labels") or {}).get(ENABLE_LB_LABEL),
                    (meta(node).get("labels") or {}).get(LB_POOL_LABEL))
        if view(old) != view(new):
            self._node_changed(new)

    def _slice_changed(self, slice_: Obj) -> None:
        for key in service_name_index(slice_):
            service = self.services.store.get(key)
            if service is not None and _wants_lb(service) and \
                    spec(service).get("externalTrafficPolicy") == "Local":
                self.enqueue(key)

    # -- sync ---------------------------------------------------------------------------

    def eligible_nodes(self, service: Obj) -> list[Obj]:
        nodes = [n for n in self.nodes.store.list() if _node_ready(n)]
        if any(ENABLE_LB_LABEL in (meta(n).get("labels") or {})
               for n in self.nodes.store.list()):
            pool = (meta(service).get("labels") or {}).get(LB_POOL_LABEL)
            nodes = [n for n in nodes
                     if (meta(n).get("labels") or {}).get(ENABLE_LB_LABEL) == "true"
                     and (not pool or (meta(n).get("labels") or {}).get(LB_POOL_LABEL) == pool)]
        if spec(service).get("externalTrafficPolicy") == "Local":
            key = f"{meta(service).get('namespace')}/{meta(service).get('name')}"
            ready = {e.get("nodeName")
                     for s in self.slices.store.by_index(SERVICE_NAME_INDEX, key)
                     for e in s.get("endpoints") or ()
                     if (e.get("targetRef") or {}).get("kind") == "Pod"
                     and (e.get("conditions") or {}).get("ready")}
            nodes = [n for n in nodes if meta(n).get("name") in ready]
        return nodes

    def desired_ingress(self, service: Obj) -> list[dict[str, Any]]:
        nodes = self.eligible_nodes(service)
        external = {ip for n in nodes for ip in _addresses(n, "ExternalIP")}
        addresses = external or {ip for n in nodes for ip in _addresses(n, "InternalIP")}
        ips: list[str] = []
        for family in spec(service).get("ipFamilies") or [IPV4]:
            ips += sorted(ip for ip in addresses if ip_family(ip) == family)
        return [{"ip": ip, "ipMode": "VIP"} for ip in ips]

    async def sync(self, key: str) -> None:
        service = self.services.store.get(key)
        if service is None:
            return
        if _wants_lb(service):
            desired = self.desired_ingress(service)
        elif spec(service).get("type") != "LoadBalancer" and \
                not spec(service).get("loadBalancerClass"):
            desired = []
        else:
            return
        previous = _ingress(service)
        if previous == desired:
            return
        status = dict(service.get("status") or {})
        status["loadBalancer"] = {"ingress": desired} if desired else {}
        namespace = str(meta(service).get("namespace"))
        await self.client.update_status(SERVICES, {**service, "status": status}, namespace)
        if not _wants_lb(service):
            return
        if not desired:
            self.recorder.warning(service, "UnAvailableLoadBalancer",
                                  "There are no available nodes for LoadBalancer")
        else:
            before = [str(i.get("ip") or i.get("hostname")) for i in previous]
            after = [str(i["ip"]) for i in desired]
            self.recorder.normal(service, "UpdatedLoadBalancer",
                                 f"Updated LoadBalancer with new IPs: [{' '.join(before)}] -> "
                                 f"[{' '.join(after)}]")
