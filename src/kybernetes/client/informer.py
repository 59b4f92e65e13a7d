"""Informers: a local, always-converging copy of one resource, and events about its changes.

This is client-go's `tools/cache` (reflector + DeltaFIFO + indexer + shared informer),
folded into fewer moving parts because everything runs on one asyncio loop:

- The **reflector loop** (`Informer.run`) lists the resource (paginated, `limit=500`), replaces
  the store with the result, then watches from the list's resourceVersion with bookmarks
  on. A watch that ends normally (its `timeoutSeconds`, 5-10 minutes as client-go picks)
  is reopened from the last resourceVersion seen. A watch that breaks (server restart,
  network) is also reopened from the last resourceVersion, with backoff (0.8 s doubling to
  30 s, jittered), which costs nothing when the server still has that revision in its
  window; an answer of 410 Gone (an ERROR event or status) means the window has moved
  on, and the loop relists. Optionally (`watch_list=True`) the list is replaced by a
  streaming watch with `sendInitialEvents=true` (client-go's WatchList), the store being
  replaced at the `k8s.io/initial-events-end` bookmark.
- The **store** (`Store`) is a dict from key (`namespace/name`, or `name`) to object, plus
  indices maintained on every write: `namespace` by default, and any `IndexFunc` the caller
  registers (`field_index("spec.nodeName")` gives the scheduler's and kubelet's pods-by-node).
  There is no DeltaFIFO: the reflector applies each watch event to the store directly and
  then notifies, so the store is never behind the notifications.
- A **replace** (each relist) diffs the new list against the store and synthesises what
  the watch missed: `on_delete(last known object)` for keys that vanished, `on_add` for new
  keys, `on_update(old, new)` for keys whose resourceVersion changed, as client-go's
  `Replace` does (unchanged objects are not re-announced; periodic resync does that).
- **Handlers** are registered with `add_event_handler(on_add, on_update, on_delete)`. Each
  registration gets its own unbounded buffer and its own delivery task (client-go's
  `processorListener`), so a slow handler delays only itself and never the watch loop or
  other handlers. Handlers may be plain functions or coroutines; controllers should keep
  them cheap (compute a key, enqueue it). A handler added to a running informer first
  receives `on_add` for everything already in the store. Handler exceptions are logged and
  the handler carries on with the next event.
- **Resync** (`resync_period > 0`) periodically delivers `on_update(obj, obj)` for every
  cached object, so level-driven controllers re-examine state even without changes.
- `SharedInformerFactory` hands out one informer per (resource, namespace, selectors), so
  the controllers of one process share a single list+watch and cache per resource.

Objects in the store and passed to handlers are shared: treat them as read-only (copy
before mutating), exactly as with client-go's caches. They come without
`metadata.managedFields`, as in kube-scheduler's and kube-controller-manager's informers
(client-go's `TransformStripManagedFields`): no controller reads them, an update that
omits them keeps the object's own, and they are a good part of each object (a pod's
status manager alone writes hundreds of bytes of them), held in every informer of the
resource in the process (the kubelet's, the scheduler's, the controllers').
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import inspect
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from kybernetes.client.ratelimit import Backoff
from kybernetes.client.rest import (
    DEFAULT_PAGE_SIZE,
    ApiClient,
    ApiConnectionError,
    ApiError,
    GoneError,
    Obj,
    ResourceLike,
    ResourceRef,
    TooManyRequestsError,
    _resolve,
)

log = logging.getLogger(__name__)

IndexFunc = Callable[[Obj], list[str]]
KeyFunc = Callable[[Obj], str]
AddHandler = Callable[[Obj], Awaitable[None] | None]
UpdateHandler = Callable[[Obj, Obj], Awaitable[None] | None]
DeleteHandler = Callable[[Obj], Awaitable[None] | None]

NAMESPACE_INDEX = "namespace"
# client-go's reflector picks each watch's timeout in [minWatchTimeout, 2*minWatchTimeout).
MIN_WATCH_TIMEOUT = 300
# A watch that ends this fast with no events counts as a failure (avoids hot loops).
_SHORT_WATCH = 1.0
# Handler delivery yields to the loop after this many events in a row.
_DELIVERY_BATCH = 256
_INITIAL_EVENTS_END = "k8s.io/initial-events-end"


# ----------------------------------------------------------------------------- keys, indices


def meta_namespace_key(obj: Obj) -> str:
    """`namespace/name`, or `name` for cluster-scoped objects (client-go's key)."""
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    name = meta.get("name", "")
    return f"{namespace}/{name}" if namespace else str(name)


def split_key(key: str) -> tuple[str, str]:
    """(namespace, name) of a store key; namespace is "" for cluster-scoped objects."""
    namespace, _, name = key.rpartition("/")
    return namespace, name


def namespace_index(obj: Obj) -> list[str]:
    namespace = (obj.get("metadata") or {}).get("namespace")
    return [namespace] if namespace else []


def field_index(path: str) -> IndexFunc:
    """An index on a dotted field path, e.g. `field_index("spec.nodeName")`; objects whose
    field is unset or empty are not indexed."""
    parts = tuple(path.split("."))

    def index(obj: Obj) -> list[str]:
        node: Any = obj
        for part in parts:
            if not isinstance(node, dict):
                return []
            node = node.get(part)
        return [str(node)] if node not in (None, "") else []

    index.__name__ = f"field_index({path!r})"
    return index


def label_index(label: str) -> IndexFunc:
    """An index on one label's value."""

    def index(obj: Obj) -> list[str]:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        value = labels.get(label)
        return [str(value)] if value is not None else []

    index.__name__ = f"label_index({label!r})"
    return index


class Store:
    """Objects by key, with indices kept up to date on every write.

    Not thread-safe and need not be: one event loop owns it.
    """

    def __init__(self, indexers: Mapping[str, IndexFunc] | None = None, *,
                 key_func: KeyFunc = meta_namespace_key) -> None:
        self.key_func = key_func
        self._items: dict[str, Obj] = {}
        self._indexers: dict[str, IndexFunc] = {}
        self._indices: dict[str, dict[str, set[str]]] = {}
        self.add_indexers(indexers or {})

    # -- reads --------------------------------------------------------------------------

    def get(self, key: str) -> Obj | None:
        return self._items.get(key)

    def get_object(self, obj: Obj) -> Obj | None:
        """The cached version of `obj` (looked up by its key)."""
        return self._items.get(self.key_func(obj))

    def list(self) -> builtins.list[Obj]:
        return list(self._items.values())

    def keys(self) -> builtins.list[str]:
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[Obj]:
        return iter(list(self._items.values()))

    def by_index(self, index_name: str, value: str) -> builtins.list[Obj]:
        """Objects whose index `index_name` yields `value`."""
        keys = self._index(index_name).get(value)
        if not keys:
            return []
        items = self._items
        return [items[k] for k in keys]

    def index_keys(self, index_name: str, value: str) -> builtins.list[str]:
        return sorted(self._index(index_name).get(value) or ())

    def index_values(self, index_name: str) -> builtins.list[str]:
        return list(self._index(index_name))

    def index(self, index_name: str, obj: Obj) -> builtins.list[Obj]:
        """Objects sharing at least one value of index `index_name` with `obj`."""
        fn = self._indexers.get(index_name)
        if fn is None:
            raise KeyError(f"no index named {index_name!r}")
        keys: set[str] = set()
        for value in fn(obj):
            keys |= self._indices[index_name].get(value, set())
        return [self._items[k] for k in keys]

    def _index(self, name: str) -> dict[str, set[str]]:
        try:
            return self._indices[name]
        except KeyError:
            raise KeyError(f"no index named {name!r}") from None

    @property
    def indexers(self) -> dict[str, IndexFunc]:
        return dict(self._indexers)

    # -- writes -------------------------------------------------------------------------

    def add_indexers(self, indexers: Mapping[str, IndexFunc]) -> None:
        """Add indices (computed over the current contents). Re-adding the same function
        under the same name is a no-op; another function under a taken name is an error."""
        for name, fn in indexers.items():
            existing = self._indexers.get(name)
            if existing is not None:
                if existing is not fn:
                    raise ValueError(f"index {name!r} already exists with another function")
                continue
            self._indexers[name] = fn
            index: dict[str, set[str]] = {}
            for key, obj in self._items.items():
                for value in fn(obj):
                    index.setdefault(value, set()).add(key)
            self._indices[name] = index

    def add(self, obj: Obj) -> Obj | None:
        """Insert or replace; returns the previous object under that key."""
        key = self.key_func(obj)
        old = self._items.get(key)
        self._items[key] = obj
        if self._indexers:
            self._reindex(key, old, obj)
        return old

    update = add

    def delete(self, obj: Obj) -> Obj | None:
        return self.delete_key(self.key_func(obj))

    def delete_key(self, key: str) -> Obj | None:
        old = self._items.pop(key, None)
        if old is not None and self._indexers:
            self._reindex(key, old, None)
        return old

    def replace(self, objects: Iterable[Obj]) -> None:
        """Swap the whole contents (indices rebuilt)."""
        key_func = self.key_func
        self._items = {key_func(o): o for o in objects}
        self._rebuild()

    def _replace_items(self, items: dict[str, Obj]) -> None:
        self._items = items
        self._rebuild()

    def _rebuild(self) -> None:
        for name, fn in self._indexers.items():
            index: dict[str, set[str]] = {}
            for key, obj in self._items.items():
                for value in fn(obj):
                    bucket = index.get(value)
                    if bucket is None:
                        index[value] = {key}
                    else:
                        bucket.add(key)
            self._indices[name] = index

    def _reindex(self, key: str, old: Obj | None, new: Obj | None) -> None:
        for name, fn in self._indexers.items():
            before = fn(old) if old is not None else []
            after = fn(new) if new is not None else []
            if before == after:
                continue
            index = self._indices[name]
            for value in before:
                bucket = index.get(value)
                if bucket is not None:
                    bucket.discard(key)
                    if not bucket:
                        del index[value]
            for value in after:
                bucket = index.get(value)
                if bucket is None:
                    index[value] = {key}
                else:
                    bucket.add(key)


# ----------------------------------------------------------------------------- handlers

_ADD, _UPDATE, _DELETE, _SYNCED = 0, 1, 2, 3


class HandlerRegistration:
    """One set of handlers and its delivery queue (client-go's processorListener)."""

    def __init__(self, on_add: AddHandler | None, on_update: UpdateHandler | None,
                 on_delete: DeleteHandler | None, name: str) -> None:
        self.on_add = on_add
        self.on_update = on_update
        self.on_delete = on_delete
        self.name = name
        self._pending: deque[tuple[int, Obj | None, Obj | None]] = deque()
        self._wake = asyncio.Event()
        self._synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.delivered = 0

    @property
    def has_synced(self) -> bool:
        """Whether the initial contents of the cache have been delivered to the handlers."""
        return self._synced.is_set()

    async def wait_for_sync(self) -> None:
        await self._synced.wait()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _push(self, kind: int, old: Obj | None, new: Obj | None) -> None:
        self._pending.append((kind, old, new))
        if not self._wake.is_set():
            self._wake.set()

    def _start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._deliver(), name=f"handler:{self.name}")

    async def _stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _deliver(self) -> None:
        pending = self._pending
        while True:
            await self._wake.wait()
            self._wake.clear()
            burst = 0
            while pending:
                kind, old, new = pending.popleft()
                try:
                    result: Awaitable[None] | None = None
                    if kind == _ADD:
                        if self.on_add is not None and new is not None:
                            result = self.on_add(new)
                    elif kind == _UPDATE:
                        if self.on_update is not None and old is not None and new is not None:
                            result = self.on_update(old, new)
                    elif kind == _DELETE:
                        if self.on_delete is not None and old is not None:
                            result = self.on_delete(old)
                    else:
                        self._synced.set()
                        continue
                    if result is not None and inspect.isawaitable(result):
                        await result
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("informer handler %s failed", self.name)
                self.delivered += 1
                burst += 1
                if burst >= _DELIVERY_BATCH:
                    burst = 0
                    await asyncio.sleep(0)


