"""Service IP and NodePort allocation, done by the API server on Service create.

Upstream keeps allocation bitmaps in storage; here the watch cache already holds every
Service, so the allocator reads the addresses and ports in use from it. A ClusterIP or
NodePort the client asks for must be free and in range; otherwise one is picked at random.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable, Iterable
from typing import Any

from kybernetes.api import errors
from kybernetes.api.errors import FieldError

SERVICE_CIDR = ipaddress.ip_network("10.43.0.0/16")
NODE_PORT_RANGE = range(30000, 32768)
# The first address goes to the `kubernetes` Service, the tenth to cluster DNS (as k3s).
KUBERNETES_SERVICE_IP = str(SERVICE_CIDR[1])


class ServiceAllocator:
    def __init__(self, services: Callable[[], Iterable[dict[str, Any]]]) -> None:
        self._services = services

    def _in_use(self, but: dict[str, Any] | None = None) -> tuple[set[str], set[int]]:
        """Addresses and ports held by the Services, leaving out `but` (one being updated)."""
        ips: set[str] = set()
        ports: set[int] = set()
        skip = _identity(but) if but is not None else None
        for svc in self._services():
            if skip is not None and _identity(svc) == skip:
                continue
            spec = svc.get("spec", {})
            ips.update(ip for ip in spec.get("clusterIPs") or [spec.get("clusterIP")]
                       if ip and ip != "None")
            ports.update(p["nodePort"] for p in spec.get("ports") or [] if p.get("nodePort"))
            if spec.get("healthCheckNodePort"):
                ports.add(spec["healthCheckNodePort"])
        return ips, ports

    def allocate(self, service: dict[str, Any]) -> None:
        """Fill spec.clusterIP(s) and nodePorts, or reject a taken or invalid request."""
        self._allocate(service, *self._in_use())

    def allocate_update(self, service: dict[str, Any], old: dict[str, Any]) -> None:
        """On update, as upstream's `patchAllocatedValues`: what the old Service held and
        the new one still needs (its ClusterIP; the NodePort of a port with the same
        number and protocol; the health check port) is kept when the update leaves it out,
        and what the new type needs beyond it (a ClusterIP -> NodePort change) is
        allocated."""
        spec, old_spec = service.get("spec"), old.get("spec") or {}
        if not isinstance(spec, dict):
            return
        svc_type = spec.get("type", "ClusterIP")
        old_type = old_spec.get("type", "ClusterIP")
        if svc_type != "ExternalName" and old_type != "ExternalName" and \
                not spec.get("clusterIP"):
            for field in ("clusterIP", "clusterIPs"):
                if field in old_spec:
                    spec[field] = old_spec[field]
        if _needs_node_ports(old_type) and _needs_node_ports(svc_type):
            held = {(p.get("port"), p.get("protocol", "TCP")): p.get("nodePort")
                    for p in old_spec.get("ports") or [] if isinstance(p, dict)}
            for port in spec.get("ports") or []:
                if isinstance(port, dict) and not port.get("nodePort"):
                    kept = held.get((port.get("port"), port.get("protocol", "TCP")))
                    if kept:
                        port["nodePort"] = kept
        if svc_type == "LoadBalancer" and old_type == "LoadBalancer" and \
                not spec.get("healthCheckNodePort") and old_spec.get("healthCheckNodePort"):
            spec["healthCheckNodePort"] = old_spec["healthCheckNodePort"]
        self._allocate(service, *self._in_use(but=old))

    def _allocate(self, service: dict[str, Any], used_ips: set[str], used_ports: set[int]
                  ) -> None:
        spec = service.setdefault("spec", {})
        svc_type = spec.get("type", "ClusterIP")
        name = service.get("metadata", {}).get("name", "")
        if svc_type != "ExternalName":
            wanted = spec.get("clusterIP") or ""
            if wanted == "None":
                spec["clusterIPs"] = ["None"]
            else:
                ip = self._cluster_ip(name, wanted, used_ips)
                spec["clusterIP"] = ip
                spec["clusterIPs"] = [ip]
        if svc_type in ("NodePort", "LoadBalancer"):
            # A LoadBalancer with allocateLoadBalancerNodePorts: false gets no NodePorts but
            # the ones asked for.
            only_asked = svc_type == "LoadBalancer" and \
                spec.get("allocateLoadBalancerNodePorts") is False
            for index, port in enumerate(spec.get("ports") or []):
                if only_asked and not port.get("nodePort"):
                    continue
                port["nodePort"] = self._node_port(name, f"spec.ports[{index}].nodePort",
                                                   port.get("nodePort"), used_ports)
                used_ports.add(port["nodePort"])
        if svc_type == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local":
            # Upstream's NeedsHealthCheck: kube-proxy answers health checks on this port.
            spec["healthCheckNodePort"] = self._node_port(
                name, "spec.healthCheckNodePort", spec.get("healthCheckNodePort"), used_ports)

    @staticmethod
    def _cluster_ip(name: str, wanted: str, used: set[str]) -> str:
        if wanted:
            try:
                address = ipaddress.ip_address(wanted)
            except ValueError:
                raise errors.invalid("", "Service", name, [FieldError.invalid(
                    "spec.clusterIPs[0]", wanted, "must be a valid IP address")]) from None
            if address not in SERVICE_CIDR:
                raise errors.invalid("", "Service", name, [FieldError.invalid(
                    "spec.clusterIPs", wanted,
                    f"failed to allocate IP {wanted}: the provided IP ({wanted}) is not in "
                    f"the valid range. The range of valid IPs is {SERVICE_CIDR}")])
            if wanted in used:
                raise errors.invalid("", "Service", name, [FieldError.invalid(
                    "spec.clusterIPs", wanted,
                    f"failed to allocate IP {wanted}: provided IP is already allocated")])
            return wanted
        # Skip the network address, the kubernetes Service's and the DNS Service's.
        first, last = int(SERVICE_CIDR[0]) + 11, int(SERVICE_CIDR[-1]) - 1
        for _ in range(64):
            candidate = str(ipaddress.ip_address(random.randint(first, last)))
            if candidate not in used:
                return candidate
        for number in range(first, last + 1):
            candidate = str(ipaddress.ip_address(number))
            if candidate not in used:
                return candidate
        raise errors.unavailable("failed to allocate a serviceIP: range is full")

    @staticmethod
    def _node_port(name: str, field: str, wanted: Any, used: set[int]) -> int:
        if wanted:
            if not isinstance(wanted, int) or wanted not in NODE_PORT_RANGE:
                raise errors.invalid("", "Service", name, [FieldError.invalid(
                    field, wanted, "provided port is not in the valid range. The range of valid "
                    "ports is "
                    f"{NODE_PORT_RANGE.start}-{NODE_PORT_RANGE.stop - 1}")])
            if wanted in used:
                raise errors.invalid("", "Service", name, [FieldError.invalid(
                    field, wanted, "provided port is already allocated")])
            return int(wanted)
        free = [p for p in random.sample(NODE_PORT_RANGE, 64) if p not in used]
        if free:
            return free[0]
        rest = [p for p in NODE_PORT_RANGE if p not in used]
        if not rest:
            raise errors.unavailable("failed to allocate a nodePort: range is full")
        return rest[0]


def _identity(service: dict[str, Any]) -> tuple[str, str]:
    meta = service.get("metadata") or {}
    return str(meta.get("namespace", "")), str(meta.get("name", ""))


def _needs_node_ports(service_type: str) -> bool:
    return service_type in ("NodePort", "LoadBalancer")
