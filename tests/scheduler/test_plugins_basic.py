"""NodeName, NodeUnschedulable, TaintToleration, NodeAffinity, NodePorts: the pure checks
as tables, and the bulk (vector) path agreeing with them."""

from __future__ import annotations

from typing import Any

import pytest

from kybernetes.scheduler.plugins import (
    nodeaffinity,
    nodename,
    nodeports,
    nodeunschedulable,
    tainttoleration,
)
from kybernetes.scheduler.status import Code
from tests.scheduler.helpers import (
    cache_of,
    framework,
    info,
    node,
    node_info,
    per_node_and_vector,
    pod,
    prefiltered,
)

NO_SCHEDULE = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}


# -- NodeName ------------------------------------------------------------------------------

@pytest.mark.parametrize(("wanted", "fits"), [("", True), ("n1", True), ("n2", False)])
def test_node_name(wanted: str, fits: bool) -> None:
    p = info(pod("p"))
    p.node_name = wanted
    assert nodename.fits(p, node_info(node("n1"))) is fits
    status = nodename.NodeName().filter(prefiltered(framework(cache_of([])), p), p,
                                        node_info(node("n1")))
    if not fits:
        assert status is not None and status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
        assert status.reasons == ("node(s) didn't match the requested node name",)


# -- NodeUnschedulable ---------------------------------------------------------------------

@pytest.mark.parametrize(("unschedulable", "tolerations", "fits"), [
    (False, [], True),
    (True, [], False),
    (True, [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists",
             "effect": "NoSchedule"}], True),
    (True, [{"operator": "Exists"}], True),
])
def test_node_unschedulable(unschedulable: bool, tolerations: list[dict[str, Any]],
                            fits: bool) -> None:
    n = node_info(node("n", unschedulable=unschedulable))
    assert nodeunschedulable.fits(info(pod("p", tolerations=tolerations)), n) is fits


def test_node_unschedulable_vector_agrees() -> None:
    fw = framework(cache_of([node("a"), node("b", unschedulable=True)]))
    per_node, vector = per_node_and_vector(fw, "NodeUnschedulable", info(pod("p")))
    assert per_node == vector == {"a": True, "b": False}


# -- TaintToleration -----------------------------------------------------------------------

@pytest.mark.parametrize(("taints", "tolerations", "fits"), [
    ([], [], True),
    ([NO_SCHEDULE], [], False),
    ([NO_SCHEDULE], [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}], True),
    ([NO_SCHEDULE], [{"key": "dedicated", "operator": "Exists"}], True),
    ([NO_SCHEDULE], [{"key": "dedicated", "value": "cpu", "effect": "NoSchedule"}], False),
    ([{"key": "k", "effect": "PreferNoSchedule"}], [], True),
    ([{"key": "k", "effect": "NoExecute"}], [{"key": "k", "operator": "Exists",
                                             "effect": "NoSchedule"}], False),
])
def test_taint_toleration_filter(taints: list[dict[str, Any]],
                                 tolerations: list[dict[str, Any]], fits: bool) -> None:
    n = node_info(node("n", taints=taints))
    plugin = tainttoleration.TaintToleration()
    p = info(pod("p", tolerations=tolerations))
    status = plugin.filter(prefiltered(framework(cache_of([])), p), p, n)
    assert (status is None) is fits
    if not fits:
        assert status is not None
        assert status.reasons == ("node(s) had untolerated taint(s)",)
        assert status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE


def test_taint_toleration_score_prefers_fewer_intolerable_soft_taints() -> None:
    soft = [{"key": "a", "effect": "PreferNoSchedule"}, {"key": "b", "effect": "PreferNoSchedule"}]
    cache = cache_of([node("none"), node("one", taints=soft[:1]), node("two", taints=soft)])
    fw = framework(cache)
    p = info(pod("p", tolerations=[{"key": "b", "operator": "Exists",
                                    "effect": "PreferNoSchedule"}]))
    plugin = fw.plugins["TaintToleration"]
    state = prefiltered(fw, p)
    nodes = cache.node_infos()
    plugin.pre_score(state, p, nodes)
    import numpy as np
    scores = np.array([plugin.score(state, p, n) for n in nodes])
    assert list(scores) == [0, 1, 1]
    vector = plugin.score_vector(state, p, cache.table, np.array([n.index for n in nodes]))
    assert list(vector) == list(scores)
    plugin.normalize_score(state, p, scores, nodes)
    assert list(scores) == [100, 0, 0]


def test_taint_toleration_vector_agrees() -> None:
    fw = framework(cache_of([node("a"), node("b", taints=[NO_SCHEDULE]),
                             node("c", taints=[{"key": "x", "effect": "NoExecute"}])]))
    for tolerations in ([], [{"key": "dedicated", "operator": "Exists"}], [{"operator": "Exists"}]):
        per_node, vector = per_node_and_vector(fw, "TaintToleration",
                                               info(pod("p", tolerations=tolerations)))
        assert per_node == vector


# -- NodeAffinity --------------------------------------------------------------------------

def required(*terms: dict[str, Any]) -> dict[str, Any]:
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": list(terms)}}}


def expr(key: str, op: str, *values: str) -> dict[str, Any]:
    return {"matchExpressions": [{"key": key, "operator": op, "values": list(values)}]}


NODES = [node("a", labels={"zone": "z1", "gen": "3", "disk": "ssd"}),
         node("b", labels={"zone": "z2", "gen": "5"}),
         node("c", labels={"zone": "z3"})]


