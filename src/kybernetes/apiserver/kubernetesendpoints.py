"""The endpoints of the `kubernetes` Service, written by the API servers themselves
(upstream's pkg/controlplane/reconcilers: the lease endpoint reconciler and its
`EndpointsAdapter`).

The `default/kubernetes` Service has no selector: no controller can find its backends, so
the API servers publish their own addresses. Each keeps a master lease, the key
`/registry/masterleases/<ip>` holding an Endpoints with its address (upstream's
`storageLeases`), renewed every 10 s with a 15 s TTL, and rewrites the Endpoints
`kubernetes` (labelled `endpointslice.kubernetes.io/skip-mirror`, so the mirroring
controller leaves it alone) and the EndpointSlice `kubernetes` (label
`kubernetes.io/service-name`) with the sorted addresses of every unexpired lease, so
kube-proxy sends pods' traffic for 10.43.0.1:443 to the live API servers, and agents learn
every server from it. A server that stops deletes its lease and republishes; one killed
drops out when its lease expires. The `Storage` protocol has no etcd leases (SQLite has
none), so the expiry rides in the value (`expires`, wall-clock seconds) and the servers
delete expired leases themselves, as kine emulates TTLs.

A loopback advertise address is not published: no pod could reach it, and upstream refuses
loopback endpoint addresses. Every server is assumed to serve on the same port (upstream's
reconciler makes the same assumption).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from typing import TYPE_CHECKING, Any

import orjson

from kybernetes.api import errors
from kybernetes.storage.interface import StorageError

if TYPE_CHECKING:
    from kybernetes.apiserver.server import ApiServer

Obj = dict[str, Any]

log = logging.getLogger(__name__)

NAME = "kubernetes"
NAMESPACE = "default"
# Upstream's master lease keys (under the storage prefix), TTL and reconcile interval
# (DefaultEndpointReconcilerTTL, EndpointInterval).
LEASES = "/registry/masterleases/"
LEASE_TTL = 15.0
INTERVAL = 10.0


def endpoints(addresses: list[str], port: int) -> Obj:
    return {"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": NAME, "namespace": NAMESPACE,
                         "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
            "subsets": [{"addresses": [{"ip": a} for a in addresses],
                         "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]}


def endpoint_slice(addresses: list[str], port: int) -> Obj:
    family = "IPv6" if ipaddress.ip_address(addresses[0]).version == 6 else "IPv4"
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": NAME, "namespace": NAMESPACE,
                         "labels": {"kubernetes.io/service-name": NAME}},
            "addressType": family,
            "endpoints": [{"addresses": [a], "conditions": {"ready": True}}
                          for a in addresses],
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}


def publishable(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return not (ip.is_loopback or ip.is_unspecified)


def _lease(address: str, generation: int, ttl: float) -> bytes:
    """A master lease as upstream stores it (an Endpoints with the one address, its
    generation bumped at each renewal), with its expiry."""
    return orjson.dumps({"apiVersion": "v1", "kind": "Endpoints",
                         "metadata": {"name": address, "generation": generation},
                         "subsets": [{"addresses": [{"ip": address}]}],
                         "expires": time.time() + ttl})


async def _renew(server: ApiServer, address: str, ttl: float) -> None:
    key = LEASES + address
    current = await server.storage.get(key)
    if current is None:
        await server.storage.create(key, _lease(address, 1, ttl))
        return
    generation = orjson.loads(current.value).get("metadata", {}).get("generation", 0)
    await server.storage.update(key, _lease(address, generation + 1, ttl),
                                expected_revision=current.mod_revision)


async def live_addresses(server: ApiServer) -> list[str]:
    """The addresses of every unexpired master lease, sorted; expired ones are deleted."""
    listed = await server.storage.list(LEASES)
    live, now = [], time.time()
    for kv in listed.items:
        if orjson.loads(kv.value).get("expires", 0) > now:
            live.append(kv.key.removeprefix(LEASES))
            continue
        with contextlib.suppress(StorageError):  # another server deleted or renewed it
            await server.storage.delete(kv.key, expected_revision=kv.mod_revision)
    return sorted(live, key=ipaddress.ip_address)


async def _ensure(server: ApiServer, group: str, version: str, plural: str,
                  desired: Obj, fields: tuple[str, ...]) -> None:
    info = server.registry.get(group, version, plural)
    assert info is not None
    try:
        await server.store.create(info, NAMESPACE, desired)
        return
    except errors.StatusError as err:
        if err.code != 409:
            raise
    current = (await server.store.get(info, NAMESPACE, NAME)).obj
    labels = {**current["metadata"].get("labels", {}), **desired["metadata"]["labels"]}
    if all(current.get(f) == desired[f] for f in fields) and \
            labels == current["metadata"].get("labels"):
        return
    updated = {**current, **{f: desired[f] for f in fields},
               "metadata": {**current["metadata"], "labels": labels}}
    await server.store.update(info, NAMESPACE, NAME, updated)


async def reconcile(server: ApiServer, *, ttl: float = LEASE_TTL, stopping: bool = False
                    ) -> None:
    """Renew this server's lease (delete it when `stopping`), then publish every live
    server's address (upstream's leaseEndpointReconciler.doReconcile)."""
    address, port = server.config.advertise_address, server.config.port
    if not publishable(address):
        return
    if stopping:
        with contextlib.suppress(StorageError):
            await server.storage.delete(LEASES + address)
    else:
        await _renew(server, address, ttl)
    addresses = await live_addresses(server)
    if stopping:
        addresses = [a for a in addresses if a != address]
    if not addresses:  # the last one leaves its address rather than none (as upstream)
        return
    await _ensure(server, "", "v1", "endpoints", endpoints(addresses, port), ("subsets",))
    await _ensure(server, "discovery.k8s.io", "v1", "endpointslices",
                  endpoint_slice(addresses, port), ("addressType", "endpoints", "ports"))


async def run(server: ApiServer, interval: float = INTERVAL) -> None:
    """Reconcile every `interval` until cancelled; then remove this server's address."""
    try:
        while True:
            await asyncio.sleep(interval)
            try:
                await reconcile(server)
            except (StorageError, errors.StatusError) as err:
                log.warning("reconciling the kubernetes endpoints: %s", err)
    except asyncio.CancelledError:
        with contextlib.suppress(StorageError, errors.StatusError, TimeoutError):
            async with asyncio.timeout(2):
                await reconcile(server, stopping=True)
        raise
