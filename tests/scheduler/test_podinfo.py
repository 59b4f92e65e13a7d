"""Pods parsed once: requests as upstream's PodRequests, tolerations, ports, terms."""

from __future__ import annotations

from typing import Any

import pytest

from kybernetes.scheduler.podinfo import (
    DEFAULT_MEMORY_REQUEST,
    PodInfo,
    Taint,
    Toleration,
    find_untolerated_taint,
    normalized_image_name,
    pod_host_ports,
    pod_requests,
    resolve_priority,
)


def ctr(cpu: str | None = None, memory: str | None = None, **extra: Any) -> dict[str, Any]:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    return {"name": "c", "image": "x", "resources": {"requests": requests}, **extra}


@pytest.mark.parametrize(("spec", "expected"), [
    ({"containers": [ctr("1", "1Gi"), ctr("500m", "1Gi")]},
     {"cpu": 1500, "memory": 2 * 1024**3}),
    # Upstream's doc example: init containers are a peak, containers add up.
    ({"initContainers": [ctr("2", "1G"), ctr("2", "3G")],
      "containers": [ctr("2", "1G"), ctr("1", "1G")]},
     {"cpu": 3000, "memory": 3 * 10**9}),
    # A sidecar (restartable init container) adds to the containers and to later peaks.
    ({"initContainers": [ctr("1", restartPolicy="Always"), ctr("3")],
      "containers": [ctr("1")]},
     {"cpu": 4000}),
    ({"containers": [ctr("1")], "overhead": {"cpu": "250m"}}, {"cpu": 1250}),
    ({"containers": [ctr("1"), ctr("1")], "resources": {"requests": {"cpu": "3"}}},
     {"cpu": 3000}),
])
def test_pod_requests(spec: dict[str, Any], expected: dict[str, int]) -> None:
    assert pod_requests(spec) == expected


def test_non_zero_requests_fill_missing_cpu_and_memory_per_container() -> None:
    spec = {"containers": [ctr(), ctr("200m")]}
    assert pod_requests(spec, non_missing=True) == {
        "cpu": 300, "memory": 2 * DEFAULT_MEMORY_REQUEST}


@pytest.mark.parametrize(("toleration", "taint", "tolerated"), [
    (Toleration("k", "Equal", "v", "NoSchedule"), Taint("k", "v", "NoSchedule"), True),
    (Toleration("k", "", "v", ""), Taint("k", "v", "NoExecute"), True),
    (Toleration("k", "Equal", "w", "NoSchedule"), Taint("k", "v", "NoSchedule"), False),
    (Toleration("k", "Exists", "", ""), Taint("k", "any", "NoSchedule"), True),
    (Toleration("", "Exists", "", ""), Taint("anything", "v", "NoExecute"), True),
    (Toleration("k", "Exists", "", "NoSchedule"), Taint("k", "", "NoExecute"), False),
    (Toleration("other", "Exists"), Taint("k", "", "NoSchedule"), False),
])
def test_toleration_matching(toleration: Toleration, taint: Taint, tolerated: bool) -> None:
    assert toleration.tolerates(taint) is tolerated


def test_first_untolerated_taint_by_effect() -> None:
    taints = (Taint("soft", "", "PreferNoSchedule"), Taint("a", "1", "NoSchedule"),
              Taint("b", "", "NoExecute"))
    assert find_untolerated_taint(taints, (), ("NoSchedule", "NoExecute")) == taints[1]
    tolerations = (Toleration("a", "Exists"),)
    assert find_untolerated_taint(taints, tolerations, ("NoSchedule",)) is None


def test_host_ports_default_ip_and_protocol() -> None:
    spec = {"containers": [{"name": "c", "ports": [
        {"containerPort": 80, "hostPort": 8080}, {"containerPort": 53, "protocol": "UDP",
                                                  "hostPort": 53, "hostIP": "10.0.0.1"},
        {"containerPort": 9000}]}]}
    assert pod_host_ports(spec) == (("0.0.0.0", "TCP", 8080), ("10.0.0.1", "UDP", 53))


def test_affinity_terms_resolve_namespaces_and_match_label_keys() -> None:
    pod = {"metadata": {"name": "p", "namespace": "ns", "labels": {"app": "web", "v": "2"}},
           "spec": {"containers": [ctr()], "affinity": {"podAntiAffinity": {
               "requiredDuringSchedulingIgnoredDuringExecution": [
                   {"labelSelector": {"matchLabels": {"app": "web"}}, "matchLabelKeys": ["v"],
                    "topologyKey": "kubernetes.io/hostname"}],
               "preferredDuringSchedulingIgnoredDuringExecution": [
                   {"weight": 5, "podAffinityTerm": {"labelSelector": {},
                                                     "namespaceSelector": {},
                                                     "topologyKey": "zone"}}]}}}}
    pi = PodInfo(pod)
    (term,) = pi.required_anti_affinity_terms
    assert term.namespaces == frozenset({"ns"})
    assert term.matches("ns", {"app": "web", "v": "2"}, None)
    assert not term.matches("ns", {"app": "web", "v": "1"}, None)
    assert not term.matches("other", {"app": "web", "v": "2"}, None)
    (weighted,) = pi.preferred_anti_affinity_terms
    assert weighted.weight == 5 and weighted.term.matches("any", {}, {})
    assert pi.has_affinity and pi.has_required_anti_affinity


def test_priority_from_spec_else_zero() -> None:
    assert resolve_priority({"priority": 7, "priorityClassName": "high"}) == 7
    assert resolve_priority({"priorityClassName": "high"}) == 0
    assert resolve_priority({"priority": True}) == 0


def test_image_names_default_to_latest() -> None:
    assert normalized_image_name("nginx") == "nginx:latest"
    assert normalized_image_name("registry:5000/app") == "registry:5000/app:latest"
    assert normalized_image_name("nginx:1.27") == "nginx:1.27"
