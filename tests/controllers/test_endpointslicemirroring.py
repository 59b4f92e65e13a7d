"""The EndpointSlice mirroring controller's sync against a real API server; informer
stores are seeded by the tests.

Intent: a Service without a selector whose Endpoints someone wrote gets slices mirroring
it (managed by the mirroring controller, labels and annotations of the Endpoints, ready
from `addresses`, not ready from `notReadyAddresses`, one slice per port set), updated in
place as the Endpoints changes; the slices go when the Endpoints asks to be skipped, is
deleted, or the Service gets a selector.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from kybernetes.client import ApiClient, resource
from kybernetes.client.rest import Obj
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.endpointslicemirroring import EndpointSliceMirroringController

SERVICES = resource("", "v1", "services")
ENDPOINTS = resource("", "v1", "endpoints")
SLICES = resource("discovery.k8s.io", "v1", "endpointslices")


@pytest.fixture
async def ctl(ctx: ControllerContext) -> AsyncIterator[EndpointSliceMirroringController]:
    controller = EndpointSliceMirroringController(ctx)
    yield controller
    await controller.recorder.aclose()


async def setup(api: ApiClient, ctl: EndpointSliceMirroringController,
                subsets: list[dict[str, Any]], labels: dict[str, str] | None = None) -> Obj:
    service = await api.create(SERVICES, {"metadata": {"name": "ext"},
                                          "spec": {"ports": [{"port": 80}]}}, "default")
    ctl.services.store.add(service)
    endpoints = await api.create(ENDPOINTS, {
        "metadata": {"name": "ext", "labels": labels or {"team": "a"},
                     "annotations": {"note": "kept",
                                     "endpoints.kubernetes.io/last-change-trigger-time":
                                         "2026-12-01T10:00:00Z"}},
        "subsets": subsets}, "default")
    ctl.endpoints.store.add(endpoints)
    return endpoints


async def slices(api: ApiClient, ctl: EndpointSliceMirroringController) -> list[Obj]:
    found = list((await api.list(SLICES, "default")).items)
    ctl.slices.store.replace(found)
    return found


async def test_mirrors_a_custom_endpoints(api: ApiClient,
                                          ctl: EndpointSliceMirroringController) -> None:
    endpoints = await setup(api, ctl, [
        {"addresses": [{"ip": "192.0.2.1", "nodeName": "n1"}, {"ip": "192.0.2.2"}],
         "notReadyAddresses": [{"ip": "192.0.2.3", "hostname": "three"}],
         "ports": [{"name": "http", "port": 8080}]},
        {"addresses": [{"ip": "2001:db8::1"}], "ports": [{"name": "http", "port": 8080}]},
        {"addresses": [{"ip": "192.0.2.9"}], "ports": [{"name": "dns", "port": 53,
                                                         "protocol": "UDP"}]}])
    await ctl.sync("default/ext")

    found = await slices(api, ctl)
    by_key = {(s["addressType"], s["ports"][0]["port"]): s for s in found}
    assert set(by_key) == {("IPv4", 8080), ("IPv6", 8080), ("IPv4", 53)}
    http = by_key[("IPv4", 8080)]
    assert http["metadata"]["labels"] == {
        "team": "a", "kubernetes.io/service-name": "ext",
        "endpointslice.kubernetes.io/managed-by": "endpointslicemirroring-controller.k8s.io"}
    assert http["metadata"]["annotations"] == {"note": "kept"}
    assert http["metadata"]["ownerReferences"][0]["kind"] == "Endpoints"
    assert http["metadata"]["ownerReferences"][0]["uid"] == endpoints["metadata"]["uid"]
    assert http["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    by_ip = {e["addresses"][0]: e for e in http["endpoints"]}
    assert by_ip["192.0.2.1"] == {"addresses": ["192.0.2.1"], "conditions": {"ready": True},
                                  "nodeName": "n1"}
    assert by_ip["192.0.2.3"]["conditions"] == {"ready": False}
    assert by_ip["192.0.2.3"]["hostname"] == "three"

    # Nothing changed: nothing written. An address more: the same slice is updated.
    versions = {s["metadata"]["name"]: s["metadata"]["resourceVersion"] for s in found}
    await ctl.sync("default/ext")
    assert {s["metadata"]["name"]: s["metadata"]["resourceVersion"]
            for s in await slices(api, ctl)} == versions
    endpoints["subsets"][0]["addresses"].append({"ip": "192.0.2.4"})
    ctl.endpoints.store.add(endpoints)
    await ctl.sync("default/ext")
    after = {(s["addressType"], s["ports"][0]["port"]): s for s in await slices(api, ctl)}
    assert after[("IPv4", 8080)]["metadata"]["name"] == http["metadata"]["name"]
    assert len(after[("IPv4", 8080)]["endpoints"]) == 4


async def test_skip_mirror_and_selector_remove_the_slices(
        api: ApiClient, ctl: EndpointSliceMirroringController) -> None:
    endpoints = await setup(api, ctl, [{"addresses": [{"ip": "192.0.2.1"}],
                                        "ports": [{"port": 80}]}])
    await ctl.sync("default/ext")
    assert len(await slices(api, ctl)) == 1
    endpoints["metadata"]["labels"]["endpointslice.kubernetes.io/skip-mirror"] = "true"
    ctl.endpoints.store.add(endpoints)
    await ctl.sync("default/ext")
    assert await slices(api, ctl) == []

    del endpoints["metadata"]["labels"]["endpointslice.kubernetes.io/skip-mirror"]
    await ctl.sync("default/ext")
    assert len(await slices(api, ctl)) == 1
    service = ctl.services.store.get("default/ext")
    assert service is not None
    service["spec"]["selector"] = {"app": "x"}
    await ctl.sync("default/ext")
    assert await slices(api, ctl) == []


async def test_at_most_max_addresses_per_subset(api: ApiClient,
                                                ctx: ControllerContext) -> None:
    ctl = EndpointSliceMirroringController(ctx, max_endpoints_per_subset=2)
    try:
        await setup(api, ctl, [{"addresses": [{"ip": f"192.0.2.{i}"} for i in range(1, 5)],
                                "ports": [{"port": 80}]}])
        await ctl.sync("default/ext")
        [mirrored] = await slices(api, ctl)
        assert len(mirrored["endpoints"]) == 2
    finally:
        await ctl.recorder.aclose()
