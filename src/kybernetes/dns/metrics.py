"""The DNS server's Prometheus metrics on port 9153 (the kube-dns Service's `metrics`
port), under CoreDNS's names (plugin/metrics, plugin/cache, plugin/forward):
`coredns_dns_requests_total{server,zone,proto,type}`, `coredns_dns_responses_total{server,
zone,rcode}`, `coredns_cache_entries`, `coredns_cache_hits_total`,
`coredns_cache_misses_total` (the forwarder's cache) and `coredns_forward_requests_total
{to}`, in the text exposition format (the repo pins no Prometheus client library), served
by a minimal HTTP/1.1 responder: `GET /metrics`, anything else 404.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable

log = logging.getLogger(__name__)

_REQUEST_HEAD_LIMIT = 8192
_REQUEST_TIMEOUT = 5.0


class DnsMetrics:
    def __init__(self, server: str = "dns://:53") -> None:
        self.server = server
        # (proto, qtype) and rcode, counted by the DNS server for every answer it sends.
        self.requests: Counter[tuple[str, str]] = Counter()
        self.responses: Counter[str] = Counter()
        self.cache_entries = self.cache_hits = self.cache_misses = 0
        self.forward_requests: Counter[str] = Counter()

    def render(self) -> str:
        server = self.server
        lines = ["# HELP coredns_dns_requests_total Counter of DNS requests made per zone, "
                 "protocol and family.", "# TYPE coredns_dns_requests_total counter"]
        lines += [f'coredns_dns_requests_total{{server="{server}",zone=".",proto="{proto}",'
                  f'type="{qtype}"}} {count}'
                  for (proto, qtype), count in sorted(self.requests.items())]
        lines += ["# HELP coredns_dns_responses_total Counter of response status codes.",
                  "# TYPE coredns_dns_responses_total counter"]
        lines += [f'coredns_dns_responses_total{{server="{server}",zone=".",rcode="{rcode}"}}'
                  f" {count}" for rcode, count in sorted(self.responses.items())]
        for name, kind, text, value in (
                ("coredns_cache_entries", "gauge", "The number of elements in the cache.",
                 self.cache_entries),
                ("coredns_cache_hits_total", "counter", "The count of cache hits.",
                 self.cache_hits),
                ("coredns_cache_misses_total", "counter", "The count of cache misses.",
                 self.cache_misses)):
            lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}",
                      f'{name}{{server="{server}"}} {value}']
        lines += ["# HELP coredns_forward_requests_total Counter of requests made per "
                  "upstream.", "# TYPE coredns_forward_requests_total counter"]
        lines += [f'coredns_forward_requests_total{{to="{to}"}} {count}'
                  for to, count in sorted(self.forward_requests.items())]
        return "\n".join(lines) + "\n"


async def serve_metrics(host: str, port: int, render: Callable[[], str]) -> asyncio.Server:
    """Listen for `GET /metrics` on `host`:`port`; the caller closes the server."""

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(_REQUEST_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError,
                ConnectionError):
            writer.close()
            return
        method, _, rest = head.partition(b" ")
        path = rest.split(b" ", 1)[0].split(b"?", 1)[0]
        if method == b"GET" and path == b"/metrics":
            status, body = "200 OK", render().encode()
            content_type = "text/plain; version=0.0.4; charset=utf-8"
        else:
            status, body, content_type = "404 Not Found", b"404 page not found\n", \
                "text/plain; charset=utf-8"
        writer.write(f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
                     f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                     + body)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    return await asyncio.start_server(client, host, port, limit=_REQUEST_HEAD_LIMIT,
                                      reuse_address=True)
