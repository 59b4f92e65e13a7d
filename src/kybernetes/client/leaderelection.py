"""Leader election on a `coordination.k8s.io/v1` Lease, as client-go's `leaderelection`.

Several replicas of a component (controller-manager, scheduler) run `LeaderElector.run`; one
of them holds the Lease and does the work, the others wait to take over. The protocol is
client-go's, so kybernetes and upstream components could even share a lock:

- The Lease's spec is the record: `holderIdentity`, `leaseDurationSeconds`, `acquireTime`,
  `renewTime` (MicroTime) and `leaseTransitions`.
- **Acquire**: every `retry_period` (jittered by up to 20%), read the Lease. Create it when
  absent. If another holder's lease is still valid, wait. Validity is judged by *our* clock:
  a lease counts as expired `leaseDurationSeconds` after we last saw its record change
  (client-go's `observedTime`), so clock skew between machines does not matter. Otherwise
  write ourselves in as holder (`acquireTime` now, `leaseTransitions` + 1) with the
  resourceVersion we read: optimistic concurrency makes exactly one contender win (the
  others get 409 Conflict).
- **Renew**: the leader rewrites `renewTime` every `retry_period`. If it cannot renew for
  `renew_deadline` (or finds another holder in the record), it has lost the lease: its
  `on_started_leading` task is cancelled, `on_stopped_leading` is called and `run` returns.
  `renew_deadline < lease_duration` leaves the old leader time to stop working before
  anyone else may take over.
- **Release**: when `run` is cancelled while leading and `release_on_cancel` is set (the
  default, as client-go's `ReleaseOnCancel`), the Lease is rewritten with an empty holder
  and a 1 s duration, so a standby takes over at its next retry instead of waiting for
  expiry.

Timings default to upstream's: lease 15 s, renew deadline 10 s, retry 2 s. Unlike client-go,
`on_stopped_leading` is only called if leadership was actually held.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import inspect
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kybernetes.client.rest import (
    AlreadyExistsError,
    ApiClient,
    ClientError,
    ConflictError,
    NotFoundError,
    Obj,
    resource,
)

log = logging.getLogger(__name__)

LEASES = resource("coordination.k8s.io", "v1", "leases")


class LeadershipLost(Exception):
    """A component that works only while it leads lost its lease (upstream's components
    exit then, to be started afresh)."""
JITTER_FACTOR = 1.2


@dataclass(frozen=True, kw_only=True)
class LeaderElectionConfig:
    """Which Lease, who we are, and the timings (seconds)."""

    name: str
    identity: str
    namespace: str = "kube-system"
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    release_on_cancel: bool = True

    def __post_init__(self) -> None:
        if not self.name or not self.identity:
            raise ValueError("leader election needs a lease name and an identity")
        if self.lease_duration <= self.renew_deadline:
            raise ValueError("lease_duration must be greater than renew_deadline")
        if self.renew_deadline <= JITTER_FACTOR * self.retry_period:
            raise ValueError(f"renew_deadline must be greater than retry_period * "
                             f"{JITTER_FACTOR}")
        if self.retry_period <= 0:
            raise ValueError("retry_period must be positive")

    @property
    def lease_duration_seconds(self) -> int:
        return max(1, round(self.lease_duration))


def micro_time(when: datetime | None = None) -> str:
    """A `metav1.MicroTime`: RFC 3339 with microseconds, UTC."""
    return (when or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


StartedCallback = Callable[[], Awaitable[None]]
StoppedCallback = Callable[[], Awaitable[None] | None]
NewLeaderCallback = Callable[[str], Awaitable[None] | None]


class LeaderElector:
    """Run for leadership of one Lease.

    `on_started_leading` is a coroutine function run as a task while we lead (cancelled when
    leadership ends); `on_stopped_leading` runs after; `on_new_leader(identity)` is told
    whenever the observed holder changes (including to ourselves).
    """

    def __init__(self, client: ApiClient, config: LeaderElectionConfig, *,
                 on_started_leading: StartedCallback,
                 on_stopped_leading: StoppedCallback | None = None,
                 on_new_leader: NewLeaderCallback | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.config = config
        self.on_started_leading = on_started_leading
        self.on_stopped_leading = on_stopped_leading
        self.on_new_leader = on_new_leader
        self._clock = clock
        self._observed: dict[str, Any] = {}
        self._observed_time = 0.0
        self._lease: Obj | None = None
        self._leading = False
        self._reported_leader = ""
        self._callbacks: set[asyncio.Future[Any]] = set()

    @property
    def is_leader(self) -> bool:
        return self._leading

    @property
    def leader(self) -> str:
        """The holder identity last observed in the Lease ("" if none)."""
        return str(self._observed.get("holderIdentity") or "")

    @property
    def observed_record(self) -> dict[str, Any]:
        return dict(self._observed)

    async def run(self) -> None:
        """Acquire the lease, lead while it is renewed, return once it is lost (or raise
        CancelledError when cancelled, releasing the lease first if configured)."""
        await self._acquire()
        self._leading = True
        log.info("%s: became leader of %s/%s", self.config.identity, self.config.namespace,
                 self.config.name)
        leading = asyncio.create_task(self._lead(), name=f"leading:{self.config.name}")
        try:
            await self._renew_until_lost()
        finally:
            leading.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await leading
            was_leading, self._leading = self._leading, False
            cancelled = _being_cancelled()
            if was_leading and cancelled and self.config.release_on_cancel:
                await self._release()
            log.info("%s: stopped leading %s/%s", self.config.identity,
                     self.config.namespace, self.config.name)
            if self.on_stopped_leading is not None:
                try:
                    result = self.on_stopped_leading()
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    log.exception("on_stopped_leading failed")

    async def _lead(self) -> None:
        try:
            await self.on_started_leading()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("on_started_leading failed")

    async def _acquire(self) -> None:
        period = self.config.retry_period
        while True:
            if await self._attempt():
                return
            await asyncio.sleep(period * (1 + random.random() * (JITTER_FACTOR - 1)))

    async def _renew_until_lost(self) -> None:
        cfg = self.config
        last_renew = self._clock()
        while True:
            await asyncio.sleep(cfg.retry_period)
            remaining = cfg.renew_deadline - (self._clock() - last_renew)
            renewed = False
            if remaining > 0:
                try:
                    async with asyncio.timeout(remaining):
                        renewed = await self._attempt()
                except TimeoutError:
                    renewed = False
            if renewed:
                last_renew = self._clock()
                continue
            if self.leader and self.leader != cfg.identity:
                log.warning("%s: lease %s/%s taken over by %s", cfg.identity, cfg.namespace,
                            cfg.name, self.leader)
                return
            if self._clock() - last_renew >= cfg.renew_deadline:
                log.warning("%s: failed to renew lease %s/%s within %.1fs", cfg.identity,
                            cfg.namespace, cfg.name, cfg.renew_deadline)
                return

    async def _attempt(self) -> bool:
        """client-go's tryAcquireOrRenew: True if we hold the lease afterwards."""
        cfg = self.config
        now = datetime.now(UTC)
        try:
            try:
                lease = await self.client.get(LEASES, cfg.name, cfg.namespace)
            except NotFoundError:
                return await self._create(now)
            spec: dict[str, Any] = lease.get("spec") or {}
            self._observe(spec)
            holder = str(spec.get("holderIdentity") or "")
            duration = spec.get("leaseDurationSeconds") or cfg.lease_duration_seconds
            if holder and holder != cfg.identity and \
                    self._observed_time + float(duration) > self._clock():
                return False
            renewed = copy.deepcopy(lease)
            new_spec: dict[str, Any] = renewed.setdefault("spec", {})
            new_spec["holderIdentity"] = cfg.identity
            new_spec["leaseDurationSeconds"] = cfg.lease_duration_seconds
            new_spec["renewTime"] = micro_time(now)
            if holder != cfg.identity or not spec.get("acquireTime"):
                new_spec["acquireTime"] = micro_time(now)
                new_spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + \
                    (1 if holder != cfg.identity else 0)
            try:
                updated = await self.client.update(LEASES, renewed, cfg.namespace)
            except ConflictError:
                return False
        except ClientError as err:
            log.info("%s: error reading or writing lease %s/%s: %s", cfg.identity,
                     cfg.namespace, cfg.name, err)
            return False
        self._lease = updated
        self._observe(updated.get("spec") or {})
        return True

    async def _create(self, now: datetime) -> bool:
        cfg = self.config
        lease = {
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": cfg.name, "namespace": cfg.namespace},
            "spec": {"holderIdentity": cfg.identity,
                     "leaseDurationSeconds": cfg.lease_duration_seconds,
                     "acquireTime": micro_time(now), "renewTime": micro_time(now),
                     "leaseTransitions": 0},
        }
        try:
            created = await self.client.create(LEASES, lease, cfg.namespace)
        except (AlreadyExistsError, ConflictError):
            return False
        self._lease = created
        self._observe(created.get("spec") or {})
        return True

    def _observe(self, spec: dict[str, Any]) -> None:
        if spec != self._observed:
            self._observed = dict(spec)
            self._observed_time = self._clock()
        holder = str(spec.get("holderIdentity") or "")
        if holder and holder != self._reported_leader:
            self._reported_leader = holder
            if self.on_new_leader is not None:
                try:
                    result = self.on_new_leader(holder)
                    if inspect.isawaitable(result):
                        task = asyncio.ensure_future(result)
                        self._callbacks.add(task)
                        task.add_done_callback(self._callbacks.discard)
                except Exception:
                    log.exception("on_new_leader failed")

    async def _release(self) -> None:
        """Give the lease up: empty holder, 1 s duration (client-go's release)."""
        cfg = self.config
        lease = self._lease
        if lease is None:
            return
        released = copy.deepcopy(lease)
        spec: dict[str, Any] = released.setdefault("spec", {})
        if spec.get("holderIdentity") != cfg.identity:
            return
        now = micro_time()
        spec.update({"holderIdentity": "", "leaseDurationSeconds": 1, "renewTime": now,
                     "acquireTime": now})
        try:
            async with asyncio.timeout(cfg.renew_deadline):
                self._lease = await self.client.update(LEASES, released, cfg.namespace)
        except (ClientError, TimeoutError) as err:
            log.info("%s: could not release lease %s/%s: %s", cfg.identity, cfg.namespace,
                     cfg.name, err)


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
