"""InterPodAffinity: required affinity and anti-affinity (the pod's and existing pods'),
preferred scoring; the indexed computation agrees with upstream's walk over all pods."""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from kybernetes.scheduler.plugins.interpodaffinity import (
    existing_anti_affinity_counts,
    existing_anti_affinity_counts_fast,
    incoming_counts,
    incoming_counts_fast,
    topology_scores,
    topology_scores_fast,
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

HOST = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"


def term(labels: dict[str, str], key: str = HOST, **extra: Any) -> dict[str, Any]:
    return {"labelSelector": {"matchLabels": labels}, "topologyKey": key, **extra}


def affinity(required: list[dict[str, Any]] = (), anti: list[dict[str, Any]] = (),  # type: ignore[assignment]
             preferred: list[dict[str, Any]] = (),  # type: ignore[assignment]
             preferred_anti: list[dict[str, Any]] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    out: dict[str, Any] = {}
    if required or preferred:
        out["podAffinity"] = {
            "requiredDuringSchedulingIgnoredDuringExecution": list(required),
            "preferredDuringSchedulingIgnoredDuringExecution": list(preferred)}
    if anti or preferred_anti:
        out["podAntiAffinity"] = {
            "requiredDuringSchedulingIgnoredDuringExecution": list(anti),
            "preferredDuringSchedulingIgnoredDuringExecution": list(preferred_anti)}
    return out


NODES = [node("a1", labels={ZONE: "a"}), node("a2", labels={ZONE: "a"}),
         node("b1", labels={ZONE: "b"}), node("nozone")]


def verdicts(placed: list[dict[str, Any]], incoming: dict[str, Any],
             nodes: list[dict[str, Any]] = NODES) -> dict[str, bool]:
    fw = framework(cache_of(nodes, placed))
    per_node, vector = per_node_and_vector(fw, "InterPodAffinity", info(incoming))
    assert per_node == vector
    return per_node


def test_required_anti_affinity_by_hostname() -> None:
    placed = [pod("db", labels={"app": "db"}, node_name="a1")]
    incoming = pod("p", labels={"app": "web"}, affinity=affinity(anti=[term({"app": "db"})]))
    assert verdicts(placed, incoming) == {"a1": False, "a2": True, "b1": True, "nozone": True}


def test_required_anti_affinity_by_zone() -> None:
    placed = [pod("db", labels={"app": "db"}, node_name="a1")]
    incoming = pod("p", affinity=affinity(anti=[term({"app": "db"}, ZONE)]))
    assert verdicts(placed, incoming) == {"a1": False, "a2": False, "b1": True, "nozone": True}


def test_required_affinity_needs_a_matching_pod_in_the_domain() -> None:
    placed = [pod("db", labels={"app": "db"}, node_name="b1")]
    incoming = pod("p", affinity=affinity(required=[term({"app": "db"}, ZONE)]))
    assert verdicts(placed, incoming) == {"a1": False, "a2": False, "b1": True, "nozone": False}


def test_first_pod_of_a_self_affine_group_may_go_anywhere_with_the_key() -> None:
    incoming = pod("p", labels={"app": "web"},
                   affinity=affinity(required=[term({"app": "web"}, ZONE)]))
    assert verdicts([], incoming) == {"a1": True, "a2": True, "b1": True, "nozone": False}


def test_existing_pods_anti_affinity_keeps_matching_pods_away() -> None:
    placed = [pod("lonely", labels={"app": "x"}, node_name="b1",
                  affinity=affinity(anti=[term({"app": "web"}, ZONE)]))]
    fw = framework(cache_of(NODES, placed))
    incoming = info(pod("p", labels={"app": "web"}))
    state = prefiltered(fw, incoming)
    nodes = {n.name: n for n in fw.handle.cache.node_infos()}
    status = fw.plugins["InterPodAffinity"].filter(state, incoming, nodes["b1"])
    assert status is not None and status.code == Code.UNSCHEDULABLE
    assert status.reasons == ("node(s) didn't satisfy existing pods anti-affinity rules",)
    assert verdicts(placed, pod("p", labels={"app": "web"})) == {
        "a1": True, "a2": True, "b1": False, "nozone": True}


def test_reasons_and_codes() -> None:
    placed = [pod("db", labels={"app": "db"}, node_name="a1")]
    fw = framework(cache_of(NODES, placed))
    plugin = fw.plugins["InterPodAffinity"]
    nodes = {n.name: n for n in fw.handle.cache.node_infos()}
    p = info(pod("p", affinity=affinity(required=[term({"app": "db"})])))
    status = plugin.filter(prefiltered(fw, p), p, nodes["b1"])
    assert status is not None and status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
    assert status.reasons == ("node(s) didn't match pod affinity rules",)
    q = info(pod("q", affinity=affinity(anti=[term({"app": "db"})])))
    status = plugin.filter(prefiltered(fw, q), q, nodes["a1"])
    assert status is not None and status.code == Code.UNSCHEDULABLE
    assert status.reasons == ("node(s) didn't match pod anti-affinity rules",)


def test_namespaces_and_namespace_selectors() -> None:
    placed = [pod("db", labels={"app": "db"}, namespace="team-a", node_name="a1")]
    same_ns = pod("p", affinity=affinity(anti=[term({"app": "db"})]))
    assert verdicts(placed, same_ns)["a1"]  # the term covers its own namespace only
    listed = pod("p", affinity=affinity(anti=[term({"app": "db"}, namespaces=["team-a"])]))
    assert not verdicts(placed, listed)["a1"]
    everywhere = pod("p", affinity=affinity(anti=[term({"app": "db"}, namespaceSelector={})]))
    assert not verdicts(placed, everywhere)["a1"]


def random_cluster(seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = random.Random(seed)
    nodes = [node(f"n{i}", labels={ZONE: f"z{i % 3}"}) for i in range(30)]
    labels = [{"app": "web"}, {"app": "db"}, {"app": "cache", "tier": "x"}]
    placed = []
    for i in range(200):
        lbl = rng.choice(labels)
        spec: dict[str, Any] = {}
        roll = rng.random()
        if roll < 0.2:
            spec["affinity"] = affinity(anti=[term(rng.choice(labels), rng.choice([HOST, ZONE]))])
        elif roll < 0.3:
            spec["affinity"] = affinity(
                required=[term(rng.choice(labels), ZONE)],
                preferred=[{"weight": rng.randint(1, 100),
                            "podAffinityTerm": term(rng.choice(labels), HOST)}],
                preferred_anti=[{"weight": rng.randint(1, 100),
                                 "podAffinityTerm": term(rng.choice(labels), ZONE)}])
        placed.append(pod(f"p{i}", labels=lbl, node_name=f"n{rng.randrange(30)}",
                          namespace=rng.choice(["default", "other"]), **spec))
    return nodes, placed


def test_indexed_counts_agree_with_the_walk() -> None:
    for seed in range(5):
        nodes, placed = random_cluster(seed)
        cache = cache_of(nodes, placed)
        infos = cache.node_infos()
        for labels in ({"app": "web"}, {"app": "db"}, {"app": "cache", "tier": "x"}):
            incoming = info(pod("in", labels=labels, affinity=affinity(
                required=[term({"app": "db"}, ZONE)], anti=[term(labels, HOST)])))
            assert existing_anti_affinity_counts_fast(cache.table, incoming, {}).pairs() == \
                existing_anti_affinity_counts(incoming, {}, infos)
            a = incoming.required_affinity_terms
            b = incoming.required_anti_affinity_terms
            affine, anti = incoming_counts_fast(cache.table, a, b)
            assert (affine.pairs(), anti.pairs()) == incoming_counts(a, b, infos)
            preferred = incoming.preferred_affinity_terms
            fast = topology_scores_fast(cache.table, incoming, {}, 1, preferred, ()).pairs()
            slow = topology_scores(incoming, {}, 1, preferred, (), infos)
            assert fast == {(k, v): n for k, by in slow.items() for v, n in by.items() if n}


def test_vector_filter_agrees_on_random_clusters() -> None:
    for seed in range(3):
        nodes, placed = random_cluster(seed)
        for labels in ({"app": "web"}, {"app": "db"}):
            incoming = pod("in", labels=labels, affinity=affinity(
                required=[term({"app": "cache", "tier": "x"}, ZONE)], anti=[term(labels)]))
            verdicts(placed, incoming, nodes)


def test_preferred_scoring_normalizes_to_0_100() -> None:
    placed = [pod("db", labels={"app": "db"}, node_name="a1")]
    cache = cache_of(NODES, placed)
    fw = framework(cache)
    p = info(pod("p", affinity=affinity(preferred=[
        {"weight": 10, "podAffinityTerm": term({"app": "db"}, ZONE)}])))
    plugin = fw.plugins["InterPodAffinity"]
    state = prefiltered(fw, p)
    infos = cache.node_infos()
    assert plugin.pre_score(state, p, infos) is None
    raw = [plugin.score(state, p, n) for n in infos]
    names = [n.name for n in infos]
    assert dict(zip(names, raw, strict=True)) == {"a1": 10, "a2": 10, "b1": 0, "nozone": 0}
    vector = plugin.score_vector(state, p, cache.table, np.array([n.index for n in infos]))
    assert list(vector) == raw
    plugin.normalize_score(state, p, vector, infos)
    assert dict(zip(names, vector, strict=True)) == {"a1": 100, "a2": 100, "b1": 0, "nozone": 0}
