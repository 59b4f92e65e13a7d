"""The `kube-dns` Service in kube-system, and the EndpointSlice that points it at this DNS
server.

On k3s, CoreDNS runs as a Deployment behind the `kube-dns` Service (clusterIP 10.43.0.10,
ports 53/UDP `dns`, 53/TCP `dns-tcp`, 9153/TCP `metrics`, label `k8s-app: kube-dns`), and
the EndpointSlice controller fills its slices from the pods. Here the server runs inside
`kyb server` on the node's address, so the Service is made without a selector (when
missing; one that exists is left as it is) and this module owns its EndpointSlice
`kube-dns-kybernetes` (labels `kubernetes.io/service-name: kube-dns` and
`endpointslice.kubernetes.io/managed-by: dns.kybernetes.io`, owned by the Service like the
controller's slices), one ready endpoint at the server's address with the two DNS ports
and the metrics port.
kube-proxy then sends 10.43.0.10 there. Any change to the Service or the slice (deleted,
edited) wakes the publisher, which puts the slice back.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from typing import Any

from kybernetes.client import (
    ApiClient,
    ApiConnectionError,
    ApiError,
    Backoff,
    Store,
    is_already_exists,
    is_not_found,
)

log = logging.getLogger(__name__)

NAMESPACE = "kube-system"
SERVICE = "kube-dns"
SLICE = "kube-dns-kybernetes"
MANAGED_BY = "dns.kybernetes.io"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"

_SERVICES = ("", "v1", "services")
_SLICES = ("discovery.k8s.io", "v1", "endpointslices")

Obj = dict[str, Any]


def kube_dns_service(cluster_ip: str) -> Obj:
    family = "IPv6" if ":" in cluster_ip else "IPv4"
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": SERVICE, "namespace": NAMESPACE,
                     "labels": {"k8s-app": "kube-dns",
                                "kubernetes.io/cluster-service": "true"},
                     "annotations": {"prometheus.io/port": "9153",
                                     "prometheus.io/scrape": "true"}},
        "spec": {"type": "ClusterIP", "clusterIP": cluster_ip, "clusterIPs": [cluster_ip],
                 "ipFamilies": [family], "ipFamilyPolicy": "SingleStack",
                 "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                           {"name": "dns-tcp", "port": 53, "protocol": "TCP",
                            "targetPort": 53},
                           {"name": "metrics", "port": 9153, "protocol": "TCP",
                            "targetPort": 9153}]},
    }


def kube_dns_slice(service: Obj, address: str, port: int, node_name: str | None,
                   metrics_port: int | None = None) -> Obj:
    endpoint: Obj = {"addresses": [address],
                     "conditions": {"ready": True, "serving": True, "terminating": False}}
    if node_name:
        endpoint["nodeName"] = node_name
    meta = service["metadata"]
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": SLICE, "namespace": NAMESPACE,
                     "labels": {SERVICE_NAME_LABEL: SERVICE, MANAGED_BY_LABEL: MANAGED_BY},
                     "ownerReferences": [{"apiVersion": "v1", "kind": "Service",
                                          "name": meta["name"], "uid": meta["uid"],
                                          "controller": True,
                                          "blockOwnerDeletion": True}]},
        "addressType": "IPv6" if ipaddress.ip_address(address).version == 6 else "IPv4",
        "endpoints": [endpoint],
        "ports": [{"name": "dns", "port": port, "protocol": "UDP"},
                  {"name": "dns-tcp", "port": port, "protocol": "TCP"},
                  *([{"name": "metrics", "port": metrics_port, "protocol": "TCP"}]
                    if metrics_port is not None else [])],
    }


def _differs(current: Obj, desired: Obj) -> bool:
    meta, want = current.get("metadata") or {}, desired["metadata"]
    labels = meta.get("labels") or {}
    return any(current.get(field) != desired[field]
               for field in ("addressType", "endpoints", "ports")) or \
        any(labels.get(k) != v for k, v in want["labels"].items()) or \
        meta.get("ownerReferences") != want["ownerReferences"]


class KubeDnsPublisher:
    """Keeps the kube-dns Service and this server's EndpointSlice in place."""

    def __init__(self, client: ApiClient, services: Store, endpoint_slices: Store, *,
                 cluster_ip: str, address: str, port: int, metrics_port: int | None = None,
                 node_name: str | None = None) -> None:
        self.client = client
        self.services = services
        self.endpoint_slices = endpoint_slices
        self.cluster_ip = cluster_ip
        self.address = address
        self.port = port
        self.metrics_port = metrics_port
        self.node_name = node_name
        self._wake = asyncio.Event()
        self._wake.set()

    def poke(self, obj: Obj, *_more: Obj) -> None:
        """An informer handler: wake up when the Service or the slice changed."""
        for item in (obj, *_more):
            meta = item.get("metadata") or {}
            if meta.get("namespace") == NAMESPACE and meta.get("name") in (SERVICE, SLICE):
                self._wake.set()

    async def run(self) -> None:
        backoff = Backoff(1.0, 30.0)
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.sync()
            except (ApiError, ApiConnectionError) as err:
                delay = backoff.next()
                log.warning("publishing the kube-dns Service failed: %s; again in %.0fs",
                            err, delay)
                self._wake.set()
                await asyncio.sleep(delay)
                continue
            backoff.reset()

    async def sync(self) -> None:
        service = self.services.get(f"{NAMESPACE}/{SERVICE}")
        if service is None:
            try:
                service = await self.client.create(_SERVICES, kube_dns_service(
                    self.cluster_ip), NAMESPACE)
                log.info("created Service %s/%s (%s)", NAMESPACE, SERVICE, self.cluster_ip)
            except ApiError as err:
                if not is_already_exists(err):
                    raise
                service = await self.client.get(_SERVICES, SERVICE, NAMESPACE)
        if (service.get("spec") or {}).get("selector"):
            log.info("Service %s/%s has a selector: its endpoints are not this server's",
                     NAMESPACE, SERVICE)
            return
        desired = kube_dns_slice(service, self.address, self.port, self.node_name,
                                 self.metrics_port)
        current = self.endpoint_slices.get(f"{NAMESPACE}/{SLICE}")
        if current is None:
            try:
                await self.client.create(_SLICES, desired, NAMESPACE)
                return
            except ApiError as err:
                if not is_already_exists(err):
                    raise
            current = await self.client.get(_SLICES, SLICE, NAMESPACE)
        if not _differs(current, desired):
            return
        meta = current["metadata"]
        updated = {**current, **{k: v for k, v in desired.items() if k != "metadata"},
                   "metadata": {**meta,
                                "labels": {**(meta.get("labels") or {}),
                                           **desired["metadata"]["labels"]},
                                "ownerReferences": desired["metadata"]["ownerReferences"]}}
        try:
            await self.client.update(_SLICES, updated, NAMESPACE)
        except ApiError as err:
            if not is_not_found(err):
                raise
            self._wake.set()  # deleted meanwhile: made again on the next round
