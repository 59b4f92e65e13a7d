"""A bounded cache whose entries expire, for the answers a delegating server gets from
the API server (TokenReview, SubjectAccessReview; delegatedauth.py).

Upstream caches both: the delegating authenticator keeps each token's review for its TTL
(`token/cache`), the webhook authorizer keeps each review in an `LRUExpireCache`. Without
them every scrape, every log line followed and every exec would cost the API server one or
two reviews. Here an entry lives `ttl` seconds by an injectable clock; a full cache first
drops what has expired, then its oldest entries.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ExpiringCache(Generic[K, V]):
    def __init__(self, max_entries: int, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entries = max_entries
        self.clock = clock
        self._entries: dict[K, tuple[float, V]] = {}

    def get(self, key: K) -> tuple[V] | None:
        """`(value,)` while the entry lives (the value itself may be None), else None."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if self.clock() >= expires:
            del self._entries[key]
            return None
        return (value,)

    def set(self, key: K, value: V, ttl: float) -> None:
        now = self.clock()
        self._entries.pop(key, None)
        if len(self._entries) >= self.max_entries:
            self._entries = {k: e for k, e in self._entries.items() if e[0] > now}
            while len(self._entries) >= self.max_entries:
                del self._entries[next(iter(self._entries))]
        self._entries[key] = (now + ttl, value)
