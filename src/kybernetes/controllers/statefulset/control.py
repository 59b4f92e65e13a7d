"""One reconciliation of a StatefulSet: upstream's `pkg/controller/statefulset/
stateful_set_control.go` (defaultStatefulSetControl), with the MaxUnavailableStatefulSet
rolling update.

`update_stateful_set(set, pods)`:

1. **Revisions**: the set's ControllerRevisions (owned by it or orphans matching its
   selector), sorted. The update revision is the set's template as a new revision,
   unless an equal one exists: the latest (nothing changed) or an older one, whose number
   is then raised to the next (a rollback, `kubectl rollout undo`). The current revision is
   the one named by `status.currentRevision`, else the update revision.
2. **Pods by ordinal**: pods in `[start, start + replicas)` are the replicas (missing ones
   are made at the current revision below the partition, else at the update revision); the
   others with an ordinal are condemned (handled in decreasing ordinal order).
3. **Replicas**, in order: a Failed or Succeeded pod is deleted (to be recreated); a
   missing one is created (its claims first), with OrderedReady stopping there and waiting
   for each pod to be running, ready and available before going on; pending pods get
   their missing claims; identity, storage and claim ownership are restored. Parallel
   (`podManagementPolicy: Parallel`) does all replicas concurrently, in slow-start
   batches, and never waits.
4. **Condemned pods**: claim owner references fixed for the retention policy (so
   `whenScaled: Delete` claims go with their pod), then deleted from the highest ordinal,
   OrderedReady one at a time and only while all others are healthy (the first
   unhealthy pod excepted).
5. **Update**: OnDelete stops here. RollingUpdate deletes pods not at the update revision,
   from the highest ordinal down to the partition, as long as at most `maxUnavailable`
   replicas are unavailable (they come back at the update revision in step 3).
6. **Status** is written when it changed (`status.py`), then **history** is truncated to
   `revisionHistoryLimit` revisions besides the live ones (current, update, and those of
   existing pods), oldest first.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from kybernetes.api import objects
from kybernetes.api.selectors import label_selector_from_dict
from kybernetes.client import ApiClient, NotFoundError
from kybernetes.client.rest import ApiError, Obj
from kybernetes.controllers.history import (
    ControllerHistory,
    equal_revision,
    find_equal_revisions,
    next_revision,
    sort_controller_revisions,
)
from kybernetes.controllers.refmanager import controller_ref
from kybernetes.controllers.statefulset import identity as ident
from kybernetes.controllers.statefulset.podcontrol import StatefulPodControl, StatefulSetError
from kybernetes.controllers.statefulset.status import (
    SetStatus,
    complete_rolling_update,
    inconsistent_status,
    write_status,
)

log = logging.getLogger(__name__)

# Upstream's MaxBatchSize: the most concurrent writes of one Parallel step.
MAX_BATCH_SIZE = 500
DEFAULT_REVISION_HISTORY_LIMIT = 10

ProcessFn = Callable[[int], Awaitable[bool]]


@dataclass
class _Revisions:
    current: Obj | None = None
    update: Obj | None = None


def _name(obj: Obj) -> str:
    return str(objects.meta(obj).get("name") or "")


def _aggregate(errors: Sequence[BaseException]) -> BaseException:
    if len(errors) == 1:
        return errors[0]
    return StatefulSetError([str(e) for e in errors])


async def _slow_start_batch(count: int, fn: ProcessFn) -> None:
    """Call `fn(0..count-1)` in concurrent batches of 1, 2, 4, ... (at most
    MAX_BATCH_SIZE); stop after the first batch with failures and raise them."""
    done, batch = 0, min(count, 1)
    while batch > 0:
        results = await asyncio.gather(*(fn(done + k) for k in range(batch)),
                                       return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        for err in errors:
            if isinstance(err, asyncio.CancelledError):
                raise err
        if errors:
            raise _aggregate(errors)
        done += batch
        batch = min(2 * batch, count - done, MAX_BATCH_SIZE)


async def _run_for_all(count: int, fn: ProcessFn, monotonic: bool) -> bool:
    """Upstream's runForAll: in order until one says stop (monotonic), or all in batches.
    True when processing should stop here."""
    if monotonic:
        for i in range(count):
            if await fn(i):
                return True
        return False
    await _slow_start_batch(count, fn)
    return False


class StatefulSetControl:
    """The reconciliation of one set against its (claimed) pods."""

    def __init__(self, client: ApiClient, history: ControllerHistory,
                 pod_control: StatefulPodControl, clock: Callable[[], datetime]) -> None:
        self.client = client
        self.history = history
        self.pod_control = pod_control
        self.clock = clock

    # -- revisions ----------------------------------------------------------------------

    def list_revisions(self, sts: Obj) -> list[Obj]:
        selector = label_selector_from_dict(objects.spec(sts).get("selector"))
        return self.history.list_controller_revisions(sts, selector)

    async def adopt_orphan_revisions(self, sts: Obj, revisions: Sequence[Obj]) -> None:
        for revision in revisions:
            await self.history.adopt_controller_revision(sts, ident.SET_KIND, revision)

    async def _revisions(self, sts: Obj, revisions: list[Obj]
                         ) -> tuple[Obj, Obj, int]:
        """(current revision, update revision, collision count); may create a revision or
        renumber an old one (getStatefulSetRevisions)."""
        collision_count = int(objects.status(sts).get("collisionCount") or 0)
        update = ident.new_revision(sts, next_revision(revisions), collision_count)
        equal = find_equal_revisions(revisions, update)
        if equal and equal_revision(revisions[-1], equal[-1]):
            update = revisions[-1]
        elif equal:
            update = await self.history.update_controller_revision(
                equal[-1], int(update["revision"]))
        else:
            update, collision_count = await self.history.create_controller_revision(
                sts, update, collision_count)
        wanted = objects.status(sts).get("currentRevision")
        current = next((r for r in revisions if _name(r) == wanted), update)
        return current, update, collision_count

    async def _truncate_history(self, sts: Obj, pods: Sequence[Obj], revisions: list[Obj],
                                current: Obj | None, update: Obj | None) -> None:
        live = {_name(r) for r in (current, update) if r is not None}
        live.update(ident.pod_revision(p) for p in pods)
        old = [r for r in revisions if _name(r) not in live]
        limit = objects.spec(sts).get("revisionHistoryLimit")
        limit = DEFAULT_REVISION_HISTORY_LIMIT if limit is None else int(limit)
        if limit < 0 or len(old) <= limit:
            return
        for revision in old[:len(old) - limit]:
            await self.history.delete_controller_revision(revision)

    # -- the whole step -----------------------------------------------------------------

    async def update_stateful_set(self, sts: Obj, pods: Sequence[Obj]) -> SetStatus:
        """Reconcile `sts` (not modified) with its `pods`; returns the status it computed
        (and wrote, if it changed). Raises the errors met, after truncating history."""
        sts = copy.deepcopy(sts)
        revisions = sort_controller_revisions(self.list_revisions(sts))
        found = _Revisions()
        errors: list[BaseException] = []
        result: SetStatus | None = None
        try:
            result = await self._perform_update(sts, pods, revisions, found)
        except Exception as err:  # aggregated with the truncation's, as upstream
            errors.append(err)
        try:
            await self._truncate_history(sts, pods, revisions, found.current, found.update)
        except Exception as err:
            errors.append(err)
        if errors:
            raise _aggregate(errors)
        assert result is not None
        return result

    async def _perform_update(self, sts: Obj, pods: Sequence[Obj], revisions: list[Obj],
                              found: _Revisions) -> SetStatus:
        current, update, collision_count = await self._revisions(sts, revisions)
        found.current, found.update = current, update
        result, err = await self._update_pods(sts, current, update, collision_count, pods)
        try:
            await self._update_status(sts, result)
        except Exception as status_err:
            if err is None:
                raise
            log.error("statefulset-controller: could not update status of %s/%s: %s",
                      objects.meta(sts).get("namespace"), _name(sts), status_err)
        if err is not None:
            raise err
        return result

    async def _update_status(self, sts: Obj, result: SetStatus) -> None:
        complete_rolling_update(sts, result)
        if inconsistent_status(sts, result):
            await write_status(self.client, sts, result)

    # -- pods ---------------------------------------------------------------------------

    async def _update_pods(self, sts: Obj, current: Obj, update: Obj, collision_count: int,
                           pods: Sequence[Obj]) -> tuple[SetStatus, BaseException | None]:
        """Upstream's updateStatefulSet: the status, and the error that stopped it."""
        current_set = ident.apply_revision(sts, current)
        update_set = ident.apply_revision(sts, update)
        min_ready = ident.min_ready_seconds(sts)
        now = self.clock()
        result = SetStatus(
            observed_generation=int(objects.meta(sts).get("generation") or 0),
            current_revision=_name(current), update_revision=_name(update),
            collision_count=collision_count)
        result.count(pods, min_ready, now)

        start, end = ident.start_ordinal(sts), ident.end_ordinal(sts)
        slots: list[Obj | None] = [None] * max(ident.replicas(sts), 0)
        condemned: list[Obj] = []
        for pod in pods:
            ordinal = ident.get_ordinal(pod)
            if start <= ordinal <= end:
                slots[ordinal - start] = pod
            elif ordinal >= 0:
                condemned.append(pod)
        replicas: list[Obj] = [
            pod if pod is not None else ident.new_versioned_pod(
                current_set, update_set, _name(current), _name(update), start + index)
            for index, pod in enumerate(slots)]
        condemned.sort(key=ident.get_ordinal, reverse=True)

        first_unavailable: Obj | None = None
        for pod in [*replicas, *reversed(condemned)]:
            if ident.is_unavailable(pod, min_ready, now) and first_unavailable is None:
                first_unavailable = pod

        if objects.meta(sts).get("deletionTimestamp"):
            return result, None
        monotonic = not ident.allows_burst(sts)

        async def process_replica(i: int) -> bool:
            return await self._process_replica(sts, update_set, monotonic, replicas, i, now)

        async def fix_pod_claim(i: int) -> bool:
            pod = condemned[i]
            control = self.pod_control
            if not control.claims_match_retention_policy(update_set, pod):
                await control.update_pod_claim_for_retention_policy(update_set, pod)
            return False

        async def process_condemned(i: int) -> bool:
            return await self._process_condemned(sts, first_unavailable, monotonic,
                                                 condemned, i, now)

        for count, step in ((len(replicas), process_replica),
                            (len(condemned), fix_pod_claim),
                            (len(condemned), process_condemned)):
            try:
                stop = await _run_for_all(count, step, monotonic)
            except Exception as err:
                result.count([*replicas, *condemned], min_ready, now)
                return result, err
            if stop:
                result.count([*replicas, *condemned], min_ready, now)
                return result, None

        result.count([*replicas, *condemned], min_ready, now)
        if (objects.spec(sts).get("updateStrategy") or {}).get("type") == ident.ON_DELETE:
            return result, None
        return await self._rolling_update(sts, replicas, update, result, now)

    async def _process_replica(self, sts: Obj, update_set: Obj, monotonic: bool,
                               replicas: list[Obj], i: int, now: datetime) -> bool:
        pod = replicas[i]
        control = self.pod_control
        if ident.is_failed(pod) or ident.is_succeeded(pod):
            if not ident.is_terminating(pod):
                await control.delete_stateful_pod(sts, pod)
            # The replacement is made once the old pod is gone.
            return True
        if not ident.is_created(pod):
            if control.pod_claim_is_stale(sts, pod):
                return True  # wait for the garbage collector to remove the old claim
            await control.create_stateful_pod(sts, pod)
            if monotonic:
                return True
        if ident.is_pending(pod):
            await control.create_missing_persistent_volume_claims(sts, pod)
        if monotonic and (ident.is_terminating(pod) or not ident.is_running_and_ready(pod)
                          or not ident.is_running_and_available(
                              pod, ident.min_ready_seconds(sts), now)):
            return True
        retention_match = control.claims_match_retention_policy(update_set, pod)
        if ident.identity_matches(sts, pod) and ident.storage_matches(sts, pod) and \
                retention_match:
            return False
        await control.update_stateful_pod(update_set, copy.deepcopy(pod))
        return False

    async def _process_condemned(self, sts: Obj, first_unavailable: Obj | None,
                                 monotonic: bool, condemned: list[Obj], i: int,
                                 now: datetime) -> bool:
        pod = condemned[i]
        if ident.is_terminating(pod):
            return monotonic  # OrderedReady waits for it to go
        if monotonic and pod is not first_unavailable and (
                not ident.is_running_and_ready(pod) or not ident.is_running_and_available(
                    pod, ident.min_ready_seconds(sts), now)):
            return True
        log.info("statefulset-controller: pod %s of StatefulSet %s/%s is terminating for "
                 "scale down", _name(pod), objects.meta(sts).get("namespace"), _name(sts))
        await self.pod_control.delete_stateful_pod(sts, pod)
        return True

    async def _rolling_update(self, sts: Obj, replicas: list[Obj], update: Obj,
                              result: SetStatus, now: datetime
                              ) -> tuple[SetStatus, BaseException | None]:
        """Upstream's updateStatefulSetAfterInvariantEstablished."""
        rolling = (objects.spec(sts).get("updateStrategy") or {}).get("rollingUpdate")
        update_min, max_unavailable = 0, 1
        if isinstance(rolling, dict):
            update_min = int(rolling.get("partition") or 0)
            max_unavailable = ident.max_unavailable(sts, ident.replicas(sts))
        min_ready = ident.min_ready_seconds(sts)
        unavailable = sum(1 for p in replicas if ident.is_unavailable(p, min_ready, now))
        if unavailable > max_unavailable:
            return result, None
        to_delete, deleted = max_unavailable - unavailable, 0
        target = len(replicas) - 1
        while target >= update_min and deleted < to_delete:
            pod = replicas[target]
            if ident.pod_revision(pod) != _name(update) and not ident.is_terminating(pod):
                log.info("statefulset-controller: terminating pod %s of StatefulSet %s/%s "
                         "for update", _name(pod), objects.meta(sts).get("namespace"),
                         _name(sts))
                try:
                    await self.pod_control.delete_stateful_pod(sts, pod)
                except NotFoundError:
                    pass
                except ApiError as err:
                    return result, err
                deleted += 1
                result.current_replicas -= 1
            target -= 1
        return result, None


def orphan_revisions(revisions: Sequence[Obj]) -> list[Obj]:
    return [r for r in revisions if controller_ref(r) is None]
