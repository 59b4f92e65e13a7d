"""`EventRecorder`: core/v1 Events about objects, written as client-go's `tools/record` does.

Controllers call `recorder.event(obj, "Normal", "ScalingReplicaSet", "Scaled up ...")` from
their sync loops; that call only appends to an in-memory queue and returns, because
recording must never slow down or fail a reconcile. A background task drains the queue
through upstream's `EventCorrelator`, in three steps:

1. **Spam filter**: a token bucket per (source, involved object) — burst 25, refilled one
   token per 5 minutes — drops events from an object that is flooding. (Upstream's default
   `EventSourceObjectSpamFilter`.)
2. **Aggregation of similar events**: when the same object and reason produce 10 different
   messages within 10 minutes, later ones are folded into a single event whose message
   reads `(combined from similar events): <latest message>` (upstream's `EventAggregator`).
3. **Deduplication**: a repeat of the same (object, type, reason, message) does not create a
   new Event; the existing one is PATCHed with `count + 1` and a new `lastTimestamp`
   (upstream's `eventLogger`). If that Event has meanwhile been deleted (events expire
   after an hour in upstream), it is created again under the same name.

Caches are LRUs of 4096 entries, as upstream. Events are named `<object name>.<hex
nanoseconds>` in the involved object's namespace (`default` for cluster-scoped objects).
Failed writes are retried a few times with backoff when the failure is transient (network,
429, 5xx); other failures are logged and the event dropped. `flush()` waits until everything
recorded so far has been written (tests, graceful shutdown); the queue holds at most 1000
events and drops beyond that, as upstream's broadcaster does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from kybernetes.api import timeutil
from kybernetes.client.ratelimit import TokenBucket
from kybernetes.client.rest import (
    ApiClient,
    ApiConnectionError,
    ClientError,
    NotFoundError,
    Obj,
    ServerError,
    TooManyRequestsError,
    resource,
)

log = logging.getLogger(__name__)

EVENTS = resource("", "v1", "events")
EventType = Literal["Normal", "Warning"]
NORMAL: EventType = "Normal"
WARNING: EventType = "Warning"

# Upstream's correlator defaults (k8s.io/client-go/tools/record/events_cache.go).
MAX_LRU_ENTRIES = 4096
SPAM_BURST = 25
SPAM_QPS = 1.0 / 300.0
AGGREGATE_MAX_EVENTS = 10
AGGREGATE_INTERVAL = 600.0
MAX_QUEUED_EVENTS = 1000
_WRITE_ATTEMPTS = 4
_COMBINED = "(combined from similar events): "

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _Lru(Generic[K, V]):
    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        if len(self._data) > self.size:
            self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)


@dataclass
class _Logged:
    """What we know about an Event already written."""

    name: str
    namespace: str
    count: int
    first_timestamp: str


@dataclass
class _Similar:
    messages: set[str]
    since: float


def object_reference(obj: Obj) -> dict[str, Any]:
    """An ObjectReference to `obj` (an object, or already a reference)."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return {k: v for k, v in obj.items() if k in (
            "kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")}
    ref: dict[str, Any] = {"kind": obj.get("kind", ""), "name": meta.get("name", "")}
    if meta.get("namespace"):
        ref["namespace"] = meta["namespace"]
    for source, target in (("uid", "uid"), ("resourceVersion", "resourceVersion")):
        if meta.get(source):
            ref[target] = meta[source]
    if obj.get("apiVersion"):
        ref["apiVersion"] = obj["apiVersion"]
    return ref


