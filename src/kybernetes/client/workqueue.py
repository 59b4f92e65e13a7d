"""Work queues for controllers, with client-go's `util/workqueue` semantics, on asyncio.

A controller's informer handlers `add` keys; its workers `get` a key, reconcile it, and call
`done` (and `forget` on success or `add_rate_limited` on failure). The guarantees that make
this safe are client-go's:

- **Dedup**: a key already waiting is not queued twice, however often it is added.
- **No concurrent processing of one key**: a key handed to a worker is "processing" until
  `done`; adding it meanwhile marks it dirty, and it is queued again only at `done`, so two
  workers never reconcile the same object at once and no change is lost.
- **Delays**: `add_after(key, delay)` parks the key in a timer heap (dedup'd, the earliest
  deadline wins) and adds it when due; one `loop.call_at` timer serves the whole heap.
- **Rate limiting**: `add_rate_limited(key)` asks the queue's `RateLimiter` how long to wait.
  The default is client-go's `DefaultControllerRateLimiter`: the larger of a per-item
  exponential backoff (5 ms doubling to 1000 s) and an overall token bucket (10 qps, burst
  100). `forget(key)` clears the key's failure count; `num_requeues(key)` reads it.
- **Shutdown**: `shutdown()` stops accepting adds and wakes every waiting `get` (which then
  raises `ShutDown` once the queue is empty); `shutdown_with_drain()` also waits for the
  keys being processed to be `done`.

A named queue records client-go's `workqueue_*` metrics by `name` (depth, adds, time
queued, time worked, retries, unfinished work) on `METRICS_REGISTRY`, one registry for the
process as client-go's global provider; the controller manager serves it on `/metrics`.

Everything but `get` and `shutdown_with_drain` is synchronous, so plain-function informer
handlers can enqueue. `run_worker` is the standard worker loop around a `sync(key)`
coroutine.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Iterator
from typing import Generic, Protocol, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from kybernetes.client.ratelimit import TokenBucket
from kybernetes.client.rest import ClientError

log = logging.getLogger(__name__)

T = TypeVar("T", bound=Hashable)
K = TypeVar("K", bound=Hashable, contravariant=True)


class ShutDown(Exception):
    """The queue is shut down and empty."""


# ----------------------------------------------------------------------------- rate limiters


class RateLimiter(Protocol[K]):
    def when(self, item: K) -> float:
        """Seconds to wait before the item is retried; records a failure."""
        ...

    def forget(self, item: K) -> None:
        """The item succeeded: stop tracking it."""
        ...

    def num_requeues(self, item: K) -> int:
        ...


class ItemExponentialFailureRateLimiter(Generic[T]):
    """`base * 2**failures`, capped at `cap` (client-go: 5 ms .. 1000 s)."""

    def __init__(self, base_delay: float = 0.005, max_delay: float = 1000.0) -> None:
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._failures: dict[T, int] = {}

    def when(self, item: T) -> float:
        failures = self._failures.get(item, 0)
        self._failures[item] = failures + 1
        if failures > 62:  # 2**63 overflows any sane cap anyway
            return self.max_delay
        return min(self.base_delay * float(2 ** failures), self.max_delay)

    def forget(self, item: T) -> None:
        self._failures.pop(item, None)

    def num_requeues(self, item: T) -> int:
        return self._failures.get(item, 0)


class ItemFastSlowRateLimiter(Generic[T]):
    """`fast_delay` for the first `max_fast_attempts` failures, then `slow_delay`."""

    def __init__(self, fast_delay: float, slow_delay: float, max_fast_attempts: int) -> None:
        self.fast_delay = fast_delay
        self.slow_delay = slow_delay
        self.max_fast_attempts = max_fast_attempts
        self._failures: dict[T, int] = {}

    def when(self, item: T) -> float:
        failures = self._failures.get(item, 0) + 1
        self._failures[item] = failures
        return self.fast_delay if failures <= self.max_fast_attempts else self.slow_delay

    def forget(self, item: T) -> None:
        self._failures.pop(item, None)

    def num_requeues(self, item: T) -> int:
        return self._failures.get(item, 0)


class BucketRateLimiter(Generic[T]):
    """An overall token bucket shared by all items (client-go: 10 qps, burst 100)."""

    def __init__(self, qps: float = 10.0, burst: int = 100,
                 bucket: TokenBucket | None = None) -> None:
        self.bucket = bucket or TokenBucket(qps, burst)

    def when(self, item: T) -> float:
        return self.bucket.reserve()

    def forget(self, item: T) -> None:
        pass

    def num_requeues(self, item: T) -> int:
        return 0


class MaxOfRateLimiter(Generic[T]):
    """The longest delay of several limiters (each one records the failure)."""

    def __init__(self, *limiters: RateLimiter[T]) -> None:
        self.limiters = limiters

    def when(self, item: T) -> float:
        return max((limiter.when(item) for limiter in self.limiters), default=0.0)

    def forget(self, item: T) -> None:
        for limiter in self.limiters:
            limiter.forget(item)

    def num_requeues(self, item: T) -> int:
        return max((limiter.num_requeues(item) for limiter in self.limiters), default=0)


def default_controller_rate_limiter() -> MaxOfRateLimiter[T]:
    """client-go's `DefaultControllerRateLimiter`: per-item 5 ms..1000 s exponential, and
    an overall 10 qps / burst 100 bucket."""
    return MaxOfRateLimiter(ItemExponentialFailureRateLimiter(0.005, 1000.0),
                            BucketRateLimiter(10.0, 100))


# ----------------------------------------------------------------------------- metrics

METRICS_REGISTRY = CollectorRegistry(auto_describe=True)
_DURATION_BUCKETS = tuple(1e-8 * 10 ** i for i in range(10))  # client-go: 10ns .. 10s
_DEPTH = Gauge("workqueue_depth", "[ALPHA] Current depth of workqueue", ["name"],
               registry=METRICS_REGISTRY)
_ADDS = Counter("workqueue_adds", "[ALPHA] Total number of adds handled by workqueue",
                ["name"], registry=METRICS_REGISTRY)
_QUEUE_LATENCY = Histogram(
    "workqueue_queue_duration_seconds", "[ALPHA] How long in seconds an item stays in "
    "workqueue before being requested.", ["name"], buckets=_DURATION_BUCKETS,
    registry=METRICS_REGISTRY)
_WORK_DURATION = Histogram(
    "workqueue_work_duration_seconds", "[ALPHA] How long in seconds processing an item from "
    "workqueue takes.", ["name"], buckets=_DURATION_BUCKETS, registry=METRICS_REGISTRY)
_RETRIES = Counter("workqueue_retries", "[ALPHA] Total number of retries handled by "
                   "workqueue", ["name"], registry=METRICS_REGISTRY)


class _QueueMetrics:
    """One named queue's children of the `workqueue_*` series, and when each waiting key was
    added and each processing key was handed out."""

    live: dict[str, _QueueMetrics] = {}

    def __init__(self, name: str) -> None:
        self.name = name
        self.depth = _DEPTH.labels(name)
        self.adds = _ADDS.labels(name)
        self.queue_latency = _QUEUE_LATENCY.labels(name)
        self.work_duration = _WORK_DURATION.labels(name)
        self.retries = _RETRIES.labels(name)
        self.added: dict[Hashable, float] = {}
        self.started: dict[Hashable, float] = {}
        _QueueMetrics.live[name] = self

    def add(self, item: Hashable) -> None:
        self.adds.inc()
        self.depth.inc()
        self.added.setdefault(item, time.monotonic())

    def get(self, item: Hashable) -> None:
        self.depth.dec()
        now = time.monotonic()
        added = self.added.pop(item, None)
        if added is not None:
            self.queue_latency.observe(now - added)
        self.started[item] = now

    def done(self, item: Hashable) -> None:
        started = self.started.pop(item, None)
        if started is not None:
            self.work_duration.observe(time.monotonic() - started)


class _InProgressCollector:
    """`workqueue_unfinished_work_seconds` and `workqueue_longest_running_processor_seconds`,
    read from the keys being processed at scrape time."""

    def collect(self) -> Iterator[Metric]:
        unfinished = GaugeMetricFamily(
            "workqueue_unfinished_work_seconds", "[ALPHA] How many seconds of work has done "
            "that is in progress and hasn't been observed by work_duration.", labels=["name"])
        longest = GaugeMetricFamily(
            "workqueue_longest_running_processor_seconds", "[ALPHA] How many seconds has the "
            "longest running processor for workqueue been running.", labels=["name"])
        now = time.monotonic()
        for name, metrics in list(_QueueMetrics.live.items()):
            ages = [now - started for started in metrics.started.values()]
            unfinished.add_metric([name], sum(ages))
            longest.add_metric([name], max(ages, default=0.0))
        yield unfinished
        yield longest


METRICS_REGISTRY.register(_InProgressCollector())


# ----------------------------------------------------------------------------- queues


class WorkQueue(Generic[T]):
    """A FIFO of distinct keys, each processed by at most one worker at a time."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self._queue: deque[T] = deque()
        self._dirty: set[T] = set()
        self._processing: set[T] = set()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._shutting_down = False
        self._drained: asyncio.Event | None = None
        self.adds = 0
        self._metrics = _QueueMetrics(name) if name else None

    def __len__(self) -> int:
        """Keys waiting to be handed out (not counting those being processed)."""
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    @property
    def processing(self) -> int:
        return len(self._processing)

    def add(self, item: T) -> None:
        if self._shutting_down or item in self._dirty:
            return
        self.adds += 1
        self._dirty.add(item)
        if item in self._processing:
            return  # queued again at done()
        self._queue.append(item)
        if self._metrics is not None:
            self._metrics.add(item)
        self._wake_one()

    async def get(self) -> T:
        """The next key (now processing: call `done` when finished). Raises `ShutDown`
        once the queue is shut down and empty."""
        while not self._queue:
            if self._shutting_down:
                raise ShutDown(self.name)
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()  # pass the wake-up we got to another getter
                else:
                    with contextlib.suppress(ValueError):
                        self._waiters.remove(waiter)
                raise
        item = self._queue.popleft()
        self._processing.add(item)
        self._dirty.discard(item)
        if self._metrics is not None:
            self._metrics.get(item)
        return item

    def done(self, item: T) -> None:
        """The worker is finished with `item`; if it was added meanwhile, queue it again."""
        self._processing.discard(item)
        if self._metrics is not None:
            self._metrics.done(item)
        if item in self._dirty:
            self._queue.append(item)
            if self._metrics is not None:
                self._metrics.add(item)
            self._wake_one()
        elif not self._processing and self._drained is not None:
            self._drained.set()

    def shutdown(self) -> None:
        """Stop accepting keys; waiting `get`s raise `ShutDown` once the queue is empty."""
        self._shutting_down = True
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    async def shutdown_with_drain(self) -> None:
        """Shut down, then wait until every key being processed is `done`."""
        self.shutdown()
        if self._processing:
            self._drained = asyncio.Event()
            await self._drained.wait()

    def _wake_one(self) -> None:
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


