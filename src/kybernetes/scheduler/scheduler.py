"""`Scheduler`: informers in, bindings out (upstream's `pkg/scheduler/scheduler.go`,
`schedule_one.go`, `eventhandlers.go`).

**Informers.** One informer lists and watches all non-terminal pods; its handler splits
them as upstream's filtered handlers do: pods with a node go to the cache (and become
"assigned pod" cluster events for the queue), pods without one whose `schedulerName` is one
of our profiles go to the scheduling queue. Nodes go to the cache (node events for the
queue: add, delete, and updates classified by what changed — labels, taints, allocatable,
conditions). Namespaces (for namespaceSelector) and, when PodTopologySpread's default
constraints are on, Services, ReplicaSets, StatefulSets and ReplicationControllers (the
default spreading selector) are watched too. A pod's priority is its `spec.priority`, set
by the Priority admission plugin.

**The loop.** `pop` a pod, run its scheduling cycle synchronously (filter, score, assume,
reserve, permit — see `cache` for why no yielding matters), then hand the assumed pod to an
asynchronous binding cycle (permit wait, pre-bind, bind, post-bind), many of which run at
once (at most `bind_concurrency`), and go on with the next pod. A failure in either cycle
goes through `_handle_failure`, as upstream's `handleSchedulingFailure`: a `FailedScheduling`
Warning event worded as upstream's, the `PodScheduled=False` condition (reason Unschedulable
or SchedulerError) and the nominated node written through `pods/status` only when they
change, and the pod back in the queue (unschedulable, or backoff for errors). Success
records a `Scheduled` event, "Successfully assigned ns/pod to node".

API writes other than binding (status patches, events, preemption) never block the loop:
they run as background tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import uuid
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kybernetes.api import timeutil
from kybernetes.api.selectors import (
    EQUALS,
    LabelSelector,
    Requirement,
    label_selector_from_dict,
)
from kybernetes.api.version import user_agent
from kybernetes.client import (
    ApiClient,
    ClientError,
    EventRecorder,
    Informer,
    LeaderElectionConfig,
    LeaderElector,
    LeadershipLost,
    NotFoundError,
    SharedInformerFactory,
    resource,
)
from kybernetes.scheduler.cache import Cache
from kybernetes.scheduler.config import SchedulerConfiguration
from kybernetes.scheduler.framework import Framework
from kybernetes.scheduler.interface import (
    ASSIGNED_POD_ADD,
    ASSIGNED_POD_DELETE,
    NODE_ADD,
    NODE_DELETE,
    ActionType,
    ClusterEvent,
    CycleState,
    EventResource,
    Handle,
    NominatingInfo,
    NominatingMode,
    PluginFactory,
)
from kybernetes.scheduler.metrics import ERROR, SCHEDULED, UNSCHEDULABLE, SchedulerMetrics
from kybernetes.scheduler.plugins import REGISTRY
from kybernetes.scheduler.plugins.podtopologyspread import PodTopologySpread
from kybernetes.scheduler.podinfo import PodInfo, pod_requests, same_scheduling_fields
from kybernetes.scheduler.queue import QueuedPodInfo, SchedulingQueue
from kybernetes.scheduler.schedule_one import (
    Algorithm,
    NoNodesAvailable,
    SchedulingError,
)
from kybernetes.scheduler.status import (
    Code,
    FitError,
    Status,
    as_status,
    is_success,
    truncate_message,
)

log = logging.getLogger(__name__)

Obj = dict[str, Any]

PODS = resource("", "v1", "pods")
NODES = resource("", "v1", "nodes")
NAMESPACES = resource("", "v1", "namespaces")
SERVICES = resource("", "v1", "services")
REPLICA_SETS = resource("apps", "v1", "replicasets")
STATEFUL_SETS = resource("apps", "v1", "statefulsets")
REPLICATION_CONTROLLERS = resource("", "v1", "replicationcontrollers")

USER_AGENT = user_agent("kube-scheduler")
# Binding requests in flight at most (each holds a pooled connection while it waits).
DEFAULT_BIND_CONCURRENCY = 64
_STATUS_CONCURRENCY = 32
# Event writers per profile (see EventWriters).
EVENT_WRITERS = 8
_CLEANUP_PERIOD = 1.0


@dataclass
class SchedulerStats:
    attempts: int = 0
    scheduled: int = 0
    unschedulable: int = 0
    errors: int = 0
    bind_failures: int = 0
    # Seconds from the first scheduling attempt to the binding's success, per pod.
    e2e_latencies: list[float] = field(default_factory=list)


class EventWriters:
    """A profile's events, written by several `EventRecorder`s at once.

    A recorder writes its events one after another, as client-go's does; at hundreds of
    pods per second that cannot keep up with HTTP round trips to a busy API server, and the
    recorder starts dropping. Each object always goes to the same recorder (by a hash of its
    namespace/name), so upstream's per-object correlation — dedup into `count`, aggregation,
    the spam filter — is unchanged."""

    def __init__(self, client: ApiClient, component: str, writers: int = EVENT_WRITERS) -> None:
        self.recorders = [EventRecorder(client, component) for _ in range(writers)]

    def event(self, obj: Obj, type: Any, reason: str, message: str) -> None:
        meta = obj.get("metadata") or {}
        key = f"{meta.get('namespace')}/{meta.get('name')}".encode()
        self.recorders[zlib.crc32(key) % len(self.recorders)].event(obj, type, reason, message)

    async def flush(self) -> None:
        await asyncio.gather(*(r.flush() for r in self.recorders))

    async def aclose(self) -> None:
        await asyncio.gather(*(r.aclose() for r in self.recorders))


def pod_update_action(old: Obj, new: Obj) -> ActionType:
    """What changed in a pod, as upstream's PodSchedulingPropertiesChange."""
    action = ActionType(0)
    om, nm = old.get("metadata") or {}, new.get("metadata") or {}
    os_, ns = old.get("spec") or {}, new.get("spec") or {}
    if om.get("labels") != nm.get("labels"):
        action |= ActionType.UPDATE_POD_LABEL
    if os_.get("tolerations") != ns.get("tolerations"):
        action |= ActionType.UPDATE_POD_TOLERATION
    if os_.get("schedulingGates") and not ns.get("schedulingGates"):
        action |= ActionType.UPDATE_POD_SCHEDULING_GATES_ELIMINATED
    if os_.get("containers") != ns.get("containers"):
        before, after = pod_requests(os_), pod_requests(ns)
        if any(after.get(k, 0) < v for k, v in before.items()):
            action |= ActionType.UPDATE_POD_SCALE_DOWN
    return action or ActionType.UPDATE_POD_OTHER


