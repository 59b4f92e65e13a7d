"""kube-proxy's HTTP endpoints: `/healthz` (port 10256) and `/metrics` (127.0.0.1:10249).

As upstream's pkg/proxy/healthcheck/proxy_health.go: healthy once rules were synced, and
as long as no change has waited for a sync longer than the health timeout (twice the sync
period); the body says when the rules were last updated. A minimal HTTP/1.1 responder on
asyncio streams: these are plain GETs from probes and Prometheus.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime

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


Route = Callable[[], tuple[int, str, str]]


async def serve(host: str, port: int, routes: dict[str, Route]) -> None:
    """Answer GETs of `routes` (path -> (status, content type, body)) until cancelled."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            method, _, rest = request.decode("latin-1").partition(" ")
            path = rest.split(" ", 1)[0].split("?", 1)[0]
            route = routes.get(path)
            if method not in ("GET", "HEAD"):
                status, kind, body = 405, "text/plain", "method not allowed\n"
            elif route is None:
                status, kind, body = 404, "text/plain", "404 page not found\n"
            else:
                status, kind, body = route()
            data = body.encode()
            reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed",
                      503: "Service Unavailable"}.get(status, "")
            writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: {kind}\r\n"
                         f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
                         .encode() + (data if method == "GET" else b""))
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                TimeoutError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    server = await asyncio.start_server(handle, host or None, port, reuse_address=True)
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
