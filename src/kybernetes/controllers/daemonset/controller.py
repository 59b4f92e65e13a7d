"""The DaemonSet controller: upstream's `DaemonSetsController`
(`pkg/controller/daemon/daemon_controller.go`, `update.go`).

Keys are `namespace/name` of DaemonSets. Handlers only enqueue and keep expectations:

- DaemonSets: every add, update and delete (a delete, or an update to another uid, drops
  the key's expectations).
- ControllerRevisions: a change to an owned one wakes its DaemonSet; an orphan added or
  relabelled wakes the DaemonSets whose selector matches it (one may adopt it).
- Pods: as the ReplicaSet controller's (creation and deletion observed for expectations,
  orphans wake the matching DaemonSets), and a pod turning Ready under a DaemonSet with
  `minReadySeconds` requeues it when the pod becomes available.
- Nodes: an added node wakes the DaemonSets that should run on it; an update wakes those
  for which the node's (should run, should continue running) changed, unless only
  heartbeats moved (the set of True conditions is the same and nothing else changed).

`sync(key)` is `syncDaemonSet`: a DaemonSet selecting everything gets a `SelectingAll`
warning and nothing else; one being deleted is left alone; otherwise its revision history
is brought up to date (`revisions`: the current revision's hash labels new pods). While
earlier creations and deletions are not yet observed only the status is written. Else
`manage` (`manage.plan_nodes`: one pod per eligible node, failed pods replaced with
backoff, misplaced pods deleted), then, once that settled, the RollingUpdate strategy's
pass (`update.rolling_update_plan`; OnDelete does nothing), old revisions beyond the limit
are deleted, and the status (`status`) is written with `observedGeneration`.

Pods are created from the template with the daemon tolerations and the
`controller-revision-hash`/`pod-template-generation` labels, named `<ds>-<random>`,
with a required node affinity `metadata.name In [node]` so the scheduler binds each to its
node. Creations go in slow-start batches (1, 2, 4, ...), at most `burst_replicas` (250)
creations and deletions per pass, expectations recorded before writing and lowered for
writes that failed or were skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, ClassVar

from kybernetes.api import timeutil
from kybernetes.api.objects import meta, spec
from kybernetes.api.selectors import LabelSelector, label_selector_from_dict
from kybernetes.client import EventRecorder, NotFoundError, resource
from kybernetes.client.informer import NAMESPACE_INDEX, meta_namespace_key
from kybernetes.client.rest import ApiError, Obj, namespace_terminating
from kybernetes.controllers import podutil
from kybernetes.controllers.base import ControllerContext, QueueController
from kybernetes.controllers.daemonset.backoff import FailedPodsBackoff
from kybernetes.controllers.daemonset.manage import plan_nodes
from kybernetes.controllers.daemonset.placement import (
    DaemonPlacement,
    Decisions,
    node_should_run_daemon_pod,
)
from kybernetes.controllers.daemonset.revisions import (
    API_VERSION,
    DAEMON_SETS,
    KIND,
    PODS,
    DaemonSetHistory,
)
from kybernetes.controllers.daemonset.status import (
    calculate_counts,
    new_status,
    status_unchanged,
)
from kybernetes.controllers.daemonset.update import rolling_update_plan
from kybernetes.controllers.daemonset.util import (
    ROLLING_UPDATE,
    UNIQUE_LABEL_KEY,
    create_pod_template,
    replace_node_name_affinity,
    target_node_name,
    template_generation,
)
from kybernetes.controllers.expectations import ControllerExpectations
from kybernetes.controllers.history import CONTROLLER_REVISIONS
from kybernetes.controllers.refmanager import (
    ControllerRefManager,
    controller_ref,
    owner_reference,
    recheck_deletion_timestamp,
)
from kybernetes.controllers.replicaset import (
    SLOW_START_INITIAL_BATCH_SIZE,
    error_text,
    slow_start_batch,
)

log = logging.getLogger(__name__)

NODES = resource("", "v1", "nodes")
# Upstream's BurstReplicas and --concurrent-daemonset-syncs.
BURST_REPLICAS = 250
DEFAULT_WORKERS = 2
SELECTING_ALL = "SelectingAll"


def _true_conditions(node: Obj) -> set[str]:
    return {str(c.get("type")) for c in (node.get("status") or {}).get("conditions") or ()
            if isinstance(c, dict) and c.get("status") == "True"}


def should_ignore_node_update(old: Obj, cur: Obj) -> bool:
    """Upstream's shouldIgnoreNodeUpdate: the same True conditions and, resourceVersion
    and conditions aside, the same node."""
    if _true_conditions(old) != _true_conditions(cur):
        return False

    def rest(node: Obj) -> Obj:
        status = {k: v for k, v in (node.get("status") or {}).items() if k != "conditions"}
        metadata = {k: v for k, v in meta(node).items() if k != "resourceVersion"}
        return {**node, "metadata": metadata, "status": status}

    return rest(old) == rest(cur)


class DaemonSetController(QueueController):
    name: ClassVar[str] = "daemonset-controller"

    def __init__(self, ctx: ControllerContext, *, workers: int = DEFAULT_WORKERS,
                 burst_replicas: int = BURST_REPLICAS,
                 expectations: ControllerExpectations | None = None,
                 backoff: FailedPodsBackoff | None = None,
                 clock: Callable[[], datetime] = timeutil.now) -> None:
        super().__init__(workers=workers)
        self.client = ctx.client
        self.burst_replicas = burst_replicas
        self.expectations = expectations or ControllerExpectations()
        self.backoff = backoff or FailedPodsBackoff()
        self.clock = clock
        self.recorder = EventRecorder(ctx.client, "daemonset-controller")
        self.daemon_sets = ctx.informers.informer(DAEMON_SETS)
        self.revisions = ctx.informers.informer(CONTROLLER_REVISIONS)
        self.pods = ctx.informers.informer(PODS, indexers={
            podutil.POD_CONTROLLER_UID_INDEX: podutil.pod_controller_uid_index})
        self.nodes = ctx.informers.informer(NODES)
        self.history = DaemonSetHistory(ctx.client, self.revisions, self.claimed_pods)
        self.watch(self.daemon_sets, on_add=self.enqueue_object,
                   on_update=self._update_daemon_set, on_delete=self._delete_daemon_set)
        self.watch(self.revisions, on_add=self._add_revision, on_update=self._update_revision,
                   on_delete=self._delete_revision)
        self.watch(self.pods, on_add=self._add_pod, on_update=self._update_pod,
                   on_delete=self._delete_pod)
        self.watch(self.nodes, on_add=self._add_node, on_update=self._update_node)

    async def run(self) -> None:
        try:
            await super().run()
        finally:
            await self.recorder.aclose()

    # -- handlers -----------------------------------------------------------------------

    def _update_daemon_set(self, old: Obj, new: Obj) -> None:
        if meta(old).get("uid") != meta(new).get("uid"):
            self._delete_daemon_set(old)
        self.enqueue_object(new)

    def _delete_daemon_set(self, obj: Obj) -> None:
        key = meta_namespace_key(obj)
        self.expectations.delete(key)
        self.enqueue(key)

    def _resolve(self, namespace: str, ref: dict[str, Any]) -> Obj | None:
        """The DaemonSet a controller reference names, if it is still that object."""
        if ref.get("kind") != KIND:
            return None
        ds = self.daemon_sets.store.get(f"{namespace}/{ref.get('name')}")
        if ds is None or meta(ds).get("uid") != ref.get("uid"):
            return None
        return ds

    def _enqueue_owner(self, namespace: str, ref: dict[str, Any]) -> None:
        if (ds := self._resolve(namespace, ref)) is not None:
            self.enqueue_object(ds)

    def _selecting(self, obj: Obj) -> list[Obj]:
        """The DaemonSets of the object's namespace whose selector matches its labels."""
        labels = meta(obj).get("labels") or {}
        found = []
        for ds in self.daemon_sets.store.by_index(NAMESPACE_INDEX,
                                                  str(meta(obj).get("namespace"))):
            try:
                selector = label_selector_from_dict(spec(ds).get("selector"))
            except ValueError:
                continue
            if not selector.empty and selector.matches(labels):
                found.append(ds)
        if len(found) > 1:
            log.warning("user error! more than one daemon is selecting %s with labels: %s",
                        meta(obj).get("name"), labels)
        return found

    def _add_revision(self, revision: Obj) -> None:
        if meta(revision).get("deletionTimestamp"):
            self._delete_revision(revision)
            return
        if controller_ref(revision) is None:
            for ds in self._selecting(revision):
                self.enqueue_object(ds)

    def _update_revision(self, old: Obj, cur: Obj) -> None:
        if meta(old).get("resourceVersion") == meta(cur).get("resourceVersion"):
            return
        namespace = str(meta(cur).get("namespace"))
        cur_ref, old_ref = controller_ref(cur), controller_ref(old)
        if cur_ref != old_ref and old_ref is not None:
            self._enqueue_owner(namespace, old_ref)
        if cur_ref is not None:
            self._enqueue_owner(namespace, cur_ref)
            return
        if meta(cur).get("labels") != meta(old).get("labels") or cur_ref != old_ref:
            for ds in self._selecting(cur):
                self.enqueue_object(ds)

    def _delete_revision(self, revision: Obj) -> None:
        ref = controller_ref(revision)
        if ref is not None:
            self._enqueue_owner(str(meta(revision).get("namespace")), ref)

    def _add_pod(self, pod: Obj) -> None:
        if meta(pod).get("deletionTimestamp"):
            self._delete_pod(pod)
            return
        ref = controller_ref(pod)
        if ref is None:
            for selecting in self._selecting(pod):
                self.enqueue_object(selecting)
            return
        ds = self._resolve(str(meta(pod).get("namespace")), ref)
        if ds is not None:
            key = meta_namespace_key(ds)
            self.expectations.creation_observed(key)
            self.enqueue(key)

    def _update_pod(self, old: Obj, cur: Obj) -> None:
        if meta(old).get("resourceVersion") == meta(cur).get("resourceVersion"):
            return
        if meta(cur).get("deletionTimestamp"):
            self._delete_pod(cur)
            return
        namespace = str(meta(cur).get("namespace"))
        cur_ref, old_ref = controller_ref(cur), controller_ref(old)
        if cur_ref != old_ref and old_ref is not None:
            self._enqueue_owner(namespace, old_ref)
        if cur_ref is not None:
            ds = self._resolve(namespace, cur_ref)
            if ds is None:
                return
            self.enqueue_object(ds)
            min_ready = int(spec(ds).get("minReadySeconds") or 0)
            if min_ready > 0 and not podutil.is_pod_ready(old) and podutil.is_pod_ready(cur):
                # A second more against skew, as upstream.
                self.queue.add_after(meta_namespace_key(ds), min_ready + 1.0)
            return
        if meta(cur).get("labels") != meta(old).get("labels") or cur_ref != old_ref:
            for ds in self._selecting(cur):
                self.enqueue_object(ds)

    def _delete_pod(self, pod: Obj) -> None:
        ref = controller_ref(pod)
        if ref is None:
            return
        ds = self._resolve(str(meta(pod).get("namespace")), ref)
        if ds is not None:
            key = meta_namespace_key(ds)
            self.expectations.deletion_observed(key, podutil.pod_key(pod))
            self.enqueue(key)

    def _add_node(self, node: Obj) -> None:
        for ds in self.daemon_sets.store.list():
            if node_should_run_daemon_pod(node, ds)[0]:
                self.enqueue_object(ds)

    def _update_node(self, old: Obj, cur: Obj) -> None:
        if should_ignore_node_update(old, cur):
            return
        for ds in self.daemon_sets.store.list():
            if node_should_run_daemon_pod(old, ds) != node_should_run_daemon_pod(cur, ds):
                self.enqueue_object(ds)

    # -- sync ---------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        ds = self.daemon_sets.store.get(key)
        if ds is None:
            self.expectations.delete(key)
            return
        if spec(ds).get("selector") == {}:
            self.recorder.warning(self._event_ref(ds), SELECTING_ALL,
                                  "This daemon set is selecting all pods. A non-empty "
                                  "selector is required.")
            return
        if meta(ds).get("deletionTimestamp"):
            # Its revisions may be gone already: no status can be trusted.
            return
        # Which nodes it should (continue to) run on, judged once for the whole sync.
        decisions = DaemonPlacement(ds).decisions(self.nodes.store.list())
        current, old = await self.history.construct(ds)
        hash_ = str((meta(current).get("labels") or {}).get(UNIQUE_LABEL_KEY) or "")
        if not self.expectations.satisfied(key):
            await self.update_status(ds, decisions, hash_, update_observed_generation=False)
            return
        try:
            await self.update_daemon_set(ds, decisions, hash_, key, old)
        except Exception:
            try:
                await self.update_status(ds, decisions, hash_,
                                         update_observed_generation=True)
            except Exception:
                log.exception("%s: failed to update status of %s", self.name, key)
            raise
        await self.update_status(ds, decisions, hash_, update_observed_generation=True)

    async def claimed_pods(self, ds: Obj) -> list[Obj]:
        """Upstream's getDaemonPods: the DaemonSet's pods after adopting matching orphans
        and releasing owned pods that stopped matching."""
        namespace = str(meta(ds).get("namespace"))
        selector: LabelSelector = label_selector_from_dict(spec(ds).get("selector"))
        candidates = podutil.pods_for_owner(self.pods.store, namespace,
                                            str(meta(ds).get("uid")), include_orphans=True)
        manager = ControllerRefManager(
            self.client, owner=ds, owner_api_version=API_VERSION, owner_kind=KIND,
            child_resource=PODS, selector=selector,
            can_adopt=recheck_deletion_timestamp(self.client, DAEMON_SETS, ds))
        return await manager.claim(candidates)

    async def nodes_to_daemon_pods(self, ds: Obj) -> dict[str, list[Obj]]:
        """Upstream's getNodesToDaemonPods: claimed pods by the node they are for."""
        by_node: dict[str, list[Obj]] = {}
        for pod in await self.claimed_pods(ds):
            node_name = target_node_name(pod)
            if node_name is None:
                continue
            by_node.setdefault(node_name, []).append(pod)
        return by_node

    async def update_daemon_set(self, ds: Obj, decisions: Decisions, hash_: str, key: str,
                                old: list[Obj]) -> None:
        node_to_pods = await self.nodes_to_daemon_pods(ds)
        now = self.clock()
        plan = plan_nodes(ds, decisions, node_to_pods, hash_, self.backoff, now)
        ref = self._event_ref(ds)
        for warning, reason, message in plan.events:
            if warning:
                self.recorder.warning(ref, reason, message)
            else:
                self.recorder.normal(ref, reason, message)
        if plan.requeue_after is not None:
            self.queue.add_after(key, plan.requeue_after)
        await self.sync_nodes(ds, plan.pods_to_delete, plan.nodes_needing_pods, hash_)
        if self.expectations.satisfied(key) and \
                (spec(ds).get("updateStrategy") or {}).get("type") == ROLLING_UPDATE:
            # Nothing was created or deleted above: the same pods are still current.
            to_delete, new_nodes = rolling_update_plan(ds, decisions, node_to_pods, hash_,
                                                     now)
            await self.sync_nodes(ds, to_delete, new_nodes, hash_)
        pods = [p for pods in node_to_pods.values() for p in pods]
        await self.history.cleanup(ds, old, pods)

    async def sync_nodes(self, ds: Obj, pods_to_delete: list[str],
                         nodes_needing_pods: list[str], hash_: str) -> None:
        """Upstream's syncNodes: create pods for the nodes, delete the pods (at most
        `burst_replicas` of each); raises the first failure after trying them all."""
        key = meta_namespace_key(ds)
        namespace = str(meta(ds).get("namespace"))
        create = nodes_needing_pods[:self.burst_replicas]
        delete = pods_to_delete[:self.burst_replicas]
        self.expectations.expect_deletions(key, [f"{namespace}/{n}" for n in delete])
        self.expectations.set(key, len(create), len(delete))
        errors: list[BaseException] = []
        if create:
            template = create_pod_template(spec(ds).get("template") or {},
                                           template_generation(ds), hash_)
            targets: Iterator[str] = iter(create)
            successes, err = await slow_start_batch(
                len(create), SLOW_START_INITIAL_BATCH_SIZE,
                lambda: self._create_pod(ds, template, next(targets)))
            # Creations that failed or were never tried will not show up.
            for _ in range(len(create) - successes):
                self.expectations.creation_observed(key)
            if err is not None:
                errors.append(err)
        if delete:
            results = await asyncio.gather(*(self._delete_pod_named(ds, n) for n in delete),
                                           return_exceptions=True)
            for pod_name, result in zip(delete, results, strict=True):
                if isinstance(result, BaseException):
                    self.expectations.deletion_observed(key, f"{namespace}/{pod_name}")
                    if not isinstance(result, NotFoundError):
                        errors.append(result)
        if errors:
            raise errors[0]

    def _event_ref(self, ds: Obj) -> dict[str, Any]:
        m = meta(ds)
        return {"kind": KIND, "apiVersion": API_VERSION, "name": m.get("name"),
                "namespace": m.get("namespace"), "uid": m.get("uid"),
                "resourceVersion": m.get("resourceVersion")}

    async def _create_pod(self, ds: Obj, template: Obj, node_name: str) -> None:
        m = meta(ds)
        ref = owner_reference(ds, api_version=API_VERSION, kind=KIND)
        pod = podutil.pod_from_template(template, str(m.get("name")), ref)
        pod["spec"]["affinity"] = replace_node_name_affinity(pod["spec"].get("affinity"),
                                                             node_name)
        try:
            created = await self.client.create(PODS, pod, m.get("namespace"))
        except ApiError as err:
            if namespace_terminating(err):
                return  # every creation would fail; the namespace is going away
            self.recorder.warning(self._event_ref(ds), "FailedCreate",
                                  f"Error creating: {error_text(err)}")
            raise
        self.recorder.normal(self._event_ref(ds), "SuccessfulCreate",
                             f"Created pod: {meta(created).get('name')}")

    async def _delete_pod_named(self, ds: Obj, pod_name: str) -> None:
        try:
            await self.client.delete(PODS, pod_name, meta(ds).get("namespace"))
        except NotFoundError:
            raise
        except ApiError as err:
            self.recorder.warning(self._event_ref(ds), "FailedDelete",
                                  f"Error deleting: {error_text(err)}")
            raise
        self.recorder.normal(self._event_ref(ds), "SuccessfulDelete",
                             f"Deleted pod: {pod_name}")

    # -- status -------------------------------------------------------------------------

    async def update_status(self, ds: Obj, decisions: Decisions, hash_: str, *,
                            update_observed_generation: bool) -> None:
        """Upstream's updateDaemonSetStatus and storeDaemonSetStatus (one retry on a
        fresh copy)."""
        node_to_pods = await self.nodes_to_daemon_pods(ds)
        now = self.clock()
        counts = calculate_counts(ds, decisions, node_to_pods, hash_, now)
        m = meta(ds)
        namespace = m.get("namespace")
        if not status_unchanged(ds, counts):
            target = ds
            for attempt in range(2):
                status = new_status(target, counts)
                if update_observed_generation and m.get("generation"):
                    # The generation this sync acted on, not a newer one read on retry.
                    status["observedGeneration"] = int(m["generation"])
                body = {**target, "status": status}
                try:
                    await self.client.update_status(DAEMON_SETS, body, namespace)
                    break
                except ApiError:
                    if attempt:
                        raise
                target = await self.client.get(DAEMON_SETS, str(m.get("name")), namespace)
        min_ready = int(spec(ds).get("minReadySeconds") or 0)
        if min_ready > 0 and counts["numberReady"] != counts["numberAvailable"]:
            self.queue.add_after(meta_namespace_key(ds), float(min_ready))

