"""A component's own `/metrics` and `/healthz` port: the controller manager's (upstream:
10257) and the scheduler's (10259), each serving the Prometheus registry it records on.

Plain HTTP on the address given (loopback by default), not upstream's HTTPS with delegated
authentication: the port answers GETs from Prometheus and probes only. When the address is
taken (several `kyb server`s on one host) the component runs on without it, with a warning.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from prometheus_client import CollectorRegistry, generate_latest

from kybernetes.proxy import health

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def split_address(address: str, default_port: int) -> tuple[str, int]:
    """`HOST:PORT` (or `HOST`, `[V6]:PORT`) into host and port."""
    host, sep, port = address.rpartition(":")
    if not sep or "]" in port:
        return address.strip("[]"), default_port
    return host.strip("[]"), int(port)


def routes(registries: Callable[[], list[CollectorRegistry]]) -> dict[str, health.Route]:
    def metrics() -> tuple[int, str, str]:
        return 200, CONTENT_TYPE, "".join(generate_latest(r).decode() for r in registries())

    def healthz() -> tuple[int, str, str]:
        return 200, "text/plain", "ok"

    return {"/metrics": metrics, "/healthz": healthz, "/livez": healthz, "/readyz": healthz}


@contextlib.asynccontextmanager
async def serving(name: str, address: str, default_port: int,
                  registries: Callable[[], list[CollectorRegistry]]) -> AsyncIterator[None]:
    """Serve the port (unless `address` is '') while the body runs."""
    if not address:
        yield
        return
    host, port = split_address(address, default_port)

    async def serve() -> None:
        try:
            await health.serve(host, port, routes(registries))
        except OSError as err:
            log.warning("%s: not serving /metrics on %s: %s", name, address, err)

    task = asyncio.create_task(serve(), name=f"{name}-metrics")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