@pytest.mark.parametrize(("spec", "expected"), [
    ({}, {"a", "b", "c"}),
    ({"nodeSelector": {"zone": "z1"}}, {"a"}),
    ({"nodeSelector": {"zone": "nowhere"}}, set()),
    ({"affinity": required(expr("zone", "In", "z1", "z2"))}, {"a", "b"}),
    ({"affinity": required(expr("zone", "NotIn", "z1"))}, {"b", "c"}),
    ({"affinity": required(expr("disk", "Exists"))}, {"a"}),
    ({"affinity": required(expr("disk", "DoesNotExist"))}, {"b", "c"}),
    ({"affinity": required(expr("gen", "Gt", "4"))}, {"b"}),
    ({"affinity": required(expr("gen", "Lt", "4"))}, {"a"}),
    # Terms are ORed, expressions within a term ANDed.
    ({"affinity": required(expr("zone", "In", "z3"), expr("gen", "Gt", "4"))}, {"b", "c"}),
    ({"affinity": required({"matchFields": [{"key": "metadata.name", "operator": "In",
                                             "values": ["c"]}]})}, {"c"}),
    # An empty term matches nothing; nodeSelector and affinity must both hold.
    ({"affinity": required({})}, set()),
    ({"nodeSelector": {"zone": "z1"}, "affinity": required(expr("zone", "In", "z2"))}, set()),
])
def test_node_affinity_filter(spec: dict[str, Any], expected: set[str]) -> None:
    fw = framework(cache_of(NODES))
    p = info(pod("p", **spec))
    per_node, vector = per_node_and_vector(fw, "NodeAffinity", p)
    assert {n for n, ok in per_node.items() if ok} == expected
    assert vector == per_node


def test_node_affinity_prefilter_pins_node_names_and_skips_when_unset() -> None:
    fw = framework(cache_of(NODES))
    plugin = fw.plugins["NodeAffinity"]
    from kybernetes.scheduler.interface import CycleState
    result, status = plugin.pre_filter(CycleState(), info(pod("p")), fw.handle.snapshot)
    assert status is not None and status.is_skip
    spec = {"affinity": required({"matchFields": [{"key": "metadata.name", "operator": "In",
                                                   "values": ["a", "b"]}]})}
    result, status = plugin.pre_filter(CycleState(), info(pod("p", **spec)), fw.handle.snapshot)
    assert status is None and result is not None and result.node_names == {"a", "b"}


def test_node_affinity_preferred_score() -> None:
    preferred = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 2, "preference": expr("zone", "In", "z1")},
        {"weight": 8, "preference": expr("gen", "Exists")}]}}
    cache = cache_of(NODES)
    fw = framework(cache)
    p = info(pod("p", affinity=preferred))
    plugin = fw.plugins["NodeAffinity"]
    state = prefiltered(fw, p)
    nodes = cache.node_infos()
    assert plugin.pre_score(state, p, nodes) is None
    raw = [plugin.score(state, p, n) for n in nodes]
    assert dict(zip([n.name for n in nodes], raw, strict=True)) == {"a": 10, "b": 8, "c": 0}
    import numpy as np
    scores = plugin.score_vector(state, p, cache.table, np.array([n.index for n in nodes]))
    assert list(scores) == raw
    plugin.normalize_score(state, p, scores, nodes)
    assert dict(zip([n.name for n in nodes], scores, strict=True)) == {"a": 100, "b": 80, "c": 0}


def test_node_affinity_enforced_by_the_profile() -> None:
    plugin = nodeaffinity.new({"addedAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            expr("zone", "In", "z2")]}}}, None)  # type: ignore[arg-type]
    from kybernetes.scheduler.interface import CycleState
    p = info(pod("p"))
    status = plugin.filter(CycleState(), p, node_info(NODES[0]))
    assert status is not None
    assert status.reasons == ("node(s) didn't match scheduler-enforced node affinity",)
    assert plugin.filter(CycleState(), p, node_info(NODES[1])) is None


# -- NodePorts -----------------------------------------------------------------------------

def port(host_port: int, protocol: str = "TCP", ip: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"containerPort": 80, "hostPort": host_port, "protocol": protocol}
    if ip:
        out["hostIP"] = ip
    return out


@pytest.mark.parametrize(("existing", "wanted", "fits"), [
    ([], [port(8080)], True),
    ([port(8080)], [port(8080)], False),
    ([port(8080)], [port(8081)], True),
    ([port(8080, "UDP")], [port(8080, "TCP")], True),
    ([port(8080, ip="10.0.0.1")], [port(8080, ip="10.0.0.2")], True),
    ([port(8080, ip="10.0.0.1")], [port(8080)], False),
    ([port(8080)], [port(8080, ip="10.0.0.2")], False),
])
def test_node_ports(existing: list[dict[str, Any]], wanted: list[dict[str, Any]],
                    fits: bool) -> None:
    n = node_info(node("n"), pod("old", ports=existing))
    assert nodeports.fits(info(pod("new", ports=wanted)), n) is fits


def test_node_ports_vector_agrees_and_skips_pods_without_ports() -> None:
    cache = cache_of([node("a"), node("b")], [pod("old", ports=[port(80)], node_name="a")])
    fw = framework(cache)
    per_node, vector = per_node_and_vector(fw, "NodePorts", info(pod("p", ports=[port(80)])))
    assert per_node == vector == {"a": False, "b": True}
    state = prefiltered(fw, info(pod("q")))
    assert "NodePorts" in state.skip_filter_plugins
