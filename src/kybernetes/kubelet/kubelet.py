"""`Kubelet`: one node's agent, an API client that makes the pods bound to it run.

What it does, as upstream's kubelet does it, all through the API server:

- **Registers** its Node (created with labels, capacity, allocatable, addresses, nodeInfo
  and a /24 pod CIDR not used by another node; an existing Node is adopted and its status
  refreshed) and then **heartbeats**: renews its Lease in `kube-node-lease` every 10 s and
  reports node status when a condition changes, else every `status_report_period`.
- **Watches** the pods bound to it (field selector `spec.nodeName=<node>`) and hands each
  pod, by uid, to its pod worker (`podworkers.PodWorkers`; mirror pods excepted: they
  stand for what runs without the kubelet, `mirrorpods`), which runs `sync_pod`:
  a pod being deleted is stopped within its grace period, its status written, its
  volumes released, and then the pod object is deleted (grace 0, uid precondition) as
  the kubelet's status manager does, its stopped containers and sandbox removed after;
  a pod gone from the API is stopped and removed; any
  other pod is driven one step towards its spec (`kuberuntime.RuntimeManager`) and its
  status (`podstatus`) written when it changed (`statusmanager`). A sync reads only its
  own pod's sandboxes and containers (`podindex`), so it costs the same with 1 pod on the
  node or 110; a healthy pod is synced again after upstream's syncFrequency (a minute,
  jittered), one whose sync hit an error after 10 s.
- **Relists** the runtime every second (upstream's PLEG) and wakes the pods whose
  containers changed state, so an exit is noticed without waiting for a resync; runtime
  pods whose API object is gone are cleaned up.
- **Probes** containers (`probes.ProbeManager`); a result change wakes the pod.

Restarting the kubelet adopts what runs: pod state is read back from the runtime by the
pod uid label, never kept only in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kybernetes.api import timeutil
from kybernetes.client import (
    AlreadyExistsError,
    ApiClient,
    ClientError,
    EventRecorder,
    Informer,
    NotFoundError,
    resource,
)
from kybernetes.client.rest import Preconditions
from kybernetes.kubelet import nodestatus
from kybernetes.kubelet.containers import LABEL_POD_UID
from kybernetes.kubelet.kuberuntime import (
    PodRuntimeState,
    RuntimeManager,
    SyncResult,
    grace_period,
)
from kybernetes.kubelet.metrics import KubeletMetrics
from kybernetes.kubelet.mirrorpods import is_mirror_pod
from kybernetes.kubelet.podstatus import (
    KUBELET_CONDITIONS,
    TERMINAL_PHASES,
    ContainerRecord,
    ProbeState,
    all_containers,
    container_status,
    pod_conditions,
    pod_phase,
)
from kybernetes.kubelet.podworkers import DONE, PodWorkers, SyncOutcome
from kybernetes.kubelet.probes import ProbeManager, ProbeTarget
from kybernetes.kubelet.runtime.cri import ContainerState, ContainerStatus
from kybernetes.kubelet.runtime.simulated import lease_object, micro_time
from kybernetes.kubelet.statusmanager import StatusManager

log = logging.getLogger(__name__)

Obj = dict[str, Any]
NODES = resource("", "v1", "nodes")
PODS = resource("", "v1", "pods")
LEASES = resource("coordination.k8s.io", "v1", "leases")
LEASE_NAMESPACE = "kube-node-lease"
# Upstream's node lease controller: a failed renewal is retried after 200 ms, doubling to 7 s.
LEASE_RETRY_FIRST = 0.2
LEASE_RETRY_MAX = 7.0
CLUSTER_POD_CIDR = "10.42.0.0/16"
UID_INDEX = "uid"
RESYNC_JITTER = 0.5


@dataclass(frozen=True, kw_only=True)
class KubeletConfig:
    node_name: str
    node_ip: str
    root_dir: Path
    port: int = 10250
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: Sequence[Obj] = ()
    pod_cidr: str = ""  # "": the one the node IPAM controller assigns
    cluster_cidr: str = CLUSTER_POD_CIDR
    max_pods: int = 110
    lease_duration: int = 40  # seconds, upstream's nodeLeaseDurationSeconds
    renew_interval: float = 10.0  # a quarter of the lease duration, as upstream
    status_update_period: float = 10.0  # nodeStatusUpdateFrequency
    status_report_period: float = 300.0  # nodeStatusReportFrequency
    relist_period: float = 1.0  # PLEG
    resync_period: float = 60.0  # a healthy pod's periodic sync (syncFrequency), jittered
    backoff_period: float = 10.0  # the next sync after an error (upstream's backOffPeriod)
    runtime_version: str = "runc://1.1.5"


def _desired_meta(pod: Obj) -> tuple[Any, ...]:
    meta = pod.get("metadata") or {}
    return (meta.get("labels"), meta.get("annotations"), meta.get("deletionTimestamp"),
            meta.get("deletionGracePeriodSeconds"))


class Kubelet:
    def __init__(self, client: ApiClient, config: KubeletConfig, manager: RuntimeManager,
                 metrics: KubeletMetrics | None = None) -> None:
        self.client = client
        self.metrics = metrics or KubeletMetrics()
        self.config = config
        self.manager = manager
        self.recorder = EventRecorder(client, "kubelet", config.node_name)
        self.status = StatusManager(client)
        self.workers = PodWorkers(self.sync_pod)
        self.probes = ProbeManager(manager.runtime, on_change=self.workers.wake,
                                   on_event=self.event)
        manager.events = self.event
        self.pods = Informer(client, PODS, field_selector=f"spec.nodeName={config.node_name}",
                             indexers={UID_INDEX: lambda p: [str(p["metadata"]["uid"])]})
        self.pods.add_event_handler(self._changed, self._updated, self._removed)
        self.node: Obj = {}
        self.pod_cidr = config.pod_cidr
        self.ready = asyncio.Event()
        self._gone: dict[str, Obj] = {}  # uid -> last object of pods deleted from the API
        self._container_states: dict[str, ContainerState] = {}
        self._container_images: dict[str, str] = {}  # container id -> image of live ones
        # Hooks for the node's services: told the pod CIDR once registered (CNI config),
        # and asked why the network is not ready ("" when it is: the Ready condition's
        # message otherwise, "container runtime network not ready: ...").
        self.on_registered: Callable[[str], None] | None = None
        self.network_status: Callable[[], str] | None = None

    # -- events and handlers ------------------------------------------------------------

    def event(self, pod: Obj, kind: str, reason: str, message: str) -> None:
        self.recorder.event(pod, "Warning" if kind == "Warning" else "Normal", reason,
                            message)

    def _changed(self, pod: Obj) -> None:
        if is_mirror_pod(pod):  # it reflects what runs without the kubelet (mirrorpods)
            return
        uid = str(pod["metadata"]["uid"])
        self.metrics.pod_seen(uid)
        self.workers.wake(uid)

    def _updated(self, old: Obj, new: Obj) -> None:
        """A change of what the pod asks for wakes its worker; a change of its status (the
        kubelet's own writes, coming back) does not, as upstream's pod config source,
        unless someone else changed it after the kubelet's write (`needs_reconcile`)."""
        if old.get("spec") != new.get("spec") or \
                _desired_meta(old) != _desired_meta(new) or \
                (old.get("status") != new.get("status") and self.status.needs_reconcile(new)):
            self._changed(new)

    def _removed(self, pod: Obj) -> None:
        if is_mirror_pod(pod):
            return
        uid = str(pod["metadata"]["uid"])
        self._gone[uid] = pod
        self.workers.wake(uid)

    def pod_with_status(self, namespace: str, name: str) -> Obj | None:
        """The pod as the kubelet knows it: the API's object with the status it last wrote
        (for the streaming server, which picks containers by their status)."""
        pod = self.pods.store.get(f"{namespace}/{name}")
        if pod is None:
            return None
        written = self.status.last(str(pod["metadata"]["uid"]))
        return pod if written is None else {**pod, "status": written}

    def _pod(self, uid: str) -> Obj | None:
        found = self.pods.store.by_index(UID_INDEX, uid)
        return found[0] if found else None

    # -- running ------------------------------------------------------------------------

    async def run(self) -> None:
        """Until cancelled. Containers keep running when the kubelet stops."""
        await self.register()
        tasks = [asyncio.create_task(self._heartbeat(), name="kubelet:lease"),
                 asyncio.create_task(self._report_status(), name="kubelet:node-status")]
        self.pods.start()
        try:
            await self.pods.wait_for_sync()
            await self._adopt_orphans()
            self.ready.set()
            tasks.append(asyncio.create_task(self._relist(), name="kubelet:pleg"))
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.pods.stop()
            await self.workers.stop()
            await self.probes.stop()
            await self.manager.aclose()
            with contextlib.suppress(Exception):
                await self.recorder.aclose()

    # -- node ---------------------------------------------------------------------------

    async def _assigned_pod_cidr(self) -> Obj:
        """The Node once the node IPAM controller has given it a pod CIDR (a kubelet may
        not read other Nodes to pick one itself)."""
        waited = 0
        while True:
            node: Obj = await self.client.get(NODES, self.config.node_name)
            if (node.get("spec") or {}).get("podCIDR"):
                return node
            if waited % 30 == 0:
                log.info("node %s: waiting for the node IPAM controller to assign a pod CIDR",
                         self.config.node_name)
            await asyncio.sleep(1)
            waited += 1

    def _not_ready(self) -> list[str]:
        network = self.network_status() if self.network_status is not None else ""
        return [network] if network else []

    def images_in_use(self) -> set[str]:
        """Images of the containers the runtime holds (never garbage-collected)."""
        return set(self._container_images.values())

    def _node_status(self, old: Obj | None = None) -> Obj:
        root = self.config.root_dir
        host = nodestatus.host_resources(root, self.config.max_pods)
        conditions = nodestatus.node_conditions(
            (old or {}).get("conditions") or (), pressure=nodestatus.measure_pressure(root),
            not_ready=self._not_ready(), now=timeutil.now_rfc3339())
        return {
            "capacity": nodestatus.capacity(host),
            "allocatable": nodestatus.allocatable(host),
            "conditions": conditions,
            "addresses": [{"type": "InternalIP", "address": self.config.node_ip},
                          {"type": "Hostname", "address": self.config.node_name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.config.port}},
            "nodeInfo": nodestatus.node_info(self.config.runtime_version),
        }

    async def register(self) -> None:
        name = self.config.node_name
        try:
            existing: Obj | None = await self.client.get(NODES, name)
        except NotFoundError:
            existing = None
        if existing is None:
            spec: Obj = {"podCIDR": self.pod_cidr, "podCIDRs": [self.pod_cidr]} \
                if self.pod_cidr else {}
            if self.config.taints:
                spec["taints"] = [dict(t) for t in self.config.taints]
            node = {"apiVersion": "v1", "kind": "Node",
                    "metadata": {"name": name, "labels": nodestatus.node_labels(
                        name, self.config.labels)},
                    "spec": spec, "status": self._node_status()}
            try:
                existing = await self.client.create(NODES, node)
            except AlreadyExistsError:
                existing = await self.client.get(NODES, name)
        if not (existing.get("spec") or {}).get("podCIDR"):
            existing = await self._assigned_pod_cidr()
        self.pod_cidr = str(existing["spec"]["podCIDR"])
        if self.on_registered is not None:
            self.on_registered(self.pod_cidr)
        existing = await self.client.patch(
            NODES, name, {"status": self._node_status(existing.get("status"))},
            subresource="status")
        self.node = existing
        log.info("node %s registered (pod CIDR %s)", name, self.pod_cidr)

    async def _heartbeat(self) -> None:
        """Renew the node's Lease every `renew_interval`; after a failure, again soon (0.2 s
        doubling to 7 s, as upstream's lease controller backs off), not a whole interval
        later: a server lost mid-request must not cost the node its grace period."""
        name = self.config.node_name
        retry = LEASE_RETRY_FIRST
        while True:
            try:
                try:
                    await self.client.patch(LEASES, name, {"spec": {
                        "holderIdentity": name,
                        "leaseDurationSeconds": self.config.lease_duration,
                        "renewTime": micro_time()}}, LEASE_NAMESPACE)
                except NotFoundError:
                    await self.client.create(LEASES, lease_object(
                        name, str(self.node["metadata"]["uid"]), self.config.lease_duration),
                        LEASE_NAMESPACE)
            except ClientError as err:
                log.warning("renewing the node lease failed (again in %.1fs): %s", retry, err)
                await asyncio.sleep(retry)
                retry = min(retry * 2, LEASE_RETRY_MAX)
                continue
            retry = LEASE_RETRY_FIRST
            await asyncio.sleep(self.config.renew_interval)

    async def _report_status(self) -> None:
        """Every update period, compare what the API shows of the node (the node
        lifecycle controller may have marked it Unknown) with what it is, and report when
        they differ or when the report period has passed (upstream's tryUpdateNodeStatus)."""
        last_report = time.monotonic()
        while True:
            await asyncio.sleep(self.config.status_update_period)
            try:
                current = await self.client.get(NODES, self.config.node_name)
            except ClientError as err:
                log.warning("node status not read: %s", err)
                continue
            old = current.get("status") or {}
            status = self._node_status(old)
            changed = [(c["type"], c["status"]) for c in status["conditions"]] != \
                [(c.get("type"), c.get("status")) for c in old.get("conditions") or ()]
            if not changed and time.monotonic() - last_report < \
                    self.config.status_report_period:
                continue
            try:
                self.node = await self.client.patch(NODES, self.config.node_name,
                                                    {"status": status}, subresource="status")
                last_report = time.monotonic()
            except ClientError as err:
                log.warning("node status not reported: %s", err)

    # -- PLEG -----------------------------------------------------------------------------

    async def _relist(self) -> None:
        while True:
            await asyncio.sleep(self.config.relist_period)
            started = time.monotonic()
            try:
                listed = await self.manager.relist()
                self.metrics.relisted(time.monotonic() - started)
            except Exception:
                log.exception("relisting containers failed")
                continue
            seen: dict[str, ContainerState] = {}
            self._container_images = {c.id: c.image for c in listed}
            for container in listed:
                seen[container.id] = container.state
                if self._container_states.get(container.id) != container.state:
                    uid = container.labels.get(LABEL_POD_UID)
                    if uid:
                        self.workers.wake(uid)
            self._container_states = seen

    async def _adopt_orphans(self) -> None:
        """Pods the runtime holds whose API objects are gone get cleaned up."""
        orphans = await self.manager.orphaned_pod_uids(lambda uid: self._pod(uid) is not None)
        for uid in orphans:
            self._gone.setdefault(uid, {"metadata": {"uid": uid, "name": "", "namespace": ""},
                                        "spec": {}})
            self.workers.wake(uid)
        for pod in self.pods.store.list():
            self._changed(pod)

    # -- sync ---------------------------------------------------------------------------

    async def sync_pod(self, uid: str) -> SyncOutcome:
        pod = self._pod(uid)
        if pod is None:
            gone = self._gone.pop(uid, None) or {"metadata": {"uid": uid, "name": "",
                                                              "namespace": ""}, "spec": {}}
            await self.manager.remove_pod(gone)
            self.probes.forget_pod(uid)
            self.status.forget(uid)
            self.metrics.forget(uid)
            return DONE
        self._gone.pop(uid, None)
        meta = pod["metadata"]
        if meta.get("deletionTimestamp"):
            return await self._terminate(pod)
        written = self.status.last(uid) or {}
        phase = written.get("phase") or (pod.get("status") or {}).get("phase")
        if phase in TERMINAL_PHASES:
            await self.manager.kill_pod(pod, grace_period(pod))
            self.probes.forget_pod(uid)
            return None
        state = await self.manager.pod_state(uid)
        self._condemn(pod, state)
        result = await self.manager.sync_pod(pod, state)
        state = await self.manager.pod_state(uid)
        status = self.pod_status(pod, state, result)
        self.metrics.pod_synced(uid, phase, status["phase"])
        if status["phase"] in TERMINAL_PHASES:
            await self.manager.kill_pod(pod, grace_period(pod))
            self.probes.forget_pod(uid)
        else:
            self._ensure_probes(pod, state, result)
        await self.status.set(pod, status)
        if status["phase"] in TERMINAL_PHASES:
            return None
        if result.errors or not result.sandbox_ready:
            # As upstream's pod workers after an error (backOffPeriod): the waiting reason
            # (ErrImagePull, RunContainerError, ...) stays visible until then.
            return self.config.backoff_period
        # Upstream's resyncInterval with workerResyncIntervalJitterFactor 0.5: a pod's own
        # changes (its object, its containers' states, its probes) wake it at once, so this
        # only refreshes its volumes and catches what nothing announced; jittered, so that
        # pods started together do not sync together for ever.
        return self.config.resync_period * (1 + RESYNC_JITTER * random.random())

    async def _terminate(self, pod: Obj) -> SyncOutcome:
        uid = str(pod["metadata"]["uid"])
        await self.manager.kill_pod(pod, grace_period(pod))
        self.probes.forget_pod(uid)
        state = await self.manager.pod_state(uid)
        status = self.pod_status(pod, state, SyncResult(pod_ips=self.manager.pod_ips(uid)),
                                 terminal=True)
        with contextlib.suppress(ClientError):
            await self.status.set(pod, status)
        # Upstream's PodCouldBeDeleted: nothing runs and the volumes are released; the
        # stopped containers and sandboxes are removed after the object (its container GC).
        await self.manager.release_volumes(pod)
        with contextlib.suppress(NotFoundError):
            await self.client.delete(PODS, pod["metadata"]["name"],
                                     pod["metadata"]["namespace"], grace_period_seconds=0,
                                     preconditions=Preconditions(uid=uid))
        await self.manager.remove_pod(pod)
        self.status.forget(uid)
        return DONE

    def _condemn(self, pod: Obj, state: PodRuntimeState) -> None:
        uid = str(pod["metadata"]["uid"])
        spec = pod.get("spec") or {}
        by_name = {c["name"]: c for c in all_containers(spec)}
        for running in state.running():
            container = by_name.get(running.name)
            if container is not None and self.probes.failed(uid, container, running.id):
                self.manager.condemned.setdefault(uid, set()).add(running.name)

    def _ensure_probes(self, pod: Obj, state: PodRuntimeState, result: SyncResult) -> None:
        uid = str(pod["metadata"]["uid"])
        spec = pod.get("spec") or {}
        pod_ip = result.pod_ips[0] if result.pod_ips else self.config.node_ip
        for container in all_containers(spec):
            name = container["name"]

            async def target(name: str = name) -> ProbeTarget | None:
                latest = await self.manager.newest_instance(uid, name)
                if latest is None or latest.state is not ContainerState.CONTAINER_RUNNING:
                    return None
                return ProbeTarget(latest.id, latest.started_at / 1e9, pod_ip)

            if state.instances(name):
                self.probes.ensure(pod, container, target)

    def pod_status(self, pod: Obj, state: PodRuntimeState, result: SyncResult, *,
                   terminal: bool = False) -> Obj:
        spec = pod.get("spec") or {}
        uid = str(pod["metadata"]["uid"])
        # What was last written, else what the API shows (upstream's generateAPIPodStatus
        # over statusManager.GetPodStatus): the watch may not have brought the write back
        # yet, and a status computed over an older one would differ from it (start time,
        # transition times) and be written again. Conditions the kubelet does not own
        # come from the API (upstream's mergePodStatus): others set them.
        shown = pod.get("status") or {}
        old = self.status.last(uid) or shown
        old_conditions = [
            *(c for c in shown.get("conditions") or () if c.get("type") not in
              KUBELET_CONDITIONS),
            *(c for c in old.get("conditions") or () if c.get("type") in KUBELET_CONDITIONS)]
        records = self._records(pod, state)
        latest: dict[str, ContainerStatus] = {}
        for instance in state.containers:
            if instance.name not in latest or instance.attempt > latest[instance.name].attempt:
                latest[instance.name] = instance

        def probe_state(container: Obj) -> ProbeState:
            found = latest.get(container["name"])
            if found is None:
                return ProbeState()
            return ProbeState(ready=self.probes.ready(uid, container, found.id),
                              started=self.probes.started(uid, container, found.id))

        init_statuses = [container_status(c, records, error=result.errors.get(c["name"]),
                                          probe=probe_state(c), initializing=False)
                         for c in spec.get("initContainers") or ()]
        initializing = any(
            "terminated" not in s["state"] or s["state"]["terminated"].get("exitCode") != 0
            for s, c in zip(init_statuses, spec.get("initContainers") or (), strict=True)
            if c.get("restartPolicy") != "Always")
        statuses = [container_status(c, records, error=result.errors.get(c["name"]),
                                     probe=probe_state(c), initializing=initializing)
                    for c in spec.get("containers") or ()]
        phase = pod_phase(spec, init_statuses, statuses, terminal=terminal)
        if old.get("phase") in TERMINAL_PHASES:
            phase = old["phase"]
        now = timeutil.now_rfc3339()
        status: Obj = {
            "phase": phase,
            "conditions": pod_conditions(spec, old_conditions, init_statuses,
                                         statuses, phase=phase,
                                         sandbox_ready=result.sandbox_ready and not terminal,
                                         now=now),
            "hostIP": self.config.node_ip, "hostIPs": [{"ip": self.config.node_ip}],
            "startTime": old.get("startTime") or now,
            "containerStatuses": statuses,
        }
        ips = [self.config.node_ip] if spec.get("hostNetwork") else result.pod_ips
        if ips:
            status["podIP"] = ips[0]
            status["podIPs"] = [{"ip": ip} for ip in ips]
        if init_statuses:
            status["initContainerStatuses"] = init_statuses
        if spec.get("ephemeralContainers"):
            # Reported as other containers (never probed, no part of the phase).
            status["ephemeralContainerStatuses"] = [
                container_status(c, records, error=result.errors.get(c["name"]), probe=None,
                                 initializing=False) for c in spec["ephemeralContainers"]]
        if old.get("qosClass"):
            status["qosClass"] = old["qosClass"]
        return status

    def _records(self, pod: Obj, state: PodRuntimeState) -> list[ContainerRecord]:
        spec = pod.get("spec") or {}
        by_name = {c["name"]: c for c in all_containers(spec)}
        records = []
        for record, raw in zip(self.manager.records(state), state.containers, strict=True):
            if record.state == "exited" and raw.name in by_name:
                message = self.manager.termination_message(pod, by_name[raw.name], raw)
                if message:
                    record = ContainerRecord(**{**record.__dict__, "message": message})
            records.append(record)
        return records
