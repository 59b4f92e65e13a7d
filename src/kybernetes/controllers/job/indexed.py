"""Indexed Jobs: upstream's `pkg/controller/job/indexed_job_utils.go`.

Each pod of an Indexed Job carries its completion index (annotation and label
`batch.kubernetes.io/job-completion-index`, env `JOB_COMPLETION_INDEX` from the downward
API, hostname `<job>-<index>`, generateName `<job>-<index>-`). Succeeded indexes are kept in
`status.completedIndexes` as ordered intervals (`"1,3-5"`): `Intervals` parses, merges and
prints them as upstream does; `first_pending_indexes` picks the indexes to create next and
`duplicated_index_pods` the surplus pods of an index (or pods with no valid index).

With `backoffLimitPerIndex`, each index retries on its own: a replacement pod carries its
index's failure count (annotations `batch.kubernetes.io/job-index-failure-count` and
`...-ignored-failure-count`), waits out the index's own backoff, and an index whose pod
fails once its count reached the limit (or by a `FailIndex` rule) is failed for good
(`status.failedIndexes`). The last failed pod of an index keeps its finalizer until its
replacement exists, since the count is read from it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from kybernetes.api.objects import meta, spec, status
from kybernetes.client.rest import Obj
from kybernetes.controllers import podutil
from kybernetes.controllers.job import podfailurepolicy
from kybernetes.controllers.job.backoff import remaining_for_failures
from kybernetes.controllers.job.util import (
    JOB_COMPLETION_INDEX,
    JOB_COMPLETION_INDEX_ENV,
    JOB_INDEX_FAILURE_COUNT,
    JOB_INDEX_IGNORED_FAILURE_COUNT,
    completion_index,
    finished_time,
    has_tracking_finalizer,
    is_pod_failed,
    phase,
)

# Upstream's names.MaxGeneratedNameLength: generateName prefixes are cut to this.
MAX_GENERATED_NAME_LENGTH = 58


class Intervals:
    """Sorted, disjoint, non-adjacent [first, last] intervals of indexes."""

    def __init__(self, intervals: Iterable[tuple[int, int]] = ()) -> None:
        self.items: list[tuple[int, int]] = list(intervals)

    @classmethod
    def parse(cls, text: str | None, completions: int) -> Intervals:
        """Upstream's parseIndexesFromString: malformed parts and indexes at or past
        `completions` are dropped."""
        result = cls()
        if not text:
            return result
        for part in text.split(","):
            bounds = part.split("-")
            try:
                first = int(bounds[0])
                last = int(bounds[1]) if len(bounds) == 2 else first
            except ValueError:
                continue
            if len(bounds) > 2 or first < 0 or last < first:
                continue
            if first >= completions:
                break
            result = result.merge(Intervals([(first, min(last, completions - 1))]))
        return result

    def with_indexes(self, indexes: Iterable[int]) -> Intervals:
        return self.merge(Intervals((i, i) for i in sorted(set(indexes))))

    def merge(self, other: Intervals) -> Intervals:
        merged: list[tuple[int, int]] = []
        for first, last in sorted(self.items + other.items):
            if merged and first <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], last))
            else:
                merged.append((first, last))
        return Intervals(merged)

    def total(self) -> int:
        return sum(last - first + 1 for first, last in self.items)

    def has(self, index: int) -> bool:
        return any(first <= index <= last for first, last in self.items)

    def __str__(self) -> str:
        parts = []
        for first, last in self.items:
            if last == first:
                parts.append(str(first))
            elif last == first + 1:
                parts.append(f"{first},{last}")
            else:
                parts.append(f"{first}-{last}")
        return ",".join(parts)

    def __len__(self) -> int:
        return len(self.items)


def succeeded_indexes(job_status: dict[str, Any], pods: Sequence[Obj], completions: int
                      ) -> tuple[Intervals, Intervals]:
    """(counted, counted plus the indexes of succeeded pods not yet counted: those
    still carrying the tracking finalizer); upstream's calculateSucceededIndexes."""
    previous = Intervals.parse(job_status.get("completedIndexes"), completions)
    new = [ix for p in pods if phase(p) == "Succeeded" and has_tracking_finalizer(p)
           and (ix := completion_index(p)) is not None and ix < completions]
    return previous, previous.with_indexes(new)


def first_pending_indexes(non_pending: Intervals, count: int, completions: int) -> list[int]:
    """The first `count` indexes below `completions` not in `non_pending`."""
    result: list[int] = []
    candidate = 0
    for first, last in non_pending.items:
        while candidate < completions and len(result) < count and candidate < first:
            result.append(candidate)
            candidate += 1
        candidate = max(candidate, last + 1)
    while candidate < completions and len(result) < count:
        result.append(candidate)
        candidate += 1
    return result


def pod_indexes(pods: Iterable[Obj]) -> list[int]:
    return [ix for p in pods if (ix := completion_index(p)) is not None]


def duplicated_index_pods(pods: Sequence[Obj], completions: int) -> tuple[list[Obj], list[Obj]]:
    """(pods to remove, pods left): of several active pods of one index all but the
    best-placed one; pods with no valid index or one past `completions`. Upstream's
    appendDuplicatedIndexPodsForRemoval."""
    remove: list[Obj] = []
    left: list[Obj] = []
    by_index: dict[int, list[Obj]] = {}
    for pod in pods:
        ix = completion_index(pod)
        if ix is None or ix >= completions:
            remove.append(pod)
        else:
            by_index.setdefault(ix, []).append(pod)
    for ix in sorted(by_index):
        group = by_index[ix]
        if len(group) > 1:
            group = podutil.active_pods_order(group)
            remove.extend(group[:-1])
        left.append(group[-1])
    return remove, left


