"""A small authoritative DNS server on loopback that stands in for the node's resolvers in
the forwarder's tests (never a real external resolver): fixed answers from a dict, and a
count of the questions it was asked."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import cast

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

SOA = ("example.org.", 60, "IN", "SOA", "ns.example.org. admin.example.org. 1 7200 1800 86400 20")


@dataclass
class Upstream:
    # (name, type) -> answer records in text form; a name absent is NXDOMAIN.
    records: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    asked: Counter[tuple[str, str]] = field(default_factory=Counter)
    port: int = 0

    def answer(self, data: bytes) -> bytes:
        query = dns.message.from_wire(data)
        question = query.question[0]
        name = question.name.to_text().lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.asked[(name, rdtype)] += 1
        response = dns.message.make_response(query, recursion_available=True)
        texts = self.records.get((name, rdtype))
        if texts:
            response.answer.append(dns.rrset.from_text_list(
                question.name, int(texts[0].split()[0]), "IN", rdtype,
                [t.split(None, 1)[1] for t in texts]))
        else:
            if not any(n == name for n, _ in self.records):
                response.set_rcode(dns.rcode.NXDOMAIN)
            response.authority.append(dns.rrset.from_text(*SOA))
        return response.to_wire()


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(self.upstream.answer(data), addr)


@asynccontextmanager
async def running_upstream(records: dict[tuple[str, str], list[str]]
                           ) -> AsyncIterator[Upstream]:
    upstream = Upstream(records)
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: _Protocol(upstream), local_addr=("127.0.0.1", 0))
    upstream.port = transport.get_extra_info("sockname")[1]
    try:
        yield upstream
    finally:
        transport.close()
