"""LIST: filtering, pagination with `continue` tokens, and the list body.

Where a page comes from follows upstream's cache delegator (ConsistentListFromCache, on
both backends): a consistent list (no resourceVersion) reads the storage's current revision
(one cheap request, shared by concurrent lists), waits until the watch cache holds it and is
served from the cache; so are resourceVersion "0" (at once) and NotOlderThan. An exact
resourceVersion and a `continue` token are read from storage at that revision, so that
every page of a list is a view of the first page's revision; a revision compacted away is
410 Gone. A consistent list the cache cannot catch up with falls back to the storage.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncGenerator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from kybernetes.api import errors
from kybernetes.api.registry import ResourceInfo
from kybernetes.api.selectors import (
    FieldSelector,
    LabelSelector,
    parse_field_selector,
    parse_label_selector,
)
from kybernetes.apiserver.strategies import ResourceStrategy
from kybernetes.apiserver.watchcache import (
    CachedObject,
    WatchCache,
    decode,
    too_large_resource_version,
)
from kybernetes.storage.interface import CompactedError, Storage

# Pages fetched from storage per round while a filtered continued list fills its limit.
_STORAGE_PAGE = 500


@dataclass(frozen=True)
class Filter:
    """The label and field selectors of a list or watch; the fields an object offers are
    its strategy's (GetAttrs), that of the served resource."""

    labels: LabelSelector
    fields: FieldSelector
    strategy: ResourceStrategy

    @staticmethod
    def from_query(strategy: ResourceStrategy, query: dict[str, str]) -> Filter:
        labels = parse_label_selector(query.get("labelSelector", ""))
        fields = strategy.convert_field_selector(parse_field_selector(
            query.get("fieldSelector", "")))
        return Filter(labels, fields, strategy)

    @property
    def everything(self) -> bool:
        return self.labels.empty and self.fields.empty

    def matches(self, obj: dict[str, Any]) -> bool:
        if not self.labels.empty and not self.labels.matches(
                obj.get("metadata", {}).get("labels") or {}):
            return False
        return self.fields.empty or self.fields.matches(self.strategy.field_set(obj))


@dataclass(frozen=True)
class Page:
    items: list[CachedObject]
    revision: int
    continue_token: str
    remaining: int | None


def encode_continue(revision: int, start: str) -> str:
    token = orjson.dumps({"v": "meta.k8s.io/v1", "rv": revision, "start": start})
    return base64.urlsafe_b64encode(token).decode().rstrip("=")


def decode_continue(token: str) -> tuple[int, str]:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = orjson.loads(base64.urlsafe_b64decode(padded))
        revision, start = int(data["rv"]), str(data["start"])
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        raise errors.bad_request("continue key is not valid: incorrect encoded start "
                                 "resourceVersion (version meta.k8s.io/v1)") from None
    if data.get("v") != "meta.k8s.io/v1" or revision <= 0:
        raise errors.bad_request("continue key is not valid: incorrect encoded start "
                                 "resourceVersion (version meta.k8s.io/v1)")
    return revision, start


def _take(source: Iterator[CachedObject], keep: Callable[[CachedObject], bool], limit: int
          ) -> tuple[list[CachedObject], CachedObject | None, bool]:
    """Up to `limit` kept objects; the last object looked at; whether more may follow."""
    items: list[CachedObject] = []
    last: CachedObject | None = None
    for obj in source:
        last = obj
        if keep(obj):
            items.append(obj)
            if limit and len(items) == limit:
                return items, last, True
    return items, last, False


def validate_list_query(query: dict[str, str]) -> None:
    """Upstream's ValidateListOptions for a list (422), and its storage's rule that a
    continued list names no resourceVersion (400)."""
    match = query.get("resourceVersionMatch", "")
    rv = query.get("resourceVersion", "")
    failures: list[errors.FieldError] = []
    if match:
        if not rv:
            failures.append(errors.FieldError.forbidden(
                "resourceVersionMatch",
                "resourceVersionMatch is forbidden unless resourceVersion is provided"))
        if query.get("continue"):
            failures.append(errors.FieldError.forbidden(
                "resourceVersionMatch",
                "resourceVersionMatch is forbidden when continue is provided"))
        if match not in ("Exact", "NotOlderThan"):
            failures.append(errors.FieldError.not_supported(
                "resourceVersionMatch", match, ["Exact", "NotOlderThan", ""]))
        if match == "Exact" and rv == "0":
            failures.append(errors.FieldError.forbidden(
                "resourceVersionMatch",
                'resourceVersionMatch "exact" is forbidden for resourceVersion "0"'))
    if "sendInitialEvents" in query:
        failures.append(errors.FieldError.forbidden("sendInitialEvents",
                                                    "sendInitialEvents is forbidden for list"))
    if failures:
        raise errors.invalid("meta.k8s.io", "ListOptions", "", failures)
    if query.get("continue") and rv not in ("", "0"):
        raise errors.bad_request("specifying resource version is not allowed when using "
                                 "continue")


