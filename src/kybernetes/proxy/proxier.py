"""kube-proxy on a node: informers in, rules out (upstream's cmd/kube-proxy and the
bounded-frequency runner of pkg/util/async).

Services, EndpointSlices and this node's Node are watched; every change marks its service
dirty and wakes the sync loop, which runs at most once per `min_sync_period` (upstream's
1 s), at least once per `sync_period` and does a full resync every hour or after a failed
sync. A sync hands the dirty services to the backend (nftables or iptables), then clears
stale UDP conntrack entries and records upstream's metrics and health.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

from kybernetes.client import ApiClient, SharedInformerFactory, wait_for_cache_sync
from kybernetes.proxy import conntrack, execute, health
from kybernetes.proxy.changes import SERVICE_PROXY_NAME_LABEL, ChangeTracker
from kybernetes.proxy.iptables import IptablesProxier
from kybernetes.proxy.metrics import ProxyMetrics
from kybernetes.proxy.nftables import NftablesProxier

log = logging.getLogger(__name__)

MODES = ("nftables", "iptables")
# upstream's proxyutil.FullSyncPeriod
FULL_SYNC_PERIOD = 3600.0
Obj = dict[str, Any]


class Backend(Protocol):
    @property
    def mode(self) -> str: ...

    async def sync(self, tracker: ChangeTracker, dirty: set[str], node_ips: list[str], *,
                   full: bool) -> None: ...

    async def cleanup(self) -> None: ...


@dataclass
class ProxyConfig:
    node_name: str
    cluster_cidr: str = ""
    masquerade_all: bool = False
    node_ips: tuple[str, ...] = ()  # used until the Node object says otherwise
    min_sync_period: float = 1.0
    sync_period: float = 30.0
    healthz_bind_address: str = "0.0.0.0:10256"  # "" : not served
    metrics_bind_address: str = "127.0.0.1:10249"


async def detect_mode(execute_: execute.Executor = execute.run) -> str:
    """nftables when the kernel and `nft` work here, else iptables (upstream's default
    is still iptables; k3s and this project prefer nftables where it works)."""
    try:
        done = await execute_(["nft", "list", "tables"], None)
    except OSError:
        return "iptables"
    return "nftables" if done.returncode == 0 else "iptables"


def make_backend(mode: str, config: ProxyConfig,
                 execute_: execute.Executor = execute.run) -> Backend:
    if mode == "nftables":
        return NftablesProxier(execute_, cluster_cidr=config.cluster_cidr,
                               masquerade_all=config.masquerade_all)
    if mode == "iptables":
        return IptablesProxier(execute_, cluster_cidr=config.cluster_cidr,
                               masquerade_all=config.masquerade_all)
    raise ValueError(f"unknown proxy mode {mode!r} (want one of {', '.join(MODES)})")


def node_addresses(node: Obj | None) -> list[str]:
    """The node's IPv4 InternalIP and ExternalIP addresses."""
    found = []
    for address in ((node or {}).get("status") or {}).get("addresses") or []:
        if address.get("type") in ("InternalIP", "ExternalIP"):
            with contextlib.suppress(ValueError):
                if ipaddress.ip_address(address.get("address", "")).version == 4:
                    found.append(address["address"])
    return found


def _split_host_port(address: str, default_port: int) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep:
        return address, default_port
    return host.strip("[]"), int(port)


