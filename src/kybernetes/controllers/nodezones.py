"""Zones of nodes and the rate limits of tainting them, for the node lifecycle controller:
upstream's zone half of `pkg/controller/nodelifecycle` (`ComputeZoneState`,
`setLimiterInZone`) and its `scheduler.RateLimitedTimedQueue`.

- `zone_key`: a node's zone is its region and zone labels (`topology.kubernetes.io/*`,
  else the deprecated `failure-domain.beta.kubernetes.io/*`); nodes with neither share
  the zone "".
- `compute_zone_state`: FullDisruption when no node of the zone is Ready,
  PartialDisruption when more than 2 and at least `unhealthy_threshold` (0.55) of them
  are not, else Normal.
- `zone_qps`: the tainting rate of a zone in a state: `--node-eviction-rate` (0.1 nodes/s)
  when Normal or FullDisruption, `--secondary-node-eviction-rate` (0.01) when partially
  disrupted, or none at all for a partially disrupted zone of at most
  `--large-cluster-size-threshold` (50) nodes.
- `RateLimitedTimedQueue`: the node names waiting to be tainted in one zone, each with
  the time it may be processed; `try_pass` hands them out in that order while the token
  bucket (burst 1) allows, and keeps those whose action failed for a later pass. A rate
  of 0 hands out nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from kybernetes.client import TokenBucket
from kybernetes.client.rest import Obj

NODE_EVICTION_RATE = 0.1
SECONDARY_NODE_EVICTION_RATE = 0.01
LARGE_CLUSTER_SIZE_THRESHOLD = 50
UNHEALTHY_ZONE_THRESHOLD = 0.55
# Upstream's EvictionRateLimiterBurst.
EVICTION_BURST = 1
# Nodes with this label are left out of zone states.
EXCLUDE_DISRUPTION_LABEL = "node.kubernetes.io/exclude-disruption"

_REGION_LABELS = ("topology.kubernetes.io/region", "failure-domain.beta.kubernetes.io/region")
_ZONE_LABELS = ("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone")


class ZoneState(enum.StrEnum):
    INITIAL = "Initial"
    NORMAL = "Normal"
    FULL_DISRUPTION = "FullDisruption"
    PARTIAL_DISRUPTION = "PartialDisruption"


def _label(labels: dict[str, Any], names: Sequence[str]) -> str:
    return next((str(labels[n]) for n in names if labels.get(n)), "")


def zone_key(node: Obj) -> str:
    """Upstream's `GetZoneKey`."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    region, zone = _label(labels, _REGION_LABELS), _label(labels, _ZONE_LABELS)
    if not region and not zone:
        return ""
    return f"{region}:\x00:{zone}"


def excluded_from_disruption(node: Obj) -> bool:
    return EXCLUDE_DISRUPTION_LABEL in ((node.get("metadata") or {}).get("labels") or {})


def compute_zone_state(ready_conditions: Sequence[dict[str, Any] | None], *,
                       unhealthy_threshold: float = UNHEALTHY_ZONE_THRESHOLD
                       ) -> tuple[int, ZoneState]:
    """(not ready nodes, state) of one zone from its nodes' Ready conditions."""
    ready = sum(1 for c in ready_conditions if c is not None and c.get("status") == "True")
    not_ready = len(ready_conditions) - ready
    if ready == 0 and not_ready > 0:
        return not_ready, ZoneState.FULL_DISRUPTION
    if not_ready > 2 and not_ready / (not_ready + ready) >= unhealthy_threshold:
        return not_ready, ZoneState.PARTIAL_DISRUPTION
    return not_ready, ZoneState.NORMAL


def zone_qps(state: ZoneState, zone_size: int, *, rate: float = NODE_EVICTION_RATE,
             secondary_rate: float = SECONDARY_NODE_EVICTION_RATE,
             large_cluster_threshold: int = LARGE_CLUSTER_SIZE_THRESHOLD) -> float:
    """Upstream's `setLimiterInZone` (HealthyQPSFunc, ReducedQPSFunc)."""
    if state == ZoneState.PARTIAL_DISRUPTION:
        return secondary_rate if zone_size > large_cluster_threshold else 0.0
    return rate


class RateLimitedTimedQueue:
    """Node names to process in one zone, rate limited (upstream's type of that name)."""

    def __init__(self, qps: float, *, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.qps = qps
        self._bucket: TokenBucket | None = self._new_bucket(qps)
        # name -> when it may be processed; insertion order breaks ties (FIFO).
        self.pending: dict[str, float] = {}

    def _new_bucket(self, qps: float) -> TokenBucket | None:
        return TokenBucket(qps, EVICTION_BURST, clock=self.clock) if qps > 0 else None

    def add(self, name: str) -> bool:
        if name in self.pending:
            return False
        self.pending[name] = self.clock()
        return True

    def remove(self, name: str) -> bool:
        return self.pending.pop(name, None) is not None

    def _accept(self) -> bool:
        return self._bucket is not None and self._bucket.try_take()

    def swap_limiter(self, qps: float) -> None:
        if qps == self.qps:
            return
        drained = not self._accept()
        self.qps = qps
        self._bucket = self._new_bucket(qps)
        # As upstream: a queue that was waiting for a token keeps waiting (burst 1).
        if drained and self._bucket is not None:
            self._bucket.try_take()

    async def try_pass(self, action: Callable[[str], Awaitable[bool]]) -> None:
        """Process due names in order while tokens last; an action returning False keeps
        its name for a later pass."""
        while self.pending:
            if not self._accept():
                return
            name, due = min(self.pending.items(), key=lambda item: item[1])
            now = self.clock()
            if now < due:
                return
            if await action(name):
                self.pending.pop(name, None)
            else:
                self.pending.pop(name, None)
                self.pending[name] = now + 1e-9
