"""The agent's client-side load balancer over the API servers (k3s's pkg/agent/loadbalancer).

A `kyb agent` joined with `--server` reaches the API through a TCP proxy on
127.0.0.1:6444 (`--lb-server-port`): its kubelet, kube-proxy and ingress controller all
dial that, and each connection is forwarded to one server of the list: the `--server` one
first, then every address of the `default/kubernetes` Endpoints (which the API servers keep
to the live ones, kubernetesendpoints.py), re-read every few seconds through the proxy
itself. Connections go to the current server while it is healthy. Every 2 s each server is
asked `GET /readyz` on a new TLS connection (k3s's health checks): only a 200 within 5 s
passes, so a server that still accepts TCP but whose storage does not answer (its etcd
member cut off from the quorum: its `/readyz` fails after 2 s) fails as one that is down.
A server that fails a check or a dial is marked failed, the next healthy one becomes
current, and the connections still open to the failed one are closed so that their clients
reconnect (watches resume, the kubelet renews its lease through the new server). While
every server is failed, connections still go to them (the current one first) and none are
closed; when one passes again it becomes current and those connections are closed, as k3s
fails back as soon as a server passes. Only a check clears a failure: a server that accepts
TCP may still not serve.

TLS passes through untouched: every server's serving certificate holds 127.0.0.1, and all
are signed by the one cluster CA, so the clients verify whichever answers. The checks
verify it the same way, as the balancer's own clients (the client config of `run`: its CA,
its `tls_server_name` or the balancer's host) and with their certificate, read again each
round as it rotates (anonymous without one: RBAC's `system:public-info-viewer` allows
`/readyz`).

The `--server` address stays in the list even when the endpoints do not name it (it may be
a name or a fixed registration address), as k3s keeps its default server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

if TYPE_CHECKING:
    from kybernetes.client.config import ClientConfig
    from kybernetes.client.rest import ApiClient

log = logging.getLogger(__name__)

PORT = 6444
HEALTH_INTERVAL = 2.0
# Above the 2 s within which a server's /readyz answers when its storage does not.
HEALTH_TIMEOUT = 5.0
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
                 health_interval: float = HEALTH_INTERVAL,
                 health_timeout: float = HEALTH_TIMEOUT) -> None:
        self.default = server_address(server_url)
        self.port = port
        self.servers: list[Address] = [self.default]
        self.current = self.default
        self._failed: set[Address] = set()
        self._health_interval = health_interval
        self._health_timeout = health_timeout
        self._open: dict[Address, set[asyncio.StreamWriter]] = {}
        self._accepting: set[asyncio.Task[Any]] = set()
        self._listener: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Listen on 127.0.0.1:`port` (an OSError if it cannot)."""
        self._listener = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        log.info("load balancing 127.0.0.1:%d over %s", self.port, self._shown(self.servers))

    async def close(self) -> None:
        """Stop listening, close every relayed connection and wait for their relays to end
        (not left to be cancelled at the loop's end)."""
        if self._listener is None:
            return
        self._listener.close()
        for writers in self._open.values():
            for writer in writers:
                writer.close()
        await asyncio.gather(*self._accepting, return_exceptions=True)
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
        """Health-check the servers (verified and authenticated as `client`) and follow the
        `kubernetes` endpoints (with `client`, which goes through this balancer) until
        cancelled."""
        await asyncio.gather(self._check_forever(client.config), self._follow(client))

    def _healthy(self) -> list[Address]:
        return [s for s in self.servers if s not in self._failed]

    def _candidates(self) -> list[Address]:
        """The dial order: the current server, the others, each healthy one before any
        failed one (all are tried, as k3s does when every health check fails)."""
        ordered = list(dict.fromkeys([self.current, *self.servers]))
        return [s for s in ordered if s not in self._failed] + \
            [s for s in ordered if s in self._failed]

    def _mark(self, server: Address, *, up: bool) -> None:
        """Record the outcome of a check or a dial of `server` (logged when it changes)."""
        if up and server in self._failed:
            log.info("API server %s is back", self._shown([server]))
            self._failed.discard(server)
        elif not up and server not in self._failed:
            log.warning("API server %s failed", self._shown([server]))
            self._failed.add(server)

    def _move_off_failed(self) -> None:
        """While a server is healthy, nothing stays on a failed one: a healthy one becomes
        current and the connections still open to failed ones are closed. While none is,
        they stay."""
        if self._healthy():
            for server in list(self._failed):
                self._switch_from(server)

    def _switch_from(self, server: Address) -> None:
        """Make the first healthy server (else the first other) current if `server` was;
        close what is still open to `server`."""
        if server == self.current:
            others = [s for s in self.servers if s != server]
            self.current = ([s for s in others if s not in self._failed] or others)[0]
            log.info("switched to API server %s", self._shown([self.current]))
        for writer in self._open.pop(server, set()):
            writer.close()

    async def _accept(self, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        accepting = asyncio.current_task()
        assert accepting is not None
        self._accepting.add(accepting)
        try:
            await self._forward(reader, writer)
        finally:
            self._accepting.discard(accepting)

    async def _forward(self, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> None:
        """Relay the connection to the first candidate that can be dialed."""
        for server in self._candidates():
            try:
                async with asyncio.timeout(DIAL_TIMEOUT):
                    up_reader, up_writer = await asyncio.open_connection(*server)
            except (OSError, TimeoutError):
                self._mark(server, up=False)
                self._move_off_failed()
                continue
            if self.current in self._failed:  # every one failed, unless `server` was added
                self._move_off_failed()
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

    async def _check_forever(self, config: ClientConfig) -> None:
        """Every interval, `GET /readyz` of each server, verified as `config`'s clients
        verify this balancer."""
        server_name = config.tls_server_name or server_address(config.server)[0]
        while True:
            await asyncio.sleep(self._health_interval)
            tls = config.ssl_context()  # each round: the client certificate rotates
            servers = list(self.servers)
            results = await asyncio.gather(*(self._check(s, tls, server_name)
                                             for s in servers))
            for server, up in zip(servers, results, strict=True):
                if server in self.servers:  # not dropped by an update meanwhile
                    self._mark(server, up=up)
            self._move_off_failed()

    async def _check(self, server: Address, tls: ssl.SSLContext, server_name: str) -> bool:
        """Whether `server` is ready: a 200 from its `/readyz` within the timeout."""
        try:
            async with asyncio.timeout(self._health_timeout):
                return await _ready(server, tls, server_name)
        except (OSError, TimeoutError) as err:
            log.debug("health check of %s: %r", self._shown([server]), err)
            return False

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


async def _ready(server: Address, tls: ssl.SSLContext, server_name: str) -> bool:
    """Whether `server` answers `GET /readyz` with a 200, on a new connection whose
    certificate is verified for `server_name` (an OSError if it cannot be asked)."""
    host = f"[{server_name}]" if ":" in server_name else server_name
    reader, writer = await asyncio.open_connection(*server, ssl=tls,
                                                   server_hostname=server_name)
    try:
        writer.write(f"GET /readyz HTTP/1.1\r\nHost: {host}\r\n"
                     "Connection: close\r\n\r\n".encode())
        await writer.drain()
        status = await reader.readline()  # HTTP/1.1 200 OK
    except BaseException:
        writer.transport.abort()  # no TLS shutdown with a server that may not answer
        raise
    writer.close()
    return status.split(b" ", 2)[1:2] == [b"200"]


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
