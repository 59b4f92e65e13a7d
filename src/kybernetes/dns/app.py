"""The cluster DNS as a component: informers, records, forwarder, server and publisher
wired together and run until cancelled (by `kyb dns`, and inside `kyb server`).

Like CoreDNS's kubernetes plugin it lists and watches Services, EndpointSlices and
Namespaces (as its own identity, `system:kybernetes:dns`), and Nodes for whom it answers;
it starts answering once the caches hold a complete list (or after 5 s, as CoreDNS).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from kybernetes.api.version import user_agent
from kybernetes.client import ApiClient, SharedInformerFactory
from kybernetes.dns.acl import ClientAcl
from kybernetes.dns.forward import Forwarder, resolv_conf_upstreams
from kybernetes.dns.metrics import serve_metrics
from kybernetes.dns.publish import KubeDnsPublisher
from kybernetes.dns.records import ClusterRecords
from kybernetes.dns.server import DnsServer

log = logging.getLogger(__name__)

DNS_AGENT = user_agent("kybernetes-dns")
# CoreDNS starts serving after at most this long even when its caches have not synced.
SYNC_TIMEOUT = 5.0


@dataclass(frozen=True)
class DnsOptions:
    bind: str
    port: int = 53
    domain: str = "cluster.local"
    cluster_ip: str = "10.43.0.10"
    resolv_conf: Path = Path("/etc/resolv.conf")
    node_name: str | None = None
    # The pod networks whose clients (with loopback and the Nodes' addresses) may ask.
    client_networks: tuple[str, ...] = ("10.42.0.0/16",)
    # Whether to keep the kube-dns Service and its EndpointSlice pointing here.
    publish: bool = True
    # Where /metrics is served, on the same address (None: nowhere).
    metrics_port: int | None = 9153


async def serve(client: ApiClient, options: DnsOptions) -> None:
    """Run the DNS server until cancelled."""
    factory = SharedInformerFactory(client)
    services = factory.informer(("", "v1", "services"))
    slices = factory.informer(("discovery.k8s.io", "v1", "endpointslices"))
    namespaces = factory.informer(("", "v1", "namespaces"))
    nodes = factory.informer(("", "v1", "nodes"))
    acl = ClientAcl(options.client_networks, nodes.store)
    nodes.add_event_handler(acl.nodes_changed, acl.nodes_changed, acl.nodes_changed,
                            name="dns:nodes")
    records = ClusterRecords(services.store, slices.store, namespaces.store,
                             domain=options.domain, dns_ips=[options.cluster_ip])
    for informer in (services, slices):
        informer.add_event_handler(records.changed, records.changed, records.changed,
                                   name=f"dns:{informer.name}")
    namespaces.add_event_handler(records.namespace_changed, records.namespace_changed,
                                 records.namespace_changed, name="dns:namespaces")
    forwarder = Forwarder(resolv_conf_upstreams(options.resolv_conf),
                          own=[(options.bind, options.port)])
    server = DnsServer(records, forwarder, acl=acl)
    host = f"[{options.bind}]" if ":" in options.bind else options.bind
    server.metrics.server = f"dns://{host}:{options.port}"
    publisher = KubeDnsPublisher(client, services.store, slices.store,
                                 cluster_ip=options.cluster_ip, address=options.bind,
                                 port=options.port, metrics_port=options.metrics_port,
                                 node_name=options.node_name)
    if options.publish:
        for informer in (services, slices):
            informer.add_event_handler(publisher.poke, publisher.poke, publisher.poke,
                                       name=f"dns-publish:{informer.name}")
    factory.start()
    try:
        if not await factory.wait_for_cache_sync(SYNC_TIMEOUT):
            log.warning("starting the DNS server with unsynced caches")
        await server.start(options.bind, options.port)
        metrics = None
        try:
            if options.metrics_port is not None:
                metrics = await serve_metrics(options.bind, options.metrics_port,
                                              server.render_metrics)
            log.info("DNS server for %s on %s:%d, forwarding to %s", options.domain,
                     options.bind, options.port,
                     ", ".join(f"{h}:{p}" for h, p in forwarder.upstreams) or "nothing")
            if options.publish:
                await publisher.run()
            else:
                await _forever()
        finally:
            if metrics is not None:
                metrics.close()
            await server.close()
    finally:
        await factory.shutdown()


async def _forever() -> None:
    await asyncio.Event().wait()
