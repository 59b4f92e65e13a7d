"""What a controller expects its informer to show next: upstream's `ControllerExpectations`
and `UIDTrackingControllerExpectations` (`pkg/controller/controller_utils.go`).

A ReplicaSet that has just asked for 10 pods must not ask again on its next sync because its
informer has not shown them yet, or a burst of events would create 20. So before writing,
the controller records what it expects (`expect_creations(key, 10)`, or `expect_deletions(
key, pod_keys)`), informer handlers lower the counts as the objects show up
(`creation_observed`, `deletion_observed`), and `satisfied(key)` tells a sync whether it may
manage replicas again: yes once every expected event was observed, or once the expectations
are older than `EXPECTATIONS_TIMEOUT` (5 minutes; a lost watch event must not wedge the
controller forever), or when there are none (a new controller, or one just deleted).

Deletions are tracked by pod key (`namespace/name`), as the UID-tracking variant does: a pod
is observed deleted once, whether the informer shows it first with a deletionTimestamp (an
update) or only as gone (a delete), so the two events of one graceful deletion do not count
twice. Creations are plain counts (upstream's TODO: names are unknown before the create
answers).

Writes that fail lower the expectations themselves (`creation_observed` for each creation
not made, `deletion_observed` for a delete that failed), since no event will come for them.
Everything runs on one event loop, so no locks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

log = logging.getLogger(__name__)

# Upstream's ExpectationsTimeout.
EXPECTATIONS_TIMEOUT = 5 * 60.0


@dataclass
class Expectations:
    """Pending creations and deletions of one controller key, and when they were set."""

    add: int
    delete: int
    timestamp: float

    def fulfilled(self) -> bool:
        return self.add <= 0 and self.delete <= 0


class ControllerExpectations:
    """Expected creations/deletions per controller key, with pod-key tracking of
    deletions (upstream's UIDTrackingControllerExpectations over ControllerExpectations)."""

    def __init__(self, *, timeout: float = EXPECTATIONS_TIMEOUT,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout = timeout
        self._clock = clock
        self._expectations: dict[str, Expectations] = {}
        self._deleting: dict[str, set[str]] = {}

    def get(self, key: str) -> Expectations | None:
        return self._expectations.get(key)

    def deleting(self, key: str) -> frozenset[str]:
        """The pod keys whose deletion `key` still waits to observe."""
        return frozenset(self._deleting.get(key, ()))

    def satisfied(self, key: str) -> bool:
        """Whether a sync of `key` may create or delete again."""
        exp = self._expectations.get(key)
        if exp is None:
            return True  # none recorded: a new controller, or its expectations were deleted
        if exp.fulfilled():
            return True
        if self._clock() - exp.timestamp > self.timeout:
            log.debug("expectations of %s expired (%d adds, %d deletes pending)", key,
                      exp.add, exp.delete)
            return True
        return False

    def set(self, key: str, add: int, delete: int) -> None:
        """Replace the expectations of `key` (restarting the timeout)."""
        self._expectations[key] = Expectations(add, delete, self._clock())

    def expect_creations(self, key: str, count: int) -> None:
        self.set(key, count, 0)

    def expect_deletions(self, key: str, pod_keys: Iterable[str]) -> None:
        keys = set(pod_keys)
        if self._deleting.get(key):
            # Upstream logs this too: a sync should not start deleting while waiting.
            log.error("%s: clobbering existing delete keys %s", key,
                      sorted(self._deleting[key]))
        self._deleting[key] = keys
        self.set(key, 0, len(keys))

    def lower(self, key: str, add: int, delete: int) -> None:
        exp = self._expectations.get(key)
        if exp is not None:
            exp.add -= add
            exp.delete -= delete

    def creation_observed(self, key: str) -> None:
        self.lower(key, 1, 0)

    def deletion_observed(self, key: str, pod_key: str) -> None:
        """Count the deletion of `pod_key` once, if `key` was waiting for it."""
        keys = self._deleting.get(key)
        if keys is not None and pod_key in keys:
            keys.discard(pod_key)
            self.lower(key, 0, 1)

    def delete(self, key: str) -> None:
        """Forget `key` (its controller is gone; a namesake starts clean)."""
        self._expectations.pop(key, None)
        self._deleting.pop(key, None)
