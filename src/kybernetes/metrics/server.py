"""The metrics server component: informers on nodes and pods, a scrape of every node's
kubelet each `resolution` (upstream's `--metric-resolution`, 15 s), the HTTPS metrics API.

Each cycle scrapes all nodes at once (at most `concurrency` in flight, each within
`scrape_timeout`, upstream's `--kubelet-request-timeout`), then stores the batch of those
that answered; a failed node is logged and has no metrics until it answers again.
Simulated nodes (annotated `kybernetes.io/simulated-node`, `kyb sim nodes`) have no kubelet
to scrape: their usage is the one declared on their pods (kubelet/stats_sim.py, as kwok's
ResourceUsage), read here each cycle from the pods the informer holds. It writes nothing to
the API: its identity (`system:metrics-server`) reads nodes and pods and
is allowed `nodes/metrics` on the kubelets, as upstream's ClusterRole of that name.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from kybernetes.client import ApiClient, ClientConfig, Informer, resource
from kybernetes.kubelet.runtime.simulated import SIM_ANNOTATION
from kybernetes.kubelet.stats_sim import SyntheticStats
from kybernetes.kubelet.tlspeer import PeerCertHttpProtocol
from kybernetes.metrics.api import MetricsApi
from kybernetes.metrics.scrape import NodeBatch, ScrapeError, from_usage, scrape
from kybernetes.metrics.storage import MetricsStorage

log = logging.getLogger(__name__)

NODES = resource("", "v1", "nodes")
PODS = resource("", "v1", "pods")
DEFAULT_RESOLUTION = 15.0
NODE_INDEX = "nodeName"


def _node_name(pod: dict[str, Any]) -> list[str]:
    name = (pod.get("spec") or {}).get("nodeName")
    return [str(name)] if name else []


def _simulated(node: dict[str, Any]) -> bool:
    return ((node.get("metadata") or {}).get("annotations") or {}).get(SIM_ANNOTATION) \
        == "true"


@dataclass(frozen=True)
class MetricsServerOptions:
    cert_file: Path
    key_file: Path
    client_ca: Path
    proxy_names: tuple[str, ...]
    resolution: float = DEFAULT_RESOLUTION
    scrape_timeout: float = 10.0
    concurrency: int = 100


class MetricsServer:
    def __init__(self, client: ApiClient, kubelet_tls: ssl.SSLContext,
                 options: MetricsServerOptions) -> None:
        self.client = client
        self.options = options
        self.storage = MetricsStorage(options.resolution)
        self.nodes = Informer(client, NODES)
        self.pods = Informer(client, PODS, indexers={NODE_INDEX: _node_name})
        self._simulated: dict[str, SyntheticStats] = {}
        self.http = httpx.AsyncClient(verify=kubelet_tls, timeout=options.scrape_timeout,
                                      limits=httpx.Limits(max_connections=options.concurrency))
        self.api = MetricsApi(self.storage, self.nodes.store.list, self.pods.store.list,
                              options.proxy_names)

    async def cycle(self) -> None:
        limit = asyncio.Semaphore(self.options.concurrency)

        async def one(node: dict[str, Any]) -> tuple[str, NodeBatch | None]:
            name = str(node["metadata"]["name"])
            if _simulated(node):
                return name, from_usage(self._synthetic(name).read())
            async with limit:
                try:
                    return name, await scrape(self.http, node)
                except (ScrapeError, ValueError) as err:
                    log.warning("failed to scrape node %s: %s", name, err)
                    return name, None

        nodes = self.nodes.store.list()
        results = await asyncio.gather(*(one(n) for n in nodes))
        self.storage.store({name: batch for name, batch in results if batch is not None})
        names = {n["metadata"]["name"] for n in nodes}
        for gone in set(self._simulated) - names:
            del self._simulated[gone]

    def _synthetic(self, name: str) -> SyntheticStats:
        found = self._simulated.get(name)
        if found is None:
            found = self._simulated[name] = SyntheticStats(
                name, lambda: self.pods.store.by_index(NODE_INDEX, name))
        return found

    async def _scrape_forever(self) -> None:
        while True:
            started = time.monotonic()
            await self.cycle()
            await asyncio.sleep(max(0.0, self.options.resolution - (time.monotonic() - started)))

    async def run(self, sock: socket.socket) -> None:
        """Until cancelled: scrape, and serve the API on `sock`."""
        self.nodes.start()
        self.pods.start()
        tasks: list[asyncio.Task[None]] = []
        try:
            await self.nodes.wait_for_sync()
            await self.pods.wait_for_sync()
            tasks = [asyncio.create_task(self._scrape_forever(), name="metrics:scrape"),
                     asyncio.create_task(self._serve(sock), name="metrics:api")]
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.nodes.stop()
            await self.pods.stop()
            with contextlib.suppress(Exception):
                await self.http.aclose()

    async def _serve(self, sock: socket.socket) -> None:
        config = uvicorn.Config(
            self.api, ssl_certfile=str(self.options.cert_file),
            ssl_keyfile=str(self.options.key_file), ssl_ca_certs=str(self.options.client_ca),
            ssl_cert_reqs=ssl.CERT_OPTIONAL, loop="none", http=PeerCertHttpProtocol,
            lifespan="off", log_level="warning", timeout_graceful_shutdown=1)
        config.load()
        assert config.ssl is not None
        config.ssl.minimum_version = ssl.TLSVersion.TLSv1_2
        await uvicorn.Server(config).serve(sockets=[sock])


async def serve(client_config: ClientConfig, options: MetricsServerOptions,
                address: tuple[str, int]) -> None:
    """Run a metrics server until cancelled, its API on `address` (`kyb server` runs one
    in its own process, with its own kubeconfig)."""
    sock = socket.create_server(address, reuse_port=False)
    async with ApiClient(client_config) as client:
        await MetricsServer(client, client_config.ssl_context(), options).run(sock)
