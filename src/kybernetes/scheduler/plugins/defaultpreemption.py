"""DefaultPreemption: when no node fits a pod, find a node where evicting lower-priority
pods would make it fit, evict them, and nominate that node for the pod.

Upstream `pkg/scheduler/framework/plugins/defaultpreemption/default_preemption.go` and
`pkg/scheduler/framework/preemption/preemption.go`, simplified where noted:

1. **Eligibility**: a pod with `preemptionPolicy: Never` does not preempt ("not eligible due
   to preemptionPolicy=Never."); nor does one whose nominated node still has a lower
   priority pod terminating because of an earlier preemption ("not eligible due to a
   terminating pod on the nominated node.").
2. **Candidates**: only nodes whose filter status is Unschedulable (not
   UnschedulableAndUnresolvable) are tried, from a random offset, until
   max(10% of them, 100) candidates are found. On each (a copy of the NodeInfo and of the
   cycle state), every pod of lower priority is removed; if the pod then passes the filters
   (with nominated pods of equal or higher priority counted), victims are *reprieved* one by
   one, highest priority first, as long as the pod still fits. What remains are the victims.
3. **Choice** (upstream's `pickOneNodeForPreemption`): fewest PDB violations (PodDisruption-
   Budgets are not consulted yet: always 0), then the lowest highest-victim priority, the
   smallest sum of priorities, the fewest victims, the latest start of the highest-priority
   victims.
4. **Eviction**: each victim gets the `DisruptionTarget` condition (reason
   `PreemptionByScheduler`), is deleted, and gets a `Preempted` event; lower-priority pods
   nominated to that node lose their nomination. These API calls run in the background
   (upstream's async preemption): the preemptor is nominated to the node at once and goes
   back to the queue, to be scheduled there when the victims are gone.

When no candidate exists the PostFilter message is a second FitError, "preemption: 0/3
nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not
helpful for scheduling.", which the scheduler appends to the FailedScheduling event.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kybernetes.api import timeutil
from kybernetes.client import ClientError, NotFoundError, resource
from kybernetes.scheduler.interface import (
    CycleState,
    Handle,
    NominatingInfo,
    NominatingMode,
    PostFilterResult,
)
from kybernetes.scheduler.nodeinfo import NodeInfo
from kybernetes.scheduler.plugins.names import DEFAULT_PREEMPTION
from kybernetes.scheduler.podinfo import PodInfo
from kybernetes.scheduler.status import (
    Code,
    Diagnosis,
    FitError,
    NodeToStatus,
    Status,
    as_status,
    is_success,
    unresolvable,
    unschedulable,
)

log = logging.getLogger(__name__)

PODS = resource("", "v1", "pods")

NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"
NOT_ELIGIBLE_NEVER = "not eligible due to preemptionPolicy=Never."
NOT_ELIGIBLE_TERMINATING = "not eligible due to a terminating pod on the nominated node."
MAX_INT32 = 2**31 - 1


@dataclass
class Candidate:
    node_name: str
    victims: list[PodInfo]
    num_pdb_violations: int = 0


def terminating_by_preemption(pod: PodInfo) -> bool:
    if not pod.terminating:
        return False
    for condition in (pod.pod.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "DisruptionTarget" and \
                condition.get("reason") == "PreemptionByScheduler" and \
                condition.get("status") == "True":
            return True
    return False


def pick_one_node(candidates: list[Candidate]) -> Candidate | None:
    """Upstream's `pickOneNodeForPreemption`: each criterion in turn narrows the ties."""
    if not candidates:
        return None

    def earliest_start(c: Candidate) -> str:
        top = c.victims[0].priority
        return min((v.start_time or "9999") for v in c.victims if v.priority == top)

    criteria: list[Callable[[Candidate], int]] = [
        lambda c: -c.num_pdb_violations,
        lambda c: -c.victims[0].priority,
        lambda c: -sum(v.priority + MAX_INT32 + 1 for v in c.victims),
        lambda c: -len(c.victims),
    ]
    remaining = candidates
    for criterion in criteria:
        best = max(criterion(c) for c in remaining)
        remaining = [c for c in remaining if criterion(c) == best]
        if len(remaining) == 1:
            return remaining[0]
    latest = max(earliest_start(c) for c in remaining)
    return next(c for c in remaining if earliest_start(c) == latest)


