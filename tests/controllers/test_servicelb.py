"""ServiceLB against a real API server (and the API server's NodePort allocation for
LoadBalancer Services); informer stores are seeded by the tests.

Intent: a LoadBalancer Service without a class gets the addresses of the ready nodes as
its `status.loadBalancer.ingress` (`ipMode: VIP`; external addresses when any node has
one), updated as nodes change; `externalTrafficPolicy: Local` lists only nodes with a
ready endpoint; the `enablelb` node label narrows the nodes; a Service with a
loadBalancerClass is not touched, and one that stops being a LoadBalancer loses its
ingress. `allocateLoadBalancerNodePorts: false` gets no NodePorts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from kybernetes.client import ApiClient, resource
from kybernetes.client.rest import Obj
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.servicelb import ServiceLBController

SERVICES = resource("", "v1", "services")


@pytest.fixture
async def ctl(ctx: ControllerContext) -> AsyncIterator[ServiceLBController]:
    controller = ServiceLBController(ctx)
    yield controller
    await controller.recorder.aclose()


def node(name: str, internal: str, *, external: str = "", ready: bool = True,
         labels: dict[str, str] | None = None) -> Obj:
    addresses = [{"type": "InternalIP", "address": internal},
                 {"type": "Hostname", "address": name}]
    if external:
        addresses.append({"type": "ExternalIP", "address": external})
    return {"metadata": {"name": name, "labels": labels or {}},
            "status": {"addresses": addresses,
                       "conditions": [{"type": "Ready", "status": str(ready)}]}}


async def make_service(api: ApiClient, ctl: ServiceLBController, **spec: Any) -> Obj:
    body: dict[str, Any] = {"type": "LoadBalancer", "selector": {"app": "web"},
                            "ports": [{"port": 80, "targetPort": 8080}]}
    body.update(spec)
    service = await api.create(SERVICES, {"metadata": {"name": "web"}, "spec": body},
                               "default")
    ctl.services.store.add(service)
    return service


async def ingress(api: ApiClient, ctl: ServiceLBController) -> list[dict[str, Any]]:
    service = await api.get(SERVICES, "web", "default")
    ctl.services.store.add(service)
    return list(((service.get("status") or {}).get("loadBalancer") or {}).get("ingress")
                or [])


async def test_node_addresses_follow_the_nodes(api: ApiClient,
                                               ctl: ServiceLBController) -> None:
    await make_service(api, ctl)
    ctl.nodes.store.add(node("b", "192.168.5.12"))
    ctl.nodes.store.add(node("a", "192.168.5.11"))
    ctl.nodes.store.add(node("down", "192.168.5.13", ready=False))
    await ctl.sync("default/web")
    assert await ingress(api, ctl) == [{"ip": "192.168.5.11", "ipMode": "VIP"},
                                       {"ip": "192.168.5.12", "ipMode": "VIP"}]

    ctl.nodes.store.delete_key("b")
    await ctl.sync("default/web")
    assert await ingress(api, ctl) == [{"ip": "192.168.5.11", "ipMode": "VIP"}]

    ctl.nodes.store.add(node("c", "192.168.5.14", external="203.0.113.4"))
    await ctl.sync("default/web")
    assert await ingress(api, ctl) == [{"ip": "203.0.113.4", "ipMode": "VIP"}]


async def test_local_policy_lists_nodes_with_ready_endpoints(
        api: ApiClient, ctl: ServiceLBController) -> None:
    # (The API server validates before it allocates, so the health check port is given.)
    await make_service(api, ctl, externalTrafficPolicy="Local", healthCheckNodePort=32000)
    ctl.nodes.store.add(node("a", "192.168.5.11"))
    ctl.nodes.store.add(node("b", "192.168.5.12"))
    ctl.slices.store.add({
        "metadata": {"name": "web-x", "namespace": "default",
                     "labels": {"kubernetes.io/service-name": "web"}},
        "endpoints": [
            {"addresses": ["10.42.1.2"], "nodeName": "b", "conditions": {"ready": True},
             "targetRef": {"kind": "Pod", "name": "p"}},
            {"addresses": ["10.42.0.2"], "nodeName": "a", "conditions": {"ready": False},
             "targetRef": {"kind": "Pod", "name": "q"}}]})
    await ctl.sync("default/web")
    assert await ingress(api, ctl) == [{"ip": "192.168.5.12", "ipMode": "VIP"}]


async def test_enablelb_label_narrows_the_nodes(api: ApiClient,
                                                ctl: ServiceLBController) -> None:
    await make_service(api, ctl)
    ctl.nodes.store.add(node("a", "192.168.5.11",
                             labels={"svccontroller.k3s.cattle.io/enablelb": "true"}))
    ctl.nodes.store.add(node("b", "192.168.5.12"))
    await ctl.sync("default/web")
    assert await ingress(api, ctl) == [{"ip": "192.168.5.11", "ipMode": "VIP"}]


async def test_class_and_type_changes(api: ApiClient, ctl: ServiceLBController) -> None:
    ctl.nodes.store.add(node("a", "192.168.5.11"))
    await make_service(api, ctl, loadBalancerClass="example.com/other")
    await ctl.sync("default/web")
    assert await ingress(api, ctl) == []

    await api.delete(SERVICES, "web", "default")
    await make_service(api, ctl)
    await ctl.sync("default/web")
    assert len(await ingress(api, ctl)) == 1
    service = await api.get(SERVICES, "web", "default")
    service["spec"]["type"] = "ClusterIP"
    for port in service["spec"]["ports"]:
        port.pop("nodePort", None)
    service["spec"].pop("allocateLoadBalancerNodePorts", None)
    service["spec"].pop("externalTrafficPolicy", None)
    ctl.services.store.add(await api.update(SERVICES, service, "default"))
    await ctl.sync("default/web")
    assert await ingress(api, ctl) == []


async def test_node_ports_of_load_balancers(api: ApiClient, ctl: ServiceLBController) -> None:
    service = await make_service(api, ctl)
    assert 30000 <= service["spec"]["ports"][0]["nodePort"] < 32768
    await api.delete(SERVICES, "web", "default")
    service = await make_service(api, ctl, allocateLoadBalancerNodePorts=False, ports=[
        {"name": "a", "port": 80}, {"name": "b", "port": 81, "nodePort": 31081}])
    assert [p.get("nodePort") for p in service["spec"]["ports"]] == [None, 31081]
