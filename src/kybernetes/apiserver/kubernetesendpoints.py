"""The endpoints of the `kubernetes` Service, written by the API server itself (upstream's
pkg/controlplane/reconcilers and their `EndpointsAdapter`).

The `default/kubernetes` Service has no selector: no controller can find its backends, so
each API server publishes its own address. The Endpoints `kubernetes` holds it (labelled
`endpointslice.kubernetes.io/skip-mirror`, so the mirroring controller leaves it alone), and
the EndpointSlice `kubernetes` (named after the Service, label
`kubernetes.io/service-name`, as upstream's adapter makes it) holds the same, so kube-proxy
sends pods' traffic for 10.43.0.1:443 to the API server's secure port.

A loopback advertise address is not published: no pod could reach it, and upstream refuses
loopback endpoint addresses. One API server per cluster is what this writes for; several
on one etcd each replace the address with their own (upstream's lease reconciler, which
keeps every live server's address, belongs with HA).
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from kybernetes.api import errors

if TYPE_CHECKING:
    from kybernetes.apiserver.server import ApiServer

Obj = dict[str, Any]

NAME = "kubernetes"
NAMESPACE = "default"


def endpoints(address: str, port: int) -> Obj:
    return {"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": NAME, "namespace": NAMESPACE,
                         "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
            "subsets": [{"addresses": [{"ip": address}],
                         "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]}


def endpoint_slice(address: str, port: int) -> Obj:
    family = "IPv6" if ipaddress.ip_address(address).version == 6 else "IPv4"
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": NAME, "namespace": NAMESPACE,
                         "labels": {"kubernetes.io/service-name": NAME}},
            "addressType": family,
            "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}


def publishable(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return not (ip.is_loopback or ip.is_unspecified)


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


async def bootstrap(server: ApiServer) -> None:
    address, port = server.config.advertise_address, server.config.port
    if not publishable(address):
        return
    await _ensure(server, "", "v1", "endpoints", endpoints(address, port), ("subsets",))
    await _ensure(server, "discovery.k8s.io", "v1", "endpointslices",
                  endpoint_slice(address, port), ("addressType", "endpoints", "ports"))
