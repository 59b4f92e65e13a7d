"""Service addresses and ports, allocated by the API server as upstream's service REST does:
before validation on create (BeginCreate), kept or allocated on update as the new type
needs (patchAllocatedValues), and refused when taken or out of range."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.apiserver import inprocess

from kybernetes.apiserver.server import ApiServer

SERVICES = "/api/v1/namespaces/default/services"
MERGE = {"Content-Type": "application/merge-patch+json"}


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ApiServer]:
    async with inprocess.apiserver(tmp_path, authorization_mode="AlwaysAllow") as server:
        yield server


@pytest.fixture
async def http(server: ApiServer) -> AsyncIterator[httpx.AsyncClient]:
    async with inprocess.http_client(server.app) as client:
        yield client


def service(name: str, svc_type: str = "ClusterIP", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"type": svc_type, "selector": {"app": name},
                     "ports": [{"port": 80, "protocol": "TCP"}], **spec}}


def node_ports(obj: dict[str, Any]) -> list[int]:
    return [p.get("nodePort", 0) for p in obj["spec"]["ports"]]


async def test_a_node_port_is_allocated_in_range_and_a_taken_one_refused(
        http: httpx.AsyncClient) -> None:
    first = inprocess.ok(await http.post(SERVICES, json=service("a", "NodePort")))
    [port] = node_ports(first)
    assert 30000 <= port <= 32767
    taken = await http.post(SERVICES, json=service("b", "NodePort", ports=[
        {"port": 80, "protocol": "TCP", "nodePort": port}]))
    assert taken.status_code == 422
    assert "spec.ports[0].nodePort" in taken.json()["message"]
    assert "provided port is already allocated" in taken.json()["message"]


async def test_a_local_load_balancer_gets_its_health_check_port(
        http: httpx.AsyncClient) -> None:
    created = inprocess.ok(await http.post(SERVICES, json=service(
        "lb", "LoadBalancer", externalTrafficPolicy="Local")))
    assert 30000 <= created["spec"]["healthCheckNodePort"] <= 32767
    assert created["spec"]["healthCheckNodePort"] not in node_ports(created)


async def test_no_node_ports_when_the_load_balancer_declines_them(
        http: httpx.AsyncClient) -> None:
    created = inprocess.ok(await http.post(SERVICES, json=service(
        "lb", "LoadBalancer", allocateLoadBalancerNodePorts=False)))
    assert node_ports(created) == [0]


async def test_changing_the_type_to_node_port_allocates_ports_and_keeps_the_address(
        http: httpx.AsyncClient) -> None:
    created = inprocess.ok(await http.post(SERVICES, json=service("web")))
    patched = inprocess.ok(await http.patch(f"{SERVICES}/web", headers=MERGE,
                                            json={"spec": {"type": "NodePort"}}))
    assert patched["spec"]["clusterIP"] == created["spec"]["clusterIP"]
    [port] = node_ports(patched)
    assert 30000 <= port <= 32767


async def test_an_update_that_leaves_out_allocated_values_keeps_them(
        http: httpx.AsyncClient) -> None:
    created = inprocess.ok(await http.post(SERVICES, json=service("web", "NodePort")))
    replacement = service("web", "NodePort", ports=[
        {"port": 80, "protocol": "TCP"}, {"name": "b", "port": 81, "protocol": "TCP"}])
    replacement["spec"]["ports"][0]["name"] = "a"
    replacement["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]
    updated = inprocess.ok(await http.put(f"{SERVICES}/web", json=replacement))
    assert updated["spec"]["clusterIP"] == created["spec"]["clusterIP"]
    kept, added = node_ports(updated)
    assert kept == node_ports(created)[0]
    assert 30000 <= added <= 32767 and added != kept


async def test_an_updated_service_may_keep_its_own_node_port(
        http: httpx.AsyncClient) -> None:
    created = inprocess.ok(await http.post(SERVICES, json=service("web", "NodePort")))
    patched = inprocess.ok(await http.patch(f"{SERVICES}/web", headers=MERGE, json={
        "metadata": {"labels": {"x": "y"}}}))
    assert node_ports(patched) == node_ports(created)