class DelayingQueue(WorkQueue[T]):
    """A work queue with `add_after`."""

    def __init__(self, name: str = "") -> None:
        super().__init__(name)
        self._heap: list[tuple[float, int, T]] = []
        self._deadlines: dict[T, float] = {}
        self._counter = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    def add_after(self, item: T, delay: float) -> None:
        """Add `item` after `delay` seconds (at once if `delay <= 0`). If it is already
        waiting, the earlier deadline wins."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(item)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + delay
        current = self._deadlines.get(item)
        if current is not None and current <= deadline:
            return
        self._deadlines[item] = deadline
        heapq.heappush(self._heap, (deadline, next(self._counter), item))
        if self._timer is None or deadline < self._timer_at:
            self._arm(loop, deadline)

    @property
    def waiting(self) -> int:
        """Keys parked until their deadline."""
        return len(self._deadlines)

    def _arm(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = loop.call_at(deadline, self._fire)

    def _fire(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, _, item = heapq.heappop(heap)
            if self._deadlines.get(item) == deadline:
                del self._deadlines[item]
                self.add(item)
        if heap:
            self._arm(loop, heap[0][0])

    def shutdown(self) -> None:
        super().shutdown()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._heap.clear()
        self._deadlines.clear()


class RateLimitingQueue(DelayingQueue[T]):
    """A delaying queue with per-key retry backoff (`add_rate_limited`, `forget`)."""

    def __init__(self, rate_limiter: RateLimiter[T] | None = None, name: str = "") -> None:
        super().__init__(name)
        self.rate_limiter: RateLimiter[T] = rate_limiter or default_controller_rate_limiter()

    def add_rate_limited(self, item: T) -> None:
        """Add `item` after the delay the rate limiter says (backoff on failures)."""
        if self._metrics is not None:
            self._metrics.retries.inc()
        self.add_after(item, self.rate_limiter.when(item))

    def forget(self, item: T) -> None:
        """Stop tracking `item`'s failures (call after it was processed successfully)."""
        self.rate_limiter.forget(item)

    def num_requeues(self, item: T) -> int:
        return self.rate_limiter.num_requeues(item)


async def run_worker(queue: RateLimitingQueue[T], sync: Callable[[T], Awaitable[None]], *,
                     max_retries: int | None = None, name: str = "") -> None:
    """The controller worker loop: take a key, `await sync(key)`; on success `forget` it,
    on an exception retry it rate-limited (dropped after `max_retries` retries, if set);
    always `done`. Returns when the queue shuts down."""
    label = name or queue.name or "worker"
    while True:
        try:
            item = await queue.get()
        except ShutDown:
            return
        try:
            await sync(item)
        except asyncio.CancelledError:
            queue.done(item)
            raise
        except Exception as err:
            if max_retries is not None and queue.num_requeues(item) >= max_retries:
                log.warning("%s: dropping %r after %d retries: %s", label, item,
                            max_retries, err)
                queue.forget(item)
            else:
                log.info("%s: error syncing %r (will retry): %s", label, item, err,
                         exc_info=not isinstance(err, ClientError))
                queue.add_rate_limited(item)
        else:
            queue.forget(item)
        queue.done(item)
