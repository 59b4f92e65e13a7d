"""Pod helpers and controller expectations, as pure functions over dicts.

Intent: readiness/availability/activity read pods as upstream does; the deletion order is
upstream's ActivePodsWithRanks (each rule checked by a pair of pods differing in that rule
only); pods from templates carry the template's metadata and the controller reference;
the pod index finds an owner's pods and its namespace's orphans; expectations block a
sync until the informer has shown the writes, or until they expire.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from kybernetes.client.informer import Store
from kybernetes.client.rest import Obj
from kybernetes.controllers import podutil
from kybernetes.controllers.expectations import EXPECTATIONS_TIMEOUT, ControllerExpectations
from tests.controllers.clock import NOW


def ts(delta: timedelta) -> str:
    return (NOW - delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(name: str, *, node: str = "n", phase: str = "Running",
        ready_for: timedelta | None = None, created_ago: timedelta = timedelta(hours=1),
        restarts: int = 0, cost: str | None = None, uid: str = "",
        deleting: bool = False, owner_uid: str | None = None, namespace: str = "ns") -> Obj:
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "uid": uid or name,
                            "creationTimestamp": ts(created_ago)}
    if cost is not None:
        meta["annotations"] = {podutil.POD_DELETION_COST: cost}
    if deleting:
        meta["deletionTimestamp"] = ts(timedelta())
    if owner_uid is not None:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                    "name": "o", "uid": owner_uid, "controller": True}]
    conditions = []
    if ready_for is not None:
        conditions.append({"type": "Ready", "status": "True",
                           "lastTransitionTime": ts(ready_for)})
    return {"metadata": meta, "spec": {"nodeName": node},
            "status": {"phase": phase, "conditions": conditions,
                       "containerStatuses": [{"name": "c", "restartCount": restarts}]}}


def test_readiness_and_availability() -> None:
    ready = pod("a", ready_for=timedelta(seconds=30))
    assert podutil.is_pod_ready(ready)
    assert podutil.is_pod_available(ready, 0, NOW)
    assert podutil.is_pod_available(ready, 29, NOW)
    assert not podutil.is_pod_available(ready, 30, NOW)  # strictly more than minReady
    assert podutil.next_availability_check(ready, 40, NOW) == 10.0
    assert podutil.next_availability_check(ready, 20, NOW) is None
    assert not podutil.is_pod_ready(pod("b"))
    assert not podutil.is_pod_available(pod("b"), 0, NOW)


def test_activity() -> None:
    assert podutil.is_pod_active(pod("a"))
    assert not podutil.is_pod_active(pod("b", phase="Succeeded"))
    assert not podutil.is_pod_active(pod("c", phase="Failed"))
    assert not podutil.is_pod_active(pod("d", deleting=True))
    assert podutil.is_pod_terminating(pod("d", deleting=True))
    assert not podutil.is_pod_terminating(pod("e", phase="Failed", deleting=True))


H = timedelta(hours=1)


@pytest.mark.parametrize(("first", "second"), [
    (pod("unassigned", node=""), pod("assigned")),
    (pod("pending", phase="Pending"), pod("unknown", phase="Unknown")),
    (pod("unknown", phase="Unknown"), pod("running")),
    (pod("not-ready"), pod("ready", ready_for=H)),
    (pod("cheap", ready_for=H, cost="-5"), pod("dear", ready_for=H, cost="10")),
    (pod("recent", ready_for=timedelta(seconds=1)), pod("long", ready_for=10 * H)),
    (pod("flappy", restarts=3), pod("steady", restarts=0)),
    (pod("newer", created_ago=timedelta(seconds=1)), pod("older", created_ago=10 * H)),
    # Same power-of-two age bucket: the uid decides, not restarts or creation.
    (pod("x", uid="a", ready_for=H, created_ago=10 * H),
     pod("y", uid="b", ready_for=H + timedelta(seconds=1), restarts=9,
         created_ago=timedelta(seconds=1))),
])
def test_deletion_order_rule_by_rule(first: Obj, second: Obj) -> None:
    for pods in ([first, second], [second, first]):
        ordered = podutil.deletion_order(pods, [0, 0], NOW)
        assert [p["metadata"]["name"] for p in ordered] == \
            [first["metadata"]["name"], second["metadata"]["name"]]


def test_deletion_order_prefers_doubled_up_pods() -> None:
    crowded, alone = pod("crowded"), pod("alone")
    ordered = podutil.deletion_order([alone, crowded], [1, 3], NOW)
    assert [p["metadata"]["name"] for p in ordered] == ["crowded", "alone"]


def test_an_invalid_deletion_cost_counts_as_zero() -> None:
    assert podutil.deletion_cost(pod("a", cost="many")) == 0
    assert podutil.deletion_cost(pod("b", cost=str(2 ** 31))) == 0
    assert podutil.deletion_cost(pod("c", cost=" 7 ")) == 7


def test_active_pods_order_uses_exact_times() -> None:
    a = pod("a", ready_for=H)
    b = pod("b", ready_for=H + timedelta(seconds=1))
    assert [p["metadata"]["name"] for p in podutil.active_pods_order([b, a])] == ["a", "b"]


def test_pod_from_template() -> None:
    template = {"metadata": {"labels": {"app": "w"}, "annotations": {"a": "b"},
                             "finalizers": ["x/y"]},
                "spec": {"containers": [{"name": "c", "image": "i"}]}}
    ref = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "w", "uid": "u",
           "controller": True, "blockOwnerDeletion": True}
    made = podutil.pod_from_template(template, "w", ref)
    assert made["metadata"] == {"generateName": "w-", "labels": {"app": "w"},
                                "annotations": {"a": "b"}, "finalizers": ["x/y"],
                                "ownerReferences": [ref]}
    assert made["spec"] == template["spec"] and made["spec"] is not template["spec"]
    assert podutil.pods_prefix("n" * 253) == "n" * 253


def test_the_pod_index_finds_owned_pods_and_orphans_of_the_namespace() -> None:
    store = Store({podutil.POD_CONTROLLER_UID_INDEX: podutil.pod_controller_uid_index})
    store.replace([pod("mine", owner_uid="u1"), pod("theirs", owner_uid="u2"),
                   pod("orphan"), pod("far-orphan", namespace="other")])
    found = podutil.pods_for_owner(store, "ns", "u1", include_orphans=True)
    assert sorted(p["metadata"]["name"] for p in found) == ["mine", "orphan"]
    only = podutil.pods_for_owner(store, "ns", "u1", include_orphans=False)
    assert [p["metadata"]["name"] for p in only] == ["mine"]


def test_expectations_count_down_and_expire() -> None:
    now = [0.0]
    exp = ControllerExpectations(clock=lambda: now[0])
    assert exp.satisfied("ns/rs")  # none recorded
    exp.expect_creations("ns/rs", 2)
    assert not exp.satisfied("ns/rs")
    exp.creation_observed("ns/rs")
    assert not exp.satisfied("ns/rs")
    exp.creation_observed("ns/rs")
    assert exp.satisfied("ns/rs")

    exp.expect_deletions("ns/rs", ["ns/a", "ns/b"])
    exp.deletion_observed("ns/rs", "ns/a")
    exp.deletion_observed("ns/rs", "ns/a")  # the same pod twice counts once
    exp.deletion_observed("ns/rs", "ns/zzz")  # not one we deleted
    assert not exp.satisfied("ns/rs")
    now[0] += EXPECTATIONS_TIMEOUT + 1
    assert exp.satisfied("ns/rs")  # a lost event does not wedge the controller

    exp.delete("ns/rs")
    assert exp.get("ns/rs") is None and exp.deleting("ns/rs") == frozenset()
