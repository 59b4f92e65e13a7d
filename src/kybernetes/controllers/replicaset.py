"""The ReplicaSet controller: upstream's `pkg/controller/replicaset/replica_set.go` (and
`replica_set_utils.go`), which also serves ReplicationControllers (`replication.py`), as
upstream's does: the two kinds differ only in what `Workload` describes (resource, kind,
how the selector is spelled, whether status has `terminatingReplicas`).

Keys are `namespace/name` of ReplicaSets. Handlers only enqueue and keep expectations:

- ReplicaSets: every add, update and delete (a delete, or an update to another uid, also
  drops the key's expectations, so a namesake starts clean).
- Pods: a pod with a controller reference wakes that ReplicaSet (when it still exists with
  that uid); an add counts as an observed creation, a deletion (or the update that sets
  `deletionTimestamp`) as an observed deletion. An orphan that is added, or whose labels or
  controller reference change, wakes every ReplicaSet of its namespace whose selector
  matches (one of them may adopt it). A pod turning ready under a ReplicaSet with
  `minReadySeconds` requeues it after that delay, when it becomes available.

`sync(key)` is `syncReplicaSet`: read the ReplicaSet from the cache; take its pods from the
pod index (its own, plus its namespace's orphans: `podutil.pods_for_owner`, no scan of all
pods); claim the active ones through `refmanager` (adopt matching orphans, release owned
pods that no longer match); if the expectations are satisfied and the ReplicaSet is not
being deleted, `manage_replicas`; then write the status.

`manage_replicas` creates the missing pods in slow-start batches (1, 2, 4, ... so a quota
refusal costs one request, not hundreds), at most `burst_replicas` (500) per sync, or
deletes the surplus, choosing by upstream's ranking (`podutil.deletion_order`, with ranks
counting the pods of sibling ReplicaSets, those of the same Deployment, on the same node).
Expectations are recorded before writing and lowered for writes that failed, so syncs that
run before the informer shows the new pods do not create them again.

The status is computed as upstream's `calculateStatus`: `replicas` (active claimed pods),
`fullyLabeledReplicas` (those carrying all the template's labels), `readyReplicas`,
`availableReplicas` (ready for more than `minReadySeconds`), `terminatingReplicas`
(claimed pods being deleted; apps/v1 only, the DeploymentReplicaSetTerminatingReplicas
gate being on by default in 1.35), `observedGeneration`, and the `ReplicaFailure`
condition (reason `FailedCreate` or `FailedDelete`, the error as message) while creating or
deleting fails. It is written through `/status` only when it changed, retried once after a
fresh GET. A ReplicaSet with ready but not yet available pods is requeued for when the
first of them becomes available.

Left out: upstream's 1.35 consistency store (syncs waiting for the informer to have seen
the controller's own writes), which expectations already cover here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from kybernetes.api import timeutil
from kybernetes.api.objects import meta as _meta
from kybernetes.api.objects import spec as _spec
from kybernetes.api.selectors import LabelSelector, label_selector_from_dict
from kybernetes.client import EventRecorder, NotFoundError, resource, split_key
from kybernetes.client.informer import NAMESPACE_INDEX, meta_namespace_key
from kybernetes.client.rest import ApiError, Obj, ResourceLike, namespace_terminating
from kybernetes.controllers import podutil
from kybernetes.controllers.base import ControllerContext, QueueController
from kybernetes.controllers.expectations import ControllerExpectations
from kybernetes.controllers.refmanager import (
    ControllerRefManager,
    controller_ref,
    owner_reference,
    recheck_deletion_timestamp,
)

log = logging.getLogger(__name__)

PODS = resource("", "v1", "pods")
REPLICA_SETS = resource("apps", "v1", "replicasets")
# Upstream's BurstReplicas and --concurrent-replicaset-syncs.
BURST_REPLICAS = 500
DEFAULT_WORKERS = 5
SLOW_START_INITIAL_BATCH_SIZE = 1
# The ReplicaSet index by controller uid (siblings of one Deployment).
CONTROLLER_UID_INDEX = "controllerUID"
REPLICA_FAILURE = "ReplicaFailure"


@dataclass(frozen=True, kw_only=True)
class Workload:
    """What differs between the kinds this controller runs."""

    resource: ResourceLike
    api_version: str
    kind: str
    # Upstream's ReplicaSetControllerFeatures.EnableStatusTerminatingReplicas.
    terminating_replicas: bool
    selector: Callable[[Obj], LabelSelector]


def _rs_selector(obj: Obj) -> LabelSelector:
    return label_selector_from_dict((obj.get("spec") or {}).get("selector"))


REPLICA_SET = Workload(resource=REPLICA_SETS, api_version="apps/v1", kind="ReplicaSet",
                       terminating_replicas=True, selector=_rs_selector)


def owner_controller_uid_index(obj: Obj) -> list[str]:
    ref = controller_ref(obj)
    return [str(ref["uid"])] if ref is not None and ref.get("uid") else []


def _replicas(obj: Obj) -> int:
    value = _spec(obj).get("replicas")
    return 1 if value is None else int(value)


def error_text(err: BaseException) -> str:
    """What Go's `err.Error()` prints: an API error's Status message."""
    return err.message if isinstance(err, ApiError) and err.message else str(err)


# ----------------------------------------------------------------------------- status


def calculate_status(rs: Obj, active: Sequence[Obj], terminating: Sequence[Obj] | None,
                     manage_error: BaseException | None, now: datetime) -> dict[str, Any]:
    """Upstream's calculateStatus. `terminating` is None when the kind's status has no
    `terminatingReplicas`. `observedGeneration` is left as it was (set on write)."""
    status: dict[str, Any] = dict(rs.get("status") or {})
    spec = _spec(rs)
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    min_ready = int(spec.get("minReadySeconds") or 0)
    fully_labeled = ready = available = 0
    for pod in active:
        labels = _meta(pod).get("labels") or {}
        if all(labels.get(k) == v for k, v in template_labels.items()):
            fully_labeled += 1
        if podutil.is_pod_ready(pod):
            ready += 1
            if podutil.is_pod_available(pod, min_ready, now):
                available += 1

    conditions = [c for c in status.get("conditions") or () if isinstance(c, dict)]
    failure = next((c for c in conditions if c.get("type") == REPLICA_FAILURE), None)
    if manage_error is not None and failure is None:
        diff = len(active) - _replicas(rs)
        reason = "FailedCreate" if diff < 0 else "FailedDelete" if diff > 0 else ""
        conditions.append({"type": REPLICA_FAILURE, "status": "True",
                           "lastTransitionTime": timeutil.rfc3339(now), "reason": reason,
                           "message": error_text(manage_error)})
    elif manage_error is None and failure is not None:
        conditions = [c for c in conditions if c.get("type") != REPLICA_FAILURE]
    if conditions:
        status["conditions"] = conditions
    else:
        status.pop("conditions", None)

    status["replicas"] = len(active)
    # Go's omitempty: zero counts are not written.
    for name, value in (("fullyLabeledReplicas", fully_labeled), ("readyReplicas", ready),
                        ("availableReplicas", available)):
        if value:
            status[name] = value
        else:
            status.pop(name, None)
    if terminating is not None:
        status["terminatingReplicas"] = len(terminating)
    else:
        status.pop("terminatingReplicas", None)
    return status


_COUNTS = ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas")


def status_unchanged(rs: Obj, new: dict[str, Any]) -> bool:
    """Upstream's short cut: nothing to write when the counts, conditions and the
    observed generation already match."""
    old = rs.get("status") or {}
    return (all(int(old.get(f) or 0) == int(new.get(f) or 0) for f in _COUNTS)
            and old.get("terminatingReplicas") == new.get("terminatingReplicas")
            and int(_meta(rs).get("generation") or 0) == int(old.get("observedGeneration") or 0)
            and (old.get("conditions") or []) == (new.get("conditions") or []))


# ----------------------------------------------------------------------------- batches


async def slow_start_batch(count: int, initial: int,
                           fn: Callable[[], Awaitable[None]]) -> tuple[int, BaseException | None]:
    """Call `fn` `count` times in batches of 1, 2, 4, ... (concurrently within a batch);
    stop after the first batch with a failure. Returns (successes, first error)."""
    remaining, successes = count, 0
    batch = min(remaining, initial)
    while batch > 0:
        results = await asyncio.gather(*(fn() for _ in range(batch)), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        for err in errors:
            if isinstance(err, asyncio.CancelledError):
                raise err
        successes += batch - len(errors)
        if errors:
            return successes, errors[0]
        remaining -= batch
        batch = min(2 * batch, remaining)
    return successes, None


# ----------------------------------------------------------------------------- controller


class ReplicaSetController(QueueController):
    name: ClassVar[str] = "replicaset-controller"
    workload: ClassVar[Workload] = REPLICA_SET
    event_component: ClassVar[str] = "replicaset-controller"

    def __init__(self, ctx: ControllerContext, *, workers: int = DEFAULT_WORKERS,
                 burst_replicas: int = BURST_REPLICAS,
                 expectations: ControllerExpectations | None = None,
                 clock: Callable[[], datetime] = timeutil.now) -> None:
        super().__init__(workers=workers)
        self.client = ctx.client
        self.burst_replicas = burst_replicas
        self.expectations = expectations or ControllerExpectations()
        self.clock = clock
        self.recorder = EventRecorder(ctx.client, self.event_component)
        kind = self.workload
        self.owners = ctx.informers.informer(kind.resource, indexers={
            CONTROLLER_UID_INDEX: owner_controller_uid_index})
        self.pods = ctx.informers.informer(PODS, indexers={
            podutil.POD_CONTROLLER_UID_INDEX: podutil.pod_controller_uid_index})
        self.watch(self.owners, on_add=self.enqueue_object, on_update=self._update_owner,
                   on_delete=self._delete_owner)
        self.watch(self.pods, on_add=self._add_pod, on_update=self._update_pod,
                   on_delete=self._delete_pod)

    async def run(self) -> None:
        try:
            await super().run()
        finally:
            await self.recorder.aclose()

    # -- handlers -----------------------------------------------------------------------

    def _update_owner(self, old: Obj, new: Obj) -> None:
        if _meta(old).get("uid") != _meta(new).get("uid"):
            self._delete_owner(old)
        # Every update, not only spec changes: a resync then retries creations that
        # failed, and the listing is from the cache anyway.
        self.enqueue_object(new)

    def _delete_owner(self, obj: Obj) -> None:
        key = meta_namespace_key(obj)
        self.expectations.delete(key)
        self.enqueue(key)

    def _resolve(self, namespace: str, ref: dict[str, Any]) -> Obj | None:
        """The owner a controller reference names, if it is still that object."""
        if ref.get("kind") != self.workload.kind:
            return None
        owner = self.owners.store.get(f"{namespace}/{ref.get('name')}")
        if owner is None or _meta(owner).get("uid") != ref.get("uid"):
            return None
        return owner

    def _owners_selecting(self, pod: Obj) -> list[Obj]:
        """The owners of the pod's namespace whose selector matches its labels."""
        meta = _meta(pod)
        labels = meta.get("labels") or {}
        found = []
        for owner in self.owners.store.by_index(NAMESPACE_INDEX, str(meta.get("namespace"))):
            try:
                selector = self.workload.selector(owner)
            except ValueError:
                continue
            # An empty selector would match every pod; upstream's lister skips it.
            if selector.empty or not selector.matches(labels):
                continue
            found.append(owner)
        if len(found) > 1:
            log.warning("user error! more than one %s is selecting pods with labels: %s",
                        self.workload.kind, labels)
        return found

    def _add_pod(self, pod: Obj) -> None:
        meta = _meta(pod)
        if meta.get("deletionTimestamp"):
            # A restarted manager can first see a pod already being deleted: that is no
            # creation to observe.
            self._delete_pod(pod)
            return
        ref = controller_ref(pod)
        if ref is not None:
            owner = self._resolve(str(meta.get("namespace")), ref)
            if owner is None:
                return
            key = meta_namespace_key(owner)
            self.expectations.creation_observed(key)
            self.enqueue(key)
            return
        for owner in self._owners_selecting(pod):
            self.enqueue_object(owner)

    def _update_pod(self, old: Obj, cur: Obj) -> None:
        old_meta, cur_meta = _meta(old), _meta(cur)
        if old_meta.get("resourceVersion") == cur_meta.get("resourceVersion"):
            return  # a periodic resync: nothing changed
        label_changed = (old_meta.get("labels") or {}) != (cur_meta.get("labels") or {})
        if cur_meta.get("deletionTimestamp"):
            # A graceful deletion starts: replace the pod now rather than when it is gone.
            self._delete_pod(cur)
            if label_changed:
                self._delete_pod(old)
            return
        cur_ref, old_ref = controller_ref(cur), controller_ref(old)
        namespace = str(cur_meta.get("namespace"))
        if cur_ref != old_ref and old_ref is not None:
            owner = self._resolve(namespace, old_ref)
            if owner is not None:
                self.enqueue_object(owner)
        if cur_ref is not None:
            owner = self._resolve(namespace, cur_ref)
            if owner is None:
                return
            self.enqueue_object(owner)
            min_ready = int(_spec(owner).get("minReadySeconds") or 0)
            if min_ready > 0 and not podutil.is_pod_ready(old) and podutil.is_pod_ready(cur):
                # Look again once the pod counts as available (a second later, against
                # clock skew between the pod's ready time and ours).
                self.queue.add_after(meta_namespace_key(owner), min_ready + 1.0)
            return
        if label_changed or cur_ref != old_ref:
            for owner in self._owners_selecting(cur):
                self.enqueue_object(owner)

    def _delete_pod(self, pod: Obj) -> None:
        ref = controller_ref(pod)
        if ref is None:
            return  # nobody waits for an orphan's deletion
        owner = self._resolve(str(_meta(pod).get("namespace")), ref)
        if owner is None:
            return
        key = meta_namespace_key(owner)
        self.expectations.deletion_observed(key, podutil.pod_key(pod))
        self.enqueue(key)

    # -- sync ---------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        namespace, _ = split_key(key)
        rs = self.owners.store.get(key)
        if rs is None:
            self.expectations.delete(key)
            return
        needs_sync = self.expectations.satisfied(key)
        try:
            selector = self.workload.selector(rs)
        except ValueError as err:
            log.error("%s: invalid selector of %s %s: %s", self.name, self.workload.kind,
                      key, err)
            return
        uid = str(_meta(rs).get("uid"))
        all_pods = podutil.pods_for_owner(self.pods.store, namespace, uid,
                                          include_orphans=True)
        active = await self._claim_pods(rs, selector, podutil.filter_active_pods(all_pods))
        terminating: list[Obj] | None = None
        if self.workload.terminating_replicas:
            terminating = [p for p in podutil.filter_terminating_pods(all_pods)
                           if _claimed(uid, selector, p)]

        manage_error: Exception | None = None
        if needs_sync and not _meta(rs).get("deletionTimestamp"):
            try:
                await self.manage_replicas(active, rs)
            except Exception as err:  # reported in status, then retried
                manage_error = err
        now = self.clock()
        status = calculate_status(rs, active, terminating, manage_error, now)
        updated = await self.update_status(rs, status)
        if manage_error is not None:
            raise manage_error
        spec = _spec(updated)
        min_ready = int(spec.get("minReadySeconds") or 0)
        st = updated.get("status") or {}
        if min_ready > 0 and int(st.get("readyReplicas") or 0) != \
                int(st.get("availableReplicas") or 0):
            checks = [c for c in (podutil.next_availability_check(p, min_ready, now)
                                  for p in active) if c is not None]
            self.queue.add_after(key, min(checks) if checks else float(min_ready))

    async def _claim_pods(self, rs: Obj, selector: LabelSelector, pods: list[Obj]
                          ) -> list[Obj]:
        manager = ControllerRefManager(
            self.client, owner=rs, owner_api_version=self.workload.api_version,
            owner_kind=self.workload.kind, child_resource=PODS, selector=selector,
            can_adopt=recheck_deletion_timestamp(self.client, self.workload.resource, rs))
        return await manager.claim(pods)

    async def update_status(self, rs: Obj, status: dict[str, Any]) -> Obj:
        """Write `status` unless nothing changed (upstream's updateReplicaSetStatus, with
        its one retry on a fresh copy)."""
        if status_unchanged(rs, status):
            return rs
        meta = _meta(rs)
        generation = meta.get("generation")
        status = dict(status)
        if generation:
            status["observedGeneration"] = generation
        else:
            status.pop("observedGeneration", None)
        resource, namespace = self.workload.resource, meta.get("namespace")
        try:
            return await self.client.update_status(resource, {**rs, "status": status},
                                                   namespace)
        except ApiError:
            # Upstream's statusUpdateRetries = 1: once more, on a fresh copy.
            fresh = await self.client.get(resource, str(meta.get("name")), namespace)
        return await self.client.update_status(resource, {**fresh, "status": status},
                                               namespace)

    # -- creating and deleting pods -----------------------------------------------------

    def _event_ref(self, rs: Obj) -> dict[str, Any]:
        meta = _meta(rs)
        return {"kind": self.workload.kind, "apiVersion": self.workload.api_version,
                "name": meta.get("name"), "namespace": meta.get("namespace"),
                "uid": meta.get("uid"), "resourceVersion": meta.get("resourceVersion")}

    async def manage_replicas(self, active: list[Obj], rs: Obj) -> None:
        """Create or delete pods so `active` approaches `spec.replicas` (at most
        `burst_replicas` per call). Raises the first failure."""
        key = meta_namespace_key(rs)
        diff = len(active) - _replicas(rs)
        if diff < 0:
            want = min(-diff, self.burst_replicas)
            self.expectations.expect_creations(key, want)
            log.debug("%s: too few replicas for %s, need %d, creating %d", self.name, key,
                      _replicas(rs), want)
            successes, err = await slow_start_batch(
                want, SLOW_START_INITIAL_BATCH_SIZE, lambda: self._create_pod(rs))
            # The pods never attempted will not show up: stop waiting for them.
            for _ in range(want - successes):
                self.expectations.creation_observed(key)
            if err is not None:
                raise err
        elif diff > 0:
            surplus = min(diff, self.burst_replicas)
            log.debug("%s: too many replicas for %s, need %d, deleting %d", self.name, key,
                      _replicas(rs), surplus)
            victims = pods_to_delete(active, self._related_pods(rs), surplus, self.clock())
            self.expectations.expect_deletions(key, [podutil.pod_key(p) for p in victims])
            results = await asyncio.gather(*(self._delete_pod_of(rs, p) for p in victims),
                                           return_exceptions=True)
            first: BaseException | None = None
            for pod, result in zip(victims, results, strict=True):
                if isinstance(result, BaseException):
                    # No event will come for a deletion that failed.
                    self.expectations.deletion_observed(key, podutil.pod_key(pod))
                    if not isinstance(result, NotFoundError) and first is None:
                        first = result
            if first is not None:
                raise first

    async def _create_pod(self, rs: Obj) -> None:
        meta = _meta(rs)
        ref = owner_reference(rs, api_version=self.workload.api_version,
                              kind=self.workload.kind)
        pod = podutil.pod_from_template(_spec(rs).get("template") or {}, str(meta["name"]), ref)
        if not pod["metadata"].get("labels"):
            raise ValueError("unable to create pods, no labels")
        try:
            created = await self.client.create(PODS, pod, meta.get("namespace"))
        except ApiError as err:
            if namespace_terminating(err):
                return  # every creation would fail; the namespace is going away
            self.recorder.warning(self._event_ref(rs), "FailedCreate",
                                  f"Error creating: {error_text(err)}")
            raise
        self.recorder.normal(self._event_ref(rs), "SuccessfulCreate",
                             f"Created pod: {_meta(created).get('name')}")

    async def _delete_pod_of(self, rs: Obj, pod: Obj) -> None:
        name = str(_meta(pod).get("name"))
        try:
            await self.client.delete(PODS, name, _meta(rs).get("namespace"))
        except NotFoundError:
            raise  # already gone: no event, and not a failure for the caller
        except ApiError as err:
            self.recorder.warning(self._event_ref(rs), "FailedDelete",
                                  f"Error deleting: {error_text(err)}")
            raise
        self.recorder.normal(self._event_ref(rs), "SuccessfulDelete", f"Deleted pod: {name}")

    def _related_pods(self, rs: Obj) -> list[Obj]:
        """The pods of every owner sharing this one's controller (the ReplicaSets of one
        Deployment), by their selectors (upstream's getIndirectlyRelatedPods)."""
        ref = controller_ref(rs)
        if ref is None:
            return []
        namespace = str(_meta(rs).get("namespace"))
        in_namespace = self.pods.store.by_index(NAMESPACE_INDEX, namespace)
        seen: set[str] = set()
        related: list[Obj] = []
        for sibling in self.owners.store.by_index(CONTROLLER_UID_INDEX, str(ref.get("uid"))):
            try:
                selector = self.workload.selector(sibling)
            except ValueError:
                continue
            for pod in in_namespace:
                uid = str(_meta(pod).get("uid"))
                if uid in seen or not selector.matches(_meta(pod).get("labels") or {}):
                    continue
                seen.add(uid)
                related.append(pod)
        return related


def _claimed(owner_uid: str, selector: LabelSelector, pod: Obj) -> bool:
    """Upstream's FilterClaimedPods test: controlled by the owner and still selected."""
    ref = controller_ref(pod)
    return ref is not None and ref.get("uid") == owner_uid and \
        selector.matches(_meta(pod).get("labels") or {})


def pods_to_delete(active: list[Obj], related: list[Obj], diff: int, now: datetime
                   ) -> list[Obj]:
    """The `diff` pods to delete first: ranked by how many active related pods share
    their node, then upstream's ActivePodsWithRanks order."""
    if diff >= len(active):
        return active[:diff]
    on_node: dict[str, int] = {}
    for pod in related:
        if podutil.is_pod_active(pod):
            node = str(_spec(pod).get("nodeName") or "")
            on_node[node] = on_node.get(node, 0) + 1
    ranks = [on_node.get(str(_spec(p).get("nodeName") or ""), 0) for p in active]
    return podutil.deletion_order(active, ranks, now)[:diff]
