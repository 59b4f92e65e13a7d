"""Per-key exponential back-off, as the kubelet uses it for crash loops and image pulls.

Upstream's `flowcontrol.Backoff`: the first failure of a key waits `initial` seconds, each
further failure doubles the wait up to `maximum`; a key left alone for twice `maximum`
starts over (`GC`), and a container that ran cleanly for `reset_after` seconds has its
back-off forgotten (`kubecontainer.MaxContainerBackOff` / the 10-minute stable-run reset).
The kubelet's defaults: 10 s doubling to 300 s, for both restarts and pulls.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_INITIAL = 10.0
DEFAULT_MAXIMUM = 300.0


@dataclass
class _Entry:
    delay: float
    last_update: float


class Backoff:
    def __init__(self, initial: float = DEFAULT_INITIAL, maximum: float = DEFAULT_MAXIMUM, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.initial = initial
        self.maximum = maximum
        self.clock = clock
        self._entries: dict[str, _Entry] = {}

    def _fresh(self, key: str) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is not None and self.clock() - entry.last_update > 2 * self.maximum:
            del self._entries[key]
            return None
        return entry

    def next(self, key: str) -> float:
        """Record a retry of `key` now; returns the delay now in force."""
        now = self.clock()
        entry = self._fresh(key)
        if entry is None:
            entry = self._entries[key] = _Entry(self.initial, now)
        else:
            entry.delay = min(entry.delay * 2, self.maximum)
            entry.last_update = now
        return entry.delay

    def in_backoff(self, key: str, since: float) -> float:
        """Seconds still to wait before retrying `key` after a failure at `since` (epoch
        seconds, like the clock; 0: go ahead)."""
        entry = self._fresh(key)
        if entry is None:
            return 0.0
        return max(0.0, since + entry.delay - self.clock())

    def current(self, key: str) -> float:
        entry = self._fresh(key)
        return entry.delay if entry is not None else 0.0

    def reset(self, key: str) -> None:
        self._entries.pop(key, None)

    def forget_prefix(self, prefix: str) -> None:
        for key in [k for k in self._entries if k.startswith(prefix)]:
            del self._entries[key]
