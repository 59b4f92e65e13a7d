"""Running the API server: storage, watch cache, bootstrap objects, compaction, HTTPS.

`ApiServer` owns the lifecycle: open storage, fill the watch cache, make sure the system
namespaces exist, then serve HTTPS (TLS 1.2 or newer) with uvicorn (client certificates
optional, so bearer tokens work too) until stopped; with `loopback_socket` (`kyb server`),
the same app on a Unix socket too, for the components in this process (loopbacksocket.py).
History older than one compaction interval is compacted, as kube-apiserver asks etcd every
five minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn

from kybernetes.api import errors
from kybernetes.api.registry import Registry, builtin_registry
from kybernetes.apiserver import (
    apiservices,
    certificates,
    componentstatuses,
    extensionauth,
    flowcontrolbootstrap,
    gctuning,
    ingressbootstrap,
    kubernetesendpoints,
    localstorage,
    loopbacksocket,
    nodetoken,
    pki,
    podproxy,
    servicecidrs,
)
from kybernetes.apiserver.admission import priority
from kybernetes.apiserver.admission import setup as admission_setup
from kybernetes.apiserver.admission.defaulttolerationseconds import DEFAULT_TOLERATION_SECONDS
from kybernetes.apiserver.allocators import KUBERNETES_SERVICE_IP, ServiceAllocator
from kybernetes.apiserver.apiservicecontroller import ApiServiceController
from kybernetes.apiserver.app import ApiServerApp
from kybernetes.apiserver.audit import setup as audit_setup
from kybernetes.apiserver.authn import setup as authn_setup
from kybernetes.apiserver.authn.loopback import LoopbackTokens
from kybernetes.apiserver.authz import setup as authz_setup
from kybernetes.apiserver.crds import CrdController
from kybernetes.apiserver.identitylease import IdentityLease
from kybernetes.apiserver.storagemetrics import TimedStorage
from kybernetes.apiserver.store import ObjectStore
from kybernetes.apiserver.tlspeer import PeerCertHttpProtocol
from kybernetes.apiserver.watchcache import WatchCache
from kybernetes.storage import encryptionconfig, open_storage
from kybernetes.storage.encryption import EncryptedStorage
from kybernetes.storage.encryptionconfig import KeyTransformers
from kybernetes.storage.interface import Storage, StorageError, UnavailableError

log = logging.getLogger(__name__)

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


@dataclass
class ApiServerConfig:
    data_dir: Path
    storage_url: str = ""
    bind_address: str = "0.0.0.0"
    port: int = 6443
    advertise_address: str = "127.0.0.1"
    tls_san: list[str] = field(default_factory=list)
    compaction_interval: float = 300.0
    # TLS to etcd, as kube-apiserver's --etcd-cafile/--etcd-certfile/--etcd-keyfile.
    etcd_cafile: Path | None = None
    etcd_certfile: Path | None = None
    etcd_keyfile: Path | None = None
    # How long `prepare` waits for an unreachable storage before giving up.
    storage_wait: float = 60.0
    # The DefaultTolerationSeconds admission (--default-not-ready-toleration-seconds,
    # --default-unreachable-toleration-seconds).
    default_not_ready_toleration_seconds: int = DEFAULT_TOLERATION_SECONDS
    default_unreachable_toleration_seconds: int = DEFAULT_TOLERATION_SECONDS
    # Authentication: --anonymous-auth, --token-auth-file, --service-account-issuer,
    # --api-audiences (default: the issuer), --service-account-max-token-expiration
    # (seconds; 0: none), and the node token agents join with (k3s' --token; generated
    # into <data-dir>/token when empty).
    anonymous_auth: bool = True
    token_auth_file: Path | None = None
    service_account_issuer: str = "https://kubernetes.default.svc.cluster.local"
    api_audiences: list[str] = field(default_factory=list)
    service_account_max_token_expiration: float = 0.0
    node_token: str = ""
    # Authorization: --authorization-mode.
    authorization_mode: str = "Node,RBAC"
    # Admission: --enable-admission-plugins / --disable-admission-plugins (on top of the
    # default set).
    enable_admission_plugins: list[str] = field(default_factory=list)
    disable_admission_plugins: list[str] = field(default_factory=list)
    # Encryption at rest: --encryption-provider-config (an EncryptionConfiguration).
    encryption_provider_config: Path | None = None
    # Audit: --audit-policy-file, --audit-log-path ("-": stdout), --audit-log-maxsize (MiB),
    # --audit-log-maxbackup, --audit-log-maxage (days).
    audit_policy_file: Path | None = None
    audit_log_path: str = ""
    audit_log_maxsize: int = 100
    audit_log_maxbackup: int = 0
    audit_log_maxage: int = 0
    # The nodes run the ingress controller (`--disable-ingress`: they do not): its
    # IngressClass and roles (ingressbootstrap.py).
    ingress: bool = True
    # How often Service-backed APIServices are checked for availability (upstream: 30 s).
    apiservice_check_interval: float = 30.0
    # Also serve on <data-dir>/apiserver.sock, for in-process components (`kyb server`).
    loopback_socket: bool = False
    # The host name the identity Lease is named after (default: the machine's).
    hostname: str = ""

    @property
    def storage(self) -> str:
        return self.storage_url or f"sqlite://{self.data_dir / 'state.db'}"

    @property
    def kubeconfig(self) -> Path:
        return self.data_dir / "kubeconfig.yaml"


class ApiServer:
    def __init__(self, config: ApiServerConfig, registry: Registry | None = None) -> None:
        self.config = config
        self.registry = registry or builtin_registry()
        self.storage: Storage = open_storage(config.storage, ca_file=config.etcd_cafile,
                                             cert_file=config.etcd_certfile,
                                             key_file=config.etcd_keyfile)
        if config.encryption_provider_config is not None:
            # Encryption at rest: values of the configured resources are stored encrypted.
            self.storage = EncryptedStorage(self.storage, KeyTransformers(
                encryptionconfig.load(config.encryption_provider_config), self.registry))
        # Every storage request timed (etcd_request_duration_seconds on /metrics).
        timed = TimedStorage(self.storage)
        self.storage = timed
        self.cache = WatchCache(self.storage)
        self.store = ObjectStore(self.registry, self.storage, self.cache)
        services = self.registry.get("", "v1", "services")
        assert services is not None
        allocator = ServiceAllocator(
            lambda: (o.obj for o in self.cache.scan(services.key_prefix)))
        self.store.create_hooks["services"] = allocator.allocate
        self.store.update_hooks["services"] = allocator.allocate_update
        # The tokens of in-process components, good on the Unix socket only.
        self.loopback_tokens = LoopbackTokens()
        self.app = ApiServerApp(self.registry, self.store,
                                server_address=f"{config.advertise_address}:{config.port}",
                                authenticator=authn_setup.install(self),
                                authorizer=authz_setup.install(self),
                                kubelet_ca=pki.Pki.at(config.data_dir).ca_cert)
        self.app.metrics.registry.register(timed.histogram)
        # TokenReview, SelfSubjectReview and serviceaccounts/token; the access reviews.
        authn_setup.register(self)
        authz_setup.register(self)
        # RBAC's own checks on role and binding writes (escalation and bind prevention,
        # upstream's RBAC REST storage, before any validating admission), then the chain.
        self.store.admission.plugins = [*authz_setup.write_guards(self),
                                        *admission_setup.install(self)]
        # The CSR strategy, its admission plugins and its /approval subresource.
        certificates.install(self)
        # The computed componentstatuses and the top-level bindings.
        componentstatuses.install(self)
        # The CRDs' controllers, which serve their custom resources.
        self.crds = CrdController(self)
        # APIServices backed by a Service: proxied, checked for availability.
        self.apiservice_controller = ApiServiceController(self, config.apiservice_check_interval)
        # Auditing (None when off). It learns the outcome of each request's authentication
        # and authorization by observing the app's authenticator and authorizer, wrapped
        # last so that what was set up above holds the real ones.
        self.audit = audit_setup.install(config)
        self.app.audit = self.audit
        self.app.authenticator = audit_setup.observe_authentication(
            self.audit, self.app.authenticator)
        self.app.authorizer = audit_setup.observe_authorization(self.audit, self.app.authorizer)
        self.pki: pki.Pki | None = None
        self._uvicorn: uvicorn.Server | None = None
        # Set once the server listens (what `kyb server` waits for to start its components).
        self.serving = asyncio.Event()

    async def prepare(self) -> None:
        """Everything before serving: PKI, kubeconfig, storage, cache, bootstrap."""
        cfg = self.config
        cfg.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        # The data dir holds the state and every key: its owner's only (on an existing
        # install too).
        cfg.data_dir.chmod(0o700)
        ips = [a for a in [cfg.advertise_address, *cfg.tls_san] if _is_ip(a)]
        names = [a for a in cfg.tls_san if not _is_ip(a)]
        self.pki = await asyncio.to_thread(pki.ensure_pki, cfg.data_dir, hostnames=names,
                                           ips=ips)
        pki.write_kubeconfig(cfg.kubeconfig, server=f"https://{_host(cfg.advertise_address)}"
                             f":{cfg.port}", pki=self.pki)
        await self.storage.start()
        await self._until_storage_answers(self.cache.start)
        # Custom resources are served from the first request on.
        self.crds.sync()
        await self._until_storage_answers(self._bootstrap)
        # The node token, cluster-info and the bindings agents join with.
        await self._until_storage_answers(lambda: nodetoken.bootstrap(self))
        # What extension API servers trust this server as their front proxy by.
        await self._until_storage_answers(lambda: extensionauth.bootstrap(self))
        # The default StorageClass local-path and its provisioner's and nodes' roles.
        await self._until_storage_answers(lambda: localstorage.bootstrap(self))
        # The default IngressClass nginx and the ingress controller's role.
        await self._until_storage_answers(lambda: ingressbootstrap.bootstrap(self))
        # Where the `kubernetes` Service leads: every live server's address.
        await self._until_storage_answers(lambda: kubernetesendpoints.reconcile(self))
        gctuning.settle_heap()

    async def _until_storage_answers(self, step: Callable[[], Awaitable[None]]) -> None:
        """Run `step`, again while the storage is unreachable (etcd starting alongside us),
        for `storage_wait` seconds at most."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.storage_wait
        while True:
            try:
                await step()
                return
            except UnavailableError as err:
                if loop.time() >= deadline:
                    raise
                log.warning("storage %s unavailable (%s); waiting for it",
                            _redacted(self.config.storage), err)
                await asyncio.sleep(1)

    async def _bootstrap(self) -> None:
        await self._bootstrap_namespaces()
        await authz_setup.bootstrap(self)
        await priority.create_system_priority_classes(self)
        # The local APIServices, the mandatory flow-control configuration and the default
        # ServiceCIDR, as upstream's API server keeps them.
        await apiservices.bootstrap(self)
        await flowcontrolbootstrap.bootstrap(self)
        await servicecidrs.bootstrap(self)

    async def _bootstrap_namespaces(self) -> None:
        info = self.registry.get("", "v1", "namespaces")
        assert info is not None
        for name in SYSTEM_NAMESPACES:
            with contextlib.suppress(errors.StatusError):
                await self.store.create(info, "", {"apiVersion": "v1", "kind": "Namespace",
                                                   "metadata": {"name": name}})
        services = self.registry.get("", "v1", "services")
        assert services is not None
        with contextlib.suppress(errors.StatusError):
            await self.store.create(services, "default", {
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "kubernetes", "labels": {
                    "component": "apiserver", "provider": "kubernetes"}},
                "spec": {"clusterIP": KUBERNETES_SERVICE_IP, "ports": [
                    {"name": "https", "port": 443, "protocol": "TCP",
                     "targetPort": self.config.port}]}})

    async def serve(self) -> None:
        await self.prepare()
        assert self.pki is not None
        config = uvicorn.Config(
            self.app, host=self.config.bind_address, port=self.config.port,
            ssl_certfile=str(self.pki.serving_cert), ssl_keyfile=str(self.pki.serving_key),
            ssl_ca_certs=str(self.pki.ca_cert), ssl_cert_reqs=ssl.CERT_OPTIONAL,
            loop="none", http=PeerCertHttpProtocol, ws=podproxy.WebSocketProtocol, lifespan="off",
            log_level="warning", timeout_keep_alive=120, backlog=4096,
            # Watches stream until their timeout; do not let them hold up a shutdown.
            timeout_graceful_shutdown=2,
        )
        config.load()
        assert config.ssl is not None
        config.ssl.minimum_version = ssl.TLSVersion.TLSv1_2
        self._uvicorn = _Uvicorn(
            config, self.serving, loopbacksocket.socket_path(self.config.data_dir)
            if self.config.loopback_socket else None)
        background = [asyncio.create_task(self._compact_forever(), name="compactor"),
                      asyncio.create_task(self.app.loop_monitor.run(), name="loop-monitor"),
                      asyncio.create_task(self.crds.run(), name="crd-controller"),
                      asyncio.create_task(self.apiservice_controller.run(),
                                          name="apiservice-controller"),
                      asyncio.create_task(kubernetesendpoints.run(self), name="master-lease"),
                      asyncio.create_task(IdentityLease(
                          self, self.config.hostname or socket.gethostname()).run(),
                          name="identity-lease")]
        try:
            await self._uvicorn.serve()
        finally:
            if self._uvicorn.loopback_bound:
                with contextlib.suppress(FileNotFoundError):
                    loopbacksocket.socket_path(self.config.data_dir).unlink()
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await self.cache.stop()
            await self.storage.close()
            if self.audit is not None:
                await self.audit.close()

    def stop(self) -> None:
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True

    async def _compact_forever(self) -> None:
        """Every interval, compact to the revision of one interval ago. An unreachable
        storage skips a round (and never ends the loop)."""
        previous = 0
        while True:
            try:
                current = await self.storage.current_revision()
                if previous:
                    await self.storage.compact(previous)
                previous = current
            except StorageError as err:
                log.warning("compaction to %d skipped: %s", previous, err)
            except Exception:
                log.exception("compaction to %d failed", previous)
            await asyncio.sleep(self.config.compaction_interval)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _redacted(url: str) -> str:
    """A storage URL without its query (which may name key files)."""
    return url.split("?", 1)[0]


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


class _Uvicorn(uvicorn.Server):
    """uvicorn's server, which also listens on the Unix socket `loopback` when given, and
    sets `serving` once it listens."""

    def __init__(self, config: uvicorn.Config, serving: asyncio.Event,
                 loopback: Path | None = None) -> None:
        super().__init__(config)
        self.serving = serving
        self.loopback = loopback
        self.loopback_bound = False

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self.loopback is not None:
            # Bound once the HTTPS port is ours, so that a second server on this data dir
            # fails there before replacing the first one's socket. Its connections are
            # tracked with the HTTPS ones: shut down alike.
            sock = loopbacksocket.bind(self.loopback)
            self.loopback_bound = True
            self.servers.append(await asyncio.get_running_loop().create_unix_server(
                lambda: loopbacksocket.LoopbackHttpProtocol(
                    config=self.config, server_state=self.server_state,
                    app_state=self.lifespan.state),
                sock=sock, backlog=self.config.backlog))
        if self.started:
            self.serving.set()
