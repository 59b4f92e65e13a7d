"""LimitRanger: defaults applied to new pods (with the annotation and the QoS class that
follow), and min/max/ratio bounds on containers, pods and claims, with upstream's
messages."""

from __future__ import annotations

from typing import Any

import httpx
from tests.apiserver.test_admission_setup import http, namespace, ok, pod, refused, server

from kybernetes.api.quantity import Quantity
from kybernetes.apiserver.admission import limitranger

__all__ = ["http", "server"]


async def limit_range(http: httpx.AsyncClient, ns: str, *limits: dict[str, Any]) -> None:
    ok(await http.post(f"/api/v1/namespaces/{ns}/limitranges", json={
        "apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "limits"},
        "spec": {"limits": list(limits)}}))


def container(name: str, requests: dict[str, str] | None = None,
              limits: dict[str, str] | None = None) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    if requests:
        resources["requests"] = requests
    if limits:
        resources["limits"] = limits
    return {"name": name, "image": "busybox", "resources": resources}


async def test_defaults_fill_what_containers_leave_out(http: httpx.AsyncClient) -> None:
    ns = await namespace(http, "lr-defaults")
    await limit_range(http, ns, {"type": "Container",
                                 "default": {"cpu": "500m", "memory": "128Mi"},
                                 "defaultRequest": {"cpu": "100m", "memory": "64Mi"}})
    created = ok(await http.post(f"/api/v1/namespaces/{ns}/pods", json=pod(
        "p", container("bare"), container("some", requests={"cpu": "200m"}),
        initContainers=[container("init", limits={"memory": "32Mi"})])))
    spec = created["spec"]
    assert spec["containers"][0]["resources"] == {
        "requests": {"cpu": "100m", "memory": "64Mi"},
        "limits": {"cpu": "500m", "memory": "128Mi"}}
    assert spec["containers"][1]["resources"] == {
        "requests": {"cpu": "200m", "memory": "64Mi"},
        "limits": {"cpu": "500m", "memory": "128Mi"}}
    # The memory request the API defaulted from the limit stays.
    assert spec["initContainers"][0]["resources"] == {
        "requests": {"cpu": "100m", "memory": "32Mi"},
        "limits": {"cpu": "500m", "memory": "32Mi"}}
    assert created["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == (
        "LimitRanger plugin set: cpu, memory request for container bare; cpu, memory limit "
        "for container bare; memory request for container some; cpu, memory limit for "
        "container some; cpu request for init container init; cpu limit for init container "
        "init")
    assert created["status"]["qosClass"] == "Burstable"


async def test_equal_defaults_make_a_guaranteed_pod(http: httpx.AsyncClient) -> None:
    ns = await namespace(http, "lr-guaranteed")
    await limit_range(http, ns, {"type": "Container",
                                 "default": {"cpu": "250m", "memory": "64Mi"}})
    created = ok(await http.post(f"/api/v1/namespaces/{ns}/pods", json=pod("p")))
    assert created["spec"]["containers"][0]["resources"]["requests"] == {
        "cpu": "250m", "memory": "64Mi"}
    assert created["status"]["qosClass"] == "Guaranteed"


async def test_bounds_are_enforced_with_upstreams_messages(http: httpx.AsyncClient) -> None:
    ns = await namespace(http, "lr-bounds")
    await limit_range(http, ns, {"type": "Container", "max": {"cpu": "1"},
                                 "min": {"memory": "16Mi"}},
                      {"type": "Pod", "max": {"memory": "1Gi"}})
    pods = f"/api/v1/namespaces/{ns}/pods"
    response = await http.post(pods, json=pod("big", container(
        "c", requests={"memory": "32Mi"}, limits={"cpu": "2", "memory": "64Mi"})))
    assert refused(response) == ('pods "big" is forbidden: maximum cpu usage per Container '
                                 "is 1, but limit is 2")
    response = await http.post(pods, json=pod("two", container(
        "c", requests={"memory": "8Mi"}, limits={"cpu": "2", "memory": "8Mi"})))
    assert refused(response) == (
        'pods "two" is forbidden: [minimum memory usage per Container is 16Mi, but request '
        "is 8Mi, maximum cpu usage per Container is 1, but limit is 2]")
    response = await http.post(pods, json=pod("pod", *(container(
        f"c{i}", limits={"cpu": "500m", "memory": "600Mi"}) for i in range(2))))
    assert refused(response) == ('pods "pod" is forbidden: maximum memory usage per Pod is '
                                 "1Gi, but limit is 1200Mi")
    # A bare container is defaulted from the range (max -> default -> defaultRequest, min
    # -> defaultRequest), so only the pod's memory limit is missing.
    response = await http.post(pods, json=pod("none"))
    assert refused(response) == ('pods "none" is forbidden: maximum memory usage per Pod is '
                                 "1Gi.  No limit is specified")
    ok(await http.post(pods, json=pod("fits", container(
        "c", limits={"cpu": "1", "memory": "16Mi"}))))


async def test_limit_to_request_ratio(http: httpx.AsyncClient) -> None:
    ns = await namespace(http, "lr-ratio")
    await limit_range(http, ns, {"type": "Container", "maxLimitRequestRatio": {"cpu": "2"}})
    pods = f"/api/v1/namespaces/{ns}/pods"
    response = await http.post(pods, json=pod("greedy", container(
        "c", requests={"cpu": "100m"}, limits={"cpu": "300m"})))
    assert refused(response) == ('pods "greedy" is forbidden: cpu max limit to request ratio '
                                 "per Container is 2, but provided ratio is 3.000000")
    ok(await http.post(pods, json=pod("fair", container(
        "c", requests={"cpu": "100m"}, limits={"cpu": "200m"}))))


async def test_claims_are_bounded_by_their_storage_request(http: httpx.AsyncClient) -> None:
    ns = await namespace(http, "lr-claims")
    await limit_range(http, ns, {"type": "PersistentVolumeClaim",
                                 "min": {"storage": "1Gi"}, "max": {"storage": "10Gi"}})
    claims = f"/api/v1/namespaces/{ns}/persistentvolumeclaims"

    def claim(name: str, size: str) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": name},
                "spec": {"accessModes": ["ReadWriteOnce"],
                         "resources": {"requests": {"storage": size}}}}

    assert refused(await http.post(claims, json=claim("huge", "20Gi"))) == (
        'persistentvolumeclaims "huge" is forbidden: maximum storage usage per '
        "PersistentVolumeClaim is 10Gi, but request is 20Gi")
    assert refused(await http.post(claims, json=claim("tiny", "100Mi"))) == (
        'persistentvolumeclaims "tiny" is forbidden: minimum storage usage per '
        "PersistentVolumeClaim is 1Gi, but request is 100Mi")
    ok(await http.post(claims, json=claim("right", "5Gi")))


def test_comparisons_round_to_thousandths_like_upstream() -> None:
    q = Quantity.parse
    # 1.0001 rounds up to 1001m: over a 1001m minimum no more, equal to it.
    assert limitranger.min_constraint("Container", "cpu", q("1001m"), {"cpu": q("1.0001")},
                                      {}) == ""
    assert limitranger.max_constraint("Container", "cpu", q("1"), {}, {"cpu": q("1.0001")}) \
        == "maximum cpu usage per Container is 1, but limit is 1000100u"