# ----------------------------------------------------------------------------- informer


@dataclass(frozen=True)
class InformerStats:
    lists: int
    watches: int
    events: int
    relists_after_gone: int
    watch_failures: int


def _strip(obj: Obj) -> None:
    """Drop the managed fields of an object just decoded (the informer's own)."""
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)


class Informer:
    """List+watch one resource into a `Store` and notify handlers of changes."""

    def __init__(self, client: ApiClient, resource: ResourceRef, *,
                 namespace: str | None = None, label_selector: str | None = None,
                 field_selector: str | None = None,
                 indexers: Mapping[str, IndexFunc] | None = None,
                 resync_period: float = 0.0, page_size: int = DEFAULT_PAGE_SIZE,
                 watch_list: bool = False, min_watch_timeout: int = MIN_WATCH_TIMEOUT,
                 backoff: Backoff | None = None) -> None:
        self.client = client
        self.resource: ResourceLike = _resolve(resource)
        self.namespace = namespace if self.resource.namespaced else None
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.resync_period = resync_period
        self.page_size = page_size
        self.watch_list = watch_list
        self.min_watch_timeout = min_watch_timeout
        self.store = Store({NAMESPACE_INDEX: namespace_index, **(indexers or {})})
        self.last_sync_resource_version = ""
        self._handlers: list[HandlerRegistration] = []
        self._synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._resync_task: asyncio.Task[None] | None = None
        self._backoff = backoff or Backoff()
        self._lists = self._watches = self._events = self._gone = self._failures = 0
        self._gone_streak = 0

    def __repr__(self) -> str:
        where = f" in {self.namespace}" if self.namespace else ""
        return f"<Informer {self.resource.plural}{where}>"

    @property
    def name(self) -> str:
        parts = [self.resource.plural]
        if self.namespace:
            parts.append(self.namespace)
        return "/".join(parts)

    # -- public -------------------------------------------------------------------------

    @property
    def has_synced(self) -> bool:
        """Whether the store holds a complete list (the first list or watch-list is in)."""
        return self._synced.is_set()

    async def wait_for_sync(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Wait until synced; False on timeout."""
        try:
            async with asyncio.timeout(timeout):
                await self._synced.wait()
        except TimeoutError:
            return False
        return True

    @property
    def started(self) -> bool:
        return self._task is not None

    @property
    def stats(self) -> InformerStats:
        return InformerStats(self._lists, self._watches, self._events, self._gone,
                             self._failures)

    def add_event_handler(self, on_add: AddHandler | None = None,
                          on_update: UpdateHandler | None = None,
                          on_delete: DeleteHandler | None = None, *,
                          name: str | None = None) -> HandlerRegistration:
        """Register handlers. If the informer already holds objects, the new handlers
        first get `on_add` for each of them."""
        registration = HandlerRegistration(on_add, on_update, on_delete,
                                           name or f"{self.name}#{len(self._handlers)}")
        self._handlers.append(registration)
        if self._synced.is_set():
            for obj in self.store._items.values():
                registration._push(_ADD, None, obj)
            registration._push(_SYNCED, None, None)
        if self._task is not None:
            registration._start()
        return registration

    async def remove_event_handler(self, registration: HandlerRegistration) -> None:
        if registration in self._handlers:
            self._handlers.remove(registration)
        await registration._stop()

    def add_indexers(self, indexers: Mapping[str, IndexFunc]) -> None:
        self.store.add_indexers(indexers)

    def start(self) -> None:
        """Start the reflector (and handler delivery) as background tasks."""
        if self._task is not None:
            return
        for registration in self._handlers:
            registration._start()
        self._task = asyncio.create_task(self.run(), name=f"informer:{self.name}")
        if self.resync_period > 0:
            self._resync_task = asyncio.create_task(self._resync_forever(),
                                                    name=f"resync:{self.name}")

    async def stop(self) -> None:
        tasks = [t for t in (self._task, self._resync_task) if t is not None]
        self._task = self._resync_task = None
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for registration in self._handlers:
            await registration._stop()

    # -- the reflector ------------------------------------------------------------------

    async def run(self) -> None:
        """List and watch until cancelled."""
        need_list = True
        while True:
            try:
                if need_list:
                    if self.watch_list:
                        await self._watch(initial=True)
                    else:
                        await self._list()
                    need_list = False
                    self._backoff.reset()
                while True:
                    await self._watch(initial=False)
            except asyncio.CancelledError:
                raise
            except GoneError as err:
                # The revision we hold was compacted away: start over from a fresh list.
                self._gone += 1
                log.info("%s: %s; relisting", self, err.message)
                need_list = True
                if self._gone_recently():
                    await self._backoff.sleep()
            except (ApiConnectionError, TooManyRequestsError) as err:
                # The server went away or asked us to slow down: resume from the same
                # revision once it answers (a 410 then tells us to relist).
                self._failures += 1
                delay = self._backoff.next()
                log.info("%s: %s; retrying in %.1fs", self, err, delay)
                await asyncio.sleep(delay)
            except ApiError as err:
                self._failures += 1
                need_list = True
                delay = self._backoff.next()
                log.warning("%s: %s; relisting in %.1fs", self, err, delay)
                await asyncio.sleep(delay)
            except _ShortWatch:
                self._failures += 1
                await self._backoff.sleep()
            except Exception:
                self._failures += 1
                need_list = True
                delay = self._backoff.next()
                log.exception("%s: unexpected failure; relisting in %.1fs", self, delay)
                await asyncio.sleep(delay)

    def _gone_recently(self) -> bool:
        # The first 410 relists at once; another before any watch event backs off.
        self._gone_streak += 1
        return self._gone_streak > 1

    async def _list(self) -> None:
        result = await self.client.list(
            self.resource, self.namespace, label_selector=self.label_selector,
            field_selector=self.field_selector, limit=self.page_size)
        self._lists += 1
        self._replace(result.items, result.resource_version)

    async def _watch(self, *, initial: bool) -> None:
        """One watch request, applied to the store until it ends. With `initial`, a
        watch-list: the current objects first, replacing the store at the end marker."""
        loop = asyncio.get_running_loop()
        timeout = int(self.min_watch_timeout * (1 + random.random()))
        started = loop.time()
        received = 0
        collected: dict[str, Obj] | None = {} if initial else None
        key_func = self.store.key_func
        self._watches += 1
        stream = self.client.watch(
            self.resource, self.namespace, label_selector=self.label_selector,
            field_selector=self.field_selector, timeout_seconds=timeout,
            resource_version=None if initial else self.last_sync_resource_version,
            allow_bookmarks=True, send_initial_events=initial)
        async with stream:
            async for kind, obj in stream:
                received += 1
                if kind == "BOOKMARK":
                    rv = (obj.get("metadata") or {}).get("resourceVersion")
                    if collected is not None and ((obj.get("metadata") or {}).get(
                            "annotations") or {}).get(_INITIAL_EVENTS_END) == "true":
                        self._lists += 1
                        self._replace_items(collected, rv or "")
                        collected = None
                    elif rv:
                        self.last_sync_resource_version = rv
                    continue
                _strip(obj)
                if collected is not None:
                    collected[key_func(obj)] = obj
                    continue
                self._events += 1
                self._apply(kind, obj)
                self._gone_streak = 0
        if received == 0 and loop.time() - started < _SHORT_WATCH:
            raise _ShortWatch()
        if collected is not None:
            raise ApiConnectionError("watch-list ended before its initial-events-end bookmark")

    def _apply(self, kind: str, obj: Obj) -> None:
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if rv:
            self.last_sync_resource_version = rv
        store = self.store
        if kind == "DELETED":
            old = store.delete(obj)
            if old is None:
                return
            for registration in self._handlers:
                registration._push(_DELETE, obj, None)
            return
        old = store.add(obj)
        if old is None:
            for registration in self._handlers:
                registration._push(_ADD, None, obj)
        else:
            for registration in self._handlers:
                registration._push(_UPDATE, old, obj)

    def _replace(self, items: list[Obj], resource_version: str) -> None:
        key_func = self.store.key_func
        for obj in items:
            _strip(obj)
        self._replace_items({key_func(o): o for o in items}, resource_version)

    def _replace_items(self, new: dict[str, Obj], resource_version: str) -> None:
        old_items = self.store._items
        self.store._replace_items(new)
        self.last_sync_resource_version = resource_version
        handlers = self._handlers
        if handlers:
            for key, gone in old_items.items():
                if key not in new:
                    for registration in handlers:
                        registration._push(_DELETE, gone, None)
            for key, obj in new.items():
                previous = old_items.get(key)
                if previous is None:
                    for registration in handlers:
                        registration._push(_ADD, None, obj)
                elif _rv(previous) != _rv(obj):
                    for registration in handlers:
                        registration._push(_UPDATE, previous, obj)
        if not self._synced.is_set():
            self._synced.set()
            for registration in handlers:
                registration._push(_SYNCED, None, None)

    async def _resync_forever(self) -> None:
        while True:
            await asyncio.sleep(self.resync_period)
            if not self._synced.is_set():
                continue
            for obj in self.store._items.values():
                for registration in self._handlers:
                    registration._push(_UPDATE, obj, obj)


class _ShortWatch(Exception):
    """A watch ended immediately without any event."""


def _rv(obj: Obj) -> Any:
    return (obj.get("metadata") or {}).get("resourceVersion")


async def wait_for_cache_sync(*informers: Informer | HandlerRegistration,
                              timeout: float | None = None) -> bool:  # noqa: ASYNC109
    """Wait until every informer (or handler registration) has synced; False on timeout."""
    try:
        async with asyncio.timeout(timeout):
            for item in informers:
                if isinstance(item, Informer):
                    await item._synced.wait()
                else:
                    await item.wait_for_sync()
    except TimeoutError:
        return False
    return True


# ----------------------------------------------------------------------------- factory

InformerKey = tuple[str, str, str, str | None, str | None, str | None]


class SharedInformerFactory:
    """One informer per (resource, namespace, selectors), shared by every caller.

    `namespace` restricts all informers of this factory to one namespace (None: all).
    """

    def __init__(self, client: ApiClient, *, namespace: str | None = None,
                 resync_period: float = 0.0, page_size: int = DEFAULT_PAGE_SIZE,
                 watch_list: bool = False) -> None:
        self.client = client
        self.namespace = namespace
        self.resync_period = resync_period
        self.page_size = page_size
        self.watch_list = watch_list
        self._informers: dict[InformerKey, Informer] = {}

    def informer(self, resource: ResourceRef, *, label_selector: str | None = None,
                 field_selector: str | None = None,
                 indexers: Mapping[str, IndexFunc] | None = None,
                 resync_period: float | None = None) -> Informer:
        """The shared informer for this resource (created on first request; started by
        `start`). Extra indexers are added to an existing informer."""
        info = _resolve(resource)
        key: InformerKey = (info.group, info.version, info.plural,
                            self.namespace if info.namespaced else None, label_selector,
                            field_selector)
        informer = self._informers.get(key)
        if informer is None:
            informer = Informer(
                self.client, info, namespace=self.namespace, label_selector=label_selector,
                field_selector=field_selector, indexers=indexers,
                resync_period=self.resync_period if resync_period is None else resync_period,
                page_size=self.page_size, watch_list=self.watch_list)
            self._informers[key] = informer
        elif indexers:
            informer.add_indexers(indexers)
        return informer

    @property
    def informers(self) -> list[Informer]:
        return list(self._informers.values())

    def start(self) -> None:
        """Start every informer not yet started (safe to call again after adding more)."""
        for informer in self._informers.values():
            informer.start()

    async def wait_for_cache_sync(self, timeout: float | None = None  # noqa: ASYNC109
                                  ) -> bool:
        return await wait_for_cache_sync(*self._informers.values(), timeout=timeout)

    async def shutdown(self) -> None:
        await asyncio.gather(*(i.stop() for i in self._informers.values()))
