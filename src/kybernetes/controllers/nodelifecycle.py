"""The node lifecycle controller: node health from Leases and status, upstream's
`pkg/controller/nodelifecycle/node_lifecycle_controller.go` (taint-based, as in 1.35).

**Health monitoring** (`monitor_node_health`, every `node_monitor_period`, 5 s): for each
node the controller remembers when it last heard from it (`NodeHealth.probe_timestamp`):
when the Ready condition's `lastHeartbeatTime` changed, or the node's Lease in
`kube-node-lease` was renewed (a newer `renewTime`). A node not heard from for
`node_monitor_grace_period` (50 s, upstream's default since 1.32; `node_startup_grace_period`,
60 s, for a node that never posted a Ready condition) has its Ready, MemoryPressure,
DiskPressure and PIDPressure conditions set to Unknown with reason `NodeStatusUnknown` and
message "Kubelet stopped posting node status." (a condition never posted is added with
`NodeStatusNeverUpdated`, "Kubelet never posted node status."), written through
`nodes/status` (retried on a fresh GET when the write fails).

**NoExecute taints** (upstream's `processTaintBaseEviction`, on the Ready condition as
observed before this pass, so a node first goes Unknown, then is tainted a period later):
Ready False -> `node.kubernetes.io/not-ready:NoExecute`, Unknown ->
`node.kubernetes.io/unreachable:NoExecute`. A node carrying the other one has it swapped
at once; otherwise it joins its zone's queue (`nodezones.RateLimitedTimedQueue`), which a
tainting pass (every 0.1 s) works through at the zone's rate, re-reading the node's
Ready condition. Ready True removes both taints (and the node from the queue), as does
first seeing a node. The taint eviction controller acts on the taints; pods tolerate them
for 300 s by default (the DefaultTolerationSeconds admission).

**Zones** (upstream's `handleDisruption`, after each pass, nodes labelled
`node.kubernetes.io/exclude-disruption` left out): each zone's state (Normal,
PartialDisruption, FullDisruption: `nodezones.compute_zone_state`) sets its tainting rate
(`--node-eviction-rate` 0.1/s, `--secondary-node-eviction-rate` 0.01/s, none for a small
partially disrupted zone). When every zone is fully disrupted the trouble is taken to be
the control plane's: nothing is tainted and the NoExecute taints are removed; when some
node is Ready again every node gets a fresh grace period.

**Pods NotReady**: when a node's Ready condition leaves True, every pod on it gets its
`Ready` condition set to False (upstream's `MarkPodsNotReady`, with a `NodeNotReady`
event); a failure is retried next pass. A pod added or updated on a node that is not
ready is marked too, unless the node's informer already shows it Ready again.

**NoSchedule taints by condition** (upstream's `TaintNodesByCondition`, a work queue of
node names fed by node adds and updates): Ready False/Unknown -> not-ready/unreachable,
MemoryPressure/DiskPressure/PIDPressure/NetworkUnavailable True -> the matching
`node.kubernetes.io/*` taint, `spec.unschedulable` -> `node.kubernetes.io/unschedulable`,
all NoSchedule; taints of those keys that no longer apply are removed.

Taints are written with a PUT of the node guarded by its resourceVersion (retried on a
fresh GET); added taints carry `timeAdded`.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from kybernetes.api import timeutil
from kybernetes.api.objects import find_condition, status
from kybernetes.client import (
    ClientError,
    EventRecorder,
    NotFoundError,
    resource,
)
from kybernetes.client.rest import Obj
from kybernetes.controllers.base import ControllerContext, QueueController
from kybernetes.controllers.nodezones import (
    LARGE_CLUSTER_SIZE_THRESHOLD,
    NODE_EVICTION_RATE,
    SECONDARY_NODE_EVICTION_RATE,
    UNHEALTHY_ZONE_THRESHOLD,
    RateLimitedTimedQueue,
    ZoneState,
    compute_zone_state,
    excluded_from_disruption,
    zone_key,
    zone_qps,
)
from kybernetes.controllers.tainteviction import NODE_NAME_INDEX, node_name_index

log = logging.getLogger(__name__)

NODES = resource("", "v1", "nodes")
PODS = resource("", "v1", "pods")
LEASES = resource("coordination.k8s.io", "v1", "leases")
NODE_LEASE_NAMESPACE = "kube-node-lease"

# Upstream's defaults (--node-monitor-period, --node-monitor-grace-period,
# --node-startup-grace-period).
NODE_MONITOR_PERIOD = 5.0
NODE_MONITOR_GRACE_PERIOD = 50.0
NODE_STARTUP_GRACE_PERIOD = 60.0
DEFAULT_WORKERS = 8
# Upstream's nodeStatusUpdateRetry / NodeHealthUpdateRetry.
_UPDATE_RETRIES = 5

NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
_NOT_READY = {"key": NOT_READY_TAINT, "effect": "NoExecute"}
_UNREACHABLE = {"key": UNREACHABLE_TAINT, "effect": "NoExecute"}
# Upstream's nodeEvictionPeriod: how often queued nodes are tainted.
NODE_EVICTION_PERIOD = 0.1
# Upstream's nodeConditionToTaintKeyStatusMap.
CONDITION_TAINTS: dict[str, dict[str, str]] = {
    "Ready": {"False": NOT_READY_TAINT, "Unknown": UNREACHABLE_TAINT},
    "MemoryPressure": {"True": "node.kubernetes.io/memory-pressure"},
    "DiskPressure": {"True": "node.kubernetes.io/disk-pressure"},
    "NetworkUnavailable": {"True": "node.kubernetes.io/network-unavailable"},
    "PIDPressure": {"True": "node.kubernetes.io/pid-pressure"},
}
_CONDITION_TAINT_KEYS = frozenset(k for m in CONDITION_TAINTS.values() for k in m.values())
# The conditions a silent node's are set Unknown (NetworkUnavailable is the control
# plane's, not the kubelet's).
_KUBELET_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")


def _name(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def node_condition(node: Obj, type_: str) -> dict[str, Any] | None:
    return find_condition(status(node), type_)


def _ready_now(node: Obj | None) -> bool:
    """Whether the node, as the informer has it now, says Ready True."""
    ready = node_condition(node, "Ready") if node is not None else None
    return ready is not None and ready.get("status") == "True"


def _same_taint(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Upstream's `Taint.MatchTaint`: key and effect."""
    return a.get("key") == b.get("key") and a.get("effect") == b.get("effect")


