"""The API server's ASGI application: routes a request to discovery, OpenAPI, health,
metrics or the resource handlers, and turns every failure into a `Status`.
"""

from __future__ import annotations

import asyncio
import logging
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kybernetes.api import errors
from kybernetes.api.registry import Registry
from kybernetes.api.version import GIT_VERSION, KUBERNETES_VERSION
from kybernetes.apiserver import (
    discovery,
    healthz,
    openapi,
    openapi_proto,
    requestcontext,
    uuids,
)
from kybernetes.apiserver.aggregator import Aggregator
from kybernetes.apiserver.audit.setup import Auditor
from kybernetes.apiserver.authn.impersonation import impersonate
from kybernetes.apiserver.authn.interface import Authenticator
from kybernetes.apiserver.authz.attributes import request_attributes
from kybernetes.apiserver.authz.authorizer import Authorizer, forbidden_error
from kybernetes.apiserver.http import (
    Receive,
    Request,
    Response,
    Scope,
    Send,
    Streaming,
    json_response,
    status_response,
)
from kybernetes.apiserver.loopmonitor import LoopMonitor
from kybernetes.apiserver.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from kybernetes.apiserver.metrics import ApiServerMetrics, request_labels
from kybernetes.apiserver.resources import ResourceHandlers
from kybernetes.apiserver.routing import parse_resource_path
from kybernetes.apiserver.store import ObjectStore
from kybernetes.dashboard import assets as dashboard_assets
from kybernetes.storage.encryption import TransformError
from kybernetes.storage.interface import StorageError

log = logging.getLogger(__name__)

_NOT_FOUND = errors.StatusError(404, "NotFound", "the server could not find the requested resource")


def version_info() -> dict[str, str]:
    major, minor, _ = KUBERNETES_VERSION.removeprefix("v").split(".")
    return {
        "major": major, "minor": minor, "gitVersion": GIT_VERSION,
        "gitCommit": "", "gitTreeState": "clean", "buildDate": "2026-11-23T00:00:00Z",
        "goVersion": f"python{platform.python_version()}", "compiler": "cpython",
        "platform": f"linux/{platform.machine()}",
    }


