"""PrioritySort: the active queue pops higher priority first, then the pod queued earlier.

Upstream `pkg/scheduler/framework/plugins/queuesort/priority_sort.go`. Besides upstream's
`less`, it offers `sort_key`, which the queue's heap uses directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kybernetes.scheduler.interface import Handle
from kybernetes.scheduler.plugins.names import PRIORITY_SORT


class PrioritySort:
    name = PRIORITY_SORT

    def less(self, a: Any, b: Any) -> bool:
        pa, pb = a.pod_info.priority, b.pod_info.priority
        return bool(pa > pb or (pa == pb and a.timestamp < b.timestamp))

    def sort_key(self, qpi: Any) -> tuple[int, float]:
        return (-qpi.pod_info.priority, qpi.timestamp)


def new(args: Mapping[str, Any], handle: Handle) -> PrioritySort:
    return PrioritySort()
