"""pods/log, pods/exec, pods/attach and pods/portforward: located on the pod's node and
proxied to its kubelet.

As upstream (`pkg/registry/core/pod/strategy.go` `LogLocation`, `streamLocation`,
`PortForwardLocation`): the container defaults to the pod's only one, else the request is
refused with the names to choose from; a pod not yet bound has an empty log and cannot be
exec'd into; the node's address (InternalIP, ExternalIP, Hostname: k3s's preference) and
`status.daemonEndpoints.kubeletEndpoint.Port` say where its kubelet listens (HTTPS, its
certificate checked against the cluster CA).

Logs stream as chunked `text/plain`. exec/attach/portforward arrive as WebSocket upgrades
(kubectl 1.35: `v5.channel.k8s.io` for exec and attach, `SPDY/3.1+portforward.k8s.io` for
port-forward; the Python client: `v4.channel.k8s.io` with `?ports=` for port-forward); the
proxy opens a WebSocket to the kubelet with the subprotocols the client offered, accepts
the client's with the one the kubelet chose (none if it chose none), and relays messages
both ways unchanged. A kubelet's refusal (or our own `Status`) is the HTTP answer to the upgrade, so
kubectl reports it; kubectl then retries over SPDY, a plain request here, which gets the
same answer (SPDY itself is not served). Non-2xx kubelet answers become `Status` objects
as client-go's `NewGenericServerResponse` builds them: the kubelet's text is the message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

import httpx
import orjson
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.asyncio.client import ClientConnection, connect
from websockets.client import ClientProtocol
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from kybernetes.api import errors
from kybernetes.api.registry import Registry, ResourceInfo
from kybernetes.apiserver.http import Receive, Request, Response, Scope, Send, Streaming
from kybernetes.apiserver.pki import kubelet_client_context
from kybernetes.apiserver.routing import ResourcePath, parse_resource_path
from kybernetes.apiserver.store import ObjectStore
from kybernetes.apiserver.tlspeer import add_peer_certificate, peer_certificate

log = logging.getLogger(__name__)

ADDRESS_PREFERENCE = ("InternalIP", "ExternalIP", "Hostname")
DEFAULT_KUBELET_PORT = 10250
STREAMING = ("exec", "attach", "portforward")
_REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
            405: "MethodNotAllowed", 409: "Conflict", 429: "TooManyRequests",
            500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}
_MAX_ERROR_BODY = 64 * 1024


def _flag(query: Mapping[str, list[str]], name: str) -> bool:
    return (query.get(name) or [""])[-1].lower() in ("true", "1")


def _one(query: Mapping[str, list[str]], name: str) -> str:
    return str((query.get(name) or [""])[-1])


def _integer(query: Mapping[str, list[str]], name: str, minimum: int) -> str:
    """A PodLogOptions number, validated as upstream (`tailLines` >= 0, others > 0)."""
    text = _one(query, name)
    if not text:
        return ""
    try:
        value = int(text)
    except ValueError as err:
        raise errors.bad_request(f'{name}: Invalid value: "{text}": must be an integer') \
            from err
    if value < minimum:
        bound = "greater than or equal to 0" if minimum == 0 else "greater than 0"
        raise errors.invalid("", "PodLogOptions", "", [
            errors.FieldError.invalid(name, value, f"must be {bound}")])
    return str(value)


def pick_container(pod: Mapping[str, Any], name: str, requested: str) -> str:
    """The container a request means, or upstream's refusal."""
    spec = pod.get("spec") or {}
    containers = [str(c.get("name", "")) for c in spec.get("containers") or ()]
    init = [c.get("name", "") for c in spec.get("initContainers") or ()]
    ephemeral = [c.get("name", "") for c in spec.get("ephemeralContainers") or ()]
    if requested:
        if requested not in (*containers, *init, *ephemeral):
            raise errors.bad_request(f"container {requested} is not valid for pod {name}")
        return requested
    if len(containers) == 1:
        return containers[0]
    if not containers:
        raise errors.bad_request(f"a container name must be specified for pod {name}")
    message = (f"a container name must be specified for pod {name}, choose one of: "
               f"[{' '.join(containers)}]")
    if init:
        message += f" or one of the init containers: [{' '.join(init)}]"
    raise errors.bad_request(message)


