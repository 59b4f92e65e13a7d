"""The kube-dns Service and this server's EndpointSlice, written through a real API server
in this process: made when missing, left alone when the Service is someone else's, and put
back when the address changes or the slice is deleted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kybernetes.client import ApiClient, Store
from kybernetes.dns.publish import SLICE, KubeDnsPublisher
from tests.apiserver import inprocess

SERVICES = ("", "v1", "services")
SLICES = ("discovery.k8s.io", "v1", "endpointslices")


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[ApiClient]:
    async with inprocess.apiserver(tmp_path, authorization_mode="AlwaysAllow",
                                   disable_admission_plugins=["ServiceAccount"]
                                   ) as server, inprocess.api_client(server.app) as client:
        yield client


async def _stores(api: ApiClient) -> tuple[Store, Store]:
    """The stores as the informers would hold them now."""
    services, slices = Store(), Store()
    services.replace((await api.list(SERVICES, "kube-system")).items)
    slices.replace((await api.list(SLICES, "kube-system")).items)
    return services, slices


def publisher(api: ApiClient, services: Store, slices: Store, address: str
              ) -> KubeDnsPublisher:
    return KubeDnsPublisher(api, services, slices, cluster_ip="10.43.0.10",
                            address=address, port=53, metrics_port=9153, node_name="node-1")


async def test_service_and_slice_are_made_and_kept(api: ApiClient) -> None:
    await publisher(api, Store(), Store(), "198.51.100.7").sync()
    service = await api.get(SERVICES, "kube-dns", "kube-system")
    assert service["spec"]["clusterIP"] == "10.43.0.10"
    assert "selector" not in service["spec"]
    assert [(p["name"], p["port"], p["protocol"]) for p in service["spec"]["ports"]] == [
        ("dns", 53, "UDP"), ("dns-tcp", 53, "TCP"), ("metrics", 9153, "TCP")]
    assert service["metadata"]["labels"]["k8s-app"] == "kube-dns"
    endpoint_slice = await api.get(SLICES, SLICE, "kube-system")
    labels = endpoint_slice["metadata"]["labels"]
    assert labels["kubernetes.io/service-name"] == "kube-dns"
    assert labels["endpointslice.kubernetes.io/managed-by"] == "dns.kybernetes.io"
    assert endpoint_slice["metadata"]["ownerReferences"][0]["uid"] == \
        service["metadata"]["uid"]
    assert endpoint_slice["endpoints"][0]["addresses"] == ["198.51.100.7"]
    assert endpoint_slice["endpoints"][0]["conditions"]["ready"] is True
    assert [(p["name"], p["port"], p["protocol"]) for p in endpoint_slice["ports"]] == [
        ("dns", 53, "UDP"), ("dns-tcp", 53, "TCP"), ("metrics", 9153, "TCP")]

    # The node's address changed: the slice follows.
    await publisher(api, *await _stores(api), "198.51.100.8").sync()
    moved = await api.get(SLICES, SLICE, "kube-system")
    assert moved["endpoints"][0]["addresses"] == ["198.51.100.8"]
    # Nothing to do: no write.
    await publisher(api, *await _stores(api), "198.51.100.8").sync()
    assert (await api.get(SLICES, SLICE, "kube-system"))["metadata"]["resourceVersion"] == \
        moved["metadata"]["resourceVersion"]
    # Deleted: made again.
    await api.delete(SLICES, SLICE, "kube-system")
    await publisher(api, *await _stores(api), "198.51.100.8").sync()
    assert (await api.get(SLICES, SLICE, "kube-system"))["endpoints"][0]["addresses"] == \
        ["198.51.100.8"]


async def test_a_service_with_a_selector_is_left_alone(api: ApiClient) -> None:
    body: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "kube-dns"},
        "spec": {"selector": {"k8s-app": "kube-dns"}, "clusterIP": "10.43.0.10",
                 "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}]}}
    await api.create(SERVICES, body, "kube-system")
    await publisher(api, *await _stores(api), "198.51.100.7").sync()
    assert (await api.list(SLICES, "kube-system")).items == []


async def test_poke_wakes_only_for_its_objects(api: ApiClient) -> None:
    published = publisher(api, Store(), Store(), "198.51.100.7")
    published._wake.clear()
    published.poke({"metadata": {"namespace": "default", "name": "kube-dns"}})
    assert not published._wake.is_set()
    published.poke({"metadata": {"namespace": "kube-system", "name": SLICE}})
    assert published._wake.is_set()
