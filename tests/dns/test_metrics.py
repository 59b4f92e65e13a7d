"""CoreDNS's metric names, counted for every answer (reused ones too), served on
`GET /metrics`."""

from __future__ import annotations

import httpx

from kybernetes.dns.metrics import serve_metrics
from tests.dns.conftest import Cluster


def _value(text: str, prefix: str) -> float:
    (line,) = [line for line in text.splitlines() if line.startswith(prefix)]
    return float(line.rsplit(" ", 1)[1])


async def test_answers_are_counted(cluster: Cluster) -> None:
    for _ in range(3):
        await cluster.ask("web.shop.svc.cluster.local")
    await cluster.ask("missing.shop.svc.cluster.local")
    await cluster.ask("_http._tcp.web.shop.svc.cluster.local", "SRV", tcp=True)
    await cluster.ask("www.example.org")
    await cluster.ask("www.example.org", tcp=True)
    text = cluster.server.render_metrics()
    requests = 'coredns_dns_requests_total{server="dns://:53",zone=".",'
    assert _value(text, requests + 'proto="udp",type="A"}') == 5
    assert _value(text, requests + 'proto="tcp",type="SRV"}') == 1
    responses = 'coredns_dns_responses_total{server="dns://:53",zone=".",'
    assert _value(text, responses + 'rcode="NOERROR"}') == 6
    assert _value(text, responses + 'rcode="NXDOMAIN"}') == 1
    assert _value(text, 'coredns_cache_misses_total{server="dns://:53"}') == 1
    assert _value(text, 'coredns_cache_hits_total{server="dns://:53"}') == 1
    assert _value(text, 'coredns_cache_entries{server="dns://:53"}') == 1
    upstream = f"127.0.0.1:{cluster.upstream.port}"
    assert _value(text, f'coredns_forward_requests_total{{to="{upstream}"}}') == 1


async def test_metrics_endpoint(cluster: Cluster) -> None:
    server = await serve_metrics("127.0.0.1", 0, cluster.server.render_metrics)
    port = server.sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            found = await http.get("/metrics")
            assert found.status_code == 200
            assert found.headers["content-type"].startswith("text/plain; version=0.0.4")
            assert "# TYPE coredns_dns_requests_total counter" in found.text
            assert (await http.get("/other")).status_code == 404
    finally:
        server.close()
        await server.wait_closed()