async def list_page(info: ResourceInfo, namespace: str, query: dict[str, str],
                    selection: Filter, cache: WatchCache, storage: Storage) -> Page:
    """One page of a list, from where upstream's cache delegator takes it: the cache for a
    consistent list (once it holds the storage's current revision), for resourceVersion
    "0" (at once) and for NotOlderThan (once it holds that revision); the storage for a
    `continue` token (at the token's revision) and for an exact resourceVersion
    (`resourceVersionMatch=Exact`, or the legacy form: a limit and a resourceVersion other
    than "0"); and the storage again for a consistent list the cache cannot catch up with."""
    validate_list_query(query)
    prefix = info.namespace_prefix(namespace)
    try:
        limit = max(0, int(query.get("limit") or 0))
    except ValueError:
        raise errors.bad_request(f"invalid limit: {query.get('limit')!r}") from None
    token = query.get("continue", "")
    rv = query.get("resourceVersion", "")
    match = query.get("resourceVersionMatch", "")

    def keep(o: CachedObject) -> bool:
        return selection.everything or selection.matches(o.obj)

    if token:
        revision, start = decode_continue(token)
        return await _storage_page(storage, prefix, revision, prefix + start, limit, keep,
                                   selection.everything, _CONTINUE_EXPIRED)
    if match == "Exact" or (not match and limit and rv not in ("", "0")):
        revision = rv_number(rv)
        if revision > cache.revision:
            current = await cache.storage_revision()
            if revision > current:
                raise too_large_resource_version(revision, current)
        return await _storage_page(storage, prefix, revision, prefix, limit, keep,
                                   selection.everything, _LIST_EXPIRED)
    if not rv:
        try:
            await cache.wait_fresh()
        except errors.StatusError as err:
            if err.code != 503:
                raise
            # The cache did not catch up: read the storage, as upstream falls back.
            return await _storage_page(storage, prefix, 0, prefix, limit, keep,
                                       selection.everything, _LIST_EXPIRED)
    elif rv != "0":
        await cache.wait_fresh(rv_number(rv))
    revision = cache.revision
    items, last, more = _take(cache.scan(prefix), keep, limit)
    if more and last is not None:
        more = next(cache.scan(prefix, last.key), None) is not None
    if not more or last is None:
        return Page(items, revision, "", None)
    return Page(items, revision, encode_continue(revision, last.key[len(prefix):] + "\x00"),
                cache.count_after(prefix, last.key) if selection.everything else None)


_LIST_EXPIRED = "The resourceVersion for the provided list is too old."
_CONTINUE_EXPIRED = (
    "The provided continue parameter is too old to display a consistent list result. You "
    "can start a new list without the continue parameter, or use the continue token in this "
    "response to retrieve the remainder of the results. Continuing with the provided token "
    "results in an inconsistent list - objects that were created, modified, or deleted "
    "between the time the first chunk was returned and now may show up in the list.")


async def _storage_page(storage: Storage, prefix: str, revision: int, start: str, limit: int,
                        keep: Callable[[CachedObject], bool], everything: bool,
                        expired: str) -> Page:
    """A page read from the storage at `revision` (0: its current one, which the page then
    carries), from key `start`, filling `limit` with what `keep` keeps; a compacted
    revision is 410 Gone with `expired` as its message."""
    items: list[CachedObject] = []
    last: CachedObject | None = None
    full = False
    async with contextlib.aclosing(_storage_scan(storage, prefix, revision, start,
                                                 expired)) as scan:
        async for read_at, batch in scan:
            revision = read_at
            got, seen, full = _take(iter(batch), keep, limit - len(items) if limit else 0)
            items += got
            last = seen or last
            if full:
                break
    remaining: int | None = None
    if full and last is not None:
        # Continue only when keys follow, and count them as upstream's store does.
        after = await storage.list(prefix, revision=revision, limit=1,
                                   start_key=last.key + "\x00")
        full = bool(after.items)
        remaining = len(after.items) + after.remaining
    if not full or last is None:
        return Page(items, revision, "", None)
    return Page(items, revision, encode_continue(revision, last.key[len(prefix):] + "\x00"),
                remaining if everything else None)


async def _storage_scan(storage: Storage, prefix: str, revision: int, start: str,
                        expired: str) -> AsyncGenerator[tuple[int, list[CachedObject]], None]:
    """Batches from `start` on at `revision` (0: the first read's), each with the revision
    read at."""
    while True:
        try:
            result = await storage.list(prefix, revision=revision, limit=_STORAGE_PAGE,
                                        start_key=start)
        except CompactedError:
            raise errors.gone(expired) from None
        revision = result.revision
        yield revision, [decode(kv, kv.mod_revision) for kv in result.items]
        if not result.remaining or not result.items:
            return
        start = result.items[-1].key + "\x00"


def rv_number(rv: str) -> int:
    try:
        value = int(rv)
    except ValueError:
        raise errors.bad_request(f"invalid resource version: {rv!r}") from None
    if value < 0:
        raise errors.bad_request(f"invalid resource version: {rv!r}")
    return value


def list_body(info: ResourceInfo, page: Page,
              render: Callable[[CachedObject], bytes] = lambda o: o.raw) -> bytes:
    """The list's JSON and its closing newline, assembled from each item's ready JSON
    (`render`: in the served version, when that is not the storage version) in a single
    join: a list of 10k pods is some 15 MB, and every extra concatenation copies it."""
    meta: dict[str, Any] = {"resourceVersion": str(page.revision)}
    if page.continue_token:
        meta["continue"] = page.continue_token
    if page.remaining is not None:
        meta["remainingItemCount"] = page.remaining
    head = orjson.dumps({"kind": info.list_kind, "apiVersion": info.group_version,
                         "metadata": meta})
    parts = [head[:-1] + b',"items":[']
    for item in page.items:
        parts += (render(item), b",")
    if page.items:
        parts.pop()
    parts.append(b"]}\n")
    return b"".join(parts)
