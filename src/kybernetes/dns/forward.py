"""Names outside the cluster zone: asked of the node's resolvers, the answers cached.

As k3s's Corefile does with `forward . /etc/resolv.conf` and `cache 30` (CoreDNS's
plugin/forward and plugin/cache): the upstreams are the `nameserver` lines of a
resolv.conf, tried in order; each query goes over UDP from a fresh connected socket (a
random source port; only the upstream's datagrams that answer the question count), again
over TCP when the answer comes back truncated, and to the next upstream on a timeout, an
ICMP refusal or a SERVFAIL/REFUSED; when none answers the client gets SERVFAIL. Answers
are cached for their smallest TTL, negative ones (NXDOMAIN, NODATA) for their SOA's
minimum, both capped at 30 s (and served so), their TTLs counted down; a failure for 5 s
(CoreDNS's `servfail` default), so a dead upstream is not asked again at every query.
Concurrent misses of one question share a single upstream query. An upstream that is this
server's own listening address is dropped (it would loop).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

log = logging.getLogger(__name__)

MAX_TTL = 30
# How long a failure (no upstream answered) is remembered, CoreDNS's cache `servfail`.
SERVFAIL_TTL = 5
CACHE_SIZE = 10000
TIMEOUT = 2.0
EDNS_PAYLOAD = 1232

Upstream = tuple[str, int]
Question = tuple[dns.name.Name, int, int]


def resolv_conf_upstreams(path: Path) -> list[Upstream]:
    """The `nameserver` addresses of a resolv.conf, on port 53."""
    try:
        text = path.read_text()
    except OSError as err:
        log.warning("cannot read %s (%s): names outside the cluster will not resolve",
                    path, err)
        return []
    upstreams = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            upstreams.append((fields[1].split("%", 1)[0], 53))
    return upstreams


@dataclass
class _Entry:
    response: dns.message.Message
    stored: float
    ttl: int


class Forwarder:
    """Resolves questions through the upstreams, with a cache."""

    def __init__(self, upstreams: Sequence[Upstream], *, own: Sequence[Upstream] = (),
                 timeout: float = TIMEOUT, cache_size: int = CACHE_SIZE,
                 max_ttl: int = MAX_TTL) -> None:
        self.upstreams = [u for u in upstreams if u not in own]
        for dropped in (u for u in upstreams if u in own):
            log.warning("not forwarding to %s:%d: that is this DNS server", *dropped)
        self.timeout = timeout
        self.cache_size = cache_size
        self.max_ttl = max_ttl
        self._cache: dict[tuple[str, int, int], _Entry] = {}
        self._inflight: dict[tuple[str, int, int], asyncio.Future[dns.message.Message]] = {}
        self.hits = self.misses = 0
        # Queries sent, by upstream ("host:port").
        self.requests: Counter[str] = Counter()

    @property
    def entries(self) -> int:
        return len(self._cache)

    async def resolve(self, qname: dns.name.Name, rdtype: dns.rdatatype.RdataType,
                      rdclass: dns.rdataclass.RdataClass = dns.rdataclass.IN
                      ) -> dns.message.Message:
        """The upstream answer (from the cache when fresh); its rcode SERVFAIL when no
        upstream answered."""
        key = (qname.to_text().lower(), rdtype, rdclass)
        entry = self._cache.get(key)
        now = time.monotonic()
        if entry is not None:
            age = int(now - entry.stored)
            if age < entry.ttl:
                self.hits += 1
                return _aged(entry.response, age, entry.ttl)
            del self._cache[key]
        self.misses += 1
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[dns.message.Message] = \
            asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            response = await self._ask(qname, rdtype, rdclass)
            future.set_result(response)
        except BaseException as err:
            future.set_exception(err)
            future.exception()  # retrieved: waiters get it, nobody else must
            raise
        finally:
            del self._inflight[key]
        ttl = _cache_ttl(response, self.max_ttl)
        if ttl <= 0:
            return response
        response = _aged(response, 0, ttl)
        if len(self._cache) >= self.cache_size:
            del self._cache[next(iter(self._cache))]
        self._cache[key] = _Entry(response, time.monotonic(), ttl)
        return response

    async def _ask(self, qname: dns.name.Name, rdtype: dns.rdatatype.RdataType,
                   rdclass: dns.rdataclass.RdataClass) -> dns.message.Message:
        query = dns.message.make_query(qname, rdtype, rdclass, use_edns=0,
                                       payload=EDNS_PAYLOAD)
        for host, port in self.upstreams:
            self.requests[f"{host}:{port}"] += 1
            try:
                async with asyncio.timeout(self.timeout):
                    response = await _exchange_udp(query, host, port)
                if response.flags & dns.flags.TC:
                    response = await dns.asyncquery.tcp(query, host, port=port,
                                                        timeout=self.timeout)
            except (OSError, TimeoutError, dns.exception.DNSException) as err:
                log.debug("upstream %s:%d failed for %s: %s", host, port, qname, err)
                continue
            if response.rcode() in (dns.rcode.SERVFAIL, dns.rcode.REFUSED):
                continue
            return response
        failed = dns.message.make_response(query)
        failed.set_rcode(dns.rcode.SERVFAIL)
        return failed

    def clear(self) -> None:
        self._cache.clear()


class _UdpExchange(asyncio.DatagramProtocol):
    """One query over a connected UDP socket: the kernel picks a random source port and
    passes on only the upstream's datagrams; an ICMP refusal fails it at once."""

    def __init__(self, query: dns.message.Message) -> None:
        self.query = query
        self.done: asyncio.Future[dns.message.Message] = \
            asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        try:
            response = dns.message.from_wire(data)
        except dns.exception.DNSException:
            return
        if self.query.is_response(response) and not self.done.done():
            self.done.set_result(response)

    def error_received(self, exc: Exception) -> None:
        if not self.done.done():
            self.done.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(exc or ConnectionError("socket closed"))


async def _exchange_udp(query: dns.message.Message, host: str, port: int
                        ) -> dns.message.Message:
    exchange = _UdpExchange(query)
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: exchange, remote_addr=(host, port))
    try:
        transport.sendto(query.to_wire())
        return await exchange.done
    finally:
        transport.close()


def _cache_ttl(response: dns.message.Message, max_ttl: int) -> int:
    rcode = response.rcode()
    if rcode == dns.rcode.SERVFAIL:
        return min(SERVFAIL_TTL, max_ttl)
    if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        return 0
    if rcode == dns.rcode.NOERROR and response.answer:
        ttls = [rrset.ttl for rrset in response.answer]
        return min(min(ttls), max_ttl)
    for rrset in response.authority:
        if rrset.rdtype == dns.rdatatype.SOA:
            minimum: int = getattr(rrset[0], "minimum", 0)
            return min(rrset.ttl, minimum, max_ttl)
    return 0


def _aged(response: dns.message.Message, age: int, cap: int) -> dns.message.Message:
    """A copy of `response` with every TTL at most `cap` and lowered by `age` seconds (as
    CoreDNS's cache serves what it holds)."""
    copy = dns.message.Message(id=response.id)
    copy.flags = response.flags
    copy.set_rcode(response.rcode())
    copy.question = list(response.question)
    for section, target in ((response.answer, copy.answer),
                            (response.authority, copy.authority),
                            (response.additional, copy.additional)):
        for rrset in section:
            ttl = max(0, min(rrset.ttl, cap) - age)
            target.append(dns.rrset.from_rdata_list(rrset.name, ttl, list(rrset)))
    return copy
