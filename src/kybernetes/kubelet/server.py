"""The kubelet's HTTPS server: container logs, exec, attach and port-forward.

The API server proxies `pods/log`, `pods/exec`, `pods/attach` and `pods/portforward` here
(upstream's `pkg/kubelet/server/server.go` paths):

- `GET /containerLogs/{ns}/{pod}/{container}?follow=&previous=&tailLines=&sinceSeconds=`
  `&sinceTime=&timestamps=&limitBytes=`: plain text, streamed;
- `/exec/{ns}/{pod}/{container}?command=..&command=..&input=1&output=1&error=1&tty=1` and
  `/attach/{ns}/{pod}/{container}?...`: WebSocket, `v5.channel.k8s.io` (or v4);
- `/portForward/{ns}/{pod}`: WebSocket, `SPDY/3.1+portforward.k8s.io` (kubectl), else
  upstream's plain channel protocol with `?port=80,1234` (`v4.channel.k8s.io`, the
  official Python client);
- `GET /stats/summary` (upstream's `statsapi.Summary` JSON), `GET /metrics/resource`
  (the resource metrics) and `GET /metrics/cadvisor` (cadvisor's container metrics,
  Prometheus text), from a `StatsProvider` (kubelet/stats.py), when
  the server has one; authorised as `nodes/stats` and `nodes/metrics`.
- `GET /metrics`: the kubelet's own metrics (kubelet/metrics.py), when the server has them;
  authorised as `nodes/metrics`.

Every request is first authenticated and authorized (`auth.KubeletAuth`, upstream's auth
filter: client certificate or TokenReview, then SubjectAccessReview on `nodes/proxy`);
refusals are upstream's plain-text 401/403 answers, to WebSocket upgrades too. Without
`auth` (upstream's nil `AuthInterface`) everything is served.

Which container instance a request means is decided from the pod's status as the kubelet
last computed it, as upstream does (`validateContainerLogStatus`: `--previous` is
`lastState.terminated.containerID`, a waiting container has no logs yet and says why; exec
needs a running container). Everything else is asked of a `StreamingHost`, the small
interface the kubelet implements over its pod manager and runtime. Errors are plain-text
bodies with upstream's status codes; the API server turns them into `Status` objects.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote

import orjson
import uvicorn

from kybernetes.api import timeutil
from kybernetes.kubelet import portforward_ws, spdy, streaming
from kybernetes.kubelet.auth import KubeletAuth
from kybernetes.kubelet.logs import LogFormatError, LogOptions, parse_timestamp, read_logs
from kybernetes.kubelet.metrics import KubeletMetrics
from kybernetes.kubelet.runtime.cri import CRIError, ExecProcess
from kybernetes.kubelet.stats import NodeUsage, StatsProvider, summary
from kybernetes.kubelet.stats_cadvisor import cadvisor_metrics
from kybernetes.kubelet.stats_metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from kybernetes.kubelet.stats_metrics import resource_metrics
from kybernetes.kubelet.streaming import StreamOptions, WebSocket
from kybernetes.kubelet.tlspeer import PeerCertHttpProtocol, PeerCertWebSocketProtocol

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class StreamingHost(Protocol):
    """What the server needs from the kubelet. Container ids are the pod status's
    (`<runtime>://<id>`)."""

    def pod(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        """The pod with the status the kubelet last computed; None when not on this node."""
        ...

    async def log_path(self, container_id: str) -> Path:
        """The instance's CRI log file (the runtime's `ContainerStatus.log_path`)."""
        ...

    async def is_running(self, container_id: str) -> bool: ...

    async def exec(self, container_id: str, cmd: Sequence[str], *, tty: bool,
                   stdin: bool) -> ExecProcess: ...

    async def attach(self, container_id: str, *, tty: bool, stdin: bool) -> ExecProcess:
        """The container's own stdio (its main process), as an `ExecProcess`."""
        ...

    async def connect(self, pod: Mapping[str, Any], port: int
                      ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP connection to `127.0.0.1:port` inside the pod's network namespace."""
        ...


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Target:
    kind: str  # containerLogs | exec | attach | portForward
    namespace: str
    pod: str
    container: str


def parse_target(path: str) -> Target:
    parts = [unquote(p) for p in path.strip("/").split("/")]
    if parts[0] in ("containerLogs", "exec", "attach") and len(parts) == 4:
        return Target(parts[0], parts[1], parts[2], parts[3])
    if parts[0] == "portForward" and len(parts) == 3:
        return Target(parts[0], parts[1], parts[2], "")
    raise HttpError(404, "404 page not found")


def _statuses(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    status = pod.get("status") or {}
    return [*(status.get("containerStatuses") or ()), *(status.get("initContainerStatuses") or ()),
            *(status.get("ephemeralContainerStatuses") or ())]


def _in_spec(pod: Mapping[str, Any], container: str) -> bool:
    spec = pod.get("spec") or {}
    return any(c.get("name") == container for kind in ("containers", "initContainers",
                                                      "ephemeralContainers")
               for c in spec.get(kind) or ())


def log_container_id(pod: Mapping[str, Any], container: str, previous: bool) -> str:
    """The instance whose log to read (upstream's `validateContainerLogStatus`)."""
    name = str((pod.get("metadata") or {}).get("name", ""))
    found = next((s for s in _statuses(pod) if s.get("name") == container), None)
    if found is None:
        raise HttpError(400, f'container "{container}" in pod "{name}" is not available')
    last = (found.get("lastState") or {}).get("terminated")
    state = found.get("state") or {}
    waiting, running, terminated = state.get("waiting"), state.get("running"), \
        state.get("terminated")
    if previous:
        if not last or not last.get("containerID"):
            raise HttpError(400, f'previous terminated container "{container}" in pod '
                                 f'"{name}" not found')
        return str(last["containerID"])
    if running is not None:
        return str(found.get("containerID", ""))
    if terminated is not None:
        if terminated.get("containerID"):
            return str(terminated["containerID"])
        if last and last.get("containerID"):
            return str(last["containerID"])
        raise HttpError(400, f'container "{container}" in pod "{name}" is terminated')
    if last is not None:
        if not last.get("containerID"):
            raise HttpError(400, f'container "{container}" in pod "{name}" is terminated')
        return str(last["containerID"])
    if waiting is not None:
        reason = waiting.get("reason", "")
        why = {"ErrImagePull": "image can't be pulled",
               "ImagePullBackOff": "trying and failing to pull image"}.get(reason, reason)
        raise HttpError(400, f'container "{container}" in pod "{name}" is waiting to start: '
                             f"{why}")
    raise HttpError(400, f'container "{container}" in pod "{name}" is waiting to start - '
                         "no logs yet")


def running_container_id(pod: Mapping[str, Any], container: str) -> str:
    """The running instance exec and attach act on."""
    for status in _statuses(pod):
        if status.get("name") == container and (status.get("state") or {}).get("running") \
                is not None and status.get("containerID"):
            return str(status["containerID"])
    raise HttpError(404, f'container not found ("{container}")')


def log_options(query: Mapping[str, list[str]], now: datetime) -> tuple[LogOptions, bool]:
    """The `PodLogOptions` query as `LogOptions`, and `previous`."""
    def flag(name: str) -> bool:
        return (query.get(name) or [""])[-1].lower() in ("true", "1")

    def number(name: str) -> int | None:
        text = (query.get(name) or [""])[-1]
        if not text:
            return None
        try:
            return int(text)
        except ValueError as err:
            raise HttpError(400, f'unable to decode query: {name}: invalid value "{text}"') \
                from err

    since: datetime | None = None
    seconds = number("sinceSeconds")
    if seconds is not None:
        since = now - timedelta(seconds=seconds)
    since_time = (query.get("sinceTime") or [""])[-1]
    if since_time:
        try:
            since = datetime.fromtimestamp(parse_timestamp(since_time) / 1e9, UTC)
        except LogFormatError as err:
            raise HttpError(400, f"unable to decode query: sinceTime: {err}") from err
    limit = number("limitBytes")
    return LogOptions(tail_lines=number("tailLines"), since=since, timestamps=flag("timestamps"),
                      limit_bytes=limit, follow=flag("follow")), flag("previous")


def stream_options(query: Mapping[str, list[str]]) -> StreamOptions:
    def flag(name: str) -> bool:
        return (query.get(name) or [""])[-1].lower() in ("1", "true")
    opts = StreamOptions(stdin=flag("input"), stdout=flag("output"), stderr=flag("error"),
                         tty=flag("tty"))
    if not (opts.stdin or opts.stdout or opts.stderr):
        raise HttpError(400, "you must specify at least 1 of stdin, stdout, stderr")
    if opts.tty and opts.stderr:
        # A terminal merges the streams; upstream rejects asking for both.
        opts = StreamOptions(opts.stdin, opts.stdout, False, True)
    return opts


class KubeletServer:
    """The ASGI app; `serve` runs it on HTTPS with uvicorn."""

    def __init__(self, host: StreamingHost, *, auth: KubeletAuth | None = None,
                 stats: StatsProvider | None = None, metrics: KubeletMetrics | None = None,
                 log_poll_interval: float = 0.2) -> None:
        self.host = host
        self.metrics = metrics
        self.auth = auth
        self.stats = stats
        self.log_poll_interval = log_poll_interval
        self._collecting = asyncio.Lock()  # one reading at a time (the cpu rates' bases)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = await self.auth.refusal(scope) if self.auth is not None else None
            if refusal is not None:
                await _text(send, refusal.status, refusal.message.encode())
                return
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            ws = WebSocket(scope, receive, send)
            if not await ws.connected():
                return
            refusal = await self.auth.refusal(scope) if self.auth is not None else None
            if refusal is not None:
                await ws.deny(refusal.status, refusal.message.encode(),
                              "text/plain; charset=utf-8")
                return
            await self._websocket(ws, scope)

    def _pod(self, target: Target) -> Mapping[str, Any]:
        pod = self.host.pod(target.namespace, target.pod)
        if pod is None:
            raise HttpError(404, f'pod "{target.pod}" does not exist'
                            if target.kind == "containerLogs" else "pod does not exist")
        return pod

    # -- HTTP: logs, and refusals of streaming requests that did not upgrade -----------

    async def _collect(self, stats: StatsProvider) -> NodeUsage:
        async with self._collecting:
            return await stats.collect()

    async def _stats(self, path: str, send: Send) -> bool:
        """Serve `/stats/summary`, `/metrics/resource`, `/metrics/cadvisor` and `/metrics`;
        False for any other path."""
        path = path.rstrip("/")
        if path == "/metrics" and self.metrics is not None:
            body, content_type = self.metrics.render(), METRICS_CONTENT_TYPE.encode()
        elif self.stats is None or path not in ("/stats/summary", "/metrics/resource",
                                                "/metrics/cadvisor"):
            return False
        elif path == "/stats/summary":
            body = orjson.dumps(summary(await self._collect(self.stats)))
            content_type = b"application/json"
        elif path == "/metrics/cadvisor":
            body = cadvisor_metrics(await self._collect(self.stats))
            content_type = METRICS_CONTENT_TYPE.encode()
        else:
            body = resource_metrics(await self._collect(self.stats))
            content_type = METRICS_CONTENT_TYPE.encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", content_type),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
        return True

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] in ("GET", "HEAD") and await self._stats(scope["path"], send):
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"),
                         keep_blank_values=True)
        try:
            target = parse_target(scope["path"])
            pod = self._pod(target)
            if target.kind != "containerLogs":
                if target.kind in ("exec", "attach"):
                    running_container_id(pod, target.container)
                raise HttpError(400, "unable to upgrade: missing upgrade headers in request")
            if scope["method"] != "GET":
                raise HttpError(405, "method not allowed")
            if not _in_spec(pod, target.container):
                raise HttpError(404, f'container "{target.container}" not found in pod '
                                     f'"{target.pod}"')
            opts, previous = log_options(query, timeutil.now())
            container_id = log_container_id(pod, target.container, previous)
            path = await self.host.log_path(container_id)
            if not path.exists():
                raise HttpError(404, f"failed to try resolving symlinks in path {str(path)!r}: "
                                     f"lstat {path}: no such file or directory")
        except HttpError as err:
            await _text(send, err.status, err.message.encode())
            return
        except CRIError as err:
            await _text(send, 500, str(err).encode())
            return
        opts = LogOptions(tail_lines=opts.tail_lines, since=opts.since,
                          timestamps=opts.timestamps, limit_bytes=opts.limit_bytes,
                          follow=opts.follow, poll_interval=self.log_poll_interval)

        async def running() -> bool:
            return await self.host.is_running(container_id)

        await _stream(send, receive, read_logs(path, opts, running))

    # -- WebSocket: exec, attach, port-forward -----------------------------------------

    async def _websocket(self, ws: WebSocket, scope: Scope) -> None:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"),
                         keep_blank_values=True)
        try:
            target = parse_target(scope["path"])
            if target.kind == "containerLogs":
                raise HttpError(400, "logs are not served over WebSocket")
            pod = self._pod(target)
            if target.kind == "portForward" and spdy.WEBSOCKET_PROTOCOL not in ws.offered:
                ports, protocol = _plain_port_forward(ws.offered, query)
                await ws.accept(protocol)
                await portforward_ws.PortForwardWebSocket(
                    ws, protocol, ports, lambda port: self.host.connect(pod, port),
                    lambda port, err: _forward_error(pod, port, err)).run()
                return
            supported = streaming.PORT_FORWARD_PROTOCOLS if target.kind == "portForward" \
                else streaming.STREAM_PROTOCOLS
            protocol = streaming.choose(ws.offered, supported)
            if not protocol:
                raise HttpError(400, f"unable to upgrade: none of the requested protocols "
                                     f"{ws.offered} is supported: {list(supported)}")
            if target.kind == "portForward":
                await ws.accept(protocol)
                await streaming.serve_port_forward(
                    ws, lambda port: self.host.connect(pod, port),
                    lambda port, err: _forward_error(pod, port, err))
                return
            container_id = running_container_id(pod, target.container)
            opts = stream_options(query)
            command = query.get("command") or []
            if target.kind == "exec" and not command:
                raise HttpError(400, "you must specify at least one command for the container")
        except HttpError as err:
            await ws.deny(err.status, err.message.encode())
            return
        await ws.accept(protocol)
        if target.kind == "exec":
            def start() -> Awaitable[ExecProcess]:
                return self.host.exec(container_id, command, tty=opts.tty, stdin=opts.stdin)
        else:
            def start() -> Awaitable[ExecProcess]:
                return self.host.attach(container_id, tty=opts.tty, stdin=opts.stdin)
        await streaming.serve_process(ws, protocol, opts, start,
                                      kill_on_disconnect=target.kind == "exec")

    async def serve(self, sock: socket.socket, *, cert_file: Path, key_file: Path,
                    client_ca: Path | None = None) -> None:
        """Serve HTTPS on a bound socket until cancelled (binding first lets a caller learn
        the port before serving). Client certificates are requested and checked against
        `client_ca` when presented; whether a request without one gets in is `auth`'s."""
        config = uvicorn.Config(
            self, ssl_certfile=str(cert_file), ssl_keyfile=str(key_file),
            ssl_ca_certs=str(client_ca) if client_ca else None,
            ssl_cert_reqs=ssl.CERT_OPTIONAL if client_ca else ssl.CERT_NONE,
            loop="none", http=PeerCertHttpProtocol, ws=PeerCertWebSocketProtocol,
            lifespan="off",
            log_level="warning", ws_ping_interval=None, timeout_graceful_shutdown=1)
        config.load()
        assert config.ssl is not None
        config.ssl.minimum_version = ssl.TLSVersion.TLSv1_2
        await uvicorn.Server(config).serve(sockets=[sock])