class EventRecorder:
    """Record Events for `component` (and `host`, the node name for node agents)."""

    def __init__(self, client: ApiClient, component: str, host: str = "", *,
                 spam_burst: int = SPAM_BURST, spam_qps: float = SPAM_QPS,
                 max_queued: int = MAX_QUEUED_EVENTS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.component = component
        self.host = host
        self.spam_burst = spam_burst
        self.spam_qps = spam_qps
        self._clock = clock
        self._queue: asyncio.Queue[tuple[dict[str, Any], EventType, str, str, str]] = \
            asyncio.Queue(max_queued)
        self._task: asyncio.Task[None] | None = None
        self._spam: _Lru[tuple[str, ...], TokenBucket] = _Lru(MAX_LRU_ENTRIES)
        self._similar: _Lru[tuple[str, ...], _Similar] = _Lru(MAX_LRU_ENTRIES)
        self._logged: _Lru[tuple[str, ...], _Logged] = _Lru(MAX_LRU_ENTRIES)
        self.dropped = 0
        self.written = 0

    # -- recording (synchronous, never blocks) --------------------------------------------

    def event(self, obj: Obj, type: EventType, reason: str, message: str) -> None:
        """Record an event about `obj` (an object or an ObjectReference)."""
        if type not in (NORMAL, WARNING):
            log.error("unsupported event type %r (reason %s); dropped", type, reason)
            return
        ref = object_reference(obj)
        try:
            self._queue.put_nowait((ref, type, reason, message[:1024], timeutil.now_rfc3339()))
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning("event queue full; dropping %s event %s on %s/%s", type, reason,
                        ref.get("namespace", ""), ref.get("name", ""))
            return
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._drain(), name=f"events:{self.component}")

    def eventf(self, obj: Obj, type: EventType, reason: str, fmt: str, *args: Any) -> None:
        self.event(obj, type, reason, fmt % args if args else fmt)

    def normal(self, obj: Obj, reason: str, message: str) -> None:
        self.event(obj, NORMAL, reason, message)

    def warning(self, obj: Obj, reason: str, message: str) -> None:
        self.event(obj, WARNING, reason, message)

    async def flush(self) -> None:
        """Wait until every event recorded so far has been written (or dropped)."""
        await self._queue.join()

    async def aclose(self) -> None:
        """Flush, then stop the writer."""
        if self._task is not None:
            await self.flush()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # -- the writer ---------------------------------------------------------------------

    async def _drain(self) -> None:
        while True:
            ref, type, reason, message, stamp = await self._queue.get()
            try:
                await self._record(ref, type, reason, message, stamp)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("writing event %s failed", reason)
            finally:
                self._queue.task_done()

    def _source_key(self, ref: dict[str, Any]) -> tuple[str, ...]:
        return (self.component, self.host, str(ref.get("kind", "")),
                str(ref.get("namespace", "")), str(ref.get("name", "")),
                str(ref.get("uid", "")), str(ref.get("apiVersion", "")))

    def _allowed(self, source_key: tuple[str, ...]) -> bool:
        bucket = self._spam.get(source_key)
        if bucket is None:
            bucket = TokenBucket(self.spam_qps, self.spam_burst, clock=self._clock)
            self._spam.put(source_key, bucket)
        return bucket.try_take()

    def _aggregate(self, source_key: tuple[str, ...], type: str, reason: str,
                   message: str) -> str:
        key = (*source_key, type, reason)
        now = self._clock()
        similar = self._similar.get(key)
        if similar is None or now - similar.since > AGGREGATE_INTERVAL:
            similar = _Similar(set(), now)
            self._similar.put(key, similar)
        similar.messages.add(message)
        if len(similar.messages) >= AGGREGATE_MAX_EVENTS:
            return _COMBINED + message
        return message

    async def _record(self, ref: dict[str, Any], type: EventType, reason: str, message: str,
                      stamp: str) -> None:
        source_key = self._source_key(ref)
        if not self._allowed(source_key):
            self.dropped += 1
            log.debug("event %s on %s throttled", reason, ref.get("name"))
            return
        message = self._aggregate(source_key, type, reason, message)
        # The aggregated message is the same for every folded event, so all of them bump
        # one Event; the correlator keys on the combined text.
        key = (*source_key, str(ref.get("fieldPath", "")), type, reason,
               _COMBINED if message.startswith(_COMBINED) else message)
        logged = self._logged.get(key)
        namespace = str(ref.get("namespace") or "default")
        if logged is not None:
            count = logged.count + 1
            patch = {"count": count, "lastTimestamp": stamp, "message": message}
            try:
                await self._write(lambda: self.client.patch(
                    EVENTS, logged.name, patch, logged.namespace, patch_type="merge"))
            except NotFoundError:
                event = self._make(ref, type, reason, message, logged.first_timestamp, stamp,
                                   count, logged.name, logged.namespace)
                await self._write(lambda: self.client.create(EVENTS, event, logged.namespace))
            logged.count = count
            self.written += 1
            return
        name = f"{ref.get('name', '')}.{time.time_ns():x}"
        event = self._make(ref, type, reason, message, stamp, stamp, 1, name, namespace)
        await self._write(lambda: self.client.create(EVENTS, event, namespace))
        self._logged.put(key, _Logged(name, namespace, 1, stamp))
        self.written += 1

    def _make(self, ref: dict[str, Any], type: str, reason: str, message: str, first: str,
              last: str, count: int, name: str, namespace: str) -> Obj:
        source: dict[str, str] = {"component": self.component}
        if self.host:
            source["host"] = self.host
        return {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": ref, "reason": reason, "message": message, "type": type,
            "source": source, "firstTimestamp": first, "lastTimestamp": last,
            "count": count, "reportingComponent": self.component,
            "reportingInstance": self.host or self.component,
        }

    async def _write(self, call: Callable[[], Any]) -> Obj:
        delay = 0.5
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                result: Obj = await call()
                return result
            except (ApiConnectionError, TooManyRequestsError, ServerError) as err:
                if attempt == _WRITE_ATTEMPTS - 1:
                    raise
                log.info("writing event failed (%s); retrying in %.1fs", err, delay)
                await asyncio.sleep(delay)
                delay *= 2
        raise ClientError("unreachable")