class DefaultPreemption:
    name = DEFAULT_PREEMPTION

    def __init__(self, handle: Handle, min_candidate_nodes_percentage: int = 10,
                 min_candidate_nodes_absolute: int = 100) -> None:
        self.handle = handle
        self.min_percentage = min_candidate_nodes_percentage
        self.min_absolute = min_candidate_nodes_absolute

    def post_filter(self, state: CycleState, pod: PodInfo, statuses: NodeToStatus
                    ) -> tuple[PostFilterResult | None, Status | None]:
        result, status = self.preempt(state, pod, statuses)
        if status is not None and status.message:
            return result, Status(status.code, ("preemption: " + status.message,))
        return result, status

    # -- upstream's Evaluator ------------------------------------------------------------

    def eligible(self, pod: PodInfo, statuses: NodeToStatus) -> tuple[bool, str]:
        if pod.preemption_policy == "Never":
            return False, NOT_ELIGIBLE_NEVER
        nominated = (pod.pod.get("status") or {}).get("nominatedNodeName") or ""
        if nominated:
            if statuses.get(nominated).code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
                return True, ""
            node = self.handle.snapshot.get(nominated)
            if node is not None:
                for other in node.pods.values():
                    if other.priority < pod.priority and terminating_by_preemption(other):
                        return False, NOT_ELIGIBLE_TERMINATING
        return True, ""

    def num_candidates(self, num_nodes: int) -> int:
        n = num_nodes * self.min_percentage // 100
        n = max(n, self.min_absolute)
        return min(n, num_nodes)

    def preempt(self, state: CycleState, pod: PodInfo, statuses: NodeToStatus
                ) -> tuple[PostFilterResult | None, Status | None]:
        ok, message = self.eligible(pod, statuses)
        if not ok:
            return None, unschedulable(message)
        all_nodes = self.handle.snapshot.node_infos()
        if not all_nodes:
            return None, as_status(RuntimeError("no nodes available"))
        potential = [n for n in all_nodes
                     if statuses.get(n.name).code != Code.UNSCHEDULABLE_AND_UNRESOLVABLE]
        tried = NodeToStatus()
        candidates: list[Candidate] = []
        if potential:
            candidates, tried = self.dry_run(state, pod, potential)
        if not candidates:
            tried.absent = unresolvable(NOT_HELPFUL)
            fit_error = FitError(pod.key, len(all_nodes), Diagnosis(node_to_status=tried))
            return PostFilterResult(NominatingInfo("", NominatingMode.OVERRIDE)), \
                unschedulable(str(fit_error))
        best = pick_one_node(candidates)
        assert best is not None
        self.prepare_candidate(best, pod)
        return PostFilterResult(NominatingInfo(best.node_name, NominatingMode.OVERRIDE)), None

    def dry_run(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
                ) -> tuple[list[Candidate], NodeToStatus]:
        wanted = self.num_candidates(len(nodes))
        offset = random.randrange(len(nodes))
        statuses = NodeToStatus()
        non_violating: list[Candidate] = []
        for i in range(len(nodes)):
            node = nodes[(offset + i) % len(nodes)]
            victims, status = self.select_victims_on_node(state.clone(), pod, node.clone())
            if is_success(status) and victims:
                non_violating.append(Candidate(node.name, victims))
                if len(non_violating) >= wanted:
                    break
                continue
            if is_success(status):
                status = as_status(RuntimeError(
                    f'expected at least one victim pod on node "{node.name}"'))
            assert status is not None
            statuses.set(node.name, status)
        return non_violating, statuses

    def select_victims_on_node(self, state: CycleState, pod: PodInfo, node: NodeInfo
                               ) -> tuple[list[PodInfo], Status | None]:
        framework = self.handle.framework
        potential = [p for p in node.pods.values() if p.priority < pod.priority]
        for victim in potential:
            node.remove_pod(victim)
            status = framework.run_pre_filter_extension_remove_pod(state, pod, victim, node)
            if not is_success(status):
                return [], status
        if not potential:
            return [], unresolvable(NO_VICTIMS)
        status = framework.run_filter_plugins_with_nominated_pods(state, pod, node)
        if not is_success(status):
            return [], status
        potential.sort(key=_importance_key)
        victims: list[PodInfo] = []
        for candidate in potential:
            node.add_pod(candidate)
            framework.run_pre_filter_extension_add_pod(state, pod, candidate, node)
            if not is_success(framework.run_filter_plugins_with_nominated_pods(state, pod,
                                                                                node)):
                node.remove_pod(candidate)
                framework.run_pre_filter_extension_remove_pod(state, pod, candidate, node)
                victims.append(candidate)
        return victims, None

    def prepare_candidate(self, candidate: Candidate, pod: PodInfo) -> None:
        """Evict the victims and drop lower-priority nominations, in the background."""
        nominator = self.handle.nominator
        lower: list[PodInfo] = []
        if nominator is not None:
            lower = [p for p in nominator.nominated_pods_for_node(candidate.node_name)
                     if p.priority < pod.priority]
            for p in lower:
                nominator.delete_nominated_pod(p)
        client = self.handle.client
        if client is None:
            return
        try:
            task = asyncio.get_running_loop().create_task(
                self._evict(candidate, pod, lower), name=f"preempt:{pod.key}")
        except RuntimeError:
            return
        self.handle.background.add(task)
        task.add_done_callback(self.handle.background.discard)

    async def _evict(self, candidate: Candidate, pod: PodInfo, lower: list[PodInfo]) -> None:
        client = self.handle.client
        now = timeutil.now_rfc3339()
        message = f"{pod.scheduler_name}: preempting to accommodate a higher priority pod"

        async def evict(victim: PodInfo) -> None:
            condition = {"type": "DisruptionTarget", "status": "True",
                         "reason": "PreemptionByScheduler", "message": message,
                         "lastTransitionTime": now}
            try:
                await client.patch(PODS, victim.name, {"status": {"conditions": [condition]}},
                                   victim.namespace, patch_type="strategic",
                                   subresource="status")
                await client.delete(PODS, victim.name, victim.namespace)
            except NotFoundError:
                return
            except ClientError as err:
                log.warning("preempting %s for %s failed: %s", victim.key, pod.key, err)
                return
            if self.handle.recorder is not None:
                self.handle.recorder.event(victim.pod, "Normal", "Preempted",
                                           f"Preempted by pod {pod.uid} on node "
                                           f"{candidate.node_name}")

        async def clear(other: PodInfo) -> None:
            try:
                await client.patch(PODS, other.name, {"status": {"nominatedNodeName": None}},
                                   other.namespace, patch_type="merge", subresource="status")
            except ClientError as err:
                log.info("clearing the nomination of %s failed: %s", other.key, err)

        await asyncio.gather(*(evict(v) for v in candidate.victims),
                             *(clear(p) for p in lower))


def _importance_key(pi: PodInfo) -> tuple[int, str]:
    """Most important first (upstream's MoreImportantPod): higher priority, then the
    earlier start."""
    return (-pi.priority, pi.start_time or "\uffff")


def new(args: Mapping[str, Any], handle: Handle) -> DefaultPreemption:
    percentage = int(args.get("minCandidateNodesPercentage", 10))
    absolute = int(args.get("minCandidateNodesAbsolute", 100))
    if not 0 <= percentage <= 100:
        raise ValueError("minCandidateNodesPercentage: Invalid value: not in valid range "
                         "[0, 100]")
    if absolute < 0:
        raise ValueError("minCandidateNodesAbsolute: Invalid value: not in valid range [0, inf)")
    return DefaultPreemption(handle, percentage, absolute)
