"""A StatefulSet's status: counting its pods, completing a rolling update, and writing it
(upstream's computeReplicaStatus/updateStatus of `stateful_set_control.go`,
completeRollingUpdate/inconsistentStatus of `stateful_set_utils.go`, and
`stateful_set_status_updater.go`).

- `replicas`: created pods (with a phase); `readyReplicas`: running and ready;
  `availableReplicas`: of those, ready for `minReadySeconds`; `currentReplicas` and
  `updatedReplicas`: created, not terminating pods at the current and update revisions.
- A RollingUpdate is complete when `updatedReplicas`, `readyReplicas` and `replicas` all
  equal `spec.replicas`: then the current revision becomes the update revision.
- The status is written (through `/status`) only when it differs from the set's in one of
  those fields or the observed generation grew, retrying conflicts on a fresh copy
  (client-go's `retry.DefaultRetry`: 5 attempts).

The written form follows Go's JSON tags: zero `readyReplicas`, `currentReplicas`,
`updatedReplicas` and empty revisions are omitted; `replicas`, `availableReplicas` and a set
`collisionCount` are always written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kybernetes.api.objects import meta, spec, status
from kybernetes.client import ApiClient, ConflictError, resource
from kybernetes.client.rest import Obj
from kybernetes.controllers.statefulset.identity import (
    ROLLING_UPDATE,
    is_created,
    is_running_and_available,
    is_running_and_ready,
    is_terminating,
    pod_revision,
    replicas,
)

STATEFUL_SETS = resource("apps", "v1", "statefulsets")
_STATUS_ATTEMPTS = 5
_STATUS_BACKOFF = 0.01


@dataclass
class SetStatus:
    """The fields of StatefulSetStatus the controller computes."""

    observed_generation: int = 0
    replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    current_replicas: int = 0
    updated_replicas: int = 0
    current_revision: str = ""
    update_revision: str = ""
    collision_count: int | None = None

    def count(self, pods: Iterable[Obj], min_ready_seconds: int, now: datetime) -> None:
        """Recount the replica fields over `pods` (upstream's updateStatus)."""
        self.replicas = self.ready_replicas = self.available_replicas = 0
        self.current_replicas = self.updated_replicas = 0
        for pod in pods:
            created = is_created(pod)
            if created:
                self.replicas += 1
            if is_running_and_ready(pod):
                self.ready_replicas += 1
                if is_running_and_available(pod, min_ready_seconds, now):
                    self.available_replicas += 1
            if created and not is_terminating(pod):
                revision = pod_revision(pod)
                if revision == self.current_revision:
                    self.current_replicas += 1
                if revision == self.update_revision:
                    self.updated_replicas += 1

    def to_dict(self, previous: Obj) -> dict[str, Any]:
        """The status to write; fields the controller does not own (conditions) kept."""
        out: dict[str, Any] = {k: v for k, v in previous.items()
                               if k not in _OWNED_FIELDS}
        if self.observed_generation:
            out["observedGeneration"] = self.observed_generation
        out["replicas"] = self.replicas
        for key, value in (("readyReplicas", self.ready_replicas),
                           ("currentReplicas", self.current_replicas),
                           ("updatedReplicas", self.updated_replicas),
                           ("currentRevision", self.current_revision),
                           ("updateRevision", self.update_revision)):
            if value:
                out[key] = value
        if self.collision_count is not None:
            out["collisionCount"] = self.collision_count
        out["availableReplicas"] = self.available_replicas
        return out


_OWNED_FIELDS = frozenset({
    "observedGeneration", "replicas", "readyReplicas", "currentReplicas", "updatedReplicas",
    "currentRevision", "updateRevision", "collisionCount", "availableReplicas"})


def complete_rolling_update(sts: Obj, new: SetStatus) -> None:
    """Upstream's completeRollingUpdate (mutates `new`)."""
    want = replicas(sts)
    if (spec(sts).get("updateStrategy") or {}).get("type") == ROLLING_UPDATE and \
            new.updated_replicas == want and new.ready_replicas == want and \
            new.replicas == want:
        new.current_replicas = new.updated_replicas
        new.current_revision = new.update_revision


def inconsistent_status(sts: Obj, new: SetStatus) -> bool:
    """Whether `new` differs from the set's status in what the controller writes."""
    old = status(sts)
    return (new.observed_generation > int(old.get("observedGeneration") or 0)
            or new.replicas != int(old.get("replicas") or 0)
            or new.current_replicas != int(old.get("currentReplicas") or 0)
            or new.ready_replicas != int(old.get("readyReplicas") or 0)
            or new.updated_replicas != int(old.get("updatedReplicas") or 0)
            or new.current_revision != str(old.get("currentRevision") or "")
            or new.available_replicas != int(old.get("availableReplicas") or 0)
            or new.update_revision != str(old.get("updateRevision") or ""))


async def write_status(client: ApiClient, sts: Obj, new: SetStatus) -> Obj:
    """PUT `new` as the set's status, retrying conflicts on a fresh copy."""
    m = meta(sts)
    name, namespace = str(m.get("name")), m.get("namespace")
    current, attempt = sts, 1
    while True:
        body = {**current, "status": new.to_dict(status(current))}
        try:
            return await client.update_status(STATEFUL_SETS, body, namespace)
        except ConflictError:
            if attempt >= _STATUS_ATTEMPTS:
                raise
        attempt += 1
        await asyncio.sleep(_STATUS_BACKOFF)
        current = await client.get(STATEFUL_SETS, name, namespace)