class KubeProxy:
    def __init__(self, client: ApiClient, config: ProxyConfig, backend: Backend, *,
                 execute_: execute.Executor = execute.run) -> None:
        self.client = client
        self.config = config
        self.backend = backend
        self.execute = execute_
        self.tracker = ChangeTracker(config.node_name)
        self.metrics = ProxyMetrics(backend.mode)
        self.health = health.ProxyHealth(2 * config.sync_period)
        self.stale = conntrack.StaleFlows()
        self._node: Obj | None = None
        self._wake = asyncio.Event()
        self._need_full = True
        self._last_full = 0.0
        self.synced = asyncio.Event()  # set after each successful sync

    # -- informer handlers ------------------------------------------------------------

    def _changed(self) -> None:
        self.health.queued()
        self._wake.set()

    def _on_service(self, obj: Obj, deleted: bool = False) -> None:
        self.tracker.update_service(obj, deleted=deleted)
        if self.tracker.pending:
            self._changed()

    def _on_slice(self, obj: Obj, deleted: bool = False) -> None:
        self.tracker.update_slice(obj, deleted=deleted)
        if self.tracker.pending:
            self._changed()

    def _on_node(self, obj: Obj, deleted: bool = False) -> None:
        if obj["metadata"]["name"] == self.config.node_name:
            self._node = None if deleted else obj
            self._changed()

    def node_ips(self) -> list[str]:
        return node_addresses(self._node) or list(self.config.node_ips)

    # -- syncing ------------------------------------------------------------------------

    async def sync_once(self) -> None:
        """One sync of whatever changed (everything when a full sync is due)."""
        full = self._need_full or time.monotonic() - self._last_full > FULL_SYNC_PERIOD
        dirty = self.tracker.take_dirty()
        triggers = self.tracker.take_trigger_times()
        started = time.monotonic()
        try:
            await self.backend.sync(self.tracker, dirty, self.node_ips(), full=full)
        except Exception:
            self.metrics.sync_failures.inc()
            self._need_full = True
            raise
        elapsed = time.monotonic() - started
        self.metrics.sync_duration.observe(elapsed)
        (self.metrics.full_sync_duration if full
         else self.metrics.partial_sync_duration).observe(elapsed)
        if full:
            self._need_full, self._last_full = False, time.monotonic()
        now = time.time()
        for triggered in triggers:
            self.metrics.network_programming.observe(max(0.0, now - triggered))
        self.metrics.last_sync_timestamp.set(now)
        self.health.updated()
        await conntrack.clear(self.execute, self.stale.commands(
            self.tracker, self.tracker.services.keys() if full else dirty))
        self.synced.set()

    async def _sync_loop(self) -> None:
        last = -self.config.min_sync_period
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.config.sync_period)
            wait = last + self.config.min_sync_period - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._wake.clear()
            last = time.monotonic()
            try:
                await self.sync_once()
            except execute.CommandError as err:
                log.error("syncing proxy rules failed (retrying with a full sync): %s", err)
                self._wake.set()

    async def run(self) -> None:
        """Watch, sync and serve health until cancelled."""
        informers = SharedInformerFactory(self.client)
        services = informers.informer(
            ("", "v1", "services"),
            label_selector=f"!{SERVICE_PROXY_NAME_LABEL},!service.kubernetes.io/headless")
        slices = informers.informer(("discovery.k8s.io", "v1", "endpointslices"))
        nodes = informers.informer(("", "v1", "nodes"),
                                   field_selector=f"metadata.name={self.config.node_name}")
        registrations = [
            services.add_event_handler(self._on_service, lambda _o, n: self._on_service(n),
                                       lambda o: self._on_service(o, deleted=True)),
            slices.add_event_handler(self._on_slice, lambda _o, n: self._on_slice(n),
                                     lambda o: self._on_slice(o, deleted=True)),
            nodes.add_event_handler(self._on_node, lambda _o, n: self._on_node(n),
                                    lambda o: self._on_node(o, deleted=True))]
        tasks = [asyncio.create_task(self._serve(), name="kube-proxy-http")]
        informers.start()
        try:
            await wait_for_cache_sync(*registrations)
            log.info("kube-proxy (%s mode) on node %s", self.backend.mode,
                     self.config.node_name)
            await self._sync_loop()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await informers.shutdown()

    async def _serve(self) -> None:
        servers = []
        if self.config.healthz_bind_address:
            host, port = _split_host_port(self.config.healthz_bind_address, 10256)
            servers.append(health.serve(host, port, health.health_routes(self.health)))
        if self.config.metrics_bind_address:
            host, port = _split_host_port(self.config.metrics_bind_address, 10249)
            servers.append(health.serve(host, port,
                                        health.metrics_routes(self.metrics, self.health)))
        await asyncio.gather(*servers)