class ApiServerApp:
    def __init__(self, registry: Registry, store: ObjectStore, *, server_address: str,
                 authenticator: Authenticator, authorizer: Authorizer,
                 kubelet_ca: Path | None = None) -> None:
        self.registry = registry
        self.store = store
        self.authenticator = authenticator
        self.authorizer = authorizer
        self.server_address = server_address
        self.resources = ResourceHandlers(registry, store, kubelet_ca=kubelet_ca)
        # Named liveness checks of what runs beside the API server in its process (the
        # components of `kyb server`): each answers None when well, else what is wrong.
        self.liveness: dict[str, Callable[[], str | None]] = {}
        self.loop_monitor = LoopMonitor()
        self.started = time.time()
        self.metrics = ApiServerMetrics(lambda: store.cache.revision,
                                        lambda: self.loop_monitor.max_stall, self._kind)

    # Auditing, when the server has a policy and a log (see apiserver/audit).
    audit: Auditor | None = None
    # Groups served by other processes, proxied (see apiserver/aggregator).
    aggregator: Aggregator | None = None
    # The web dashboard's built files, served at /dashboard/ (see kybernetes/dashboard).
    dashboard = dashboard_assets.Assets()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] == "websocket":
            # exec, attach and port-forward upgrades, relayed to the kubelet.
            upgrade = Request(scope, receive, method="GET")
            trail = None if self.audit is None else self.audit.begin(
                upgrade, upgrade.header("audit-id") or uuids.uuid4(), websocket=True)

            async def admit() -> None:
                await self.admit(Request(scope, receive, method="GET"), websocket=True)
                if trail is not None:
                    trail.admitted()

            await self.resources.pods.websocket(
                scope, receive, send if trail is None else trail.websocket_send(send), admit)
            if trail is not None:
                trail.complete()
            return
        if scope["type"] != "http":
            return
        if dashboard_assets.serves(scope["path"]):
            # The dashboard's static files are public; its API calls are authenticated.
            await self.dashboard(scope, send)
            return
        request = Request(scope, receive)
        started = time.perf_counter()
        warnings = requestcontext.start_warnings()
        # The request's audit ID (the client's own, if it sent one), echoed as upstream does.
        audit_id = request.header("audit-id") or uuids.uuid4()
        trail = None if self.audit is None else self.audit.begin(request, audit_id)
        failure: Exception | None = None
        try:
            await self.admit(request)
            if trail is not None:
                trail.admitted()
            result = await self.route(request)
        except errors.StatusError as err:
            result = status_response(err)
        except TransformError as err:
            # A stored value that does not decrypt: upstream's storage InternalError.
            result = status_response(errors.StatusError(
                500, "InternalError", f"Internal error occurred: {err}",
                {"causes": [{"message": str(err)}]}))
        except StorageError as err:
            log.warning("storage failure on %s %s: %s", request.method, request.path, err)
            result = status_response(errors.unavailable(f"storage is unavailable: {err}"))
        except Exception as err:
            log.exception("unhandled error on %s %s", request.method, request.path)
            failure = err
            result = status_response(errors.internal("an internal error occurred"))
        labels = request_labels(request.method, request.path, request.query,
                                request.header("content-type"))
        result.headers += [("warning", requestcontext.warning_header(w)) for w in warnings]
        result.headers.append(("audit-id", audit_id))
        if trail is not None:
            trail.respond(result)
        try:
            if isinstance(result, Streaming):
                with self.metrics.longrunning(labels):
                    await result.send(send, receive)
            else:
                await result.send(send)
        finally:
            self.metrics.record(labels, result.status, time.perf_counter() - started)
            if trail is not None:
                trail.complete(failure)

    async def admit(self, request: Request, *, websocket: bool = False) -> None:
        """Authentication, impersonation, then authorization (upstream's filter chain): who
        is asking, as whom, and may they; the identity is then the request context's."""
        user = impersonate(request, await self.authenticator.authenticate(request),
                           self.authorizer)
        requestcontext.set_user(user)
        attrs = request_attributes(user, request.method, request.path, request.query,
                                   websocket=websocket)
        decision = self.authorizer.authorize(attrs)
        if not decision.allowed:
            raise forbidden_error(attrs, decision.reason)

    async def route(self, request: Request) -> Response | Streaming:
        path = request.path.rstrip("/") or "/"
        if self.aggregator is not None:
            aggregated = await self._aggregated(request, path, self.aggregator)
            if aggregated is not None:
                return aggregated
        resource_path = parse_resource_path(path)
        if resource_path is not None and resource_path.resource:
            return await self.resources.handle(request, resource_path)
        if request.method not in ("GET", "HEAD"):
            raise errors.method_not_allowed(
                "the server does not allow this method on the requested resource")
        if path == "/openapi/v2":
            return self._openapi_v2(request.header("accept"))
        if path in ("/api", "/apis") and discovery.wants_aggregated(request.header("accept")):
            body = discovery.aggregated(self.registry, legacy=path == "/api")
            return json_response(body, content_type=discovery.AGGREGATED_MEDIA)
        if path in ("/livez", "/readyz", "/healthz"):
            endpoint = path.removeprefix("/")
            outcomes = await self._ready() if endpoint == "readyz" else self._live()
            skip = healthz.excluded(request.scope.get("query_string", b"").decode("latin-1"))
            return healthz.answer(endpoint, [o for o in outcomes if o[0] not in skip],
                                  verbose="verbose" in request.query)
        document = self._document(path)
        if document is None:
            raise _NOT_FOUND
        return document

    async def _aggregated(self, request: Request, path: str, aggregator: Aggregator
                          ) -> Response | None:
        """A proxied request, or a discovery document that lists the proxied groups."""
        backend = aggregator.backend_for(path)
        if backend is not None:
            return await aggregator.proxy(request, backend)
        if request.method not in ("GET", "HEAD") or not path.startswith("/apis"):
            return None
        if path == "/apis":
            if discovery.wants_aggregated(request.header("accept")):
                await aggregator.refresh()
                body = discovery.aggregated(self.registry, legacy=False)
                body["items"] += aggregator.aggregated_items()
                return json_response(body, content_type=discovery.AGGREGATED_MEDIA)
            body = discovery.api_group_list(self.registry)
            body["groups"] += aggregator.api_groups()
            return json_response(body)
        group = aggregator.api_group(path.removeprefix("/apis/"))
        return None if group is None else json_response(group)

    def _openapi_v2(self, accept: str) -> Response:
        """JSON or gnostic protobuf, negotiated as kube-openapi's handler does."""
        media = openapi_proto.negotiate(accept)
        if media is None:
            raise errors.not_acceptable(
                "only the following media types are accepted: application/json, "
                + openapi_proto.MEDIA_TYPE)
        if media == openapi_proto.MEDIA_TYPE:
            return Response(200, openapi.openapi_v2_protobuf(self.registry), media,
                            headers=[("vary", "Accept")])
        return Response(200, openapi.openapi_v2_json(self.registry),
                        headers=[("vary", "Accept")])

    def _document(self, path: str) -> Response | None:
        if path == "/version":
            return json_response(version_info())
        if path == "/metrics":
            return Response(200, self.metrics.render(), METRICS_CONTENT_TYPE)
        if path == "/api":
            return json_response(discovery.api_versions(self.server_address))
        if path == "/apis":
            return json_response(discovery.api_group_list(self.registry))
        if path == "/openapi/v3":
            return json_response(openapi.openapi_v3_index(self.registry))
        if path.startswith("/openapi/v3/"):
            found = openapi.openapi_v3_path_json(self.registry, path.removeprefix("/openapi/v3/"))
            if found is None:
                return None
            document, digest = found
            return Response(200, document, headers=[("etag", f'"{digest}"')])
        body: dict[str, Any] | None = None
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) == 2:
            body = discovery.api_resource_list(self.registry, "", parts[1])
        elif parts[0] == "apis" and len(parts) == 2:
            body = discovery.api_group(self.registry, parts[1])
        elif parts[0] == "apis" and len(parts) == 3:
            body = discovery.api_resource_list(self.registry, parts[1], parts[2])
        return None if body is None else json_response(body)

    def _basic(self) -> list[healthz.Outcome]:
        """The server answers and its watch cache is filled."""
        cache = "not filled yet" if not self.store.cache.ready.is_set() else None
        return [("ping", None), ("watch-cache", cache)]

    def _live(self) -> list[healthz.Outcome]:
        """`/livez` (and `/healthz`): the basic checks, and each component running in the
        server's process (`liveness`: `[-]scheduler failed` while it is down)."""
        return [*self._basic(), *((name, check()) for name, check in self.liveness.items())]

    async def _ready(self) -> list[healthz.Outcome]:
        """`/readyz`: the basic checks, the storage answers and the watch cache has caught
        up with it (holds every change up to the storage's current revision: not while it
        replays what was written while it was cut off, say after etcd came back), all
        within 2 s. The components are not in it: the API serves without them."""
        basic = self._basic()
        cache = self.store.cache
        if not cache.ready.is_set():
            return basic
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 2
        try:
            current = await asyncio.wait_for(cache.storage_revision(), 2)
        except (StorageError, TimeoutError) as err:
            return [*basic, ("storage", str(err) or "no answer in 2s")]
        try:
            await asyncio.wait_for(cache.wait_fresh(current), max(deadline - loop.time(), 0.1))
        except (errors.StatusError, StorageError, TimeoutError):
            return [*basic, ("storage", None),
                    ("watch-cache-fresh", f"catching up with the storage (at revision "
                                          f"{cache.revision} of {current})")]
        return [*basic, ("storage", None), ("watch-cache-fresh", None)]

    def _kind(self, group: str, version: str, resource: str) -> str:
        info = self.registry.get(group, version, resource)
        return "" if info is None else info.kind


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
