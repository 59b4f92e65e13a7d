"""What kube-proxy knows about Services and EndpointSlices, and what changed since a sync.

Follows upstream's pkg/proxy/servicechangetracker.go, endpointschangetracker.go and
serviceport.go/endpoint.go: a Service becomes one `ServicePort` per port (headless and
ExternalName services and those labelled `service.kubernetes.io/service-proxy-name` are
not ours), EndpointSlices (by their `kubernetes.io/service-name` label) become
`Endpoint`s per service port, merged over the service's slices. Every change marks its
service dirty, so a sync rewrites only the services in `take_dirty()`. IPv4 only: the
addresses of other families are skipped, as a single-stack IPv4 proxier does.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kybernetes.api import timeutil

Obj = dict[str, Any]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
SERVICE_PROXY_NAME_LABEL = "service.kubernetes.io/service-proxy-name"
TRIGGER_TIME_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"
# upstream's v1.DefaultClientIPServiceAffinitySeconds
DEFAULT_AFFINITY_SECONDS = 10800


@dataclass(frozen=True, order=True)
class ServicePortName:
    namespace: str
    name: str
    port: str

    @property
    def service(self) -> str:
        return f"{self.namespace}/{self.name}"

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}:{self.port}" if self.port else self.service


@dataclass(frozen=True)
class ServicePort:
    name: ServicePortName
    protocol: str  # lower case: tcp, udp, sctp
    cluster_ip: str
    port: int
    node_port: int = 0
    external_ips: tuple[str, ...] = ()
    load_balancer_ips: tuple[str, ...] = ()
    affinity_seconds: int = 0  # 0: no session affinity
    external_local: bool = False  # externalTrafficPolicy: Local
    internal_local: bool = False  # internalTrafficPolicy: Local

    @property
    def externally_accessible(self) -> bool:
        return bool(self.node_port or self.external_ips or self.load_balancer_ips)

    @property
    def external_policy_local(self) -> bool:
        return self.externally_accessible and self.external_local

    @property
    def uses_cluster_endpoints(self) -> bool:
        return not self.internal_local or (self.externally_accessible
                                           and not self.external_local)

    @property
    def uses_local_endpoints(self) -> bool:
        return self.internal_local or self.external_policy_local


@dataclass(frozen=True)
class Endpoint:
    ip: str
    port: int
    ready: bool = True
    serving: bool = True
    terminating: bool = False
    local: bool = False

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"


def _ipv4(values: Iterable[str]) -> tuple[str, ...]:
    found = []
    for value in values:
        try:
            if ipaddress.ip_address(value).version == 4:
                found.append(value)
        except ValueError:
            continue
    return tuple(found)


def service_ports(svc: Obj) -> tuple[ServicePort, ...]:
    """The ports of `svc` kube-proxy programs (none for services it must skip)."""
    meta, spec = svc["metadata"], svc.get("spec") or {}
    if SERVICE_PROXY_NAME_LABEL in (meta.get("labels") or {}):
        return ()
    if spec.get("type") == "ExternalName":
        return ()
    cluster_ips = _ipv4(spec.get("clusterIPs") or [spec.get("clusterIP") or ""])
    if not cluster_ips:
        return ()  # headless, or no IPv4 address
    affinity = 0
    if spec.get("sessionAffinity") == "ClientIP":
        config = (spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}
        affinity = int(config.get("timeoutSeconds") or DEFAULT_AFFINITY_SECONDS)
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    lb_ips = _ipv4(i["ip"] for i in ingress if i.get("ip") and i.get("ipMode") != "Proxy")
    ports = []
    for port in spec.get("ports") or []:
        ports.append(ServicePort(
            name=ServicePortName(meta["namespace"], meta["name"], port.get("name") or ""),
            protocol=(port.get("protocol") or "TCP").lower(), cluster_ip=cluster_ips[0],
            port=int(port["port"]), node_port=int(port.get("nodePort") or 0),
            external_ips=_ipv4(spec.get("externalIPs") or []),
            load_balancer_ips=lb_ips, affinity_seconds=affinity,
            external_local=spec.get("externalTrafficPolicy") == "Local",
            internal_local=spec.get("internalTrafficPolicy") == "Local"))
    return tuple(ports)


def slice_endpoints(eps: Obj, node_name: str
                    ) -> dict[tuple[str, str], list[Endpoint]]:
    """The endpoints of one EndpointSlice by (port name, protocol)."""
    if eps.get("addressType", "IPv4") != "IPv4":
        return {}
    found: dict[tuple[str, str], list[Endpoint]] = {}
    for port in eps.get("ports") or []:
        number = port.get("port")
        if number is None:
            continue
        key = (port.get("name") or "", (port.get("protocol") or "TCP").lower())
        out = found.setdefault(key, [])
        for endpoint in eps.get("endpoints") or []:
            conditions = endpoint.get("conditions") or {}
            ready = conditions.get("ready") is not False
            serving = conditions.get("serving")
            local = bool(node_name) and endpoint.get("nodeName") == node_name
            for ip in _ipv4(endpoint.get("addresses") or [])[:1]:
                out.append(Endpoint(ip, int(number), ready=ready,
                                    serving=ready if serving is None else bool(serving),
                                    terminating=conditions.get("terminating") is True,
                                    local=local))
    return found


def _trigger_time(eps: Obj) -> float | None:
    value = ((eps.get("metadata") or {}).get("annotations") or {}).get(TRIGGER_TIME_ANNOTATION)
    if not value:
        return None
    when = timeutil.parse_time(value)
    return when.timestamp() if when is not None else None


class ChangeTracker:
    """Services and endpoints as last seen, and the services changed since `take_dirty`."""

    def __init__(self, node_name: str) -> None:
        self.node_name = node_name
        self.services: dict[str, tuple[ServicePort, ...]] = {}
        self._slices: dict[str, dict[str, Obj]] = {}
        self._endpoints: dict[str, dict[tuple[str, str], tuple[Endpoint, ...]]] = {}
        self._dirty: set[str] = set()
        self._trigger_times: list[float] = []

    def update_service(self, svc: Obj, *, deleted: bool = False) -> None:
        meta = svc["metadata"]
        key = f"{meta['namespace']}/{meta['name']}"
        ports = () if deleted else service_ports(svc)
        if self.services.get(key, ()) == ports:
            return
        if ports:
            self.services[key] = ports
        else:
            self.services.pop(key, None)
        self._dirty.add(key)

    def update_slice(self, eps: Obj, *, deleted: bool = False) -> None:
        meta = eps["metadata"]
        service = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
        if not service:
            return
        key = f"{meta['namespace']}/{service}"
        slices = self._slices.setdefault(key, {})
        if deleted:
            slices.pop(meta["name"], None)
        else:
            slices[meta["name"]] = eps
            triggered = _trigger_time(eps)
            if triggered is not None:
                self._trigger_times.append(triggered)
        if not slices:
            del self._slices[key]
        self._endpoints.pop(key, None)
        self._dirty.add(key)

    def endpoints(self, port: ServicePort) -> tuple[Endpoint, ...]:
        """The endpoints of a service port, merged over its slices (one per address)."""
        key = port.name.service
        by_port = self._endpoints.get(key)
        if by_port is None:
            merged: dict[tuple[str, str], dict[str, Endpoint]] = {}
            for eps in sorted(self._slices.get(key, {}).values(),
                              key=lambda s: str(s["metadata"]["name"])):
                for port_key, found in slice_endpoints(eps, self.node_name).items():
                    into = merged.setdefault(port_key, {})
                    for endpoint in found:
                        into.setdefault(endpoint.address, endpoint)
            by_port = {k: tuple(v.values()) for k, v in merged.items()}
            self._endpoints[key] = by_port
        return by_port.get((port.name.port, port.protocol), ())

    def take_dirty(self) -> set[str]:
        dirty, self._dirty = self._dirty, set()
        return dirty

    def take_trigger_times(self) -> list[float]:
        """When the endpoint changes programmed by the coming sync were triggered."""
        times, self._trigger_times = self._trigger_times, []
        return times

    @property
    def pending(self) -> bool:
        return bool(self._dirty)
