"""Fixtures: informer stores seeded with a small cluster (no API server: the records are
computed from the caches alone), the DNS server on a loopback port over them, a stand-in
upstream resolver on another, and `ask` to query the server over UDP or TCP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import dns.asyncquery
import dns.message
import pytest

from kybernetes.client import Store
from kybernetes.dns.forward import Forwarder
from kybernetes.dns.records import ClusterRecords
from kybernetes.dns.server import DnsServer
from tests.dns.upstream import Upstream, running_upstream

Obj = dict[str, Any]

UPSTREAM_RECORDS = {
    ("www.example.org.", "A"): ["300 192.0.2.10"],
    ("db.example.org.", "A"): ["120 192.0.2.20"],
    ("mail.example.org.", "MX"): ["60 10 mx.example.org."],
    ("1.2.0.192.in-addr.arpa.", "PTR"): ["60 host.example.org."],
}


def service(namespace: str, name: str, cluster_ip: str | None, *ports: Obj,
            **spec: Any) -> Obj:
    body: Obj = {"ports": list(ports), **spec}
    if cluster_ip is not None:
        body["clusterIP"] = cluster_ip
        body["clusterIPs"] = [cluster_ip]
    return {"metadata": {"namespace": namespace, "name": name}, "spec": body}


def endpoint_slice(namespace: str, name: str, service_name: str, endpoints: list[Obj],
                   *ports: Obj) -> Obj:
    return {"metadata": {"namespace": namespace, "name": name,
                         "labels": {"kubernetes.io/service-name": service_name}},
            "addressType": "IPv4", "endpoints": endpoints, "ports": list(ports)}


def endpoint(ip: str, *, ready: bool | None = True, hostname: str | None = None) -> Obj:
    result: Obj = {"addresses": [ip], "conditions": {} if ready is None
                   else {"ready": ready}}
    if hostname:
        result["hostname"] = hostname
    return result


def seeded() -> tuple[Store, Store, Store]:
    namespaces = Store()
    for name in ("default", "kube-system", "shop"):
        namespaces.add({"metadata": {"name": name}})
    services = Store()
    for svc in (
        service("default", "kubernetes", "10.43.0.1",
                {"name": "https", "port": 443, "protocol": "TCP"}),
        service("shop", "web", "10.43.0.20", {"name": "http", "port": 80, "protocol": "TCP"},
                {"name": "metrics", "port": 9100, "protocol": "UDP"}),
        service("shop", "db", "None", {"name": "pg", "port": 5432, "protocol": "TCP"}),
        service("shop", "idle", "None", {"name": "http", "port": 80, "protocol": "TCP"}),
        service("shop", "many", "None"),
        service("shop", "v6", "fd00::10", {"name": "http", "port": 80, "protocol": "TCP"}),
        service("shop", "ext", None, type="ExternalName", externalName="www.example.org"),
        service("shop", "alias", None, type="ExternalName",
                externalName="web.shop.svc.cluster.local"),
    ):
        services.add(svc)
    slices = Store()
    for s in (
        endpoint_slice("shop", "db-1", "db", [
            endpoint("10.42.0.5", hostname="db-0"), endpoint("10.42.0.6", ready=None),
            endpoint("10.42.0.7", ready=False, hostname="db-2")],
            {"name": "pg", "port": 5432, "protocol": "TCP"}),
        endpoint_slice("shop", "idle-1", "idle", [endpoint("10.42.0.8", ready=False)],
                       {"name": "http", "port": 80, "protocol": "TCP"}),
        endpoint_slice("shop", "web-1", "web", [endpoint("10.42.0.9")],
                       {"name": "http", "port": 8080, "protocol": "TCP"}),
        endpoint_slice("shop", "many-1", "many",
                       [endpoint(f"10.42.1.{i}") for i in range(1, 101)]),
    ):
        slices.add(s)
    return services, slices, namespaces


@dataclass
class Cluster:
    records: ClusterRecords
    server: DnsServer
    upstream: Upstream
    port: int

    async def ask(self, name: str, rdtype: str = "A", *, tcp: bool = False,
                  **query: Any) -> dns.message.Message:
        message = dns.message.make_query(name, rdtype, **query)
        if tcp:
            return await dns.asyncquery.tcp(message, "127.0.0.1", port=self.port, timeout=5)
        return await dns.asyncquery.udp(message, "127.0.0.1", port=self.port, timeout=5)


Ask = Callable[..., Coroutine[Any, Any, dns.message.Message]]


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    services, slices, namespaces = seeded()
    records = ClusterRecords(services, slices, namespaces, dns_ips=["10.43.0.10"])
    async with running_upstream(UPSTREAM_RECORDS) as upstream:
        forwarder = Forwarder([("127.0.0.1", upstream.port)], timeout=2.0)
        server = DnsServer(records, forwarder)
        port = await server.start("127.0.0.1", 0)
        try:
            yield Cluster(records, server, upstream, port)
        finally:
            await server.close()
