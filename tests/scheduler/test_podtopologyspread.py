"""PodTopologySpread: skew checks per constraint, minDomains, inclusion policies, scoring;
the counter-based state agrees with upstream's walk over every pod."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from kybernetes.scheduler.plugins.podtopologyspread import (
    CriticalPaths,
    count_pods_matching,
    filter_constraints,
    node_has_keys,
)
from kybernetes.scheduler.status import Code
from tests.scheduler.helpers import (
    cache_of,
    framework,
    info,
    node,
    per_node_and_vector,
    pod,
    prefiltered,
)

ZONE = "topology.kubernetes.io/zone"


def spread(max_skew: int = 1, key: str = ZONE, when: str = "DoNotSchedule",
           **extra: Any) -> dict[str, Any]:
    return {"maxSkew": max_skew, "topologyKey": key, "whenUnsatisfiable": when,
            "labelSelector": {"matchLabels": {"app": "web"}}, **extra}


def web(name: str, node_name: str = "", **spec: Any) -> dict[str, Any]:
    return pod(name, labels={"app": "web"}, node_name=node_name, **spec)


ZONED = [node("a1", labels={ZONE: "a"}), node("a2", labels={ZONE: "a"}),
         node("b1", labels={ZONE: "b"}), node("c1", labels={ZONE: "c"}),
         node("nozone")]


def verdicts(nodes: list[dict[str, Any]], placed: list[dict[str, Any]],
             incoming: dict[str, Any]) -> dict[str, bool]:
    fw = framework(cache_of(nodes, placed))
    per_node, vector = per_node_and_vector(fw, "PodTopologySpread", info(incoming))
    assert per_node == vector
    return per_node


def test_skew_by_zone() -> None:
    placed = [web("w1", "a1"), web("w2", "a2"), web("w3", "b1")]
    # counts: a=2, b=1, c=0; min 0; +1 self: a->3, b->2, c->1.
    assert verdicts(ZONED, placed, web("p", topologySpreadConstraints=[spread(1)])) == {
        "a1": False, "a2": False, "b1": False, "c1": True, "nozone": False}
    assert verdicts(ZONED, placed, web("p", topologySpreadConstraints=[spread(2)])) == {
        "a1": False, "a2": False, "b1": True, "c1": True, "nozone": False}


def test_missing_label_is_unresolvable_and_other_namespaces_do_not_count() -> None:
    fw = framework(cache_of(ZONED, [pod("w1", labels={"app": "web"}, namespace="other",
                                        node_name="c1")]))
    p = info(web("p", topologySpreadConstraints=[spread(1)]))
    state = prefiltered(fw, p)
    plugin = fw.plugins["PodTopologySpread"]
    nodes = {n.name: n for n in fw.handle.cache.node_infos()}
    status = plugin.filter(state, p, nodes["nozone"])
    assert status is not None and status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
    assert status.reasons == ("node(s) didn't match pod topology spread constraints "
                              "(missing required label)",)
    assert plugin.filter(state, p, nodes["c1"]) is None


def test_min_domains_treats_global_minimum_as_zero() -> None:
    nodes = [node("a1", labels={ZONE: "a"}), node("b1", labels={ZONE: "b"})]
    placed = [web("w1", "a1"), web("w2", "b1")]
    # Both zones hold 1: skew 1+1-1 = 1 fits; with minDomains 3 the minimum is 0: 2 > 1.
    assert all(verdicts(nodes, placed, web("p", topologySpreadConstraints=[spread(1)])).values())
    assert not any(verdicts(nodes, placed, web("p", topologySpreadConstraints=[
        spread(1, minDomains=3)])).values())


def test_node_affinity_policy_honored_by_default() -> None:
    nodes = [node("a1", labels={ZONE: "a", "pool": "x"}), node("b1", labels={ZONE: "b"})]
    placed = [web("w1", "a1")]
    selector = {"nodeSelector": {"pool": "x"}}
    # Only zone a is eligible (b1 fails the node selector): a=1 is the minimum, so a1 fits.
    assert verdicts(nodes, placed, web("p", topologySpreadConstraints=[spread(1)], **selector))[
        "a1"]
    # Ignoring the node selector makes zone b (0) the minimum: a1 has skew 2.
    assert not verdicts(nodes, placed, web("p", topologySpreadConstraints=[
        spread(1, nodeAffinityPolicy="Ignore")], **selector))["a1"]


def test_terminating_pods_are_not_counted() -> None:
    dying = web("w1", "a1")
    dying["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert verdicts(ZONED[:4], [dying], web("p", topologySpreadConstraints=[spread(1)]))["a1"]


def test_critical_paths_track_the_two_smallest() -> None:
    paths = CriticalPaths()
    for value, num in (("a", 3), ("b", 1), ("c", 2)):
        paths.update(value, num)
    assert paths.min == 1
    paths.update("b", 4)
    assert paths.min == 2


def test_constraints_filtering_and_helpers() -> None:
    constraints = filter_constraints(
        [spread(1), spread(2, when="ScheduleAnyway"),
         spread(1, matchLabelKeys=["rev"])], {"app": "web", "rev": "7"}, "DoNotSchedule")
    assert [c.max_skew for c in constraints] == [1, 1]
    assert constraints[1].selector.matches({"app": "web", "rev": "7"})
    assert not constraints[1].selector.matches({"app": "web", "rev": "6"})
    assert node_has_keys({ZONE: "a"}, constraints) and not node_has_keys({}, constraints)


def test_state_agrees_with_a_walk_over_all_pods() -> None:
    rng = random.Random(7)
    nodes = [node(f"n{i}", labels={ZONE: f"z{i % 4}", "rack": f"r{i % 7}"}) for i in range(40)]
    apps = ["web", "db"]
    placed = [pod(f"p{i}", labels={"app": rng.choice(apps)}, node_name=f"n{rng.randrange(40)}",
                  namespace=rng.choice(["default", "other"])) for i in range(300)]
    fw = framework(cache_of(nodes, placed))
    for key in (ZONE, "rack", "kubernetes.io/hostname"):
        incoming = info(web("x", topologySpreadConstraints=[spread(1, key)]))
        state = prefiltered(fw, incoming)
        s = state.read("PreFilterPodTopologySpread")
        constraint = s.constraints[0]
        walked: dict[str, int] = {}
        for n in fw.handle.cache.node_infos():
            value = n.labels[key]
            walked[value] = walked.get(value, 0) + count_pods_matching(
                n, constraint.selector, "default")
        fast = {s.columns[0].values[v]: int(s.counts[0][v])
                for v in np.flatnonzero(s.present[0])}
        assert fast == walked
        assert s.paths[0].min == min(walked.values())


def test_scoring_prefers_emptier_domains() -> None:
    nodes = [node("a1", labels={ZONE: "a"}), node("b1", labels={ZONE: "b"}),
             node("c1", labels={ZONE: "c"})]
    placed = [web("w1", "a1"), web("w2", "a1"), web("w3", "b1")]
    cache = cache_of(nodes, placed)
    fw = framework(cache)
    p = info(web("p", topologySpreadConstraints=[spread(1, when="ScheduleAnyway")]))
    plugin = fw.plugins["PodTopologySpread"]
    state = prefiltered(fw, p)
    infos = cache.node_infos()
    assert plugin.pre_score(state, p, infos) is None
    raw = [plugin.score(state, p, n) for n in infos]
    vector = plugin.score_vector(state, p, cache.table, np.array([n.index for n in infos]))
    assert list(vector) == raw
    scores = np.array(raw)
    plugin.normalize_score(state, p, scores, infos)
    by_name = dict(zip([n.name for n in infos], scores, strict=True))
    assert by_name["c1"] > by_name["b1"] > by_name["a1"]
    assert by_name["c1"] == 100


@pytest.mark.parametrize("defaulting", [{}, {"defaultingType": "List"}])
def test_system_default_constraints_need_a_selecting_service(defaulting: dict[str, Any]) -> None:
    from kybernetes.api.selectors import LabelSelector
    from kybernetes.scheduler.interface import Handle
    from kybernetes.scheduler.plugins import podtopologyspread
    handle = Handle(cache_of(ZONED), default_selector=lambda pi: LabelSelector())
    plugin = podtopologyspread.new(defaulting, handle)
    p = info(web("p"))
    assert plugin.constraints(p, "ScheduleAnyway") == []
