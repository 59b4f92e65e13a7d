"""The API server publishes its own address as the endpoints of the `kubernetes` Service
(upstream's endpoint reconciler): an Endpoints and an EndpointSlice, replaced when the
address changes, never a loopback address."""

from __future__ import annotations

from pathlib import Path

from tests.apiserver import inprocess

from kybernetes.apiserver import kubernetesendpoints
from kybernetes.apiserver.server import ApiServer

ENDPOINTS = "/api/v1/namespaces/default/endpoints/kubernetes"
SLICE = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes"


async def _published(server: ApiServer) -> tuple[int, int]:
    async with inprocess.http_client(server.app) as http:
        return (await http.get(ENDPOINTS)).status_code, (await http.get(SLICE)).status_code


async def test_the_advertised_address_is_published_and_follows_a_change(
        tmp_path: Path) -> None:
    async with inprocess.apiserver(tmp_path, advertise_address="198.51.100.9",
                                   port=6443, authorization_mode="AlwaysAllow") as server:
        await kubernetesendpoints.bootstrap(server)
        async with inprocess.http_client(server.app) as http:
            endpoints = inprocess.ok(await http.get(ENDPOINTS))
            assert endpoints["subsets"] == [{
                "addresses": [{"ip": "198.51.100.9"}],
                "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]}]
            assert endpoints["metadata"]["labels"] == {
                "endpointslice.kubernetes.io/skip-mirror": "true"}
            endpoint_slice = inprocess.ok(await http.get(SLICE))
            assert endpoint_slice["metadata"]["labels"] == {
                "kubernetes.io/service-name": "kubernetes"}
            assert endpoint_slice["addressType"] == "IPv4"
            assert [e["addresses"] for e in endpoint_slice["endpoints"]] == [["198.51.100.9"]]

            server.config.advertise_address = "198.51.100.10"
            await kubernetesendpoints.bootstrap(server)
            endpoints = inprocess.ok(await http.get(ENDPOINTS))
            assert endpoints["subsets"][0]["addresses"] == [{"ip": "198.51.100.10"}]
            endpoint_slice = inprocess.ok(await http.get(SLICE))
            assert endpoint_slice["endpoints"][0]["addresses"] == ["198.51.100.10"]
            unchanged = endpoint_slice["metadata"]["resourceVersion"]
            await kubernetesendpoints.bootstrap(server)
            assert inprocess.ok(await http.get(SLICE))["metadata"][
                "resourceVersion"] == unchanged


async def test_a_loopback_address_is_not_published(tmp_path: Path) -> None:
    async with inprocess.apiserver(tmp_path, advertise_address="127.0.0.1",
                                   authorization_mode="AlwaysAllow") as server:
        await kubernetesendpoints.bootstrap(server)
        assert await _published(server) == (404, 404)
