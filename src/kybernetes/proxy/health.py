"""kube-proxy's HTTP endpoints: `/healthz` (port 10256) and `/metrics` (127.0.0.1:10249).

As upstream's pkg/proxy/healthcheck/proxy_health.go: healthy once rules were synced, and
as long as no change has waited for a sync longer than the health timeout (twice the sync
period); the body says when the rules were last updated. Served by the components' minimal
HTTP/1.1 responder (client/plainhttp.py): these are plain GETs from probes and Prometheus.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime

from kybernetes.client.plainhttp import Request, Response, one_request_handler
from kybernetes.proxy.metrics import ProxyMetrics


def _rfc3339(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z")


class ProxyHealth:
    def __init__(self, timeout: float, clock: Callable[[], float] = time.time) -> None:
        self.timeout = timeout
        self.clock = clock
        self.last_updated: float | None = None
        self.oldest_pending: float | None = None

    def queued(self) -> None:
        if self.oldest_pending is None:
            self.oldest_pending = self.clock()

    def updated(self) -> None:
        self.last_updated = self.clock()
        self.oldest_pending = None

    def healthy(self) -> bool:
        if self.last_updated is None:
            return False
        return self.oldest_pending is None or \
            self.clock() - self.oldest_pending < self.timeout

    def body(self) -> str:
        now = self.clock()
        return json.dumps({
            "lastUpdated": _rfc3339(self.last_updated) if self.last_updated else "",
            "currentTime": _rfc3339(now), "nodeEligible": True})


Route = Callable[[], Response]


async def serve(host: str, port: int, routes: dict[str, Route]) -> None:
    """Answer GETs of `routes` (path -> (status, content type, body)) until cancelled."""
    async def answer(request: Request) -> Response:
        route = routes.get(request.path)
        if request.method not in ("GET", "HEAD"):
            return 405, "text/plain", "method not allowed\n"
        if route is None:
            return 404, "text/plain", "404 page not found\n"
        return route()

    server = await asyncio.start_server(one_request_handler(answer), host or None, port,
                                        reuse_address=True)
    async with server:
        await server.serve_forever()


def health_routes(health: ProxyHealth) -> dict[str, Route]:
    def healthz() -> tuple[int, str, str]:
        return (200 if health.healthy() else 503), "application/json", health.body()

    return {"/healthz": healthz, "/livez": healthz}


def metrics_routes(metrics: ProxyMetrics, health: ProxyHealth) -> dict[str, Route]:
    return {"/metrics": lambda: (200, "text/plain; version=0.0.4", metrics.render()),
            "/proxyMode": lambda: (200, "text/plain", metrics.mode),
            **health_routes(health)}