def node_endpoint(node: Mapping[str, Any]) -> tuple[str, int]:
    """Where a node's kubelet listens."""
    status = node.get("status") or {}
    addresses = status.get("addresses") or []
    for kind in ADDRESS_PREFERENCE:
        for address in addresses:
            if address.get("type") == kind and address.get("address"):
                port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}
                        ).get("Port") or DEFAULT_KUBELET_PORT
                return str(address["address"]), int(port)
    name = (node.get("metadata") or {}).get("name", "")
    raise errors.bad_request(f"no preferred addresses found; known addresses: {addresses}"
                             if addresses else f"node {name} has no addresses")


def log_query(query: Mapping[str, list[str]]) -> str:
    """PodLogOptions as the kubelet's query (upstream's `LogLocation` parameters)."""
    params: list[tuple[str, str]] = []
    for name in ("follow", "previous", "timestamps"):
        if _flag(query, name):
            params.append((name, "true"))
    since_seconds = _integer(query, "sinceSeconds", 1)
    since_time = _one(query, "sinceTime")
    if since_seconds and since_time:
        raise errors.invalid("", "PodLogOptions", "", [errors.FieldError.forbidden(
            "", "at most one of `sinceTime` or `sinceSeconds` may be specified")])
    if since_seconds:
        params.append(("sinceSeconds", since_seconds))
    if since_time:
        try:
            when = datetime.fromisoformat(since_time.replace("Z", "+00:00"))
        except ValueError as err:
            raise errors.bad_request(f'sinceTime: Invalid value: "{since_time}": parsing '
                                     "time as RFC3339 failed") from err
        stamp = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        params.append(("sinceTime", stamp))
    for name in ("tailLines", "limitBytes"):
        value = _integer(query, name, 0 if name == "tailLines" else 1)
        if value:
            params.append((name, value))
    return urlencode(params)


def forward_ports(values: Sequence[str]) -> list[int]:
    """PodPortForwardOptions.ports: several parameters or comma-separated values, each a
    uint16 (upstream's `Convert_Slice_string_To_Slice_int32`; the kubelet refuses 0)."""
    ports: list[int] = []
    for value in values:
        for part in value.split(","):
            reason = "invalid syntax" if not (part.isascii() and part.isdigit()) else \
                "value out of range" if int(part) > 0xFFFF else ""
            if reason:
                raise errors.bad_request(f'cannot convert to []int32: strconv.ParseUint: '
                                         f'parsing "{part}": {reason}')
            ports.append(int(part))
    return ports


def stream_query(subresource: str, query: Mapping[str, list[str]]) -> str:
    """PodExecOptions / PodAttachOptions / PodPortForwardOptions as the kubelet's query."""
    params: list[tuple[str, str]] = []
    if subresource == "portforward":
        ports = forward_ports(query.get("ports") or [])
        if ports:
            params.append(("port", ",".join(str(p) for p in ports)))
        return urlencode(params)
    # The kubelet's names for them (`api.ExecStdinParam` and co.).
    for name, param in (("stdin", "input"), ("stdout", "output"), ("stderr", "error"),
                        ("tty", "tty")):
        if _flag(query, name):
            params.append((param, "1"))
    if subresource == "exec":
        command = query.get("command") or []
        if not command:
            raise errors.bad_request("you must specify at least one command for the container")
        params += [("command", c) for c in command]
    if not any(_flag(query, n) for n in ("stdin", "stdout", "stderr")):
        raise errors.bad_request("you must specify at least 1 of stdin, stdout, stderr")
    return urlencode(params)


def kubelet_error(status: int, body: bytes, content_type: str) -> errors.StatusError:
    """A kubelet's refusal as the `Status` the client gets."""
    if content_type.startswith("application/json"):
        with contextlib.suppress(orjson.JSONDecodeError, AttributeError, KeyError):
            found = orjson.loads(body)
            if found.get("kind") == "Status":
                return errors.StatusError(int(found.get("code") or status),
                                          str(found.get("reason", "")),
                                          str(found.get("message", "")),
                                          found.get("details") or {})
    text = body.decode("utf-8", "replace").strip()
    return errors.StatusError(
        status, _REASONS.get(status, "Unknown"),
        text or f"the server responded with the status code {status} but did not return "
                "more information")


