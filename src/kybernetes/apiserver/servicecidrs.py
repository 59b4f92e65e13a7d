"""The default ServiceCIDR `kubernetes`, for the server's service range, ensured at start as
upstream's `kubernetes-service-cidr-controller` (pkg/controlplane/controller/
defaultservicecidr) keeps it.

Created when missing; an existing one whose CIDRs differ is left as it is (upstream only
reports the mismatch). When its CIDRs are the server's and it has no Ready condition (or an
Unknown one), the condition becomes Ready=True, written as upstream's controller writes it
(no reason). Allocating Service IPs from ServiceCIDRs and IPAddresses is the allocator's
(apiserver/allocators.py), which still uses the configured range.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kybernetes.apiserver.allocators import SERVICE_CIDR
from kybernetes.apiserver.ensure import ensure

if TYPE_CHECKING:
    from kybernetes.apiserver.server import ApiServer

Obj = dict[str, Any]

NAME = "kubernetes"
READY_MESSAGE = "Kubernetes default Service CIDR is ready"


def default_service_cidr(cidrs: list[str]) -> Obj:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "ServiceCIDR",
            "metadata": {"name": NAME}, "spec": {"cidrs": cidrs}}


def _ready(obj: Obj) -> Obj | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or []
                 if isinstance(c, dict) and c.get("type") == "Ready"), None)


async def bootstrap(server: ApiServer) -> None:
    info = server.registry.get("networking.k8s.io", "v1", "servicecidrs")
    assert info is not None
    cidrs = [str(SERVICE_CIDR)]
    current = await ensure(server, info, default_service_cidr(cidrs), overwrite=False)
    ready = _ready(current)
    if (current.get("spec") or {}).get("cidrs") != cidrs or \
            (ready is not None and ready.get("status") != "Unknown"):
        return
    others = [c for c in (current.get("status") or {}).get("conditions") or []
              if c is not ready]
    await ensure(server, info, current, {**(current.get("status") or {}), "conditions": [
        *others, {"type": "Ready", "status": "True", "reason": "", "message": READY_MESSAGE}]},
        overwrite=False)
