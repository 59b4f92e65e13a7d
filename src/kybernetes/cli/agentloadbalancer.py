"""The agent's client-side load balancer over the API servers (k3s's pkg/agent/loadbalancer).

A `kyb agent` joined with `--server` reaches the API through a TCP proxy on
127.0.0.1:6444 (`--lb-server-port`): its kubelet, kube-proxy and ingress controller all
dial that, and each connection is forwarded to one server of the list: the `--server` one
first, then every address of the `default/kubernetes` Endpoints (which the API servers keep
to the live ones, kubernetesendpoints.py), re-read every few seconds through the proxy
itself. Connections go to the current server while it answers; one that fails a dial or a
health check (a TCP connect every 2 s) is marked failed, the next healthy one becomes
current, and the connections still open to the failed one are closed so that their clients
reconnect (watches resume, the kubelet renews its lease through the new server). TLS passes
through untouched: every server's serving certificate holds 127.0.0.1, and all are signed
by the one cluster CA, so the clients verify whichever answers.

The `--server` address stays in the list even when the endpoints do not name it (it may be
a name or a fixed registration address), as k3s keeps its default server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

if TYPE_CHECKING:
    from kybernetes.client.rest import ApiClient

log = logging.getLogger(__name__)

PORT = 6444
HEALTH_INTERVAL = 2.0
DIAL_TIMEOUT = 2.0
SYNC_INTERVAL = 5.0
_CHUNK = 65536

Address = tuple[str, int]


def server_address(url: str) -> Address:
    """The host and port of an API server URL (https, port 6443 by default)."""
    parts = urlsplit(url)
    if parts.hostname is None:
        raise ValueError(f"not a server URL: {url!r}")
    return parts.hostname, parts.port or 6443


def endpoint_addresses(endpoints: dict[str, Any]) -> list[Address]:
    """The servers an Endpoints lists, each address with its subset's https port."""
    found: list[Address] = []
    for subset in endpoints.get("subsets") or []:
        ports = subset.get("ports") or []
        port = next((p["port"] for p in ports if p.get("name") == "https"),
                    ports[0]["port"] if ports else None)
        if port is None:
            continue
        found.extend((a["ip"], port) for a in subset.get("addresses") or [])
    return found


class LoadBalancer:
    def __init__(self, server_url: str, port: int = PORT, *,
                 health_interval: float = HEALTH_INTERVAL) -> None:
        self.default = server_address(server_url)
        self.port = port
        self.servers: list[Address] = [self.default]
        self.current = self.default
        self._failed: set[Address] = set()
        self._health_interval = health_interval
        self._open: dict[Address, set[asyncio.StreamWriter]] = {}
        self._listener: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Listen on 127.0.0.1:`port` (an OSError if it cannot)."""
        self._listener = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        log.info("load balancing 127.0.0.1:%d over %s", self.port, self._shown(self.servers))

    async def close(self) -> None:
        """Stop listening and close every relayed connection."""
        if self._listener is None:
            return
        self._listener.close()
        for writers in self._open.values():
            for writer in writers:
                writer.close()
        await self._listener.wait_closed()

    def update(self, servers: list[Address]) -> None:
        """The servers to balance over: the default one, then `servers`."""
        updated = list(dict.fromkeys([self.default, *servers]))
        if updated == self.servers:
            return
        log.info("API servers: %s", self._shown(updated))
        self.servers = updated
        self._failed &= set(updated)
        if self.current not in updated:
            self._switch_from(self.current)

    async def run(self, client: ApiClient) -> None:
        """Health-check the servers and follow the `kubernetes` endpoints (with `client`,
        which goes through this balancer) until cancelled."""
        await asyncio.gather(self._check_forever(), self._follow(client))

    def _candidates(self) -> list[Address]:
        healthy = [s for s in self.servers if s not in self._failed]
        return list(dict.fromkeys([self.current, *healthy, *self.servers]))

    def _mark_failed(self, server: Address) -> None:
        if server in self._failed:
            return
        log.warning("API server %s failed", self._shown([server]))
        self._failed.add(server)
        if server == self.current:
            self._switch_from(server)

    def _switch_from(self, server: Address) -> None:
        """Make the next healthy server current; close what is still open to `server`."""
        healthy = [s for s in self.servers if s not in self._failed and s != server]
        if healthy:
            self.current = healthy[0]
            log.info("switched to API server %s", self._shown([self.current]))
        for writer in self._open.pop(server, set()):
            writer.close()

    async def _accept(self, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        for server in self._candidates():
            try:
                async with asyncio.timeout(DIAL_TIMEOUT):
                    up_reader, up_writer = await asyncio.open_connection(*server)
            except (OSError, TimeoutError):
                self._mark_failed(server)
                continue
            self._failed.discard(server)
            if server != self.current and self.current in self._failed:
                self.current = server
            await self._relay(server, reader, writer, up_reader, up_writer)
            return
        writer.close()

    async def _relay(self, server: Address, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter, up_reader: asyncio.StreamReader,
                     up_writer: asyncio.StreamWriter) -> None:
        """Copy both ways until either side ends (or the server is dropped)."""
        opened = self._open.setdefault(server, set())
        opened.update((writer, up_writer))
        copies = [asyncio.create_task(_copy(reader, up_writer)),
                  asyncio.create_task(_copy(up_reader, writer))]
        try:
            await asyncio.wait(copies, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in copies:
                task.cancel()
            await asyncio.gather(*copies, return_exceptions=True)
            for end in (writer, up_writer):
                end.close()
                self._open.get(server, set()).discard(end)

    async def _check_forever(self) -> None:
        while True:
            await asyncio.sleep(self._health_interval)
            results = await asyncio.gather(*(_answers(s) for s in self.servers))
            for server, up in zip(list(self.servers), results, strict=True):
                if up:
                    if server in self._failed:
                        log.info("API server %s is back", self._shown([server]))
                    self._failed.discard(server)
                else:
                    self._mark_failed(server)

    async def _follow(self, client: ApiClient) -> None:
        from kybernetes.client.rest import ClientError

        while True:
            try:
                # A list, not a get: what nodes may do (system:node-proxier).
                listed = await client.list(("", "v1", "endpoints"), "default",
                                           field_selector="metadata.name=kubernetes")
            except (ClientError, httpx.HTTPError, OSError) as err:
                log.debug("reading the kubernetes endpoints: %s", err)
            else:
                self.update([a for e in listed.items for a in endpoint_addresses(e)])
            await asyncio.sleep(SYNC_INTERVAL)

    @staticmethod
    def _shown(servers: list[Address]) -> str:
        return ", ".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in servers)


async def _answers(server: Address) -> bool:
    try:
        async with asyncio.timeout(DIAL_TIMEOUT):
            _, writer = await asyncio.open_connection(*server)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
