"""The DNS server: queries over UDP and TCP, answered from the cluster's records or the
forwarder, in dnspython's wire format.

What CoreDNS's server core and its plugins chain do for k3s's Corefile, on asyncio:

- Clients outside the cluster get REFUSED (`acl.py`).
- Queries are parsed and answers rendered by dnspython. A query that does not parse gets
  FORMERR (when its header can be read), a non-QUERY opcode NOTIMP, a question count other
  than one FORMERR, an EDNS version above 0 BADVERS, a class other than IN and zone
  transfers REFUSED. Responses have RA set (the server recurses for its clients) and AA
  for the cluster zone.
- EDNS0: a query with an OPT record gets one back (payload 1232); a UDP answer larger
  than the client's payload (512 bytes without EDNS) is sent empty with TC set, so the
  client asks again over TCP. TCP messages carry their two-byte length prefix; a
  connection may send several queries and is closed after 10 s idle.
- Rendered answers are reused: a query whose bytes (after the ID) equal an earlier one's
  gets the earlier answer with its own ID, as long as nothing changed since that could
  alter it (for a name of a namespace, a change in that namespace; see records.py), and
  forwarded answers for one second, so that their TTLs keep counting down.
  That keeps a steady stream of the same lookups, which is what pods' resolvers send,
  cheap to answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Coroutine
from typing import Any, cast

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from kybernetes.dns.acl import ClientAcl
from kybernetes.dns.forward import Forwarder
from kybernetes.dns.metrics import DnsMetrics
from kybernetes.dns.records import Answer, ClusterRecords

log = logging.getLogger(__name__)

EDNS_PAYLOAD = 1232
UDP_MIN_PAYLOAD = 512
TCP_IDLE_TIMEOUT = 10.0
RESPONSE_CACHE_SIZE = 10000
# Forwarded answers are re-rendered this often, for their TTLs to count down.
_FORWARDED_REUSE = 1.0
_NEVER = math.inf
_HEADER = 12
_FREE_PORT_ATTEMPTS = 20

Reply = bytes | Coroutine[Any, Any, bytes | None] | None
# ((proto, query type), rcode) of an answer, for the metrics.
_Labels = tuple[tuple[str, str], str]
_PROTO = {True: "udp", False: "tcp"}


class DnsServer:
    """Answers queries; `start` binds it to an address over UDP and TCP."""

    def __init__(self, records: ClusterRecords, forwarder: Forwarder, *,
                 acl: ClientAcl | None = None, cache_size: int = RESPONSE_CACHE_SIZE
                 ) -> None:
        self.records = records
        self.forwarder = forwarder
        self.acl = acl
        self.cache_size = cache_size
        self.metrics = DnsMetrics()
        # (over UDP, query bytes after the ID) -> (scope, its generation or -1 for an
        # answer not from the records, reusable until, rendered answer, its metric labels).
        self._responses: dict[tuple[bool, bytes],
                              tuple[str | None, int, float, bytes, _Labels]] = {}
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- answering ----------------------------------------------------------------------

    def handle(self, data: bytes, *, udp: bool, client: str = "127.0.0.1") -> Reply:
        """The answer to one query message from `client`: its bytes, a coroutine that will
        produce them (forwarding), or None when the message gets no answer (not a query,
        or unreadable from a client that may not ask)."""
        if self.acl is not None and not self.acl.allows(client):
            self._count(((_PROTO[udp], "other"), "REFUSED"))
            return _refused(data)
        key = (udp, data[2:])
        cached = self._responses.get(key)
        if cached is not None:
            scope, generation, until, wire, labels = cached
            if (generation < 0 or generation == self.records.generation_of(scope)) and \
                    (until == _NEVER or until > time.monotonic()):
                self._count(labels)
                return data[:2] + wire
            del self._responses[key]
        try:
            query = dns.message.from_wire(data)
        except dns.message.ShortHeader:
            return None
        except Exception:  # whatever the bytes, a malformed message is the client's error
            self._count(((_PROTO[udp], "other"), "FORMERR"))
            return _format_error(data)
        if query.flags & dns.flags.QR:
            return None
        try:
            return self._answer(query, key)
        except Exception:
            log.exception("answering %s failed", query.question)
            return self._render(query, Answer(rcode=dns.rcode.SERVFAIL), udp=udp)

    def _answer(self, query: dns.message.Message, key: tuple[bool, bytes]) -> Reply:
        udp = key[0]
        if query.opcode() != dns.opcode.QUERY:
            return self._render(query, Answer(rcode=dns.rcode.NOTIMP), udp=udp)
        if len(query.question) != 1:
            return self._render(query, Answer(rcode=dns.rcode.FORMERR), udp=udp)
        if query.edns > 0:
            return self._render(query, Answer(rcode=dns.rcode.BADVERS), udp=udp)
        question = query.question[0]
        qname, rdtype = question.name, question.rdtype
        if question.rdclass != dns.rdataclass.IN or \
                rdtype in (dns.rdatatype.AXFR, dns.rdatatype.IXFR):
            return self._render(query, Answer(rcode=dns.rcode.REFUSED), udp=udp)
        records = self.records
        if records.in_zone(qname):
            answer = records.lookup(qname, rdtype)
            if answer.chase is not None:
                # The target may be anywhere: reused only until the next change at all.
                return self._chased(query, answer, answer.chase, key, records.generation)
            wire = self._render(query, answer, udp=udp, authoritative=True)
            self._remember(key, answer.scope, records.generation_of(answer.scope), _NEVER,
                           wire, query, answer.rcode)
            return wire
        if rdtype == dns.rdatatype.PTR and records.is_reverse(qname):
            found = records.reverse(qname)
            if found is not None:
                wire = self._render(query, found, udp=udp, authoritative=True)
                self._remember(key, None, records.generation, _NEVER, wire, query,
                               found.rcode)
                return wire
        return self._forwarded(query, key)

    async def _forwarded(self, query: dns.message.Message, key: tuple[bool, bytes]
                         ) -> bytes:
        question = query.question[0]
        upstream = await self.forwarder.resolve(question.name, question.rdtype,
                                                question.rdclass)
        answer = Answer(rcode=upstream.rcode(), answer=list(upstream.answer),
                        authority=list(upstream.authority),
                        additional=list(upstream.additional))
        wire = self._render(query, answer, udp=key[0])
        if answer.rcode != dns.rcode.SERVFAIL:
            self._remember(key, None, -1, time.monotonic() + _FORWARDED_REUSE, wire, query,
                           answer.rcode)
        return wire

    async def _chased(self, query: dns.message.Message, answer: Answer,
                      target: dns.name.Name, key: tuple[bool, bytes], generation: int
                      ) -> bytes:
        """An ExternalName's CNAME, followed by the target's records of the asked type."""
        rdtype = query.question[0].rdtype
        if self.records.in_zone(target):
            found = self.records.lookup(target, rdtype)
            answer.answer.extend(found.answer)
            answer.authority, answer.rcode = found.authority, found.rcode
        else:
            upstream = await self.forwarder.resolve(target, rdtype)
            answer.answer.extend(upstream.answer)
            answer.authority, answer.rcode = list(upstream.authority), upstream.rcode()
        wire = self._render(query, answer, udp=key[0], authoritative=True)
        if answer.rcode != dns.rcode.SERVFAIL:
            self._remember(key, None, generation, time.monotonic() + _FORWARDED_REUSE, wire,
                           query, answer.rcode)
        return wire

    def _render(self, query: dns.message.Message, answer: Answer, *, udp: bool,
                authoritative: bool = False) -> bytes:
        self._count(_labels(query, udp, answer.rcode))
        response = dns.message.make_response(query, recursion_available=True,
                                             our_payload=EDNS_PAYLOAD)
        if authoritative:
            response.flags |= dns.flags.AA
        response.set_rcode(answer.rcode)
        response.answer = answer.answer
        response.authority = answer.authority
        response.additional = answer.additional
        limit = 65535
        if udp:
            limit = max(UDP_MIN_PAYLOAD, min(query.payload, 65535)) if query.edns >= 0 \
                else UDP_MIN_PAYLOAD
        try:
            return response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            response.answer, response.authority, response.additional = [], [], []
            response.flags |= dns.flags.TC
            return response.to_wire(max_size=limit)

    def _count(self, labels: _Labels) -> None:
        metrics = self.metrics
        metrics.requests[labels[0]] += 1
        metrics.responses[labels[1]] += 1

    def render_metrics(self) -> str:
        metrics, forwarder = self.metrics, self.forwarder
        metrics.cache_entries = forwarder.entries
        metrics.cache_hits, metrics.cache_misses = forwarder.hits, forwarder.misses
        metrics.forward_requests = forwarder.requests
        return metrics.render()

    def _remember(self, key: tuple[bool, bytes], scope: str | None, generation: int,
                  until: float, wire: bytes, query: dns.message.Message,
                  rcode: dns.rcode.Rcode) -> None:
        responses = self._responses
        if self.cache_size <= 0:
            return
        if len(responses) >= self.cache_size:
            del responses[next(iter(responses))]
        responses[key] = (scope, generation, until, wire[2:], _labels(query, key[0], rcode))

    # -- listening ----------------------------------------------------------------------

    async def start(self, host: str, port: int) -> int:
        """Listen on `host`:`port` over UDP and TCP; returns the port. With port 0, a free
        UDP port whose TCP twin is free too."""
        loop = asyncio.get_running_loop()
        attempts_left = _FREE_PORT_ATTEMPTS if port == 0 else 1
        while True:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _UdpProtocol(self), local_addr=(host, port))
            bound = int(transport.get_extra_info("sockname")[1])
            try:
                self._tcp = await asyncio.start_server(self._tcp_client, host, bound,
                                                       reuse_address=True)
            except OSError:
                transport.close()
                attempts_left -= 1
                if attempts_left <= 0:
                    raise
                continue
            self._udp = transport
            return bound

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._tcp is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._tcp.wait_closed(), 1.0)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _tcp_client(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        client = str((writer.get_extra_info("peername") or ("",))[0])
        try:
            while True:
                async with asyncio.timeout(TCP_IDLE_TIMEOUT):
                    length = int.from_bytes(await reader.readexactly(2), "big")
                    data = await reader.readexactly(length)
                reply = self.handle(data, udp=False, client=client)
                if reply is not None and not isinstance(reply, bytes):
                    reply = await reply
                if reply is None:
                    break
                writer.write(len(reply).to_bytes(2, "big") + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass
        except Exception:
            log.exception("serving a TCP client failed")
        finally:
            writer.close()


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        reply = self.server.handle(data, udp=True, client=str(addr[0]))
        if reply is None or self.transport is None:
            return
        if isinstance(reply, bytes):
            self.transport.sendto(reply, addr)
        else:
            self.server._spawn(self._send_later(reply, addr))

    async def _send_later(self, reply: Coroutine[Any, Any, bytes | None],
                          addr: tuple[str | Any, int]) -> None:
        try:
            wire = await reply
        except Exception:
            log.exception("answering a query from %s failed", addr[0])
            return
        if wire is not None and self.transport is not None:
            self.transport.sendto(wire, addr)


def _labels(query: dns.message.Message, udp: bool, rcode: dns.rcode.Rcode) -> _Labels:
    qtype = dns.rdatatype.to_text(query.question[0].rdtype) if len(query.question) == 1 \
        else "other"
    return (_PROTO[udp], qtype), dns.rcode.to_text(rcode)


def _refused(data: bytes) -> bytes | None:
    try:
        query = dns.message.from_wire(data)
    except dns.exception.DNSException:
        return None
    if query.flags & dns.flags.QR:
        return None
    response = dns.message.make_response(query)
    response.set_rcode(dns.rcode.REFUSED)
    return response.to_wire()


def _format_error(data: bytes) -> bytes | None:
    """FORMERR for a message whose header could be read but whose body could not."""
    if len(data) < _HEADER:
        return None
    response = dns.message.Message(id=int.from_bytes(data[:2], "big"))
    response.flags = dns.flags.QR | dns.flags.RA
    response.set_rcode(dns.rcode.FORMERR)
    return response.to_wire()
