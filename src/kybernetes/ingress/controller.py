"""The ingress controller's loop: informers on Ingresses, IngressClasses, Services,
EndpointSlices, TLS Secrets and the ingress pods; every change wakes the sync, which runs
at most once per `min_sync_period`: build the model, render nginx's configuration, load it
when it changed (checked first; a refused one is logged and the running one kept, as
ingress-nginx does), then bring the handled Ingresses' `status.loadBalancer` up to date.
nginx exiting ends the controller with an error, for its supervisor to restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kybernetes.client import ApiClient, ClientError, SharedInformerFactory, wait_for_cache_sync
from kybernetes.ingress import defaultcert, model, status
from kybernetes.ingress.nginx import Nginx, NginxError
from kybernetes.ingress.render import Listen, Paths, render

log = logging.getLogger(__name__)

CONTROLLER = "kybernetes.io/ingress-nginx"
INGRESSES = ("networking.k8s.io", "v1", "ingresses")
INGRESS_CLASSES = ("networking.k8s.io", "v1", "ingressclasses")
SERVICES = ("", "v1", "services")
ENDPOINT_SLICES = ("discovery.k8s.io", "v1", "endpointslices")
SECRETS = ("", "v1", "secrets")
PODS = ("", "v1", "pods")
SYSTEM_NAMESPACE = "kube-system"
Obj = dict[str, Any]


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
        self.syncs = 0

    def _changed(self, *_args: Any) -> None:
        self._wake.set()

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
        registrations = [
            informer.add_event_handler(self._changed, self._changed, self._changed)
            for informer in (self.ingresses, self.classes, self.services, self.slices,
                             self.secrets, self.pods) if informer is not None]
        factory.start()
        try:
            await wait_for_cache_sync(*registrations)
            log.info("ingress controller %s serving on %s:%d and :%d", CONTROLLER,
                     self.config.listen.address, self.config.listen.http_port,
                     self.config.listen.https_port)
            self._wake.set()
            async with asyncio.TaskGroup() as group:
                group.create_task(self._sync_loop())
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

    def handled(self) -> list[Obj]:
        ours = model.our_classes(self.classes.store.list(), CONTROLLER)
        return [i for i in self.ingresses.store.list() if model.handles(i, ours)]

    async def sync_once(self) -> None:
        handled = self.handled()
        services = {model.key(s): s for s in self.services.store.list()}
        secrets = {model.key(s): s for s in self.secrets.store.list()}
        config = model.Builder(services, _slices_by_service(self.slices.store.list()),
                               secrets).build(handled)
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
        await self._update_status(handled)

    def _addresses(self) -> list[str]:
        if self.pods is None:
            return list(self.config.publish_addresses)
        return status.running_addresses(
            p for p in self.pods.store.list()
            if (p.get("metadata") or {}).get("namespace") == SYSTEM_NAMESPACE)

    async def _update_status(self, handled: list[Obj]) -> None:
        wanted = status.load_balancer(self._addresses())
        for ingress in handled:
            if not status.differs(ingress, wanted):
                continue
            meta = ingress["metadata"]
            with contextlib.suppress(ClientError):
                await self.client.patch(
                    INGRESSES, meta["name"], {"status": {"loadBalancer": wanted or None}},
                    namespace=meta.get("namespace"), subresource="status",
                    field_manager="ingress-nginx")
