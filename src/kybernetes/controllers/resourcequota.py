"""The resource quota controller (upstream's `pkg/controller/resourcequota`): keeps each
ResourceQuota's `status.hard` equal to its `spec.hard` and `status.used` equal to what the
namespace's objects actually use.

- **Keys** are quotas (`<namespace>/<name>`): a quota is synced when it is created, when
  its `spec.hard` changes (its status is this controller's own doing), and every
  `resync_period` (upstream's `--resource-quota-sync-period`, 5 minutes), which catches
  anything else (a charge whose write then failed, say).
- **Replenishment**: the controller monitors every resource quota can count (discovered
  like the garbage collector does: namespaced, creatable, listable, watchable, deletable;
  rediscovered every `discovery_period`). When such an object is deleted, or an update
  changes its usage (a pod finishing, a service changing type, a claim growing), the
  namespace's quotas tracking that resource are synced, so freed quota is usable again
  at once. Creations need nothing: the ResourceQuota admission plugin charged them.
- **sync** computes usage from the monitors' caches with the shared evaluators
  (`api/quota`), for the resources the quota limits, and writes the status only when it
  differs, with the quota's resourceVersion (a concurrent charge by admission makes the
  write conflict, and the key is retried).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar

from kybernetes.api.objects import meta as _meta
from kybernetes.api.quota import evaluators, resources
from kybernetes.api.quota.evaluators import Evaluator
from kybernetes.client import ClientError, resource, wait_for_cache_sync
from kybernetes.client.informer import NAMESPACE_INDEX, HandlerRegistration
from kybernetes.client.rest import Obj
from kybernetes.controllers.base import ControllerContext, QueueController, Requeue
from kybernetes.controllers.discovery import ApiResource

log = logging.getLogger(__name__)

RESOURCE_QUOTAS = resource("", "v1", "resourcequotas")
# Upstream's --concurrent-resource-quota-syncs and --resource-quota-sync-period, and how
# often it rediscovers the resources to monitor.
DEFAULT_WORKERS = 5
DEFAULT_RESYNC_PERIOD = 300.0
DISCOVERY_PERIOD = 30.0
IGNORED_RESOURCES = frozenset({("", "events"), ("events.k8s.io", "events")})
_REQUIRED_VERBS = ("create", "list", "watch", "delete")


@dataclass
class _Monitor:
    resource: ApiResource
    evaluator: Evaluator
    registration: HandlerRegistration


def _hard(quota: Obj, section: str) -> resources.ResourceList:
    return resources.parse((quota.get(section) or {}).get("hard"))


class ResourceQuotaController(QueueController):
    name: ClassVar[str] = "resourcequota-controller"

    def __init__(self, ctx: ControllerContext, *, workers: int = DEFAULT_WORKERS,
                 resync_period: float = DEFAULT_RESYNC_PERIOD,
                 discovery_period: float = DISCOVERY_PERIOD) -> None:
        super().__init__(workers=workers)
        self.client = ctx.client
        self.informers = ctx.informers
        self.discovery = ctx.discovery
        self.resync_period = resync_period
        self.discovery_period = discovery_period
        self.quotas = ctx.informers.informer(RESOURCE_QUOTAS)
        self.watch(self.quotas, on_add=self.enqueue_object, on_update=self._quota_updated)
        self.monitors: dict[tuple[str, str], _Monitor] = {}

    # -- running ------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            await self.sync_monitors()
        except ClientError as err:
            log.warning("%s: discovery failed (%s); monitoring built-in resources", self.name,
                        err)
            self.discovery.use_builtin()
            await self.sync_monitors()
        self.informers.start()
        while not await wait_for_cache_sync(*(m.registration for m in self.monitors.values()),
                                            timeout=self.discovery_period):
            log.info("%s: waiting for resource monitors to sync", self.name)
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(super().run())
            tasks.create_task(self._every(self.resync_period, self.enqueue_all))
            tasks.create_task(self._every(self.discovery_period, self._rediscover))

    @staticmethod
    async def _every(period: float, action: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(period)
            await action()

    async def enqueue_all(self) -> None:
        for quota in self.quotas.store.list():
            self.enqueue_object(quota)

    async def _rediscover(self) -> None:
        try:
            await self.sync_monitors(max_age=self.discovery_period)
        except ClientError as err:
            log.info("%s: resource discovery failed: %s", self.name, err)
        self.informers.start()

    async def sync_monitors(self, *, max_age: float | None = None) -> None:
        """Monitor every quotable resource discovery reports; stop monitoring vanished
        ones. New monitors' informers start with the next `informers.start()`."""
        found = await self.discovery.resources(max_age=max_age)
        wanted = {(r.group, r.plural): r for r in found
                  if r.preferred and r.namespaced and r.supports(*_REQUIRED_VERBS)
                  and (r.group, r.plural) not in IGNORED_RESOURCES}
        for key, res in wanted.items():
            if key not in self.monitors:
                self.monitors[key] = self._monitor(res)
        for key in [k for k in self.monitors if k not in wanted]:
            monitor = self.monitors.pop(key)
            await self.informers.informer(monitor.resource).remove_event_handler(
                monitor.registration)

    def _monitor(self, res: ApiResource) -> _Monitor:
        evaluator = evaluators.evaluator_for(res.group, res.plural)

        def on_update(old: Obj, new: Obj) -> None:
            if _usage_changed(evaluator, old, new):
                self.replenish(evaluator, str(_meta(new).get("namespace", "")))

        def on_delete(obj: Obj) -> None:
            self.replenish(evaluator, str(_meta(obj).get("namespace", "")))

        registration = self.informers.informer(res).add_event_handler(
            None, on_update, on_delete, name=f"{self.name}:{res}")
        return _Monitor(res, evaluator, registration)

    # -- handlers -----------------------------------------------------------------------

    def _quota_updated(self, old: Obj, new: Obj) -> None:
        """Only spec changes matter: status changes are this controller's (or admission's)
        own, and the periodic resync covers the rest."""
        if not resources.equals(_hard(old, "spec"), _hard(new, "spec")):
            self.enqueue_object(new)

    def replenish(self, evaluator: Evaluator, namespace: str) -> None:
        """Sync the namespace's quotas that track what `evaluator` counts."""
        for quota in self.quotas.store.by_index(NAMESPACE_INDEX, namespace):
            if evaluator.matching_resources(_hard(quota, "status")):
                self.enqueue_object(quota)

    # -- sync ---------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        quota = self.quotas.store.get(key)
        if quota is None:
            return
        namespace = str(_meta(quota).get("namespace", ""))
        hard = _hard(quota, "spec")
        if not all(self.informers.informer(m.resource).has_synced
                   for m in self.monitors.values() if m.evaluator.matching_resources(hard)):
            raise Requeue("the monitors of its resources have not synced yet", after=1.0)
        status = quota.get("status") or {}
        used = resources.parse(status.get("used"))
        fresh = evaluators.calculate_usage(
            hard, evaluators.quota_scopes(quota), self._evaluators(),
            lambda ev: self._objects(ev, namespace))
        used = resources.mask({**used, **fresh}, hard)
        dirty = not resources.equals(hard, resources.parse(status.get("hard"))) or \
            status.get("hard") is None or status.get("used") is None or \
            not resources.equals(used, resources.parse(status.get("used")))
        if not dirty:
            return
        updated = {**quota, "status": {"hard": resources.render(hard),
                                       "used": resources.render(used)}}
        await self.client.update_status(RESOURCE_QUOTAS, updated, namespace)

    def _evaluators(self) -> Iterable[Evaluator]:
        return [m.evaluator for m in self.monitors.values()]

    def _objects(self, evaluator: Evaluator, namespace: str) -> list[Obj]:
        monitor = self.monitors[(evaluator.group, evaluator.plural)]
        informer = self.informers.informer(monitor.resource)
        return informer.store.by_index(NAMESPACE_INDEX, namespace)


def _usage_changed(evaluator: Evaluator, old: Obj, new: Obj) -> bool:
    """Upstream's update filter: a pod stopped being charged (it finished) or changed
    scope (got a deadline); a service or claim changed what it uses (type, storage). An
    update never changes an object count."""
    if isinstance(evaluator, evaluators.PodEvaluator):
        return evaluator.charged(old) != evaluator.charged(new) or \
            evaluators.is_terminating(old) != evaluators.is_terminating(new)
    if isinstance(evaluator, evaluators.ObjectCountEvaluator):
        return False
    return not resources.equals(evaluator.usage(old), evaluator.usage(new))
