"""`ControllerManager`: the enabled controllers, under leader election, in one process.

Upstream's kube-controller-manager, reduced to what kybernetes has:

- **Which controllers** (`--controllers`): a list of names, `*` for every controller
  enabled by default, `name` to enable one, `-name` to disable one; the first entry that
  names a controller decides, as upstream's `IsControllerEnabled`. Upstream's names are
  accepted, and their old aliases (`garbagecollector`, `namespace`, `serviceaccount`).
  Controllers are registered in a plain name -> `ControllerSpec` map (`CONTROLLERS`).
- **Leader election** on the Lease `kube-system/kube-controller-manager` with upstream's
  timings (15 s lease, 10 s renew deadline, 2 s retry) and identity (`<hostname>_<uuid>`),
  so several managers can run and exactly one works. Each leadership term builds everything
  afresh: one `SharedInformerFactory` shared by all controllers, one `Discovery`, the
  controllers; when the term ends (leadership lost, or the manager is cancelled) they are
  all stopped, and a lost lease sends the manager back to stand for election instead of
  exiting the process as upstream does (so `kyb server` survives a stolen lease). Cancelling
  `run` releases the lease, so a standby takes over at once.
- **Supervision**: a controller whose `run` fails unexpectedly is logged with its
  traceback, its handlers leave the shared informers (`Controller.release`), and after a
  backoff a new instance is built from its factory: a fresh work queue, filled again with
  the informers' whole current contents, as a restarted upstream process would be. The
  others carry on. A controller whose `run` returns has nothing to do (the CSR signer
  without a CA) and is not restarted.

The manager is an API client like any other: it is given an `ApiClient` and never touches
the API server's internals, whether it runs as `kyb controller-manager` or inside
`kyb server`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import socket
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from kybernetes.client import (
    ApiClient,
    Backoff,
    LeaderElectionConfig,
    LeaderElector,
    SharedInformerFactory,
)
from kybernetes.controllers import (
    clusterroleaggregation,
    cronjob,
    daemonset,
    deployment,
    disruption,
    endpoints,
    endpointslicemirroring,
    garbagecollector,
    job,
    namespace,
    nodeipam,
    nodelifecycle,
    nodezones,
    podgc,
    replicaset,
    replication,
    resourcequota,
    rootcacertpublisher,
    serviceaccount,
    servicelb,
    statefulset,
    tainteviction,
    ttlafterfinished,
)
from kybernetes.controllers.base import Controller, ControllerContext
from kybernetes.controllers.certificates import approver as csr_approver
from kybernetes.controllers.certificates import signer as csr_signer
from kybernetes.controllers.clientbuilder import ServiceAccountClients
from kybernetes.controllers.discovery import Discovery
from kybernetes.controllers.endpointslice import controller as endpointslice
from kybernetes.controllers.endpointslice import reconciler as endpointslice_reconciler
from kybernetes.controllers.localpath import DEFAULT_PATH as LOCAL_PATH_DIR
from kybernetes.controllers.localpath import LocalPathProvisioner
from kybernetes.controllers.podautoscaler import behavior as hpa_behavior
from kybernetes.controllers.podautoscaler import controller as hpa_controller
from kybernetes.controllers.podautoscaler import replicas as hpa_replicas
from kybernetes.controllers.volume import binder as pv_binder
from kybernetes.controllers.volume import ephemeral, expand, pvcprotection, pvprotection

log = logging.getLogger(__name__)

LEASE_NAME = "kube-controller-manager"
LEASE_NAMESPACE = "kube-system"


@dataclass(frozen=True, kw_only=True)
class ControllerManagerOptions:
    """The manager's settings; defaults are upstream's (flag names in comments)."""

    controllers: tuple[str, ...] = ("*",)  # --controllers
    leader_elect: bool = True  # --leader-elect
    lease_name: str = LEASE_NAME  # --leader-elect-resource-name
    lease_namespace: str = LEASE_NAMESPACE  # --leader-elect-resource-namespace
    lease_duration: float = 15.0  # --leader-elect-lease-duration
    renew_deadline: float = 10.0  # --leader-elect-renew-deadline
    retry_period: float = 2.0  # --leader-elect-retry-period
    identity: str = field(default_factory=lambda: f"{socket.gethostname()}_{uuid.uuid4()}")
    # --kube-api-qps, --kube-api-burst: the client's rate limit, shared by all controllers
    # (upstream's defaults are 20 and 30; kybernetes' clients default to 50 and 100).
    kube_api_qps: float = 50.0
    kube_api_burst: int = 100
    concurrent_gc_syncs: int = garbagecollector.DEFAULT_WORKERS  # --concurrent-gc-syncs
    # --concurrent-namespace-syncs, --namespace-sync-period
    concurrent_namespace_syncs: int = namespace.DEFAULT_WORKERS
    namespace_sync_period: float = namespace.DEFAULT_RESYNC_PERIOD
    namespace_deletion_grace_period: float = namespace.DELETION_GRACE_PERIOD
    # --concurrent-serviceaccount-token-syncs is for tokens; upstream runs one SA worker.
    concurrent_serviceaccount_syncs: int = serviceaccount.DEFAULT_WORKERS
    concurrent_deployment_syncs: int = deployment.DEFAULT_WORKERS  # --concurrent-deployment-syncs
    concurrent_replicaset_syncs: int = replicaset.DEFAULT_WORKERS  # --concurrent-replicaset-syncs
    concurrent_rc_syncs: int = replication.DEFAULT_WORKERS  # --concurrent-rc-syncs
    # --concurrent-daemonset-syncs
    concurrent_daemonset_syncs: int = daemonset.controller.DEFAULT_WORKERS
    concurrent_cron_job_syncs: int = cronjob.DEFAULT_WORKERS  # --concurrent-cron-job-syncs
    concurrent_endpoint_syncs: int = endpoints.DEFAULT_WORKERS  # --concurrent-endpoint-syncs
    # --concurrent-service-endpoint-syncs, --max-endpoints-per-slice
    concurrent_service_endpoint_syncs: int = endpointslice.DEFAULT_WORKERS
    max_endpoints_per_slice: int = endpointslice_reconciler.MAX_ENDPOINTS_PER_SLICE
    # --mirroring-concurrent-service-endpoint-syncs, --mirroring-max-endpoints-per-subset
    mirroring_concurrent_service_endpoint_syncs: int = endpointslicemirroring.DEFAULT_WORKERS
    mirroring_max_endpoints_per_subset: int = endpointslicemirroring.MAX_ENDPOINTS_PER_SUBSET
    # --concurrent-statefulset-syncs
    concurrent_statefulset_syncs: int = statefulset.DEFAULT_WORKERS
    concurrent_job_syncs: int = job.DEFAULT_WORKERS  # --concurrent-job-syncs
    # --concurrent-ttl-after-finished-syncs
    concurrent_ttl_after_finished_syncs: int = ttlafterfinished.DEFAULT_WORKERS
    # --terminated-pod-gc-threshold (0: terminated pods are not collected)
    terminated_pod_gc_threshold: int = podgc.DEFAULT_TERMINATED_POD_THRESHOLD
    # --node-monitor-period, --node-monitor-grace-period, --node-startup-grace-period
    node_monitor_period: float = nodelifecycle.NODE_MONITOR_PERIOD
    node_monitor_grace_period: float = nodelifecycle.NODE_MONITOR_GRACE_PERIOD
    node_startup_grace_period: float = nodelifecycle.NODE_STARTUP_GRACE_PERIOD
    # --node-eviction-rate, --secondary-node-eviction-rate, --large-cluster-size-threshold,
    # --unhealthy-zone-threshold
    node_eviction_rate: float = nodezones.NODE_EVICTION_RATE
    secondary_node_eviction_rate: float = nodezones.SECONDARY_NODE_EVICTION_RATE
    large_cluster_size_threshold: int = nodezones.LARGE_CLUSTER_SIZE_THRESHOLD
    unhealthy_zone_threshold: float = nodezones.UNHEALTHY_ZONE_THRESHOLD
    # --use-service-account-credentials: each controller acts as its own service account
    # kube-system/<ControllerSpec.service_account> (upstream's and k3s' choice in a cluster).
    use_service_account_credentials: bool = False
    # --cluster-cidr, --node-cidr-mask-size: the pod network node IPAM hands out.
    cluster_cidr: str = nodeipam.DEFAULT_CLUSTER_CIDR
    node_cidr_mask_size: int = nodeipam.DEFAULT_NODE_MASK_SIZE
    # --cluster-signing-cert-file, --cluster-signing-key-file: the CA the CSR signer signs
    # with (kyb server: its own); --cluster-signing-duration (seconds): the longest
    # certificate it issues.
    cluster_signing_cert_file: Path | None = None
    cluster_signing_key_file: Path | None = None
    cluster_signing_duration: float = csr_signer.DEFAULT_DURATION.total_seconds()
    # --local-path-dir: where local-path volumes live on the nodes (kyb server:
    # <data-dir>/storage).
    local_path_dir: PurePosixPath = LOCAL_PATH_DIR
    # --concurrent-horizontal-pod-autoscaler-syncs, --horizontal-pod-autoscaler-sync-period,
    # --horizontal-pod-autoscaler-tolerance,
    # --horizontal-pod-autoscaler-downscale-stabilization,
    # --horizontal-pod-autoscaler-cpu-initialization-period,
    # --horizontal-pod-autoscaler-initial-readiness-delay (durations in seconds)
    concurrent_hpa_syncs: int = hpa_controller.DEFAULT_WORKERS
    hpa_sync_period: float = hpa_controller.DEFAULT_SYNC_PERIOD
    hpa_tolerance: float = hpa_replicas.DEFAULT_TOLERANCE
    hpa_downscale_stabilization: float = \
        hpa_behavior.DEFAULT_DOWNSCALE_STABILIZATION.total_seconds()
    hpa_cpu_initialization_period: float = \
        hpa_replicas.DEFAULT_CPU_INITIALIZATION_PERIOD.total_seconds()
    hpa_initial_readiness_delay: float = \
        hpa_replicas.DEFAULT_INITIAL_READINESS_DELAY.total_seconds()


ControllerFactory = Callable[[ControllerContext, ControllerManagerOptions], Controller]


@dataclass(frozen=True)
class ControllerSpec:
    name: str
    factory: ControllerFactory
    aliases: tuple[str, ...] = ()
    enabled_by_default: bool = True
    # The service account it acts as under --use-service-account-credentials (upstream's
    # names, bound to system:controller:<name> by the bootstrap policy).
    service_account: str = ""


def _garbage_collector(ctx: ControllerContext, opts: ControllerManagerOptions
                       ) -> Controller:
    return garbagecollector.GarbageCollector(ctx, workers=opts.concurrent_gc_syncs)


def _namespace(ctx: ControllerContext, opts: ControllerManagerOptions) -> Controller:
    return namespace.NamespaceController(
        ctx, workers=opts.concurrent_namespace_syncs,
        resync_period=opts.namespace_sync_period,
        deletion_grace_period=opts.namespace_deletion_grace_period)


def _service_account(ctx: ControllerContext, opts: ControllerManagerOptions) -> Controller:
    return serviceaccount.ServiceAccountsController(
        ctx, workers=opts.concurrent_serviceaccount_syncs)


def _deployment(ctx: ControllerContext, opts: ControllerManagerOptions) -> Controller:
    return deployment.DeploymentController(ctx, workers=opts.concurrent_deployment_syncs)


def _replica_set(ctx: ControllerContext, opts: ControllerManagerOptions) -> Controller:
    return replicaset.ReplicaSetController(ctx, workers=opts.concurrent_replicaset_syncs)


def _replication(ctx: ControllerContext, opts: ControllerManagerOptions) -> Controller:
    return replication.ReplicationManager(ctx, workers=opts.concurrent_rc_syncs)


def _daemon_set(ctx: ControllerContext, opts: ControllerManagerOptions) -> Controller:
    return daemonset.DaemonSetController(ctx, workers=opts.concurrent_daemonset_syncs)


def _stateful_set(ctx: ControllerContext, opts: ControllerManagerOptions) -> Controller:
    return statefulset.StatefulSetController(ctx, workers=opts.concurrent_statefulset_syncs)


def _job(ctx: ControllerContext, opts: ControllerManagerOptions) -> Controller:
    return job.JobController(ctx, workers=opts.concurrent_job_syncs)


def _ttl_after_finished(ctx: ControllerContext, opts: ControllerManagerOptions
                        ) -> Controller:
    return ttlafterfinished.TTLAfterFinishedController(
        ctx, workers=opts.concurrent_ttl_after_finished_syncs)


def _pod_gc(ctx: ControllerContext, opts: ControllerManagerOptions) -> Controller:
    return podgc.PodGCController(ctx, terminated_pod_threshold=opts.terminated_pod_gc_threshold)


def _endpoints(ctx: ControllerContext, opts: ControllerManagerOptions) -> Controller:
    return endpoints.EndpointsController(ctx, workers=opts.concurrent_endpoint_syncs)


def _endpointslice(ctx: ControllerContext, opts: ControllerManagerOptions) -> Controller:
    return endpointslice.EndpointSliceController(
        ctx, workers=opts.concurrent_service_endpoint_syncs,
        max_endpoints_per_slice=opts.max_endpoints_per_slice)


def _endpointslice_mirroring(ctx: ControllerContext, opts: ControllerManagerOptions
                             ) -> Controller:
    return endpointslicemirroring.EndpointSliceMirroringController(
        ctx, workers=opts.mirroring_concurrent_service_endpoint_syncs,
        max_endpoints_per_subset=opts.mirroring_max_endpoints_per_subset)


def _service_lb(ctx: ControllerContext, opts: ControllerManagerOptions) -> Controller:
    return servicelb.ServiceLBController(ctx)


def _cron_job(ctx: ControllerContext, opts: ControllerManagerOptions) -> Controller:
    return cronjob.CronJobController(ctx, workers=opts.concurrent_cron_job_syncs)


def _pv_binder(ctx: ControllerContext, opts: ControllerManagerOptions) -> Controller:
    return pv_binder.PersistentVolumeBinder(ctx)


def _pvc_protection(ctx: ControllerContext, opts: ControllerManagerOptions) -> Controller:
    return pvcprotection.PvcProtectionController(ctx)


def _pv_protection(ctx: ControllerContext, opts: ControllerManagerOptions) -> Controller:
    return pvprotection.PvProtectionController(ctx)


def _ephemeral_volume(ctx: ControllerContext, opts: ControllerManagerOptions) -> Controller:
    return ephemeral.EphemeralVolumeController(ctx)


def _expand(ctx: ControllerContext, opts: ControllerManagerOptions) -> Controller:
    return expand.ExpandController(ctx)


def _local_path(ctx: ControllerContext, opts: ControllerManagerOptions) -> Controller:
    return LocalPathProvisioner(ctx, path=opts.local_path_dir)


def _node_lifecycle(ctx: ControllerContext, opts: ControllerManagerOptions) -> Controller:
    return nodelifecycle.NodeLifecycleController(
        ctx, node_monitor_period=opts.node_monitor_period,
        node_monitor_grace_period=opts.node_monitor_grace_period,
        node_startup_grace_period=opts.node_startup_grace_period,
        node_eviction_rate=opts.node_eviction_rate,
        secondary_node_eviction_rate=opts.secondary_node_eviction_rate,
        large_cluster_size_threshold=opts.large_cluster_size_threshold,
        unhealthy_zone_threshold=opts.unhealthy_zone_threshold)


def _node_ipam(ctx: ControllerContext, opts: ControllerManagerOptions) -> Controller:
    return nodeipam.NodeIpamController(ctx, cluster_cidr=opts.cluster_cidr,
                                       node_mask_size=opts.node_cidr_mask_size)


def _taint_eviction(ctx: ControllerContext, opts: ControllerManagerOptions) -> Controller:
    return tainteviction.TaintEvictionController(ctx)


def _disruption(ctx: ControllerContext, opts: ControllerManagerOptions) -> Controller:
    return disruption.DisruptionController(ctx)


def _clusterrole_aggregation(ctx: ControllerContext, opts: ControllerManagerOptions
                             ) -> Controller:
    return clusterroleaggregation.ClusterRoleAggregationController(ctx)


def _csr_approving(ctx: ControllerContext, opts: ControllerManagerOptions) -> Controller:
    return csr_approver.CsrApprovingController(ctx)


def _csr_signing(ctx: ControllerContext, opts: ControllerManagerOptions) -> Controller:
    return csr_signer.CsrSigningController(
        ctx, cert_file=opts.cluster_signing_cert_file, key_file=opts.cluster_signing_key_file,
        certificate_duration=datetime.timedelta(seconds=opts.cluster_signing_duration))


def _resource_quota(ctx: ControllerContext, opts: ControllerManagerOptions) -> Controller:
    return resourcequota.ResourceQuotaController(ctx)


def _root_ca_cert_publisher(ctx: ControllerContext, opts: ControllerManagerOptions
                            ) -> Controller:
    return rootcacertpublisher.RootCACertPublisher(
        ctx, rootcacertpublisher.client_root_ca(ctx.client.config))


def _horizontal_pod_autoscaler(ctx: ControllerContext, opts: ControllerManagerOptions
                               ) -> Controller:
    return hpa_controller.HorizontalController(
        ctx, workers=opts.concurrent_hpa_syncs, sync_period=opts.hpa_sync_period,
        tolerance=opts.hpa_tolerance,
        downscale_stabilization=datetime.timedelta(seconds=opts.hpa_downscale_stabilization),
        cpu_initialization_period=datetime.timedelta(
            seconds=opts.hpa_cpu_initialization_period),
        initial_readiness_delay=datetime.timedelta(seconds=opts.hpa_initial_readiness_delay))


CONTROLLERS: dict[str, ControllerSpec] = {spec.name: spec for spec in (
    ControllerSpec("garbage-collector-controller", _garbage_collector, ("garbagecollector",),
                   service_account="generic-garbage-collector"),
    ControllerSpec("namespace-controller", _namespace, ("namespace",),
                   service_account="namespace-controller"),
    ControllerSpec("serviceaccount-controller", _service_account, ("serviceaccount",),
                   service_account="service-account-controller"),
    ControllerSpec("deployment-controller", _deployment, ("deployment",),
                   service_account="deployment-controller"),
    ControllerSpec("replicaset-controller", _replica_set, ("replicaset",),
                   service_account="replicaset-controller"),
    ControllerSpec("replicationcontroller-controller", _replication,
                   ("replicationcontroller",), service_account="replication-controller"),
    ControllerSpec("daemonset-controller", _daemon_set, ("daemonset",),
                   service_account="daemon-set-controller"),
    ControllerSpec("cronjob-controller", _cron_job, ("cronjob",),
                   service_account="cronjob-controller"),
    ControllerSpec("statefulset-controller", _stateful_set, ("statefulset",),
                   service_account="statefulset-controller"),
    ControllerSpec("job-controller", _job, ("job",), service_account="job-controller"),
    ControllerSpec("ttl-after-finished-controller", _ttl_after_finished,
                   ("ttl-after-finished",), service_account="ttl-after-finished-controller"),
    ControllerSpec("pod-garbage-collector", _pod_gc, ("podgc",),
                   service_account="pod-garbage-collector"),
    ControllerSpec("endpoints-controller", _endpoints, ("endpoint",),
                   service_account="endpoint-controller"),
    ControllerSpec("endpointslice-controller", _endpointslice, ("endpointslice",),
                   service_account="endpointslice-controller"),
    ControllerSpec("endpointslice-mirroring-controller", _endpointslice_mirroring,
                   ("endpointslicemirroring",),
                   service_account="endpointslicemirroring-controller"),
    # k3s' ServiceLB (its account and ClusterRole are kybernetes' own: apiserver/nodetoken.py).
    ControllerSpec("service-lb-controller", _service_lb,
                   service_account="service-lb-controller"),
    ControllerSpec("persistentvolume-binder-controller", _pv_binder,
                   ("persistentvolume-binder",), service_account="persistent-volume-binder"),
    ControllerSpec("persistentvolumeclaim-protection-controller", _pvc_protection,
                   ("pvc-protection",), service_account="pvc-protection-controller"),
    ControllerSpec("persistentvolume-protection-controller", _pv_protection,
                   ("pv-protection",), service_account="pv-protection-controller"),
    ControllerSpec("persistentvolume-expander-controller", _expand, ("persistentvolume-expander",),
                   service_account="expand-controller"),
    ControllerSpec("ephemeral-volume-controller", _ephemeral_volume, ("ephemeral-volume",),
                   service_account="ephemeral-volume-controller"),
    # k3s' local-path provisioner (its account and ClusterRole are kybernetes' own:
    # apiserver/localstorage.py).
    ControllerSpec("local-path-provisioner", _local_path,
                   service_account="local-path-provisioner-service-account"),
    ControllerSpec("node-lifecycle-controller", _node_lifecycle, ("nodelifecycle",),
                   service_account="node-controller"),
    # Upstream's taint eviction uses the node controller's account and role.
    ControllerSpec("taint-eviction-controller", _taint_eviction,
                   service_account="node-controller"),
    ControllerSpec("disruption-controller", _disruption, ("disruption",),
                   service_account="disruption-controller"),
    ControllerSpec("resourcequota-controller", _resource_quota, ("resourcequota",),
                   service_account="resourcequota-controller"),
    ControllerSpec("root-ca-certificate-publisher-controller", _root_ca_cert_publisher,
                   ("root-ca-cert-publisher",), service_account="root-ca-cert-publisher"),
    ControllerSpec("certificatesigningrequest-approving-controller", _csr_approving,
                   ("csrapproving",), service_account="certificate-controller"),
    ControllerSpec("certificatesigningrequest-signing-controller", _csr_signing,
                   ("csrsigning",), service_account="certificate-controller"),
    ControllerSpec("node-ipam-controller", _node_ipam, ("nodeipam",),
                   service_account="node-controller"),
    ControllerSpec("clusterrole-aggregation-controller", _clusterrole_aggregation,
                   ("clusterroleaggregation",),
                   service_account="clusterrole-aggregation-controller"),
    ControllerSpec("horizontal-pod-autoscaler-controller", _horizontal_pod_autoscaler,
                   ("horizontalpodautoscaling",), service_account="horizontal-pod-autoscaler"),
)}


def enabled_controllers(selection: Sequence[str],
                        registry: Mapping[str, ControllerSpec] = CONTROLLERS) -> list[str]:
    """The controllers `selection` (the `--controllers` list) enables, in registry order.
    Raises ValueError for a name no controller has."""
    canonical: dict[str, str] = {}
    for spec in registry.values():
        canonical[spec.name] = spec.name
        for alias in spec.aliases:
            canonical[alias] = spec.name
    choices: list[str] = []
    for raw in selection:
        entry = raw.strip()
        if not entry:
            continue
        if entry == "*":
            choices.append(entry)
            continue
        negated = entry.startswith("-")
        name = canonical.get(entry[1:] if negated else entry)
        if name is None:
            known = ", ".join(sorted(canonical))
            raise ValueError(f"{entry!r} is not in the list of known controllers: {known}")
        choices.append(f"-{name}" if negated else name)

    def enabled(spec: ControllerSpec) -> bool:
        star = False
        for choice in choices:
            if choice == spec.name:
                return True
            if choice == f"-{spec.name}":
                return False
            star = star or choice == "*"
        return star and spec.enabled_by_default

    return [spec.name for spec in registry.values() if enabled(spec)]


class ControllerManager:
    """Runs the enabled controllers while this process holds the lease."""

    def __init__(self, client: ApiClient,
                 options: ControllerManagerOptions | None = None, *,
                 registry: Mapping[str, ControllerSpec] = CONTROLLERS) -> None:
        self.client = client
        self.options = options or ControllerManagerOptions()
        self.registry = registry
        self.enabled = enabled_controllers(self.options.controllers, registry)
        self.controllers: dict[str, Controller] = {}
        self.elector: LeaderElector | None = None
        self.leading = asyncio.Event()

    async def run(self) -> None:
        """Until cancelled: stand for election, run the controllers while leading."""
        opts = self.options
        log.info("controller manager %s: controllers %s", opts.identity,
                 ", ".join(self.enabled) or "(none)")
        if not opts.leader_elect:
            await self.run_controllers()
            return
        config = LeaderElectionConfig(
            name=opts.lease_name, namespace=opts.lease_namespace, identity=opts.identity,
            lease_duration=opts.lease_duration, renew_deadline=opts.renew_deadline,
            retry_period=opts.retry_period)
        while True:
            self.elector = LeaderElector(self.client, config,
                                         on_started_leading=self.run_controllers)
            await self.elector.run()
            log.warning("controller manager %s: leader election lost; controllers stopped, "
                        "standing for election again", opts.identity)

    async def run_controllers(self) -> None:
        """One term: fresh informers, discovery and controllers, until cancelled."""
        informers = SharedInformerFactory(self.client)
        discovery = Discovery(self.client)
        accounts = ServiceAccountClients(self.client) \
            if self.options.use_service_account_credentials else None
        try:
            self.controllers = {}
            contexts: dict[str, ControllerContext] = {}
            for name in self.enabled:
                spec = self.registry[name]
                client = self.client
                if accounts is not None and spec.service_account:
                    client = await accounts.client_for(spec.service_account)
                contexts[name] = ControllerContext(client=client, informers=informers,
                                                   discovery=discovery)
                self.controllers[name] = spec.factory(contexts[name], self.options)
            informers.start()
            self.leading.set()
            async with asyncio.TaskGroup() as tasks:
                if accounts is not None:
                    tasks.create_task(accounts.renew_forever(), name="controller-tokens")
                for name, ctx in contexts.items():
                    tasks.create_task(self._supervise(self.registry[name], ctx),
                                      name=f"controller:{name}")
        finally:
            self.leading.clear()
            with contextlib.suppress(Exception):
                await informers.shutdown()
            if accounts is not None:
                await accounts.aclose()
            self.controllers = {}

    async def _supervise(self, spec: ControllerSpec, ctx: ControllerContext) -> None:
        """Run `spec`'s controller; when it fails, replace it with a new instance."""
        backoff = Backoff(1.0, 60.0)  # back to 1 s after two minutes without a failure
        while True:
            controller = self.controllers[spec.name]
            try:
                await controller.run()
                log.info("%s: nothing (more) to do; not restarted", spec.name)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                delay = backoff.next()
                log.exception("%s failed; restarting it with a fresh work queue in %.1fs",
                              spec.name, delay)
            await controller.release()
            await asyncio.sleep(delay)
            self.controllers[spec.name] = await self._rebuild(spec, ctx, backoff)

    async def _rebuild(self, spec: ControllerSpec, ctx: ControllerContext, backoff: Backoff
                       ) -> Controller:
        """A new instance of `spec`'s controller, its informers started."""
        while True:
            try:
                controller = spec.factory(ctx, self.options)
            except Exception:
                delay = backoff.next()
                log.exception("%s could not be built; trying again in %.1fs", spec.name,
                              delay)
                await asyncio.sleep(delay)
                continue
            ctx.informers.start()
            return controller