def _conditions(node: Obj) -> list[tuple[str, str]]:
    return sorted((str(c.get("type")), str(c.get("status")))
                  for c in (node.get("status") or {}).get("conditions") or ())


def node_update_action(old: Obj, new: Obj) -> ActionType:
    """What changed in a node, as upstream's nodeSchedulingPropertiesChange."""
    action = ActionType(0)
    om, nm = old.get("metadata") or {}, new.get("metadata") or {}
    os_, ns = old.get("spec") or {}, new.get("spec") or {}
    if bool(os_.get("unschedulable")) != bool(ns.get("unschedulable")) or \
            os_.get("taints") != ns.get("taints"):
        action |= ActionType.UPDATE_NODE_TAINT
    if (old.get("status") or {}).get("allocatable") != (new.get("status") or {}).get(
            "allocatable"):
        action |= ActionType.UPDATE_NODE_ALLOCATABLE
    if om.get("labels") != nm.get("labels"):
        action |= ActionType.UPDATE_NODE_LABEL
    if _conditions(old) != _conditions(new):
        action |= ActionType.UPDATE_NODE_CONDITION
    if om.get("annotations") != nm.get("annotations"):
        action |= ActionType.UPDATE_NODE_ANNOTATION
    return action


class Scheduler:
    def __init__(self, client: ApiClient, config: SchedulerConfiguration | None = None, *,
                 registry: Mapping[str, PluginFactory] = REGISTRY,
                 event_client: ApiClient | None = None,
                 bind_concurrency: int = DEFAULT_BIND_CONCURRENCY,
                 metrics: SchedulerMetrics | None = None) -> None:
        self.client = client
        self.metrics = metrics or SchedulerMetrics()
        self.config = config or SchedulerConfiguration()
        self.cache = Cache()
        self.stats = SchedulerStats()
        self._namespace_labels: dict[str, dict[str, str]] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._bind_slots = asyncio.Semaphore(bind_concurrency)
        self._status_slots = asyncio.Semaphore(_STATUS_CONCURRENCY)
        events = event_client or client
        self.profiles: dict[str, Framework] = {}
        self.factory = SharedInformerFactory(client)
        for profile in self.config.profiles:
            handle = Handle(self.cache, client=client, informers=self.factory,
                            on_cluster_event=self._on_plugin_event,
                            recorder=EventWriters(events, profile.scheduler_name),
                            namespace_labels=self._labels_of_namespace,
                            namespaces_matching=self._namespaces_matching,
                            default_selector=self.default_selector)
            handle.background = self._background
            self.profiles[profile.scheduler_name] = Framework(profile, registry, handle)
        first = next(iter(self.profiles.values()))
        sorter = first.queue_sort
        sort_key = sorter.sort_key if hasattr(sorter, "sort_key") else _cmp_key(sorter)
        self.queue = SchedulingQueue(
            sort_key=sort_key,
            pre_enqueue={name: fw.run_pre_enqueue for name, fw in self.profiles.items()},
            events={name: fw.events_to_register() for name, fw in self.profiles.items()},
            initial_backoff=self.config.pod_initial_backoff_seconds,
            max_backoff=self.config.pod_max_backoff_seconds,
            max_in_unschedulable=self.config.pod_max_in_unschedulable_pods_duration)
        for fw in self.profiles.values():
            fw.handle.nominator = self.queue.nominator
        self.metrics.pending_from({
            "active": lambda: self.queue.active_count,
            "backoff": lambda: self.queue.backoff_count,
            "unschedulable": lambda: self.queue.unschedulable_count - self._gated(),
            "gated": self._gated})
        self.algorithm = Algorithm(self.cache, self.config.percentage_of_nodes_to_score)
        self.pods = self.factory.informer(
            PODS, field_selector="status.phase!=Succeeded,status.phase!=Failed")
        self.nodes = self.factory.informer(NODES)
        self.namespaces = self.factory.informer(NAMESPACES)
        self._spreading_informers: dict[str, Informer] = {}
        if any(isinstance(fw.plugins.get("PodTopologySpread"), PodTopologySpread) and
               fw.plugins["PodTopologySpread"].default_constraints
               for fw in self.profiles.values()):
            for name, res in (("services", SERVICES), ("replicasets", REPLICA_SETS),
                              ("statefulsets", STATEFUL_SETS),
                              ("replicationcontrollers", REPLICATION_CONTROLLERS)):
                self._spreading_informers[name] = self.factory.informer(res)
        self.namespaces.add_event_handler(self._on_namespace, lambda _o, n: self._on_namespace(n),
                                          self._on_namespace_delete)
        self.nodes.add_event_handler(self._on_node_add, self._on_node_update,
                                     self._on_node_delete)
        self.pods.add_event_handler(self._on_pod_add, self._on_pod_update, self._on_pod_delete)

    # -- listers for plugins -------------------------------------------------------------

    def _labels_of_namespace(self, namespace: str) -> Mapping[str, str]:
        return self._namespace_labels.get(namespace, {})

    def _namespaces_matching(self, selector: LabelSelector) -> list[str]:
        return [ns for ns, labels in self._namespace_labels.items() if selector.matches(labels)]

    def default_selector(self, pod: PodInfo) -> LabelSelector:
        """Upstream's `helper.DefaultSelector`: what the pod's Services and controller
        select."""
        label_set: dict[str, str] = {}
        services = self._spreading_informers.get("services")
        if services is not None:
            for svc in services.store.by_index("namespace", pod.namespace):
                selector = (svc.get("spec") or {}).get("selector") or {}
                if selector and all(pod.labels.get(k) == v for k, v in selector.items()):
                    label_set.update(selector)
        requirements = [Requirement(k, EQUALS, (v,)) for k, v in label_set.items()]
        owner = next((r for r in (pod.pod.get("metadata") or {}).get("ownerReferences") or ()
                      if r.get("controller")), None)
        if owner is not None:
            kind, api_version = owner.get("kind"), owner.get("apiVersion")
            key = f"{pod.namespace}/{owner.get('name')}"
            if kind == "ReplicationController" and api_version == "v1":
                informer = self._spreading_informers.get("replicationcontrollers")
                rc = informer.store.get(key) if informer else None
                if rc is not None:
                    label_set.update((rc.get("spec") or {}).get("selector") or {})
                    requirements = [Requirement(k, EQUALS, (v,)) for k, v in label_set.items()]
            elif kind in ("ReplicaSet", "StatefulSet") and api_version == "apps/v1":
                informer = self._spreading_informers.get(
                    "replicasets" if kind == "ReplicaSet" else "statefulsets")
                owned = informer.store.get(key) if informer else None
                if owned is not None:
                    with contextlib.suppress(ValueError):
                        other = label_selector_from_dict(
                            (owned.get("spec") or {}).get("selector"))
                        requirements += list(other.requirements)
        return LabelSelector(requirements)

    # -- informer handlers ---------------------------------------------------------------

    def _on_plugin_event(self, event: ClusterEvent, old: Obj | None, new: Obj | None) -> None:
        """A change a plugin's own informer saw (VolumeBinding: claims, volumes, classes)."""
        self.queue.move_all_on_event(event, old, new)

    def _on_namespace(self, obj: Obj) -> None:
        meta = obj.get("metadata") or {}
        self._namespace_labels[meta.get("name") or ""] = dict(meta.get("labels") or {})

    def _on_namespace_delete(self, obj: Obj) -> None:
        self._namespace_labels.pop((obj.get("metadata") or {}).get("name") or "", None)

    def _on_node_add(self, obj: Obj) -> None:
        self.cache.add_node(obj)
        self.queue.move_all_on_event(NODE_ADD, None, obj)

    def _on_node_update(self, old: Obj, new: Obj) -> None:
        self.cache.update_node(new)
        action = node_update_action(old, new)
        if action:
            self.queue.move_all_on_event(ClusterEvent(EventResource.NODE, action, "NodeUpdate"),
                                         old, new)

    def _on_node_delete(self, obj: Obj) -> None:
        self.cache.remove_node(obj)
        self.queue.move_all_on_event(NODE_DELETE, obj, None)

    @staticmethod
    def _pod_info(obj: Obj) -> PodInfo:
        """The pod's priority is `spec.priority`, which the Priority admission plugin
        resolved from its PriorityClass (0 without one), as upstream's PodPriority."""
        return PodInfo(obj)

    def _responsible(self, obj: Obj) -> bool:
        return ((obj.get("spec") or {}).get("schedulerName") or "default-scheduler") \
            in self.profiles

    def _on_pod_add(self, obj: Obj) -> None:
        if (obj.get("spec") or {}).get("nodeName"):
            self.cache.add_pod(self._pod_info(obj))
            self.queue.move_all_on_event(ASSIGNED_POD_ADD, None, obj)
        elif self._responsible(obj):
            self.queue.add(self._pod_info(obj))

    def _on_pod_update(self, old: Obj, new: Obj) -> None:
        key = f"{(new.get('metadata') or {}).get('namespace')}/" \
              f"{(new.get('metadata') or {}).get('name')}"
        if (new.get("spec") or {}).get("nodeName"):
            cached = self.cache.get_pod(key)
            if cached is not None and same_scheduling_fields(cached.pod, new):
                self.cache.replace_pod_object(cached.with_pod(new))
            else:
                self.cache.update_pod(self._pod_info(new))
            if not (old.get("spec") or {}).get("nodeName"):
                # Bound since: no longer pending (upstream: delete from the queue, add to
                # the cache).
                queued = self.queue.get(key)
                if queued is not None:
                    self.queue.delete(queued.pod_info)
                self.queue.nominator.delete(self.cache.get_pod(key) or self._pod_info(new))
                self.queue.move_all_on_event(ASSIGNED_POD_ADD, None, new)
            else:
                action = pod_update_action(old, new)
                self.queue.move_all_on_event(
                    ClusterEvent(EventResource.POD, action, "AssignedPodUpdate"), old, new)
            return
        if not self._responsible(new):
            return
        queued = self.queue.get(key)
        if queued is not None and same_scheduling_fields(queued.pod, new):
            new_info = queued.pod_info.with_pod(new)
        else:
            new_info = self._pod_info(new)
        self.queue.update(queued.pod_info if queued else None, new_info,
                          pod_update_action(old, new))

    def _on_pod_delete(self, obj: Obj) -> None:
        meta = obj.get("metadata") or {}
        key = f"{meta.get('namespace')}/{meta.get('name')}"
        if (obj.get("spec") or {}).get("nodeName") or self.cache.get_pod(key) is not None:
            self.cache.remove_pod(key)
            self.queue.move_all_on_event(ASSIGNED_POD_DELETE, obj, None)
            return
        queued = self.queue.get(key)
        info = queued.pod_info if queued is not None else self._pod_info(obj)
        self.queue.delete(info)
        for fw in self.profiles.values():
            waiting = fw.get_waiting_pod(info.uid)
            if waiting is not None:
                waiting.reject("", "removed")

    # -- running -------------------------------------------------------------------------

    async def start_informers(self) -> None:
        self.factory.start()
        await self.factory.wait_for_cache_sync()

    async def run(self) -> None:
        """Schedule until cancelled (informers are started if they are not yet)."""
        await self.start_informers()
        self.queue.start()
        cleanup = asyncio.create_task(self._cleanup_forever(), name="scheduler-cleanup")
        try:
            while True:
                qpi = await self.queue.pop()
                try:
                    self.schedule_one(qpi)
                except Exception as err:
                    self._unexpected(qpi, err)
                # Let informers, bindings and status writes progress between cycles.
                await asyncio.sleep(0)
        finally:
            cleanup.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await cleanup

    def _unexpected(self, qpi: QueuedPodInfo, err: Exception) -> None:
        """A bug in a plugin or here: undo the assumption, retry the pod after backoff."""
        log.exception("scheduling %s failed unexpectedly", qpi.key)
        if self.cache.is_assumed(qpi.key):
            assumed = self.cache.get_pod(qpi.key)
            if assumed is not None:
                self.cache.forget_pod(assumed)
        fw = self.profiles.get(qpi.pod_info.scheduler_name)
        if fw is None:
            self.queue.done(qpi.key)
            return
        self._handle_failure(fw, qpi, as_status(err), None)

    async def _cleanup_forever(self) -> None:
        while True:
            await asyncio.sleep(_CLEANUP_PERIOD)
            for expired in self.cache.cleanup_expired():
                self.queue.move_all_on_event(ASSIGNED_POD_DELETE, expired.pod, None)

    async def shutdown(self) -> None:
        await self.queue.close()
        for task in list(self._background):
            task.cancel()
        for task in list(self._background):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for fw in self.profiles.values():
            recorder = fw.handle.recorder
            if isinstance(recorder, EventWriters):
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(recorder.aclose(), 5)
        await self.factory.shutdown()

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _gated(self) -> int:
        return sum(1 for qpi in self.queue.unschedulable.values() if qpi.gated)

    # -- one pod -------------------------------------------------------------------------

    def schedule_one(self, qpi: QueuedPodInfo) -> None:
        """The scheduling cycle for one pod (synchronous); binding continues in a task."""
        pod = qpi.pod_info
        fw = self.profiles.get(pod.scheduler_name)
        if fw is None or pod.terminating or self.cache.is_assumed(pod.key):
            self.queue.done(pod.key)
            return
        self.stats.attempts += 1
        qpi.cycle_start = self.queue.clock()
        state = CycleState()
        try:
            result = self.algorithm.schedule_pod(fw, state, pod)
        except FitError as fit:
            nominating: NominatingInfo | None = None
            if fw.post_filter:
                post, status = fw.run_post_filter(state, pod, fit.diagnosis.node_to_status)
                fit.diagnosis.post_filter_msg = status.message if status is not None else ""
                if post is not None:
                    nominating = post.nominating_info
            qpi.unschedulable_plugins = set(fit.diagnosis.unschedulable_plugins)
            qpi.pending_plugins = set(fit.diagnosis.pending_plugins)
            self.stats.unschedulable += 1
            self._handle_failure(fw, qpi, Status(Code.UNSCHEDULABLE, (str(fit),)), nominating)
            return
        except NoNodesAvailable as err:
            self.stats.unschedulable += 1
            self._handle_failure(fw, qpi, Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
                                                 (str(err),)), None)
            return
        except SchedulingError as err:
            self.stats.errors += 1
            self._handle_failure(fw, qpi, err.status, None)
            return
        host = result.suggested_host
        assumed = self._assume(pod, host)
        status = fw.run_reserve(state, assumed, host)
        if not is_success(status):
            assert status is not None
            fw.run_unreserve(state, assumed, host)
            self.cache.forget_pod(assumed)
            self._handle_failure(fw, qpi, status, None)
            return
        status = fw.run_permit(state, assumed, host)
        if status is not None and not status.is_wait and not is_success(status):
            fw.run_unreserve(state, assumed, host)
            self.cache.forget_pod(assumed)
            self._handle_failure(fw, qpi, status, None)
            return
        self.queue.nominator.delete(pod)
        self._spawn(self._binding_cycle(fw, state, qpi, assumed, host), f"bind:{pod.key}")

    def _assume(self, pod: PodInfo, host: str) -> PodInfo:
        obj = dict(pod.pod)
        obj["spec"] = {**(pod.pod.get("spec") or {}), "nodeName": host}
        assumed = pod.with_pod(obj)
        assumed.node_name = host
        self.cache.assume_pod(assumed)
        return assumed

    async def _binding_cycle(self, fw: Framework, state: CycleState, qpi: QueuedPodInfo,
                             assumed: PodInfo, host: str) -> None:
        async with self._bind_slots:
            status = await fw.wait_on_permit(assumed)
            if is_success(status):
                status = await fw.run_pre_bind(state, assumed, host)
            if is_success(status):
                status = await fw.run_bind(state, assumed, host)
        if not is_success(status):
            assert status is not None
            self.stats.bind_failures += 1
            fw.run_unreserve(state, assumed, host)
            self.cache.forget_pod(assumed)
            self.queue.move_all_on_event(ASSIGNED_POD_DELETE, assumed.pod, None,
                                         only=lambda other: other.key != assumed.key)
            if isinstance(status.error, NotFoundError):
                self.queue.done(qpi.key)  # the pod is gone
                return
            self._handle_failure(fw, qpi, status, NominatingInfo("", NominatingMode.OVERRIDE))
            return
        self.cache.finish_binding(assumed)
        self.stats.scheduled += 1
        now = self.queue.clock()
        self.metrics.attempt(SCHEDULED, fw.name, now - qpi.cycle_start)
        if qpi.initial_attempt_timestamp is not None:
            self.stats.e2e_latencies.append(now - qpi.initial_attempt_timestamp)
            self.metrics.scheduled(qpi.attempts, now - qpi.initial_attempt_timestamp)
        if fw.handle.recorder is not None:
            fw.handle.recorder.event(assumed.pod, "Normal", "Scheduled",
                                     f"Successfully assigned {assumed.namespace}/"
                                     f"{assumed.name} to {host}")
        fw.run_post_bind(state, assumed, host)
        self.queue.done(qpi.key)

    def _handle_failure(self, fw: Framework, qpi: QueuedPodInfo, status: Status,
                        nominating: NominatingInfo | None) -> None:
        """Upstream's handleSchedulingFailure."""
        pod = qpi.pod_info
        reason = "Unschedulable" if status.is_rejected else "SchedulerError"
        self.metrics.attempt(UNSCHEDULABLE if status.is_rejected else ERROR, fw.name,
                             self.queue.clock() - qpi.cycle_start)
        message = status.message or (str(status.error) if status.error else "")
        if status.code == Code.ERROR:
            log.warning("error scheduling pod %s; retrying: %s", pod.key, message)
            qpi.unschedulable_plugins = set()
            qpi.pending_plugins = set()
        else:
            log.debug("unable to schedule pod %s: %s", pod.key, message)
        current = self.pods.store.get(pod.key)
        if current is None or (current.get("spec") or {}).get("nodeName"):
            self.queue.done(pod.key)
        else:
            if current is not pod.pod:
                qpi.pod_info = pod.with_pod(current) if same_scheduling_fields(
                    pod.pod, current) else self._pod_info(current)
            self.queue.add_unschedulable_if_not_present(qpi)
        if nominating is not None:
            self.queue.nominator.add(qpi.pod_info, nominating)
        text = truncate_message(message)
        if fw.handle.recorder is not None:
            fw.handle.recorder.event(pod.pod, "Warning", "FailedScheduling", text)
        if current is not None:
            self._spawn(self._update_pod_status(current, reason, text, nominating),
                        f"status:{pod.key}")

    async def _update_pod_status(self, pod: Obj, reason: str, message: str,
                                 nominating: NominatingInfo | None) -> None:
        """PodScheduled=False and the nominated node, written only when they change."""
        status = pod.get("status") or {}
        existing = next((c for c in status.get("conditions") or ()
                         if c.get("type") == "PodScheduled"), None)
        condition = {"type": "PodScheduled", "status": "False", "reason": reason,
                     "message": message, "lastProbeTime": None}
        changed = existing is None or any(existing.get(k) != condition[k] for k in (
            "status", "reason", "message"))
        if existing is not None and existing.get("status") == "False" and \
                existing.get("lastTransitionTime"):
            condition["lastTransitionTime"] = existing["lastTransitionTime"]
        else:
            condition["lastTransitionTime"] = timeutil.now_rfc3339()
        patch: Obj = {}
        if changed:
            patch["conditions"] = [condition]
        if nominating is not None and nominating.mode is NominatingMode.OVERRIDE and \
                (status.get("nominatedNodeName") or "") != nominating.nominated_node_name:
            patch["nominatedNodeName"] = nominating.nominated_node_name or None
        if not patch:
            return
        meta = pod.get("metadata") or {}
        async with self._status_slots:
            try:
                await self.client.patch(PODS, meta.get("name") or "", {"status": patch},
                                        meta.get("namespace"), patch_type="strategic",
                                        subresource="status")
            except NotFoundError:
                pass
            except ClientError as err:
                log.info("updating the status of %s/%s failed: %s", meta.get("namespace"),
                         meta.get("name"), err)