class _LenientClientProtocol(ClientProtocol):
    """Accepts subprotocols that are not RFC 7230 tokens (`SPDY/3.1+portforward.k8s.io`,
    which the websockets library would refuse)."""

    def process_subprotocol(self, headers: Headers) -> Subprotocol | None:
        values = [v.strip() for h in headers.get_all("Sec-WebSocket-Protocol")
                  for v in h.split(",") if v.strip()]
        if not values:
            return None
        if len(values) > 1 or values[0] not in (self.available_subprotocols or ()):
            raise InvalidHandshake(f"unsupported subprotocol: {', '.join(values)}")
        return Subprotocol(values[0])


async def open_websocket(url: str, protocols: Sequence[str], context: ssl.SSLContext
                         ) -> ClientConnection:
    """A client WebSocket offering `protocols` verbatim."""
    offered = [Subprotocol(p) for p in protocols]

    class Connection(ClientConnection):
        def __init__(self, protocol: ClientProtocol, **kwargs: Any) -> None:
            # `connect` validates `subprotocols` as tokens; set them on the protocol instead.
            protocol.__class__ = _LenientClientProtocol
            protocol.available_subprotocols = offered
            super().__init__(protocol, **kwargs)

    return await connect(url, ssl=context, compression=None, max_size=None,
                         ping_interval=None, open_timeout=30, create_connection=Connection)


class _AnySubprotocolServer(ServerProtocol):
    def process_subprotocol(self, headers: Headers) -> Subprotocol | None:
        return None  # chosen by the ASGI app; uvicorn puts it in the answer on accept


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol, except that it lets through subprotocols that
    are not RFC 7230 tokens: kubectl offers `SPDY/3.1+portforward.k8s.io`, which the
    websockets library refuses with a 400. Pass as `uvicorn.Config(ws=...)`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn.__class__ = _AnySubprotocolServer

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        # The upgraded request authenticates by its connection's client certificate too.
        add_peer_certificate(self.scope, peer_certificate(self.transport))  # type: ignore[arg-type]


