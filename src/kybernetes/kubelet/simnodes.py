"""`SimulatedNodes`: one process holding many simulated nodes (`kyb sim nodes`), like kwok.

It does what N kubelets would do for the control plane to see, and nothing else:

- **Register** each Node (created with its status, or adopted if it exists), with a /24 pod
  CIDR not used by any other node.
- **Heartbeat**: renew each node's Lease in `kube-node-lease` every `renew_interval`
  (10 s, upstream's kubelet default with a 40 s lease). Renewals are spread evenly over the
  interval (node i at offset i/N), so 5000 nodes cost a steady 500 small requests per second
  rather than bursts, at most `concurrency` in flight. A renewal is a merge patch of
  `renewTime` (measured 30% cheaper for the API server than a PUT of the Lease). Node
  status (condition heartbeats) is refreshed every `status_interval` (5 minutes, upstream's
  nodeStatusReportFrequency), spread the same way.
- **Pods** (unless `run_pods` is off: then pods bound to the nodes stay as bound, as in
  upstream's scheduler_perf, which runs no kubelets): one informer on pods with
  `spec.nodeName!=` (all bound pods), filtered to our nodes; keys go through a work queue
  whose workers, controller-style, read the pod from the informer's store: a pod not yet
  reported Running gets its running status (from the simulated runtime) through
  `pods/status`; a pod with `deletionTimestamp` (its "containers" stop at once) is deleted
  with `gracePeriodSeconds=0` and a uid precondition. A running pod controlled by a Job
  then completes, as kwok's default `pod-complete` stage does: phase Succeeded, containers
  terminated with reason Completed and exit code 0. Tests steer it with two pod annotations
  (set on the Job's pod template): `sim.kybernetes.io/run-seconds` keeps the pod running
  that long first, and `sim.kybernetes.io/exit-code` (non-zero) makes it fail instead
  (phase Failed, reason Error, that exit code).
- **Resource usage**: none is measured; pods declare the usage their containers report
  (`sim.kybernetes.io/usage-cpu`, `sim.kybernetes.io/usage-memory`, as kwok's
  ResourceUsage), which the metrics server reads for these nodes (kubelet/stats_sim.py),
  so scale tests can drive autoscalers. No node serves a kubelet API.

Everything shares one `ApiClient` (one connection pool) and one event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kybernetes.api import timeutil
from kybernetes.client import (
    AlreadyExistsError,
    ApiClient,
    ClientError,
    ConflictError,
    Informer,
    NotFoundError,
    Preconditions,
    RateLimitingQueue,
    ShutDown,
    field_index,
    resource,
)
from kybernetes.kubelet.runtime import NodeContext
from kybernetes.kubelet.runtime.simulated import (
    DEFAULT_POD_CIDR,
    CidrAllocator,
    SimNodeSpec,
    SimulatedRuntime,
    lease_object,
    micro_time,
    node_conditions,
    node_ip,
    node_object,
)

log = logging.getLogger(__name__)

Obj = dict[str, Any]

NODES = resource("", "v1", "nodes")
PODS = resource("", "v1", "pods")
LEASES = resource("coordination.k8s.io", "v1", "leases")

LEASE_DURATION = 40
RENEW_INTERVAL = 10.0
STATUS_INTERVAL = 300.0
_TICK = 0.25
_NODE_INDEX = "nodeName"
RUN_SECONDS_ANNOTATION = "sim.kybernetes.io/run-seconds"
EXIT_CODE_ANNOTATION = "sim.kybernetes.io/exit-code"


@dataclass
class _SimNode:
    spec: SimNodeSpec
    context: NodeContext
    uid: str = ""
    lease: Obj | None = None
    next_renew: float = 0.0
    next_status: float = 0.0


@dataclass
class SimStats:
    registered: int = 0
    lease_renewals: int = 0
    lease_failures: int = 0
    pods_started: int = 0
    pods_deleted: int = 0
    errors: list[str] = field(default_factory=list)


class SimulatedNodes:
    def __init__(self, client: ApiClient, specs: Sequence[SimNodeSpec], *,
                 lease_duration: int = LEASE_DURATION, renew_interval: float = RENEW_INTERVAL,
                 status_interval: float = STATUS_INTERVAL, concurrency: int = 64,
                 workers: int = 16, pod_cidr: str = DEFAULT_POD_CIDR,
                 run_pods: bool = True) -> None:
        self.client = client
        self.specs = list(specs)
        self.lease_duration = lease_duration
        self.renew_interval = renew_interval
        self.status_interval = status_interval
        self.concurrency = concurrency
        self.workers = workers
        self.pod_cidr = pod_cidr
        self.run_pods = run_pods
        self.runtime = SimulatedRuntime()
        self.nodes: dict[str, _SimNode] = {}
        self.stats = SimStats()
        self.ready = asyncio.Event()
        self._slots = asyncio.Semaphore(concurrency)
        self._queue: RateLimitingQueue[str] = RateLimitingQueue()
        self._reported: dict[str, str] = {}  # pod key -> uid reported Running
        self.pods = Informer(client, PODS, field_selector="spec.nodeName!=",
                             indexers={_NODE_INDEX: field_index("spec.nodeName")})
        self.pods.add_event_handler(self._enqueue, lambda _old, new: self._enqueue(new),
                                    self._on_delete)

    # -- registration --------------------------------------------------------------------

    async def register(self) -> None:
        """Create (or adopt) every node, concurrently."""
        existing = await self.client.list(NODES)
        by_name = {(n.get("metadata") or {}).get("name"): n for n in existing}
        allocator = CidrAllocator(
            (c for n in existing for c in (n.get("spec") or {}).get("podCIDRs") or ()
             if (n.get("metadata") or {}).get("name") not in {s.name for s in self.specs}),
            self.pod_cidr)
        for spec in self.specs:
            found = by_name.get(spec.name)
            cidr = ((found or {}).get("spec") or {}).get("podCIDR") or ""
            cidr, slot = allocator.allocate() if not cidr else (cidr, -1)
            if slot < 0:
                slot = _slot_of(cidr)
            self.nodes[spec.name] = _SimNode(spec, NodeContext(spec.name, node_ip(slot), cidr,
                                                               dict(spec.labels)))

        async def one(node: _SimNode) -> None:
            async with self._slots:
                await self._register(node, by_name.get(node.spec.name))

        await asyncio.gather(*(one(n) for n in self.nodes.values()))
        count = len(self.nodes)
        start = time.monotonic()
        for i, node in enumerate(self.nodes.values()):
            node.next_renew = start + self.renew_interval * i / max(count, 1)
            node.next_status = start + self.status_interval * (i + 1) / max(count, 1)

    async def _register(self, node: _SimNode, existing: Obj | None) -> None:
        obj = node_object(node.spec, node.context.pod_cidr, node.context.host_ip)
        registered: Obj | None = None
        if existing is None:
            try:
                registered = await self.client.create(NODES, obj)
            except AlreadyExistsError:
                existing = await self.client.get(NODES, node.spec.name)
        if registered is None:
            assert existing is not None
            existing["status"] = obj["status"]
            registered = await self.client.update_status(NODES, existing)
        node.uid = (registered.get("metadata") or {}).get("uid") or ""
        self.stats.registered += 1

    # -- heartbeats ----------------------------------------------------------------------

    async def _renew_lease(self, node: _SimNode) -> None:
        """Create the Lease once, then renew it with a merge patch of `renewTime`: cheaper
        for the API server than a PUT of the whole Lease (no read-back, no conflicts)."""
        async with self._slots:
            name = node.spec.name
            try:
                if node.lease is None:
                    try:
                        node.lease = await self.client.create(
                            LEASES, lease_object(name, node.uid, self.lease_duration),
                            "kube-node-lease")
                    except AlreadyExistsError:
                        node.lease = {"metadata": {"name": name}}
                    self.stats.lease_renewals += 1
                    return
                await self.client.patch(LEASES, name, {"spec": {
                    "holderIdentity": name, "leaseDurationSeconds": self.lease_duration,
                    "renewTime": micro_time()}}, "kube-node-lease", patch_type="merge")
                self.stats.lease_renewals += 1
            except NotFoundError:
                node.lease = None
                self.stats.lease_failures += 1
            except ClientError as err:
                self.stats.lease_failures += 1
                log.info("renewing the lease of %s failed: %s", name, err)

    async def _refresh_status(self, node: _SimNode) -> None:
        async with self._slots:
            now = timeutil.now_rfc3339()
            try:
                current = await self.client.get(NODES, node.spec.name)
                old = {c.get("type"): c for c in (current.get("status") or {}).get(
                    "conditions") or ()}
                conditions = node_conditions(now, now)
                for c in conditions:
                    before = old.get(c["type"])
                    if before is not None and before.get("status") == c["status"]:
                        c["lastTransitionTime"] = before.get("lastTransitionTime") or now
                await self.client.patch(NODES, node.spec.name,
                                        {"status": {"conditions": conditions}},
                                        patch_type="strategic", subresource="status")
            except NotFoundError:
                await self._register(node, None)
            except ClientError as err:
                log.info("refreshing the status of %s failed: %s", node.spec.name, err)

    async def _heartbeats(self) -> None:
        tasks: set[asyncio.Task[None]] = set()
        while True:
            now = time.monotonic()
            for node in self.nodes.values():
                if node.next_renew <= now:
                    node.next_renew += self.renew_interval
                    if node.next_renew <= now:  # we fell behind: do not burst to catch up
                        node.next_renew = now + self.renew_interval
                    task = asyncio.create_task(self._renew_lease(node))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                if node.next_status <= now:
                    node.next_status = now + self.status_interval
                    task = asyncio.create_task(self._refresh_status(node))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
            await asyncio.sleep(_TICK)

    # -- pods ----------------------------------------------------------------------------

    def _enqueue(self, pod: Obj) -> None:
        if (pod.get("spec") or {}).get("nodeName") in self.nodes:
            meta = pod.get("metadata") or {}
            self._queue.add(f"{meta.get('namespace')}/{meta.get('name')}")

    def _on_delete(self, pod: Obj) -> None:
        node = (pod.get("spec") or {}).get("nodeName")
        if node in self.nodes:
            self.runtime.release_ip(pod, node)
            meta = pod.get("metadata") or {}
            self._reported.pop(f"{meta.get('namespace')}/{meta.get('name')}", None)

    async def sync(self, key: str) -> None:
        """Bring one pod to where a kubelet would have it (idempotent)."""
        pod = self.pods.store.get(key)
        if pod is None:
            return
        meta = pod.get("metadata") or {}
        node = self.nodes.get((pod.get("spec") or {}).get("nodeName") or "")
        if node is None:
            return
        namespace, name = meta.get("namespace"), meta.get("name") or ""
        if meta.get("deletionTimestamp"):
            await self.runtime.stop_pod(pod, node.context)
            try:
                await self.client.delete(PODS, name, namespace, grace_period_seconds=0,
                                         preconditions=Preconditions(uid=meta.get("uid")))
                self.stats.pods_deleted += 1
            except (NotFoundError, ConflictError):
                pass
            self._reported.pop(key, None)
            return
        status = pod.get("status") or {}
        if status.get("phase") in ("Succeeded", "Failed"):
            return
        if self._reported.get(key) == meta.get("uid") and status.get("phase") == "Running" \
                and status.get("podIP"):
            await self._complete_job_pod(pod, key)
            return
        running = await self.runtime.start_pod(pod, node.context)
        try:
            await self.client.patch(PODS, name, {"status": running}, namespace,
                                    patch_type="merge", subresource="status")
        except NotFoundError:
            return
        self._reported[key] = meta.get("uid") or ""
        self.stats.pods_started += 1

    async def _complete_job_pod(self, pod: Obj, key: str) -> None:
        """kwok's `pod-complete` stage: a Job's running pod terminates (after its
        run-seconds annotation, with its exit-code annotation)."""
        meta = pod.get("metadata") or {}
        if not any(ref.get("kind") == "Job" and ref.get("controller")
                   for ref in meta.get("ownerReferences") or ()):
            return
        annotations = meta.get("annotations") or {}
        try:
            run_for = float(annotations.get(RUN_SECONDS_ANNOTATION) or 0)
            exit_code = int(annotations.get(EXIT_CODE_ANNOTATION) or 0)
        except ValueError:
            log.warning("pod %s: malformed sim.kybernetes.io annotations; completing it", key)
            run_for, exit_code = 0.0, 0
        started = (pod.get("status") or {}).get("startTime")
        begun = timeutil.parse_time(started)
        if run_for > 0 and begun is not None:
            remaining = begun.timestamp() + run_for - time.time()
            if remaining > 0:
                self._queue.add_after(key, remaining)
                return
        try:
            await self.client.patch(PODS, meta.get("name") or "",
                                    {"status": terminated_status(pod, exit_code)},
                                    meta.get("namespace"), patch_type="merge",
                                    subresource="status")
        except NotFoundError:
            return

    async def _worker(self) -> None:
        while True:
            try:
                key = await self._queue.get()
            except ShutDown:
                return
            try:
                await self.sync(key)
                self._queue.forget(key)
            except asyncio.CancelledError:
                raise
            except ClientError as err:
                log.info("syncing pod %s failed: %s; retrying", key, err)
                self._queue.add_rate_limited(key)
            except Exception:
                log.exception("syncing pod %s failed", key)
                self._queue.add_rate_limited(key)
            finally:
                self._queue.done(key)

    # -- running -------------------------------------------------------------------------

    async def run(self) -> None:
        """Register the nodes, then keep them alive and run their pods until cancelled."""
        await self.register()
        log.info("registered %d simulated nodes", len(self.nodes))
        tasks = [asyncio.create_task(self._heartbeats(), name="sim-heartbeats")]
        if self.run_pods:
            self.pods.start()
            tasks += [asyncio.create_task(self._worker(), name=f"sim-pods-{i}")
                      for i in range(self.workers)]
            await self.pods.wait_for_sync()
        self.ready.set()
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self._queue.shutdown()
            await self.pods.stop()


def terminated_status(pod: Obj, exit_code: int) -> Obj:
    """The status of a pod whose containers all exited with `exit_code`."""
    now = timeutil.now_rfc3339()
    old = pod.get("status") or {}
    reason = "Completed" if exit_code == 0 else "Error"
    containers = []
    for cs in old.get("containerStatuses") or ():
        started = ((cs.get("state") or {}).get("running") or {}).get("startedAt") or now
        containers.append({**cs, "ready": False, "started": False, "state": {"terminated": {
            "exitCode": exit_code, "reason": reason, "startedAt": started, "finishedAt": now,
            "containerID": cs.get("containerID")}}})
    conditions = []
    for cond in old.get("conditions") or ():
        if cond.get("type") in ("Ready", "ContainersReady"):
            cond = {**cond, "status": "False", "lastTransitionTime": now,
                    "reason": "PodCompleted" if exit_code == 0 else "PodFailed"}
        conditions.append(cond)
    return {"phase": "Succeeded" if exit_code == 0 else "Failed",
            "conditions": conditions, "containerStatuses": containers}


def _slot_of(cidr: str) -> int:
    """A stable node-IP slot for an adopted node's existing CIDR."""
    network = ipaddress.ip_network(cidr, strict=False)
    return (int(network.network_address) >> 8) & 0xFFFFF


def specs_from_args(count: int, prefix: str, *, start: int = 0, cpu: str = "4",
                    memory: str = "32Gi", pods: int = 110, ephemeral_storage: str = "100Gi",
                    labels: dict[str, str] | None = None, taints: list[Obj] | None = None,
                    zones: Sequence[str] = (), extended: dict[str, str] | None = None
                    ) -> list[SimNodeSpec]:
    out = []
    for i in range(start, start + count):
        node_labels = dict(labels or {})
        if zones:
            node_labels["topology.kubernetes.io/zone"] = zones[i % len(zones)]
        out.append(SimNodeSpec(f"{prefix}{i}", cpu, memory, pods, ephemeral_storage,
                               node_labels, list(taints or []), dict(extended or {})))
    return out
