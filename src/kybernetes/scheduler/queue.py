"""The scheduling queue (upstream's `PriorityQueue`,
`pkg/scheduler/backend/queue/scheduling_queue.go`) and the nominator.

Three places a pending pod can be:

- **activeQ**: a heap ordered by the profile's QueueSort (PrioritySort: higher priority
  first, then the earlier queued); `pop()` takes from here.
- **backoffQ**: pods that failed and are waiting out their backoff, a heap by expiry. The
  backoff doubles per attempt from `pod_initial_backoff` (1 s) to `pod_max_backoff` (10 s);
  a timer moves each pod to activeQ when its time is up.
- **unschedulable**: pods no node could take, waiting for a cluster event that might change
  that. Each remembers the plugins that rejected it; an event (node added, pod deleted, ...)
  moves a pod only if one of those plugins registered for it and its queueing hint says
  Queue (to backoffQ while still backing off, else to activeQ). Pods left here for
  `pod_max_in_unschedulable` (5 minutes) are retried anyway. Pods failing with an error
  (not a rejection) go straight to backoffQ. Gated pods (PreEnqueue, e.g. scheduling
  gates) also wait here until an update ungates them.

A pod popped but not yet `done` is **in flight**; cluster events arriving meanwhile are
recorded, and if the pod comes back unschedulable they are replayed against it, so an event
that happened during its cycle is not lost (upstream's in-flight events, which replaced the
older "moveRequestCycle"). The scheduling cycle of this scheduler never yields, so in
practice only binding cycles overlap with events.

The **nominator** remembers pods nominated to nodes (`status.nominatedNodeName`, or set by
preemption), which filters count on those nodes for pods of lower or equal priority.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kybernetes.scheduler.interface import (
    FORCE_ACTIVATE,
    QUEUE_SKIP,
    UNSCHEDULABLE_TIMEOUT,
    ClusterEvent,
    ClusterEventWithHint,
    EventResource,
    NominatingInfo,
    NominatingMode,
)
from kybernetes.scheduler.podinfo import PodInfo

log = logging.getLogger(__name__)

Obj = dict[str, Any]

DEFAULT_INITIAL_BACKOFF = 1.0
DEFAULT_MAX_BACKOFF = 10.0
DEFAULT_MAX_IN_UNSCHEDULABLE = 300.0
UNSCHEDULABLE_FLUSH_PERIOD = 30.0

# Strategies, in increasing precedence (upstream's queueingStrategy).
QUEUE_SKIP_STRATEGY, QUEUE_AFTER_BACKOFF, QUEUE_IMMEDIATELY = 0, 1, 2


@dataclass(eq=False)
class QueuedPodInfo:
    pod_info: PodInfo
    timestamp: float
    attempts: int = 0
    initial_attempt_timestamp: float | None = None
    # When the current scheduling cycle began (the attempt's duration metric).
    cycle_start: float = 0.0
    unschedulable_plugins: set[str] = field(default_factory=set)
    pending_plugins: set[str] = field(default_factory=set)
    gated: bool = False
    gating_plugin: str = ""

    @property
    def key(self) -> str:
        return self.pod_info.key

    @property
    def pod(self) -> Obj:
        return self.pod_info.pod


class Nominator:
    """Pods nominated to nodes."""

    def __init__(self) -> None:
        self._by_node: dict[str, dict[str, PodInfo]] = {}
        self._node_of: dict[str, str] = {}

    def add(self, pi: PodInfo, info: NominatingInfo | None = None) -> None:
        """Record the pod's nomination: from `info` when it overrides, else from the pod's
        status.nominatedNodeName (a pod bound already is never nominated)."""
        self.delete(pi)
        if pi.node_name:
            return
        if info is not None and info.mode is NominatingMode.OVERRIDE:
            node = info.nominated_node_name
        else:
            node = (pi.pod.get("status") or {}).get("nominatedNodeName") or ""
        if not node:
            return
        self._node_of[pi.key] = node
        self._by_node.setdefault(node, {})[pi.key] = pi

    def delete(self, pi: PodInfo) -> None:
        node = self._node_of.pop(pi.key, None)
        if node is None:
            return
        pods = self._by_node.get(node)
        if pods is not None:
            pods.pop(pi.key, None)
            if not pods:
                del self._by_node[node]

    delete_nominated_pod = delete

    def update(self, old: PodInfo | None, new: PodInfo) -> None:
        """A pod update keeps a nomination made by this scheduler unless the new object
        states its own (upstream's UpdateNominatedPod)."""
        info = None
        if old is not None and not (new.pod.get("status") or {}).get("nominatedNodeName"):
            node = self._node_of.get(new.key)
            if node:
                info = NominatingInfo(node, NominatingMode.OVERRIDE)
        self.add(new, info)

    def nominated_pods_for_node(self, node: str) -> list[PodInfo]:
        return list(self._by_node.get(node, {}).values())

    def node_of(self, key: str) -> str:
        return self._node_of.get(key, "")

    def nodes(self) -> Iterable[str]:
        return self._by_node.keys()


Hinted = tuple[str, ClusterEventWithHint]


class SchedulingQueue:
    def __init__(self, *, sort_key: Callable[[QueuedPodInfo], Any],
                 pre_enqueue: Mapping[str, Callable[[PodInfo], Any]] | None = None,
                 events: Mapping[str, list[Hinted]] | None = None,
                 initial_backoff: float = DEFAULT_INITIAL_BACKOFF,
                 max_backoff: float = DEFAULT_MAX_BACKOFF,
                 max_in_unschedulable: float = DEFAULT_MAX_IN_UNSCHEDULABLE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """`pre_enqueue` and `events` are per profile (scheduler name): the PreEnqueue
        runner and the (plugin, event with hint) registrations."""
        self.sort_key = sort_key
        self.pre_enqueue = dict(pre_enqueue or {})
        self.events = {name: list(hints) for name, hints in (events or {}).items()}
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.max_in_unschedulable = max_in_unschedulable
        self.clock = clock
        self.nominator = Nominator()
        self._seq = itertools.count()
        self._active: list[tuple[Any, int, str]] = []
        self._active_items: dict[str, tuple[int, QueuedPodInfo]] = {}
        self._backoff: list[tuple[float, int, str]] = []
        self._backoff_items: dict[str, tuple[int, QueuedPodInfo]] = {}
        self.unschedulable: dict[str, QueuedPodInfo] = {}
        self._unschedulable_since: dict[str, float] = {}
        self._in_flight: dict[str, int] = {}
        self._in_flight_events: list[tuple[ClusterEvent, Obj | None, Obj | None]] = []
        self._events_base = 0
        self._wakeup = asyncio.Event()
        self._timer_wakeup = asyncio.Event()
        self._closed = False
        self.scheduling_cycle = 0
        self._timer: asyncio.Task[None] | None = None

    # -- sizes ---------------------------------------------------------------------------

    @property
    def active_count(self) -> int:
        return len(self._active_items)

    @property
    def backoff_count(self) -> int:
        return len(self._backoff_items)

    @property
    def unschedulable_count(self) -> int:
        return len(self.unschedulable)

    def __len__(self) -> int:
        return self.active_count + self.backoff_count + self.unschedulable_count

    def __contains__(self, key: object) -> bool:
        return key in self._active_items or key in self._backoff_items or \
            key in self.unschedulable

    def get(self, key: str) -> QueuedPodInfo | None:
        for items in (self._active_items, self._backoff_items):
            found = items.get(key)
            if found is not None:
                return found[1]
        return self.unschedulable.get(key)

    # -- adding --------------------------------------------------------------------------

    def _push_active(self, qpi: QueuedPodInfo) -> None:
        seq = next(self._seq)
        self._active_items[qpi.key] = (seq, qpi)
        heapq.heappush(self._active, (self.sort_key(qpi), seq, qpi.key))
        self._wakeup.set()

    def _push_backoff(self, qpi: QueuedPodInfo) -> None:
        seq = next(self._seq)
        self._backoff_items[qpi.key] = (seq, qpi)
        expiry = self.backoff_expiry(qpi)
        heapq.heappush(self._backoff, (expiry, seq, qpi.key))
        if self._backoff[0][1] == seq:
            self._timer_wakeup.set()

    def _remove(self, key: str) -> QueuedPodInfo | None:
        for items in (self._active_items, self._backoff_items):
            found = items.pop(key, None)
            if found is not None:
                return found[1]
        self._unschedulable_since.pop(key, None)
        return self.unschedulable.pop(key, None)

    def _to_unschedulable(self, qpi: QueuedPodInfo) -> None:
        self.unschedulable[qpi.key] = qpi
        self._unschedulable_since[qpi.key] = self.clock()

    def _move_to_active(self, qpi: QueuedPodInfo) -> bool:
        """Into activeQ unless a PreEnqueue plugin gates it (then into unschedulable)."""
        runner = self.pre_enqueue.get(qpi.pod_info.scheduler_name)
        status = runner(qpi.pod_info) if runner is not None else None
        if status is not None and getattr(status, "code", 0) != 0:
            qpi.gated = True
            qpi.gating_plugin = getattr(status, "plugin", "")
            qpi.unschedulable_plugins = {qpi.gating_plugin} if qpi.gating_plugin else set()
            self._to_unschedulable(qpi)
            return False
        qpi.gated = False
        self._push_active(qpi)
        return True

    def add(self, pi: PodInfo) -> None:
        """A new pending pod."""
        if self._closed or pi.key in self or pi.key in self._in_flight:
            return
        qpi = QueuedPodInfo(pi, self.clock())
        self.nominator.add(pi)
        self._move_to_active(qpi)

    def update(self, old: PodInfo | None, new: PodInfo, action: Any = None) -> None:
        """A pending pod changed; `action` is its ActionType (what changed)."""
        key = new.key
        if key in self._in_flight:
            if action is not None:
                self._record(ClusterEvent(EventResource.POD, action, "UnscheduledPodUpdate"),
                             old.pod if old else None, new.pod)
            self.nominator.update(old, new)
            return
        for items in (self._active_items, self._backoff_items):
            found = items.get(key)
            if found is not None:
                found[1].pod_info = new
                self.nominator.update(old, new)
                if items is self._active_items:
                    # The sort key may have changed (priority): re-push.
                    items.pop(key)
                    self._push_active(found[1])
                return
        qpi = self.unschedulable.get(key)
        if qpi is not None:
            qpi.pod_info = new
            self.nominator.update(old, new)
            if action is None:
                return
            event = ClusterEvent(EventResource.POD, action, "UnscheduledPodUpdate")
            strategy = self._worth_requeuing(qpi, event, old.pod if old else None, new.pod)
            if strategy != QUEUE_SKIP_STRATEGY:
                del self.unschedulable[key]
                self._unschedulable_since.pop(key, None)
                self._requeue(qpi, strategy)
            return
        self.add(new)

    def delete(self, pi: PodInfo) -> None:
        self.nominator.delete(pi)
        self._remove(pi.key)

    # -- popping -------------------------------------------------------------------------

    async def pop(self) -> QueuedPodInfo:
        """The next pod to schedule; waits while activeQ is empty."""
        while True:
            while self._active:
                _sort, seq, key = heapq.heappop(self._active)
                found = self._active_items.get(key)
                if found is None or found[0] != seq:
                    continue
                del self._active_items[key]
                qpi = found[1]
                self.scheduling_cycle += 1
                qpi.attempts += 1
                if qpi.initial_attempt_timestamp is None:
                    qpi.initial_attempt_timestamp = self.clock()
                if not self._in_flight:
                    self._in_flight_events.clear()
                    self._events_base = 0
                self._in_flight[key] = self._events_base + len(self._in_flight_events)
                return qpi
            if self._closed:
                raise asyncio.CancelledError("the scheduling queue is closed")
            self._wakeup.clear()
            await self._wakeup.wait()

    def done(self, key: str) -> None:
        """The pod's scheduling (or binding) finished."""
        self._in_flight.pop(key, None)
        if not self._in_flight:
            self._in_flight_events.clear()
            self._events_base = 0

    def _record(self, event: ClusterEvent, old: Obj | None, new: Obj | None) -> None:
        if not self._in_flight or not self.interested(event):
            return
        events = self._in_flight_events
        events.append((event, old, new))
        if len(events) > 4096:
            # Forget what every pod still in flight has already seen.
            drop = min(self._in_flight.values()) - self._events_base
            if drop > 0:
                del events[:drop]
                self._events_base += drop

    # -- failures ------------------------------------------------------------------------

    def backoff_duration(self, qpi: QueuedPodInfo) -> float:
        if qpi.attempts == 0:
            return 0.0  # never tried (e.g. gated): no penalty, as upstream
        duration = self.initial_backoff
        for _ in range(1, qpi.attempts):
            duration *= 2
            if duration >= self.max_backoff:
                return self.max_backoff
        return min(duration, self.max_backoff)

    def backoff_expiry(self, qpi: QueuedPodInfo) -> float:
        return qpi.timestamp + self.backoff_duration(qpi)

    def is_backing_off(self, qpi: QueuedPodInfo) -> bool:
        return self.backoff_expiry(qpi) > self.clock()

    def add_unschedulable_if_not_present(self, qpi: QueuedPodInfo) -> str:
        """A pod the scheduler could not place (or failed to bind) comes back; returns
        the queue it went to ("active", "backoff" or "unschedulable")."""
        key = qpi.key
        start = self._in_flight.pop(key, None)
        if key in self or self._closed:
            self.done(key)
            return "present"
        qpi.timestamp = self.clock()
        strategy = self._hint_for_in_flight(qpi, start)
        self.done(key)
        return self._requeue(qpi, strategy)

    def _hint_for_in_flight(self, qpi: QueuedPodInfo, start: int | None) -> int:
        if not (qpi.unschedulable_plugins or qpi.pending_plugins):
            return QUEUE_AFTER_BACKOFF
        strategy = QUEUE_SKIP_STRATEGY
        if start is not None:
            for event, old, new in self._in_flight_events[start - self._events_base:]:
                hint = self._worth_requeuing(qpi, event, old, new)
                if hint == QUEUE_IMMEDIATELY:
                    return hint
                strategy = max(strategy, hint)
        return strategy

    def _requeue(self, qpi: QueuedPodInfo, strategy: int) -> str:
        if strategy == QUEUE_SKIP_STRATEGY:
            self._to_unschedulable(qpi)
            return "unschedulable"
        if strategy == QUEUE_AFTER_BACKOFF and self.is_backing_off(qpi):
            self._push_backoff(qpi)
            return "backoff"
        return "active" if self._move_to_active(qpi) else "unschedulable"

    def _worth_requeuing(self, qpi: QueuedPodInfo, event: ClusterEvent, old: Obj | None,
                         new: Obj | None) -> int:
        """Upstream's isPodWorthRequeuing."""
        rejectors = qpi.unschedulable_plugins | qpi.pending_plugins
        if not rejectors:
            return QUEUE_AFTER_BACKOFF
        if event.resource is EventResource.WILDCARD:
            return QUEUE_AFTER_BACKOFF
        strategy = QUEUE_SKIP_STRATEGY
        for plugin, registered in self.events.get(qpi.pod_info.scheduler_name, ()):
            if plugin not in rejectors or not registered.event.matches(event):
                continue
            try:
                hint = registered.hint(qpi.pod_info, old, new) if registered.hint else None
            except Exception:
                log.exception("queueing hint of %s failed", plugin)
                hint = None
            if hint is QUEUE_SKIP:
                continue
            if plugin in qpi.pending_plugins:
                return QUEUE_IMMEDIATELY
            if not qpi.pending_plugins:
                return QUEUE_AFTER_BACKOFF
            strategy = QUEUE_AFTER_BACKOFF
        return strategy

    # -- cluster events ------------------------------------------------------------------

    def interested(self, event: ClusterEvent) -> bool:
        """Whether any plugin of any profile registered for this event."""
        if event.resource is EventResource.WILDCARD:
            return True
        return any(registered.event.matches(event)
                   for hints in self.events.values() for _p, registered in hints)

    def move_all_on_event(self, event: ClusterEvent, old: Obj | None = None,
                          new: Obj | None = None,
                          only: Callable[[QueuedPodInfo], bool] | None = None) -> int:
        """Upstream's MoveAllToActiveOrBackoffQueue: returns how many pods moved."""
        self._record(event, old, new)
        if not self.unschedulable or not self.interested(event):
            return 0
        moved = 0
        for key, qpi in list(self.unschedulable.items()):
            if only is not None and not only(qpi):
                continue
            strategy = self._worth_requeuing(qpi, event, old, new)
            if strategy == QUEUE_SKIP_STRATEGY:
                continue
            del self.unschedulable[key]
            self._unschedulable_since.pop(key, None)
            where = self._requeue(qpi, strategy)
            moved += where != "unschedulable"
        return moved

    def activate(self, keys: Iterable[str]) -> None:
        for key in keys:
            qpi = self.unschedulable.pop(key, None)
            if qpi is None:
                found = self._backoff_items.pop(key, None)
                qpi = found[1] if found else None
            if qpi is not None:
                self._unschedulable_since.pop(key, None)
                self._move_to_active(qpi)
        self._record(FORCE_ACTIVATE, None, None)

    # -- timers --------------------------------------------------------------------------

    def flush_backoff_completed(self) -> float | None:
        """Move pods whose backoff is over to activeQ; returns the next expiry."""
        now = self.clock()
        while self._backoff:
            expiry, seq, key = self._backoff[0]
            found = self._backoff_items.get(key)
            if found is None or found[0] != seq:
                heapq.heappop(self._backoff)
                continue
            if expiry > now:
                return expiry
            heapq.heappop(self._backoff)
            del self._backoff_items[key]
            self._move_to_active(found[1])
        return None

    def flush_unschedulable_leftover(self) -> int:
        now = self.clock()
        stale = [key for key, since in self._unschedulable_since.items()
                 if now - since > self.max_in_unschedulable]
        moved = 0
        for key in stale:
            qpi = self.unschedulable.pop(key, None)
            self._unschedulable_since.pop(key, None)
            if qpi is not None:
                self._requeue(qpi, QUEUE_AFTER_BACKOFF)
                moved += 1
        if stale:
            self._record(UNSCHEDULABLE_TIMEOUT, None, None)
        return moved

    def start(self) -> None:
        if self._timer is None:
            self._timer = asyncio.create_task(self._run_timers(), name="scheduling-queue")

    async def _run_timers(self) -> None:
        last_flush = self.clock()
        while True:
            next_expiry = self.flush_backoff_completed()
            now = self.clock()
            if now - last_flush >= UNSCHEDULABLE_FLUSH_PERIOD:
                self.flush_unschedulable_leftover()
                last_flush = now
            wait = UNSCHEDULABLE_FLUSH_PERIOD - (now - last_flush)
            if next_expiry is not None:
                wait = min(wait, max(0.0, next_expiry - now))
            self._timer_wakeup.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._timer_wakeup.wait()

    async def close(self) -> None:
        self._closed = True
        self._wakeup.set()
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
            self._timer = None