def _plain_port_forward(offered: Sequence[str], query: Mapping[str, list[str]]
                        ) -> tuple[list[int], str]:
    """The ports and subprotocol of a plain-WebSocket port-forward, or upstream's refusal:
    bad ports first (400), then a subprotocol it does not speak (403, as upstream's
    handshake; upstream's body is empty, this one says why)."""
    try:
        ports = portforward_ws.parse_ports(query.get(portforward_ws.PORT_PARAM) or [])
    except portforward_ws.PortsError as err:
        raise HttpError(400, str(err)) from err
    protocol = portforward_ws.negotiate(offered)
    if protocol is None:
        raise HttpError(403, f"requested protocol(s) are not supported: [{' '.join(offered)}]"
                             f"; supports [{' '.join(portforward_ws.PROTOCOLS)}]")
    return ports, protocol


def _forward_error(pod: Mapping[str, Any], port: int, err: str) -> str:
    meta = pod.get("metadata") or {}
    return (f"error forwarding port {port} to pod {meta.get('name', '')}, uid "
            f"{meta.get('uid', '')}: {err}")


async def _text(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _stream(send: Send, receive: Receive, chunks: AsyncIterator[bytes]) -> None:
    """A chunked text response until the chunks end or the client goes away."""
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"),
                            (b"cache-control", b"no-cache, private")]})

    async def pump() -> None:
        async for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})

    async def gone() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    tasks = {asyncio.create_task(pump()), asyncio.create_task(gone())}
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for outcome in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(outcome, Exception):
                # As upstream: a line that does not parse ends the stream.
                log.warning("log stream ended: %s", outcome)
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()
    try:
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    except OSError:
        log.debug("client left before the end of the log")
