"""Filter-score-select for one pod: feasible node counts, rotation, nominated nodes, the
FailedScheduling diagnosis, and the bulk path agreeing with per-node filtering."""

from __future__ import annotations

import random

import pytest

from kybernetes.scheduler.interface import CycleState, NominatingInfo, NominatingMode
from kybernetes.scheduler.podinfo import PodInfo
from kybernetes.scheduler.schedule_one import (
    Algorithm,
    NoNodesAvailable,
    num_feasible_nodes_to_find,
)
from kybernetes.scheduler.status import FitError
from tests.scheduler.helpers import cache_of, framework, info, node, pod


@pytest.mark.parametrize(("percentage", "nodes", "expected"), [
    (0, 10, 10), (0, 99, 99), (0, 100, 100), (0, 1000, 420), (0, 5000, 500),
    (0, 6000, 300), (0, 15000, 750), (10, 5000, 500), (1, 5000, 100), (100, 5000, 5000),
])
def test_num_feasible_nodes_to_find(percentage: int, nodes: int, expected: int) -> None:
    assert num_feasible_nodes_to_find(percentage, nodes) == expected


def test_no_nodes() -> None:
    cache = cache_of([])
    with pytest.raises(NoNodesAvailable, match="no nodes available to schedule pods"):
        Algorithm(cache).schedule_pod(framework(cache), CycleState(), info(pod("p")))


def test_fit_error_counts_first_failing_filter_per_node() -> None:
    taint = {"key": "k", "value": "v", "effect": "NoSchedule"}
    cache = cache_of([node("a", cpu="1"), node("b", cpu="1"), node("t", taints=[taint])])
    with pytest.raises(FitError) as caught:
        Algorithm(cache).schedule_pod(framework(cache), CycleState(), info(pod("p", cpu="2")))
    assert str(caught.value) == ("0/3 nodes are available: 1 node(s) had untolerated "
                                 "taint(s), 2 Insufficient cpu.")
    assert caught.value.diagnosis.unschedulable_plugins == {"TaintToleration",
                                                            "NodeResourcesFit"}


def test_large_clusters_stop_at_the_feasible_count_and_rotate() -> None:
    cache = cache_of([node(f"n{i}") for i in range(1000)])
    fw = framework(cache)
    algorithm = Algorithm(cache, rng=random.Random(1))
    result = algorithm.schedule_pod(fw, CycleState(), info(pod("p", cpu="1")))
    assert result.feasible_nodes == 420 and result.evaluated_nodes == 420
    assert algorithm.next_start_node_index == 420
    algorithm.schedule_pod(fw, CycleState(), info(pod("q", cpu="1")))
    assert algorithm.next_start_node_index == 840


def test_equal_scores_break_ties_randomly() -> None:
    cache = cache_of([node(f"n{i}") for i in range(4)])
    fw = framework(cache)
    picks = {Algorithm(cache, rng=random.Random(seed)).schedule_pod(
        fw, CycleState(), info(pod("p", cpu="1"))).suggested_host for seed in range(40)}
    assert len(picks) > 1


def test_scores_prefer_the_emptier_node() -> None:
    cache = cache_of([node("busy"), node("idle")], [pod("x", cpu="3", node_name="busy")])
    result = Algorithm(cache).schedule_pod(framework(cache), CycleState(),
                                           info(pod("p", cpu="500m", memory="1Gi")))
    assert result.suggested_host == "idle"


def test_nominated_node_is_tried_first() -> None:
    cache = cache_of([node(f"n{i}") for i in range(5)])
    p = pod("p", cpu="1")
    p["status"]["nominatedNodeName"] = "n3"
    result = Algorithm(cache).schedule_pod(framework(cache), CycleState(), info(p))
    assert result.suggested_host == "n3" and result.feasible_nodes == 1


def test_nominated_pods_of_higher_priority_keep_their_room() -> None:
    cache = cache_of([node("a", cpu="2"), node("b", cpu="1")])
    fw = framework(cache)
    vip = PodInfo(pod("vip", cpu="2", priority=100))
    fw.handle.nominator.add(vip, NominatingInfo("a", NominatingMode.OVERRIDE))
    low = info(pod("low", cpu="1", priority=1))
    assert Algorithm(cache).schedule_pod(fw, CycleState(), low).suggested_host == "b"
    high = info(pod("high", cpu="1", priority=200))
    hosts = {Algorithm(cache, rng=random.Random(s)).schedule_pod(fw, CycleState(), high)
             .suggested_host for s in range(20)}
    assert "a" in hosts


def test_prefilter_result_restricts_nodes_and_explains_the_rest() -> None:
    cache = cache_of([node("a", cpu="1"), node("b"), node("c")])
    pinned = pod("ds", cpu="2", affinity={"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["a"]}]}]}}})
    with pytest.raises(FitError) as caught:
        Algorithm(cache).schedule_pod(framework(cache), CycleState(), info(pinned))
    assert str(caught.value) == ("0/3 nodes are available: 1 Insufficient cpu, "
                                 "2 node(s) didn't satisfy plugin(s) [NodeAffinity].")


def test_bulk_and_per_node_paths_choose_from_the_same_nodes() -> None:
    rng = random.Random(3)
    zones = ["z1", "z2", "z3"]
    nodes = [node(f"n{i}", cpu=str(rng.choice([1, 2, 4])),
                  labels={"topology.kubernetes.io/zone": zones[i % 3],
                          "disk": rng.choice(["ssd", "hdd"])},
                  taints=[{"key": "t", "effect": "NoSchedule"}] if i % 7 == 0 else [])
             for i in range(60)]
    placed = [pod(f"x{i}", cpu="500m", labels={"app": rng.choice(["a", "b"])},
                  node_name=f"n{rng.randrange(60)}") for i in range(80)]
    cache = cache_of(nodes, placed)
    fw = framework(cache)
    for i in range(30):
        spec = {"nodeSelector": {"disk": "ssd"}} if i % 2 else {}
        if i % 3 == 0:
            spec["affinity"] = {"podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": {"app": "a"}},
                     "topologyKey": "kubernetes.io/hostname"}]}}
        p = info(pod(f"p{i}", cpu=rng.choice(["500m", "1", "3"]), **spec))
        state = CycleState()
        algorithm = Algorithm(cache)
        algorithm.percentage_of_nodes_to_score = 100
        try:
            feasible, _ = algorithm.find_nodes_that_fit(fw, state, p)
        except FitError:
            feasible = []
        expected = {n.name for n in cache.node_infos()
                    if fw.run_filter(state, p, n) is None}
        assert {n.name for n in feasible} == expected
