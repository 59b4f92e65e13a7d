"""Which endpoints each traffic policy of a service port uses: upstream's
pkg/proxy/topology.go `CategorizeEndpoints` (without topology hints).

Cluster policy uses the ready endpoints, or, when none is ready, the serving terminating
ones; Local policy does the same among this node's endpoints. `has_any` says whether the
service has a usable endpoint anywhere (whether to reject its traffic at all).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kybernetes.proxy.changes import Endpoint, ServicePort


@dataclass(frozen=True)
class Categorized:
    cluster: tuple[Endpoint, ...]
    local: tuple[Endpoint, ...]
    all_reachable: tuple[Endpoint, ...]
    has_any: bool


def _usable(endpoints: Sequence[Endpoint]) -> tuple[Endpoint, ...]:
    ready = tuple(e for e in endpoints if e.ready)
    if ready:
        return ready
    return tuple(e for e in endpoints if e.serving and e.terminating)


def categorize(port: ServicePort, endpoints: Sequence[Endpoint]) -> Categorized:
    cluster: tuple[Endpoint, ...] = ()
    if port.uses_cluster_endpoints:
        cluster = _usable(endpoints)
        if not port.uses_local_endpoints:
            return Categorized(cluster, (), cluster, bool(cluster))
    has_any = any(e.ready or (e.serving and e.terminating) for e in endpoints)
    local = _usable([e for e in endpoints if e.local])
    if not port.uses_cluster_endpoints:
        return Categorized((), local, local, has_any)
    seen = {e.address for e in cluster}
    reachable = cluster + tuple(e for e in local if e.address not in seen)
    return Categorized(cluster, local, reachable, has_any)
