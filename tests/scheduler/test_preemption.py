"""DefaultPreemption: eligibility, victim selection with reprieves, the choice of node,
and the PostFilter message when preemption cannot help."""

from __future__ import annotations

from kybernetes.scheduler.interface import CycleState, NominatingMode
from kybernetes.scheduler.plugins.defaultpreemption import Candidate, pick_one_node
from kybernetes.scheduler.podinfo import PodInfo
from kybernetes.scheduler.schedule_one import Algorithm
from kybernetes.scheduler.status import FitError
from tests.scheduler.helpers import cache_of, framework, info, node, pod


def post_filter(nodes: list[dict], placed: list[dict], incoming: dict) -> tuple[object, str]:
    cache = cache_of(nodes, placed)
    fw = framework(cache)
    state = CycleState()
    p = info(incoming)
    try:
        Algorithm(cache).schedule_pod(fw, state, p)
    except FitError as fit:
        result, status = fw.run_post_filter(state, p, fit.diagnosis.node_to_status)
        fit.diagnosis.post_filter_msg = status.message if status else ""
        return result, str(fit)
    raise AssertionError("the pod fitted")


def test_preempts_the_lowest_priority_pods_needed() -> None:
    nodes = [node("a", cpu="2"), node("b", cpu="2")]
    placed = [pod("a-low", cpu="1", priority=1, node_name="a"),
              pod("a-mid", cpu="1", priority=5, node_name="a"),
              pod("b-high", cpu="1", priority=50, node_name="b"),
              pod("b-mid", cpu="1", priority=5, node_name="b")]
    result, message = post_filter(nodes, placed, pod("vip", cpu="1", priority=10))
    assert result.nominating_info.nominated_node_name == "a"  # type: ignore[attr-defined]
    assert result.nominating_info.mode is NominatingMode.OVERRIDE  # type: ignore[attr-defined]
    assert message == "0/2 nodes are available: 2 Insufficient cpu."


def test_victims_are_reprieved_highest_priority_first() -> None:
    cache = cache_of([node("a", cpu="3")], [pod("p1", cpu="1", priority=1, node_name="a"),
                                             pod("p2", cpu="1", priority=2, node_name="a"),
                                             pod("p3", cpu="1", priority=3, node_name="a")])
    fw = framework(cache)
    plugin = fw.plugins["DefaultPreemption"]
    vip = info(pod("vip", cpu="2", priority=10))
    state = CycleState()
    fw.run_pre_filter(state, vip)
    victims, status = plugin.select_victims_on_node(state, vip, cache.node_infos()[0].clone())
    assert status is None
    assert [v.name for v in victims] == ["p2", "p1"]


def test_no_lower_priority_pods() -> None:
    nodes = [node("a", cpu="1"), node("b", cpu="1")]
    placed = [pod("x", cpu="1", priority=10, node_name="a"),
              pod("y", cpu="1", priority=10, node_name="b")]
    result, message = post_filter(nodes, placed, pod("p", cpu="1", priority=10))
    assert message == ("0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are "
                       "available: 2 No preemption victims found for incoming pod.")
    assert result.nominating_info.nominated_node_name == ""  # type: ignore[attr-defined]


def test_preemption_does_not_help_with_unresolvable_nodes() -> None:
    taint = {"key": "k", "effect": "NoSchedule"}
    nodes = [node("small", cpu="1"), node("tainted", taints=[taint])]
    _result, message = post_filter(nodes, [pod("low", cpu="500m", priority=0,
                                               node_name="small")],
                                   pod("p", cpu="2", priority=100))
    assert message == ("0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated "
                       "taint(s). preemption: 0/2 nodes are available: 2 Preemption is not "
                       "helpful for scheduling.")


def test_preemption_policy_never() -> None:
    nodes = [node("a", cpu="1")]
    placed = [pod("low", cpu="1", priority=0, node_name="a")]
    _result, message = post_filter(nodes, placed, pod("p", cpu="1", priority=100,
                                                      preemptionPolicy="Never"))
    assert message == ("0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible "
                       "due to preemptionPolicy=Never.")


def test_pick_one_node_criteria() -> None:
    def victims(*priorities: int, start: str = "2026-01-01T00:00:00Z") -> list[PodInfo]:
        out = []
        for i, priority in enumerate(priorities):
            pi = PodInfo(pod(f"v{i}", priority=priority))
            pi.start_time = start
            out.append(pi)
        return out

    assert pick_one_node([Candidate("a", victims(5)), Candidate("b", victims(3))]).node_name == "b"
    assert pick_one_node([Candidate("a", victims(5, 1)),
                          Candidate("b", victims(5, 4))]).node_name == "a"
    assert pick_one_node([Candidate("a", victims(5, 1, 1)),
                          Candidate("b", victims(5, 3))]).node_name == "b"
    assert pick_one_node([Candidate("a", victims(5, start="2026-01-01T00:00:00Z")),
                          Candidate("b", victims(5, start="2026-02-01T00:00:00Z"))]
                         ).node_name == "b"
    assert pick_one_node([]) is None
