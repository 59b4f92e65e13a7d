"""Per-node backoff for replacing failed daemon pods: client-go's `flowcontrol.Backoff` as
the DaemonSet controller uses it (`failedPodsBackoff`, 1 s doubling to 15 minutes, set up in
`cmd/kube-controller-manager/app/apps.go`).

A kubelet that rejects a daemon pod (it fails at once) would otherwise have the controller
delete and recreate it in a hot loop. Each (DaemonSet uid, observed generation, node) key
has a delay: `next` starts it at `initial` or doubles it (up to `cap`), `in_backoff` says
whether less than the delay has passed since the last `next`. An entry untouched for twice
`cap` is forgotten (its delay starts over), and such entries are dropped from memory as
`next` goes (upstream's GC, run every minute there). No jitter, as upstream configures it.
"""

from __future__ import annotations

from dataclasses import dataclass

INITIAL = 1.0
CAP = 15 * 60.0
_GC_PERIOD = 60.0


@dataclass
class _Entry:
    delay: float
    last_update: float


class FailedPodsBackoff:
    def __init__(self, initial: float = INITIAL, cap: float = CAP) -> None:
        self.initial = initial
        self.cap = cap
        self._entries: dict[str, _Entry] = {}
        self._last_gc = float("-inf")

    def _expired(self, entry: _Entry, now: float) -> bool:
        return now - entry.last_update > 2 * self.cap

    def get(self, key: str) -> float:
        entry = self._entries.get(key)
        return entry.delay if entry is not None else 0.0

    def in_backoff(self, key: str, now: float) -> bool:
        """Upstream's IsInBackOffSinceUpdate."""
        entry = self._entries.get(key)
        if entry is None or self._expired(entry, now):
            return False
        return now - entry.last_update < entry.delay

    def next(self, key: str, now: float) -> None:
        entry = self._entries.get(key)
        if entry is None or self._expired(entry, now):
            self._entries[key] = _Entry(self.initial, now)
        else:
            entry.delay = min(entry.delay * 2, self.cap)
            entry.last_update = now
        if now - self._last_gc > _GC_PERIOD:
            self._last_gc = now
            for stale in [k for k, e in self._entries.items() if self._expired(e, now)]:
                del self._entries[stale]