def _cmp_key(sorter: Any) -> Any:
    import functools

    def compare(a: QueuedPodInfo, b: QueuedPodInfo) -> int:
        return -1 if sorter.less(a, b) else 1 if sorter.less(b, a) else 0

    key = functools.cmp_to_key(compare)
    return key


# ----------------------------------------------------------------------------- running


def identity() -> str:
    return f"{socket.gethostname()}_{uuid.uuid4()}"


async def run_scheduler(client: ApiClient, config: SchedulerConfiguration | None = None, *,
                        event_client: ApiClient | None = None,
                        metrics: SchedulerMetrics | None = None) -> None:
    """Run a scheduler until cancelled: informers at once, scheduling while leading (when
    leader election is on). Raises LeadershipLost when leadership is lost, as upstream
    exits then."""
    config = config or SchedulerConfiguration()
    scheduler = Scheduler(client, config, event_client=event_client, metrics=metrics)
    try:
        if not config.leader_elect:
            await scheduler.run()
            return
        scheduler.factory.start()
        elector = LeaderElector(client, LeaderElectionConfig(
            name=config.lease_name, namespace=config.lease_namespace, identity=identity(),
            lease_duration=config.lease_duration, renew_deadline=config.renew_deadline,
            retry_period=config.retry_period), on_started_leading=scheduler.run)
        await elector.run()
        raise LeadershipLost(f"leader election lost: {config.lease_namespace}/"
                             f"{config.lease_name}")
    finally:
        await scheduler.shutdown()


__all__ = ["Scheduler", "SchedulerStats", "run_scheduler"]
