"""Priority: the system PriorityClasses exist from the start; a pod's class resolves to its
priority and preemption policy (the global default, or 0); unknown classes, contradicting
values, system classes outside kube-system and a second global default are refused."""

from __future__ import annotations

from typing import Any

import httpx
from tests.apiserver.test_admission_setup import http, namespace, ok, pod, refused, server

__all__ = ["http", "server"]

CLASSES = "/apis/scheduling.k8s.io/v1/priorityclasses"


async def priority_class(http: httpx.AsyncClient, name: str, value: int,
                         **fields: Any) -> httpx.Response:
    return await http.post(CLASSES, json={"apiVersion": "scheduling.k8s.io/v1",
                                          "kind": "PriorityClass", "metadata": {"name": name},
                                          "value": value, **fields})


async def test_system_classes_are_created_at_start(http: httpx.AsyncClient) -> None:
    node = ok(await http.get(f"{CLASSES}/system-node-critical"))
    cluster = ok(await http.get(f"{CLASSES}/system-cluster-critical"))
    assert (node["value"], cluster["value"]) == (2000001000, 2000000000)
    assert node["description"] == ("Used for system critical pods that must not be moved "
                                   "from their current node.")
    assert cluster["description"] == ("Used for system critical pods that must run in the "
                                      "cluster, but can be moved to another node if "
                                      "necessary.")
    assert node["preemptionPolicy"] == "PreemptLowerPriority"


async def test_priority_resolution(http: httpx.AsyncClient) -> None:
    ns = await namespace(http, "prio")
    pods = f"/api/v1/namespaces/{ns}/pods"
    plain = ok(await http.post(pods, json=pod("plain")))["spec"]
    assert (plain["priority"], plain["preemptionPolicy"]) == (0, "PreemptLowerPriority")
    assert "priorityClassName" not in plain
    ok(await priority_class(http, "gentle", 50, preemptionPolicy="Never"))
    gentle = ok(await http.post(pods, json=pod("gentle", priorityClassName="gentle")))["spec"]
    assert (gentle["priority"], gentle["preemptionPolicy"]) == (50, "Never")
    ok(await priority_class(http, "usual", 10, globalDefault=True))
    ok(await http.get(f"{CLASSES}/usual"))  # a consistent read: the cache has it now
    usual = ok(await http.post(pods, json=pod("usual")))["spec"]
    assert (usual["priorityClassName"], usual["priority"]) == ("usual", 10)
    # An update that omits the priority keeps it.
    current = ok(await http.get(f"{pods}/usual"))
    del current["spec"]["priority"]
    assert ok(await http.put(f"{pods}/usual", json=current))["spec"]["priority"] == 10


async def test_refusals(http: httpx.AsyncClient) -> None:
    ns = await namespace(http, "prio-refused")
    pods = f"/api/v1/namespaces/{ns}/pods"
    assert refused(await http.post(pods, json=pod("a", priorityClassName="nope"))) == \
        'pods "a" is forbidden: no PriorityClass with name nope was found'
    assert refused(await http.post(pods, json=pod("b", priority=7))) == (
        'pods "b" is forbidden: the integer value of priority (7) must not be provided in pod '
        "spec; priority admission controller computed 0 from the given PriorityClass name")
    ok(await priority_class(http, "gentle", 50, preemptionPolicy="Never"))
    response = await http.post(pods, json=pod("c", priorityClassName="gentle",
                                               preemptionPolicy="PreemptLowerPriority"))
    assert refused(response) == (
        'pods "c" is forbidden: the string value of PreemptionPolicy (PreemptLowerPriority) '
        "must not be provided in pod spec; priority admission controller computed Never from "
        "the given PriorityClass name")
    response = await http.post(pods, json=pod("d", priorityClassName="system-node-critical"))
    assert refused(response) == ('pods "d" is forbidden: pods with system-node-critical '
                                 "priorityClass is not permitted in prio-refused namespace")


async def test_system_classes_in_kube_system(http: httpx.AsyncClient) -> None:
    ok(await http.post("/api/v1/namespaces/kube-system/serviceaccounts", json={
        "apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}))
    created = ok(await http.post("/api/v1/namespaces/kube-system/pods", json=pod(
        "critical", priorityClassName="system-cluster-critical")))
    assert created["spec"]["priority"] == 2000000000


async def test_only_one_global_default(http: httpx.AsyncClient) -> None:
    ok(await priority_class(http, "first", 1, globalDefault=True))
    assert refused(await priority_class(http, "second", 2, globalDefault=True)) == (
        'priorityclasses.scheduling.k8s.io "second" is forbidden: PriorityClass first is '
        "already marked as default. Only one default can exist")
    third = ok(await priority_class(http, "third", 3))
    third["globalDefault"] = True
    assert refused(await http.put(f"{CLASSES}/third", json=third)) == (
        'priorityclasses.scheduling.k8s.io "third" is forbidden: PriorityClass first is '
        "already marked as default. Only one default can exist")
    # The default itself may be written again.
    first = ok(await http.get(f"{CLASSES}/first"))
    first["description"] = "still the default"
    ok(await http.put(f"{CLASSES}/first", json=first))