class PodProxy:
    def __init__(self, registry: Registry, store: ObjectStore, *,
                 kubelet_ca: Path | None = None) -> None:
        self.registry = registry
        self.store = store
        self.kubelet_ca = kubelet_ca
        self._context: ssl.SSLContext | None = None
        self._client: httpx.AsyncClient | None = None

    def _ssl(self) -> ssl.SSLContext:
        # Built on first use: the CA and the API server's kubelet-client certificate are
        # written when the server starts, after this object. Kubelets authenticate the API
        # server by that certificate (system:masters) before serving logs or exec.
        if self._context is None:
            self._context = kubelet_client_context(self.kubelet_ca) if self.kubelet_ca \
                else ssl.create_default_context()
        return self._context

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(verify=self._ssl(), timeout=httpx.Timeout(
                30, read=None))
        return self._client

    def _info(self, resource: str) -> ResourceInfo:
        info = self.registry.get("", "v1", resource)
        assert info is not None
        return info

    async def _locate(self, path: ResourcePath, query: Mapping[str, list[str]]) -> str | None:
        """The kubelet URL for a request; None for the log of a pod not yet bound."""
        pods = self._info("pods")
        pod = (await self.store.get(pods, path.namespace, path.name)).obj
        sub = path.subresource
        if sub == "log":
            container = pick_container(pod, path.name, _one(query, "container"))
            params = log_query(query)
        elif sub in ("exec", "attach"):
            container = pick_container(pod, path.name, _one(query, "container"))
            params = stream_query(sub, query)
        else:
            container, params = "", stream_query(sub, query)
        node_name = (pod.get("spec") or {}).get("nodeName", "")
        if not node_name:
            if sub == "log":
                return None
            raise errors.bad_request(f"pod {path.name} does not have a host assigned")
        node = (await self.store.get(self._info("nodes"), "", node_name)).obj
        host, port = node_endpoint(node)
        host = f"[{host}]" if ":" in host else host
        ns, name = quote(path.namespace, safe=""), quote(path.name, safe="")
        where = {"log": f"/containerLogs/{ns}/{name}/{quote(container, safe='')}",
                 "portforward": f"/portForward/{ns}/{name}"}.get(
            sub, f"/{sub}/{ns}/{name}/{quote(container, safe='')}")
        return f"https://{host}:{port}{where}" + (f"?{params}" if params else "")

    # -- HTTP ------------------------------------------------------------------------------

    async def handle(self, request: Request, path: ResourcePath) -> Response | Streaming:
        """pods/log, and exec/attach/portforward requests that did not upgrade."""
        query = parse_qs(request.scope.get("query_string", b"").decode("latin-1"),
                         keep_blank_values=True)
        if (path.subresource == "log" and request.method != "GET") or \
                (path.subresource in STREAMING and request.method not in ("GET", "POST")):
            raise errors.method_not_allowed(
                "the server does not allow this method on the requested resource")
        url = await self._locate(path, query)
        if url is None:
            return Response(200, b"", "text/plain")
        client = self._http()
        try:
            response = await client.send(client.build_request("GET", url), stream=True)
        except httpx.HTTPError as err:
            raise errors.internal(f'Get "{url}": {err}') from err
        if response.status_code != 200 or path.subresource != "log":
            body = await _read_capped(response)
            if response.status_code < 400:  # a streaming request that did not upgrade
                raise errors.bad_request("Upgrade request required")
            raise kubelet_error(response.status_code, body,
                                response.headers.get("content-type", ""))
        return Streaming(_relay_body(response), content_type="text/plain")

    # -- WebSocket -------------------------------------------------------------------------

    async def websocket(self, scope: Scope, receive: Receive, send: Send,
                        admit: Callable[[], Awaitable[None]]) -> None:
        """An upgraded exec/attach/portforward request: relay it to the kubelet once
        `admit` (authentication and authorization) lets it through."""
        if (await receive())["type"] != "websocket.connect":
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"),
                         keep_blank_values=True)
        try:
            await admit()
            # After authentication, which takes out a subprotocol that carried the token.
            offered = [str(p) for p in scope.get("subprotocols") or ()]
            path = parse_resource_path(scope["path"].rstrip("/"))
            if path is None or (path.group, path.resource) != ("", "pods") or \
                    path.subresource not in STREAMING or not path.namespace:
                raise errors.StatusError(404, "NotFound",
                                         "the server could not find the requested resource")
            url = await self._locate(path, query)
            assert url is not None
            upstream = await self._dial(url.replace("https://", "wss://", 1), offered)
        except errors.StatusError as err:
            await _deny(send, err.code, orjson.dumps(err.status()), "application/json")
            return
        except Exception:
            log.exception("unhandled error on the upgrade of %s", scope["path"])
            failure = errors.internal("an internal error occurred")
            await _deny(send, failure.code, orjson.dumps(failure.status()), "application/json")
            return
        await send({"type": "websocket.accept", "subprotocol": upstream.subprotocol})
        await _relay(upstream, receive, send)

    async def _dial(self, url: str, offered: Sequence[str]) -> ClientConnection:
        try:
            return await open_websocket(url, offered, self._ssl())
        except InvalidStatus as err:
            refused = err.response
            raise kubelet_error(refused.status_code, bytes(refused.body or b""),
                                refused.headers.get("Content-Type", "")) from err
        except (OSError, InvalidHandshake, TimeoutError) as err:
            raise errors.internal(f"error dialing backend: {err}") from err


async def _read_capped(response: httpx.Response) -> bytes:
    body = b""
    try:
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) >= _MAX_ERROR_BODY:
                break
    finally:
        await response.aclose()
    return body[:_MAX_ERROR_BODY]


async def _relay_body(response: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.aiter_raw():
            yield chunk
    except httpx.HTTPError as err:
        log.info("log stream from the kubelet ended: %s", err)
    finally:
        await response.aclose()


async def _deny(send: Send, status: int, body: bytes, content_type: str) -> None:
    await send({"type": "websocket.http.response.start", "status": status,
                "headers": [(b"content-type", content_type.encode()),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "websocket.http.response.body", "body": body})


async def _relay(upstream: ClientConnection, receive: Receive, send: Send) -> None:
    """Messages both ways until either side closes; the other side is then closed."""
    async def down() -> None:
        code = 1000
        try:
            async for message in upstream:
                key = "bytes" if isinstance(message, bytes) else "text"
                await send({"type": "websocket.send", key: message})
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else 1000
        else:
            code = upstream.close_code or 1000
        with contextlib.suppress(Exception):
            await send({"type": "websocket.close", "code": code})

    async def up() -> None:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            if message["type"] == "websocket.receive":
                data = message.get("bytes")
                await upstream.send(data if data is not None else str(message.get("text")))

    tasks = [asyncio.create_task(down()), asyncio.create_task(up())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await upstream.close()
