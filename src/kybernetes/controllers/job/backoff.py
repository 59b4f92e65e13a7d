"""Pod-failure backoff of Jobs: upstream's `pkg/controller/job/backoff_utils.go`.

A Job whose pods fail waits before creating replacements: 10 s after the first failure
since the last success, doubling with each further one, at most 6 minutes
(`DefaultJobPodFailureBackOff`, `MaxJobPodFailureBackOff`). The record per Job (failures
after the last success, time of the last failure) lives in memory only, as upstream's
does: a restarted controller starts without backoff. Records are folded from the pods each
sync newly counts (`new_record`) and saved once that count is written (`update`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from kybernetes.client.rest import Obj
from kybernetes.controllers.job.util import finished_time

DEFAULT_BACKOFF = 10.0
MAX_BACKOFF = 360.0


@dataclass(frozen=True)
class BackoffRecord:
    key: str
    failures_after_last_success: int = 0
    last_failure_time: datetime | None = None

    def remaining(self, now: datetime, default: float = DEFAULT_BACKOFF,
                  maximum: float = MAX_BACKOFF) -> float:
        """Seconds before a replacement pod may be created (0: now)."""
        return remaining_for_failures(now, default, maximum,
                                      self.failures_after_last_success,
                                      self.last_failure_time)


def remaining_for_failures(now: datetime, default: float, maximum: float, failures: int,
                           last_failure: datetime | None) -> float:
    """Upstream's getRemainingTimeForFailuresCount."""
    if failures == 0 or last_failure is None:
        return 0.0
    backoff = default
    for _ in range(1, failures):
        backoff *= 2
        if backoff >= maximum:
            backoff = maximum
            break
    elapsed = (now - last_failure).total_seconds()
    return 0.0 if backoff < elapsed else backoff - elapsed


class BackoffStore:
    def __init__(self) -> None:
        self._records: dict[str, BackoffRecord] = {}

    def new_record(self, key: str, succeeded: Sequence[Obj], failed: Sequence[Obj]
                   ) -> BackoffRecord:
        """The record once these newly finished pods are counted (upstream's
        newBackoffRecord): a success resets it, save for failures after the last one."""
        old = self._records.get(key) or BackoffRecord(key)
        if not failed:
            return BackoffRecord(key) if succeeded else old
        failed_times = sorted(finished_time(p) for p in failed)
        if not succeeded:
            return BackoffRecord(key, old.failures_after_last_success + len(failed),
                                 failed_times[-1])
        last_success = max(finished_time(p) for p in succeeded)
        after = [t for t in failed_times if t > last_success]
        return BackoffRecord(key, len(after), after[-1] if after else None)

    def update(self, record: BackoffRecord) -> None:
        self._records[record.key] = record

    def remove(self, key: str) -> None:
        self._records.pop(key, None)