def generate_name(job_name: str, index: int) -> str:
    """`<job>-<index>-`, the job name cut so the prefix stays a valid generateName."""
    suffix = f"-{index}-"
    prefix = job_name + suffix
    if len(prefix) > MAX_GENERATED_NAME_LENGTH:
        prefix = job_name[:MAX_GENERATED_NAME_LENGTH - len(suffix)] + suffix
    return prefix


def add_completion_index_env(template: dict[str, Any]) -> None:
    """JOB_COMPLETION_INDEX from the pod's annotation, in every (init) container that
    does not set it."""
    tspec = template.get("spec") or {}
    for key in ("initContainers", "containers"):
        for container in tspec.get(key) or ():
            env = container.setdefault("env", [])
            if any(isinstance(e, dict) and e.get("name") == JOB_COMPLETION_INDEX_ENV
                   for e in env):
                continue
            env.append({"name": JOB_COMPLETION_INDEX_ENV, "valueFrom": {"fieldRef": {
                "apiVersion": "v1",
                "fieldPath": f"metadata.annotations['{JOB_COMPLETION_INDEX}']"}}})


def indexed_template(template: dict[str, Any], job_name: str, index: int) -> dict[str, Any]:
    """The template of index `index`: its annotation and label, and hostname."""
    out = copy.deepcopy(template)
    tmeta = out.setdefault("metadata", {})
    tmeta.setdefault("annotations", {})[JOB_COMPLETION_INDEX] = str(index)
    tmeta.setdefault("labels", {})[JOB_COMPLETION_INDEX] = str(index)
    out.setdefault("spec", {})["hostname"] = f"{job_name}-{index}"
    return out


# ----------------------------------------------------------------------------- per index


def _count_annotation(pod: Obj, name: str) -> int:
    value = (meta(pod).get("annotations") or {}).get(name)
    if not isinstance(value, str) or not value.isdigit():
        return 0
    return int(value)


def index_failure_count(pod: Obj) -> int:
    return _count_annotation(pod, JOB_INDEX_FAILURE_COUNT)


def index_absolute_failure_count(pod: Obj) -> int:
    """Failures of the pod's index before it, counted and ignored."""
    return index_failure_count(pod) + _count_annotation(pod, JOB_INDEX_IGNORED_FAILURE_COUNT)


def is_index_failed(job: Obj, pod: Obj) -> bool:
    """The pod's failure fails its index: a FailIndex rule, or its index failed
    backoffLimitPerIndex times before (upstream's isIndexFailed)."""
    if not is_pod_failed(pod, job):
        return False
    policy = spec(job).get("podFailurePolicy")
    counted = True
    if policy is not None:
        matched = podfailurepolicy.match(policy, pod)
        if matched.action == podfailurepolicy.FAIL_INDEX:
            return True
        counted = matched.count_failed
    return counted and index_failure_count(pod) >= int(spec(job)["backoffLimitPerIndex"])


def failed_indexes(job: Obj, pods: Sequence[Obj], completions: int) -> Intervals:
    """`status.failedIndexes` plus the indexes failed by pods not yet counted."""
    previous = Intervals.parse(status(job).get("failedIndexes"), completions)
    new = [ix for p in pods if has_tracking_finalizer(p) and is_index_failed(job, p)
           and (ix := completion_index(p)) is not None and ix < completions]
    return previous.with_indexes(new)


def pods_with_delayed_deletion(job: Obj, pods: Sequence[Obj], active: Sequence[Obj],
                               expected_removals: frozenset[str], succeeded: Intervals,
                               failed: Intervals, completions: int) -> dict[int, Obj]:
    """Per index still to retry: its last failed pod, whose finalizer stays until the
    replacement (which inherits its failure count) exists (upstream's
    getPodsWithDelayedDeletionPerIndex)."""
    active_indexes = set(pod_indexes(active))
    delayed: dict[int, Obj] = {}
    for pod in pods:
        if not has_tracking_finalizer(pod) or \
                str(meta(pod).get("uid")) in expected_removals or not is_pod_failed(pod, job):
            continue
        ix = completion_index(pod)
        if ix is None or ix >= completions or succeeded.has(ix) or failed.has(ix) or \
                ix in active_indexes:
            continue
        last = delayed.get(ix)
        if last is None or (index_absolute_failure_count(last) <=
                            index_absolute_failure_count(pod)
                            and not finished_time(pod) < finished_time(last)):
            delayed[ix] = pod
    return delayed


def index_remaining_backoff(pod: Obj | None, now: datetime, default: float, maximum: float
                            ) -> float:
    """Seconds before the index of `pod` (its last failed pod) may get a new pod."""
    if pod is None:
        return 0.0
    return remaining_for_failures(now, default, maximum,
                                  index_absolute_failure_count(pod) + 1, finished_time(pod))


def index_failure_annotations(job: Obj, replaced: Obj | None) -> dict[str, str]:
    """The failure-count annotations of the pod replacing `replaced` in its index."""
    if replaced is None:
        return {JOB_INDEX_FAILURE_COUNT: "0"}
    failures = index_failure_count(replaced)
    ignored = _count_annotation(replaced, JOB_INDEX_IGNORED_FAILURE_COUNT)
    policy = spec(job).get("podFailurePolicy")
    if policy is not None and not podfailurepolicy.match(policy, replaced).count_failed:
        ignored += 1
    else:
        failures += 1
    out = {JOB_INDEX_FAILURE_COUNT: str(failures)}
    if ignored:
        out[JOB_INDEX_IGNORED_FAILURE_COUNT] = str(ignored)
    return out