def swapped_taints(taints: list[dict[str, Any]], add: list[dict[str, Any]],
                   remove: list[dict[str, Any]], now: str) -> list[dict[str, Any]]:
    """The node's taints with `remove` gone and `add` present (new ones stamped)."""
    kept = [t for t in taints if not any(_same_taint(t, r) for r in remove)]
    for taint in add:
        if not any(_same_taint(t, taint) for t in kept):
            kept.append({**taint, "timeAdded": now})
    return kept


def condition_taints(node: Obj) -> list[dict[str, Any]]:
    """The NoSchedule taints the node's conditions and unschedulable flag call for."""
    wanted = []
    for condition in (node.get("status") or {}).get("conditions") or []:
        if not isinstance(condition, dict):
            continue
        key = CONDITION_TAINTS.get(str(condition.get("type")), {}).get(
            str(condition.get("status")))
        if key:
            wanted.append({"key": key, "effect": "NoSchedule"})
    if (node.get("spec") or {}).get("unschedulable"):
        wanted.append({"key": UNSCHEDULABLE_TAINT, "effect": "NoSchedule"})
    return wanted


@dataclass
class NodeHealth:
    """What the controller last saw of a node (upstream's `nodeHealthData`)."""

    ready: dict[str, Any] | None
    probe_timestamp: datetime
    ready_transition_timestamp: datetime
    lease_renew_time: datetime | None = None


