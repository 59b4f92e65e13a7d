"""The cluster zone over the wire: every record type of the Kubernetes DNS specification,
NXDOMAIN against NODATA, EDNS0 and truncation, and malformed queries, asked of a real
server on loopback whose informer stores are seeded (tests/dns/conftest.py)."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from tests.dns.conftest import Cluster, endpoint, endpoint_slice, service

ZONE = "cluster.local."


def addresses(response: dns.message.Message) -> set[str]:
    return {rdata.to_text() for rrset in response.answer
            if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA) for rdata in rrset}


def texts(section: list[dns.rrset.RRset]) -> set[str]:
    return {line for rrset in section for line in rrset.to_text().splitlines()}


def assert_negative(response: dns.message.Message, rcode: dns.rcode.Rcode) -> None:
    assert response.rcode() == rcode
    assert response.answer == []
    (soa,) = response.authority
    assert soa.rdtype == dns.rdatatype.SOA and soa.name.to_text() == ZONE
    assert soa.ttl == 5 and soa[0].minimum == 5
    assert soa[0].mname.to_text() == "ns.dns.cluster.local."


async def test_cluster_ip_service(cluster: Cluster) -> None:
    response = await cluster.ask("web.shop.svc.cluster.local")
    assert response.rcode() == dns.rcode.NOERROR
    assert texts(response.answer) == {"web.shop.svc.cluster.local. 5 IN A 10.43.0.20"}
    assert response.flags & dns.flags.AA and response.flags & dns.flags.RA
    kubernetes = await cluster.ask("kubernetes.default.svc.cluster.local", tcp=True)
    assert addresses(kubernetes) == {"10.43.0.1"}


async def test_names_match_whatever_their_case(cluster: Cluster) -> None:
    response = await cluster.ask("Web.SHOP.svc.Cluster.Local")
    assert addresses(response) == {"10.43.0.20"}
    assert response.question[0].name.to_text() == "Web.SHOP.svc.Cluster.Local."


async def test_address_families(cluster: Cluster) -> None:
    assert addresses(await cluster.ask("v6.shop.svc.cluster.local", "AAAA")) == {"fd00::10"}
    assert_negative(await cluster.ask("v6.shop.svc.cluster.local", "A"), dns.rcode.NOERROR)
    assert_negative(await cluster.ask("web.shop.svc.cluster.local", "AAAA"),
                    dns.rcode.NOERROR)


@pytest.mark.parametrize("name", [
    "missing.shop.svc.cluster.local",       # no such Service
    "web.nowhere.svc.cluster.local",        # no such namespace
    "nowhere.svc.cluster.local",
    "foo.cluster.local",                    # neither svc nor pod
    "a.b.c.web.shop.svc.cluster.local",     # too many labels
    "_nope._tcp.web.shop.svc.cluster.local",  # no such port
    "idle.shop.svc.cluster.local",          # headless without ready endpoints
    "db-2.db.shop.svc.cluster.local",       # an endpoint that is not ready
    "web-0.web.shop.svc.cluster.local",     # no such endpoint
    "not-an-ip.shop.pod.cluster.local",
    "10-42-0-9.nowhere.pod.cluster.local",
])
async def test_names_that_do_not_exist(cluster: Cluster, name: str) -> None:
    assert_negative(await cluster.ask(name), dns.rcode.NXDOMAIN)


@pytest.mark.parametrize(("name", "rdtype"), [
    ("shop.svc.cluster.local", "A"),         # a namespace: an empty non-terminal
    ("svc.cluster.local", "A"),
    ("pod.cluster.local", "A"),
    ("cluster.local", "A"),
    ("dns.cluster.local", "A"),
    ("web.shop.svc.cluster.local", "TXT"),   # an existing name, another type
    ("web.shop.svc.cluster.local", "MX"),
    ("dns-version.cluster.local", "A"),
    ("10-42-0-9.shop.pod.cluster.local", "AAAA"),
    ("ext.shop.svc.cluster.local", "SRV"),
])
async def test_names_without_records_of_the_type(cluster: Cluster, name: str,
                                                 rdtype: str) -> None:
    assert_negative(await cluster.ask(name, rdtype), dns.rcode.NOERROR)


async def test_headless_service_returns_ready_endpoints(cluster: Cluster) -> None:
    response = await cluster.ask("db.shop.svc.cluster.local")
    assert addresses(response) == {"10.42.0.5", "10.42.0.6"}
    assert response.answer[0].ttl == 5


async def test_endpoint_names(cluster: Cluster) -> None:
    assert addresses(await cluster.ask("db-0.db.shop.svc.cluster.local")) == {"10.42.0.5"}
    # Without a hostname, an endpoint is named by its address.
    assert addresses(await cluster.ask("10-42-0-6.db.shop.svc.cluster.local")) == \
        {"10.42.0.6"}
    # A ClusterIP Service's endpoints have names too (CoreDNS).
    assert addresses(await cluster.ask("10-42-0-9.web.shop.svc.cluster.local")) == \
        {"10.42.0.9"}


async def test_srv_for_named_ports(cluster: Cluster) -> None:
    response = await cluster.ask("_http._tcp.web.shop.svc.cluster.local", "SRV")
    assert texts(response.answer) == {
        "_http._tcp.web.shop.svc.cluster.local. 5 IN SRV 0 100 80 "
        "web.shop.svc.cluster.local."}
    assert texts(response.additional) == {"web.shop.svc.cluster.local. 5 IN A 10.43.0.20"}
    udp = await cluster.ask("_metrics._udp.web.shop.svc.cluster.local", "SRV")
    assert [rdata.port for rdata in udp.answer[0]] == [9100]
    assert_negative(await cluster.ask("_metrics._tcp.web.shop.svc.cluster.local", "SRV"),
                    dns.rcode.NXDOMAIN)


async def test_srv_of_a_headless_service_names_each_endpoint(cluster: Cluster) -> None:
    response = await cluster.ask("_pg._tcp.db.shop.svc.cluster.local", "SRV")
    assert texts(response.answer) == {
        "_pg._tcp.db.shop.svc.cluster.local. 5 IN SRV 0 50 5432 "
        "db-0.db.shop.svc.cluster.local.",
        "_pg._tcp.db.shop.svc.cluster.local. 5 IN SRV 0 50 5432 "
        "10-42-0-6.db.shop.svc.cluster.local."}
    assert texts(response.additional) == {
        "db-0.db.shop.svc.cluster.local. 5 IN A 10.42.0.5",
        "10-42-0-6.db.shop.svc.cluster.local. 5 IN A 10.42.0.6"}


async def test_ptr_for_service_and_endpoint_addresses(cluster: Cluster) -> None:
    service_ptr = await cluster.ask("20.0.43.10.in-addr.arpa", "PTR")
    assert texts(service_ptr.answer) == {
        "20.0.43.10.in-addr.arpa. 5 IN PTR web.shop.svc.cluster.local."}
    assert service_ptr.flags & dns.flags.AA
    endpoint_ptr = await cluster.ask("5.0.42.10.in-addr.arpa", "PTR")
    assert texts(endpoint_ptr.answer) == {
        "5.0.42.10.in-addr.arpa. 5 IN PTR db-0.db.shop.svc.cluster.local."}
    unnamed = await cluster.ask("6.0.42.10.in-addr.arpa", "PTR")
    assert [r.target.to_text() for r in unnamed.answer[0]] == [
        "10-42-0-6.db.shop.svc.cluster.local."]
    # Addresses that are not the cluster's go to the upstream resolvers.
    outside = await cluster.ask("1.2.0.192.in-addr.arpa", "PTR")
    assert texts(outside.answer) == {"1.2.0.192.in-addr.arpa. 30 IN PTR host.example.org."}


async def test_pod_names(cluster: Cluster) -> None:
    response = await cluster.ask("10-42-0-99.shop.pod.cluster.local")
    assert texts(response.answer) == {"10-42-0-99.shop.pod.cluster.local. 5 IN A 10.42.0.99"}
    v6 = await cluster.ask("fd00--1.shop.pod.cluster.local", "AAAA")
    assert addresses(v6) == {"fd00::1"}


async def test_external_name_is_a_cname(cluster: Cluster) -> None:
    response = await cluster.ask("ext.shop.svc.cluster.local")
    assert texts(response.answer) == {
        "ext.shop.svc.cluster.local. 5 IN CNAME www.example.org.",
        "www.example.org. 30 IN A 192.0.2.10"}
    only = await cluster.ask("ext.shop.svc.cluster.local", "CNAME")
    assert texts(only.answer) == {"ext.shop.svc.cluster.local. 5 IN CNAME www.example.org."}
    # A target inside the cluster zone is followed there.
    alias = await cluster.ask("alias.shop.svc.cluster.local")
    assert texts(alias.answer) == {
        "alias.shop.svc.cluster.local. 5 IN CNAME web.shop.svc.cluster.local.",
        "web.shop.svc.cluster.local. 5 IN A 10.43.0.20"}


async def test_zone_apex_and_schema_version(cluster: Cluster) -> None:
    version = await cluster.ask("dns-version.cluster.local", "TXT")
    assert texts(version.answer) == {'dns-version.cluster.local. 28800 IN TXT "1.1.0"'}
    soa = await cluster.ask("cluster.local", "SOA")
    assert soa.answer[0][0].rname.to_text() == "hostmaster.cluster.local."
    ns = await cluster.ask("cluster.local", "NS")
    assert texts(ns.answer) == {"cluster.local. 5 IN NS ns.dns.cluster.local."}
    assert texts(ns.additional) == {"ns.dns.cluster.local. 5 IN A 10.43.0.10"}
    assert addresses(await cluster.ask("ns.dns.cluster.local")) == {"10.43.0.10"}


async def test_edns_and_truncation(cluster: Cluster) -> None:
    # 100 addresses do not fit in 512 bytes: empty with TC over UDP without EDNS...
    plain = await cluster.ask("many.shop.svc.cluster.local")
    assert plain.flags & dns.flags.TC and plain.answer == [] and plain.edns < 0
    # ...fit in the payload EDNS0 offers, which the answer's OPT states in turn...
    edns = await cluster.ask("many.shop.svc.cluster.local", use_edns=0, payload=4096)
    assert not edns.flags & dns.flags.TC and len(addresses(edns)) == 100
    assert edns.edns == 0 and edns.payload == 1232
    # ...and come whole over TCP.
    tcp = await cluster.ask("many.shop.svc.cluster.local", tcp=True)
    assert not tcp.flags & dns.flags.TC and len(addresses(tcp)) == 100


async def test_changes_reach_answers_given_before(cluster: Cluster) -> None:
    assert_negative(await cluster.ask("new.shop.svc.cluster.local"), dns.rcode.NXDOMAIN)
    before = await cluster.ask("web.shop.svc.cluster.local")
    assert addresses(before) == {"10.43.0.20"}
    assert addresses(await cluster.ask("db.shop.svc.cluster.local")) == \
        {"10.42.0.5", "10.42.0.6"}
    assert_negative(await cluster.ask("api.late.svc.cluster.local"), dns.rcode.NXDOMAIN)
    records = cluster.records
    # What the informers do: change the store, then tell the handlers.
    new = service("shop", "new", "10.43.0.30", {"name": "http", "port": 80})
    records.services.add(new)
    records.changed(new)
    moved = endpoint_slice("shop", "db-1", "db", [endpoint("10.42.0.55")],
                           {"name": "pg", "port": 5432, "protocol": "TCP"})
    old = records.endpoint_slices.add(moved)
    assert old is not None
    records.changed(old, moved)
    late = {"metadata": {"name": "late"}}
    records.namespaces.add(late)
    records.namespace_changed(late)
    api = service("late", "api", "10.43.0.40", {"name": "http", "port": 80})
    records.services.add(api)
    records.changed(api)
    assert addresses(await cluster.ask("new.shop.svc.cluster.local")) == {"10.43.0.30"}
    assert addresses(await cluster.ask("db.shop.svc.cluster.local")) == {"10.42.0.55"}
    assert addresses(await cluster.ask("api.late.svc.cluster.local")) == {"10.43.0.40"}
    assert addresses(await cluster.ask("web.shop.svc.cluster.local")) == {"10.43.0.20"}
    # A deletion in one namespace; the ExternalName alias pointing there follows too.
    alias = await cluster.ask("alias.shop.svc.cluster.local")
    assert addresses(alias) == {"10.43.0.20"}
    gone = records.services.delete_key("shop/web")
    assert gone is not None
    records.changed(gone)
    assert_negative(await cluster.ask("web.shop.svc.cluster.local"), dns.rcode.NXDOMAIN)
    assert addresses(await cluster.ask("alias.shop.svc.cluster.local")) == set()


async def test_bad_queries(cluster: Cluster) -> None:
    notify = dns.message.make_query("web.shop.svc.cluster.local", "SOA")
    notify.set_opcode(dns.opcode.NOTIFY)
    assert (await _raw(cluster, notify)).rcode() == dns.rcode.NOTIMP
    future = dns.message.make_query("web.shop.svc.cluster.local", "A", use_edns=1)
    assert (await _raw(cluster, future)).rcode() == dns.rcode.BADVERS
    chaos = dns.message.make_query("version.bind", "TXT", "CH")
    assert (await _raw(cluster, chaos)).rcode() == dns.rcode.REFUSED
    transfer = dns.message.make_query("cluster.local", "AXFR")
    assert (await _raw(cluster, transfer)).rcode() == dns.rcode.REFUSED
    two = dns.message.make_query("web.shop.svc.cluster.local", "A")
    two.question.append(dns.message.make_query("db.shop.svc.cluster.local", "A").question[0])
    assert (await _raw(cluster, two)).rcode() == dns.rcode.FORMERR


async def test_malformed_message_gets_formerr(cluster: Cluster) -> None:
    import asyncio

    loop = asyncio.get_running_loop()
    received: asyncio.Future[bytes] = loop.create_future()

    class Client(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: object) -> None:
            received.set_result(data)

    transport, _ = await loop.create_datagram_endpoint(
        Client, remote_addr=("127.0.0.1", cluster.port))
    try:
        # A header claiming one question, and then no question.
        transport.sendto(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07garbage")
        response = dns.message.from_wire(await asyncio.wait_for(received, 5))
    finally:
        transport.close()
    assert response.id == 0x1234 and response.rcode() == dns.rcode.FORMERR


async def _raw(cluster: Cluster, query: dns.message.Message) -> dns.message.Message:
    import dns.asyncquery

    return await dns.asyncquery.udp(query, "127.0.0.1", port=cluster.port, timeout=5)
