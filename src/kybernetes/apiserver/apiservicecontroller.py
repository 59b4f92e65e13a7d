"""APIServices backed by a Service: kube-aggregator's APIService controller (a proxy
backend per group/version, aggregator.py) and its available controller (the
`Available` condition), in the API server, following the watch cache.

Each APIService with `spec.service` is registered with the aggregator (Service, port
(default 443), caBundle or insecureSkipTLSVerify, priorities, whether it is Available);
it is removed when the APIService goes or no longer names a Service. Local APIServices
(no `spec.service`) are Available with reason Local. A Service-backed one is checked as
upstream's `available_controller.go` does, on each change to it, to its Service or to its
EndpointSlices, and every `interval` seconds (upstream: 30): the Service exists
(ServiceNotFound), a ClusterIP Service has the port (ServicePortError) and a ready
endpoint (MissingEndpoints), and `GET /apis/<group>/<version>` of the backend answers 2xx
(FailedDiscoveryCheck); else Available, reason Passed. The condition is written through
`/status` when it changes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from kybernetes.api import errors, timeutil
from kybernetes.api.registry import ResourceInfo
from kybernetes.apiserver import apiservices
from kybernetes.apiserver.admission import lookup
from kybernetes.apiserver.admission.webhooks.client import resolve_service
from kybernetes.apiserver.aggregator import (
    Aggregator,
    CheckFailed,
    ServiceRef,
    proxy_context,
    service_context,
)
from kybernetes.apiserver.crds import set_condition
from kybernetes.apiserver.watchcache import CacheEvent, TooOldError

if TYPE_CHECKING:
    from kybernetes.apiserver.server import ApiServer

log = logging.getLogger(__name__)

Obj = dict[str, Any]
MANAGER = "kube-apiserver"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"


def _info(server: ApiServer, group: str, plural: str) -> ResourceInfo:
    info = server.registry.get(group, "v1", plural)
    assert info is not None
    return info


def service_ref(obj: Obj) -> ServiceRef | None:
    spec = obj.get("spec") or {}
    service = spec.get("service")
    if not isinstance(service, dict):
        return None
    return ServiceRef(str(service.get("namespace", "")), str(service.get("name", "")),
                      int(service.get("port") or 443), str(spec.get("caBundle") or ""),
                      bool(spec.get("insecureSkipTLSVerify")))


def is_available(obj: Obj) -> bool:
    return any(c.get("type") == "Available" and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions") or ())


class ApiServiceController:
    def __init__(self, server: ApiServer, interval: float) -> None:
        self.server = server
        self.store = server.store
        self.interval = interval
        self.info = _info(server, "apiregistration.k8s.io", "apiservices")
        self.services = _info(server, "", "services")
        self.slices = _info(server, "discovery.k8s.io", "endpointslices")
        data_dir = server.config.data_dir

        def resolve(namespace: str, name: str, port: int) -> Awaitable[tuple[str, int]]:
            return resolve_service(self.store, self.services, self.slices, namespace, name,
                                   port)

        self.aggregator = Aggregator(
            lambda: proxy_context(data_dir),
            service_tls=lambda ca, insecure: service_context(data_dir, ca, insecure),
            resolve=resolve)
        server.app.aggregator = self.aggregator
        # APIService name -> the (group, version) registered for it.
        self.registered: dict[str, tuple[str, str]] = {}
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._pending: set[str] = set()

    # -- following changes -------------------------------------------------------------

    async def run(self) -> None:
        """Registers, checks and re-checks until cancelled."""
        await self.store.cache.ready.wait()
        tasks = [asyncio.create_task(self._follow(self.info.key_prefix, self._apiservice)),
                 asyncio.create_task(self._follow(self.services.key_prefix, self._service)),
                 asyncio.create_task(self._follow(self.slices.key_prefix, self._slice)),
                 asyncio.create_task(self._periodically()),
                 asyncio.create_task(self._work())]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _follow(self, prefix: str, handle: Callable[[CacheEvent], None]) -> None:
        cache = self.store.cache
        while True:
            try:
                async for event in cache.watch(prefix, cache.revision,
                                               initial=lambda: list(cache.scan(prefix))):
                    if isinstance(event, CacheEvent):
                        handle(event)
            except TooOldError:
                continue
            except Exception:
                log.exception("following %s failed; starting over", prefix)
                await asyncio.sleep(1)

    def _apiservice(self, event: CacheEvent) -> None:
        obj = event.current.obj
        name = obj["metadata"]["name"]
        ref = None if event.type == "DELETED" else service_ref(obj)
        before = self.registered.pop(name, None)
        spec = obj.get("spec") or {}
        now = (str(spec.get("group", "")), str(spec.get("version", "")))
        if before is not None and (ref is None or before != now):
            self.aggregator.unregister(*before)
        if ref is not None:
            self.aggregator.register_service(
                *now, ref, group_priority=int(spec.get("groupPriorityMinimum") or 0),
                version_priority=int(spec.get("versionPriority") or 0),
                available=is_available(obj))
            self.registered[name] = now
        if event.type != "DELETED":
            self._enqueue(name)

    def _service(self, event: CacheEvent) -> None:
        meta = event.current.obj["metadata"]
        self._enqueue_for(meta.get("namespace", ""), meta["name"])

    def _slice(self, event: CacheEvent) -> None:
        meta = event.current.obj["metadata"]
        service = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
        if service:
            self._enqueue_for(meta.get("namespace", ""), service)

    def _enqueue_for(self, namespace: str, name: str) -> None:
        for cached in self.store.cache.scan(self.info.key_prefix):
            ref = service_ref(cached.obj)
            if ref is not None and (ref.namespace, ref.name) == (namespace, name):
                self._enqueue(cached.obj["metadata"]["name"])

    def _enqueue(self, name: str) -> None:
        if name not in self._pending:
            self._pending.add(name)
            self._queue.put_nowait(name)

    async def _periodically(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            for name in list(self.registered):
                self._enqueue(name)

    async def _work(self) -> None:
        while True:
            name = await self._queue.get()
            self._pending.discard(name)
            try:
                await self.sync(name)
            except errors.StatusError as err:
                if err.code != 404:
                    log.warning("checking APIService %s: %s", name, err.message)
            except Exception:
                log.exception("checking APIService %s failed", name)

    # -- availability ------------------------------------------------------------------

    async def sync(self, name: str) -> None:
        """Checks the APIService and writes its Available condition if it changed."""
        found = lookup.cached(self.store, self.info, "", name)
        if found is None:
            return
        condition = await self.available(found)
        current = next((c for c in (found.get("status") or {}).get("conditions") or ()
                        if c.get("type") == "Available"), None)
        if current is not None and all(current.get(k) == condition[k]
                                       for k in ("status", "reason", "message")):
            return

        def mutate(obj: Obj) -> Obj:
            set_condition(obj.setdefault("status", {}), dict(condition))
            return obj

        await self.store.modify(self.info, "", name, mutate, subresource="status",
                                manager=MANAGER)

    async def available(self, obj: Obj) -> Obj:
        """Upstream's availability checks: the Available condition the APIService has."""
        ref = service_ref(obj)
        if ref is None:
            return {**apiservices.AVAILABLE_LOCAL["conditions"][0],
                    "lastTransitionTime": timeutil.now_rfc3339()}
        where = f'service/{ref.name} in "{ref.namespace}"'
        service = lookup.cached(self.store, self.services, ref.namespace, ref.name) or \
            await lookup.live(self.store, self.services, ref.namespace, ref.name)
        if service is None:
            return _unavailable("ServiceNotFound", f"{where} is not present")
        spec = service.get("spec") or {}
        if spec.get("type", "ClusterIP") == "ClusterIP":
            port = next((p for p in spec.get("ports") or () if p.get("port") == ref.port),
                        None)
            if port is None:
                return _unavailable("ServicePortError",
                                    f"{where} is not listening on port {ref.port}")
            try:
                await resolve_service(self.store, self.services, self.slices, ref.namespace,
                                      ref.name, ref.port)
            except LookupError:
                return _unavailable("MissingEndpoints",
                                    f"endpoints for {where} have no addresses with port "
                                    f'name "{port.get("name") or ""}"')
        spec_obj = obj.get("spec") or {}
        backend = self.aggregator.backends.get((str(spec_obj.get("group", "")),
                                                str(spec_obj.get("version", ""))))
        if backend is None or backend.service != ref:
            return _unavailable("FailedDiscoveryCheck", "the APIService is not registered")
        try:
            await self.aggregator.check(backend)
        except CheckFailed as err:
            return _unavailable("FailedDiscoveryCheck", str(err))
        return {"type": "Available", "status": "True", "lastTransitionTime": timeutil.now_rfc3339(),
                "reason": "Passed", "message": "all checks passed"}


def _unavailable(reason: str, message: str) -> Obj:
    return {"type": "Available", "status": "False", "lastTransitionTime": timeutil.now_rfc3339(),
            "reason": reason, "message": message}