class NodeLifecycleController(QueueController):
    name: ClassVar[str] = "node-lifecycle-controller"

    def __init__(self, ctx: ControllerContext, *, workers: int = DEFAULT_WORKERS,
                 node_monitor_period: float = NODE_MONITOR_PERIOD,
                 node_monitor_grace_period: float = NODE_MONITOR_GRACE_PERIOD,
                 node_startup_grace_period: float = NODE_STARTUP_GRACE_PERIOD,
                 node_eviction_rate: float = NODE_EVICTION_RATE,
                 secondary_node_eviction_rate: float = SECONDARY_NODE_EVICTION_RATE,
                 large_cluster_size_threshold: int = LARGE_CLUSTER_SIZE_THRESHOLD,
                 unhealthy_zone_threshold: float = UNHEALTHY_ZONE_THRESHOLD,
                 clock: Callable[[], datetime] = timeutil.now) -> None:
        super().__init__(workers=workers)
        self.client = ctx.client
        self.node_monitor_period = node_monitor_period
        self.node_monitor_grace_period = timedelta(seconds=node_monitor_grace_period)
        self.node_startup_grace_period = timedelta(seconds=node_startup_grace_period)
        self.clock = clock
        self.node_eviction_rate = node_eviction_rate
        self.secondary_node_eviction_rate = secondary_node_eviction_rate
        self.large_cluster_size_threshold = large_cluster_size_threshold
        self.unhealthy_zone_threshold = unhealthy_zone_threshold
        self.recorder = EventRecorder(ctx.client, "node-controller")
        self.health: dict[str, NodeHealth] = {}
        self.nodes_to_retry: set[str] = set()
        self.known_nodes: set[str] = set()
        self.zone_states: dict[str, ZoneState] = {}
        self.zone_tainters: dict[str, RateLimitedTimedQueue] = {}
        self.nodes = ctx.informers.informer(NODES)
        self.leases = ctx.informers.informer(LEASES)
        self.pods = ctx.informers.informer(PODS, indexers={NODE_NAME_INDEX: node_name_index})
        self.watch(self.nodes, on_add=self._node_changed,
                   on_update=lambda _old, new: self._node_changed(new),
                   on_delete=self._node_deleted)
        self.watch(self.leases)
        self.watch(self.pods, on_add=self._pod_changed,
                   on_update=lambda _old, new: self._pod_changed(new))

    async def run(self) -> None:
        try:
            await self.wait_for_sync()
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(super().run())
                tasks.create_task(self._monitor_forever())
                tasks.create_task(self._tainting_forever())
        finally:
            await self.recorder.aclose()

    async def _monitor_forever(self) -> None:
        while True:
            try:
                await self.monitor_node_health()
            except Exception:
                log.exception("%s: monitoring node health failed", self.name)
            await asyncio.sleep(self.node_monitor_period)

    async def _tainting_forever(self) -> None:
        while True:
            try:
                await self.do_no_execute_tainting_pass()
            except Exception:
                log.exception("%s: tainting nodes failed", self.name)
            await asyncio.sleep(NODE_EVICTION_PERIOD)

    # -- handlers -----------------------------------------------------------------------

    def _node_changed(self, node: Obj) -> None:
        self._tainter(node)
        self.enqueue(f"node/{_name(node)}")

    def _node_deleted(self, node: Obj) -> None:
        self.health.pop(_name(node), None)
        self.nodes_to_retry.discard(_name(node))

    def _pod_changed(self, pod: Obj) -> None:
        if (pod.get("spec") or {}).get("nodeName"):
            meta = pod.get("metadata") or {}
            self.enqueue(f"pod/{meta.get('namespace', '')}/{meta.get('name', '')}")

    # -- the work queue: NoSchedule taints, pods on unready nodes -------------------------

    async def sync(self, key: str) -> None:
        kind, _, rest = key.partition("/")
        if kind == "node":
            await self.no_schedule_tainting_pass(rest)
        elif kind == "pod":
            await self.process_pod(rest)

    async def no_schedule_tainting_pass(self, name: str) -> None:
        """Upstream's `doNoScheduleTaintingPass`."""
        node = self.nodes.store.get(name)
        if node is None:
            return
        wanted = condition_taints(node)
        present = [t for t in (node.get("spec") or {}).get("taints") or []
                   if isinstance(t, dict) and t.get("effect") == "NoSchedule" and
                   (t.get("key") == UNSCHEDULABLE_TAINT or t.get("key") in _CONDITION_TAINT_KEYS)]
        add = [t for t in wanted if not any(_same_taint(t, p) for p in present)]
        remove = [t for t in present if not any(_same_taint(t, w) for w in wanted)]
        if add or remove:
            await self.swap_node_taints(name, add, remove)

    async def process_pod(self, key: str) -> None:
        """Upstream's `processPod`: a pod on a node whose Ready condition is not True is
        marked not ready. Upstream reads the condition as the last health pass saw it; a
        node the informer already shows Ready again is left alone here too (else a node that
        has just turned Ready has each of its pods' updates answered with a NotReady until
        the next pass, up to `--node-monitor-period`, while its kubelet marks them ready)."""
        pod = self.pods.store.get(key)
        if pod is None:
            return
        node_name = str((pod.get("spec") or {}).get("nodeName") or "")
        health = self.health.get(node_name)
        if health is None or health.ready is None:
            return
        if health.ready.get("status") != "True" and not _ready_now(
                self.nodes.store.get(node_name)):
            await self.mark_pods_not_ready([pod], node_name)

    # -- health monitoring --------------------------------------------------------------

    async def monitor_node_health(self) -> None:
        """One pass over every node (upstream's `monitorNodeHealth`)."""
        nodes = self.nodes.store.list()
        names = {_name(n) for n in nodes}
        for gone in set(self.health) - names:
            del self.health[gone]
        for node in nodes:
            if _name(node) not in self.known_nodes:
                self.recorder.normal(node, "RegisteredNode",
                                     f"Registered Node {_name(node)} in Controller")
                self.known_nodes.add(_name(node))
                await self.mark_node_as_reachable(node)
        for gone in self.known_nodes - names:
            self.recorder.normal({"apiVersion": "v1", "kind": "Node",
                                  "metadata": {"name": gone}}, "RemovingNode",
                                 f"Removing Node {gone} from Controller")
            self.known_nodes.discard(gone)
        zones: dict[str, list[dict[str, Any] | None]] = {}
        for cached in nodes:
            node, current = await self._monitor_node(cached)
            if not excluded_from_disruption(node):
                zones.setdefault(zone_key(node), []).append(current)
        await self.handle_disruption(zones, nodes)

    async def _monitor_node(self, node: Obj) -> tuple[Obj, dict[str, Any] | None]:
        """One node's pass: its health, its taints, its pods; (the node, its Ready
        condition now)."""
        name = _name(node)
        for attempt in range(_UPDATE_RETRIES):
            try:
                observed, current = await self.try_update_node_health(node)
                break
            except ClientError as err:
                log.warning("%s: updating health of node %s failed: %s", self.name, name, err)
                if attempt == _UPDATE_RETRIES - 1:
                    return node, node_condition(node, "Ready")
                try:
                    node = await self.client.get(NODES, name)
                except NotFoundError:
                    return node, node_condition(node, "Ready")
        if current is None:
            return node, current
        await self.process_taint_based_eviction(node, observed)
        needs_retry = name in self.nodes_to_retry
        became_unready = current.get("status") != "True" and observed.get("status") == "True"
        if became_unready:
            self.recorder.normal(node, "NodeNotReady", f"Node {name} status is now: "
                                 "NodeNotReady")
        if became_unready or (needs_retry and observed.get("status") != "True"):
            pods = self.pods.store.by_index(NODE_NAME_INDEX, name)
            if await self.mark_pods_not_ready(pods, name):
                self.nodes_to_retry.discard(name)
            else:
                self.nodes_to_retry.add(name)
        elif observed.get("status") == "True":
            self.nodes_to_retry.discard(name)
        return node, current

    async def try_update_node_health(self, node: Obj
                                     ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Upstream's `tryUpdateNodeHealth`: (the Ready condition observed before this pass,
        the Ready condition now, after marking a silent node Unknown)."""
        name = _name(node)
        now = self.clock()
        created = timeutil.parse_time((node.get("metadata") or {}).get("creationTimestamp")) or now
        health = self.health.get(name)
        current = node_condition(node, "Ready")
        if current is None:
            observed: dict[str, Any] = {
                "type": "Ready", "status": "Unknown",
                "lastHeartbeatTime": timeutil.rfc3339(created),
                "lastTransitionTime": timeutil.rfc3339(created)}
            grace = self.node_startup_grace_period
            if health is None:
                health = NodeHealth(None, created, created)
            else:
                health.ready = None
        else:
            observed = copy.deepcopy(current)
            grace = self.node_monitor_grace_period
        saved = health.ready if health is not None else None
        if health is None or (saved is None and current is not None) or \
                (saved is not None and current is None):
            health = NodeHealth(copy.deepcopy(current), now, now,
                                health.lease_renew_time if health is not None else None)
        elif saved is not None and current is not None and \
                saved.get("lastHeartbeatTime") != current.get("lastHeartbeatTime"):
            transition = now if saved.get("lastTransitionTime") != \
                current.get("lastTransitionTime") else health.ready_transition_timestamp
            health = NodeHealth(copy.deepcopy(current), now, transition,
                                health.lease_renew_time)
        lease = self.leases.store.get(f"{NODE_LEASE_NAMESPACE}/{name}")
        renewed = timeutil.parse_time(((lease or {}).get("spec") or {}).get("renewTime"))
        if renewed is not None and (health.lease_renew_time is None or
                                    health.lease_renew_time < renewed):
            health.lease_renew_time = renewed
            health.probe_timestamp = now
        self.health[name] = health

        if now > health.probe_timestamp + grace:
            # The node may be the informer's cached object: change a copy.
            node = copy.deepcopy(node)
            stamp = timeutil.rfc3339(now)
            conditions = node.setdefault("status", {}).setdefault("conditions", [])
            for type_ in _KUBELET_CONDITIONS:
                condition = node_condition(node, type_)
                if condition is None:
                    conditions.append({
                        "type": type_, "status": "Unknown", "reason": "NodeStatusNeverUpdated",
                        "message": "Kubelet never posted node status.",
                        "lastHeartbeatTime": timeutil.rfc3339(created),
                        "lastTransitionTime": stamp})
                elif condition.get("status") != "Unknown":
                    condition.update(status="Unknown", reason="NodeStatusUnknown",
                                     message="Kubelet stopped posting node status.",
                                     lastTransitionTime=stamp)
            current = node_condition(node, "Ready")
            if current != observed:
                await self.client.update_status(NODES, node)
                self.health[name] = NodeHealth(copy.deepcopy(current), health.probe_timestamp,
                                               now, health.lease_renew_time)
        return observed, current

    async def process_taint_based_eviction(self, node: Obj, observed: dict[str, Any]) -> None:
        """Upstream's `processTaintBaseEviction`: a NoExecute taint of the other kind is
        swapped at once; a node without one waits for its zone's rate limit; a Ready node
        loses both."""
        taints = [t for t in (node.get("spec") or {}).get("taints") or []
                  if isinstance(t, dict)]
        status = observed.get("status")
        if status in ("False", "Unknown"):
            wanted, other = (_NOT_READY, _UNREACHABLE) if status == "False" else \
                (_UNREACHABLE, _NOT_READY)
            if any(_same_taint(t, other) for t in taints):
                await self.swap_node_taints(_name(node), [wanted], [other])
            else:
                tainter = self._tainter(node)
                if not any(_same_taint(t, wanted) for t in taints):
                    tainter.remove(_name(node))
                tainter.add(_name(node))
        elif status == "True":
            await self.mark_node_as_reachable(node)

    async def mark_node_as_reachable(self, node: Obj) -> None:
        """Upstream's `markNodeAsReachable`: no NoExecute taint of ours, nothing queued."""
        taints = [t for t in (node.get("spec") or {}).get("taints") or []
                  if isinstance(t, dict)]
        if any(_same_taint(t, r) for t in taints for r in (_NOT_READY, _UNREACHABLE)):
            log.info("node %s is ready: removing its NoExecute taints", _name(node))
            await self.swap_node_taints(_name(node), [], [_NOT_READY, _UNREACHABLE])
        self._tainter(node).remove(_name(node))

    def _tainter(self, node: Obj) -> RateLimitedTimedQueue:
        """The zone's queue of nodes to taint (upstream's `addPodEvictorForNewZone`)."""
        return self._zone_tainter(zone_key(node))

    async def do_no_execute_tainting_pass(self) -> None:
        """Upstream's `doNoExecuteTaintingPass`: taint the queued nodes the zones' rate
        limits allow, by their Ready condition now."""
        for tainter in list(self.zone_tainters.values()):
            await tainter.try_pass(self._taint_queued)

    async def _taint_queued(self, name: str) -> bool:
        node = self.nodes.store.get(name)
        ready = node_condition(node, "Ready") if node is not None else None
        if ready is None:
            return True
        if ready.get("status") == "False":
            wanted, other = _NOT_READY, _UNREACHABLE
        elif ready.get("status") == "Unknown":
            wanted, other = _UNREACHABLE, _NOT_READY
        else:
            return True  # ready again: nothing to taint
        try:
            await self.swap_node_taints(name, [wanted], [other])
        except ClientError as err:
            log.warning("%s: tainting node %s failed: %s", self.name, name, err)
            return False
        return True

    async def handle_disruption(self, zones: dict[str, list[dict[str, Any] | None]],
                                nodes: list[Obj]) -> None:
        """Upstream's `handleDisruption`: zone states set the zones' tainting rates; when
        every zone is fully disrupted the problem is taken to be the control plane's, so
        nothing is tainted and existing NoExecute taints are removed."""
        new_states: dict[str, ZoneState] = {}
        all_fully_disrupted = True
        for zone, conditions in zones.items():
            _, state = compute_zone_state(conditions,
                                          unhealthy_threshold=self.unhealthy_zone_threshold)
            all_fully_disrupted = all_fully_disrupted and \
                state == ZoneState.FULL_DISRUPTION
            new_states[zone] = state
            self.zone_states.setdefault(zone, ZoneState.INITIAL)
        for zone in set(self.zone_states) - set(zones):
            del self.zone_states[zone]
        all_were_fully_disrupted = all(state == ZoneState.FULL_DISRUPTION
                                       for state in self.zone_states.values())
        if all_fully_disrupted and all_were_fully_disrupted:
            return
        if all_fully_disrupted:
            log.info("%s: all nodes are not ready: entering master disruption mode",
                     self.name)
            for node in nodes:
                await self.mark_node_as_reachable(node)
            for zone in self.zone_states:
                self._zone_tainter(zone).swap_limiter(0.0)
                self.zone_states[zone] = ZoneState.FULL_DISRUPTION
            return
        if all_were_fully_disrupted:
            log.info("%s: some nodes are ready: exiting master disruption mode", self.name)
            now = self.clock()
            for health in self.health.values():
                health.probe_timestamp = now
                health.ready_transition_timestamp = now
            for zone in self.zone_states:
                self._set_zone_limiter(zone, len(zones.get(zone, [])), new_states[zone])
                self.zone_states[zone] = new_states[zone]
            return
        for zone, state in self.zone_states.items():
            if new_states[zone] != state:
                log.info("%s: zone %r is now %s", self.name, zone, new_states[zone])
                self._set_zone_limiter(zone, len(zones[zone]), new_states[zone])
                self.zone_states[zone] = new_states[zone]

    def _zone_tainter(self, zone: str) -> RateLimitedTimedQueue:
        tainter = self.zone_tainters.get(zone)
        if tainter is None:
            tainter = self.zone_tainters[zone] = RateLimitedTimedQueue(
                self.node_eviction_rate, clock=lambda: self.clock().timestamp())
        return tainter

    def _set_zone_limiter(self, zone: str, size: int, state: ZoneState) -> None:
        self._zone_tainter(zone).swap_limiter(zone_qps(
            state, size, rate=self.node_eviction_rate,
            secondary_rate=self.secondary_node_eviction_rate,
            large_cluster_threshold=self.large_cluster_size_threshold))

    async def swap_node_taints(self, name: str, add: list[dict[str, Any]],
                               remove: list[dict[str, Any]]) -> None:
        """Upstream's `SwapNodeControllerTaint`, as a guarded PUT retried on conflicts."""
        for attempt in range(_UPDATE_RETRIES):
            try:
                node = await self.client.get(NODES, name)
            except NotFoundError:
                return
            spec = node.setdefault("spec", {})
            taints = [t for t in spec.get("taints") or [] if isinstance(t, dict)]
            new = swapped_taints(taints, add, remove, timeutil.rfc3339(self.clock()))
            if new == taints:
                return
            if new:
                spec["taints"] = new
            else:
                spec.pop("taints", None)
            try:
                await self.client.update(NODES, node)
                return
            except ClientError as err:
                if attempt == _UPDATE_RETRIES - 1:
                    raise
                log.debug("%s: tainting node %s failed (will retry): %s", self.name, name, err)

    async def mark_pods_not_ready(self, pods: list[Obj], node_name: str) -> bool:
        """Upstream's `MarkPodsNotReady`: whether every pod could be marked."""
        ok = True
        for cached in pods:
            if (cached.get("spec") or {}).get("nodeName") != node_name:
                continue
            pod = copy.deepcopy(cached)
            for condition in (pod.get("status") or {}).get("conditions") or []:
                if not isinstance(condition, dict) or condition.get("type") != "Ready":
                    continue
                if condition.get("status") == "False":
                    break
                condition["status"] = "False"
                condition["lastTransitionTime"] = timeutil.rfc3339(self.clock())
                namespace, name = pod["metadata"].get("namespace"), pod["metadata"]["name"]
                log.info("marking pod %s/%s not ready (node %s)", namespace, name, node_name)
                try:
                    await self.client.update_status(PODS, pod)
                except NotFoundError:
                    break
                except ClientError as err:
                    log.info("failed to update status of pod %s/%s: %s", namespace, name, err)
                    ok = False
                    break
                self.recorder.warning(pod, "NodeNotReady", "Node is not ready")
                break
        return ok
