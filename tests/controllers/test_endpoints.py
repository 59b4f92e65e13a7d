"""The Endpoints controller's sync against a real API server; informer stores are seeded
by the tests, as upstream's controller tests do.

Intent: a Service's Endpoints lists the IPs of the pods its selector matches — ready ones
under `addresses`, the others under `notReadyAddresses` (all under `addresses`, terminating
ones included, with `publishNotReadyAddresses`) — with each Service port resolved on each
pod (a named targetPort per pod, so pods offering different numbers land in different
subsets; a pod without the port is left out), hostnames of pods in the Service's
subdomain, the Service's labels, the last-change trigger time; it is cut at 1000 addresses
with the over-capacity annotation; it is not rewritten when nothing changed, deleted with
its Service, and left alone for a Service without a selector.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kybernetes.client import ApiClient, resource
from kybernetes.client.rest import NotFoundError, Obj
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.endpoints import EndpointsController, repack_subsets

SERVICES = resource("", "v1", "services")
ENDPOINTS = resource("", "v1", "endpoints")
READY_AT = "2026-12-01T10:00:00Z"


@pytest.fixture
async def ctl(ctx: ControllerContext) -> AsyncIterator[EndpointsController]:
    controller = EndpointsController(ctx)
    yield controller
    await controller.recorder.aclose()


def pod(name: str, ip: str, *, ready: bool = True, labels: dict[str, str] | None = None,
        ports: list[dict[str, Any]] | None = None, node: str = "node-a",
        deleting: bool = False, phase: str = "Running", **spec: Any) -> Obj:
    """A pod as the informer shows it once its kubelet reported an IP."""
    meta: dict[str, Any] = {"name": name, "namespace": "default", "uid": str(uuid.uuid4()),
                            "labels": labels or {"app": "web"}, "resourceVersion": "1"}
    if deleting:
        meta["deletionTimestamp"] = "2026-12-01T11:00:00Z"
    container: dict[str, Any] = {"name": "c", "image": "nginx"}
    if ports is not None:
        container["ports"] = ports
    return {"metadata": meta,
            "spec": {"containers": [container], "nodeName": node, **spec},
            "status": {"phase": phase, "podIP": ip, "podIPs": [{"ip": ip}],
                       "conditions": [{"type": "Ready", "status": str(ready),
                                       "lastTransitionTime": READY_AT}]}}


async def make_service(api: ApiClient, ctl: EndpointsController, *, name: str = "web",
                       **spec: Any) -> Obj:
    body: dict[str, Any] = {"selector": {"app": "web"},
                            "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
    body.update(spec)
    service = await api.create(SERVICES, {"metadata": {"name": name,
                                                       "labels": {"tier": "front"}},
                                          "spec": body}, "default")
    ctl.services.store.add(service)
    return service


async def endpoints(api: ApiClient, name: str = "web") -> Obj:
    return await api.get(ENDPOINTS, name, "default")


def ips(addresses: list[dict[str, Any]] | None) -> list[str]:
    return [a["ip"] for a in addresses or ()]


async def test_ready_and_not_ready_pods(api: ApiClient, ctl: EndpointsController) -> None:
    await make_service(api, ctl)
    for p in (pod("a", "10.42.0.3"), pod("b", "10.42.0.2"), pod("c", "10.42.1.9", ready=False),
              pod("other", "10.42.0.7", labels={"app": "db"}),
              pod("done", "10.42.0.8", phase="Succeeded"),
              pod("leaving", "10.42.0.9", deleting=True)):
        ctl.pods.store.add(p)
    await ctl.sync("default/web")

    ep = await endpoints(api)
    assert ep["metadata"]["labels"] == {"tier": "front"}
    assert ep["metadata"]["annotations"]["endpoints.kubernetes.io/last-change-trigger-time"]
    [subset] = ep["subsets"]
    assert ips(subset["addresses"]) == ["10.42.0.2", "10.42.0.3"]
    assert ips(subset["notReadyAddresses"]) == ["10.42.1.9"]
    assert subset["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    first = subset["addresses"][0]
    assert first["nodeName"] == "node-a"
    assert first["targetRef"]["kind"] == "Pod" and first["targetRef"]["name"] == "b"


async def test_unchanged_endpoints_are_not_rewritten(api: ApiClient,
                                                     ctl: EndpointsController) -> None:
    await make_service(api, ctl)
    ctl.pods.store.add(pod("a", "10.42.0.3"))
    await ctl.sync("default/web")
    written = await endpoints(api)
    ctl.endpoints.store.add(written)
    await ctl.sync("default/web")
    assert (await endpoints(api))["metadata"]["resourceVersion"] == \
        written["metadata"]["resourceVersion"]

    ctl.pods.store.add(pod("b", "10.42.0.4"))
    await ctl.sync("default/web")
    assert ips((await endpoints(api))["subsets"][0]["addresses"]) == ["10.42.0.3", "10.42.0.4"]


async def test_named_target_port_resolves_per_pod(api: ApiClient,
                                                  ctl: EndpointsController) -> None:
    await make_service(api, ctl, ports=[{"name": "web", "port": 80, "targetPort": "http"}])
    ctl.pods.store.add(pod("a", "10.42.0.2", ports=[{"name": "http", "containerPort": 8080}]))
    ctl.pods.store.add(pod("b", "10.42.0.3", ports=[{"name": "http", "containerPort": 9090}]))
    ctl.pods.store.add(pod("c", "10.42.0.4", ports=[{"name": "http", "containerPort": 8080}]))
    ctl.pods.store.add(pod("none", "10.42.0.5", ports=[{"name": "metrics",
                                                        "containerPort": 8080}]))
    ctl.pods.store.add(pod("udp", "10.42.0.6", ports=[{"name": "http", "containerPort": 53,
                                                       "protocol": "UDP"}]))
    await ctl.sync("default/web")

    by_port = {s["ports"][0]["port"]: ips(s["addresses"])
               for s in (await endpoints(api))["subsets"]}
    assert by_port == {8080: ["10.42.0.2", "10.42.0.4"], 9090: ["10.42.0.3"]}


async def test_publish_not_ready_addresses(api: ApiClient, ctl: EndpointsController) -> None:
    await make_service(api, ctl, publishNotReadyAddresses=True)
    ctl.pods.store.add(pod("a", "10.42.0.2", ready=False))
    ctl.pods.store.add(pod("b", "10.42.0.3", deleting=True))
    await ctl.sync("default/web")
    [subset] = (await endpoints(api))["subsets"]
    assert ips(subset["addresses"]) == ["10.42.0.2", "10.42.0.3"]
    assert "notReadyAddresses" not in subset


async def test_headless_service_without_ports_and_hostnames(
        api: ApiClient, ctl: EndpointsController) -> None:
    await make_service(api, ctl, name="db", clusterIP="None", ports=None)
    ctl.pods.store.add(pod("db-0", "10.42.0.2", hostname="db-0", subdomain="db"))
    ctl.pods.store.add(pod("x", "10.42.0.3", hostname="x", subdomain="elsewhere"))
    await ctl.sync("default/db")
    ep = await endpoints(api, "db")
    assert ep["metadata"]["labels"] == {"tier": "front", "service.kubernetes.io/headless": ""}
    [subset] = ep["subsets"]
    assert "ports" not in subset
    assert [(a["ip"], a.get("hostname")) for a in subset["addresses"]] == [
        ("10.42.0.2", "db-0"), ("10.42.0.3", None)]


async def test_truncated_at_one_thousand_addresses(api: ApiClient,
                                                   ctl: EndpointsController) -> None:
    await make_service(api, ctl)
    for i in range(1003):
        ctl.pods.store.add(pod(f"p{i}", f"10.42.{i // 250}.{i % 250 + 1}", ready=i >= 10))
    await ctl.sync("default/web")
    ep = await endpoints(api)
    assert ep["metadata"]["annotations"]["endpoints.kubernetes.io/over-capacity"] == "truncated"
    [subset] = ep["subsets"]
    # Ready addresses are kept (993); not-ready ones fill what is left.
    assert len(subset["addresses"]) == 993
    assert len(subset["notReadyAddresses"]) == 7


async def test_deleted_with_its_service_and_selectorless_left_alone(
        api: ApiClient, ctl: EndpointsController) -> None:
    service = await make_service(api, ctl)
    ctl.pods.store.add(pod("a", "10.42.0.2"))
    await ctl.sync("default/web")
    await api.delete(SERVICES, "web", "default")
    ctl.services.store.delete(service)
    await ctl.sync("default/web")
    with pytest.raises(NotFoundError):
        await endpoints(api)

    await make_service(api, ctl, name="ext", selector=None)
    custom = await api.create(ENDPOINTS, {
        "metadata": {"name": "ext"},
        "subsets": [{"addresses": [{"ip": "192.0.2.1"}], "ports": [{"port": 80}]}]},
        "default")
    ctl.endpoints.store.add(custom)
    await ctl.sync("default/ext")
    assert (await endpoints(api, "ext"))["metadata"]["resourceVersion"] == \
        custom["metadata"]["resourceVersion"]


async def test_leftover_endpoints_are_queued_for_deletion(
        api: ApiClient, ctl: EndpointsController) -> None:
    await make_service(api, ctl, name="kept")
    for name in ("kept", "orphan"):
        ctl.endpoints.store.add({"metadata": {"name": name, "namespace": "default"}})
    ctl.check_leftover_endpoints()
    assert len(ctl.queue) == 1
    assert await ctl.queue.get() == "default/orphan"


def test_repack_groups_addresses_by_their_ports() -> None:
    a = {"ip": "10.0.0.1", "targetRef": {"uid": "a"}}
    b = {"ip": "10.0.0.2", "targetRef": {"uid": "b"}}
    p80 = {"name": "http", "port": 80, "protocol": "TCP"}
    p443 = {"name": "https", "port": 443, "protocol": "TCP"}
    subsets = repack_subsets([
        {"addresses": [a], "ports": [p80]}, {"addresses": [a], "ports": [p443]},
        {"notReadyAddresses": [b], "ports": [p80]}, {"addresses": [b], "ports": [p443]},
    ])
    assert sorted(subsets, key=lambda s: s["ports"][0]["port"]) == [
        {"addresses": [a], "notReadyAddresses": [b], "ports": [p80]},
        {"addresses": [a, b], "ports": [p443]},
    ]
