"""The EndpointSlice controller's sync and reconciler against a real API server; informer
stores are seeded by the tests (and refreshed from the server to play the informer).

Intent: a Service's pods become EndpointSlices as upstream writes them — named
`<service>-<random>`, labelled with the Service name and this controller as manager, owned
by the Service, at most 100 endpoints each, one set of slices per distinct port mapping
(named target ports resolve per pod), endpoints with ready/serving/terminating, nodeName,
zone, hostname and trafficDistribution hints; changes touch as few slices as possible; a
Service without endpoints keeps one placeholder slice; a sync never acts on an informer
that has not seen its own writes.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from kybernetes.cli.main import _controller_manager_options, build_parser
from kybernetes.client import ApiClient, resource
from kybernetes.client.rest import Obj
from kybernetes.controllers.base import ControllerContext, Requeue
from kybernetes.controllers.endpointslice.controller import EndpointSliceController
from kybernetes.controllers.endpointslice.reconciler import slice_to_fill

SERVICES = resource("", "v1", "services")
SLICES = resource("discovery.k8s.io", "v1", "endpointslices")
READY_AT = "2026-12-01T10:00:00Z"


@pytest.fixture
def ctl(ctx: ControllerContext) -> EndpointSliceController:
    controller = EndpointSliceController(ctx)
    for name, zone in (("node-a", "zone-1"), ("node-b", "zone-2")):
        controller.nodes.store.add({"metadata": {
            "name": name, "labels": {"topology.kubernetes.io/zone": zone}}})
    return controller


def pod(name: str, ip: str, *, ready: bool = True, node: str = "node-a",
        ports: list[dict[str, Any]] | None = None, deleting: bool = False,
        **spec: Any) -> Obj:
    meta: dict[str, Any] = {"name": name, "namespace": "default", "uid": str(uuid.uuid4()),
                            "labels": {"app": "web"}, "resourceVersion": "1"}
    if deleting:
        meta["deletionTimestamp"] = "2026-12-01T11:00:00Z"
    container: dict[str, Any] = {"name": "c", "image": "nginx"}
    if ports is not None:
        container["ports"] = ports
    return {"metadata": meta, "spec": {"containers": [container], "nodeName": node, **spec},
            "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                       "conditions": [{"type": "Ready", "status": str(ready),
                                       "lastTransitionTime": READY_AT}]}}


async def make_service(api: ApiClient, ctl: EndpointSliceController, **spec: Any) -> Obj:
    body: dict[str, Any] = {"selector": {"app": "web"},
                            "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
    body.update(spec)
    service = await api.create(SERVICES, {"metadata": {"name": "web",
                                                       "labels": {"tier": "front"}},
                                          "spec": body}, "default")
    ctl.services.store.add(service)
    return service


async def slices(api: ApiClient, ctl: EndpointSliceController) -> list[Obj]:
    """The server's slices; the informer catches up with them."""
    found = list((await api.list(SLICES, "default")).items)
    ctl.slices.store.replace(found)
    return found


def addresses(found: list[Obj]) -> list[str]:
    return sorted(a for s in found for e in s["endpoints"] for a in e["addresses"])


