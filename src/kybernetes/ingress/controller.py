"""The ingress controller's loop: informers on Ingresses, IngressClasses, Services,
EndpointSlices, TLS Secrets and the ingress pods, and on GatewayClasses, Gateways and
HTTPRoutes where the API serves gateway.networking.k8s.io (checked at start); every change
wakes the sync, which runs at most once per `min_sync_period`: build the model, render
nginx's configuration, load it when it changed (checked first; a refused one is logged and
the running one kept, as ingress-nginx does), then bring the handled objects' status up to
date. nginx exiting ends the controller with an error, for its supervisor to restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kybernetes.client import (
    ApiClient,
    ClientError,
    Informer,
    SharedInformerFactory,
    wait_for_cache_sync,
)
from kybernetes.client.rest import NotFoundError, Resource
from kybernetes.ingress import defaultcert, gatewaystatus, model, status
from kybernetes.ingress.gateway import GROUP, GatewayBuilder, GatewayConfig
from kybernetes.ingress.nginx import Nginx, NginxError
from kybernetes.ingress.render import Listen, Paths, render

log = logging.getLogger(__name__)

CONTROLLER = "kybernetes.io/ingress-nginx"
GATEWAY_CONTROLLER = "kybernetes.io/gateway-nginx"
GATEWAY_CLASSES = Resource(GROUP, "v1", "gatewayclasses", namespaced=False, kind="GatewayClass")
GATEWAYS = Resource(GROUP, "v1", "gateways", kind="Gateway")
HTTP_ROUTES = Resource(GROUP, "v1", "httproutes", kind="HTTPRoute")
INGRESSES = ("networking.k8s.io", "v1", "ingresses")
INGRESS_CLASSES = ("networking.k8s.io", "v1", "ingressclasses")
SERVICES = ("", "v1", "services")
ENDPOINT_SLICES = ("discovery.k8s.io", "v1", "endpointslices")
SECRETS = ("", "v1", "secrets")
PODS = ("", "v1", "pods")
SYSTEM_NAMESPACE = "kube-system"
# Status writes in flight at once.
STATUS_WRITERS = 8
Obj = dict[str, Any]
StatusWrite = tuple[Resource | tuple[str, str, str], Obj, Obj]


@dataclass(frozen=True)
class IngressConfig:
    directory: Path
    listen: Listen
    min_sync_period: float = 0.2
    publish_addresses: tuple[str, ...] = ()
    workers: str = "auto"


def _slices_by_service(slices: list[Obj]) -> dict[str, list[Obj]]:
    found: dict[str, list[Obj]] = {}
    for slice_ in slices:
        meta = slice_.get("metadata") or {}
        service = (meta.get("labels") or {}).get(model.SERVICE_NAME_LABEL)
        if service:
            found.setdefault(f"{meta.get('namespace', '')}/{service}", []).append(slice_)
    return found


class IngressController:
    def __init__(self, client: ApiClient, config: IngressConfig,
                 nginx: Nginx | None = None) -> None:
        self.client = client
        self.config = config
        directory = config.directory
        self.paths = Paths(prefix=directory / "nginx", certificates=directory / "certs",
                           default_certificate=directory / "default-certificate.pem")
        self.nginx = nginx or Nginx(self.paths)
        self._wake = asyncio.Event()
        self._status_wake = asyncio.Event()
        self._built: tuple[list[Obj], GatewayConfig | None] = ([], None)
        self.gateway_informers: tuple[Informer, Informer, Informer] | None = None
        self.syncs = 0

    def _changed(self, *_args: Any) -> None:
        self._wake.set()

    def _updated(self, old: Obj, new: Obj) -> None:
        """An update of an object whose own status we write: a change of that status
        alone (our own write, mostly) changes nothing nginx serves."""
        if _without_status(old) != _without_status(new):
            self._wake.set()
        else:
            self._status_wake.set()

    async def run(self) -> None:
        self.nginx.prepare()
        defaultcert.ensure(self.paths.default_certificate)
        factory = SharedInformerFactory(self.client)
        self.ingresses = factory.informer(INGRESSES)
        self.classes = factory.informer(INGRESS_CLASSES)
        self.services = factory.informer(SERVICES)
        self.slices = factory.informer(ENDPOINT_SLICES)
        self.secrets = factory.informer(SECRETS, field_selector="type=kubernetes.io/tls")
        self.pods = None if self.config.publish_addresses else factory.informer(
            PODS, label_selector=",".join(f"{k}={v}" for k, v in status.INGRESS_LABELS.items()))
        if await self._serves_gateway_api():
            self.gateway_informers = (factory.informer(GATEWAY_CLASSES),
                                      factory.informer(GATEWAYS), factory.informer(HTTP_ROUTES))
        with_status = (self.ingresses, *(self.gateway_informers or ()))
        registrations = [
            informer.add_event_handler(
                self._changed, self._updated if informer in with_status else self._changed,
                self._changed)
            for informer in (self.ingresses, self.classes, self.services, self.slices,
                             self.secrets, self.pods, *(self.gateway_informers or ()))
            if informer is not None]
        factory.start()
        try:
            await wait_for_cache_sync(*registrations)
            log.info("ingress controller %s serving on %s:%d and :%d", CONTROLLER,
                     self.config.listen.address, self.config.listen.http_port,
                     self.config.listen.https_port)
            self._wake.set()
            async with asyncio.TaskGroup() as group:
                group.create_task(self._sync_loop())
                group.create_task(self._status_loop())
                group.create_task(self.nginx.wait())
        finally:
            await self.nginx.stop()
            await factory.shutdown()

    async def _sync_loop(self) -> None:
        loop = asyncio.get_running_loop()
        last = 0.0
        while True:
            await self._wake.wait()
            delay = last + self.config.min_sync_period - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self._wake.clear()
            last = loop.time()
            await self.sync_once()

    async def _serves_gateway_api(self) -> bool:
        try:
            await self.client.request("GET", f"/apis/{GROUP}/v1")
        except NotFoundError:
            log.info("the API serves no %s/v1: Gateways are not watched", GROUP)
            return False
        return True

    def handled(self) -> list[Obj]:
        ours = model.our_classes(self.classes.store.list(), CONTROLLER)
        return [i for i in self.ingresses.store.list() if model.handles(i, ours)]

    async def sync_once(self) -> None:
        handled = self.handled()
        services = {model.key(s): s for s in self.services.store.list()}
        secrets = {model.key(s): s for s in self.secrets.store.list()}
        builder = model.Builder(services, _slices_by_service(self.slices.store.list()), secrets)
        config = builder.build(handled)
        if self.gateway_informers is not None:
            classes, gateways, routes = (i.store.list() for i in self.gateway_informers)
            config.gateway = GatewayBuilder(builder, GATEWAY_CONTROLLER).build(
                classes, gateways, routes)
        self.nginx.write_certificates(config.certificates)
        text = render(config, self.config.listen, self.paths, workers=self.config.workers)
        try:
            if await self.nginx.apply(text):
                log.info("nginx configuration loaded (%d servers, %d upstreams)",
                         len(config.servers), len(config.upstreams))
        except NginxError as err:
            log.error("nginx refused the new configuration (the previous one keeps "
                      "serving): %s", err)
        self.syncs += 1
        self._built = (handled, config.gateway)
        self._status_wake.set()

    async def _status_loop(self) -> None:
        """Status follows the configuration nginx was given, beside the sync loop (a status
        write per Ingress must not hold up the next reload)."""
        while True:
            await self._status_wake.wait()
            self._status_wake.clear()
            handled, gateway = self._built
            writes = self._ingress_status_writes(handled)
            if gateway is not None:
                writes += self._gateway_status_writes(gateway)
            limit = asyncio.Semaphore(STATUS_WRITERS)
            await asyncio.gather(*(self._write_status(limit, *w) for w in writes))

    async def _write_status(self, limit: asyncio.Semaphore,
                            resource_: Resource | tuple[str, str, str], obj: Obj,
                            wanted: Obj) -> None:
        meta = obj["metadata"]
        async with limit:
            with contextlib.suppress(ClientError):
                await self.client.patch(resource_, meta["name"], {"status": wanted},
                                        namespace=meta.get("namespace"), subresource="status",
                                        field_manager="ingress-nginx")

    def _addresses(self) -> list[str]:
        if self.pods is None:
            return list(self.config.publish_addresses)
        return status.running_addresses(
            p for p in self.pods.store.list()
            if (p.get("metadata") or {}).get("namespace") == SYSTEM_NAMESPACE)

    def _ingress_status_writes(self, handled: list[Obj]) -> list[StatusWrite]:
        wanted = status.load_balancer(self._addresses())
        # The current objects: status may have been written since the sync.
        current = (self.ingresses.store.get_object(i) for i in handled)
        return [(INGRESSES, ingress, {"loadBalancer": wanted or None}) for ingress in current
                if ingress is not None and status.differs(ingress, wanted)]

    def _gateway_status_writes(self, built: GatewayConfig) -> list[StatusWrite]:
        assert self.gateway_informers is not None
        classes, gateways, routes = (i.store.list() for i in self.gateway_informers)
        addresses = self._addresses()
        writes: list[StatusWrite] = []
        for gateway_class in classes:
            if (gateway_class.get("spec") or {}).get("controllerName") == GATEWAY_CONTROLLER:
                writes.append((GATEWAY_CLASSES, gateway_class,
                               gatewaystatus.class_status(gateway_class)))
        for gateway in gateways:
            if model.key(gateway) in built.attached:
                writes.append((GATEWAYS, gateway, gatewaystatus.gateway_status(
                    gateway, built, model.key(gateway), addresses)))
        for route in routes:
            if built.route_parents.get(model.key(route)):
                writes.append((HTTP_ROUTES, route, gatewaystatus.route_status(
                    route, built, model.key(route), GATEWAY_CONTROLLER)))
        return [(r, obj, wanted) for r, obj, wanted in writes
                if gatewaystatus.differs(obj, wanted)]


def _without_status(obj: Obj) -> Obj:
    meta = {k: v for k, v in (obj.get("metadata") or {}).items()
            if k not in ("resourceVersion", "managedFields")}
    return {**{k: v for k, v in obj.items() if k != "status"}, "metadata": meta}
