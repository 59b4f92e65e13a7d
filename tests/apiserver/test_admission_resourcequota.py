"""ResourceQuota admission: requests over a quota are refused with upstream's messages,
admitted ones are charged to `status.used` (never twice the same headroom, even when sent
together), scopes select what a quota counts, dry runs are not charged. The quota status
the controller would record is written by the tests."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import httpx
from tests.apiserver.test_admission_setup import http, namespace, ok, pod, refused, server

from kybernetes.apiserver.admission.resourcequota import ResourceQuota
from kybernetes.apiserver.server import ApiServer

__all__ = ["http", "server"]


async def quota(http: httpx.AsyncClient, ns: str, name: str, hard: dict[str, str],
                used: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    """A quota, with the status the controller would give it (usage zero unless given)."""
    created = ok(await http.post(f"/api/v1/namespaces/{ns}/resourcequotas", json={
        "apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": name},
        "spec": {"hard": hard, **spec}}))
    created["status"] = {"hard": hard, "used": used if used is not None else dict.fromkeys(
        hard, "0")}
    ok(await http.put(f"/api/v1/namespaces/{ns}/resourcequotas/{name}/status", json=created))
    return await used_of(http, ns, name)


async def used_of(http: httpx.AsyncClient, ns: str, name: str) -> dict[str, Any]:
    """The quota, read consistently (so the cache admission reads has it too)."""
    return ok(await http.get(f"/api/v1/namespaces/{ns}/resourcequotas/{name}"))


def cpu(name: str, requests: str | None = None, limits: str | None = None) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    if requests:
        resources["requests"] = {"cpu": requests}
    if limits:
        resources["limits"] = {"cpu": limits}
    return {"name": name, "image": "busybox", "resources": resources}


async def test_pods_over_quota_are_refused_and_usage_charged(http: httpx.AsyncClient) -> None:
    ns = await namespace(http, "rq-pods")
    await quota(http, ns, "q", {"pods": "2", "requests.cpu": "1"})
    pods = f"/api/v1/namespaces/{ns}/pods"
    ok(await http.post(pods, json=pod("a", cpu("c", "500m"))))
    ok(await http.post(pods, json=pod("b", cpu("c", "250m"))))
    status = (await used_of(http, ns, "q"))["status"]
    assert status["used"] == {"pods": "2", "requests.cpu": "750m"}
    response = await http.post(pods, json=pod("c", cpu("c", "100m")))
    assert refused(response) == ('pods "c" is forbidden: exceeded quota: q, requested: '
                                 "pods=1, used: pods=2, limited: pods=2")
    assert (await used_of(http, ns, "q"))["status"]["used"] == status["used"]


async def test_exceeding_one_resource_names_only_that_one(http: httpx.AsyncClient) -> None:
    ns = await namespace(http, "rq-cpu")
    await quota(http, ns, "compute", {"requests.cpu": "1", "limits.cpu": "2"})
    response = await http.post(f"/api/v1/namespaces/{ns}/pods",
                               json=pod("big", cpu("c", "1500m", "1500m")))
    assert refused(response) == (
        'pods "big" is forbidden: exceeded quota: compute, requested: requests.cpu=1500m, '
        "used: requests.cpu=0, limited: requests.cpu=1")


async def test_cpu_and_memory_quotas_need_every_container_to_state_them(
        http: httpx.AsyncClient) -> None:
    ns = await namespace(http, "rq-must")
    await quota(http, ns, "q", {"limits.cpu": "4", "requests.memory": "1Gi"})
    response = await http.post(f"/api/v1/namespaces/{ns}/pods", json=pod(
        "p", cpu("a", "1", "1"), {"name": "b", "image": "busybox"}))
    assert refused(response) == ('pods "p" is forbidden: failed quota: q: must specify '
                                 "limits.cpu for: b; requests.memory for: a,b")


async def test_unknown_usage_refuses(http: httpx.AsyncClient) -> None:
    ns = await namespace(http, "rq-unknown")
    await quota(http, ns, "q", {"pods": "5", "services": "1"}, used={"services": "0"})
    response = await http.post(f"/api/v1/namespaces/{ns}/pods", json=pod("p"))
    assert refused(response) == 'pods "p" is forbidden: status unknown for quota: q, ' \
                                "resources: pods"


async def test_object_counts_and_service_ports(http: httpx.AsyncClient) -> None:
    ns = await namespace(http, "rq-counts")
    await quota(http, ns, "q", {"count/configmaps": "1", "configmaps": "5",
                                "services.nodeports": "2", "services.loadbalancers": "0"})
    base = f"/api/v1/namespaces/{ns}"
    ok(await http.post(f"{base}/configmaps", json={"apiVersion": "v1", "kind": "ConfigMap",
                                                   "metadata": {"name": "one"}}))
    response = await http.post(f"{base}/configmaps", json={
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "two"}})
    assert refused(response) == (
        'configmaps "two" is forbidden: exceeded quota: q, requested: count/configmaps=1, '
        "used: count/configmaps=1, limited: count/configmaps=1")

    def service(name: str, kind: str, ports: int) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                "spec": {"type": kind, "selector": {"app": "x"},
                         "ports": [{"name": f"p{i}", "port": 80 + i} for i in range(ports)]}}

    ok(await http.post(f"{base}/services", json=service("np", "NodePort", 2)))
    response = await http.post(f"{base}/services", json=service("lb", "LoadBalancer", 1))
    assert refused(response) == (
        'services "lb" is forbidden: exceeded quota: q, requested: services.loadbalancers=1,'
        "services.nodeports=1, used: services.loadbalancers=0,services.nodeports=2, limited: "
        "services.loadbalancers=0,services.nodeports=2")
    used = (await used_of(http, ns, "q"))["status"]["used"]
    assert used == {"count/configmaps": "1", "configmaps": "1", "services.nodeports": "2",
                    "services.loadbalancers": "0"}


async def test_scopes_select_what_is_counted(http: httpx.AsyncClient) -> None:
    ns = await namespace(http, "rq-scopes")
    await quota(http, ns, "best-effort", {"pods": "1"}, scopes=["BestEffort"])
    await quota(http, ns, "critical", {"pods": "1"}, scopeSelector={"matchExpressions": [
        {"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}]})
    ok(await http.post("/apis/scheduling.k8s.io/v1/priorityclasses", json={
        "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
        "metadata": {"name": "high"}, "value": 100}))
    pods = f"/api/v1/namespaces/{ns}/pods"
    ok(await http.post(pods, json=pod("free")))
    assert refused(await http.post(pods, json=pod("free2"))).startswith(
        'pods "free2" is forbidden: exceeded quota: best-effort, requested: pods=1')
    # Burstable pods are outside the BestEffort quota.
    ok(await http.post(pods, json=pod("paid", cpu("c", "10m"))))
    ok(await http.post(pods, json=pod("vip", cpu("c", "10m"), priorityClassName="high")))
    assert refused(await http.post(pods, json=pod(
        "vip2", cpu("c", "10m"), priorityClassName="high"))).startswith(
        'pods "vip2" is forbidden: exceeded quota: critical, requested: pods=1')


async def test_dry_runs_are_checked_but_not_charged(http: httpx.AsyncClient) -> None:
    ns = await namespace(http, "rq-dry")
    await quota(http, ns, "q", {"pods": "1"})
    pods = f"/api/v1/namespaces/{ns}/pods"
    ok(await http.post(pods, params={"dryRun": "All"}, json=pod("dry")))
    assert (await used_of(http, ns, "q"))["status"]["used"] == {"pods": "0"}
    ok(await http.post(pods, json=pod("real")))
    response = await http.post(pods, params={"dryRun": "All"}, json=pod("dry2"))
    assert refused(response).startswith('pods "dry2" is forbidden: exceeded quota: q')


async def test_concurrent_creates_never_share_headroom(http: httpx.AsyncClient,
                                                       server: ApiServer) -> None:
    ns = await namespace(http, "rq-race")
    await quota(http, ns, "q", {"pods": "3"})
    responses = await asyncio.gather(*(
        http.post(f"/api/v1/namespaces/{ns}/pods", json=pod(f"p{i}")) for i in range(8)))
    assert sorted(r.status_code for r in responses) == [201] * 3 + [403] * 5
    assert (await used_of(http, ns, "q"))["status"]["used"] == {"pods": "3"}


async def test_a_charge_racing_another_writer_is_retried(http: httpx.AsyncClient,
                                                         server: ApiServer) -> None:
    """The status write is conditional on the quota's resourceVersion: when the quota
    changed since the copy admission holds, the charge is computed again on the fresh
    quota instead of overwriting it."""
    ns = await namespace(http, "rq-cas")
    stale = await quota(http, ns, "q", {"pods": "2"})
    fresh = copy.deepcopy(stale)
    fresh["status"]["used"] = {"pods": "1"}
    ok(await http.put(f"/api/v1/namespaces/{ns}/resourcequotas/q/status", json=fresh))
    plugin = next(p for p in server.store.admission.plugins if isinstance(p, ResourceQuota))
    # Admission still holds the older copy, as a lagging cache would.
    plugin._written[f"/registry/resourcequotas/{ns}/q"] = (1 << 62, stale)
    ok(await http.post(f"/api/v1/namespaces/{ns}/pods", json=pod("p")))
    assert (await used_of(http, ns, "q"))["status"]["used"] == {"pods": "2"}


async def test_claims_are_charged_per_storage_class(http: httpx.AsyncClient) -> None:
    ns = await namespace(http, "rq-claims")
    await quota(http, ns, "q", {"requests.storage": "10Gi",
                                "gold.storageclass.storage.k8s.io/requests.storage": "3Gi",
                                "persistentvolumeclaims": "5"})
    claims = f"/api/v1/namespaces/{ns}/persistentvolumeclaims"

    def claim(name: str, size: str, storage_class: str) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": name},
                "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": storage_class,
                         "resources": {"requests": {"storage": size}}}}

    ok(await http.post(claims, json=claim("a", "2Gi", "gold")))
    response = await http.post(claims, json=claim("b", "2Gi", "gold"))
    assert refused(response) == (
        'persistentvolumeclaims "b" is forbidden: exceeded quota: q, requested: '
        "gold.storageclass.storage.k8s.io/requests.storage=2Gi, used: "
        "gold.storageclass.storage.k8s.io/requests.storage=2Gi, limited: "
        "gold.storageclass.storage.k8s.io/requests.storage=3Gi")
    ok(await http.post(claims, json=claim("c", "5Gi", "bronze")))
    assert (await used_of(http, ns, "q"))["status"]["used"] == {
        "requests.storage": "7Gi", "gold.storageclass.storage.k8s.io/requests.storage": "2Gi",
        "persistentvolumeclaims": "2"}
