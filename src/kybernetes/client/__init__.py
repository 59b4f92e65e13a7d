"""The async Kubernetes client, informers, work queues and leader election.

Every kybernetes component (controllers, scheduler, kubelet, kube-proxy) talks to the API
server only through this package, over HTTPS, exactly as upstream components use client-go:

- `config`: kubeconfig / in-cluster config -> `ClientConfig` (+ `ssl.SSLContext`).
- `rest`: `ApiClient`, async REST (get/list/create/update/patch/delete/watch) with typed
  `ApiError`s and client-side QPS/burst limiting.
- `transport`: the HTTP/1.1 transport under `ApiClient` (O(1) keep-alive pool, httptools).
- `informer`: `Informer`, `Store` with indices, `SharedInformerFactory`.
- `workqueue`: `RateLimitingQueue` with client-go's semantics, `run_worker`.
- `leaderelection`: `LeaderElector` on a coordination.k8s.io/v1 Lease.
- `events`: `EventRecorder` writing core/v1 Events with upstream's correlation.
- `ratelimit`: `TokenBucket` and `Backoff`.
- `delegatedauth`: delegated authentication and authorization (TokenReview,
  SubjectAccessReview) for the servers that are not the API server (10250, 10257, 10259).
- `expiring`: `ExpiringCache`, the bounded TTL cache of those reviews' answers.
- `plainhttp`: the minimal HTTP/1.1 responder of the components' small ports (10249,
  10256, 10257, 10259).
"""

from kybernetes.client.config import (
    ClientConfig,
    ConfigError,
    load_config,
    load_incluster_config,
    load_kubeconfig,
)
from kybernetes.client.events import EventRecorder
from kybernetes.client.informer import (
    Informer,
    SharedInformerFactory,
    Store,
    field_index,
    label_index,
    meta_namespace_key,
    namespace_index,
    split_key,
    wait_for_cache_sync,
)
from kybernetes.client.leaderelection import LeaderElectionConfig, LeaderElector, LeadershipLost
from kybernetes.client.ratelimit import Backoff, TokenBucket
from kybernetes.client.rest import (
    AlreadyExistsError,
    ApiClient,
    ApiConnectionError,
    ApiError,
    ClientError,
    ConflictError,
    GoneError,
    InvalidError,
    NotFoundError,
    ObjectList,
    Preconditions,
    Resource,
    Watch,
    WatchEvent,
    is_already_exists,
    is_conflict,
    is_gone,
    is_not_found,
    resource,
)
from kybernetes.client.workqueue import (
    RateLimitingQueue,
    ShutDown,
    WorkQueue,
    default_controller_rate_limiter,
    run_worker,
)

__all__ = [
    "AlreadyExistsError",
    "ApiClient",
    "ApiConnectionError",
    "ApiError",
    "Backoff",
    "ClientConfig",
    "ClientError",
    "ConfigError",
    "ConflictError",
    "EventRecorder",
    "GoneError",
    "Informer",
    "InvalidError",
    "LeaderElectionConfig",
    "LeaderElector",
    "LeadershipLost",
    "NotFoundError",
    "ObjectList",
    "Preconditions",
    "RateLimitingQueue",
    "Resource",
    "SharedInformerFactory",
    "ShutDown",
    "Store",
    "TokenBucket",
    "Watch",
    "WatchEvent",
    "WorkQueue",
    "default_controller_rate_limiter",
    "field_index",
    "is_already_exists",
    "is_conflict",
    "is_gone",
    "is_not_found",
    "label_index",
    "load_config",
    "load_incluster_config",
    "load_kubeconfig",
    "meta_namespace_key",
    "namespace_index",
    "resource",
    "run_worker",
    "split_key",
    "wait_for_cache_sync",
]
