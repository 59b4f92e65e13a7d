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

    def _in_use(self) -> tuple[set[str], set[int]]:
        ips: set[str] = set()
        ports: set[int] = set()
        for svc in self._services():
            spec = svc.get("spec", {})
            ips.update(ip for ip in spec.get("clusterIPs") or [spec.get("clusterIP")]
                       if ip and ip != "None")
            ports.update(p["nodePort"] for p in spec.get("ports") or [] if p.get("nodePort"))
        return ips, ports

    def allocate(self, service: dict[str, Any]) -> None:
        """Fill spec.clusterIP(s) and nodePorts, or reject a taken or invalid request."""
        spec = service.setdefault("spec", {})
        svc_type = spec.get("type", "ClusterIP")
        name = service.get("metadata", {}).get("name", "")
        used_ips, used_ports = self._in_use()
        if svc_type != "ExternalName":
            wanted = spec.get("clusterIP") or ""
            if wanted == "None":
                spec["clusterIPs"] = ["None"]
            else:
                ip = self._cluster_ip(name, wanted, used_ips)
                spec["clusterIP"] = ip
                spec["clusterIPs"] = [ip]
        if svc_type in ("NodePort", "LoadBalancer"):
            for index, port in enumerate(spec.get("ports") or []):
                port["nodePort"] = self._node_port(name, index, port.get("nodePort"), used_ports)
                used_ports.add(port["nodePort"])

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
    def _node_port(name: str, index: int, wanted: Any, used: set[int]) -> int:
        if wanted:
            if not isinstance(wanted, int) or wanted not in NODE_PORT_RANGE:
                raise errors.invalid("", "Service", name, [FieldError.invalid(
                    f"spec.ports[{index}].nodePort", wanted,
                    "provided port is not in the valid range. The range of valid ports is "
                    f"{NODE_PORT_RANGE.start}-{NODE_PORT_RANGE.stop - 1}")])
            if wanted in used:
                raise errors.invalid("", "Service", name, [FieldError.invalid(
                    f"spec.ports[{index}].nodePort", wanted, "provided port is already "
                    "allocated")])
            return int(wanted)
        free = [p for p in random.sample(NODE_PORT_RANGE, 64) if p not in used]
        if free:
            return free[0]
        rest = [p for p in NODE_PORT_RANGE if p not in used]
        if not rest:
            raise errors.unavailable("failed to allocate a nodePort: range is full")
        return rest[0]
