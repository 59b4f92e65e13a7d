"""Routes to the other nodes' pod networks: flannel's host-gw backend, run by each node.

Follows flannel's pkg/backend/hostgw and pkg/backend/routenetwork.go: the node watches
Nodes and keeps, for every other node with a `spec.podCIDR` and an IPv4 InternalIP, the
route `<podCIDR> via <InternalIP>` in the main table (`ip route replace`; pyroute2 is not
a dependency here). Routes of nodes that go away, lose their pod CIDR or change address
are replaced or deleted. Like flannel's route check, the routes are compared with the
kernel's every `check_period` seconds too, so one deleted by hand comes back.

Routes it makes carry their own routing protocol number (`ROUTE_PROTOCOL`, shown by
`ip route` as `proto 107`): only routes of that protocol are ever replaced or deleted,
so routes made by anyone else are never touched. host-gw needs every node on one L2
segment: a node whose address is not directly reachable gets no route (the kernel
refuses the gateway) and that is logged; the other nodes' routes are kept all the same.
Such a route is tried again when its Node changes, not at every check (thousands of
simulated nodes would otherwise cost thousands of `ip` runs each time).

Beside the routes, the node's masquerade rules (`masquerade.py`) are kept for its own
pod CIDR once the Node has one, and IPv4 forwarding is switched on, as k3s' agent does.
The VXLAN backend (`vxlan.py`) is this same loop with other routes (`wanted`, `device`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kybernetes.client import ApiClient, SharedInformerFactory, wait_for_cache_sync
from kybernetes.kubelet import spawn
from kybernetes.kubelet.network.masquerade import Masquerade

log = logging.getLogger(__name__)

ROUTE_PROTOCOL = 107  # ours: unassigned in iproute2's rt_protos
CHECK_PERIOD = 10.0  # flannel's routeCheck period
Obj = dict[str, Any]


class RouteError(RuntimeError):
    """An `ip route` command failed; the message has its stderr."""


def node_ipv4(node: Mapping[str, Any]) -> str | None:
    """The node's first IPv4 InternalIP (flannel's public IP for host-gw)."""
    for address in (node.get("status") or {}).get("addresses") or ():
        if address.get("type") == "InternalIP":
            with contextlib.suppress(ValueError):
                if ipaddress.ip_address(address.get("address", "")).version == 4:
                    return str(address["address"])
    return None


def node_pod_cidr(node: Mapping[str, Any]) -> str | None:
    """The node's IPv4 pod CIDR (`spec.podCIDRs`, else `spec.podCIDR`)."""
    spec = node.get("spec") or {}
    for cidr in spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else []):
        with contextlib.suppress(ValueError):
            network = ipaddress.ip_network(cidr, strict=False)
            if network.version == 4:
                return str(network)
    return None


def desired_routes(nodes: Iterable[Mapping[str, Any]], node_name: str) -> dict[str, str]:
    """pod CIDR -> gateway for every other node that has both."""
    routes: dict[str, str] = {}
    for node in nodes:
        if (node.get("metadata") or {}).get("name") == node_name:
            continue
        cidr, gateway = node_pod_cidr(node), node_ipv4(node)
        if cidr is not None and gateway is not None:
            routes[cidr] = gateway
    return routes


class RouteTable:
    """The routes of protocol `ROUTE_PROTOCOL` in the main table, through `ip`; run in the
    network namespace `netns` (a path) when given."""

    def __init__(self, netns: str | None = None, protocol: int = ROUTE_PROTOCOL) -> None:
        self.prefix: list[str] = ["nsenter", f"--net={netns}", "--"] if netns else []
        self.protocol = protocol

    async def _ip(self, *args: str) -> str:
        return await self.ip("-4", *args)

    async def ip(self, *args: str) -> str:
        """`ip ARGS` (in the namespace); its stdout, or RouteError."""
        return await self.run("ip", *args)

    async def run(self, *argv: str) -> str:
        """A command of iproute2 (`ip`, `bridge`) in the namespace; its stdout, or
        RouteError."""
        argv = (*self.prefix, *argv)
        done = await spawn.run(argv)
        if done.returncode != 0:
            raise RouteError(f"{' '.join(argv)}: {done.stderr.decode(errors='replace').strip()}")
        return done.stdout.decode()

    async def list(self) -> dict[str, str]:
        """Our routes: destination -> gateway."""
        shown = await self._ip("-json", "route", "show", "table", "main", "proto",
                               str(self.protocol))
        routes: dict[str, str] = {}
        for route in json.loads(shown or "[]"):
            dst = str(route.get("dst", ""))
            if dst and dst != "default":
                routes[str(ipaddress.ip_network(dst, strict=False))] = \
                    str(route.get("gateway", ""))
        return routes

    async def replace(self, dst: str, gateway: str, device: str | None = None) -> None:
        """`dst via gateway`, or `dst via gateway dev device onlink` (the gateway is then
        reached through `device` whatever its address)."""
        through = ["dev", device, "onlink"] if device else []
        await self._ip("route", "replace", dst, "via", gateway, *through, "proto",
                       str(self.protocol))

    async def delete(self, dst: str) -> None:
        await self._ip("route", "del", dst, "proto", str(self.protocol))

    async def enable_forwarding(self) -> None:
        """net.ipv4.ip_forward=1: pods' traffic to and from other nodes crosses this one."""
        argv = [*self.prefix, "sysctl", "-qw", "net.ipv4.ip_forward=1"]
        done = await spawn.run(argv)
        if done.returncode != 0:
            log.warning("cannot enable IPv4 forwarding (%s): traffic of pods on other nodes "
                        "will not reach this node's pods",
                        done.stderr.decode(errors="replace").strip())


