"""The API servers publish their addresses as the endpoints of the `kubernetes` Service
(upstream's lease endpoint reconciler): each keeps a master lease with a TTL, and the
Endpoints and EndpointSlice list every unexpired one, sorted; a stopping server takes its
address out, an expired lease drops out and is deleted; never a loopback address. Each
server also keeps its identity Lease in kube-system (upstream's APIServerIdentity)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.apiserver import inprocess

from kybernetes.apiserver import identitylease, kubernetesendpoints
from kybernetes.apiserver.server import ApiServer

ENDPOINTS = "/api/v1/namespaces/default/endpoints/kubernetes"
SLICE = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases"


async def _published(server: ApiServer) -> tuple[int, int]:
    async with inprocess.http_client(server.app) as http:
        return (await http.get(ENDPOINTS)).status_code, (await http.get(SLICE)).status_code


async def test_the_advertised_address_is_published_and_follows_a_change(
        tmp_path: Path) -> None:
    async with inprocess.apiserver(tmp_path, advertise_address="198.51.100.9",
                                   port=6443, authorization_mode="AlwaysAllow") as server:
        await kubernetesendpoints.reconcile(server)
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

            # A second server on the same storage: both addresses, sorted.
            server.config.advertise_address = "198.51.100.10"
            await kubernetesendpoints.reconcile(server)
            endpoints = inprocess.ok(await http.get(ENDPOINTS))
            assert endpoints["subsets"][0]["addresses"] == [{"ip": "198.51.100.9"},
                                                            {"ip": "198.51.100.10"}]
            endpoint_slice = inprocess.ok(await http.get(SLICE))
            assert [e["addresses"] for e in endpoint_slice["endpoints"]] == [
                ["198.51.100.9"], ["198.51.100.10"]]
            unchanged = endpoint_slice["metadata"]["resourceVersion"]
            await kubernetesendpoints.reconcile(server)
            assert inprocess.ok(await http.get(SLICE))["metadata"][
                "resourceVersion"] == unchanged

            # The second stops: its address goes at once.
            await kubernetesendpoints.reconcile(server, stopping=True)
            endpoints = inprocess.ok(await http.get(ENDPOINTS))
            assert endpoints["subsets"][0]["addresses"] == [{"ip": "198.51.100.9"}]
            assert await server.storage.get("/registry/masterleases/198.51.100.10") is None


async def test_an_expired_lease_drops_out(tmp_path: Path) -> None:
    async with inprocess.apiserver(tmp_path, advertise_address="198.51.100.10",
                                   port=6443, authorization_mode="AlwaysAllow") as server:
        await kubernetesendpoints.reconcile(server, ttl=0.2)  # then killed: never renewed
        server.config.advertise_address = "198.51.100.9"
        await kubernetesendpoints.reconcile(server)
        assert await kubernetesendpoints.live_addresses(server) == ["198.51.100.9",
                                                                   "198.51.100.10"]
        await asyncio.sleep(0.3)
        await kubernetesendpoints.reconcile(server)
        async with inprocess.http_client(server.app) as http:
            endpoints = inprocess.ok(await http.get(ENDPOINTS))
        assert endpoints["subsets"][0]["addresses"] == [{"ip": "198.51.100.9"}]
        assert await server.storage.get("/registry/masterleases/198.51.100.10") is None


async def test_a_loopback_address_is_not_published(tmp_path: Path) -> None:
    async with inprocess.apiserver(tmp_path, advertise_address="127.0.0.1",
                                   authorization_mode="AlwaysAllow") as server:
        await kubernetesendpoints.reconcile(server)
        assert await _published(server) == (404, 404)


def test_the_identity_lease_name_is_upstreams_hash() -> None:
    # test/integration/controlplane's expectedAPIServerIdentity for this host name.
    name = identitylease.lease_name("kyb-1")
    assert name.startswith("apiserver-") and len(name) == len("apiserver-") + 26
    assert name == identitylease.lease_name("kyb-1") != identitylease.lease_name("kyb-2")


async def test_the_identity_lease_is_kept_and_taken_over(tmp_path: Path) -> None:
    async with inprocess.apiserver(tmp_path, authorization_mode="AlwaysAllow") as server:
        first = identitylease.IdentityLease(server, "kyb-1")
        await first.renew()
        async with inprocess.http_client(server.app) as http:
            lease = inprocess.ok(await http.get(f"{LEASES}/{first.name}"))
            assert lease["metadata"]["labels"] == {
                "apiserver.kubernetes.io/identity": "kube-apiserver",
                "kubernetes.io/hostname": "kyb-1"}
            assert lease["spec"]["holderIdentity"] == first.holder
            assert lease["spec"]["leaseDurationSeconds"] == 3600
            # The same host restarted: a new holder renews the same lease.
            again = identitylease.IdentityLease(server, "kyb-1")
            await again.renew()
            renewed = inprocess.ok(await http.get(f"{LEASES}/{first.name}"))
            assert renewed["spec"]["holderIdentity"] == again.holder != first.holder
            # Expired for good: collected.
            await server.store.modify(again.info, "kube-system", again.name, lambda lease: {
                **lease, "spec": {**lease["spec"], "renewTime": "2020-01-01T00:00:00.000000Z"}})
            for _ in range(50):  # once the watch cache has the write
                await again.collect()
                if (await http.get(f"{LEASES}/{first.name}")).status_code == 404:
                    break
                await asyncio.sleep(0.05)
            assert (await http.get(f"{LEASES}/{first.name}")).status_code == 404
