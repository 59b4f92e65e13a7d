"""A DaemonSet's status: upstream's `updateDaemonSetStatus` and `storeDaemonSetStatus`
(`pkg/controller/daemon/daemon_controller.go`), the counting half as a pure function.

For every node the DaemonSet should run on (`desiredNumberScheduled`), the oldest of its
pods there (bound pods first, then by creation time and name) decides: scheduled
(`currentNumberScheduled`), Ready (`numberReady`), available for `minReadySeconds`
(`numberAvailable`), of the current revision (`updatedNumberScheduled`). A pod on a node
the DaemonSet should not run on is `numberMisscheduled`; `numberUnavailable` is desired
minus available. The status is written only when a count changed or the generation was
not yet observed; `observedGeneration` is raised only by a sync that acted on the spec (not
one still waiting for earlier creations and deletions to show).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kybernetes.api.objects import meta, spec
from kybernetes.client.rest import Obj
from kybernetes.controllers import podutil
from kybernetes.controllers.daemonset.placement import Decisions
from kybernetes.controllers.daemonset.util import is_pod_updated, template_generation

# Written even when zero (no omitempty upstream).
REQUIRED_COUNTS = ("currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled",
                   "numberReady")
# Dropped when zero (omitempty).
OPTIONAL_COUNTS = ("updatedNumberScheduled", "numberAvailable", "numberUnavailable")


def creation_order_key(pod: Obj) -> tuple[bool, str, str]:
    """Upstream's podByCreationTimestampAndPhase: bound pods first, then oldest, then by
    name (RFC 3339 times in UTC sort as text)."""
    return (not spec(pod).get("nodeName"), str(meta(pod).get("creationTimestamp") or ""),
            str(meta(pod).get("name") or ""))


def calculate_counts(ds: Obj, decisions: Decisions, node_to_pods: Mapping[str, list[Obj]],
                     hash_: str, now: datetime) -> dict[str, int]:
    counts = dict.fromkeys((*REQUIRED_COUNTS, *OPTIONAL_COUNTS), 0)
    min_ready = int(spec(ds).get("minReadySeconds") or 0)
    generation = template_generation(ds)
    for node_name, (should_run, _) in decisions.items():
        pods = node_to_pods.get(node_name) or []
        if not should_run:
            if pods:
                counts["numberMisscheduled"] += 1
            continue
        counts["desiredNumberScheduled"] += 1
        if not pods:
            continue
        counts["currentNumberScheduled"] += 1
        pod = min(pods, key=creation_order_key)
        if podutil.is_pod_ready(pod):
            counts["numberReady"] += 1
            if podutil.is_pod_available(pod, min_ready, now):
                counts["numberAvailable"] += 1
        if is_pod_updated(pod, hash_, generation):
            counts["updatedNumberScheduled"] += 1
    counts["numberUnavailable"] = counts["desiredNumberScheduled"] - counts["numberAvailable"]
    return counts


def status_unchanged(ds: Obj, counts: Mapping[str, int]) -> bool:
    """Upstream's short cut: every count as stored and the generation observed."""
    old = ds.get("status") or {}
    return all(int(old.get(f) or 0) == value for f, value in counts.items()) and \
        int(old.get("observedGeneration") or 0) >= int(meta(ds).get("generation") or 0)


def new_status(ds: Obj, counts: Mapping[str, int]) -> dict[str, Any]:
    """The DaemonSet's status with these counts (other fields, `observedGeneration`
    included, kept)."""
    status: dict[str, Any] = dict(ds.get("status") or {})
    for field in REQUIRED_COUNTS:
        status[field] = counts[field]
    for field in OPTIONAL_COUNTS:
        if counts[field]:
            status[field] = counts[field]
        else:
            status.pop(field, None)
    return status