async def test_one_slice_for_a_small_service(api: ApiClient,
                                             ctl: EndpointSliceController) -> None:
    service = await make_service(api, ctl)
    ctl.pods.store.add(pod("a", "10.42.0.2"))
    ctl.pods.store.add(pod("b", "10.42.1.2", node="node-b"))
    ctl.pods.store.add(pod("c", "10.42.0.3", ready=False))
    await ctl.sync("default/web")

    [eps] = await slices(api, ctl)
    meta = eps["metadata"]
    assert meta["name"].startswith("web-") and meta["generateName"] == "web-"
    assert meta["labels"] == {"tier": "front", "kubernetes.io/service-name": "web",
                              "endpointslice.kubernetes.io/managed-by":
                                  "endpointslice-controller.k8s.io"}
    [owner] = meta["ownerReferences"]
    assert (owner["kind"], owner["uid"], owner["controller"]) == \
        ("Service", service["metadata"]["uid"], True)
    assert meta["annotations"]["endpoints.kubernetes.io/last-change-trigger-time"]
    assert eps["addressType"] == "IPv4"
    assert eps["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    by_ip = {e["addresses"][0]: e for e in eps["endpoints"]}
    assert set(by_ip) == {"10.42.0.2", "10.42.1.2", "10.42.0.3"}
    assert by_ip["10.42.1.2"]["nodeName"] == "node-b"
    assert by_ip["10.42.1.2"]["zone"] == "zone-2"
    assert by_ip["10.42.1.2"]["targetRef"]["name"] == "b"
    assert by_ip["10.42.0.2"]["conditions"] == {"ready": True, "serving": True,
                                                "terminating": False}
    assert by_ip["10.42.0.3"]["conditions"] == {"ready": False, "serving": False,
                                                "terminating": False}
    assert "hints" not in by_ip["10.42.0.2"]


async def test_terminating_and_publish_not_ready(api: ApiClient,
                                                 ctl: EndpointSliceController) -> None:
    await make_service(api, ctl)
    ctl.pods.store.add(pod("a", "10.42.0.2", deleting=True))
    ctl.pods.store.add(pod("b", "10.42.0.3", deleting=True, ready=False))
    await ctl.sync("default/web")
    by_ip = {e["addresses"][0]: e["conditions"]
             for s in await slices(api, ctl) for e in s["endpoints"]}
    assert by_ip == {"10.42.0.2": {"ready": False, "serving": True, "terminating": True},
                     "10.42.0.3": {"ready": False, "serving": False, "terminating": True}}

    service = ctl.services.store.get("default/web")
    assert service is not None
    service["spec"]["publishNotReadyAddresses"] = True
    await ctl.sync("default/web")
    by_ip = {e["addresses"][0]: e["conditions"]
             for s in await slices(api, ctl) for e in s["endpoints"]}
    assert by_ip["10.42.0.2"] == {"ready": True, "serving": True, "terminating": True}
    assert by_ip["10.42.0.3"] == {"ready": True, "serving": False, "terminating": True}


async def test_slices_hold_at_most_100_endpoints_and_change_little(
        api: ApiClient, ctl: EndpointSliceController) -> None:
    await make_service(api, ctl)
    pods = [pod(f"p{i}", f"10.42.{i // 200}.{i % 200 + 1}") for i in range(250)]
    for p in pods:
        ctl.pods.store.add(p)
    await ctl.sync("default/web")
    first = await slices(api, ctl)
    assert sorted(len(s["endpoints"]) for s in first) == [50, 100, 100]
    assert len(addresses(first)) == 250

    # Ten pods go: the slices holding them shrink, none is created or recreated.
    for p in pods[:10]:
        ctl.pods.store.delete(p)
    await ctl.sync("default/web")
    second = await slices(api, ctl)
    assert {s["metadata"]["uid"] for s in second} == {s["metadata"]["uid"] for s in first}
    assert len(addresses(second)) == 240

    # Thirty new pods fill the slices being written anyway, then the emptiest other one.
    for i in range(30):
        ctl.pods.store.add(pod(f"n{i}", f"10.42.9.{i + 1}"))
    await ctl.sync("default/web")
    third = await slices(api, ctl)
    assert {s["metadata"]["uid"] for s in third} == {s["metadata"]["uid"] for s in first}
    assert len(addresses(third)) == 270
    assert all(len(s["endpoints"]) <= 100 for s in third)

    # A resync with nothing changed writes nothing.
    versions = {s["metadata"]["name"]: s["metadata"]["resourceVersion"] for s in third}
    await ctl.sync("default/web")
    assert {s["metadata"]["name"]: s["metadata"]["resourceVersion"]
            for s in await slices(api, ctl)} == versions


async def test_named_ports_resolving_differently_get_their_own_slices(
        api: ApiClient, ctl: EndpointSliceController) -> None:
    await make_service(api, ctl, ports=[{"name": "web", "port": 80, "targetPort": "http"}])
    ctl.pods.store.add(pod("a", "10.42.0.2", ports=[{"name": "http", "containerPort": 8080}]))
    ctl.pods.store.add(pod("b", "10.42.0.3", ports=[{"name": "http", "containerPort": 9090}]))
    ctl.pods.store.add(pod("c", "10.42.0.4", ports=[]))
    await ctl.sync("default/web")
    by_port = {tuple(p["port"] for p in s["ports"]): addresses([s])
               for s in await slices(api, ctl)}
    # A pod without the port still has an endpoint, in a slice without ports.
    assert by_port == {(8080,): ["10.42.0.2"], (9090,): ["10.42.0.3"], (): ["10.42.0.4"]}


async def test_placeholder_slice_when_nothing_matches(api: ApiClient,
                                                      ctl: EndpointSliceController) -> None:
    await make_service(api, ctl)
    await ctl.sync("default/web")
    [placeholder] = await slices(api, ctl)
    assert placeholder["endpoints"] == [] and placeholder["ports"] == []
    await ctl.sync("default/web")
    [again] = await slices(api, ctl)
    assert again["metadata"]["uid"] == placeholder["metadata"]["uid"]
    assert again["metadata"]["resourceVersion"] == placeholder["metadata"]["resourceVersion"]

    # The first endpoint reuses the placeholder's name rather than churning.
    ctl.pods.store.add(pod("a", "10.42.0.2"))
    await ctl.sync("default/web")
    [filled] = await slices(api, ctl)
    assert filled["metadata"]["name"] == placeholder["metadata"]["name"]
    assert addresses([filled]) == ["10.42.0.2"]


async def test_hostname_and_traffic_distribution_hints(api: ApiClient,
                                                       ctl: EndpointSliceController) -> None:
    await make_service(api, ctl, trafficDistribution="PreferClose")
    ctl.pods.store.add(pod("web-0", "10.42.0.2", hostname="web-0", subdomain="web"))
    ctl.pods.store.add(pod("b", "10.42.1.2", node="node-b"))
    await ctl.sync("default/web")
    by_ip = {e["addresses"][0]: e for s in await slices(api, ctl) for e in s["endpoints"]}
    assert by_ip["10.42.0.2"]["hostname"] == "web-0"
    assert by_ip["10.42.0.2"]["hints"] == {"forZones": [{"name": "zone-1"}]}
    assert by_ip["10.42.1.2"]["hints"] == {"forZones": [{"name": "zone-2"}]}

    service = ctl.services.store.get("default/web")
    assert service is not None
    del service["spec"]["trafficDistribution"]
    await ctl.sync("default/web")
    assert all("hints" not in e for s in await slices(api, ctl) for e in s["endpoints"])


async def test_stale_informer_and_missing_node_requeue(api: ApiClient,
                                                       ctl: EndpointSliceController) -> None:
    await make_service(api, ctl)
    ctl.pods.store.add(pod("a", "10.42.0.2"))
    await ctl.sync("default/web")
    # The informer has not seen the slice just created: no second slice.
    with pytest.raises(Requeue):
        await ctl.sync("default/web")
    assert len(await slices(api, ctl)) == 1

    ctl.pods.store.add(pod("lost", "10.42.5.5", node="node-gone"))
    with pytest.raises(Requeue, match="node not found"):
        await ctl.sync("default/web")
    assert addresses(await slices(api, ctl)) == ["10.42.0.2"]


async def test_selectorless_service_is_left_alone(api: ApiClient,
                                                  ctl: EndpointSliceController) -> None:
    await make_service(api, ctl, selector=None)
    ctl.pods.store.add(pod("a", "10.42.0.2"))
    await ctl.sync("default/web")
    assert await slices(api, ctl) == []


async def test_pod_events_wake_the_services_whose_endpoints_change(
        api: ApiClient, ctl: EndpointSliceController) -> None:
    await make_service(api, ctl)
    before = pod("a", "10.42.0.2", ready=False)
    ctl.pods.store.add(before)
    unrelated = {**before, "metadata": {**before["metadata"], "resourceVersion": "2",
                                        "annotations": {"note": "x"}}}
    ctl._update_pod(before, unrelated)
    assert len(ctl.queue) == 0
    turned_ready = pod("a", "10.42.0.2")
    turned_ready["metadata"] = {**before["metadata"], "resourceVersion": "3"}
    ctl._update_pod(unrelated, turned_ready)
    assert await ctl.queue.get() == "default/web"
    relabelled = {**turned_ready, "metadata": {**turned_ready["metadata"],
                                               "resourceVersion": "4",
                                               "labels": {"app": "other"}}}
    ctl.queue.done("default/web")
    ctl._update_pod(turned_ready, relabelled)
    assert await ctl.queue.get() == "default/web"


@pytest.mark.parametrize(("flag", "value"), [("--max-endpoints-per-slice", "0"),
                                             ("--mirroring-max-endpoints-per-subset", "1001")])
def test_endpoint_limits_are_checked_before_starting(flag: str, value: str) -> None:
    assert _controller_manager_options(build_parser().parse_args(
        ["controller-manager", "--max-endpoints-per-slice", "7"])).max_endpoints_per_slice == 7
    with pytest.raises(SystemExit, match=flag):
        _controller_manager_options(build_parser().parse_args(
            ["controller-manager", flag, value]))


def test_leftover_endpoints_go_to_the_slice_they_fill_best() -> None:
    def sized(name: str, count: int) -> Obj:
        return {"metadata": {"name": name}, "endpoints": [{}] * count}

    slices = [sized("eighty", 80), sized("fifty", 50), sized("full", 100)]
    assert slice_to_fill(slices, 15, 100) is slices[0]
    assert slice_to_fill(slices, 25, 100) is slices[1]
    assert slice_to_fill(slices, 51, 100) is None


async def test_new_endpoints_fill_an_unchanged_slice_before_a_new_one(
        api: ApiClient, ctl: EndpointSliceController) -> None:
    await make_service(api, ctl)
    for i in range(160):
        ctl.pods.store.add(pod(f"p{i}", f"10.42.0.{i + 1}"))
    await ctl.sync("default/web")
    assert sorted(len(s["endpoints"]) for s in await slices(api, ctl)) == [60, 100]
    for i in range(30):
        ctl.pods.store.add(pod(f"q{i}", f"10.42.1.{i + 1}"))
    await ctl.sync("default/web")
    assert sorted(len(s["endpoints"]) for s in await slices(api, ctl)) == [90, 100]
    for i in range(20):
        ctl.pods.store.add(pod(f"r{i}", f"10.42.2.{i + 1}"))
    await ctl.sync("default/web")
    assert sorted(len(s["endpoints"]) for s in await slices(api, ctl)) == [20, 90, 100]