class HostGateway:
    """The host-gw backend of one node: routes to the others' pod CIDRs, and masquerade."""

    def __init__(self, node_name: str, cluster_cidr: str, *,
                 routes: RouteTable | None = None, masquerade: Masquerade | None = None,
                 check_period: float = CHECK_PERIOD) -> None:
        self.node_name = node_name
        self.cluster_cidr = cluster_cidr
        self.routes = routes or RouteTable()
        self.masquerade = masquerade or Masquerade(cluster_cidr)
        self.check_period = check_period
        self._masqueraded: str | None = None  # the pod CIDR the rules were made for
        self._wake = asyncio.Event()
        self._refused: dict[str, str] = {}  # routes the kernel refused: dst -> gateway

    async def sync(self, nodes: Sequence[Mapping[str, Any]]) -> list[str]:
        """Make the kernel's routes those the nodes call for; returns the failures (one
        message per route that could not be made, of those tried) after trying every
        route but those refused before for the same gateway."""
        failures: list[str] = []
        own = next((n for n in nodes if (n.get("metadata") or {}).get("name")
                    == self.node_name), None)
        pod_cidr = node_pod_cidr(own) if own is not None else None
        if pod_cidr is not None and pod_cidr != self._masqueraded:
            await self.masquerade.sync(pod_cidr)
            self._masqueraded = pod_cidr
        wanted = await self.wanted(nodes, own)
        current = await self.routes.list()
        for dst in sorted(current.keys() - wanted.keys()):
            try:
                await self.routes.delete(dst)
                log.info("removed the route to %s (its node is gone)", dst)
            except RouteError as err:
                failures.append(str(err))
        for dst, gateway in sorted(wanted.items()):
            if current.get(dst) == gateway or self._refused.get(dst) == gateway:
                continue
            try:
                await self.routes.replace(dst, gateway, self.device)
                self._refused.pop(dst, None)
                log.info("route to %s via %s", dst, gateway)
            except RouteError as err:
                self._refused[dst] = gateway
                failures.append(f"{err}{self.refusal_hint}")
        return failures

    # What a backend decides: host-gw's, below; vxlan.py's VXLAN overrides them.
    device: str | None = None  # routes go through this device (onlink), else any
    refusal_hint = " (host-gw needs the nodes on one L2 segment)"

    async def wanted(self, nodes: Sequence[Mapping[str, Any]],
                     own: Mapping[str, Any] | None) -> dict[str, str]:
        """The routes the nodes call for: pod CIDR -> gateway."""
        return desired_routes(nodes, self.node_name)

    def _changed(self, *objs: Any) -> None:
        """A Node was added, updated or deleted: its route is tried again."""
        for obj in objs:
            if (cidr := node_pod_cidr(obj)) is not None:
                self._refused.pop(cidr, None)
        self._wake.set()

    async def run(self, client: ApiClient) -> None:
        """Watch Nodes and keep the routes until cancelled (the routes stay, as flannel's
        do, so pods keep talking while the node restarts)."""
        await self.routes.enable_forwarding()
        informers = SharedInformerFactory(client)
        nodes = informers.informer(("", "v1", "nodes"))
        registration = nodes.add_event_handler(self._changed, self._changed, self._changed)
        informers.start()
        try:
            await wait_for_cache_sync(registration)
            log.info("host-gw routes of node %s (cluster CIDR %s)", self.node_name,
                     self.cluster_cidr)
            while True:
                self._wake.clear()
                failures = await self.sync(nodes.store.list())
                for failure in failures:
                    log.error("host-gw: %s", failure)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.check_period)
        finally:
            await informers.shutdown()
