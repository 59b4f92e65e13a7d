"""Names outside the cluster: forwarded to the upstream (a stand-in resolver on loopback),
cached, shared between concurrent askers, SERVFAIL when no upstream answers."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from kybernetes.dns.forward import Forwarder, _aged, resolv_conf_upstreams
from tests.dns.conftest import UPSTREAM_RECORDS, Cluster
from tests.dns.upstream import running_upstream

WWW = dns.name.from_text("www.example.org.")
A = dns.rdatatype.A


async def test_forwarded_answer(cluster: Cluster) -> None:
    response = await cluster.ask("www.example.org")
    assert response.rcode() == dns.rcode.NOERROR
    assert [r.to_text() for r in response.answer[0]] == ["192.0.2.10"]
    assert response.flags & dns.flags.RA and not response.flags & dns.flags.AA
    mx = await cluster.ask("mail.example.org", "MX", tcp=True)
    assert mx.answer[0][0].exchange.to_text() == "mx.example.org."
    missing = await cluster.ask("nothing.example.org")
    assert missing.rcode() == dns.rcode.NXDOMAIN
    assert missing.authority[0].rdtype == dns.rdatatype.SOA


async def test_answers_are_cached_with_ttl_capped() -> None:
    async with running_upstream(UPSTREAM_RECORDS) as upstream:
        forwarder = Forwarder([("127.0.0.1", upstream.port)])
        first = await forwarder.resolve(WWW, A)
        second = await forwarder.resolve(WWW, A)
        assert upstream.asked[("www.example.org.", "A")] == 1
        # Kept at most 30 s (k3s: `cache 30`), and said so.
        assert first.answer[0].ttl == 30 and second.answer[0].ttl <= 30
        # Negative answers too, for their SOA's minimum.
        nothing = dns.name.from_text("nothing.example.org.")
        for _ in range(2):
            assert (await forwarder.resolve(nothing, A)).rcode() == dns.rcode.NXDOMAIN
        assert upstream.asked[("nothing.example.org.", "A")] == 1
        forwarder.clear()
        await forwarder.resolve(WWW, A)
        assert upstream.asked[("www.example.org.", "A")] == 2


async def test_concurrent_misses_share_one_upstream_query() -> None:
    async with running_upstream(UPSTREAM_RECORDS) as upstream:
        forwarder = Forwarder([("127.0.0.1", upstream.port)])
        name = dns.name.from_text("db.example.org.")
        answers = await asyncio.gather(*(forwarder.resolve(name, A) for _ in range(5)))
        assert {a.answer[0][0].to_text() for a in answers} == {"192.0.2.20"}
        assert upstream.asked[("db.example.org.", "A")] == 1


async def test_next_upstream_then_servfail() -> None:
    dead = _unused_udp_port()
    async with running_upstream(UPSTREAM_RECORDS) as upstream:
        forwarder = Forwarder([("127.0.0.1", dead), ("127.0.0.1", upstream.port)],
                              timeout=1.0)
        assert (await forwarder.resolve(WWW, A)).answer
    nobody = Forwarder([("127.0.0.1", dead)], timeout=1.0)
    assert (await nobody.resolve(WWW, A)).rcode() == dns.rcode.SERVFAIL
    # The failure is remembered for a while: the next asker gets it from the cache.
    assert (await nobody.resolve(WWW, A)).rcode() == dns.rcode.SERVFAIL
    assert (nobody.hits, nobody.misses) == (1, 1)
    assert (await Forwarder([]).resolve(WWW, A)).rcode() == dns.rcode.SERVFAIL


async def test_servfail_through_the_server(cluster: Cluster) -> None:
    cluster.server.forwarder = Forwarder([("127.0.0.1", _unused_udp_port())], timeout=1.0)
    assert (await cluster.ask("www.example.net")).rcode() == dns.rcode.SERVFAIL


def test_cached_ttls_count_down() -> None:
    response = dns.message.make_response(dns.message.make_query(WWW, A))
    response.answer.append(dns.rrset.from_text(WWW, 30, "IN", "A", "192.0.2.10"))
    assert _aged(response, 12, 30).answer[0].ttl == 18
    assert _aged(response, 12, 20).answer[0].ttl == 8
    assert _aged(response, 40, 30).answer[0].ttl == 0
    assert response.answer[0].ttl == 30


def test_upstreams_from_resolv_conf(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("# comment\nsearch example.org\nnameserver 192.0.2.53\n"
                    "nameserver fe80::1%eth0\noptions ndots:2\n")
    assert resolv_conf_upstreams(conf) == [("192.0.2.53", 53), ("fe80::1", 53)]
    assert resolv_conf_upstreams(tmp_path / "missing") == []
    # Its own address would loop: dropped.
    own = Forwarder([("192.0.2.53", 53), ("10.0.0.1", 53)], own=[("10.0.0.1", 53)])
    assert own.upstreams == [("192.0.2.53", 53)]


async def test_several_queries_over_one_tcp_connection(cluster: Cluster) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", cluster.port)
    try:
        names = ["web.shop.svc.cluster.local", "www.example.org", "db.shop.svc.cluster.local"]
        for name in names:
            wire = dns.message.make_query(name, "A").to_wire()
            writer.write(len(wire).to_bytes(2, "big") + wire)
        await writer.drain()
        answers = []
        for _ in names:
            length = int.from_bytes(await reader.readexactly(2), "big")
            answers.append(dns.message.from_wire(await reader.readexactly(length)))
    finally:
        writer.close()
    assert [a.question[0].name.to_text() for a in answers] == [n + "." for n in names]
    assert [{r.to_text() for r in a.answer[0]} for a in answers] == [
        {"10.43.0.20"}, {"192.0.2.10"}, {"10.42.0.5", "10.42.0.6"}]


def _unused_udp_port() -> int:
    """A loopback port nothing listens on (queries there are refused at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
