"""The RollingUpdate strategy of DaemonSets: upstream's `rollingUpdate`,
`findUpdatedPodsOnNode` and `updatedDesiredNodeCounts` (`pkg/controller/daemon/update.go`),
as a plan the controller then carries out with its own creations and deletions.

The manage loop keeps one pod per eligible node (two while surging); the plan decides which
old pods (not of the current revision) go, or which nodes get a new pod beside the old one:

- **Without surge** (`maxSurge` 0): old pods are deleted while the unavailable pods stay
  within `maxUnavailable`; the manage loop then creates their replacements. A node with
  no pod or with both an old and a new one, or whose new pod is not available, counts as
  unavailable; an old pod that is itself unavailable is replaced at once, whatever the
  count. Deleted pods do not count, so an update goes on when nodes are down.
- **With surge**: a new pod is created beside an available old one on at most `maxSurge`
  nodes at a time (at once beside an unavailable old one), and the old pod is deleted once
  the new one is available. Old pods on nodes the DaemonSet no longer fits are deleted only
  as far as the available pods exceed the desired number.

Both bounds are ints or percentages of the desired nodes (rounded up); a DaemonSet with
both at 0 gets `maxUnavailable` 1, as upstream. A node named by pods but gone from the node
list counts as a node the DaemonSet no longer fits (upstream fails the sync there, which
would stall the update until the pod garbage collector removed the pods).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime

from kybernetes.api.objects import meta, spec
from kybernetes.client.rest import Obj
from kybernetes.controllers import podutil
from kybernetes.controllers.daemonset.placement import Decisions
from kybernetes.controllers.daemonset.util import (
    is_pod_updated,
    surge_count,
    template_generation,
    unavailable_count,
)

log = logging.getLogger(__name__)


def _name(obj: Obj) -> str:
    return str(meta(obj).get("name"))


def find_updated_pods_on_node(ds: Obj, pods: list[Obj], hash_: str
                              ) -> tuple[Obj | None, Obj | None, bool]:
    """(new pod, old pod, ok) among the node's pods not being deleted; not ok when there
    are two of either (the manage loop prunes those first)."""
    generation = template_generation(ds)
    new_pod: Obj | None = None
    old_pod: Obj | None = None
    for pod in pods:
        if meta(pod).get("deletionTimestamp"):
            continue
        if is_pod_updated(pod, hash_, generation):
            if new_pod is not None:
                return None, None, False
            new_pod = pod
        else:
            if old_pod is not None:
                return None, None, False
            old_pod = pod
    return new_pod, old_pod, True


def desired_node_counts(ds: Obj, decisions: Decisions, node_to_pods: dict[str, list[Obj]]
                        ) -> tuple[int, int, int]:
    """(maxSurge, maxUnavailable, desiredNumberScheduled); every desired node without
    pods gets an empty entry in `node_to_pods`. Raises ValueError for malformed bounds."""
    desired = 0
    for node_name, (should_run, _) in decisions.items():
        if not should_run:
            continue
        desired += 1
        node_to_pods.setdefault(node_name, [])
    try:
        max_unavailable = unavailable_count(ds, desired)
    except ValueError as err:
        raise ValueError(f"invalid value for MaxUnavailable: {err}") from err
    try:
        max_surge = surge_count(ds, desired)
    except ValueError as err:
        raise ValueError(f"invalid value for MaxSurge: {err}") from err
    if desired > 0 and max_unavailable == 0 and max_surge == 0:
        log.info("DaemonSet %s/%s is not configured for surge or unavailability, defaulting "
                 "to accepting unavailability", meta(ds).get("namespace"), _name(ds))
        max_unavailable = 1
    return max_surge, max_unavailable, desired


def rolling_update_plan(ds: Obj, decisions: Decisions, node_to_pods: Mapping[str, list[Obj]],
                        hash_: str, now: datetime) -> tuple[list[str], list[str]]:
    """(names of old pods to delete, nodes to create a new pod on) for one pass of the
    rolling update (see the module docstring)."""
    pods_by_node = {name: list(pods) for name, pods in node_to_pods.items()}
    max_surge, max_unavailable, desired = desired_node_counts(ds, decisions, pods_by_node)
    min_ready = int(spec(ds).get("minReadySeconds") or 0)

    def available(pod: Obj) -> bool:
        return podutil.is_pod_available(pod, min_ready, now)

    if max_surge == 0:
        return _without_surge(ds, pods_by_node, hash_, max_unavailable, available), []

    def should_run(node_name: str) -> bool:
        return decisions.get(node_name, (False, False))[0]

    old_to_delete: list[str] = []
    should_not_run_to_delete: list[str] = []
    candidate_new_nodes: list[str] = []
    allowed_new_nodes: list[str] = []
    num_surge = num_available = 0
    for node_name, pods in pods_by_node.items():
        new_pod, old_pod, ok = find_updated_pods_on_node(ds, pods, hash_)
        if not ok:
            num_surge += 1  # the manage loop cleans this node up first
            continue
        if old_pod is not None:
            num_available += available(old_pod)
        elif new_pod is not None:
            num_available += available(new_pod)
        if old_pod is None:
            continue  # nothing to replace: the manage loop creates any missing pod
        if new_pod is None:
            if not available(old_pod):
                if not should_run(node_name):
                    old_to_delete.append(_name(old_pod))
                    continue
                allowed_new_nodes.append(node_name)
                continue
            if not should_run(node_name):
                should_not_run_to_delete.append(_name(old_pod))
                continue
            if num_surge >= max_surge:
                continue
            candidate_new_nodes.append(node_name)
            continue
        if not available(new_pod):
            num_surge += 1  # waiting for the new pod to become available
            continue
        old_to_delete.append(_name(old_pod))  # the new pod is available: the old one goes

    # With a surge the owner expects full availability: pods on nodes the DaemonSet left
    # go only as far as there are more available pods than desired ones.
    deletable = min(num_available - desired, len(should_not_run_to_delete))
    if deletable > 0:
        old_to_delete.extend(should_not_run_to_delete[:deletable])
    remaining = max(0, min(max_surge - num_surge, len(candidate_new_nodes)))
    return old_to_delete, allowed_new_nodes + candidate_new_nodes[:remaining]


def _without_surge(ds: Obj, pods_by_node: dict[str, list[Obj]], hash_: str,
                   max_unavailable: int, available: Callable[[Obj], bool]
                   ) -> list[str]:
    num_unavailable = 0
    allowed_replacements: list[str] = []
    candidates: list[str] = []
    for pods in pods_by_node.values():
        new_pod, old_pod, ok = find_updated_pods_on_node(ds, pods, hash_)
        if not ok:
            num_unavailable += 1  # the manage loop prunes the excess pods first
            continue
        if (old_pod is None) == (new_pod is None):
            num_unavailable += 1  # the manage loop creates or deletes here
        elif new_pod is not None:
            if not available(new_pod):
                num_unavailable += 1
        elif old_pod is not None:
            if not available(old_pod):
                allowed_replacements.append(_name(old_pod))
                num_unavailable += 1
            elif num_unavailable < max_unavailable:
                candidates.append(_name(old_pod))
    remaining = max(0, min(max_unavailable - num_unavailable, len(candidates)))
    return allowed_replacements + candidates[:remaining]
