"""The `endpoints.kubernetes.io/last-change-trigger-time` of a sync: upstream's
`pkg/controller/util/endpoint/trigger_time_tracker.go`.

For each Service it remembers the trigger times seen at its last sync (each pod's Ready
condition transition, the Service's creation); a sync's trigger time is the earliest of
those that are new or later since then, so the annotation tells how old the oldest change
behind this write is (what upstream's network programming latency SLI measures). None when
nothing changed: the annotation is then removed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from kybernetes.api import timeutil
from kybernetes.client.rest import Obj
from kybernetes.controllers import podutil


@dataclass
class _ServiceState:
    pods: dict[str, datetime] = field(default_factory=dict)
    service: datetime | None = None


def _pod_trigger_time(pod: Obj) -> datetime | None:
    condition = podutil.ready_condition(pod)
    return timeutil.parse_time(condition.get("lastTransitionTime")) if condition else None


def _earliest(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b < a else a


class TriggerTimeTracker:
    def __init__(self) -> None:
        self._states: dict[str, _ServiceState] = {}

    def compute(self, key: str, service: Obj, pods: Iterable[Obj]) -> datetime | None:
        """The trigger time of this sync of Service `key` (and remember what it saw)."""
        state = self._states.setdefault(key, _ServiceState())
        earliest: datetime | None = None
        seen: dict[str, datetime] = {}
        for pod in pods:
            when = _pod_trigger_time(pod)
            if when is None:
                continue
            name = str((pod.get("metadata") or {}).get("name"))
            seen[name] = when
            last = state.pods.get(name)
            if last is None or when > last:
                earliest = _earliest(earliest, when)
        created = timeutil.parse_time((service.get("metadata") or {}).get("creationTimestamp"))
        if created is not None and (state.service is None or created > state.service):
            earliest = _earliest(earliest, created)
        state.pods, state.service = seen, created
        return earliest

    def delete_service(self, key: str) -> None:
        self._states.pop(key, None)


def format_trigger_time(when: datetime) -> str:
    """Go's RFC3339Nano in UTC (trailing zeros of the fraction dropped)."""
    text = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".")
    return text + "Z"
