"""WATCH: a stream of newline-delimited `{"type": ..., "object": ...}` events.

Starting points follow upstream: no resourceVersion (or "0") sends the current objects as
ADDED first; `sendInitialEvents=true` (client-go's WatchList) does the same and then a
BOOKMARK annotated `k8s.io/initial-events-end`; an explicit resourceVersion resumes after it,
or fails with a 410 `ERROR` event when it is older than the cache window. With selectors, an
object that stops matching is sent as DELETED and one that starts matching as ADDED.
Events ready together (a watcher behind the fan-out) go out in one write: with a thousand
watchers, one write per event per watcher was most of the API server's work. A custom
resource's events are converted to the watched version together too (`convert`, one
conversion webhook call), and its watch ends when its CRD goes (`ended`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson

from kybernetes.api import errors
from kybernetes.api.registry import ResourceInfo
from kybernetes.apiserver.listing import Filter, rv_number
from kybernetes.apiserver.watchcache import CachedObject, CacheEvent, TooOldError, WatchCache

log = logging.getLogger(__name__)

# Upstream bookmarks roughly once a minute; clients only need them before their timeout.
BOOKMARK_INTERVAL = 30.0
# Upstream's --min-request-timeout: watches last 30-60 minutes unless the client asks less.
DEFAULT_TIMEOUT = 1800
# The longest watch a client may ask for (kybernetes' cap: upstream lets a client hold one
# open for any int64 seconds).
MAX_TIMEOUT = 2 * DEFAULT_TIMEOUT
_INT64 = re.compile(r"[+-]?[0-9]{1,19}")

Render = Callable[[CachedObject], bytes]
# Cached objects as the watched version (custom resources; see ObjectStore.cached_as_version).
Convert = Callable[[list[CachedObject]], Awaitable[list[CachedObject]]]


def _frame(kind: str, body: bytes) -> bytes:
    return b'{"type":"' + kind.encode() + b'","object":' + body + b"}\n"


def _bookmark(info: ResourceInfo, revision: int, initial_end: bool = False) -> bytes:
    meta: dict[str, Any] = {"resourceVersion": str(revision)}
    if initial_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    return _frame("BOOKMARK", orjson.dumps(
        {"kind": info.kind, "apiVersion": info.group_version, "metadata": meta}))


def error_frame(err: errors.StatusError) -> bytes:
    return _frame("ERROR", orjson.dumps(err.status()))


def validate_watch_query(query: dict[str, str]) -> float:
    """Reject bad watch parameters before the stream starts; returns the timeout."""
    if query.get("sendInitialEvents") in ("true", "1"):
        if query.get("resourceVersionMatch") != "NotOlderThan":
            raise errors.invalid("meta.k8s.io", "ListOptions", "", [errors.FieldError.forbidden(
                "resourceVersionMatch",
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan")])
        if query.get("allowWatchBookmarks") not in ("true", "1"):
            raise errors.invalid("meta.k8s.io", "ListOptions", "", [errors.FieldError.forbidden(
                "allowWatchBookmarks", "sendInitialEvents requires setting allowWatchBookmarks "
                "to true")])
    rv = query.get("resourceVersion", "")
    if rv:
        rv_number(rv)
    return watch_timeout(query.get("timeoutSeconds", ""))


def watch_timeout(text: str) -> float:
    """`timeoutSeconds` as upstream decodes it (an int64; 0 or absent: the server's
    randomised default), capped at `MAX_TIMEOUT` so that no watch lives forever."""
    if not text:
        return DEFAULT_TIMEOUT * (1 + random.random())
    if not _INT64.fullmatch(text) or not -(1 << 63) <= int(text) < 1 << 63:
        raise errors.bad_request(
            f'invalid value "{text}" for timeoutSeconds: must be an integer number of seconds')
    seconds = int(text)
    if seconds <= 0:
        return DEFAULT_TIMEOUT * (1 + random.random())
    return float(min(seconds, MAX_TIMEOUT))


async def watch_stream(info: ResourceInfo, namespace: str, query: dict[str, str],
                       selection: Filter, cache: WatchCache, render: Render,
                       convert: Convert | None = None, ended: asyncio.Event | None = None
                       ) -> AsyncIterator[bytes]:
    timeout = validate_watch_query(query)
    rv = query.get("resourceVersion", "")
    initial = query.get("sendInitialEvents") in ("true", "1") or (rv in ("", "0") and \
        query.get("sendInitialEvents") not in ("false", "0"))
    announce_end = query.get("sendInitialEvents") in ("true", "1")
    bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
    prefix = info.namespace_prefix(namespace)
    if initial and rv != "0":
        # A consistent snapshot: as fresh as storage now, or as the revision asked for.
        await cache.wait_fresh(rv_number(rv) if rv else 0)
    start = 0 if initial else rv_number(rv)

    def snapshot() -> list[CachedObject]:
        return [o for o in cache.scan(prefix) if selection.everything or selection.matches(o.obj)]

    events = cache.watch_batches(prefix, start, snapshot if initial else None)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    # One pending `anext` survives bookmark timeouts: cancelling it would end the generator
    # and drop an event already taken off its queue.
    pending: asyncio.Task[list[CacheEvent] | int] | None = None
    ending = None if ended is None else asyncio.ensure_future(ended.wait())
    try:
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            if pending is None:
                pending = asyncio.ensure_future(anext(events))
            wait = min(remaining, BOOKMARK_INTERVAL) if bookmarks else remaining
            done, _ = await asyncio.wait({pending} if ending is None else {pending, ending},
                                         timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            if ending is not None and ending in done and pending not in done:
                return
            if pending not in done:
                # An event queued in this same instant must go out before a bookmark that
                # claims the cache's revision.
                await asyncio.sleep(0)
                if pending.done():
                    continue
                if bookmarks and deadline - loop.time() > 0:
                    yield _bookmark(info, cache.revision)
                continue
            try:
                item = pending.result()
            except StopAsyncIteration:
                return
            finally:
                pending = None
            if isinstance(item, int):
                if announce_end:
                    yield _bookmark(info, item, initial_end=True)
                continue
            # The events ready together go out in one write.
            selected = [chosen for event in item
                        if (chosen := _filter_event(event, selection)) is not None]
            if convert is not None and selected:
                objects = await convert([o for _, o in selected])
                selected = [(t, o) for (t, _), o in zip(selected, objects, strict=True)]
            if selected:
                yield b"".join(_frame(t, render(o)) for t, o in selected)
    except TooOldError as err:
        yield error_frame(errors.gone(
            f"too old resource version: {err.requested} ({err.oldest})"))
    except errors.StatusError as err:
        yield error_frame(err)
    finally:
        if ending is not None:
            ending.cancel()
        if pending is not None:
            pending.cancel()
            try:
                await pending
            except (asyncio.CancelledError, StopAsyncIteration):
                pass
            except Exception:
                log.exception("watch of %s: reading the watch cache failed", prefix)
        try:
            await events.aclose()
        except Exception:
            log.exception("watch of %s: closing the watch cache's stream failed", prefix)


def _filter_event(event: CacheEvent, selection: Filter) -> tuple[str, CachedObject] | None:
    """The event the watcher gets (its type and object), None when it gets none."""
    if selection.everything:
        return event.type, event.current
    now = selection.matches(event.current.obj) if event.type != "DELETED" else False
    before = event.previous is not None and selection.matches(event.previous.obj)
    if event.type == "DELETED":
        return ("DELETED", event.current) if before else None
    if now and before:
        return "MODIFIED", event.current
    if now:
        return "ADDED", event.current
    if before and event.previous is not None:
        # Upstream sends the last state that matched, at the event's resourceVersion.
        return "DELETED", _restamped(event.previous, event.revision)
    return None


def _restamped(cached: CachedObject, revision: int) -> CachedObject:
    obj = {**cached.obj, "metadata": {**cached.obj.get("metadata", {}),
                                      "resourceVersion": str(revision)}}
    return CachedObject(cached.key, obj, orjson.dumps(obj), revision)
