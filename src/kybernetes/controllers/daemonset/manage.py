"""What the manage loop of a DaemonSet does on each node: upstream's `podsShouldBeOnNode`
and `getUnscheduledPodsWithoutNode` (`pkg/controller/daemon/daemon_controller.go`), as a
pure plan the controller carries out.

Per node, with (should run, should continue running) from `placement`:

- should run and no pod there: the node needs a pod;
- should continue running: pods being deleted are left alone; a Failed pod is deleted
  (a `FailedDaemonPod` warning) unless the node is in backoff (its key then asks for a
  later sync), a Succeeded one too (`SucceededDaemonPod`); of the others, without surge
  all but the oldest go (bound first, then by creation time); with surge the oldest pod of
  the current hash and the oldest other are kept (every further pod goes) and the old one
  goes too once the new one is available or the old one is not ready; a node left with no
  running pod that should run gets one;
- should not continue running: every pod there not yet being deleted goes.

Pods meant for a node that no longer exists are deleted only while unscheduled (bound ones
are the pod garbage collector's).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from kybernetes.api.objects import meta, spec
from kybernetes.client.rest import Obj
from kybernetes.controllers import podutil
from kybernetes.controllers.daemonset.backoff import FailedPodsBackoff
from kybernetes.controllers.daemonset.placement import Decisions
from kybernetes.controllers.daemonset.status import creation_order_key
from kybernetes.controllers.daemonset.util import UNIQUE_LABEL_KEY, allows_surge

FAILED_DAEMON_POD = "FailedDaemonPod"
SUCCEEDED_DAEMON_POD = "SucceededDaemonPod"


@dataclass
class NodePlan:
    """What one pass of the manage loop does."""

    nodes_needing_pods: list[str] = field(default_factory=list)
    pods_to_delete: list[str] = field(default_factory=list)
    # (warning?, reason, message) of events to record about the DaemonSet.
    events: list[tuple[bool, str, str]] = field(default_factory=list)
    # Sync again after this many seconds (a failed pod still in backoff).
    requeue_after: float | None = None

    def requeue(self, delay: float) -> None:
        if self.requeue_after is None or delay < self.requeue_after:
            self.requeue_after = delay


def failed_pods_backoff_key(ds: Obj, node_name: str) -> str:
    """Upstream's failedPodsBackoffKey: uid, observed generation and node."""
    generation = int((ds.get("status") or {}).get("observedGeneration") or 0)
    return f"{meta(ds).get('uid')}/{generation}/{node_name}"


def _name(obj: Obj) -> str:
    return str(meta(obj).get("name"))


def _phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


def pods_should_be_on_node(plan: NodePlan, node_name: str, should_run: bool,
                           should_continue: bool, node_to_pods: Mapping[str, list[Obj]],
                           ds: Obj, hash_: str, backoff: FailedPodsBackoff,
                           now: datetime) -> None:
    """Add the node's creations, deletions and events to `plan` (module docstring)."""
    pods = node_to_pods.get(node_name)
    if should_run and pods is None:
        plan.nodes_needing_pods.append(node_name)
        return
    if not should_continue:
        plan.pods_to_delete.extend(_name(p) for p in pods or ()
                                   if not meta(p).get("deletionTimestamp"))
        return
    running: list[Obj] = []
    for pod in pods or ():
        if meta(pod).get("deletionTimestamp"):
            continue
        where = f"{meta(pod).get('namespace')}/{_name(pod)} on node {node_name}"
        if _phase(pod) == "Failed":
            # Upstream's guard against fighting a kubelet that rejects the pod.
            key = failed_pods_backoff_key(ds, node_name)
            stamp = now.timestamp()
            if backoff.in_backoff(key, stamp):
                plan.requeue(backoff.get(key))
                continue
            backoff.next(key, stamp)
            plan.events.append((True, FAILED_DAEMON_POD,
                                f"Found failed daemon pod {where}, will try to kill it"))
            plan.pods_to_delete.append(_name(pod))
        elif _phase(pod) == "Succeeded":
            plan.events.append((False, SUCCEEDED_DAEMON_POD,
                                f"Found succeeded daemon pod {where}, will try to delete it"))
            plan.pods_to_delete.append(_name(pod))
        else:
            running.append(pod)
    running.sort(key=creation_order_key)
    if not allows_surge(ds):
        plan.pods_to_delete.extend(_name(p) for p in running[1:])
        return
    if len(running) <= 1:
        if not running and should_run:
            plan.nodes_needing_pods.append(node_name)
        return
    oldest_new: Obj | None = None
    oldest_old: Obj | None = None
    for pod in running:
        if (meta(pod).get("labels") or {}).get(UNIQUE_LABEL_KEY) == hash_:
            if oldest_new is None:
                oldest_new = pod
                continue
        elif oldest_old is None:
            oldest_old = pod
            continue
        plan.pods_to_delete.append(_name(pod))
    if oldest_new is not None and oldest_old is not None:
        min_ready = int(spec(ds).get("minReadySeconds") or 0)
        if not podutil.is_pod_ready(oldest_old) or \
                podutil.is_pod_available(oldest_new, min_ready, now):
            plan.pods_to_delete.append(_name(oldest_old))


def unscheduled_pods_without_node(decisions: Decisions,
                                  node_to_pods: Mapping[str, list[Obj]]) -> list[str]:
    """Upstream's getUnscheduledPodsWithoutNode: unbound pods meant for nodes that are gone
    (the pod garbage collector only removes bound ones)."""
    return [_name(p) for node_name, pods in node_to_pods.items() if node_name not in decisions
            for p in pods if not spec(p).get("nodeName")]


def plan_nodes(ds: Obj, decisions: Decisions, node_to_pods: Mapping[str, list[Obj]],
               hash_: str, backoff: FailedPodsBackoff, now: datetime) -> NodePlan:
    """Upstream's manage, without the writes; `decisions` covers every existing node."""
    plan = NodePlan()
    for node_name, (should_run, should_continue) in decisions.items():
        pods_should_be_on_node(plan, node_name, should_run, should_continue, node_to_pods,
                               ds, hash_, backoff, now)
    plan.pods_to_delete.extend(unscheduled_pods_without_node(decisions, node_to_pods))
    return plan
