"""NodeResourcesFit (filter and the three scoring strategies), BalancedAllocation and
ImageLocality, with upstream's test figures, and the bulk path agreeing."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from kybernetes.scheduler.plugins import balancedallocation, imagelocality, noderesources
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

GPU = "example.com/gpu"


@pytest.mark.parametrize(("requests", "existing", "reasons", "code"), [
    ({"cpu": "1"}, {}, [], None),
    ({"cpu": "3"}, {"cpu": "2"}, ["Insufficient cpu"], Code.UNSCHEDULABLE),
    ({"cpu": "5"}, {}, ["Insufficient cpu"], Code.UNSCHEDULABLE_AND_UNRESOLVABLE),
    ({"cpu": "3", "memory": "7Gi"}, {"cpu": "2", "memory": "2Gi"},
     ["Insufficient cpu", "Insufficient memory"], Code.UNSCHEDULABLE),
    ({"ephemeral": "2Gi"}, {"ephemeral": "9Gi"}, ["Insufficient ephemeral-storage"],
     Code.UNSCHEDULABLE),
    ({"extended": {GPU: "1"}}, {"extended": {GPU: "2"}}, [f"Insufficient {GPU}"],
     Code.UNSCHEDULABLE),
    ({"extended": {"example.com/fpga": "1"}}, {}, ["Insufficient example.com/fpga"],
     Code.UNSCHEDULABLE_AND_UNRESOLVABLE),
])
def test_fit_filter(requests: dict[str, Any], existing: dict[str, Any], reasons: list[str],
                    code: Code | None) -> None:
    n = node_info(node("n", cpu="4", memory="8Gi", ephemeral="10Gi", extended={GPU: "2"}),
                  pod("old", **existing))
    p = info(pod("p", **requests))
    status = noderesources.status_for(noderesources.fits(p, n))
    if code is None:
        assert status is None
    else:
        assert status is not None
        assert list(status.reasons) == reasons and status.code == code


def test_too_many_pods() -> None:
    n = node_info(node("n", pods=1), pod("old"))
    assert [r.reason for r in noderesources.fits(info(pod("p")), n)] == ["Too many pods"]


def test_ignored_extended_resources() -> None:
    plugin = noderesources.new({"ignoredResourceGroups": ["example.com"]}, None)  # type: ignore[arg-type]
    p = info(pod("p", extended={GPU: "4"}))
    assert plugin.filter(prefiltered(framework(cache_of([])), p), p, node_info(node("n"))) is None


def test_fit_vector_agrees() -> None:
    cache = cache_of([node("a", cpu="2"), node("b", cpu="4", extended={GPU: "1"}),
                      node("c", pods=1)], [pod("x", cpu="1", node_name="b"),
                                           pod("y", node_name="c")])
    fw = framework(cache)
    for requests in ({"cpu": "1"}, {"cpu": "2500m"}, {"extended": {GPU: "1"}},
                     {"memory": "9Gi"}, {}):
        per_node, vector = per_node_and_vector(fw, "NodeResourcesFit", info(pod("p", **requests)))
        assert per_node == vector, requests


def scores(plugin_name: str, nodes: list[dict[str, Any]], p: dict[str, Any],
           placed: list[dict[str, Any]] = (), args: dict[str, Any] | None = None  # type: ignore[assignment]
           ) -> dict[str, int]:
    cache = cache_of(nodes, placed)
    fw = framework(cache)
    module = {"NodeResourcesFit": noderesources,
              "NodeResourcesBalancedAllocation": balancedallocation,
              "ImageLocality": imagelocality}[plugin_name]
    plugin = module.new(args or {}, fw.handle) if args is not None else fw.plugins[plugin_name]
    pi = info(p)
    state = prefiltered(fw, pi)
    infos = cache.node_infos()
    if hasattr(plugin, "pre_score"):
        plugin.pre_score(state, pi, infos)
    per_node = [plugin.score(state, pi, n) for n in infos]
    vector = plugin.score_vector(state, pi, cache.table, np.array([n.index for n in infos]))
    assert list(vector) == per_node
    return {n.name: s for n, s in zip(infos, per_node, strict=True)}


def sized(name: str, cpu: int, memory: int) -> dict[str, Any]:
    return node(name, cpu=f"{cpu}m", memory=str(memory))


def test_least_allocated_upstream_example() -> None:
    # least_allocated_test.go "nothing scheduled, resources requested, differently sized nodes"
    assert scores("NodeResourcesFit", [sized("n1", 4000, 10000), sized("n2", 6000, 10000)],
                  pod("p", cpu="1000m", memory="2000")) == {"n1": 77, "n2": 81}


def test_least_allocated_counts_request_less_pods_as_100m_200mi() -> None:
    result = scores("NodeResourcesFit", [sized("n1", 4000, 2 * 200 * 1024 * 1024)], pod("p"))
    assert result == {"n1": (97 + 50) // 2}


def test_most_allocated_upstream_example() -> None:
    args = {"scoringStrategy": {"type": "MostAllocated"}}
    assert scores("NodeResourcesFit", [sized("n1", 4000, 10000), sized("n2", 6000, 10000)],
                  pod("p", cpu="1000m", memory="2000"), args=args) == {"n1": 22, "n2": 18}


def test_requested_to_capacity_ratio() -> None:
    args = {"scoringStrategy": {"type": "RequestedToCapacityRatio", "requestedToCapacityRatio": {
        "shape": [{"utilization": 0, "score": 0}, {"utilization": 100, "score": 10}]}}}
    # cpu 75% -> 75, memory 50% -> 50: mean 62.5 rounds half away from zero.
    assert scores("NodeResourcesFit", [sized("n1", 4000, 10000)],
                  pod("p", cpu="3000m", memory="5000"), args=args) == {"n1": 63}
    falling = {"scoringStrategy": {"type": "RequestedToCapacityRatio", "requestedToCapacityRatio": {
        "shape": [{"utilization": 0, "score": 10}, {"utilization": 100, "score": 0}]}}}
    assert scores("NodeResourcesFit", [sized("n1", 4000, 10000)],
                  pod("p", cpu="3000m", memory="5000"), args=falling) == {"n1": 38}


def test_scoring_strategy_errors() -> None:
    with pytest.raises(ValueError, match="not supported"):
        noderesources.build_scorer({"type": "Nope"})
    with pytest.raises(ValueError, match="shape"):
        noderesources.build_scorer({"type": "RequestedToCapacityRatio"})


def test_balanced_allocation_upstream_example() -> None:
    # balanced_allocation_test.go "nothing scheduled, resources requested, differently sized"
    assert scores("NodeResourcesBalancedAllocation",
                  [sized("n1", 4000, 10000), sized("n2", 6000, 10000)],
                  pod("p", cpu="3000m", memory="5000")) == {"n1": 87, "n2": 100}


def test_balanced_allocation_skips_best_effort_pods() -> None:
    fw = framework(cache_of([node("a")]))
    plugin = fw.plugins["NodeResourcesBalancedAllocation"]
    p = info(pod("p"))
    status = plugin.pre_score(prefiltered(fw, p), p, fw.handle.cache.node_infos())
    assert status is not None and status.is_skip


def test_image_locality() -> None:
    mb = 1024 * 1024
    nodes = [node("n1", images=[(["gcr.io/250:latest"], 250 * mb)]),
             node("n2", images=[(["gcr.io/250:latest"], 250 * mb),
                                (["gcr.io/300:latest"], 300 * mb)]),
             node("n3")]
    result = scores("ImageLocality", nodes, pod("p", image="gcr.io/250"))
    # 250MB on 2 of 3 nodes: 166MB scaled, in [23MB, 1000MB].
    expected = 100 * (int(250 * mb * 2 / 3) - 23 * mb) // (1000 * mb - 23 * mb)
    assert result == {"n1": expected, "n2": expected, "n3": 0}
