"""The DaemonSet controller's pure parts: which nodes a DaemonSet runs on (upstream's
NodeShouldRunDaemonPod with the required node affinity rules), the per-node manage plan
(podsShouldBeOnNode: surge, failed and succeeded pods, pods meant for nodes that are gone)
and the rolling update plan's bounds with percentages.

Intent: the rules are upstream's, case by case, so a DaemonSet lands where upstream's
would and keeps or replaces the same pods.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from kybernetes.client.rest import Obj
from kybernetes.controllers.daemonset.backoff import FailedPodsBackoff
from kybernetes.controllers.daemonset.manage import NodePlan, plan_nodes
from kybernetes.controllers.daemonset.placement import (
    DaemonPlacement,
    Decisions,
    node_should_run_daemon_pod,
)
from kybernetes.controllers.daemonset.update import rolling_update_plan
from kybernetes.controllers.daemonset.util import (
    replace_node_name_affinity,
    target_node_name,
)
from tests.controllers.clock import NOW

HASH = "new"


def node(name: str, labels: dict[str, str] | None = None,
         taints: list[Obj] | None = None) -> Obj:
    return {"metadata": {"name": name, "labels": labels or {}},
            "spec": {"taints": taints or []}}


def ds(*, strategy: Obj | None = None, **pod_spec: Any) -> Obj:
    return {"metadata": {"name": "d", "namespace": "default", "uid": "u1"},
            "spec": {"selector": {"matchLabels": {"app": "d"}},
                     "updateStrategy": strategy or {
                         "type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
                     "template": {"metadata": {"labels": {"app": "d"}},
                                  "spec": {"containers": [{"name": "c", "image": "i"}],
                                           **pod_spec}}}}


def affinity(*expressions: Obj) -> Obj:
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": list(expressions)}]}}}


@pytest.mark.parametrize(("expression", "labels", "fits"), [
    ({"key": "zone", "operator": "In", "values": ["a", "b"]}, {"zone": "b"}, True),
    ({"key": "zone", "operator": "In", "values": ["a"]}, {"zone": "b"}, False),
    ({"key": "zone", "operator": "NotIn", "values": ["a"]}, {}, True),
    ({"key": "zone", "operator": "Exists"}, {"zone": ""}, True),
    ({"key": "zone", "operator": "DoesNotExist"}, {"zone": "a"}, False),
    ({"key": "cores", "operator": "Lt", "values": ["8"]}, {"cores": "4"}, True),
    ({"key": "cores", "operator": "Gt", "values": ["8"]}, {"cores": "many"}, False),
    # Malformed requirements match nothing.
    ({"key": "cores", "operator": "Gt", "values": ["x"]}, {"cores": "9"}, False),
    ({"key": "zone", "operator": "In", "values": []}, {"zone": "a"}, False),
    ({"key": "zone", "operator": "Near", "values": ["a"]}, {"zone": "a"}, False),
])
def test_required_node_affinity(expression: Obj, labels: dict[str, str], fits: bool) -> None:
    assert node_should_run_daemon_pod(node("n", labels), ds(affinity=affinity(expression))) \
        == (fits, fits)


def test_affinity_on_the_node_name_and_the_template_node_name() -> None:
    by_name = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchFields": [
            {"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]}}}
    assert node_should_run_daemon_pod(node("n1"), ds(affinity=by_name)) == (True, True)
    assert node_should_run_daemon_pod(node("n2"), ds(affinity=by_name)) == (False, False)
    assert node_should_run_daemon_pod(node("n2"), ds(nodeName="n1")) == (False, False)


@pytest.mark.parametrize(("taint", "pod_spec", "expected"), [
    ({"key": "x", "effect": "NoSchedule"}, {}, (False, True)),
    ({"key": "x", "effect": "NoExecute"}, {}, (False, False)),
    ({"key": "x", "effect": "PreferNoSchedule"}, {}, (True, True)),
    ({"key": "x", "value": "1", "effect": "NoExecute"},
     {"tolerations": [{"key": "x", "operator": "Equal", "value": "1"}]}, (True, True)),
    # The automatic tolerations.
    ({"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}, {}, (True, True)),
    ({"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}, {}, (True, True)),
    ({"key": "node.kubernetes.io/memory-pressure", "effect": "NoSchedule"}, {}, (True, True)),
    ({"key": "node.kubernetes.io/network-unavailable", "effect": "NoSchedule"}, {},
     (False, True)),
    ({"key": "node.kubernetes.io/network-unavailable", "effect": "NoSchedule"},
     {"hostNetwork": True}, (True, True)),
])
def test_taints_and_tolerations(taint: Obj, pod_spec: Obj, expected: tuple[bool, bool]
                                ) -> None:
    assert node_should_run_daemon_pod(node("n", taints=[taint]), ds(**pod_spec)) == expected


def test_the_node_name_affinity_replaces_only_the_required_terms() -> None:
    original: Obj = {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "a", "operator": "Exists"}]}]},
        "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1}]},
        "podAntiAffinity": {"x": 1}}
    replaced = replace_node_name_affinity(original, "n7")
    assert replaced["podAntiAffinity"] == {"x": 1}
    assert replaced["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"] == \
        [{"weight": 1}]
    assert target_node_name({"spec": {"affinity": replaced}}) == "n7"
    assert original["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"][0] == {"matchExpressions": [{"key": "a", "operator": "Exists"}]}


def pod(name: str, node_name: str, hash_: str = HASH, *, ready: bool = True,
        phase: str = "Running", bound: bool = True, created: int = 0) -> Obj:
    conditions = [{"type": "Ready", "status": "True" if ready else "False",
                   "lastTransitionTime": "2026-11-23T10:00:00Z"}]
    spec: Obj = {"affinity": replace_node_name_affinity(None, node_name)}
    if bound:
        spec["nodeName"] = node_name
    return {"metadata": {"name": name, "namespace": "default",
                         "labels": {"app": "d", "controller-revision-hash": hash_},
                         "creationTimestamp": (NOW - timedelta(minutes=60 - created))
                         .strftime("%Y-%m-%dT%H:%M:%SZ")},
            "spec": spec, "status": {"phase": phase, "conditions": conditions}}


def by_node(*pods: Obj) -> dict[str, list[Obj]]:
    out: dict[str, list[Obj]] = {}
    for p in pods:
        out.setdefault(str(target_node_name(p)), []).append(p)
    return out


def decide(daemon: Obj, nodes: list[Obj]) -> Decisions:
    return DaemonPlacement(daemon).decisions(nodes)


def plan(daemon: Obj, nodes: list[Obj], pods: dict[str, list[Obj]]) -> NodePlan:
    return plan_nodes(daemon, decide(daemon, nodes), pods, HASH, FailedPodsBackoff(), NOW)


SURGE = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}


def test_without_surge_the_oldest_of_two_pods_on_a_node_stays() -> None:
    pods = by_node(pod("a", "n1", "old"), pod("b", "n1", created=1))
    planned = plan(ds(), [node("n1")], pods)
    assert planned.pods_to_delete == ["b"] and planned.nodes_needing_pods == []


@pytest.mark.parametrize(("pods", "deleted"), [
    # The new pod is not ready yet: both stay.
    ((pod("old", "n1", "old"), pod("new", "n1", ready=False, created=1)), []),
    # The new pod is available: the old one goes.
    ((pod("old", "n1", "old"), pod("new", "n1", created=1)), ["old"]),
    # The old pod is not ready: it goes at once.
    ((pod("old", "n1", "old", ready=False), pod("new", "n1", ready=False, created=1)),
     ["old"]),
    # A third pod goes whatever the others are.
    ((pod("old", "n1", "old"), pod("new", "n1", ready=False, created=1),
      pod("newer", "n1", ready=False, created=2)), ["newer"]),
])
def test_with_surge_an_old_and_a_new_pod_may_share_a_node(pods: tuple[Obj, ...],
                                                          deleted: list[str]) -> None:
    planned = plan(ds(strategy=SURGE), [node("n1")], by_node(*pods))
    assert planned.pods_to_delete == deleted and planned.nodes_needing_pods == []


def test_finished_pods_are_deleted_and_a_node_with_none_left_gets_one_when_surging() -> None:
    planned = plan(ds(strategy=SURGE), [node("n1"), node("n2")],
                   by_node(pod("ok", "n1", phase="Succeeded"),
                           pod("bad", "n2", phase="Failed")))
    assert sorted(planned.pods_to_delete) == ["bad", "ok"]
    assert planned.nodes_needing_pods == ["n1", "n2"]
    assert sorted(reason for _, reason, _ in planned.events) == \
        ["FailedDaemonPod", "SucceededDaemonPod"]


def test_unbound_pods_for_nodes_that_are_gone_are_deleted() -> None:
    planned = plan(ds(), [node("n1")],
                   by_node(pod("here", "n1"), pod("lost", "gone", bound=False),
                           pod("bound", "gone2")))
    assert planned.pods_to_delete == ["lost"]


def test_percent_max_unavailable_rounds_up() -> None:
    nodes = [node(f"n{i}") for i in range(10)]
    pods = by_node(*(pod(f"p{i}", f"n{i}", "old") for i in range(10)))
    daemon = ds(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "15%"}})
    deleted, created = rolling_update_plan(daemon, decide(daemon, nodes), pods, HASH, NOW)
    assert len(deleted) == 2 and created == []
    # One node already without an available pod uses up one of the two.
    pods["n0"] = [pod("p0", "n0", "old", ready=False)]
    deleted, _ = rolling_update_plan(daemon, decide(daemon, nodes), pods, HASH, NOW)
    assert "p0" in deleted and len(deleted) == 2


def test_surge_percent_creates_beside_available_old_pods() -> None:
    nodes = [node(f"n{i}") for i in range(10)]
    pods = by_node(*(pod(f"p{i}", f"n{i}", "old") for i in range(10)))
    daemon = ds(strategy={"type": "RollingUpdate",
                          "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "20%"}})
    deleted, created = rolling_update_plan(daemon, decide(daemon, nodes), pods, HASH, NOW)
    assert deleted == [] and len(created) == 2
