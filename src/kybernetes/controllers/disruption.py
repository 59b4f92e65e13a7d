"""The disruption controller: PodDisruptionBudget status, upstream's
`pkg/controller/disruption/disruption.go`.

Keys are `namespace/name` of PDBs. A PDB is enqueued on its own add/update/delete; a pod's
add, update or delete enqueues the PDBs of its namespace whose selector matches it (upstream
picks one arbitrarily when several do, and a resync fixes the others; here all are
enqueued, which is the same end state sooner).

`sync(key)` is upstream's `trySync`:

- **Pods**: those of the PDB's namespace matching its selector; an empty selector selects
  none (policy/v1). No pods: a `NoPods` event.
- **expectedPods / desiredHealthy**: with `maxUnavailable` (int or percent) or a percent
  `minAvailable`, the expected count is the sum of the scales of the pods' controllers
  (each counted once): a ReplicaSet owned by a Deployment counts the Deployment's
  replicas, else the ReplicaSet's, ReplicationController's or StatefulSet's, else any
  controller with a `scale` subresource (found through discovery). Percentages round up;
  `desiredHealthy = expected - maxUnavailable` (not below 0) or the minAvailable value.
  A pod with no controller is "unmanaged" (an `UnmanagedPods` warning) and adds nothing;
  a controller that cannot be found fails the sync. With an integer `minAvailable`, the
  expected count is simply the number of pods and desiredHealthy the number given.
- **disruptedPods**: the eviction subresource records each pod it approved; entries for
  pods that are gone or already being deleted are dropped, and so are entries older than
  `DELETION_TIMEOUT` (2 min, with a `NotDeleted` warning on the pod: the eviction was
  approved but the pod never went). The PDB is rechecked when the earliest live entry
  expires.
- **currentHealthy**: pods that are Ready, not being deleted and not in disruptedPods.
- **disruptionsAllowed** = currentHealthy - desiredHealthy, 0 when negative or when no pods
  are expected (a PDB whose pods appear before its status is computed stays safe).
- The status (with `observedGeneration` and the `DisruptionAllowed` condition,
  SufficientPods / InsufficientPods) is written through `/status` only when it changed.

A failed sync other than a conflict is answered as upstream's `failSafe`:
disruptionsAllowed 0 and the condition False with reason `SyncFailed` and the error as
message, so evictions stop while the budget cannot be computed.

**Stale disruption conditions** (upstream's `syncStalePodDisruption`): a pod that carries
`DisruptionTarget=True` (an eviction or a preemption marked it) but is neither being
deleted nor terminal `STALE_POD_DISRUPTION_TIMEOUT` (2 min) after the condition was set
was not disrupted after all: the condition is set back to False. Pods are queued for this
under `pod:<namespace>/<name>` keys (a colon is never part of a namespace name), when due.
Conditions the kubelet set (`TerminationByKubelet`) are never stale.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, ClassVar

from kybernetes.api import timeutil
from kybernetes.api.objects import find_condition
from kybernetes.api.objects import meta as _meta
from kybernetes.api.poddisruptionbudget import (
    DISRUPTION_ALLOWED,
    SYNC_FAILED,
    conditions_are_up_to_date,
    scaled_value,
    set_status_condition,
    update_disruption_allowed_condition,
)
from kybernetes.api.selectors import label_selector_from_dict
from kybernetes.client import ConflictError, EventRecorder, NotFoundError, resource
from kybernetes.client.informer import NAMESPACE_INDEX
from kybernetes.client.rest import Obj
from kybernetes.controllers.base import ControllerContext, QueueController
from kybernetes.controllers.discovery import Discovery
from kybernetes.controllers.podutil import is_pod_ready
from kybernetes.controllers.refmanager import controller_ref

log = logging.getLogger(__name__)

PODS = resource("", "v1", "pods")
PDBS = resource("policy", "v1", "poddisruptionbudgets")
REPLICA_SETS = resource("apps", "v1", "replicasets")
DEPLOYMENTS = resource("apps", "v1", "deployments")
STATEFUL_SETS = resource("apps", "v1", "statefulsets")
REPLICATION_CONTROLLERS = resource("", "v1", "replicationcontrollers")

# Upstream's DeletionTimeout: how long an approved eviction may take to delete its pod.
DELETION_TIMEOUT = timedelta(minutes=2)
DEFAULT_WORKERS = 1
# Upstream resyncs PDBs every 30 s.
RESYNC_PERIOD = 30.0
# Upstream's stalePodDisruptionTimeout.
STALE_POD_DISRUPTION_TIMEOUT = timedelta(minutes=2)
_STALE_POD_PREFIX = "pod:"


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0]


class DisruptionController(QueueController):
    name: ClassVar[str] = "disruption-controller"

    def __init__(self, ctx: ControllerContext, *, workers: int = DEFAULT_WORKERS,
                 clock: Callable[[], datetime] = timeutil.now) -> None:
        super().__init__(workers=workers)
        self.client = ctx.client
        self.discovery: Discovery = ctx.discovery
        self.clock = clock
        self.recorder = EventRecorder(ctx.client, "controllermanager")
        self.pdbs = ctx.informers.informer(PDBS, resync_period=RESYNC_PERIOD)
        self.pods = ctx.informers.informer(PODS)
        self.watch(self.pdbs, on_add=self.enqueue_object,
                   on_update=lambda _old, new: self.enqueue_object(new),
                   on_delete=self.enqueue_object)
        self.watch(self.pods, on_add=self._pod_changed, on_update=self._pod_updated,
                   on_delete=self._pod_changed)

    async def run(self) -> None:
        try:
            await super().run()
        finally:
            await self.recorder.aclose()

    # -- handlers -----------------------------------------------------------------------

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        self._pod_changed(new)
        if _meta(old).get("labels") != _meta(new).get("labels"):
            self._pod_changed(old)

    def _pod_changed(self, pod: Obj) -> None:
        for pdb in self.pdbs_for_pod(pod):
            self.enqueue_object(pdb)
        self._check_stale_disruption(pod)

    def _check_stale_disruption(self, pod: Obj) -> None:
        stale, wait = self.stale_disruption_condition(pod, self.clock())
        if stale:
            meta = _meta(pod)
            self.queue.add_after(
                f"{_STALE_POD_PREFIX}{meta.get('namespace')}/{meta.get('name')}", wait)

    @staticmethod
    def stale_disruption_condition(pod: Obj, now: datetime) -> tuple[bool, float]:
        """Upstream's `nonTerminatingPodHasStaleDisruptionCondition`: whether the pod has a
        DisruptionTarget condition that can go stale, and in how many seconds it will."""
        if _meta(pod).get("deletionTimestamp"):
            return False, 0.0
        status = pod.get("status") or {}
        condition = find_condition(status, "DisruptionTarget")
        if condition is None or condition.get("status") != "True" or \
                condition.get("reason") == "TerminationByKubelet" or \
                status.get("phase") in ("Succeeded", "Failed"):
            return False, 0.0
        since = timeutil.parse_time(condition.get("lastTransitionTime")) or now
        wait = STALE_POD_DISRUPTION_TIMEOUT - (now - since)
        return True, max(0.0, wait.total_seconds())

    def pdbs_for_pod(self, pod: Obj) -> list[Obj]:
        labels = _meta(pod).get("labels") or {}
        if not labels:
            return []
        found = []
        for pdb in self.pdbs.store.by_index(NAMESPACE_INDEX, _meta(pod).get("namespace", "")):
            try:
                selector = label_selector_from_dict((pdb.get("spec") or {}).get("selector"))
            except ValueError:
                continue
            if not selector.empty and selector.matches(labels):
                found.append(pdb)
        return found

    # -- sync ---------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        if key.startswith(_STALE_POD_PREFIX):
            await self.sync_stale_pod_disruption(key.removeprefix(_STALE_POD_PREFIX))
            return
        pdb = self.pdbs.store.get(key)
        if pdb is None:
            return
        try:
            await self.try_sync(pdb)
        except ConflictError:
            raise
        except Exception as err:
            # As upstream: once the fail-safe status is written the key is done; the
            # resync looks again.
            log.error("failed to sync pdb %s: %s", key, err)
            await self.fail_safe(pdb, str(err))

    async def sync_stale_pod_disruption(self, key: str) -> None:
        """Upstream's `syncStalePodDisruption`: a live read, as upstream does."""
        namespace, _, name = key.partition("/")
        try:
            pod = await self.client.get(PODS, name, namespace)
        except NotFoundError:
            return
        stale, wait = self.stale_disruption_condition(pod, self.clock())
        if not stale:
            return
        if wait > 0:
            self.queue.add_after(f"{_STALE_POD_PREFIX}{key}", wait)
            return
        condition = find_condition(pod["status"], "DisruptionTarget")
        assert condition is not None
        # UpdatePodCondition with {type, status: False}: reason and message go too.
        condition.clear()
        condition.update(type="DisruptionTarget", status="False", lastProbeTime=None,
                         lastTransitionTime=timeutil.rfc3339(self.clock()))
        log.info("resetting the stale DisruptionTarget condition of pod %s", key)
        await self.client.update_status(PODS, pod)

    def pods_for_pdb(self, pdb: Obj) -> list[Obj]:
        try:
            selector = label_selector_from_dict((pdb.get("spec") or {}).get("selector"))
        except ValueError:
            return []
        if selector.empty:
            return []
        return [pod for pod in self.pods.store.by_index(NAMESPACE_INDEX,
                                                        _meta(pdb).get("namespace", ""))
                if selector.matches(_meta(pod).get("labels") or {})]

    async def try_sync(self, pdb: Obj) -> None:
        pods = self.pods_for_pdb(pdb)
        if not pods:
            self.recorder.normal(pdb, "NoPods", "No matching pods found")
        try:
            expected, desired, unmanaged = await self.expected_pod_count(pdb, pods)
        except Exception as err:
            self.recorder.warning(pdb, "CalculateExpectedPodCountFailed",
                                  f"Failed to calculate the number of expected pods: {err}")
            raise
        if unmanaged:
            log.debug("found unmanaged pods associated with pdb %s: %s",
                      _meta(pdb).get("name"), unmanaged)
            self.recorder.warning(
                pdb, "UnmanagedPods",
                f"Pods selected by this PodDisruptionBudget (selector: "
                f"{(pdb.get('spec') or {}).get('selector')}) were found to be unmanaged. As a "
                "result, the status of the PDB cannot be calculated correctly, which may "
                "result in undefined behavior. To account for these pods please set "
                '".spec.minAvailable" field of the PDB to an integer value.')
        now = self.clock()
        disrupted, recheck = self.build_disrupted_pod_map(pods, pdb, now)
        healthy = count_healthy_pods(pods, disrupted, now)
        await self.update_pdb_status(pdb, healthy, desired, expected, disrupted)
        if recheck is not None:
            self.queue.add_after(f"{_meta(pdb).get('namespace')}/{_meta(pdb).get('name')}",
                                 max(0.0, (recheck - now).total_seconds()))

    async def expected_pod_count(self, pdb: Obj, pods: list[Obj]
                                 ) -> tuple[int, int, list[str]]:
        """Upstream's `getExpectedPodCount`: (expectedCount, desiredHealthy, unmanaged)."""
        spec = pdb.get("spec") or {}
        max_unavailable = spec.get("maxUnavailable")
        min_available = spec.get("minAvailable")
        if max_unavailable is not None:
            expected, unmanaged = await self.expected_scale(pods)
            unavailable = scaled_value(max_unavailable, expected, round_up=True)
            return expected, max(0, expected - unavailable), unmanaged
        if isinstance(min_available, int) and not isinstance(min_available, bool):
            return len(pods), min_available, []
        if isinstance(min_available, str):
            expected, unmanaged = await self.expected_scale(pods)
            return expected, scaled_value(min_available, expected, round_up=True), unmanaged
        return 0, 0, []

    async def expected_scale(self, pods: list[Obj]) -> tuple[int, list[str]]:
        """The sum of the scales of the pods' controllers, and the unmanaged pods."""
        scales: dict[str, int] = {}
        unmanaged: list[str] = []
        for pod in pods:
            ref = controller_ref(pod)
            if ref is None:
                unmanaged.append(str(_meta(pod).get("name")))
                continue
            if ref.get("uid") in scales:
                continue
            found = await self.controller_scale(ref, str(_meta(pod).get("namespace", "")))
            if found is None:
                raise LookupError(f'found no controllers for pod "{_meta(pod).get("name")}"')
            uid, scale = found
            scales[uid] = scale
        return sum(scales.values()), unmanaged

    async def controller_scale(self, ref: dict[str, Any], namespace: str
                               ) -> tuple[str, int] | None:
        """Upstream's finders, in order: (controller uid, scale), or None."""
        group, kind = _group(str(ref.get("apiVersion", ""))), str(ref.get("kind", ""))
        typed = {("apps", "ReplicaSet"): REPLICA_SETS, ("apps", "StatefulSet"): STATEFUL_SETS,
                 ("", "ReplicationController"): REPLICATION_CONTROLLERS}.get((group, kind))
        if typed is not None:
            owner = await self._get_owned(typed, ref, namespace)
            if owner is None:
                return None
            if typed is REPLICA_SETS:
                deployment_ref = controller_ref(owner)
                if deployment_ref is not None and deployment_ref.get("kind") == "Deployment" \
                        and _group(str(deployment_ref.get("apiVersion", ""))) == "apps":
                    deployment = await self._get_owned(DEPLOYMENTS, deployment_ref, namespace)
                    if deployment is not None:
                        return str(_meta(deployment)["uid"]), _replicas(deployment)
            return str(_meta(owner)["uid"]), _replicas(owner)
        return await self._scale_of(ref, namespace)

    async def _get_owned(self, res: Any, ref: dict[str, Any], namespace: str) -> Obj | None:
        try:
            owner = await self.client.get(res, str(ref.get("name")), namespace)
        except NotFoundError:
            return None
        return owner if _meta(owner).get("uid") == ref.get("uid") else None

    async def _scale_of(self, ref: dict[str, Any], namespace: str) -> tuple[str, int] | None:
        """Upstream's `getScaleController`: any kind served with a scale subresource."""
        mapper = await self.discovery.mapper()
        res = mapper.kind_for(str(ref.get("apiVersion", "")), str(ref.get("kind", "")))
        if res is None:
            return None
        try:
            scale = await self.client.get(res, str(ref.get("name")), namespace,
                                          subresource="scale")
        except NotFoundError:
            return None
        if _meta(scale).get("uid") != ref.get("uid"):
            return None
        return str(ref.get("uid")), int((scale.get("spec") or {}).get("replicas") or 0)

    def build_disrupted_pod_map(self, pods: list[Obj], pdb: Obj, now: datetime
                                ) -> tuple[dict[str, str], datetime | None]:
        disrupted = (pdb.get("status") or {}).get("disruptedPods") or {}
        result: dict[str, str] = {}
        recheck: datetime | None = None
        if not disrupted:
            return result, recheck
        for pod in pods:
            meta = _meta(pod)
            if meta.get("deletionTimestamp"):
                continue
            stamp = disrupted.get(meta.get("name"))
            when = timeutil.parse_time(stamp)
            if when is None:
                continue
            expected_deletion = when + DELETION_TIMEOUT
            if expected_deletion < now:
                self.recorder.warning(
                    pod, "NotDeleted", f"Pod was expected by PDB {_meta(pdb).get('namespace')}/"
                    f"{_meta(pdb).get('name')} to be deleted but it wasn't")
            else:
                if recheck is None or expected_deletion < recheck:
                    recheck = expected_deletion
                result[str(meta.get("name"))] = str(stamp)
        return result, recheck

    async def update_pdb_status(self, pdb: Obj, healthy: int, desired: int, expected: int,
                                disrupted: dict[str, str]) -> None:
        allowed = healthy - desired
        if expected <= 0 or allowed <= 0:
            allowed = 0
        status = pdb.get("status") or {}
        generation = int(_meta(pdb).get("generation") or 0)
        if int(status.get("currentHealthy") or 0) == healthy and \
                int(status.get("desiredHealthy") or 0) == desired and \
                int(status.get("expectedPods") or 0) == expected and \
                int(status.get("disruptionsAllowed") or 0) == allowed and \
                (status.get("disruptedPods") or {}) == disrupted and \
                int(status.get("observedGeneration") or 0) == generation and \
                conditions_are_up_to_date(pdb):
            return
        new = copy.deepcopy(pdb)
        new_status: dict[str, Any] = {
            "currentHealthy": healthy, "desiredHealthy": desired, "expectedPods": expected,
            "disruptionsAllowed": allowed, "observedGeneration": generation,
            "conditions": copy.deepcopy(status.get("conditions") or [])}
        if disrupted:
            new_status["disruptedPods"] = disrupted
        new["status"] = new_status
        update_disruption_allowed_condition(new)
        await self.client.update_status(PDBS, new)

    async def fail_safe(self, pdb: Obj, message: str) -> None:
        new = copy.deepcopy(pdb)
        status = new.setdefault("status", {})
        status["disruptionsAllowed"] = 0
        set_status_condition(status, {
            "type": DISRUPTION_ALLOWED, "status": "False", "reason": SYNC_FAILED,
            "message": message, "observedGeneration": int(status.get("observedGeneration")
                                                          or 0)})
        await self.client.update_status(PDBS, new)

def _replicas(obj: Obj) -> int:
    replicas = (obj.get("spec") or {}).get("replicas")
    return 1 if replicas is None else int(replicas)


def count_healthy_pods(pods: list[Obj], disrupted: dict[str, str], now: datetime) -> int:
    """Upstream's `countHealthyPods`."""
    healthy = 0
    for pod in pods:
        meta = _meta(pod)
        if meta.get("deletionTimestamp"):
            continue
        when = timeutil.parse_time(disrupted.get(str(meta.get("name"))))
        if when is not None and when + DELETION_TIMEOUT > now:
            continue
        if is_pod_ready(pod):
            healthy += 1
    return healthy
